/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router auxiliary against real traffic. network-netns.sh runs this
 * program in a network namespace of its own: the "daemon's namespace". The
 * program builds, inside it and in namespaces of its own:
 *
 *   segments A and B (core/network), with the SAME host side
 *   10.213.0.1/24 and guests GA and GB with the SAME IP 10.213.0.10 and MAC;
 *   "world" behind nbxinet0 (203.0.113.0/24; resolver .53), the internet;
 *   "vpn" behind nbxvpn0 (198.51.100.0/24; resolver .53), reached through
 *   routing table 100, which also answers for 203.0.113.1 (so an answer
 *   says which way a packet went);
 *   the sinkhole 192.0.2.1 and a service 192.0.2.9 in the daemon's namespace;
 *   bridge nbxbr0 (10.214.0.1/24) with guests N1 and N2: machines without
 *   a segment.
 *
 * Every server answers with a banner naming itself, so each probe says not
 * only that something answered but who. The router is loaded through the
 * core's loader, as the daemon loads it, and its ops are called as the
 * core calls them.
 */
#include <json-glib/json-glib.h>
#include <libconfig.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "net_probe.h"
#include "segment.h"
#include "report.h"
#include "test_support.h"
#include "plugin_ops.h"

#define HOST_MAC "52:54:00:0a:0b:01"
#define GUEST_IP "10.213.0.10"
#define GUEST_MAC "52:54:00:12:34:56"
#define RESULT_SERVER "10.213.0.1:2042"
#define N1_IP "10.214.0.11"
#define N2_IP "10.214.0.12"
#define N1_MAC "52:54:00:00:00:11"
#define N2_MAC "52:54:00:00:00:12"

enum { NONE, DROP, INTERNET, SINKHOLE, VPN, ROUTES };
static const char *const routes[ROUTES] = { "none", "drop", "internet", "sinkhole", "vpn" };

/* Everything the tests share, made once by set_up_network(). */
static struct {
	char *prefix;
	char *machine_a, *machine_b, *machine_n1, *machine_n2;
	char *guest_a, *guest_b, *world, *vpn, *node_1, *node_2;
	char *guest_a_path, *guest_b_path, *node_1_path, *node_2_path;
	NbxSegment *segment_a, *segment_b;
	char *outer_a, *inner_b, *outer_b;
	GPtrArray *servers;
	char *plugin_dir;
} net;

#define RUN(...) g_free(net_command((const char *const[]){ __VA_ARGS__, NULL }))

static char *
named(const char *suffix)
{
	return g_strconcat(net.prefix, suffix, NULL);
}

static char *
address_only(const char *with_length)
{
	return g_strndup(with_length, strcspn(with_length, "/"));
}

static void
serve(const char *ns_path, const char *address, guint16 port, const char *banner)
{
	g_ptr_array_add(net.servers, net_server_start(ns_path, address, port, banner));
}

/* A namespace @name behind veth @outer of this one: @outer_address here, @inner_addresses there. */
static void
make_remote(const char *name, const char *outer, const char *outer_address,
	    const char *const *inner_addresses)
{
	RUN("ip", "netns", "add", name);
	RUN("ip", "-n", name, "link", "set", "lo", "up");
	RUN("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", name);
	RUN("ip", "addr", "add", outer_address, "dev", outer);
	RUN("ip", "link", "set", outer, "up");
	for (const char *const *address = inner_addresses; *address != NULL; address++)
		RUN("ip", "-n", name, "addr", "add", *address, "dev", "eth0");
	RUN("ip", "-n", name, "link", "set", "eth0", "up");
}

static void
make_node(const char *name, const char *link, const char *ip, const char *mac)
{
	g_autofree char *address = g_strconcat(ip, "/24", NULL);

	RUN("ip", "netns", "add", name);
	RUN("ip", "-n", name, "link", "set", "lo", "up");
	RUN("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "address", mac, "netns",
	    name);
	RUN("ip", "-n", name, "addr", "add", address, "dev", "eth0");
	RUN("ip", "-n", name, "link", "set", "eth0", "up");
	RUN("ip", "-n", name, "route", "add", "default", "via", "10.214.0.1");
	RUN("ip", "link", "set", link, "master", "nbxbr0", "up");
}

static NbxSegment *
make_segment(const char *machine)
{
	NbxSegmentSpec spec = { .name = machine, .host_address = "10.213.0.1/24",
				.host_mac = HOST_MAC };
	g_autoptr(GError) error = NULL;
	NbxSegment *segment = nbx_segment_ensure(&spec, &error);

	g_assert_no_error(error);
	return segment;
}

