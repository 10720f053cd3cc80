/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network segments (core/network) for real: run by network-netns.sh inside
 * a network namespace made for this run (the "daemon's namespace"), so the
 * segments' uplinks never touch the host's own namespace. The layout is
 * read back with `ip -j`, independently of the code under test.
 */
#define _GNU_SOURCE /* unshare */
#include <json-glib/json-glib.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_probe.h"
#include "netns.h"
#include "segment.h"

#define HOST_ADDRESS "10.213.0.1/24"
#define HOST_MAC "52:54:00:0a:0b:01"
#define GUEST_IP "10.213.0.10"
#define GUEST_MAC "52:54:00:12:34:56"

/* Machine names unique to this run: the wrapper deletes what is left of them. */
static char *
machine(const char *suffix)
{
	return g_strconcat(g_getenv("NBX_TEST_PREFIX"), suffix, NULL);
}

static char *
netns_of(const char *machine_name)
{
	return g_strconcat(NBX_SEGMENT_NETNS_PREFIX, machine_name, NULL);
}

static NbxSegment *
ensure(const char *name)
{
	NbxSegmentSpec spec = { .name = name, .host_address = HOST_ADDRESS, .host_mac = HOST_MAC };
	g_autoptr(GError) error = NULL;
	NbxSegment *segment = nbx_segment_ensure(&spec, &error);

	g_assert_no_error(error);
	g_assert_nonnull(segment);
	return segment;
}

static void
remove_segment(const char *name)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(nbx_segment_remove(name, &error));
	g_assert_no_error(error);
}

/* `ip -d -j [-n NS] addr show dev IFNAME` as JSON, or NULL when there is no such link. */
static JsonObject *
link_json(const char *netns, const char *ifname)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	int status;
	const char *argv[] = { "ip", "-d", "-j", "-n", netns, "addr", "show", "dev", ifname, NULL };
	const char *argv_here[] = { "ip", "-d", "-j", "addr", "show", "dev", ifname, NULL };
	JsonArray *links;

	g_assert_true(g_spawn_sync(NULL, (char **)(netns ? argv : argv_here), NULL,
				   G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, NULL));
	if (!g_spawn_check_wait_status(status, NULL))
		return NULL; /* "Device does not exist" */
	g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
	links = json_node_get_array(json_parser_get_root(parser));
	g_assert_cmpuint(json_array_get_length(links), ==, 1);
	return json_object_ref(json_array_get_object_element(links, 0));
}

static gboolean
has_flag(JsonObject *link, const char *flag)
{
	JsonArray *flags = json_object_get_array_member(link, "flags");

	for (guint i = 0; i < json_array_get_length(flags); i++)
		if (g_strcmp0(json_array_get_string_element(flags, i), flag) == 0)
			return TRUE;
	return FALSE;
}

static char *
ipv4_of(JsonObject *link)
{
	JsonArray *addresses = json_object_get_array_member(link, "addr_info");

	for (guint i = 0; i < json_array_get_length(addresses); i++) {
		JsonObject *address = json_array_get_object_element(addresses, i);

		if (g_strcmp0(json_object_get_string_member(address, "family"), "inet") == 0)
			return g_strdup_printf("%s/%" G_GINT64_FORMAT,
					       json_object_get_string_member(address, "local"),
					       json_object_get_int_member(address, "prefixlen"));
	}
	return NULL;
}

static const char *
kind_of(JsonObject *link)
{
	JsonObject *info = json_object_get_object_member(link, "linkinfo");

	return info != NULL ? json_object_get_string_member(info, "info_kind") : NULL;
}

static void
assert_link(const char *netns, const char *ifname, const char *kind, const char *address)
{
	g_autoptr(JsonObject) link = link_json(netns, ifname);
	g_autofree char *ipv4 = NULL;

	g_assert_nonnull(link);
	g_assert_true(has_flag(link, "UP"));
	if (kind != NULL)
		g_assert_cmpstr(kind_of(link), ==, kind);
	ipv4 = ipv4_of(link);
	g_assert_cmpstr(ipv4, ==, address);
}

