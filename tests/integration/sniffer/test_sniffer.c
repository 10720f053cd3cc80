/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sniffer plugin against real traffic: run by sniffer-netns.sh inside a
 * network namespace of its own, with a veth pair SNIFFER_IF_MACHINE_SIDE
 * (what the sniffer captures on, the host's side of the fake machine) and
 * SNIFFER_IF_PEER (the fake machine's side). Frames are written with packet
 * sockets on either end, so every byte the pcap must hold is known.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "report.h"
#include "test_support.h"
#include "plugin_ops.h"

#define MACHINE_IP "192.0.2.10"
#define HOST_IP "192.0.2.1"
#define OTHER_IP "192.0.2.99"
#define AGENT_PORT 8000
#define RESULTSERVER_PORT 2042

static const guint8 mac_host[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
static const guint8 mac_machine[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };

typedef struct {
	guint8 bytes[1600];
	gsize length;
} Frame;

typedef struct {
	char *dir;
	char *analysis_dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	const struct nbx_host *host;
	const struct nbx_auxiliary_ops *ops;
	void *instance;
	struct nbx_report *report;
	struct nbx_machine machine;
	struct nbx_task task;
	struct nbx_aux_context context;
	struct nbx_call call;
	config_t task_options;
	void *analysis_data;
	GArray *expected; /* Frame */
	int socket_host;
	int socket_machine;
	/* Frames sent from the machine's side that the observer has not seen yet. */
	GArray *in_flight; /* Frame */
	int observer;
} Fixture;

static const char *
capture_side(void)
{
	return g_getenv("SNIFFER_IF_MACHINE_SIDE");
}

static int
packet_socket(const char *interface)
{
	struct sockaddr_ll address = { .sll_family = AF_PACKET };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	address.sll_ifindex = (int)if_nametoindex(interface);
	g_assert_cmpint(address.sll_ifindex, >, 0);
	/* Protocol 0: this socket only sends, it never queues what it sees. */
	g_assert_cmpint(bind(fd, (struct sockaddr *)&address, sizeof address), ==, 0);
	return fd;
}

/*
 * A packet socket that receives everything on the capture side. The kernel
 * hands a frame to a device's packet sockets newest first: opened before
 * any capture, this one gets each frame after the sniffer's socket did.
 */
static int
observer_socket(const char *interface)
{
	struct sockaddr_ll address = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int size = 8 * 1024 * 1024;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));

	g_assert_cmpint(fd, >=, 0);
	address.sll_ifindex = (int)if_nametoindex(interface);
	g_assert_cmpint(address.sll_ifindex, >, 0);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&address, sizeof address), ==, 0);
	/* Room for every frame of a test's flow, however long nobody reads. */
	g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size), ==, 0);
	return fd;
}

static void
set_up(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(g_getenv("NESTBOX_TEST_SNIFFER_PLUGIN_DIR"), "");
	f->analysis_dir = g_build_filename(f->dir, "analyses", "1", NULL);
	g_assert_cmpint(g_mkdir_with_parents(f->analysis_dir, 0750), ==, 0);
	f->diagnostics = nbx_diagnostics_new();
	f->report = nbx_report_new();
	f->expected = g_array_new(FALSE, TRUE, sizeof(Frame));
	config_init(&f->task_options);
	f->machine = (struct nbx_machine){
		.struct_size = sizeof f->machine, .name = "m1", .label = "m1", .ip = MACHINE_IP,
		.platform = "linux", .interface = capture_side(), .agent_port = AGENT_PORT,
	};
	f->task = (struct nbx_task){ .struct_size = sizeof f->task, .id = 1, .duration_s = 1 };
	f->context = (struct nbx_aux_context){
		.struct_size = sizeof f->context, .analysis_dir = f->analysis_dir, .task = &f->task,
		.machine = &f->machine, .report = f->report,
	};
	f->call = (struct nbx_call){ .struct_size = sizeof f->call,
				     .analysis_dir = f->analysis_dir, .task_id = 1 };
	f->socket_host = packet_socket(capture_side());
	f->socket_machine = packet_socket(g_getenv("SNIFFER_IF_PEER"));
	f->in_flight = g_array_new(FALSE, TRUE, sizeof(Frame));
	f->observer = observer_socket(capture_side());
	nbx_host_services_set_main_thread();
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	close(f->socket_host);
	close(f->socket_machine);
	close(f->observer);
	g_array_unref(f->in_flight);
	config_destroy(&f->task_options);
	g_array_unref(f->expected);
	nbx_report_free(f->report);
	nbx_setup_free(f->setup);
	nbx_diagnostics_free(f->diagnostics);
	test_dir_remove(f->dir);
	g_free(f->analysis_dir);
	g_free(f->dir);
}

