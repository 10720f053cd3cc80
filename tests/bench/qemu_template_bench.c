/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory templates against the classic stream (issue 17), for the demo
 * guest booted with several RAM sizes, in one run, side by side:
 *
 *  - restore_start -> running (restore_start returns once QEMU says
 *    "running" after `cont`) and -> the agent's HTTP answer, for a
 *    template restore and a stream restore, each without and with a
 *    prepared run (prepare is called, untimed, before the timed
 *    restore_start), and for the same QEMU command line run by a shell
 *    script (qemu_restore_bench.shell.sh; from the spawn to its "running",
 *    and to the agent's answer);
 *  - 8 machines of one base (base_machine) restored at once, each on a
 *    tap of its own (the clones share one IP and MAC: their taps are in no
 *    bridge and carry no address), their summed Pss and Private_Dirty
 *    (smaps_rollup) a few seconds later, against 8 x the guest's RAM;
 *    templates, then streams.
 *
 * Rounds interleave the sides, the order rotating each round. Runs inside
 * the namespace qemu_template_bench.netns.sh makes. Prints tables with
 * medians and ratios; asserts no times.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_poller.h"
#include "daemon_setup.h"
#include "host_services.h"
#include "test_support.h"
#include "plugin_ops.h"

#define CLONES 8
/* How long the clones run before their memory is counted. */
#define CLONE_SETTLE_US (3 * G_USEC_PER_SEC)

static const char *
env(const char *name)
{
	const char *value = g_getenv(name);

	if (value == NULL || *value == '\0')
		g_error("%s is not set: run this through qemu_template_bench.netns.sh", name);
	return value;
}

static void
drain_main_loop(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

typedef enum { OP_RESTORE, OP_STOP, OP_PREPARE } OpKind;

typedef struct {
	NbxPluginInstance *qemu;
	NbxMachine *machine;
	OpKind kind;
	gboolean ok;
	struct nbx_error err;
	int64_t took_us;
	gint done;
} Op;

static gpointer
op_worker(gpointer data)
{
	Op *op = data;
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(op->qemu->plugin);
	struct nbx_call call = {
		.struct_size = sizeof call,
		.deadline_us = g_get_monotonic_time() + 300 * G_USEC_PER_SEC,
	};
	int64_t t0 = g_get_monotonic_time();

	if (op->kind == OP_RESTORE)
		op->ok = ops->restore_start(op->qemu->instance, &op->machine->machine, &call,
					    &op->err);
	else if (op->kind == OP_PREPARE)
		op->ok = ops->prepare(op->qemu->instance, &op->machine->machine, &call, &op->err);
	else
		op->ok = ops->stop(op->qemu->instance, &op->machine->machine, &call, &op->err);
	op->took_us = g_get_monotonic_time() - t0;
	g_atomic_int_set(&op->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static Op *
op_start(NbxSetup *setup, const char *machine, OpKind kind)
{
	Op *op = g_new0(Op, 1);

	op->qemu = g_ptr_array_index(setup->machineries, 0);
	op->machine = nbx_machine_pool_lookup(setup->pool, machine);
	op->kind = kind;
	if (op->machine == NULL)
		g_error("no machine %s", machine);
	g_thread_unref(g_thread_new("op", op_worker, op));
	return op;
}

/* Waits for @op; its duration in seconds. */
static double
op_finish(Op *op, const char *what)
{
	double seconds;

	while (!g_atomic_int_get(&op->done))
		g_main_context_iteration(NULL, TRUE);
	drain_main_loop();
	if (!op->ok)
		g_error("%s failed: %s", what, op->err.message);
	seconds = op->took_us / 1e6;
	g_free(op);
	return seconds;
}

static double
op(NbxSetup *setup, const char *machine, OpKind kind, const char *what)
{
	return op_finish(op_start(setup, machine, kind), what);
}

/* ---- one guest size ---------------------------------------------------------- */

typedef struct {
	int64_t memory_mb;
	const char *guest_dir;
	char *info_path;
	const char *ip;
	int port;
	const char *expect;
	const char *guest_mac;
	char *dir;
	NbxSetup *setup;
	NbxDiagnostics *diagnostics;
	char *template_dir;
} Size;

enum { T, TP, S, SP, SHELL_T, SHELL_S, SIDES };
static const char *const side_names[SIDES] = {
	"template", "template, prepared", "stream", "stream, prepared",
	"shell, template", "shell, stream",
};

typedef struct {
	double *running[SIDES];
	double *agent[SIDES];
} Samples;

/* From @t0 until the agent answers; seconds. */
static double
until_agent(const Size *size, int64_t t0, GPid shell)
{
	AgentPoller poller;
	int status;

	agent_poller_init(&poller, size->ip, size->port, size->expect);
	for (;;) {
		drain_main_loop();
		if (agent_poller_step(&poller))
			return (g_get_monotonic_time() - t0) / 1e6;
		if (shell != 0 && waitpid(shell, &status, WNOHANG) == shell)
			g_error("the shell restore ended (status %d) before the agent answered",
				status);
		if (g_get_monotonic_time() - t0 > 120 * G_USEC_PER_SEC)
			g_error("the agent did not answer within 120 s");
	}
}

static void
plugin_round(Size *size, const char *machine, gboolean prepared, double *running,
	     double *agent)
{
	int64_t t0;

	if (prepared)
		op(size->setup, machine, OP_PREPARE, "prepare");
	t0 = g_get_monotonic_time();
	*running = op(size->setup, machine, OP_RESTORE, "restore_start");
	*agent = until_agent(size, t0, 0);
	op(size->setup, machine, OP_STOP, "stop");
}

static void
shell_round(Size *size, gboolean template, double *running, double *agent)
{
	const char *argv[] = { "bash", env("NBX_BENCH_SHELL"), size->guest_dir,
			       env("NBX_BENCH_TAP"), template ? size->template_dir : NULL, NULL };
	g_autoptr(GError) error = NULL;
	int64_t t0 = g_get_monotonic_time();
	char line[64];
	ssize_t got;
	GPid pid;
	int out = -1, status;

	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				      &pid, NULL, &out, NULL, &error))
		g_error("spawning the shell restore: %s", error->message);
	/* It prints "running" once QEMU runs after cont (EOF: it failed). */
	got = read(out, line, sizeof line - 1);
	close(out);
	if (got <= 0 || strncmp(line, "running", 7) != 0) {
		waitpid(pid, &status, 0);
		g_error("the shell restore failed (status %d)", status);
	}
	*running = (g_get_monotonic_time() - t0) / 1e6;
	*agent = until_agent(size, t0, pid);
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		g_error("the shell restore did not end cleanly (status %d)", status);
	g_spawn_close_pid(pid);
}

static void
one_round(Size *size, guint round, Samples *samples)
{
	for (guint k = 0; k < SIDES; k++) {
		guint side = (k + round) % SIDES;
		double *running = &samples->running[side][round];
		double *agent = &samples->agent[side][round];

		switch (side) {
		case T:
		case TP:
			plugin_round(size, "t", side == TP, running, agent);
			break;
		case S:
		case SP:
			plugin_round(size, "s", side == SP, running, agent);
			break;
		default:
			shell_round(size, side == SHELL_T, running, agent);
		}
	}
}

/* ---- no ARP stall: every frame of the guest goes to the host side's MAC ------ */

/*
 * A packet socket on the bridge for the timed rounds: the guest's IPv4
 * frames must all go to the bridge's MAC (a frame to another one is a
 * guest answering the MAC it was saved with: a stall until its ARP entry
 * expires), and the plugin's announcements are counted.
 */
typedef struct {
	int fd;
	GThread *thread;
	gint stop;
	unsigned char host[6];
	unsigned char guest[6];
	guint to_host;
	guint to_other;
	guint announcements;
} StallWatch;

static gboolean
parse_mac(const char *text, unsigned char mac[6])
{
	return text != NULL && sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
				      &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

static void
watch_frame(StallWatch *watch, const unsigned char *frame, ssize_t len)
{
	static const unsigned char broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	gboolean arp = len >= 42 && frame[12] == 0x08 && frame[13] == 0x06;

	if (arp && memcmp(frame, broadcast, 6) == 0 && memcmp(frame + 6, watch->host, 6) == 0 &&
	    memcmp(frame + 28, frame + 38, 4) == 0)
		watch->announcements++;
	if (len < 14 || memcmp(frame + 6, watch->guest, 6) != 0 || frame[12] != 0x08 ||
	    frame[13] != 0x00)
		return;
	if (memcmp(frame, watch->host, 6) == 0)
		watch->to_host++;
	else
		watch->to_other++;
}

static gpointer
watch_main(gpointer data)
{
	StallWatch *watch = data;
	unsigned char frame[2048];

	while (!g_atomic_int_get(&watch->stop)) {
		struct pollfd pfd = { .fd = watch->fd, .events = POLLIN };

		if (poll(&pfd, 1, 50) > 0)
			watch_frame(watch, frame, recv(watch->fd, frame, sizeof frame, 0));
	}
	return NULL;
}

static StallWatch *
stall_watch_start(const char *guest_mac)
{
	StallWatch *watch = g_new0(StallWatch, 1);
	g_autofree char *bridge_mac = NULL;
	struct sockaddr_ll address = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				       .sll_ifindex = (int)if_nametoindex("br0") };

	if (!g_file_get_contents("/sys/class/net/br0/address", &bridge_mac, NULL, NULL) ||
	    !parse_mac(bridge_mac, watch->host) || !parse_mac(guest_mac, watch->guest))
		g_error("cannot tell the MACs of br0 and the guest");
	watch->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (watch->fd < 0 || bind(watch->fd, (struct sockaddr *)&address, sizeof address) != 0)
		g_error("cannot capture on br0: %s", g_strerror(errno));
	watch->thread = g_thread_new("stall-watch", watch_main, watch);
	return watch;
}

static void
stall_watch_stop(StallWatch *watch, guint restores)
{
	g_atomic_int_set(&watch->stop, 1);
	g_thread_join(watch->thread);
	close(watch->fd);
	g_print("ARP: %u restores on br0; the guest sent %u IPv4 frames to br0's MAC and %u to "
		"another MAC (a stall); %u announcements of the host side seen\n",
		restores, watch->to_host, watch->to_other, watch->announcements);
	g_free(watch);
}

/* ---- 8 clones of one base --------------------------------------------------- */

/* The pid of our QEMU child whose command line holds @needle, or 0. */
static pid_t
qemu_with(const char *needle)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const char *name;

	while ((name = g_dir_read_name(proc)) != NULL) {
		g_autofree char *stat_path = g_strdup_printf("/proc/%s/stat", name);
		g_autofree char *cmdline_path = g_strdup_printf("/proc/%s/cmdline", name);
		g_autofree char *stat = NULL;
		g_autofree char *cmdline = NULL;
		gsize len = 0;
		const char *after_comm;
		int ppid = 0;

		if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(stat_path, &stat, NULL, NULL) ||
		    (after_comm = strrchr(stat, ')')) == NULL ||
		    sscanf(after_comm, ") %*c %d", &ppid) != 1 || ppid != getpid() ||
		    !g_file_get_contents(cmdline_path, &cmdline, &len, NULL))
			continue;
		for (gsize i = 0; i + 1 < len; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		if (strstr(cmdline, needle) != NULL)
			return (pid_t)g_ascii_strtoll(name, NULL, 10);
	}
	return 0;
}

/* A member of smaps_rollup in KiB. */
static guint64
rollup(pid_t pid, const char *member)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/smaps_rollup", (int)pid);
	g_autofree char *text = NULL;
	g_autofree char *key = g_strconcat("\n", member, ":", NULL);
	const char *at;

	if (!g_file_get_contents(path, &text, NULL, NULL) || (at = strstr(text, key)) == NULL)
		g_error("no %s in %s", member, path);
	return g_ascii_strtoull(at + strlen(key), NULL, 10);
}