static void
assert_segment_layout(const NbxSegment *segment)
{
	const char *ns = segment->name;
	g_autoptr(JsonObject) bridge = link_json(ns, NBX_SEGMENT_BRIDGE);
	g_autofree char *gateway = g_strndup(segment->outer_address, strcspn(segment->outer_address, "/"));
	g_autofree char *route = NULL;
	g_autofree char *forwarding = NULL;

	g_assert_true(g_file_test(segment->netns_path, G_FILE_TEST_EXISTS));
	assert_link(ns, "lo", NULL, "127.0.0.1/8");
	assert_link(ns, NBX_SEGMENT_BRIDGE, "bridge", HOST_ADDRESS);
	g_assert_cmpstr(json_object_get_string_member(bridge, "address"), ==, HOST_MAC);
	assert_link(ns, NBX_SEGMENT_UPLINK, "veth", segment->inner_address);
	assert_link(NULL, segment->outer_link, "veth", segment->outer_address);
	route = net_command((const char *const[]){ "ip", "-n", ns, "-4", "route", "show",
						   "default", NULL });
	g_assert_true(g_str_has_prefix(route, "default via "));
	g_assert_nonnull(strstr(route, gateway));
	g_assert_nonnull(strstr(route, "dev " NBX_SEGMENT_UPLINK));
	forwarding = net_command((const char *const[]){ "ip", "netns", "exec", ns, "cat",
							"/proc/sys/net/ipv4/ip_forward", NULL });
	g_assert_cmpstr(forwarding, ==, "1\n");
	if (g_file_test("/proc/sys/net/bridge/bridge-nf-call-iptables", G_FILE_TEST_EXISTS)) {
		g_autofree char *bridge_netfilter = net_command((const char *const[]){
			"ip", "netns", "exec", ns, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables",
			NULL });

		g_assert_cmpstr(bridge_netfilter, ==, "0\n");
	}
}

static void
test_layout(void)
{
	g_autofree char *name = machine("layout");
	g_autoptr(NbxSegment) segment = ensure(name);
	g_autofree char *netns = netns_of(name);
	g_autofree char *expected_outer = NULL;

	g_assert_cmpstr(segment->name, ==, netns);
	g_assert_cmpstr(segment->netns_path + strlen(NBX_NETNS_DIR "/"), ==, segment->name);
	expected_outer = g_strdup_printf("100.64.0.%u/30", 4 * segment->index + 1);
	g_assert_cmpstr(segment->outer_address, ==, expected_outer);
	assert_segment_layout(segment);
	remove_segment(name);
	g_assert_false(g_file_test(segment->netns_path, G_FILE_TEST_EXISTS));
	g_assert_null(link_json(NULL, segment->outer_link));
	/* Removing what is not there succeeds. */
	remove_segment(name);
}