/* Loads a config dir whose auxiliary.conf is @auxiliary_conf. */
static void
load(Fixture *f, const char *auxiliary_conf)
{
	NbxPluginInstance *sniffer;

	test_write(f->dir, "auxiliary.conf", auxiliary_conf);
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->setup);
	if (nbx_diagnostics_count(f->diagnostics) > 0)
		return;
	g_assert_cmpuint(f->setup->auxiliaries->len, ==, 1);
	sniffer = g_ptr_array_index(f->setup->auxiliaries, 0);
	g_assert_cmpstr(nbx_plugin_instance_name(sniffer), ==, "sniffer");
	f->host = &sniffer->host;
	f->ops = nbx_plugin_auxiliary_ops(sniffer->plugin);
	f->instance = sniffer->instance;
}

static void
load_clean(Fixture *f, const char *auxiliary_conf)
{
	load(f, auxiliary_conf);
	for (guint i = 0; i < nbx_diagnostics_count(f->diagnostics); i++)
		g_test_message("%s", nbx_diagnostics_get(f->diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 0);
}

static guint16
ip_checksum(const guint8 *header, gsize length)
{
	guint32 sum = 0;

	for (gsize i = 0; i + 1 < length; i += 2)
		sum += (guint32)(header[i] << 8 | header[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (guint16)~sum;
}

/*
 * Writes one Ethernet/IPv4/UDP-or-TCP frame from @from_machine's side and
 * remembers it as expected in the pcap when @expected.
 */
static void
send_frame(Fixture *f, gboolean from_machine, int protocol, const char *source,
	   guint16 source_port, const char *destination, guint16 destination_port,
	   gsize payload_length, gboolean expected)
{
	static guint sequence;
	Frame frame = { 0 };
	guint8 *ip = frame.bytes + ETH_HLEN;
	gsize l4_length = protocol == IPPROTO_UDP ? 8 : 20;
	guint8 *l4 = ip + 20;
	guint8 *payload = l4 + l4_length;
	gsize ip_length = 20 + l4_length + payload_length;
	int fd = from_machine ? f->socket_machine : f->socket_host;

	g_assert_cmpuint(ETH_HLEN + ip_length, <=, sizeof frame.bytes);
	memcpy(frame.bytes, from_machine ? mac_host : mac_machine, ETH_ALEN);
	memcpy(frame.bytes + ETH_ALEN, from_machine ? mac_machine : mac_host, ETH_ALEN);
	frame.bytes[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	ip[2] = (guint8)(ip_length >> 8);
	ip[3] = (guint8)ip_length;
	ip[8] = 64;
	ip[9] = (guint8)protocol;
	g_assert_cmpint(inet_pton(AF_INET, source, ip + 12), ==, 1);
	g_assert_cmpint(inet_pton(AF_INET, destination, ip + 16), ==, 1);
	guint16 checksum = ip_checksum(ip, 20);
	ip[10] = (guint8)(checksum >> 8);
	ip[11] = (guint8)checksum;
	l4[0] = (guint8)(source_port >> 8);
	l4[1] = (guint8)source_port;
	l4[2] = (guint8)(destination_port >> 8);
	l4[3] = (guint8)destination_port;
	if (protocol == IPPROTO_UDP) {
		l4[4] = (guint8)((8 + payload_length) >> 8);
		l4[5] = (guint8)(8 + payload_length);
	} else {
		l4[12] = 5 << 4; /* header length */
		l4[13] = 0x18;   /* PSH, ACK */
		l4[14] = 0xff;
	}
	for (gsize i = 0; i < payload_length; i++)
		payload[i] = (guint8)(sequence + i);
	g_snprintf((char *)payload, MIN(payload_length, 32), "nestbox sniffer test %u", sequence);
	sequence++;
	frame.length = ETH_HLEN + ip_length;
	g_assert_cmpint(send(fd, frame.bytes, frame.length, 0), ==, (ssize_t)frame.length);
	if (expected)
		g_array_append_val(f->expected, frame);
	if (from_machine)
		g_array_append_val(f->in_flight, frame);
}

/* A conversation: DNS-like UDP out, TCP from the machine, the agent, the
 * result server, and a stranger the machine never talks to. */
static void
send_mixed_flow(Fixture *f, gboolean debug)
{
	for (int i = 0; i < 3; i++) {
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 60, TRUE);
		send_frame(f, TRUE, IPPROTO_TCP, MACHINE_IP, 40000, HOST_IP, 80, 200 + i, TRUE);
	}
	for (int i = 0; i < 2; i++) {
		send_frame(f, FALSE, IPPROTO_TCP, HOST_IP, 41000, MACHINE_IP, AGENT_PORT, 30, debug);
		send_frame(f, TRUE, IPPROTO_TCP, MACHINE_IP, 42000, HOST_IP, RESULTSERVER_PORT, 90,
			   debug);
		send_frame(f, TRUE, IPPROTO_UDP, OTHER_IP, 9, HOST_IP, 9, 20, FALSE);
	}
}

static void
start(Fixture *f)
{
	struct nbx_error err = { 0 };

	if (!f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err))
		g_error("start failed: %s", err.message);
}

/* Takes @frame off the frames in flight, if it is one of them. */
static void
landed(Fixture *f, const guint8 *frame, gsize length)
{
	for (guint i = 0; i < f->in_flight->len; i++) {
		Frame *sent = &g_array_index(f->in_flight, Frame, i);

		if (sent->length == length && memcmp(sent->bytes, frame, length) == 0) {
			g_array_remove_index(f->in_flight, i);
			return;
		}
	}
}

/*
 * Frames from the machine's side reach the capture a softirq later, which
 * on a busy host is ksoftirqd's, whenever it runs; those from the host's
 * side within send(). Waits until the observer has seen every frame in
 * flight, so the sniffer's socket has them too; stop itself drains
 * everything the kernel holds. The deadline only catches a hang.
 */
static void
settle(Fixture *f)
{
	gint64 give_up = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;
	guint8 buf[2048];

	while (f->in_flight->len > 0) {
		struct pollfd poll_fd = { .fd = f->observer, .events = POLLIN };
		ssize_t got;

		g_assert_cmpint(g_get_monotonic_time(), <, give_up);
		g_assert_cmpint(poll(&poll_fd, 1, 1000), >=, 0);
		while ((got = recv(f->observer, buf, sizeof buf, 0)) > 0)
			landed(f, buf, (gsize)got);
	}
}

static gboolean
stop(Fixture *f, struct nbx_error *err)
{
	return f->ops->stop(f->instance, &f->context, f->analysis_data, &f->call, err);
}

static void
stop_ok(Fixture *f)
{
	struct nbx_error err = { 0 };

	if (!stop(f, &err))
		g_error("stop failed: %s", err.message);
}

static char *
dump_path(Fixture *f)
{
	return g_build_filename(f->analysis_dir, "dump.pcap", NULL);
}

/* Reads the pcap back: it must be valid to its end and hold @expected_count
 * frames; with @in_order they must equal the expected ones in sending order,
 * else (two directions cross the veth on different paths) as a set. */
static void
assert_pcap_holds(Fixture *f, guint expected_count, gboolean in_order)
{
	g_autofree char *path = dump_path(f);
	g_autofree gboolean *matched = g_new0(gboolean, f->expected->len + 1);
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pcap = pcap_open_offline(path, errbuf);
	struct pcap_pkthdr *header;
	const u_char *bytes;
	guint count = 0;
	int status;

	if (pcap == NULL)
		g_error("%s: %s", path, errbuf);
	g_assert_cmpint(pcap_datalink(pcap), ==, DLT_EN10MB);
	while ((status = pcap_next_ex(pcap, &header, &bytes)) == 1) {
		gboolean found = FALSE;

		g_assert_cmpuint(header->caplen, ==, header->len);
		for (guint i = in_order ? count : 0; i < f->expected->len && !found; i++) {
			Frame *frame = &g_array_index(f->expected, Frame, i);

			if (!matched[i] && frame->length == header->caplen &&
			    memcmp(frame->bytes, bytes, frame->length) == 0)
				found = matched[i] = TRUE;
			if (in_order)
				break;
		}
		if (!found)
			g_error("packet %u of %s is not one of the expected frames", count + 1, path);
		count++;
	}
	if (status == PCAP_ERROR)
		g_error("%s is not a valid pcap after %u packets: %s", path, count,
			pcap_geterr(pcap));
	pcap_close(pcap);
	g_assert_cmpuint(count, ==, expected_count);
}

static JsonObject *
report(Fixture *f)
{
	return nbx_report_ref_object(f->report);
}

static const char base_conf[] = "sniffer = { resultserver_ip = \"" HOST_IP
				"\"; resultserver_port = 2042; };\n";
static const char immediate_conf[] = "sniffer = { immediate_mode = true; };\n";

static void
test_capture_exact(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonObject) result = NULL;
	g_autofree char *path = dump_path(f);
	JsonArray *files;
	struct stat st;

	load_clean(f, base_conf);
	start(f);
	send_mixed_flow(f, FALSE);
	settle(f);
	stop_ok(f);
	assert_pcap_holds(f, 6, FALSE);
	result = report(f);
	g_assert_cmpint(json_object_get_int_member(result, "packets_captured"), ==, 6);
	g_assert_cmpint(json_object_get_int_member(result, "packets_received"), >=, 6);
	g_assert_cmpint(json_object_get_int_member(result, "dropped_by_kernel"), ==, 0);
	g_assert_true(json_object_has_member(result, "dropped_by_interface"));
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(json_object_get_int_member(result, "bytes_written"), ==, st.st_size);
	g_assert_cmpstr(json_object_get_string_member(result, "interface"), ==, capture_side());
	g_assert_cmpstr(json_object_get_string_member(result, "filter"), ==,
			"(host " MACHINE_IP " and not port 8000 and not (host " HOST_IP
			" and port 2042))");
	g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$",
					   json_object_get_string_member(result, "capture_start"),
					   0, 0));
	g_assert_cmpstr(json_object_get_string_member(result, "capture_start"), <=,
			json_object_get_string_member(result, "capture_end"));
	files = json_object_get_array_member(result, "files");
	g_assert_cmpuint(json_array_get_length(files), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(files, 0), ==, "dump.pcap");
	g_assert_false(json_object_has_member(result, "packets_over_limit"));
}