static void
serve_host_side(const NbxSegment *segment, const char *suffix)
{
	static const struct { guint16 port; const char *name; } ports[] = {
		{ 2042, "resultserver" }, { 8080, "host-http" }, { 53, "host-dns" },
		{ 22, "host-ssh" }, { 7777, "segment" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(ports); i++) {
		g_autofree char *banner = g_strconcat(ports[i].name, suffix, NULL);

		serve(segment->netns_path, "10.213.0.1", ports[i].port, banner);
	}
}

/* In place: /proc files cannot be replaced by a rename. */
static void
set_forwarding(const char *value)
{
	g_assert_true(g_file_set_contents_full("/proc/sys/net/ipv4/ip_forward", value, -1,
					       G_FILE_SET_CONTENTS_NONE, 0644, NULL));
}

static void
set_up_network(void)
{
	net.prefix = g_strdup(g_getenv("NBX_TEST_PREFIX"));
	net.machine_a = named("a");
	net.machine_b = named("b");
	/* A name that starts with a digit, which an nft chain name cannot. */
	net.machine_n1 = g_strconcat("1", net.prefix, "n1", NULL);
	net.machine_n2 = named("n2");
	net.guest_a = named("-ga");
	net.guest_b = named("-gb");
	net.world = named("-world");
	net.vpn = named("-vpn");
	net.node_1 = named("-n1");
	net.node_2 = named("-n2");
	net.guest_a_path = nbx_netns_path(net.guest_a);
	net.guest_b_path = nbx_netns_path(net.guest_b);
	net.node_1_path = nbx_netns_path(net.node_1);
	net.node_2_path = nbx_netns_path(net.node_2);
	net.servers = g_ptr_array_new_with_free_func((GDestroyNotify)net_server_stop);
	/* A new namespace does not forward; the internet and vpn routes need it. */
	set_forwarding("1");
	/* br_netfilter, when loaded, shows bridged frames to the inet hooks too;
	 * the router must not need it: without it, frames between two guests on
	 * one bridge meet only the bridge family's rules. */
	if (g_file_test("/proc/sys/net/bridge/bridge-nf-call-iptables", G_FILE_TEST_EXISTS))
		g_assert_true(g_file_set_contents_full("/proc/sys/net/bridge/bridge-nf-call-iptables",
						       "0", -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL));

	net.segment_a = make_segment(net.machine_a);
	net.segment_b = make_segment(net.machine_b);
	net.outer_a = address_only(net.segment_a->outer_address);
	net.inner_b = address_only(net.segment_b->inner_address);
	net.outer_b = address_only(net.segment_b->outer_address);
	net_guest_create(net.guest_a, net.machine_a, GUEST_IP, 24, GUEST_MAC, "10.213.0.1");
	net_guest_create(net.guest_b, net.machine_b, GUEST_IP, 24, GUEST_MAC, "10.213.0.1");

	make_remote(net.world, "nbxinet0", "203.0.113.2/24",
		    (const char *const[]){ "203.0.113.1/24", "203.0.113.53/24", NULL });
	RUN("ip", "route", "add", "default", "via", "203.0.113.1");
	make_remote(net.vpn, "nbxvpn0", "198.51.100.2/24",
		    (const char *const[]){ "198.51.100.1/24", "198.51.100.53/24", NULL });
	RUN("ip", "-n", net.vpn, "addr", "add", "203.0.113.1/32", "dev", "lo");
	RUN("ip", "route", "add", "default", "via", "198.51.100.1", "table", "100");
	RUN("ip", "addr", "add", "192.0.2.1/32", "dev", "lo");
	RUN("ip", "addr", "add", "192.0.2.9/32", "dev", "lo");
	RUN("ip", "link", "add", "nbxbr0", "type", "bridge");
	RUN("ip", "addr", "add", "10.214.0.1/24", "dev", "nbxbr0");
	RUN("ip", "link", "set", "nbxbr0", "up");
	make_node(net.node_1, "nbxn1", N1_IP, N1_MAC);
	make_node(net.node_2, "nbxn2", N2_IP, N2_MAC);

	serve_host_side(net.segment_a, "-a");
	serve_host_side(net.segment_b, "-b");
	serve(net.guest_a_path, "0.0.0.0", 8000, "guest-a");
	serve(net.guest_b_path, "0.0.0.0", 8000, "guest-b");
	serve(net.node_1_path, "0.0.0.0", 8000, "n1");
	serve(net.node_2_path, "0.0.0.0", 8000, "n2");
	serve(NULL, "0.0.0.0", 7777, "daemon");
	serve(NULL, "192.0.2.9", 9000, "daemon-service");
	serve(NULL, "192.0.2.1", 80, "sinkhole");
	serve(NULL, "192.0.2.1", 53, "sinkhole");
	serve(NULL, "10.214.0.1", 8080, "daemon-http");
	serve(NULL, "10.214.0.1", 53, "daemon-dns");
	serve(NULL, "10.214.0.1", 22, "daemon-ssh");
	g_autofree char *world_path = nbx_netns_path(net.world);
	g_autofree char *vpn_path = nbx_netns_path(net.vpn);
	serve(world_path, "203.0.113.1", 80, "world");
	serve(world_path, "203.0.113.53", 53, "internet-dns");
	serve(vpn_path, "203.0.113.1", 80, "vpn");
	serve(vpn_path, "198.51.100.53", 53, "vpn-dns");
}

static void
tear_down_network(void)
{
	g_autoptr(GError) error = NULL;
	const char *const others[] = { net.guest_a, net.guest_b, net.world, net.vpn, net.node_1,
				       net.node_2, NULL };

	g_ptr_array_unref(net.servers);
	for (const char *const *name = others; *name != NULL; name++) {
		nbx_netns_delete(*name, &error);
		g_assert_no_error(error);
	}
	g_assert_true(nbx_segment_remove(net.machine_a, &error));
	g_assert_true(nbx_segment_remove(net.machine_b, &error));
	nbx_segment_free(net.segment_a);
	nbx_segment_free(net.segment_b);
}

/* ---- the router, loaded as the daemon loads it ------------------------- */

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	NbxPluginInstance *router;
	const struct nbx_auxiliary_ops *ops;
} Router;