/* Two segments with the same guest-side addresses at once, each guest answering in its own. */
static void
test_same_addresses(void)
{
	g_autofree char *a = machine("twin-a");
	g_autofree char *b = machine("twin-b");
	g_autofree char *guest_a = machine("-ga");
	g_autofree char *guest_b = machine("-gb");
	g_autoptr(NbxSegment) segment_a = ensure(a);
	g_autoptr(NbxSegment) segment_b = ensure(b);
	g_autofree char *guest_a_path = nbx_netns_path(guest_a);
	g_autofree char *guest_b_path = nbx_netns_path(guest_b);
	g_autofree char *outer_a = g_strndup(segment_a->outer_address, strcspn(segment_a->outer_address, "/"));
	NetServer *host_a, *host_b, *outer;

	g_assert_cmpuint(segment_a->index, !=, segment_b->index);
	assert_segment_layout(segment_a);
	assert_segment_layout(segment_b);
	net_guest_create(guest_a, a, GUEST_IP, 24, GUEST_MAC, "10.213.0.1");
	net_guest_create(guest_b, b, GUEST_IP, 24, GUEST_MAC, "10.213.0.1");
	/* The same address on each segment's host side answers as itself. */
	host_a = net_server_start(segment_a->netns_path, "10.213.0.1", 7000, "host-a");
	host_b = net_server_start(segment_b->netns_path, "10.213.0.1", 7000, "host-b");
	/* And the uplink reaches the daemon's namespace (a route, no rule yet). */
	outer = net_server_start(NULL, outer_a, 7001, "daemon");
	NetProbe probes_a[] = {
		NET_PROBE(TCP, "10.213.0.1", 7000),
		NET_PROBE(UDP, "10.213.0.1", 7000),
		NET_PROBE(ICMP, "10.213.0.1", 0),
	};
	NetProbe probes_b[G_N_ELEMENTS(probes_a)];
	memcpy(probes_b, probes_a, sizeof probes_a);
	net_probe_run(guest_a_path, probes_a, G_N_ELEMENTS(probes_a));
	net_probe_run(guest_b_path, probes_b, G_N_ELEMENTS(probes_b));
	g_assert_cmpstr(probes_a[0].answer, ==, "host-a");
	g_assert_cmpstr(probes_a[1].answer, ==, "host-a");
	g_assert_cmpstr(probes_a[2].answer, ==, "pong");
	g_assert_cmpstr(probes_b[0].answer, ==, "host-b");
	g_assert_cmpstr(probes_b[1].answer, ==, "host-b");
	g_assert_cmpstr(probes_b[2].answer, ==, "pong");
	NetProbe uplink[] = { NET_PROBE(TCP, outer_a, 7001) };
	net_probe_run(segment_a->netns_path, uplink, 1);
	g_assert_cmpstr(uplink[0].answer, ==, "daemon");
	net_probe_clear(probes_a, G_N_ELEMENTS(probes_a));
	net_probe_clear(probes_b, G_N_ELEMENTS(probes_b));
	net_probe_clear(uplink, 1);
	net_server_stop(host_a);
	net_server_stop(host_b);
	net_server_stop(outer);
	net_guest_delete(guest_a);
	net_guest_delete(guest_b);
	remove_segment(a);
	remove_segment(b);
}

/* A second ensure keeps the segment (and what runs in it) and repairs its layout. */
static void
test_ensure_again(void)
{
	g_autofree char *name = machine("again");
	g_autoptr(NbxSegment) first = ensure(name);
	g_autoptr(NbxSegment) second = NULL;

	g_free(net_command((const char *const[]){ "ip", "-n", first->name, "link", "add", "marker0",
						  "type", "veth", "peer", "name", "marker1", NULL }));
	g_free(net_command((const char *const[]){ "ip", "-n", first->name, "addr", "flush", "dev",
						  NBX_SEGMENT_BRIDGE, NULL }));
	second = ensure(name);
	g_assert_cmpuint(second->index, ==, first->index);
	assert_segment_layout(second);
	g_autoptr(JsonObject) marker = link_json(second->name, "marker0");
	g_assert_nonnull(marker);
	remove_segment(name);
}