typedef struct {
	gboolean measured;
	guint64 pss_kb;
	guint64 dirty_kb;
	double slowest_s;
} CloneMemory;

/* MemAvailable of /proc/meminfo in MiB. */
static guint64
available_mib(void)
{
	g_autofree char *text = NULL;
	const char *at;

	if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL) ||
	    (at = strstr(text, "MemAvailable:")) == NULL)
		return 0;
	return g_ascii_strtoull(at + strlen("MemAvailable:"), NULL, 10) / 1024;
}

/* Machines PREFIX0..7 restored at once, their memory counted after a while, stopped. */
static CloneMemory
clones(Size *size, const char *prefix)
{
	CloneMemory memory = { 0 };
	Op *ops[CLONES];
	int64_t settled;

	/* The base's template is made (or the stream read) once, beforehand. */
	g_autofree char *first = g_strdup_printf("%s0", prefix);

	op(size->setup, first, OP_RESTORE, "restore_start");
	op(size->setup, first, OP_STOP, "stop");
	for (guint i = 0; i < CLONES; i++) {
		g_autofree char *name = g_strdup_printf("%s%u", prefix, i);

		ops[i] = op_start(size->setup, name, OP_RESTORE);
	}
	for (guint i = 0; i < CLONES; i++) {
		double took;

		while (!g_atomic_int_get(&ops[i]->done))
			g_main_context_iteration(NULL, TRUE);
		took = op_finish(ops[i], "a clone's restore_start");
		memory.slowest_s = MAX(memory.slowest_s, took);
	}
	settled = g_get_monotonic_time() + CLONE_SETTLE_US;
	while (g_get_monotonic_time() < settled) {
		drain_main_loop();
		g_usleep(50000);
	}
	for (guint i = 0; i < CLONES; i++) {
		g_autofree char *needle = g_strdup_printf("/overlays/%s%u-", prefix, i);
		pid_t pid = qemu_with(needle);

		if (pid == 0)
			g_error("no QEMU of clone %s%u", prefix, i);
		memory.pss_kb += rollup(pid, "Pss");
		memory.dirty_kb += rollup(pid, "Private_Dirty");
	}
	for (guint i = 0; i < CLONES; i++) {
		g_autofree char *name = g_strdup_printf("%s%u", prefix, i);

		ops[i] = op_start(size->setup, name, OP_STOP);
	}
	for (guint i = 0; i < CLONES; i++)
		op_finish(ops[i], "a clone's stop");
	memory.measured = TRUE;
	return memory;
}

