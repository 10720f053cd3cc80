/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sniffer plugin against `tcpdump -w`, in the same run, on the same
 * veth pair (made by sniffer-netns.sh in a namespace of its own): for each
 * packet rate a generator process writes N frames from the fake machine,
 * once while each capturer runs: the sniffer with its defaults, the sniffer
 * with immediate_mode = false, and tcpdump. Printed per capturer: packets
 * captured, dropped (sent - written to the file) and CPU time per captured
 * packet (the sniffer's from this process's rusage, the generator being a
 * separate process; tcpdump's from its own rusage). Nothing is asserted:
 * the numbers depend on the machine.
 * Usage (inside the namespace): sniffer-bench [SECONDS_PER_RATE]
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "report.h"
#include "test_support.h"

#define MACHINE_IP "192.0.2.10"
#define HOST_IP "192.0.2.1"
#define AGENT_PORT 8000
#define FRAME_LENGTH 128
#define FILTER "host " MACHINE_IP " and not port 8000"

typedef struct {
	guint64 sent;
	double seconds;
} Generated;

typedef struct {
	guint64 captured;  /* packets in the pcap file */
	guint64 kernel_drops;
	double cpu_seconds;
} Captured;

static const char *capture_side;
static const char *peer_side;

static double
now_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
rusage_seconds(const struct rusage *usage)
{
	return (double)usage->ru_utime.tv_sec + (double)usage->ru_utime.tv_usec / 1e6 +
	       (double)usage->ru_stime.tv_sec + (double)usage->ru_stime.tv_usec / 1e6;
}

/* A UDP frame from the fake machine to the host, as the machine side sends it. */
static void
build_frame(guint8 *frame)
{
	static const guint8 mac_host[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const guint8 mac_machine[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
	guint8 *ip = frame + ETH_HLEN;
	guint8 *udp = ip + 20;
	gsize ip_length = FRAME_LENGTH - ETH_HLEN;

	memset(frame, 0xab, FRAME_LENGTH);
	memcpy(frame, mac_host, ETH_ALEN);
	memcpy(frame + ETH_ALEN, mac_machine, ETH_ALEN);
	frame[12] = 0x08;
	frame[13] = 0x00;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[2] = (guint8)(ip_length >> 8);
	ip[3] = (guint8)ip_length;
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, MACHINE_IP, ip + 12);
	inet_pton(AF_INET, HOST_IP, ip + 16);
	udp[0] = 0x30, udp[1] = 0x39; /* 12345 */
	udp[2] = 0x00, udp[3] = 0x35; /* 53 */
	udp[4] = (guint8)((ip_length - 20) >> 8);
	udp[5] = (guint8)(ip_length - 20);
}

/* The generator's own process (`sniffer-bench --generate COUNT RATE`): it
 * waits for a byte on stdin, sends, and prints "SENT SECONDS". Spawned
 * without fork's copy-on-write, before a capture starts, so none of its
 * cost lands on either capturer. */
static int
generator_main(guint64 count, guint64 rate)
{
	struct sockaddr_ll address = { .sll_family = AF_PACKET };
	guint8 frame[FRAME_LENGTH];
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	double interval = rate > 0 ? 1.0 / (double)rate : 0;
	double start;
	char go;

	address.sll_ifindex = (int)if_nametoindex(peer_side);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0)
		return 1;
	build_frame(frame);
	if (read(STDIN_FILENO, &go, 1) != 1)
		return 1;
	start = now_seconds();
	for (guint64 i = 0; i < count; i++) {
		while (rate > 0 && now_seconds() < start + (double)i * interval)
			;
		while (send(fd, frame, sizeof frame, 0) < 0)
			; /* ENOBUFS: the veth's queue is full; offer it again */
	}
	printf("%" G_GUINT64_FORMAT " %.6f\n", count, now_seconds() - start);
	return 0;
}

typedef struct {
	GPid pid;
	int in;
	int out;
} Generator;

static Generator
generator_spawn(guint64 count, guint64 rate)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *count_text = g_strdup_printf("%" G_GUINT64_FORMAT, count);
	g_autofree char *rate_text = g_strdup_printf("%" G_GUINT64_FORMAT, rate);
	const char *argv[] = { self, "--generate", count_text, rate_text, NULL };
	g_autoptr(GError) error = NULL;
	Generator generator;

	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
				      NULL, &generator.pid, &generator.in, &generator.out, NULL,
				      &error))
		g_error("cannot start the generator: %s", error->message);
	return generator;
}