static void
test_bad_spec(void)
{
	static const struct {
		NbxSegmentSpec spec;
		const char *message;
	} cases[] = {
		{ { .name = "m", .host_address = "10.213.0.1" }, "host_address: \"10.213.0.1\" is not" },
		{ { .name = "m", .host_address = "10.213.0.0/24" }, "network or broadcast" },
		{ { .name = "m", .host_address = "100.64.3.1/24" }, "overlaps network.uplink_prefix" },
		{ { .name = "m", .host_address = "10.0.0.1/24", .host_mac = "01:00:00:00:00:01" },
		  "host_mac: \"01:00:00:00:00:01\" is not a unicast MAC" },
		{ { .name = "m", .host_address = "10.0.0.1/24", .uplink_prefix = "100.64.0.1/16" },
		  "network.uplink_prefix: 100.64.0.1/16 has host bits set" },
		{ { .name = "m", .host_address = "10.0.0.1/24", .uplink_prefix = "100.64.0.0/31" },
		  "network.uplink_prefix: \"100.64.0.0/31\" is not" },
		{ { .name = "a/b", .host_address = "10.0.0.1/24" }, "name: \"a/b\" cannot name" },
		{ { .name = "m" }, "host_address: a machine with a segment needs" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_null(nbx_segment_ensure(&cases[i].spec, &error));
		g_assert_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_INVALID);
		if (strstr(error->message, cases[i].message) == NULL)
			g_error("case %zu: \"%s\" lacks \"%s\"", i, error->message, cases[i].message);
	}
	/* Nothing was made for any of them. */
	g_assert_false(nbx_netns_exists(NBX_SEGMENT_NETNS_PREFIX "m"));
}

/* A namespace named like a segment that is not one of this namespace's is left alone. */
static void
test_foreign_namespace(void)
{
	g_autofree char *name = machine("foreign");
	g_autofree char *netns = netns_of(name);
	NbxSegmentSpec spec = { .name = name, .host_address = HOST_ADDRESS };
	g_autoptr(GError) error = NULL;

	g_autofree char *other = machine("neighbour");
	g_autoptr(NbxSegment) neighbour G_GNUC_UNUSED = ensure(other);

	/* Linked to this namespace by a veth, and beside a real segment: only
	 * an uplink of ours makes a namespace ours. */
	g_free(net_command((const char *const[]){ "ip", "netns", "add", netns, NULL }));
	g_free(net_command((const char *const[]){ "ip", "link", "add", "nbxfor0", "type", "veth",
						  "peer", "name", "eth0", "netns", netns, NULL }));
	g_assert_null(nbx_segment_ensure(&spec, &error));
	g_assert_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS);
	g_assert_nonnull(strstr(error->message, "is not a segment of this daemon's namespace"));
	g_clear_error(&error);
	g_assert_false(nbx_segment_remove(name, &error));
	g_assert_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS);
	g_clear_error(&error);
	g_assert_true(nbx_segments_remove_stale(NULL, &error));
	g_assert_no_error(error);
	g_assert_true(nbx_netns_exists(netns));
	g_assert_true(nbx_netns_delete(netns, &error));
	remove_segment(other);
}

static guint
count_outer_links(const char *links)
{
	guint count = 0;

	for (const char *at = links; (at = strstr(at, ": " NBX_SEGMENT_OUTER_PREFIX)) != NULL; at++)
		count++;
	return count;
}