/*
 * Streamed clones: each ends with the guest's whole RAM its own (QEMU
 * reads every page of the stream's RAM to check it is zero), so 8 of them
 * are only started where the host has the room.
 */
static CloneMemory
stream_clones(Size *size)
{
	guint64 room = available_mib();

	if ((guint64)size->memory_mb * CLONES > room * 7 / 10) {
		g_printerr("qemu-template: %d streamed clones of %" G_GINT64_FORMAT
			   " MiB do not fit in %" G_GUINT64_FORMAT " MiB available: not run\n",
			   CLONES, size->memory_mb, room);
		return (CloneMemory){ 0 };
	}
	return clones(size, "d");
}

/* ---- set-up, statistics, output ---------------------------------------------- */

static char *
machine_group(const Size *size, const char *name, const char *ip, const char *tap,
	      const char *extra)
{
	return g_strdup_printf("{ name = \"%s\"; label = \"%s\"; ip = \"%s\"; platform = \"linux\";\n"
			       "  interface = \"%s\"; agent_port = %d; machineinfo = \"%s\"; %s }",
			       name, name, ip, tap, size->port, size->info_path, extra);
}

static void
size_load(Size *size)
{
	g_autoptr(GString) machines = g_string_new(NULL);
	g_autofree char *overlays = NULL;
	g_autofree char *conf = NULL;
	char *group;

	size->dir = test_config_dir_new(env("NBX_BENCH_PLUGIN_DIR"), "\"qemu\"");
	overlays = g_build_filename(size->dir, "overlays", NULL);
	g_mkdir(overlays, 0750);
	group = machine_group(size, "t", "10.213.0.10", env("NBX_BENCH_TAP"), "");
	g_string_append_printf(machines, "%s,\n", group);
	g_free(group);
	group = machine_group(size, "s", "10.213.0.11", env("NBX_BENCH_TAP"),
			      "qemu_restore_method = \"stream\";");
	g_string_append(machines, group);
	g_free(group);
	for (guint i = 0; i < 2 * CLONES; i++) {
		g_autofree char *name = g_strdup_printf("%c%u", i < CLONES ? 'c' : 'd', i % CLONES);
		g_autofree char *ip = g_strdup_printf("10.213.0.%u", 20 + i);
		g_autofree char *tap = g_strdup_printf("nbxc%u", i % CLONES);
		g_autofree char *extra = g_strdup_printf(
			"%s%s", i < CLONES ? "" : "qemu_restore_method = \"stream\"; ",
			i % CLONES == 0 ? "" : (i < CLONES ? "base_machine = \"c0\";" : "base_machine = \"d0\";"));

		group = machine_group(size, name, ip, tap, extra);
		g_string_append_printf(machines, ",\n%s", group);
		g_free(group);
	}
	conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\nstop_timeout = 5;\n"
			       "machines = ( %s );\n",
			       overlays, machines->str);
	test_write(size->dir, "machinery/qemu.conf", conf);
	size->diagnostics = nbx_diagnostics_new();
	size->setup = nbx_setup_load(size->dir, NULL, size->diagnostics);
	for (guint i = 0; i < nbx_diagnostics_count(size->diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(size->diagnostics, i));
	if (size->setup == NULL || nbx_diagnostics_count(size->diagnostics) != 0)
		g_error("loading the qemu machinery failed");
}