static const char *const full_config =
	"router = {\n"
	"  services = ( { name = \"dns\"; protocol = \"udp\"; port = 53; },\n"
	"               { name = \"dns-tcp\"; port = 53; },\n"
	"               { name = \"http-sinkhole\"; port = 8080; },\n"
	"               { name = \"daemon-service\"; port = 9000; address = \"192.0.2.9\"; } );\n"
	"  none = { dns = \"10.213.0.1\"; };\n"
	"  internet = { enabled = true; interface = \"nbxinet0\"; dns = \"203.0.113.53\"; };\n"
	"  sinkhole = { enabled = true; address = \"192.0.2.1\"; tcp_port = 80; udp_port = 53; };\n"
	"  vpn = { enabled = true; interface = \"nbxvpn0\"; table = 100; dns = \"198.51.100.53\"; };\n"
	"};\n";

static Router *
router_load_any(const char *auxiliary_conf)
{
	Router *r = g_new0(Router, 1);

	r->dir = test_config_dir_new(net.plugin_dir, "");
	test_write(r->dir, "auxiliary.conf", auxiliary_conf);
	r->diagnostics = nbx_diagnostics_new();
	r->setup = nbx_setup_load(r->dir, NULL, r->diagnostics);
	g_assert_nonnull(r->setup);
	if (r->setup->auxiliaries->len == 1) {
		r->router = g_ptr_array_index(r->setup->auxiliaries, 0);
		r->ops = nbx_plugin_auxiliary_ops(r->router->plugin);
	}
	return r;
}

static Router *
router_load(const char *auxiliary_conf)
{
	Router *r = router_load_any(auxiliary_conf);

	for (guint i = 0; i < nbx_diagnostics_count(r->diagnostics); i++)
		g_test_message("%s", nbx_diagnostics_get(r->diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(r->diagnostics), ==, 0);
	g_assert_cmpstr(nbx_plugin_instance_name(r->router), ==, "router");
	return r;
}

static void
router_unload(Router *r)
{
	nbx_setup_free(r->setup);
	nbx_diagnostics_free(r->diagnostics);
	test_dir_remove(r->dir);
	g_free(r->dir);
	g_free(r);
}

typedef struct {
	struct nbx_machine machine;
	struct nbx_task task;
	struct nbx_aux_context context;
	struct nbx_call call;
	struct nbx_report *report;
	config_t options;
	void *data;
} Analysis;

static struct nbx_machine
machine_of(const char *name, const char *ip, const char *mac, const char *interface,
	   const NbxSegment *segment)
{
	return (struct nbx_machine){
		.struct_size = sizeof(struct nbx_machine), .name = name, .label = name, .ip = ip,
		.platform = "linux", .interface = interface, .mac_address = mac, .agent_port = 8000,
		.network_namespace = segment != NULL ? segment->netns_path : NULL,
	};
}

/* Starts the router for @machine with the task option route = @route (NULL: none given). */
static Analysis *
analysis_start(Router *r, struct nbx_machine machine, const char *route, GError **error)
{
	Analysis *a = g_new0(Analysis, 1);
	struct nbx_error err = { 0 };

	a->machine = machine;
	a->report = nbx_report_new();
	config_init(&a->options);
	if (route != NULL) {
		g_autofree char *text = g_strdup_printf("route = \"%s\";", route);

		g_assert_true(config_read_string(&a->options, text));
	}
	a->task = (struct nbx_task){ .struct_size = sizeof a->task, .id = 1, .duration_s = 1,
				     .options = route ? NBX_NODE(config_root_setting(&a->options))
						      : NULL };
	a->context = (struct nbx_aux_context){ .struct_size = sizeof a->context,
					       .analysis_dir = "/nonexistent", .task = &a->task,
					       .machine = &a->machine, .report = a->report,
					       .result_server = RESULT_SERVER };
	a->call = (struct nbx_call){ .struct_size = sizeof a->call, .task_id = 1 };
	if (!r->ops->start(r->router->instance, &a->context, &a->data, &a->call, &err)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err.message);
		config_destroy(&a->options);
		nbx_report_free(a->report);
		g_free(a);
		return NULL;
	}
	return a;
}

static Analysis *
analysis_start_ok(Router *r, struct nbx_machine machine, const char *route)
{
	g_autoptr(GError) error = NULL;
	Analysis *a = analysis_start(r, machine, route, &error);

	g_assert_no_error(error);
	return a;
}

static void
analysis_stop(Router *r, Analysis *a)
{
	struct nbx_error err = { 0 };
	gboolean removed = FALSE;

	if (!r->ops->stop(r->router->instance, &a->context, a->data, &a->call, &err))
		g_error("stop: %s", err.message);
	g_autoptr(JsonObject) report = nbx_report_ref_object(a->report);
	removed = json_object_get_boolean_member(report, "rules_removed");
	g_assert_true(removed);
	config_destroy(&a->options);
	nbx_report_free(a->report);
	g_free(a);
}

/* ---- looking at what is left ----------------------------------------------- */