/* What a child made and left when killed with -9: stale, removed; what we keep, kept. */
static void
test_stale_after_kill(void)
{
	g_autofree char *dead_a = machine("dead-a");
	g_autofree char *dead_b = machine("dead-b");
	g_autofree char *kept = machine("kept");
	g_autofree char *dropped = machine("dropped");
	const char *argv[] = { g_getenv("NBX_TEST_SELF"), "--make-segments", dead_a, dead_b, NULL };
	const char *keep[] = { kept, dead_b, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSegment) kept_segment = NULL;
	g_autoptr(NbxSegment) dropped_segment = NULL;
	g_autoptr(NbxSegment) remade = NULL;
	g_autoptr(GIOChannel) channel = NULL;
	g_autofree char *line = NULL;
	GPid child;
	int out, status;

	g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
					       NULL, NULL, &child, NULL, &out, NULL, &error));
	channel = g_io_channel_unix_new(out);
	g_io_channel_set_close_on_unref(channel, TRUE);
	g_io_channel_read_line(channel, &line, NULL, NULL, NULL);
	g_assert_cmpstr(line, ==, "ready\n");
	kill(child, SIGKILL);
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	g_spawn_close_pid(child);
	kept_segment = ensure(kept);
	dropped_segment = ensure(dropped);
	/* The dead child's segments survive it (bind mounts), with their uplinks. */
	g_autofree char *netns_a = netns_of(dead_a);
	g_autofree char *netns_b = netns_of(dead_b);
	g_assert_true(nbx_netns_exists(netns_a));
	g_assert_true(nbx_netns_exists(netns_b));
	g_assert_true(nbx_segments_remove_stale(keep, &error));
	g_assert_no_error(error);
	/* dead-b is in the keep list but was not made by this process: stale too. */
	g_assert_false(nbx_netns_exists(netns_a));
	g_assert_false(nbx_netns_exists(netns_b));
	g_assert_false(nbx_netns_exists(dropped_segment->name));
	g_assert_null(link_json(NULL, dropped_segment->outer_link));
	assert_segment_layout(kept_segment);
	/* Only the kept segment's uplink is left in this namespace. */
	g_autofree char *links = net_command((const char *const[]){ "ip", "-o", "link", "show",
								    NULL });
	g_autofree char *needle = g_strdup_printf(": %s@", kept_segment->outer_link);
	g_assert_nonnull(strstr(links, needle));
	g_assert_cmpuint(count_outer_links(links), ==, 1);
	/* A name the dead child used is made anew. */
	remade = ensure(dead_a);
	assert_segment_layout(remade);
	remove_segment(dead_a);
	remove_segment(kept);
}

/*
 * A second daemon whose mount namespace does not see the first one's
 * namespace mount finds only an empty file at its name. It must refuse the
 * name rather than mount its own namespace on that file, whose removal
 * would then detach the first one's (or the other way round). The
 * subprocess plays the second daemon: its own mount namespace, with the
 * first one's mount taken away in it alone.
 */
static void
test_held_across_mount_namespaces(void)
{
	g_autofree char *name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, g_getenv("NBX_TEST_PREFIX"),
					    "held", NULL);
	g_autofree char *path = nbx_netns_path(name);
	g_autoptr(GError) error = NULL;

	if (g_test_subprocess()) {
		g_assert_cmpint(unshare(CLONE_NEWNS), ==, 0);
		g_assert_cmpint(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);
		g_assert_cmpint(umount2(path, MNT_DETACH), ==, 0);
		g_assert_false(nbx_netns_exists(name));
		g_assert_false(nbx_netns_create(name, NULL, NULL, &error));
		g_assert_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS);
		g_assert_nonnull(strstr(error->message, path));
		g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
		return;
	}
	g_assert_true(nbx_netns_create(name, NULL, NULL, &error));
	g_assert_no_error(error);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_assert_true(nbx_netns_exists(name));
	g_assert_true(nbx_netns_delete(name, &error));
	g_assert_no_error(error);
	/* Deleting gave the name up: it can be made again. */
	g_assert_true(nbx_netns_create(name, NULL, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(nbx_netns_delete(name, &error));
	g_assert_no_error(error);
}

/* The child of test_stale_after_kill: makes segments, says so, waits for its SIGKILL. */
static int
make_segments(char **names)
{
	for (char **name = names; *name != NULL; name++)
		nbx_segment_free(ensure(*name));
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

int
main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--make-segments") == 0)
		return make_segments(argv + 2);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/network/segment/layout", test_layout);
	g_test_add_func("/network/segment/same-addresses", test_same_addresses);
	g_test_add_func("/network/segment/ensure-again", test_ensure_again);
	g_test_add_func("/network/segment/bad-spec", test_bad_spec);
	g_test_add_func("/network/segment/foreign-namespace", test_foreign_namespace);
	g_test_add_func("/network/segment/stale-after-kill", test_stale_after_kill);
	g_test_add_func("/network/netns/held-across-mount-namespaces",
			test_held_across_mount_namespaces);
	return g_test_run();
}