/* The template the plugin made for machine "t" (for the shell script's template side). */
static char *
template_dir_of(const Size *size)
{
	NbxPluginInstance *qemu = g_ptr_array_index(size->setup->machineries, 0);
	g_autofree char *root = g_build_filename(qemu->state_dir, "templates", "t", NULL);
	g_autoptr(GDir) handle = g_dir_open(root, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *dir = g_build_filename(root, name, NULL);
		g_autofree char *record = g_build_filename(dir, "template.json", NULL);

		if (g_file_test(record, G_FILE_TEST_IS_REGULAR))
			return g_steal_pointer(&dir);
	}
	g_error("machine t has no template under %s", root);
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts @v (@n values) and returns the median. */
static double
median(double *v, guint n)
{
	qsort(v, n, sizeof *v, compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *
load_average(void)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL))
		return g_strdup("?");
	text[strcspn(text, " ")] = '\0';
	return g_steal_pointer(&text);
}

typedef struct {
	double running[SIDES];
	double agent[SIDES];
	CloneMemory templates;
	CloneMemory streams;
} Result;

static void
print_times(const Size *size, Samples *samples, guint rounds, Result *result)
{
	g_print("\n## demo guest with %" G_GINT64_FORMAT " MiB of RAM (mostly untouched)\n",
		size->memory_mb);
	g_print("%-20s %27s   %27s\n", "", "restore_start -> running (s)",
		"restore_start -> agent (s)");
	g_print("%-20s %9s %8s %8s   %9s %8s %8s\n", "side", "median", "min", "max", "median",
		"min", "max");
	for (guint side = 0; side < SIDES; side++) {
		result->running[side] = median(samples->running[side], rounds);
		result->agent[side] = median(samples->agent[side], rounds);
		g_print("%-20s %9.3f %8.3f %8.3f   %9.3f %8.3f %8.3f\n", side_names[side],
			result->running[side], samples->running[side][0],
			samples->running[side][rounds - 1], result->agent[side],
			samples->agent[side][0], samples->agent[side][rounds - 1]);
	}
	g_print("ratios of medians, running / agent:\n");
	g_print("  template / stream                %6.3f / %6.3f\n",
		result->running[T] / result->running[S], result->agent[T] / result->agent[S]);
	g_print("  template prepared / stream       %6.3f / %6.3f\n",
		result->running[TP] / result->running[S], result->agent[TP] / result->agent[S]);
	g_print("  template / shell template        %6.3f / %6.3f\n",
		result->running[T] / result->running[SHELL_T],
		result->agent[T] / result->agent[SHELL_T]);
	g_print("  stream / shell stream            %6.3f / %6.3f\n",
		result->running[S] / result->running[SHELL_S],
		result->agent[S] / result->agent[SHELL_S]);
	g_print("goals: prepared -> running %.3f s (<= 0.050), unprepared %.3f s (<= 0.300), "
		"prepared -> agent %.3f s (<= 0.200)\n",
		result->running[TP], result->running[T], result->agent[TP]);
}

