/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sniffer plugin against `tcpdump -w`, in the same run, on the same
 * veth pair (made by sniffer-netns.sh in a namespace of its own): for each
 * packet rate a generator process writes N frames from the fake machine,
 * once while each capturer runs: the sniffer with its defaults, tcpdump, and
 * the sniffer with immediate_mode = true (the option's cost). Printed per
 * rate and capturer, over three interleaved runs: packets sent, the rate
 * achieved and the generator's largest delay behind its schedule, captured
 * (in the file), dropped (sent - captured) and the kernel's own drop count,
 * summed; the median CPU time per captured packet, its ratio to tcpdump's,
 * and the range of the runs' ratios. CPU time is read from the kernel's per-thread and
 * per-process CPU clocks (nanoseconds): the sniffer's capture thread, and
 * the tcpdump process, from the moment each listens until the traffic has
 * settled, so neither's start-up or shutdown is counted, nor the generator
 * (a process of its own). Nothing is asserted: the numbers depend on the
 * machine.
 * Usage (inside the namespace): sniffer-bench [SECONDS_PER_RATE]
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "report.h"
#include "test_support.h"
#include "plugin_ops.h"

#define MACHINE_IP "192.0.2.10"
#define HOST_IP "192.0.2.1"
#define AGENT_PORT 8000
#define FRAME_LENGTH 128
#define FILTER "host " MACHINE_IP " and not port 8000"

typedef struct {
	guint64 sent;
	double seconds;
	double late; /* the furthest behind its schedule a frame went out, seconds */
} Generated;

typedef struct {
	guint64 captured;  /* packets in the pcap file */
	guint64 kernel_drops;
	double cpu_seconds; /* of the capture, while it listened */
	double pps;         /* the generator's rate, as it went */
	double late_ms;     /* the generator's largest delay behind its schedule */
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
cpu_seconds(clockid_t clock)
{
	struct timespec t;

	g_assert_cmpint(clock_gettime(clock, &t), ==, 0);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The CPU clock of the sniffer's capture thread, found by the name it gives
 * itself; the clock id is the kernel's encoding for a thread's clock (what
 * pthread_getcpuclockid computes: the plugin does not hand out its thread). */
static int
find_sniffer_thread(clockid_t *clock)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/task", 0, NULL);
	const char *tid;
	int found = 0;

	g_assert_nonnull(dir);
	while ((tid = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm", tid);
		g_autofree char *comm = NULL;

		if (g_file_get_contents(path, &comm, NULL, NULL) &&
		    strcmp(g_strstrip(comm), "nbx-sniffer") == 0) {
			*clock = (clockid_t)((~(unsigned)atoi(tid)) << 3) | 6; /* per thread, sched */
			found++;
		}
	}
	return found;
}

/* The thread names itself once running: wait for it, a second at most. */
static clockid_t
sniffer_thread_clock(void)
{
	clockid_t clock = 0;
	int found = 0;

	for (int attempt = 0; attempt < 1000 && found == 0; attempt++) {
		found = find_sniffer_thread(&clock);
		if (found == 0)
			g_usleep(1000);
	}
	if (found != 1)
		g_error("%d capture threads named nbx-sniffer, expected 1", found);
	return clock;
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

static void
sleep_until(double when)
{
	struct timespec t = { .tv_sec = (time_t)when };

	t.tv_nsec = (long)((when - (double)t.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

/* Sleeps until frame @i is due, and says how late it goes out. Sleeping,
 * not spinning: a spinning generator held one of two cores for the whole
 * run, beside the capturer it measures. A frame whose time has passed goes
 * at once, so a generator held up catches up in a burst; its largest delay
 * is printed, to show how steady the rate was. */
static double
wait_due(double start, guint64 i, double interval)
{
	double due = start + (double)i * interval;
	double now = now_seconds();

	if (now < due) {
		sleep_until(due);
		now = now_seconds();
	}
	return now - due;
}

/* The generator's own process (`sniffer-bench --generate COUNT RATE`): it
 * waits for a byte on stdin, sends, and prints "SENT SECONDS LATE". Spawned
 * without fork's copy-on-write, before a capture starts, so none of its
 * cost lands on either capturer. */
static int
generator_main(guint64 count, guint64 rate)
{
	struct sockaddr_ll address = { .sll_family = AF_PACKET };
	guint8 frame[FRAME_LENGTH];
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	double interval = rate > 0 ? 1.0 / (double)rate : 0;
	double start, late = 0;
	char go;

	address.sll_ifindex = (int)if_nametoindex(peer_side);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0)
		return 1;
	build_frame(frame);
	/* Woken within microseconds of the due time, not the default 50. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	if (read(STDIN_FILENO, &go, 1) != 1)
		return 1;
	start = now_seconds();
	for (guint64 i = 0; i < count; i++) {
		if (rate > 0)
			late = MAX(late, wait_due(start, i, interval));
		while (send(fd, frame, sizeof frame, 0) < 0)
			; /* ENOBUFS: the veth's queue is full; offer it again */
	}
	printf("%" G_GUINT64_FORMAT " %.6f %.6f\n", count, now_seconds() - start, late);
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
	g_assert_cmpint(sscanf(buffer, "%" G_GUINT64_FORMAT " %lf %lf", &generated.sent,
			       &generated.seconds, &generated.late), ==, 3);
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

/* Both hand packets over in kernel blocks, retired when full or 1 to 2 s
 * after their last packet (a 1 s block timeout for both): the CPU clocks
 * are read after that, once everything is read, and before stopping. */
#define SETTLE_US (2200 * 1000)
/* At least this many frames per rate: at low rates the cost of each block's
 * wakeup is the cost per packet, and a few blocks are a noisy sample. */
#define MIN_FRAMES 5000

typedef enum {
	SNIFFER_DEFAULTS,
	SNIFFER_IMMEDIATE, /* immediate_mode = true */
	TCPDUMP,
	N_CAPTURERS,
} Capturer;

static const char *const capturer_names[N_CAPTURERS] = {
	"sniffer (defaults)", "sniffer immediate_mode", "tcpdump -w",
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
	const struct nbx_auxiliary_ops *ops = nbx_plugin_auxiliary_ops(loaded->sniffer->plugin);
	struct nbx_error err = { 0 };
	double before, after;
	clockid_t clock;
	g_autoptr(JsonObject) result = NULL;
	g_autofree char *path = NULL;
	Generator generator = { 0 };
	void *data = NULL;
	Captured captured = { 0 };

	g_assert_nonnull(g_mkdtemp(analysis_dir));
	context.analysis_dir = analysis_dir;
	generator = generator_spawn(count, rate);
	if (!ops->start(loaded->sniffer->instance, &context, &data, &call, &err))
		g_error("sniffer start: %s", err.message);
	clock = sniffer_thread_clock();
	before = cpu_seconds(clock);
	*generated = generator_run(&generator);
	captured.pps = (double)generated->sent / generated->seconds;
	captured.late_ms = generated->late * 1e3;
	g_usleep(SETTLE_US);
	after = cpu_seconds(clock);
	if (!ops->stop(loaded->sniffer->instance, &context, data, &call, &err))
		g_error("sniffer stop: %s", err.message);
	result = nbx_report_ref_object(report);
	path = g_build_filename(analysis_dir, "dump.pcap", NULL);
	captured.captured = count_packets(path);
	g_assert_cmpuint(captured.captured, ==,
			 (guint64)json_object_get_int_member(result, "packets_captured"));
	captured.kernel_drops = (guint64)json_object_get_int_member(result, "dropped_by_kernel");
	captured.cpu_seconds = after - before;
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
	Captured captured = { 0 };
	clockid_t clock;
	double before;
	char buffer[512];
	GPid pid;
	int err_fd;
	int status;
	ssize_t n;

	generator = generator_spawn(count, rate);
	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				      &pid, NULL, NULL, &err_fd, &error))
		g_error("cannot start tcpdump: %s", error->message);
	wait_listening(err_fd, output);
	g_assert_cmpint(clock_getcpuclockid(pid, &clock), ==, 0);
	before = cpu_seconds(clock);
	*generated = generator_run(&generator);
	captured.pps = (double)generated->sent / generated->seconds;
	captured.late_ms = generated->late * 1e3;
	g_usleep(SETTLE_US);
	captured.cpu_seconds = cpu_seconds(clock) - before;
	kill(pid, SIGINT); /* our own child, by pid */
	while ((n = read(err_fd, buffer, sizeof buffer)) > 0)
		g_string_append_len(output, buffer, n);
	close(err_fd);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	captured.captured = count_packets(path);
	captured.kernel_drops = tcpdump_counter(output->str, "packets dropped by kernel");
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

static double
per_packet_us(const Captured *captured)
{
	return captured->captured > 0 ? captured->cpu_seconds * 1e6 / (double)captured->captured : 0;
}

/* CPU against tcpdump's: "n/a" when tcpdump's cost was lost in the noise. */
static void
format_cpu_ratio(char *out, gsize size, double capturer, double tcpdump)
{
	if (tcpdump > 0)
		g_snprintf(out, size, "%.2f", capturer / tcpdump);
	else
		g_strlcpy(out, "n/a", size);
}

/* Runs per rate and capturer: counts are summed, CPU is the median. */
#define REPEATS 3

typedef struct {
	guint64 sent;
	guint64 captured;
	guint64 kernel_drops;
	double pps;            /* summed over the runs */
	double late_ms;        /* the largest over the runs */
	double us[REPEATS];    /* CPU per captured packet of each run */
} Measured;

static void
measure(Measured *measured, int repeat, Captured captured, guint64 sent)
{
	measured->sent += sent;
	measured->captured += captured.captured;
	measured->kernel_drops += captured.kernel_drops;
	measured->pps += captured.pps;
	measured->late_ms = MAX(measured->late_ms, captured.late_ms);
	measured->us[repeat] = per_packet_us(&captured);
}

static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *values, int n)
{
	double sorted[REPEATS];

	memcpy(sorted, values, sizeof(double) * (gsize)n);
	qsort(sorted, (gsize)n, sizeof(double), compare_doubles);
	return sorted[n / 2];
}

/* The 1-minute load average now: the machine may be shared. */
static double
load_average(void)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL))
		return -1;
	return g_ascii_strtod(text, NULL);
}

/* The lowest and highest of the runs' ratios to the same run's tcpdump. */
static void
format_ratio_range(char *out, gsize size, const Measured *capturer, const Measured *tcpdump)
{
	double low = G_MAXDOUBLE, high = 0;

	for (int r = 0; r < REPEATS; r++) {
		if (tcpdump->us[r] <= 0) {
			g_strlcpy(out, "n/a", size);
			return;
		}
		low = MIN(low, capturer->us[r] / tcpdump->us[r]);
		high = MAX(high, capturer->us[r] / tcpdump->us[r]);
	}
	g_snprintf(out, size, "%.2f-%.2f", low, high);
}

/* A rate's rows, tcpdump first (the reference); the load average after its
 * runs, and whether the generator held the rate: one that fell short (a
 * busy machine, or the generator's own limit) measured a lower rate, and
 * the row says so. */
static void
print_rate(guint64 target, const Measured *measured)
{
	static const Capturer order[N_CAPTURERS] = { TCPDUMP, SNIFFER_DEFAULTS, SNIFFER_IMMEDIATE };
	g_autoptr(GString) not_held = g_string_new(NULL);
	char rate[16] = "max";

	if (target > 0)
		g_snprintf(rate, sizeof rate, "%" G_GUINT64_FORMAT, target);

	for (int k = 0; k < N_CAPTURERS; k++) {
		Capturer c = order[k];
		double us = median(measured[c].us, REPEATS);
		char ratio[16], range[32];

		format_cpu_ratio(ratio, sizeof ratio, us, median(measured[TCPDUMP].us, REPEATS));
		format_ratio_range(range, sizeof range, &measured[c], &measured[TCPDUMP]);
		printf("%-7s %-23s %8" G_GUINT64_FORMAT " %8.0f %7.1f %8" G_GUINT64_FORMAT
		       " %8" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT " %11.2f %9s %11s\n",
		       k == 0 ? rate : "", capturer_names[c], measured[c].sent,
		       measured[c].pps / REPEATS, measured[c].late_ms, measured[c].captured,
		       measured[c].sent - measured[c].captured, measured[c].kernel_drops, us, ratio,
		       range);
		if (target > 0 && measured[c].pps / REPEATS < 0.95 * (double)target)
			g_string_append_printf(not_held, "%s%s", not_held->len > 0 ? ", " : "",
					       capturer_names[c]);
	}
	if (not_held->len > 0)
		printf("%-7s NOT HELD: the generator fell short of %" G_GUINT64_FORMAT
		       " packets/s beside %s (see pps)\n", "", target, not_held->str);
	printf("%-7s load average (1 min) %.2f\n", "", load_average());
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const guint64 rates[] = { 1000, 10000, 50000, 100000, 200000, 0 };
	double seconds = 1.0;
	Loaded sniffers[2] = { 0 };

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
	load_sniffer(&sniffers[SNIFFER_DEFAULTS], "sniffer = { };\n");
	load_sniffer(&sniffers[SNIFFER_IMMEDIATE], "sniffer = { immediate_mode = true; };\n");
	nbx_host_services_set_main_thread();

	printf("%d-byte UDP frames from the fake machine, %.1f s (at least %d frames) per rate, "
	       "%d runs each, filter \"%s\",\n"
	       "32 MiB kernel ring and snaplen 262144 for all; 'max' = as fast as the generator "
	       "goes.\npps = the generator's rate, as sent; late = the furthest behind its "
	       "schedule a frame went out (largest over the runs).\nsent, captured (in the "
	       "file), dropped (sent - captured) and kernel (the capturer's own count of kernel "
	       "drops)\nare summed over the runs; cpu = median over the runs of the capture's CPU "
	       "time (the sniffer's thread, tcpdump's process)\nfrom listening until %.1f s after "
	       "the last frame, per captured packet; ratio = cpu / tcpdump's cpu;\nrange = the "
	       "lowest and highest of each run's cpu / the same run's tcpdump cpu.\n",
	       FRAME_LENGTH, seconds, MIN_FRAMES, REPEATS, FILTER, SETTLE_US / 1e6);
	printf("%u CPUs; load average (1 min) %.2f at the start\n", g_get_num_processors(),
	       load_average());
	printf("\n%-7s %-23s %8s %8s %7s %8s %8s %8s %11s %9s %11s\n", "rate/s", "capturer",
	       "sent", "pps", "late ms", "captured", "dropped", "kernel", "cpu us/pkt", "cpu ratio",
	       "range");
	for (gsize i = 0; i < G_N_ELEMENTS(rates); i++) {
		guint64 count = MAX((guint64)((double)(rates[i] > 0 ? rates[i] : 300000) * seconds),
				    MIN_FRAMES);
		Measured measured[N_CAPTURERS] = { 0 };

		/* Interleaved, so that a slow moment of the machine hits all. */
		for (int r = 0; r < REPEATS; r++)
			for (int c = 0; c < N_CAPTURERS; c++)
				measure(&measured[c], r, run(c, sniffers, count, rates[i], &(Generated){ 0 }),
					count);
		print_rate(rates[i], measured);
	}
	unload_sniffer(&sniffers[SNIFFER_DEFAULTS]);
	unload_sniffer(&sniffers[SNIFFER_IMMEDIATE]);
	return 0;
}