static char *
ruleset_of(const char *netns)
{
	if (netns == NULL)
		return net_command((const char *const[]){ "nft", "list", "ruleset", NULL });
	return net_command((const char *const[]){ "ip", "netns", "exec", netns, "nft", "list",
						  "ruleset", NULL });
}

static void
assert_no_trace_of(const char *machine, const NbxSegment *segment)
{
	g_autofree char *daemon = ruleset_of(NULL);
	g_autofree char *chain = g_strconcat("chain m-", machine, "-", NULL);

	g_assert_null(strstr(daemon, chain));
	if (segment != NULL) {
		g_autofree char *inside = ruleset_of(segment->name);

		g_assert_null(strstr(inside, "nestbox"));
	}
}

typedef struct {
	guint32 source; /* 0: any */
	guint count;
} ConntrackCount;

static int
count_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	ConntrackCount *count = data;

	if (count->source == 0 || nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC) == count->source)
		count->count++;
	return NFCT_CB_CONTINUE;
}

static gboolean
count_inside(gpointer data, GError **error)
{
	struct nfct_handle *handle = nfct_open(CONNTRACK, 0);
	guint32 family = AF_INET;

	g_assert_nonnull(handle);
	nfct_callback_register(handle, NFCT_T_ALL, count_entry, data);
	g_assert_cmpint(nfct_query(handle, NFCT_Q_DUMP, &family), ==, 0);
	nfct_close(handle);
	return TRUE;
}

/* Conntrack entries in @ns_path (NULL: here) whose original source is @source (NULL: any). */
static guint
conntrack_count(const char *ns_path, const char *source)
{
	ConntrackCount count = { 0 };
	g_autoptr(GError) error = NULL;

	if (source != NULL)
		g_assert_cmpint(inet_pton(AF_INET, source, &count.source), ==, 1);
	if (ns_path != NULL)
		nbx_netns_run(ns_path, count_inside, &count, &error);
	else
		count_inside(&count, &error);
	g_assert_no_error(error);
	return count.count;
}

/* ---- the route matrix ---------------------------------------------------- */

typedef struct {
	NetProbeKind kind;
	/* An address, or "@outer-a", "@inner-b", "@outer-b": the segments' uplink addresses. */
	const char *address;
	guint16 port;
	/* Who answers under none, drop, internet, sinkhole, vpn; NULL: nobody. */
	const char *expected[ROUTES];
} Case;

#define SERVICE(banner) { banner, NULL, banner, banner, banner }
#define SINKHOLED { NULL, NULL, NULL, "sinkhole", NULL }

/* What guest A may reach, route by route, while guest B (same IP and MAC) runs under `none`. */
static const Case guest_cases[] = {
	/* The services on the host side, and the result server: all but drop. */
	{ NET_PROBE_TCP, "10.213.0.1", 2042, SERVICE("resultserver-a") },
	{ NET_PROBE_TCP, "10.213.0.1", 8080, SERVICE("host-http-a") },
	{ NET_PROBE_UDP, "10.213.0.1", 53, SERVICE("host-dns-a") },
	{ NET_PROBE_TCP, "10.213.0.1", 53, SERVICE("host-dns-a") },
	{ NET_PROBE_TCP, "192.0.2.9", 9000, SERVICE("daemon-service") },
	/* The host side's other ports: never (the sinkhole takes the connection instead). */
	{ NET_PROBE_TCP, "10.213.0.1", 22, SINKHOLED },
	{ NET_PROBE_UDP, "10.213.0.1", 22, SINKHOLED },
	{ NET_PROBE_TCP, "10.213.0.1", 7777, SINKHOLED },
	{ NET_PROBE_ICMP, "10.213.0.1", 0, { NULL } },
	/* The daemon's namespace: its uplink side, its internet side. */
	{ NET_PROBE_TCP, "@outer-a", 7777, SINKHOLED },
	{ NET_PROBE_UDP, "@outer-a", 7777, SINKHOLED },
	{ NET_PROBE_ICMP, "@outer-a", 0, { NULL } },
	{ NET_PROBE_TCP, "203.0.113.2", 7777, SINKHOLED },
	/* The other guest's segment, both ends of its uplink. */
	{ NET_PROBE_TCP, "@inner-b", 7777, SINKHOLED },
	{ NET_PROBE_ICMP, "@inner-b", 0, { NULL } },
	{ NET_PROBE_TCP, "@outer-b", 7777, SINKHOLED },
	/* The internet: out, redirected, or through the VPN (which answers as itself). */
	{ NET_PROBE_TCP, "203.0.113.1", 80, { NULL, NULL, "world", "sinkhole", "vpn" } },
	{ NET_PROBE_UDP, "203.0.113.1", 80, { NULL, NULL, "world", "sinkhole", "vpn" } },
	{ NET_PROBE_ICMP, "203.0.113.1", 0, { NULL, NULL, "pong", NULL, "pong" } },
	/* DNS to any resolver goes to the route's. */
	{ NET_PROBE_UDP, "9.9.9.9", 53, { "host-dns-a", NULL, "internet-dns", "sinkhole", "vpn-dns" } },
	{ NET_PROBE_TCP, "9.9.9.9", 53, { "host-dns-a", NULL, "internet-dns", "sinkhole", "vpn-dns" } },
};