/* Starts the sending and waits until every frame is out. */
static Generated
generator_run(Generator *generator)
{
	Generated generated = { 0 };
	char buffer[128] = "";
	ssize_t n;

	g_assert_cmpint(write(generator->in, "g", 1), ==, 1);
	close(generator->in);
	n = read(generator->out, buffer, sizeof buffer - 1);
	close(generator->out);
	g_assert_cmpint(n, >, 0);
	buffer[n] = '\0';
	g_assert_cmpint(sscanf(buffer, "%" G_GUINT64_FORMAT " %lf", &generated.sent,
			       &generated.seconds), ==, 2);
	g_assert_cmpint(waitpid(generator->pid, NULL, 0), ==, generator->pid);
	return generated;
}

static guint64
count_packets(const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pcap = pcap_open_offline(path, errbuf);
	struct pcap_pkthdr *header;
	const u_char *bytes;
	guint64 count = 0;

	if (pcap == NULL)
		g_error("%s: %s", path, errbuf);
	while (pcap_next_ex(pcap, &header, &bytes) == 1)
		count++;
	pcap_close(pcap);
	return count;
}

/* tcpdump writes its blocks when they fill or after its 1 s block timeout:
 * wait longer than that before stopping, so both capturers lose nothing to
 * the way they are stopped. */
#define SETTLE_US (1500 * 1000)

typedef enum {
	SNIFFER_IMMEDIATE, /* the defaults */
	SNIFFER_BLOCKS,    /* immediate_mode = false */
	TCPDUMP,
	N_CAPTURERS,
} Capturer;

static const char *const capturer_names[N_CAPTURERS] = {
	"sniffer (defaults)", "sniffer immediate=false", "tcpdump -w",
};

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	NbxPluginInstance *sniffer;
} Loaded;

static void
load_sniffer(Loaded *loaded, const char *auxiliary_conf)
{
	loaded->dir = test_config_dir_new(g_getenv("NESTBOX_TEST_SNIFFER_PLUGIN_DIR"), "");
	test_write(loaded->dir, "auxiliary.conf", auxiliary_conf);
	loaded->diagnostics = nbx_diagnostics_new();
	loaded->setup = nbx_setup_load(loaded->dir, NULL, loaded->diagnostics);
	if (loaded->setup == NULL || nbx_diagnostics_count(loaded->diagnostics) != 0 ||
	    loaded->setup->auxiliaries->len != 1) {
		nbx_diagnostics_print(loaded->diagnostics, stderr);
		g_error("cannot load the sniffer");
	}
	loaded->sniffer = g_ptr_array_index(loaded->setup->auxiliaries, 0);
}

static void
unload_sniffer(Loaded *loaded)
{
	nbx_setup_free(loaded->setup);
	nbx_diagnostics_free(loaded->diagnostics);
	test_dir_remove(loaded->dir);
	g_free(loaded->dir);
}

/* @count 0: an idle run, for the fixed cost of starting and stopping. */
static Captured
run_sniffer(Loaded *loaded, guint64 count, guint64 rate, Generated *generated)
{
	g_autofree char *analysis_dir = g_build_filename(loaded->dir, "analysis-XXXXXX", NULL);
	struct nbx_machine machine = {
		.struct_size = sizeof machine, .name = "bench", .ip = MACHINE_IP,
		.interface = capture_side, .agent_port = AGENT_PORT,
	};
	struct nbx_task task = { .struct_size = sizeof task, .id = 1 };
	struct nbx_report *report = nbx_report_new();
	struct nbx_aux_context context = {
		.struct_size = sizeof context, .task = &task, .machine = &machine, .report = report,
	};
	struct nbx_call call = { .struct_size = sizeof call };
	const struct nbx_auxiliary_ops *ops = &loaded->sniffer->plugin->auxiliary;
	struct nbx_error err = { 0 };
	struct rusage before, after;
	g_autoptr(JsonObject) result = NULL;
	g_autofree char *path = NULL;
	Generator generator = { 0 };
	void *data = NULL;
	Captured captured = { 0 };

	g_assert_nonnull(g_mkdtemp(analysis_dir));
	context.analysis_dir = analysis_dir;
	if (count > 0)
		generator = generator_spawn(count, rate);
	getrusage(RUSAGE_SELF, &before);
	if (!ops->start(loaded->sniffer->instance, &context, &data, &call, &err))
		g_error("sniffer start: %s", err.message);
	if (count > 0)
		*generated = generator_run(&generator);
	g_usleep(SETTLE_US);
	if (!ops->stop(loaded->sniffer->instance, &context, data, &call, &err))
		g_error("sniffer stop: %s", err.message);
	getrusage(RUSAGE_SELF, &after);
	result = nbx_report_ref_object(report);
	path = g_build_filename(analysis_dir, "dump.pcap", NULL);
	captured.captured = count_packets(path);
	g_assert_cmpuint(captured.captured, ==,
			 (guint64)json_object_get_int_member(result, "packets_captured"));
	captured.kernel_drops = (guint64)json_object_get_int_member(result, "dropped_by_kernel");
	captured.cpu_seconds = rusage_seconds(&after) - rusage_seconds(&before);
	nbx_report_free(report);
	test_dir_remove(analysis_dir);
	return captured;
}