static void
test_debug_keeps_nestbox_traffic(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonObject) result = NULL;

	load_clean(f, base_conf);
	f->task.debug = true;
	start(f);
	send_mixed_flow(f, TRUE);
	settle(f);
	stop_ok(f);
	assert_pcap_holds(f, 10, FALSE);
	result = report(f);
	g_assert_cmpstr(json_object_get_string_member(result, "filter"), ==, "(host " MACHINE_IP ")");
}

/* The interface comes from the plugin's setting when the machine has none. */
static void
test_user_bpf(Fixture *f, gconstpointer data)
{
	g_autofree char *conf = g_strdup_printf("sniffer = { interface = \"%s\"; bpf = \"udp\"; };\n",
						capture_side());
	g_autoptr(JsonObject) result = NULL;

	load_clean(f, conf);
	g_assert_cmpint(config_read_string(&f->task_options, "bpf = \"not port 53\";"), ==,
			CONFIG_TRUE);
	f->task.options = (const struct nbx_config_node *)config_root_setting(&f->task_options);
	f->machine.interface = NULL;
	start(f);
	for (int i = 0; i < 3; i++) {
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 60, FALSE);
		send_frame(f, TRUE, IPPROTO_UDP, MACHINE_IP, 123, HOST_IP, 123, 48, TRUE);
		send_frame(f, TRUE, IPPROTO_TCP, MACHINE_IP, 40000, HOST_IP, 80, 100, FALSE);
	}
	settle(f);
	stop_ok(f);
	assert_pcap_holds(f, 3, TRUE);
	result = report(f);
	g_assert_cmpstr(json_object_get_string_member(result, "filter"), ==,
			"(host " MACHINE_IP " and not port 8000) and (udp) and (not port 53)");
}