static const char *
resolve(const char *address)
{
	if (g_strcmp0(address, "@outer-a") == 0)
		return net.outer_a;
	if (g_strcmp0(address, "@inner-b") == 0)
		return net.inner_b;
	if (g_strcmp0(address, "@outer-b") == 0)
		return net.outer_b;
	return address;
}

static const char *
kind_name(NetProbeKind kind)
{
	return kind == NET_PROBE_TCP ? "tcp" : kind == NET_PROBE_UDP ? "udp" : "icmp";
}

/* Runs @cases from @ns_path and lists every answer that is not the expected one. */
static void
assert_matrix(const char *ns_path, const Case *cases, gsize n, int route)
{
	g_autofree NetProbe *probes = g_new0(NetProbe, n);
	g_autoptr(GString) wrong = g_string_new(NULL);

	for (gsize i = 0; i < n; i++)
		probes[i] = (NetProbe)NET_PROBE(TCP, resolve(cases[i].address), cases[i].port);
	for (gsize i = 0; i < n; i++)
		probes[i].kind = cases[i].kind;
	net_probe_run(ns_path, probes, n);
	for (gsize i = 0; i < n; i++)
		if (g_strcmp0(probes[i].answer, cases[i].expected[route]) != 0)
			g_string_append_printf(wrong, "\n  route %s: %s %s:%u answered by %s, expected %s",
					       routes[route], kind_name(cases[i].kind), probes[i].address,
					       cases[i].port, probes[i].answer ?: "nobody",
					       cases[i].expected[route] ?: "nobody");
	net_probe_clear(probes, n);
	if (wrong->len > 0)
		g_error("wrong answers:%s", wrong->str);
}

static void
assert_agent_reachable(const NbxSegment *segment, const char *banner)
{
	NetProbe agent[] = { NET_PROBE(TCP, GUEST_IP, 8000) };

	net_probe_run(segment->netns_path, agent, 1);
	g_assert_cmpstr(agent[0].answer, ==, banner);
	net_probe_clear(agent, 1);
}

static void
test_route(gconstpointer data)
{
	int route = GPOINTER_TO_INT(data);
	Router *r = router_load(full_config);
	struct nbx_machine a = machine_of(net.machine_a, GUEST_IP, GUEST_MAC, "nbx0", net.segment_a);
	struct nbx_machine b = machine_of(net.machine_b, GUEST_IP, GUEST_MAC, "nbx0", net.segment_b);
	Analysis *other = analysis_start_ok(r, b, NULL);
	Analysis *analysis = analysis_start_ok(r, a, routes[route]);
	NetProbe b_reaches[] = { NET_PROBE(TCP, "10.213.0.1", 8080) };

	assert_matrix(net.guest_a_path, guest_cases, G_N_ELEMENTS(guest_cases), route);
	/* The core's side reaches the agent whatever the route. */
	assert_agent_reachable(net.segment_a, "guest-a");
	/* The twin, with the same addresses, reaches its own host side meanwhile. */
	net_probe_run(net.guest_b_path, b_reaches, 1);
	g_assert_cmpstr(b_reaches[0].answer, ==, "host-http-b");
	net_probe_clear(b_reaches, 1);
	if (route != DROP)
		g_assert_cmpuint(conntrack_count(net.segment_a->netns_path, GUEST_IP), >, 0);
	analysis_stop(r, analysis);
	analysis_stop(r, other);
	assert_no_trace_of(net.machine_a, net.segment_a);
	assert_no_trace_of(net.machine_b, net.segment_b);
	/* The guests' connections are forgotten, inside and outside. */
	g_assert_cmpuint(conntrack_count(net.segment_a->netns_path, NULL), ==, 0);
	g_autofree char *inner_a = address_only(net.segment_a->inner_address);
	g_assert_cmpuint(conntrack_count(NULL, inner_a), ==, 0);
	router_unload(r);
}

/* ---- spoofing -------------------------------------------------------------- */

/*
 * Frames written raw from inside a guest, the barrier last: when the server
 * has the barrier, a spoofed frame sent before it would have arrived too
 * (one CPU, one queue, in order).
 */
static void
send_spoofed(const char *guest_path, const NetRawUdp *frames, gsize n, NetServer *server,
	     const char *barrier)
{
	net_raw_udp_send(guest_path, "eth0", frames, n);
	g_assert_true(net_server_wait_payload(server, barrier));
}

