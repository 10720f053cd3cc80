/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Restore-to-agent latency of the demo guest: the qemu machinery plugin
 * (loaded through nbx_setup_load, as the daemon does) against a plain shell
 * script that runs the same QEMU command line by hand
 * (qemu_restore_bench.shell.sh). Rounds are interleaved, the order swapped
 * every round; both sides are timed by this process with the same agent
 * poller, from the moment the restore is asked for (restore_start called /
 * script spawned) to the first HTTP answer that holds agent_expect.
 *
 * Runs inside the namespace that qemu_restore_bench.netns.sh creates:
 * $NBX_BENCH_TAP is a port of a bridge that carries the host address with
 * the MAC the guest was saved with (machineinfo's host_mac), so the guest
 * reaches the host at once after a restore (no ARP stall).
 *
 * Prints a table (median, min, max, ratio plugin/shell); asserts no times.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_poller.h"
#include "daemon_setup.h"
#include "host_services.h"
#include "test_support.h"
#include "plugin_ops.h"

static const char *
env(const char *name)
{
	const char *value = g_getenv(name);

	if (value == NULL || *value == '\0')
		g_error("%s is not set: run this through qemu_restore_bench.netns.sh", name);
	return value;
}

static void
drain_main_loop(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

typedef struct {
	NbxSetup *setup;
	NbxPluginInstance *qemu;
	NbxMachine *machine;
	const char *ip;
	int port;
	const char *expect;
	const char *shell_script;
	const char *guest_dir;
	const char *tap;
	int64_t timeout_us;
} Bench;

typedef struct {
	Bench *b;
	gboolean restore;
	gboolean ok;
	struct nbx_error err;
	gint done;
} OpRun;

static gpointer
op_worker(gpointer data)
{
	OpRun *run = data;
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(run->b->qemu->plugin);
	struct nbx_call call = {
		.struct_size = sizeof call,
		.deadline_us = g_get_monotonic_time() + 60 * G_USEC_PER_SEC,
	};

	if (run->restore)
		run->ok = ops->restore_start(run->b->qemu->instance, &run->b->machine->machine,
					     &call, &run->err);
	else
		run->ok = ops->stop(run->b->qemu->instance, &run->b->machine->machine, &call,
				    &run->err);
	g_atomic_int_set(&run->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static OpRun *
op_start(Bench *b, gboolean restore)
{
	OpRun *run = g_new0(OpRun, 1);

	run->b = b;
	run->restore = restore;
	g_thread_unref(g_thread_new("op", op_worker, run));
	return run;
}

static void
op_finish(OpRun *run, const char *what)
{
	while (!g_atomic_int_get(&run->done))
		g_main_context_iteration(NULL, TRUE);
	drain_main_loop();
	if (!run->ok)
		g_error("%s failed: %s", what, run->err.message);
	g_free(run);
}

/*
 * Seconds from restore_start to the agent's answer. The poller starts when
 * restore_start has returned (the guest runs), as restore-agent.sh does:
 * probes sent before that would leave a FAILED neighbour entry on the host.
 */
static double
plugin_round(Bench *b)
{
	int64_t t0 = g_get_monotonic_time();
	OpRun *run = op_start(b, TRUE);
	double seconds;
	AgentPoller poller;

	op_finish(run, "restore_start");
	agent_poller_init(&poller, b->ip, b->port, b->expect);
	for (;;) {
		drain_main_loop();
		if (agent_poller_step(&poller))
			break;
		if (g_get_monotonic_time() - t0 > b->timeout_us)
			g_error("plugin: the agent did not answer within %" G_GINT64_FORMAT " s",
				b->timeout_us / G_USEC_PER_SEC);
	}
	seconds = (g_get_monotonic_time() - t0) / 1e6;
	op_finish(op_start(b, FALSE), "stop");
	return seconds;
}

/* Seconds from spawning the shell script to the agent's answer. */
static double
shell_round(Bench *b)
{
	const char *argv[] = { "bash", b->shell_script, b->guest_dir, b->tap, NULL };
	g_autoptr(GError) error = NULL;
	int64_t t0 = g_get_monotonic_time();
	double seconds;
	GPid pid;
	int status;
	int out = -1;
	char line[64];
	ssize_t got;
	AgentPoller poller;

	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				      &pid, NULL, &out, NULL, &error))
		g_error("spawning %s: %s", b->shell_script, error->message);
	/* The script prints "running" once cont is done (EOF: it failed). */
	got = read(out, line, sizeof line - 1);
	close(out);
	if (got <= 0 || strncmp(line, "running", 7) != 0) {
		waitpid(pid, &status, 0);
		g_error("the shell restore failed (status %d)", status);
	}
	agent_poller_init(&poller, b->ip, b->port, b->expect);
	for (;;) {
		if (agent_poller_step(&poller))
			break;
		if (waitpid(pid, &status, WNOHANG) == pid)
			g_error("the shell restore ended (status %d) before the agent answered",
				status);
		if (g_get_monotonic_time() - t0 > b->timeout_us) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
			g_error("shell: the agent did not answer within %" G_GINT64_FORMAT " s",
				b->timeout_us / G_USEC_PER_SEC);
		}
	}
	seconds = (g_get_monotonic_time() - t0) / 1e6;
	/* The script kills its QEMU by pid and removes its overlay on TERM. */
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		g_error("the shell restore did not end cleanly (status %d)", status);
	return seconds;
}

/*
 * Each round starts with an empty neighbour table, so both sides find the
 * host as ignorant of the guest as the first round did. (The guest's entry
 * for the host is right from the start: the bridge has the MAC it was
 * saved with, and the plugin announces it besides.)
 */
static void
flush_neighbours(void)
{
	int status = 0;

	if (!g_spawn_command_line_sync("ip neigh flush all", NULL, NULL, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("ip neigh flush all failed");
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, guint n)
{
	qsort(v, n, sizeof *v, compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	const char *guest_dir = env("NBX_BENCH_GUEST_DIR");
	guint rounds = (guint)g_ascii_strtoull(g_getenv("NBX_BENCH_ROUNDS") ?: "10", NULL, 10);
	g_autofree char *info_path = g_build_filename(guest_dir, "machineinfo.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *overlays = NULL;
	g_autofree char *conf = NULL;
	g_autofree double *plugin = NULL;
	g_autofree double *shell = NULL;
	NbxDiagnostics *diagnostics;
	JsonObject *info;
	Bench b = { 0 };
	double pmed, smed;

	if (rounds == 0)
		rounds = 10;
	if (!json_parser_load_from_file(parser, info_path, &error))
		g_error("%s: %s", info_path, error->message);
	info = json_node_get_object(json_parser_get_root(parser));
	b.ip = json_object_get_string_member(info, "ip");
	b.port = (int)json_object_get_int_member(info, "agent_port");
	b.expect = json_object_get_string_member(info, "agent_expect");
	b.guest_dir = guest_dir;
	b.tap = env("NBX_BENCH_TAP");
	b.shell_script = env("NBX_BENCH_SHELL");
	b.timeout_us = 60 * G_USEC_PER_SEC;

	nbx_host_services_set_main_thread();
	dir = test_config_dir_new(env("NBX_BENCH_PLUGIN_DIR"), "\"qemu\"");
	overlays = g_build_filename(dir, "overlays", NULL);
	g_mkdir(overlays, 0750);
	conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\nstop_timeout = 5;\n"
			       "machines = ( { name = \"bench\"; label = \"bench\"; ip = \"%s\";\n"
			       "  platform = \"linux\"; interface = \"%s\"; agent_port = %d;\n"
			       "  machineinfo = \"%s\"; } );\n",
			       overlays, b.ip, b.tap, b.port, info_path);
	test_write(dir, "machinery/qemu.conf", conf);
	diagnostics = nbx_diagnostics_new();
	b.setup = nbx_setup_load(dir, NULL, diagnostics);
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(diagnostics, i));
	if (b.setup == NULL || b.setup->machineries->len != 1 ||
	    nbx_diagnostics_count(diagnostics) != 0)
		g_error("loading the qemu machinery failed");
	b.qemu = g_ptr_array_index(b.setup->machineries, 0);
	b.machine = nbx_machine_pool_lookup(b.setup->pool, "bench");
	g_assert_nonnull(b.machine);

	plugin = g_new0(double, rounds);
	shell = g_new0(double, rounds);
	g_print("# qemu-restore: %u interleaved rounds, restore-to-agent (s), TCG, %s\n", rounds,
		guest_dir);
	for (guint i = 0; i < rounds; i++) {
		if (i % 2 == 0) {
			flush_neighbours();
			plugin[i] = plugin_round(&b);
			flush_neighbours();
			shell[i] = shell_round(&b);
		} else {
			flush_neighbours();
			shell[i] = shell_round(&b);
			flush_neighbours();
			plugin[i] = plugin_round(&b);
		}
		g_print("round %2u  plugin %.3f  shell %.3f\n", i + 1, plugin[i], shell[i]);
	}
	pmed = median(plugin, rounds);
	smed = median(shell, rounds);
	g_print("\n%-8s %8s %8s %8s\n", "", "median", "min", "max");
	g_print("%-8s %8.3f %8.3f %8.3f\n", "plugin", pmed, plugin[0], plugin[rounds - 1]);
	g_print("%-8s %8.3f %8.3f %8.3f\n", "shell", smed, shell[0], shell[rounds - 1]);
	g_print("ratio plugin/shell (medians): %.3f (goal <= 1.05)\n", pmed / smed);

	drain_main_loop();
	nbx_setup_free(b.setup);
	drain_main_loop();
	nbx_diagnostics_free(diagnostics);
	test_dir_remove(dir);
	return 0;
}