/* Reads tcpdump's stderr until it says it listens, so no frame is sent early. */
static void
wait_listening(int fd, GString *seen)
{
	char buffer[512];
	ssize_t n;

	while (strstr(seen->str, "listening on") == NULL) {
		n = read(fd, buffer, sizeof buffer);
		if (n <= 0)
			g_error("tcpdump quit before listening: %s", seen->str);
		g_string_append_len(seen, buffer, n);
	}
}

static guint64
tcpdump_counter(const char *output, const char *label)
{
	const char *at = strstr(output, label);

	if (at == NULL)
		return 0;
	/* "N packets dropped by kernel": the number precedes the label. */
	while (at > output && at[-1] == ' ')
		at--;
	while (at > output && g_ascii_isdigit(at[-1]))
		at--;
	return g_ascii_strtoull(at, NULL, 10);
}

static Captured
run_tcpdump(const char *dir, guint64 count, guint64 rate, Generated *generated)
{
	g_autofree char *path = g_build_filename(dir, "tcpdump.pcap", NULL);
	/* The sniffer's settings: full snaplen, same 32 MiB ring, no promiscuous mode. */
	const char *argv[] = { "tcpdump", "-Z", "root", "-n", "-p", "-i", capture_side,
			       "-s", "262144", "-B", "32768", "-w", path, FILTER, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) output = g_string_new(NULL);
	Generator generator = { 0 };
	struct rusage usage;
	Captured captured = { 0 };
	char buffer[512];
	GPid pid;
	int err_fd;
	int status;
	ssize_t n;

	if (count > 0)
		generator = generator_spawn(count, rate);
	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				      &pid, NULL, NULL, &err_fd, &error))
		g_error("cannot start tcpdump: %s", error->message);
	wait_listening(err_fd, output);
	if (count > 0)
		*generated = generator_run(&generator);
	g_usleep(SETTLE_US);
	kill(pid, SIGINT); /* our own child, by pid */
	while ((n = read(err_fd, buffer, sizeof buffer)) > 0)
		g_string_append_len(output, buffer, n);
	close(err_fd);
	g_assert_cmpint(wait4(pid, &status, 0, &usage), ==, pid);
	captured.captured = count_packets(path);
	captured.kernel_drops = tcpdump_counter(output->str, "packets dropped by kernel");
	captured.cpu_seconds = rusage_seconds(&usage);
	unlink(path);
	return captured;
}

static Captured
run(Capturer capturer, Loaded *sniffers, guint64 count, guint64 rate, Generated *generated)
{
	if (capturer == TCPDUMP)
		return run_tcpdump(sniffers[0].dir, count, rate, generated);
	return run_sniffer(&sniffers[capturer], count, rate, generated);
}

/* CPU per captured packet beyond the fixed cost of an idle run; at low
 * rates that cost's run-to-run noise can exceed the packets' own cost, and
 * the result is then clamped to 0. */
static double
per_packet_us(const Captured *captured, double fixed_seconds)
{
	if (captured->captured == 0 || captured->cpu_seconds <= fixed_seconds)
		return 0;
	return (captured->cpu_seconds - fixed_seconds) * 1e6 / (double)captured->captured;
}

/* Drops: "inf" when only the sniffer lost packets, "-" when neither did. */
static void
format_drop_ratio(char *out, gsize size, double sniffer, double tcpdump)
{
	if (tcpdump > 0)
		g_snprintf(out, size, "%.2f", sniffer / tcpdump);
	else
		g_strlcpy(out, sniffer > 0 ? "inf" : "-", size);
}

/* CPU: "n/a" when tcpdump's cost was lost in the noise. */
static void
format_cpu_ratio(char *out, gsize size, double sniffer, double tcpdump)
{
	if (tcpdump > 0)
		g_snprintf(out, size, "%.2f", sniffer / tcpdump);
	else
		g_strlcpy(out, "n/a", size);
}