static void
test_spoofing_segment(void)
{
	NetServer *dns = net_server_start(net.segment_a->netns_path, "10.213.0.1", 5353, "spoof-check");
	struct nbx_machine a = machine_of(net.machine_a, GUEST_IP, GUEST_MAC, "nbx0", net.segment_a);
	NetRawUdp frames[] = {
		{ GUEST_MAC, "10.213.0.99", 4000, HOST_MAC, "10.213.0.1", 5353, "control" },
		{ GUEST_MAC, GUEST_IP, 4000, HOST_MAC, "10.213.0.1", 5353, "barrier-1" },
	};
	Router *r = router_load("router = { services = ( { name = \"check\"; protocol = \"udp\";"
				" port = 5353; } ); };\n");
	Analysis *analysis;

	/* Without the router, a spoofed source gets through: the check can see one. */
	send_spoofed(net.guest_a_path, frames, 2, dns, "barrier-1");
	g_assert_true(net_server_saw_payload(dns, "control", "10.213.0.99"));
	analysis = analysis_start_ok(r, a, "none");
	NetRawUdp spoofed[] = {
		{ GUEST_MAC, "10.213.0.99", 4000, HOST_MAC, "10.213.0.1", 5353, "spoofed-ip" },
		{ "52:54:00:66:66:66", GUEST_IP, 4000, HOST_MAC, "10.213.0.1", 5353, "spoofed-mac" },
		{ GUEST_MAC, GUEST_IP, 4000, HOST_MAC, "10.213.0.1", 5353, "barrier-2" },
	};
	/* Where the sniffer captures: it must see the attempts the router drops. */
	NetCapture *sniffer = net_capture_start(net.segment_a->netns_path, "nbx0");
	send_spoofed(net.guest_a_path, spoofed, G_N_ELEMENTS(spoofed), dns, "barrier-2");
	g_assert_false(net_server_saw_payload(dns, "spoofed-ip", NULL));
	g_assert_false(net_server_saw_payload(dns, "spoofed-mac", NULL));
	g_assert_true(net_capture_saw(sniffer, "barrier-2"));
	g_assert_true(net_capture_saw(sniffer, "spoofed-ip"));
	g_assert_true(net_capture_saw(sniffer, "spoofed-mac"));
	net_capture_stop(sniffer);
	analysis_stop(r, analysis);
	router_unload(r);
	net_server_stop(dns);
}

/* ---- machines without a segment ------------------------------------------- */

static const Case node_cases[] = {
	/* The other guest on the same bridge: never. */
	{ NET_PROBE_TCP, N2_IP, 8000, { NULL } },
	{ NET_PROBE_ICMP, N2_IP, 0, { NULL } },
	/* The host side: the services only. */
	{ NET_PROBE_TCP, "10.214.0.1", 8080, SERVICE("daemon-http") },
	{ NET_PROBE_UDP, "10.214.0.1", 53, SERVICE("daemon-dns") },
	{ NET_PROBE_TCP, "10.214.0.1", 22, SINKHOLED },
	{ NET_PROBE_ICMP, "10.214.0.1", 0, { NULL } },
	{ NET_PROBE_TCP, "@outer-a", 7777, SINKHOLED },
	{ NET_PROBE_TCP, "203.0.113.1", 80, { NULL, NULL, "world", "sinkhole", "vpn" } },
	{ NET_PROBE_ICMP, "203.0.113.1", 0, { NULL, NULL, "pong", NULL, "pong" } },
	{ NET_PROBE_UDP, "9.9.9.9", 53, { NULL, NULL, "internet-dns", "sinkhole", "vpn-dns" } },
};

static void
test_without_segment(gconstpointer data)
{
	int route = GPOINTER_TO_INT(data);
	/* `none` sends DNS to the segments' host side, which these machines lack. */
	Router *r = router_load("router = {\n"
				"  services = ( { name = \"dns\"; protocol = \"udp\"; port = 53; },\n"
				"               { name = \"http\"; port = 8080; } );\n"
				"  internet = { enabled = true; interface = \"nbxinet0\"; dns = \"203.0.113.53\"; };\n"
				"  sinkhole = { enabled = true; address = \"192.0.2.1\"; tcp_port = 80; udp_port = 53; };\n"
				"  vpn = { enabled = true; interface = \"nbxvpn0\"; table = 100; dns = \"198.51.100.53\"; };\n"
				"};\n");
	struct nbx_machine n1 = machine_of(net.machine_n1, N1_IP, N1_MAC, "nbxbr0", NULL);
	struct nbx_machine n2 = machine_of(net.machine_n2, N2_IP, N2_MAC, "nbxbr0", NULL);
	Analysis *other = analysis_start_ok(r, n2, "none");
	Analysis *analysis = analysis_start_ok(r, n1, routes[route]);
	NetProbe agent[] = { NET_PROBE(TCP, N1_IP, 8000) };

	assert_matrix(net.node_1_path, node_cases, G_N_ELEMENTS(node_cases), route);
	net_probe_run(NULL, agent, 1);
	g_assert_cmpstr(agent[0].answer, ==, "n1");
	net_probe_clear(agent, 1);
	analysis_stop(r, analysis);
	/* N2 still runs: the bridge stays guarded for it. */
	g_autofree char *ruleset = ruleset_of(NULL);
	g_assert_nonnull(strstr(ruleset, "\"nbxbr0\""));
	analysis_stop(r, other);
	assert_no_trace_of(net.machine_n1, NULL);
	assert_no_trace_of(net.machine_n2, NULL);
	g_assert_cmpuint(conntrack_count(NULL, N1_IP), ==, 0);
	router_unload(r);
}