/* A burst, then stop at once: every frame is in the pcap, in order, those
 * in full blocks and those in the last, partly filled one, which the kernel
 * hands over only when its timer retires it, after stop was called. No
 * settling time here; frames sent from the host side reach the capture
 * synchronously, within send(). data: a Burst. */
typedef struct {
	const char *conf;
	guint frames;
} Burst;

/* Some 1500 of these frames fill one of libpcap's 256 KiB blocks. */
static const Burst burst_blocks = { .conf = base_conf, .frames = 4000 };
/* Immediate mode's ring has one 256 KiB slot per packet, about 120 in all:
 * a longer burst than the capture thread can keep up with drops there. */
static const Burst burst_immediate = { .conf = immediate_conf, .frames = 100 };

static void
test_burst_then_stop(Fixture *f, gconstpointer data)
{
	const Burst *burst = data;
	g_autoptr(JsonObject) result = NULL;

	load_clean(f, burst->conf);
	start(f);
	for (guint i = 0; i < burst->frames; i++)
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 60, TRUE);
	stop_ok(f);
	assert_pcap_holds(f, burst->frames, TRUE);
	result = report(f);
	g_assert_cmpint(json_object_get_int_member(result, "packets_captured"), ==, burst->frames);
	g_assert_cmpint(json_object_get_int_member(result, "dropped_by_kernel"), ==, 0);
}