static void
print_clones(const Size *size, const Result *result)
{
	double ram_mib = (double)size->memory_mb;

	g_print("%d clones of one base, %.1f s after their restores (slowest restore %.3f / %.3f "
		"s):\n",
		CLONES, CLONE_SETTLE_US / 1e6, result->templates.slowest_s, result->streams.slowest_s);
	g_print("  template: Pss %7.1f MiB, Private_Dirty %7.1f MiB = %.3f x %d x RAM "
		"(goal Pss < 2 x RAM = %.3f x %d x RAM)\n",
		result->templates.pss_kb / 1024.0, result->templates.dirty_kb / 1024.0,
		result->templates.pss_kb / 1024.0 / (CLONES * ram_mib), CLONES, 2.0 / CLONES,
		CLONES);
	if (!result->streams.measured) {
		g_print("  stream:   not run (%d x RAM does not fit in this host's memory)\n", CLONES);
		return;
	}
	g_print("  stream:   Pss %7.1f MiB, Private_Dirty %7.1f MiB = %.3f x %d x RAM\n",
		result->streams.pss_kb / 1024.0, result->streams.dirty_kb / 1024.0,
		result->streams.pss_kb / 1024.0 / (CLONES * ram_mib), CLONES);
}

static void
run_size(Size *size, guint rounds, Result *result)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *info;
	Samples samples;
	StallWatch *watch;

	size->info_path = g_build_filename(size->guest_dir, "machineinfo.json", NULL);
	if (!json_parser_load_from_file(parser, size->info_path, &error))
		g_error("%s: %s", size->info_path, error->message);
	info = json_node_get_object(json_parser_get_root(parser));
	size->ip = json_object_get_string_member(info, "ip");
	size->port = (int)json_object_get_int_member(info, "agent_port");
	size->expect = json_object_get_string_member(info, "agent_expect");
	size->guest_mac = json_object_get_string_member(info, "mac_address");
	size_load(size);
	/* Warm-up, untimed: the template is made, the stream is in the page cache. */
	op(size->setup, "t", OP_RESTORE, "restore_start");
	op(size->setup, "t", OP_STOP, "stop");
	op(size->setup, "s", OP_RESTORE, "restore_start");
	op(size->setup, "s", OP_STOP, "stop");
	size->template_dir = template_dir_of(size);
	for (guint side = 0; side < SIDES; side++) {
		samples.running[side] = g_new0(double, rounds);
		samples.agent[side] = g_new0(double, rounds);
	}
	watch = stall_watch_start(size->guest_mac);
	for (guint round = 0; round < rounds; round++) {
		g_autofree char *load = NULL;

		one_round(size, round, &samples);
		load = load_average();
		g_printerr("qemu-template: %" G_GINT64_FORMAT " MiB, round %u/%u done (load %s)\n",
			   size->memory_mb, round + 1, rounds, load);
	}
	print_times(size, &samples, rounds, result);
	stall_watch_stop(watch, rounds * SIDES);
	result->templates = clones(size, "c");
	result->streams = stream_clones(size);
	print_clones(size, result);
	for (guint side = 0; side < SIDES; side++) {
		g_free(samples.running[side]);
		g_free(samples.agent[side]);
	}
	drain_main_loop();
	nbx_setup_free(size->setup);
	drain_main_loop();
	nbx_diagnostics_free(size->diagnostics);
	test_dir_remove(size->dir);
	g_free(size->dir);
	g_free(size->info_path);
	g_free(size->template_dir);
}