int
main(int argc, char **argv)
{
	static const guint64 rates[] = { 1000, 10000, 50000, 100000, 200000, 0 };
	double seconds = 1.0;
	Loaded sniffers[2] = { 0 };
	double fixed[N_CAPTURERS];

	capture_side = g_getenv("SNIFFER_IF_MACHINE_SIDE");
	peer_side = g_getenv("SNIFFER_IF_PEER");
	if (capture_side == NULL || peer_side == NULL) {
		g_printerr("run me through sniffer-netns.sh\n");
		return 1;
	}
	if (argc == 4 && strcmp(argv[1], "--generate") == 0)
		return generator_main(g_ascii_strtoull(argv[2], NULL, 10),
				      g_ascii_strtoull(argv[3], NULL, 10));
	if (argc > 1)
		seconds = g_ascii_strtod(argv[1], NULL);
	if (g_find_program_in_path("tcpdump") == NULL) {
		g_printerr("tcpdump is not installed (tools/install-deps.sh installs it)\n");
		return 1;
	}
	load_sniffer(&sniffers[SNIFFER_IMMEDIATE], "sniffer = { };\n");
	load_sniffer(&sniffers[SNIFFER_BLOCKS], "sniffer = { immediate_mode = false; };\n");
	nbx_host_services_set_main_thread();

	printf("%d-byte UDP frames from the fake machine, %.1f s per rate, filter \"%s\",\n"
	       "32 MiB kernel ring and snaplen 262144 for all; 'max' = as fast as the generator "
	       "goes.\ncpu = CPU time per captured packet beyond the fixed cost of an idle run "
	       "(start + %.1f s + stop):\n",
	       FRAME_LENGTH, seconds, FILTER, SETTLE_US / 1e6);
	for (int c = 0; c < N_CAPTURERS; c++) {
		/* The least of three idle runs: the fixed cost varies from run to run. */
		fixed[c] = G_MAXDOUBLE;
		for (int attempt = 0; attempt < 3; attempt++)
			fixed[c] = MIN(fixed[c], run(c, sniffers, 0, 0, NULL).cpu_seconds);
		printf("  fixed cost of %-24s %7.1f ms CPU\n", capturer_names[c],
		       fixed[c] * 1e3);
	}
	printf("\n%-7s %9s %8s", "rate/s", "sent", "pps");
	for (int c = 0; c < N_CAPTURERS; c++)
		printf(" | %-26.26s", capturer_names[c]);
	printf(" | sniffer/tcpdump: dropped, cpu\n%-7s %9s %8s", "", "", "");
	for (int c = 0; c < N_CAPTURERS; c++)
		printf(" | %8s %7s %9s", "captured", "dropped", "cpu us");
	printf(" | %-12s %-12s\n", "defaults", "immediate=false");
	for (gsize i = 0; i < G_N_ELEMENTS(rates); i++) {
		guint64 count = (guint64)((double)(rates[i] > 0 ? rates[i] : 300000) * seconds);
		Generated offered[N_CAPTURERS] = { 0 };
		Captured captured[N_CAPTURERS];
		guint64 lost[N_CAPTURERS];
		char rate[16];
		char drops[2][16];
		char cpu[2][16];

		for (int c = 0; c < N_CAPTURERS; c++) {
			captured[c] = run(c, sniffers, count, rates[i], &offered[c]);
			lost[c] = offered[c].sent - captured[c].captured;
		}
		if (rates[i] > 0)
			g_snprintf(rate, sizeof rate, "%" G_GUINT64_FORMAT, rates[i]);
		else
			g_strlcpy(rate, "max", sizeof rate);
		printf("%-7s %9" G_GUINT64_FORMAT " %8.0f", rate, offered[0].sent,
		       (double)offered[0].sent / offered[0].seconds);
		for (int c = 0; c < N_CAPTURERS; c++)
			printf(" | %8" G_GUINT64_FORMAT " %7" G_GUINT64_FORMAT " %9.2f",
			       captured[c].captured, lost[c], per_packet_us(&captured[c], fixed[c]));
		for (int c = 0; c < 2; c++) {
			format_drop_ratio(drops[c], sizeof drops[c], (double)lost[c],
					  (double)lost[TCPDUMP]);
			format_cpu_ratio(cpu[c], sizeof cpu[c], per_packet_us(&captured[c], fixed[c]),
					 per_packet_us(&captured[TCPDUMP], fixed[TCPDUMP]));
		}
		printf(" | %5s %5s    %5s %5s\n", drops[0], cpu[0], drops[1], cpu[1]);
		fflush(stdout);
	}
	unload_sniffer(&sniffers[SNIFFER_IMMEDIATE]);
	unload_sniffer(&sniffers[SNIFFER_BLOCKS]);
	return 0;
}