/* Two analyses at once on one instance, as the core runs them: each
 * capture keeps its own machine's packets, file and report. */
static void
test_concurrent_analyses(Fixture *f, gconstpointer data)
{
	g_autofree char *other_dir = g_build_filename(f->dir, "analyses", "2", NULL);
	g_autofree char *other_path = g_build_filename(other_dir, "dump.pcap", NULL);
	struct nbx_machine other_machine = f->machine;
	struct nbx_task other_task = f->task;
	struct nbx_report *other_report = nbx_report_new();
	struct nbx_aux_context other = f->context;
	struct nbx_error err = { 0 };
	void *other_data = NULL;
	g_autoptr(JsonObject) result = NULL;

	load_clean(f, base_conf);
	g_assert_cmpint(g_mkdir_with_parents(other_dir, 0750), ==, 0);
	other_machine.name = "m2";
	other_machine.ip = OTHER_IP;
	other_task.id = 2;
	other.analysis_dir = other_dir;
	other.machine = &other_machine;
	other.task = &other_task;
	other.report = other_report;
	start(f);
	g_assert_true(f->ops->start(f->instance, &other, &other_data, &f->call, &err));
	for (int i = 0; i < 4; i++) {
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 60, TRUE);
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, OTHER_IP, 53, 70, FALSE);
	}
	send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, OTHER_IP, 53, 70, FALSE);
	g_assert_true(f->ops->stop(f->instance, &other, other_data, &f->call, &err));
	stop_ok(f);
	assert_pcap_holds(f, 4, TRUE);
	result = nbx_report_ref_object(other_report);
	g_assert_cmpint(json_object_get_int_member(result, "packets_captured"), ==, 5);
	g_assert_true(g_file_test(other_path, G_FILE_TEST_IS_REGULAR));
	nbx_report_free(other_report);
}