static void
test_spoofing_without_segment(void)
{
	NetServer *check = net_server_start(NULL, "10.214.0.1", 5353, "spoof-check");
	g_autofree char *bridge_mac = NULL;
	Router *r = router_load("router = { services = ( { name = \"check\"; protocol = \"udp\";"
				" port = 5353; } ); };\n");
	struct nbx_machine n1 = machine_of(net.machine_n1, N1_IP, N1_MAC, "nbxbr0", NULL);
	struct nbx_machine n2 = machine_of(net.machine_n2, N2_IP, N2_MAC, "nbxbr0", NULL);
	Analysis *one = analysis_start_ok(r, n1, "none");
	Analysis *two = analysis_start_ok(r, n2, "none");
	g_autofree char *link = net_command((const char *const[]){ "cat", "/sys/class/net/nbxbr0/address", NULL });

	bridge_mac = g_strstrip(g_strdup(link));
	NetRawUdp spoofed[] = {
		/* N2's address from N1's MAC: N2's chain wants N2's MAC. */
		{ N1_MAC, N2_IP, 4000, bridge_mac, "10.214.0.1", 5353, "other-guest-ip" },
		{ N1_MAC, "10.214.0.99", 4000, bridge_mac, "10.214.0.1", 5353, "unknown-ip" },
		{ "52:54:00:66:66:66", N1_IP, 4000, bridge_mac, "10.214.0.1", 5353, "spoofed-mac" },
		{ N1_MAC, N1_IP, 4000, bridge_mac, "10.214.0.1", 5353, "barrier" },
	};
	send_spoofed(net.node_1_path, spoofed, G_N_ELEMENTS(spoofed), check, "barrier");
	g_assert_false(net_server_saw_payload(check, "other-guest-ip", NULL));
	g_assert_false(net_server_saw_payload(check, "unknown-ip", NULL));
	g_assert_false(net_server_saw_payload(check, "spoofed-mac", NULL));
	analysis_stop(r, one);
	analysis_stop(r, two);
	router_unload(r);
	net_server_stop(check);
}

/* ---- configuration and submission checks ------------------------------------ */

static void
assert_diagnostic(Router *r, const char *needle)
{
	if (!nbx_diagnostics_contains(r->diagnostics, needle)) {
		for (guint i = 0; i < nbx_diagnostics_count(r->diagnostics); i++)
			g_test_message("%s", nbx_diagnostics_get(r->diagnostics, i));
		g_error("no diagnostic contains \"%s\"", needle);
	}
}

static void
test_check(void)
{
	Router *r = router_load_any("router = {\n"
				    "  default_route = \"vpn\";\n"
				    "  machine_routes = ( { machine = \"m\"; route = \"sinkhole\"; } );\n"
				    "  internet = { enabled = true; interface = \"nbxnothere0\"; };\n"
				    "  sinkhole = { enabled = false; };\n"
				    "};\n");

	assert_diagnostic(r, "internet.interface");
	router_unload(r);
	/* Past the schema: the plugin's own check. */
	set_forwarding("0");
	r = router_load_any("router = {\n"
			    "  default_route = \"vpn\";\n"
			    "  machine_routes = ( { machine = \"m\"; route = \"sinkhole\"; } );\n"
			    "  internet = { enabled = true; interface = \"nbxinet0\"; };\n"
			    "};\n");
	set_forwarding("1");
	assert_diagnostic(r, "default_route: route vpn is not enabled");
	assert_diagnostic(r, "machine_routes[0].route: route sinkhole is not enabled");
	assert_diagnostic(r, "internet.enabled: route internet needs IPv4 forwarding");
	router_unload(r);
	r = router_load_any("router = { vpn = { enabled = true; }; };\n");
	assert_diagnostic(r, "vpn.interface: route vpn is enabled and needs interface");
	router_unload(r);
}

static void
check_task_route(Router *r, const char *route, NbxDiagnostics *problems)
{
	g_autofree char *text = g_strdup_printf("route = \"%s\";", route);
	struct nbx_check check = { .instance = r->router, .diagnostics = problems };
	struct nbx_error err = { 0 };
	config_t options;

	config_init(&options);
	g_assert_true(config_read_string(&options, text));
	g_assert_true(r->ops->check_task(r->router->instance,
					 NBX_NODE(config_root_setting(&options)), &check, &err));
	config_destroy(&options);
}

static void
test_check_task(void)
{
	Router *r = router_load("router = { internet = { enabled = false; }; drop = { enabled = false; }; };\n");
	g_autoptr(NbxDiagnostics) problems = nbx_diagnostics_new();
	struct nbx_machine a = machine_of(net.machine_a, GUEST_IP, GUEST_MAC, "nbx0", net.segment_a);
	g_autoptr(GError) error = NULL;

	check_task_route(r, "none", problems);
	g_assert_cmpuint(nbx_diagnostics_count(problems), ==, 0);
	check_task_route(r, "internet", problems);
	check_task_route(r, "drop", problems);
	g_assert_cmpuint(nbx_diagnostics_count(problems), ==, 2);
	g_assert_true(nbx_diagnostics_contains(problems, "route: route internet is not configured on "
							 "this host"));
	g_assert_true(nbx_diagnostics_contains(problems, "route: route drop is not configured"));
	/* A task that got past submission anyway is refused at start, and nothing is made. */
	g_assert_null(analysis_start(r, a, "internet", &error));
	g_assert_nonnull(strstr(error->message, "route \"internet\" (from the task's option route) "
						"is not configured on this host"));
	assert_no_trace_of(net.machine_a, net.segment_a);
	router_unload(r);
}

/* ---- a process killed with -9 with rules in place ---------------------------- */