int
main(int argc, char **argv)
{
	/* "256=DIR,1024=DIR,4096=DIR": the demo guest built with each RAM size. */
	g_auto(GStrv) guests = g_strsplit(env("NBX_BENCH_GUESTS"), ",", -1);
	guint rounds = (guint)g_ascii_strtoull(g_getenv("NBX_BENCH_ROUNDS") ?: "5", NULL, 10);
	guint n = g_strv_length(guests);
	g_autofree Size *sizes = g_new0(Size, n);
	g_autofree Result *results = g_new0(Result, n);
	g_autofree char *load_before = load_average();
	g_autofree char *load_after = NULL;

	if (rounds == 0)
		rounds = 5;
	nbx_host_services_set_main_thread();
	g_print("# qemu-template: %u rounds per side, sides interleaved; TCG; load average %s "
		"before\n",
		rounds, load_before);
	for (guint i = 0; i < n; i++) {
		char *equals = strchr(guests[i], '=');

		if (equals == NULL)
			g_error("NBX_BENCH_GUESTS: %s is not MiB=DIR", guests[i]);
		*equals = '\0';
		sizes[i].memory_mb = g_ascii_strtoll(guests[i], NULL, 10);
		sizes[i].guest_dir = equals + 1;
		run_size(&sizes[i], rounds, &results[i]);
	}
	load_after = load_average();
	g_print("\n## across sizes (load average %s after)\n", load_after);
	for (guint i = 1; i < n; i++)
		g_print("%" G_GINT64_FORMAT " MiB / %" G_GINT64_FORMAT
			" MiB, restore_start -> running: template %.3f, template prepared %.3f, "
			"stream %.3f (goal: template <= 1.2)\n",
			sizes[i].memory_mb, sizes[0].memory_mb,
			results[i].running[T] / results[0].running[T],
			results[i].running[TP] / results[0].running[TP],
			results[i].running[S] / results[0].running[S]);
	return 0;
}