static void
run_ip(const char *command)
{
	g_autofree char *line = g_strdup_printf("ip %s", command);
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_assert_true(g_spawn_command_line_sync(line, NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* A machine's tap device goes away with its machine, before stop, which
 * comes at once: the capture ends there, every frame sent before is in the
 * pcap (with the default blocks, the last one is retired by the kernel's
 * timer after the interface is gone), and stop succeeds. data: the
 * configuration. */
static void
test_interface_goes_away(Fixture *f, gconstpointer data)
{
	const guint sent = 50;
	g_autoptr(JsonObject) result = NULL;
	int fd;

	load_clean(f, data);
	run_ip("link add nbxtap0 type veth peer name nbxtap1");
	run_ip("link set nbxtap0 up");
	run_ip("link set nbxtap1 up");
	f->machine.interface = "nbxtap0";
	start(f);
	fd = f->socket_host;
	f->socket_host = packet_socket("nbxtap0");
	for (guint i = 0; i < sent; i++)
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 60, TRUE);
	close(f->socket_host);
	f->socket_host = fd;
	run_ip("link delete nbxtap0");
	stop_ok(f);
	assert_pcap_holds(f, sent, TRUE);
	result = report(f);
	g_assert_cmpint(json_object_get_int_member(result, "packets_captured"), ==, sent);
	g_assert_cmpstr(json_object_get_string_member(result, "capture_ended"), ==,
			"the interface went down or away before stop");
}

/* Immediate mode (the per-packet ring), promiscuous mode, a small buffer
 * and a short snaplen: packets are cut at snaplen, keep their real length,
 * and none is lost on stop. */
static void
test_other_settings(Fixture *f, gconstpointer data)
{
	g_autofree char *path = dump_path(f);
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *header;
	const u_char *bytes;
	pcap_t *pcap;
	guint count = 0;

	load_clean(f, "sniffer = { immediate_mode = true; promiscuous = true; snaplen = 64;\n"
		      "  buffer_size = 4194304; };\n");
	start(f);
	for (int i = 0; i < 3; i++)
		send_frame(f, i == 1, IPPROTO_UDP, i == 1 ? MACHINE_IP : HOST_IP, 5353,
			   i == 1 ? HOST_IP : MACHINE_IP, 53, 158, TRUE);
	stop_ok(f);
	pcap = pcap_open_offline(path, errbuf);
	g_assert_nonnull(pcap);
	g_assert_cmpint(pcap_snapshot(pcap), ==, 64);
	while (pcap_next_ex(pcap, &header, &bytes) == 1) {
		gboolean found = FALSE;

		g_assert_cmpuint(header->caplen, ==, 64);
		g_assert_cmpuint(header->len, ==, 200);
		for (guint i = 0; i < f->expected->len; i++)
			found |= memcmp(g_array_index(f->expected, Frame, i).bytes, bytes, 64) == 0;
		g_assert_true(found);
		count++;
	}
	pcap_close(pcap);
	g_assert_cmpuint(count, ==, 3);
}

static void
test_missing_interface(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };
	g_autofree char *path = dump_path(f);

	load_clean(f, base_conf);
	f->machine.interface = "nbx-missing0";
	g_assert_false(f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err));
	g_test_message("%s", err.message);
	g_assert_cmpint(err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(err.message, "interface nbx-missing0 does not exist"));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static void
test_interface_down(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };

	load_clean(f, base_conf);
	f->machine.interface = g_getenv("SNIFFER_IF_DOWN");
	g_assert_false(f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err));
	g_test_message("%s", err.message);
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(err.message, "interface nbxdown0 is down"));
}

/* Capabilities are per thread: dropping them from the effective set of
 * this one (start runs here) is enough, and they come back from the
 * permitted set afterwards. */
static void
set_capture_capabilities(gboolean effective)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	guint32 mask = 1u << CAP_NET_RAW | 1u << CAP_NET_ADMIN;

	g_assert_cmpint(syscall(SYS_capget, &header, caps), ==, 0);
	if (effective)
		caps[0].effective |= mask;
	else
		caps[0].effective &= ~mask;
	g_assert_cmpint(syscall(SYS_capset, &header, caps), ==, 0);
}