static void
die_with_parent(gpointer data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Runs this program with @args; returns its pid, its first line of output in @line. */
static GPid
spawn_self(const char *const *args, char **line)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GIOChannel) channel = NULL;
	g_autoptr(GError) error = NULL;
	GPid pid;
	int out;

	g_ptr_array_add(argv, (gpointer)g_getenv("NBX_TEST_SELF"));
	for (const char *const *arg = args; *arg != NULL; arg++)
		g_ptr_array_add(argv, (gpointer)*arg);
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
					       G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL, &pid,
					       NULL, &out, NULL, &error));
	channel = g_io_channel_unix_new(out);
	g_io_channel_set_close_on_unref(channel, TRUE);
	g_io_channel_read_line(channel, line, NULL, NULL, NULL);
	return pid;
}

static int
wait_for(GPid pid)
{
	int status;

	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_spawn_close_pid(pid);
	return status;
}

/* The child that holds rules: a segment, the router started for it (vpn, with a routing rule). */
static int
hold_rules(const char *machine, const char *plugin_dir)
{
	g_autoptr(NbxSegment) segment = make_segment(machine);
	Router *r;

	net.plugin_dir = (char *)plugin_dir;
	r = router_load(full_config);
	analysis_start_ok(r, machine_of(machine, GUEST_IP, GUEST_MAC, "nbx0", segment), "vpn");
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* The next daemon's start-up: stale segments out, the segment anew, the router's init. */
static int
start_again(const char *machine, const char *plugin_dir)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSegment) segment = NULL;
	const char *keep[] = { machine, NULL };
	Router *r;

	g_assert_true(nbx_segments_remove_stale(keep, &error));
	g_assert_no_error(error);
	segment = make_segment(machine);
	net.plugin_dir = (char *)plugin_dir;
	r = router_load(full_config);
	router_unload(r);
	printf("started\n");
	return 0;
}

static void
test_killed_with_rules(void)
{
	g_autofree char *machine = named("k");
	g_autofree char *netns = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, machine, NULL);
	g_autofree char *line = NULL;
	g_autofree char *chain = g_strconcat("chain m-", machine, "-fwd", NULL);
	g_autofree char *daemon = NULL;
	g_autofree char *inside = NULL;
	g_autofree char *rules = NULL;
	g_autoptr(GError) error = NULL;
	GPid child = spawn_self((const char *[]){ "--hold-rules", machine, net.plugin_dir, NULL },
				&line);

	g_assert_cmpstr(line, ==, "ready\n");
	kill(child, SIGKILL);
	wait_for(child);
	/* What it left: its chains here, its tables in the segment, its routing rule. */
	daemon = ruleset_of(NULL);
	g_assert_nonnull(strstr(daemon, chain));
	inside = ruleset_of(netns);
	g_assert_nonnull(strstr(inside, "table inet nestbox"));
	rules = net_command((const char *const[]){ "ip", "rule", "show", NULL });
	g_assert_nonnull(strstr(rules, "lookup 100"));
	g_clear_pointer(&line, g_free);
	child = spawn_self((const char *[]){ "--start-again", machine, net.plugin_dir, NULL }, &line);
	g_assert_cmpstr(line, ==, "started\n");
	g_assert_true(WIFEXITED(wait_for(child)));
	g_clear_pointer(&daemon, g_free);
	g_clear_pointer(&inside, g_free);
	g_clear_pointer(&rules, g_free);
	daemon = ruleset_of(NULL);
	g_assert_null(strstr(daemon, "nestbox"));
	inside = ruleset_of(netns);
	g_assert_null(strstr(inside, "nestbox"));
	rules = net_command((const char *const[]){ "ip", "rule", "show", NULL });
	g_assert_null(strstr(rules, "lookup 100"));
	/* The segment the second child made is stale to this process. */
	g_assert_true(nbx_segments_remove_stale((const char *[]){ net.machine_a, net.machine_b, NULL },
						&error));
	g_assert_no_error(error);
	g_assert_false(nbx_netns_exists(netns));
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--hold-rules") == 0)
		return hold_rules(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--start-again") == 0)
		return start_again(argv[2], argv[3]);
	g_test_init(&argc, &argv, NULL);
	nbx_host_services_set_main_thread();
	net.plugin_dir = (char *)g_getenv("NESTBOX_TEST_ROUTER_PLUGIN_DIR");
	for (int route = 0; route < ROUTES; route++) {
		g_autofree char *path = g_strdup_printf("/router/segment/%s", routes[route]);
		g_autofree char *plain = g_strdup_printf("/router/no-segment/%s", routes[route]);

		g_test_add_data_func(path, GINT_TO_POINTER(route), test_route);
		g_test_add_data_func(plain, GINT_TO_POINTER(route), test_without_segment);
	}
	g_test_add_func("/router/segment/spoofing", test_spoofing_segment);
	g_test_add_func("/router/no-segment/spoofing", test_spoofing_without_segment);
	g_test_add_func("/router/check", test_check);
	g_test_add_func("/router/check-task", test_check_task);
	/* Last (a suite of its own runs after the others): the second child's
	 * start-up removes every segment it did not make, this process's too. */
	g_test_add_func("/router/restart/killed-with-rules", test_killed_with_rules);
	set_up_network();
	int status = g_test_run();
	tear_down_network();
	return status;
}