static void
test_no_capture_permission(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };
	gboolean started;

	load_clean(f, base_conf);
	set_capture_capabilities(FALSE);
	started = f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err);
	set_capture_capabilities(TRUE);
	g_assert_false(started);
	g_test_message("%s", err.message);
	g_assert_cmpint(err.code, ==, NBX_ERROR_PERMISSION);
	g_assert_nonnull(strstr(err.message, "capturing on interface nbxm0 needs CAP_NET_RAW and "
					     "CAP_NET_ADMIN"));
}

static void
test_no_interface_at_all(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };

	load_clean(f, base_conf);
	f->machine.interface = NULL;
	g_assert_false(f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(err.message, "machine m1 has no interface"));
}

static void
test_bad_bpf_in_config(Fixture *f, gconstpointer data)
{
	g_autofree char *expected = g_strdup_printf("%s/auxiliary.conf:2: sniffer.bpf: \"(((\" "
						    "is not a valid BPF expression: ", f->dir);

	load(f, "# a comment line first, so the line number means something\n"
		"sniffer = { bpf = \"(((\"; };\n");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_test_message("%s", nbx_diagnostics_get(f->diagnostics, 0));
	g_assert_true(g_str_has_prefix(nbx_diagnostics_get(f->diagnostics, 0), expected));
}

static void
test_resultserver_port_without_ip(Fixture *f, gconstpointer data)
{
	g_autofree char *expected = g_strdup_printf("%s/auxiliary.conf:1: sniffer.resultserver_port: "
						    "is set but resultserver_ip is not", f->dir);

	load(f, "sniffer = { resultserver_port = 2042; };\n");
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_assert_true(g_str_has_prefix(nbx_diagnostics_get(f->diagnostics, 0), expected));
}

static void
test_bad_bpf_task_option(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };
	g_autofree char *path = dump_path(f);

	load_clean(f, base_conf);
	g_assert_cmpint(config_read_string(&f->task_options, "bpf = \"port\";"), ==, CONFIG_TRUE);
	f->task.options = (const struct nbx_config_node *)config_root_setting(&f->task_options);
	g_assert_false(f->ops->start(f->instance, &f->context, &f->analysis_data, &f->call, &err));
	g_test_message("%s", err.message);
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	g_assert_true(g_str_has_prefix(err.message, "task 1: option bpf \"port\" is not a valid "
						    "BPF expression: "));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static void
test_max_capture_size(Fixture *f, gconstpointer data)
{
	/* Room for the file header, three 100-byte frames and 70 bytes: not a
	 * fourth 100-byte frame, but a 42-byte one would fit. */
	gsize frame_length = ETH_HLEN + 20 + 8 + 58;
	g_autofree char *conf = g_strdup_printf("sniffer = { max_capture_size = %" G_GSIZE_FORMAT
						"; };\n", 24 + 3 * (16 + frame_length) + 70);
	g_autoptr(JsonObject) result = NULL;

	load_clean(f, conf);
	start(f);
	for (int i = 0; i < 5; i++)
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 58, i < 3);
	/* Small enough for the room left, but after the limit was reached. */
	send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 0, FALSE);
	settle(f);
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "sniffer: task 1: max_capture_size (* bytes) reached; 3 packets not written");
	stop_ok(f);
	g_test_assert_expected_messages();
	assert_pcap_holds(f, 3, TRUE);
	result = report(f);
	g_assert_cmpint(json_object_get_int_member(result, "packets_captured"), ==, 3);
	g_assert_cmpint(json_object_get_int_member(result, "packets_over_limit"), ==, 3);
	g_assert_cmpint(json_object_get_int_member(result, "bytes_written"), ==,
			24 + 3 * (16 + frame_length));
}

/* The test runs in a mount namespace of its own (ip netns exec makes one),
 * so the tmpfs is invisible outside; it is unmounted all the same. */
static void
test_disk_full(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };
	g_autofree char *path = NULL;
	g_autoptr(JsonObject) result = NULL;
	/* More than the 64 KiB disk holds, fewer than immediate mode's ring holds (about
	 * 120): the kernel drops nothing, however late the capture thread reads. */
	const guint sent = 100;
	guint written;

	/* data: a config; the default blocks hold many packets each. */
	load_clean(f, data != NULL ? data : base_conf);
	if (mount("nbx-sniffer-test", f->analysis_dir, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=64k,mode=0750") != 0)
		g_error("cannot mount a tmpfs on %s: %s", f->analysis_dir, g_strerror(errno));
	path = dump_path(f);
	start(f);
	for (guint i = 0; i < sent; i++)
		send_frame(f, FALSE, IPPROTO_UDP, HOST_IP, 5353, MACHINE_IP, 53, 1000, TRUE);
	settle(f);
	g_assert_false(stop(f, &err));
	g_test_message("%s", err.message);
	g_assert_cmpint(err.code, ==, NBX_ERROR_IO);
	g_assert_nonnull(strstr(err.message, "No space left on device"));
	g_assert_nonnull(strstr(err.message, path));
	result = report(f);
	written = (guint)json_object_get_int_member(result, "packets_captured");
	g_assert_cmpint(json_object_get_int_member(result, "dropped_by_kernel"), ==, 0);
	g_assert_cmpuint(written, >, 0);
	g_assert_cmpuint(written, <, sent);
	assert_pcap_holds(f, written, TRUE);
	g_assert_cmpint(umount(f->analysis_dir), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* A plugin host, like nestboxd (nestboxd.c): a peer gone is an EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
	if (capture_side() == NULL || g_getenv("SNIFFER_IF_PEER") == NULL) {
		g_printerr("run me through sniffer-netns.sh: it makes the namespace and the veth "
			   "pair\n");
		return 1;
	}
#define ADD(path, fn) g_test_add(path, Fixture, NULL, set_up, fn, tear_down)
	ADD("/sniffer/capture/exact-packets", test_capture_exact);
	ADD("/sniffer/capture/debug-keeps-nestbox-traffic", test_debug_keeps_nestbox_traffic);
	ADD("/sniffer/capture/user-bpf", test_user_bpf);
	ADD("/sniffer/capture/max-capture-size", test_max_capture_size);
	ADD("/sniffer/capture/disk-full", test_disk_full);
	g_test_add("/sniffer/capture/disk-full-immediate", Fixture, immediate_conf, set_up,
		   test_disk_full, tear_down);
	g_test_add("/sniffer/capture/burst-then-stop", Fixture, &burst_blocks, set_up,
		   test_burst_then_stop, tear_down);
	g_test_add("/sniffer/capture/burst-then-stop-immediate", Fixture, &burst_immediate, set_up,
		   test_burst_then_stop, tear_down);
	ADD("/sniffer/capture/concurrent-analyses", test_concurrent_analyses);
	g_test_add("/sniffer/capture/interface-goes-away", Fixture, base_conf, set_up,
		   test_interface_goes_away, tear_down);
	g_test_add("/sniffer/capture/interface-goes-away-immediate", Fixture, immediate_conf,
		   set_up, test_interface_goes_away, tear_down);
	ADD("/sniffer/capture/other-settings", test_other_settings);
	ADD("/sniffer/errors/missing-interface", test_missing_interface);
	ADD("/sniffer/errors/no-interface-at-all", test_no_interface_at_all);
	ADD("/sniffer/errors/interface-down", test_interface_down);
	ADD("/sniffer/errors/no-capture-permission", test_no_capture_permission);
	ADD("/sniffer/errors/bad-bpf-in-config", test_bad_bpf_in_config);
	ADD("/sniffer/errors/bad-bpf-task-option", test_bad_bpf_task_option);
	ADD("/sniffer/errors/resultserver-port-without-ip", test_resultserver_port_without_ip);
	return g_test_run();
}
