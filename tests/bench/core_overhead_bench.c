/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the core costs per analysis when the machinery costs nothing: the
 * "fake" machinery (tests/plugins/good, delay_ms 0, no auxiliaries) run
 * through the real scheduler, analysis threads and store, against the same
 * plugin's ops (restore_start, state, stop) called straight through its
 * descriptor, loaded by nbx_setup_load as the daemon loads it. Both sides
 * run in this process, in the same run:
 *
 *   overhead per task  core: submit to the task's final state in the store,
 *                      minus the `run` step's own duration (report.json);
 *                      bare: restore_start + state + stop. Medians.
 *   tasks per second   core: TASKS_PER_MACHINE x M tasks submitted at once,
 *                      M machines; bare: M threads, each doing the bare ops
 *                      around the same 1 s run (a sleep): the ideal.
 *   instructions/task  valgrind --tool=callgrind on this program in its
 *                      --count mode: (run of N tasks - run of 0) / N, for
 *                      both sides, each measured twice to show the spread.
 *
 * A task runs 1 s at least (the scheduler's rules), so the run step is taken
 * out of the overhead, not shortened. The store, analyses and run dirs live
 * under $TMPDIR (the filesystem is printed: the store commits with fsync).
 * The core's g_message lines are dropped (not formatted), warnings kept.
 *
 * Settings (environment): NBX_BENCH_TASKS (tasks timed one at a time, 20),
 * NBX_BENCH_MACHINES (machines in parallel, 4), NBX_BENCH_CALLGRIND_TASKS
 * (tasks in a callgrind run, 8). Prints a table; asserts no times.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/vfs.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "machine_pool.h"
#include "scheduler.h"
#include "store.h"
#include "test_support.h"
#include "plugin_ops.h"

#define TASKS_PER_MACHINE 4
#define RUN_S 1
/* Bare cycles are cheap: more of them give a steadier median. */
#define BARE_CYCLES_MIN 1000

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
static const gboolean under_asan = TRUE;
#else
static const gboolean under_asan = FALSE;
#endif

static guint
env_count(const char *name, guint fallback)
{
	const char *value = g_getenv(name);
	guint64 n;

	if (value == NULL || *value == '\0')
		return fallback;
	n = g_ascii_strtoull(value, NULL, 10);
	if (n == 0 || n > 100000)
		g_error("%s: expected a count from 1 to 100000, not \"%s\"", name, value);
	return (guint)n;
}

static GLogWriterOutput
quiet_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(level, fields, n_fields, data);
}

/* ---- configuration ------------------------------------------------------------- */

/* A config dir with @machines fake machines m1..mN, no auxiliaries. */
static char *
config_dir_new(guint machines)
{
	const char *plugins = g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
	char *dir = test_dir_new();
	g_autoptr(GString) list = g_string_new(NULL);
	g_autofree char *core = NULL;
	g_autofree char *fake = NULL;

	if (plugins == NULL || *plugins == '\0')
		g_error("NESTBOX_TEST_GOOD_PLUGIN_DIR is not set: run this with "
			"`meson test --benchmark core-overhead`");
	for (guint i = 1; i <= machines; i++)
		g_string_append_printf(list,
				       "%s{ name = \"m%u\"; label = \"m%u\"; ip = \"127.0.1.%u\";"
				       " platform = \"linux\"; delay_ms = 0; }",
				       i > 1 ? ",\n  " : "  ", i, i, i);
	core = g_strdup_printf("machineries = [ \"fake\" ];\nplugin_dirs = [ \"%s\" ];\n"
			       "builtin_plugin_dir = false;\nstate_dir = \"state\";\n"
			       "run_dir = \"run\";\nanalyses_dir = \"analyses\";\n",
			       plugins);
	fake = g_strdup_printf("machines = (\n%s\n);\n", list->str);
	test_write(dir, "nestbox.conf", core);
	test_write(dir, "machinery/fake.conf", fake);
	test_write(dir, "auxiliary.conf", "");
	return dir;
}

static NbxSetup *
setup_load(const char *dir)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	NbxSetup *setup = nbx_setup_load(dir, NULL, diagnostics);

	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(diagnostics, i));
	if (setup == NULL || nbx_diagnostics_count(diagnostics) != 0)
		g_error("loading the fake machinery from %s failed", dir);
	return setup;
}

/* ---- the core side ---------------------------------------------------------------- */

typedef struct {
	char *dir;
	NbxSetup *setup;
	NbxStore *store;
	NbxScheduler *scheduler;
} Core;

static void
core_start(Core *c, guint machines)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *store_path = NULL;

	c->dir = config_dir_new(machines);
	c->setup = setup_load(c->dir);
	if (g_mkdir_with_parents(c->setup->config->analyses_dir, 0750) != 0)
		g_error("%s: %s", c->setup->config->analyses_dir, g_strerror(errno));
	store_path = g_build_filename(c->setup->config->state_dir, "nestbox.sqlite", NULL);
	c->store = nbx_store_open(store_path, &error);
	if (c->store == NULL)
		g_error("%s", error->message);
	c->scheduler = nbx_scheduler_new(c->setup, c->store, &error);
	if (c->scheduler == NULL)
		g_error("%s", error->message);
	/* Recovery runs first; a task submitted meanwhile would wait for it. */
	while (!nbx_scheduler_is_idle(c->scheduler))
		g_main_context_iteration(NULL, TRUE);
}

static void
on_drained(gpointer data)
{
	*(gboolean *)data = TRUE;
}

static void
core_stop(Core *c)
{
	gboolean drained = FALSE;

	nbx_scheduler_shutdown(c->scheduler, 60, on_drained, &drained);
	while (!drained || !nbx_scheduler_is_idle(c->scheduler))
		g_main_context_iteration(NULL, TRUE);
	nbx_scheduler_free(c->scheduler);
	nbx_setup_free(c->setup);
	nbx_store_close(c->store);
	while (g_main_context_iteration(NULL, FALSE))
		;
	test_dir_remove(c->dir);
	g_free(c->dir);
}

static gint64
core_submit(Core *c)
{
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(GError) error = NULL;

	request->duration_s = RUN_S;
	task = nbx_scheduler_submit(c->scheduler, request, NULL, &error);
	if (task == NULL)
		g_error("submit: %s", error->message);
	return task->id;
}

static NbxTask *
core_get(Core *c, gint64 id)
{
	g_autoptr(GError) error = NULL;
	NbxTask *task = nbx_store_task_get(c->store, id, &error);

	if (task == NULL)
		g_error("task %" G_GINT64_FORMAT ": %s", id, error->message);
	return task;
}

/*
 * Blocks in the main loop until every task in @ids has its final state in
 * the store; the scheduler writes it from the main loop, so each write is
 * seen as soon as it is made. Every task must end reported.
 */
static void
core_wait_final(Core *c, const gint64 *ids, guint n)
{
	guint done = 0;

	while (done < n) {
		g_autoptr(NbxTask) task = core_get(c, ids[done]);

		if (!nbx_task_state_is_final(task->state)) {
			g_main_context_iteration(NULL, TRUE);
			continue;
		}
		if (task->state != NBX_TASK_REPORTED)
			g_error("task %" G_GINT64_FORMAT " ended %s: %s", task->id,
				nbx_task_state_name(task->state), task->reason ?: "(no reason)");
		done++;
	}
}

/* Seconds each named step took, from report.json; NAN when it has no such step. */
static double
step_seconds(JsonObject *report, const char *name)
{
	JsonArray *steps = json_object_get_array_member(report, "steps");

	for (guint i = 0; i < json_array_get_length(steps); i++) {
		JsonObject *step = json_array_get_object_element(steps, i);

		if (g_strcmp0(json_object_get_string_member(step, "name"), name) == 0)
			return json_object_get_double_member(step, "duration_s");
	}
	return NAN;
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

/* The steps the fake machinery's lifecycle records, besides `run`. */
static const char *const timed_steps[] = { "analysis_dir", "restore_start", "stop" };
#define N_TIMED_STEPS G_N_ELEMENTS(timed_steps)

typedef struct {
	double overhead;		 /* median s: submit to final, minus run */
	double min, max;
	double steps[N_TIMED_STEPS];	 /* median s of each step */
	double outside;			 /* median s outside those steps and run */
} CoreLatency;

/* @n tasks one after the other on a 1-machine setup. */
static CoreLatency
core_latency(guint n)
{
	g_autofree double *overhead = g_new0(double, n);
	g_autofree double *outside = g_new0(double, n);
	g_autofree double *steps = g_new0(double, n * N_TIMED_STEPS);
	CoreLatency result = { 0 };
	Core c = { 0 };

	core_start(&c, 1);
	for (guint i = 0; i < n; i++) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxTask) task = NULL;
		g_autofree char *path = NULL;
		gint64 t0 = g_get_monotonic_time();
		gint64 id = core_submit(&c);
		JsonObject *report;
		double wall, run, in_steps = 0;

		core_wait_final(&c, &id, 1);
		wall = (g_get_monotonic_time() - t0) / 1e6;
		task = core_get(&c, id);
		path = g_build_filename(task->analysis_dir, "report.json", NULL);
		if (!json_parser_load_from_file(parser, path, &error))
			g_error("%s: %s", path, error->message);
		report = json_node_get_object(json_parser_get_root(parser));
		run = step_seconds(report, "run");
		overhead[i] = wall - run;
		for (guint s = 0; s < N_TIMED_STEPS; s++) {
			steps[s * n + i] = step_seconds(report, timed_steps[s]);
			in_steps += steps[s * n + i];
		}
		outside[i] = overhead[i] - in_steps;
	}
	core_stop(&c);
	result.overhead = median(overhead, n);
	result.min = overhead[0];
	result.max = overhead[n - 1];
	for (guint s = 0; s < N_TIMED_STEPS; s++)
		result.steps[s] = median(steps + s * n, n);
	result.outside = median(outside, n);
	return result;
}

/* Tasks per second: TASKS_PER_MACHINE x @machines tasks submitted at once. */
static double
core_throughput(guint machines)
{
	guint n = TASKS_PER_MACHINE * machines;
	g_autofree gint64 *ids = g_new0(gint64, n);
	Core c = { 0 };
	gint64 t0;
	double seconds;

	core_start(&c, machines);
	t0 = g_get_monotonic_time();
	for (guint i = 0; i < n; i++)
		ids[i] = core_submit(&c);
	core_wait_final(&c, ids, n);
	seconds = (g_get_monotonic_time() - t0) / 1e6;
	core_stop(&c);
	return n / seconds;
}

/* ---- the bare plugin side ---------------------------------------------------------- */

typedef struct {
	NbxPluginInstance *fake;
	NbxMachine *machine;
	gboolean with_run;
	guint cycles;
} BareRun;

/* One task's worth of ops, as the core makes them, with no core in between. */
static void
bare_cycle(NbxPluginInstance *fake, NbxMachine *machine, gboolean with_run)
{
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(fake->plugin);
	struct nbx_call call = {
		.struct_size = sizeof call,
		.deadline_us = g_get_monotonic_time() + 60 * G_USEC_PER_SEC,
	};
	struct nbx_error err = { 0 };
	int32_t state = NBX_MACHINE_UNKNOWN;

	if (!ops->restore_start(fake->instance, &machine->machine, &call, &err))
		g_error("restore_start: %s", err.message);
	if (with_run)
		g_usleep(RUN_S * G_USEC_PER_SEC);
	if (!ops->state(fake->instance, &machine->machine, &call, &state, &err) ||
	    state != NBX_MACHINE_RUNNING)
		g_error("state: %s (state %d)", err.message, state);
	if (!ops->stop(fake->instance, &machine->machine, &call, &err))
		g_error("stop: %s", err.message);
}

static NbxMachine *
machine_at(NbxSetup *setup, guint i)
{
	g_autofree char *name = g_strdup_printf("m%u", i + 1);
	NbxMachine *machine = nbx_machine_pool_lookup(setup->pool, name);

	if (machine == NULL)
		g_error("no machine %s", name);
	return machine;
}

static void
drain_main_loop(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* Median seconds of one bare cycle, over @n cycles on one machine. */
static double
bare_latency(guint n)
{
	g_autofree char *dir = config_dir_new(1);
	NbxSetup *setup = setup_load(dir);
	NbxPluginInstance *fake = g_ptr_array_index(setup->machineries, 0);
	NbxMachine *machine = machine_at(setup, 0);
	g_autofree double *seconds = g_new0(double, n);
	double result;

	for (guint i = 0; i < n; i++) {
		gint64 t0 = g_get_monotonic_time();

		bare_cycle(fake, machine, FALSE);
		drain_main_loop();
		seconds[i] = (g_get_monotonic_time() - t0) / 1e6;
	}
	result = median(seconds, n);
	nbx_setup_free(setup);
	drain_main_loop();
	test_dir_remove(dir);
	return result;
}

static gpointer
bare_worker(gpointer data)
{
	BareRun *run = data;

	for (guint i = 0; i < run->cycles; i++)
		bare_cycle(run->fake, run->machine, run->with_run);
	return NULL;
}

/* The ideal: the same number of tasks, each the bare ops around a 1 s sleep. */
static double
bare_throughput(guint machines)
{
	g_autofree char *dir = config_dir_new(machines);
	NbxSetup *setup = setup_load(dir);
	g_autofree BareRun *runs = g_new0(BareRun, machines);
	g_autofree GThread **threads = g_new0(GThread *, machines);
	gint64 t0 = g_get_monotonic_time();
	double seconds;

	for (guint i = 0; i < machines; i++) {
		runs[i] = (BareRun){ .fake = g_ptr_array_index(setup->machineries, 0),
				     .machine = machine_at(setup, i),
				     .with_run = TRUE,
				     .cycles = TASKS_PER_MACHINE };
		threads[i] = g_thread_new("bare", bare_worker, &runs[i]);
	}
	for (guint i = 0; i < machines; i++)
		g_thread_join(threads[i]);
	seconds = (g_get_monotonic_time() - t0) / 1e6;
	drain_main_loop();
	nbx_setup_free(setup);
	drain_main_loop();
	test_dir_remove(dir);
	return TASKS_PER_MACHINE * machines / seconds;
}

/* ---- --count: what runs under callgrind -------------------------------------------- */

static int
count_main(const char *side, guint tasks, guint machines)
{
	if (g_strcmp0(side, "core") == 0) {
		g_autofree gint64 *ids = g_new0(gint64, MAX(tasks, 1));
		Core c = { 0 };

		core_start(&c, machines);
		for (guint i = 0; i < tasks; i++)
			ids[i] = core_submit(&c);
		core_wait_final(&c, ids, tasks);
		core_stop(&c);
	} else if (g_strcmp0(side, "bare") == 0) {
		g_autofree char *dir = config_dir_new(machines);
		NbxSetup *setup = setup_load(dir);
		NbxPluginInstance *fake = g_ptr_array_index(setup->machineries, 0);

		for (guint i = 0; i < tasks; i++) {
			bare_cycle(fake, machine_at(setup, i % machines), FALSE);
			drain_main_loop();
		}
		nbx_setup_free(setup);
		drain_main_loop();
		test_dir_remove(dir);
	} else {
		g_printerr("usage: core-overhead-bench [--count core|bare TASKS MACHINES]\n");
		return 2;
	}
	return 0;
}

/* ---- callgrind ------------------------------------------------------------------------ */

/* Instructions callgrind counted in `SELF --count SIDE TASKS MACHINES`. */
static guint64
callgrind_count(const char *self, const char *side, guint tasks, guint machines)
{
	g_autofree char *dir = test_dir_new();
	g_autofree char *out = g_strdup_printf("--callgrind-out-file=%s/callgrind.out", dir);
	g_autofree char *tasks_arg = g_strdup_printf("%u", tasks);
	g_autofree char *machines_arg = g_strdup_printf("%u", machines);
	const char *argv[] = { "valgrind", "--tool=callgrind", out, self, "--count", side,
			       tasks_arg, machines_arg, NULL };
	g_autofree char *errors = NULL;
	g_autoptr(GError) error = NULL;
	const char *collected;
	int status;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
			  &errors, &status, &error))
		g_error("valgrind: %s", error->message);
	test_dir_remove(dir);
	collected = strstr(errors, "Collected : ");
	if (!g_spawn_check_wait_status(status, NULL) || collected == NULL)
		g_error("valgrind --tool=callgrind %s --count %s %u %u failed:\n%s", self, side,
			tasks, machines, errors);
	return g_ascii_strtoull(collected + strlen("Collected : "), NULL, 10);
}

typedef struct {
	double per_task[2]; /* two measurements */
	guint64 empty[2];
	guint64 full[2];
} Instructions;

static Instructions
instructions_per_task(const char *self, const char *side, guint tasks, guint machines)
{
	Instructions result = { 0 };

	for (guint i = 0; i < 2; i++) {
		result.empty[i] = callgrind_count(self, side, 0, machines);
		result.full[i] = callgrind_count(self, side, tasks, machines);
		result.per_task[i] = ((double)result.full[i] - (double)result.empty[i]) / tasks;
	}
	return result;
}

static double
mean2(const double v[2])
{
	return (v[0] + v[1]) / 2;
}

/* Half the distance between the two, as a percentage of their mean. */
static double
spread2(const double v[2])
{
	return 100 * fabs(v[0] - v[1]) / 2 / mean2(v);
}

static const char *
filesystem_of(const char *path)
{
	struct statfs fs;

	if (statfs(path, &fs) != 0)
		return "unknown";
	switch ((unsigned long)fs.f_type) {
	case 0x01021994:
		return "tmpfs (no real fsync)";
	case 0xEF53:
		return "ext2/3/4";
	case 0x9123683E:
		return "btrfs";
	case 0x58465342:
		return "xfs";
	case 0x794c7630:
		return "overlayfs";
	default:
		return "other";
	}
}

int
main(int argc, char **argv)
{
	guint tasks = env_count("NBX_BENCH_TASKS", 20);
	guint machines = MIN(env_count("NBX_BENCH_MACHINES", 4), 254);
	guint cg_tasks = env_count("NBX_BENCH_CALLGRIND_TASKS", 8);
	guint bare_cycles = MAX(tasks, BARE_CYCLES_MIN);
	g_autofree char *self = NULL;
	g_autofree char *valgrind = g_find_program_in_path("valgrind");
	g_autofree char *tps_label = NULL;
	CoreLatency core;
	double bare, core_tps, bare_tps;

	g_log_set_writer_func(quiet_writer, NULL, NULL);
	nbx_host_services_set_main_thread();
	if (argc == 5 && strcmp(argv[1], "--count") == 0)
		return count_main(argv[2], (guint)g_ascii_strtoull(argv[3], NULL, 10),
				  (guint)g_ascii_strtoull(argv[4], NULL, 10));
	if (argc != 1)
		return count_main("", 0, 0);
	self = g_file_read_link("/proc/self/exe", NULL);

	g_print("# core-overhead: fake machinery (delay_ms 0), no auxiliaries, %u s runs; "
		"store on %s (%s)\n",
		RUN_S, g_get_tmp_dir(), filesystem_of(g_get_tmp_dir()));
	bare = bare_latency(bare_cycles);
	core = core_latency(tasks);
	core_tps = core_throughput(machines);
	bare_tps = bare_throughput(machines);

	g_print("\n%-34s %14s %14s %10s\n", "metric", "core", "bare plugin", "ratio");
	g_print("%-34s %14.3f %14.4f %10.0f\n", "overhead per task, ms (median)",
		core.overhead * 1e3, bare * 1e3, core.overhead / bare);
	tps_label = g_strdup_printf("tasks/s, %u machines, %u s runs", machines, RUN_S);
	g_print("%-34s %14.3f %14.3f %10.3f\n", tps_label, core_tps, bare_tps,
		core_tps / bare_tps);
	if (valgrind == NULL) {
		g_print("%-34s skipped: valgrind is not installed (tools/install-deps.sh)\n",
			"instructions per task");
	} else if (under_asan) {
		/* Still compiled, so both builds check the same code. */
		g_print("%-34s skipped: this build has AddressSanitizer, which callgrind cannot "
			"run; use a build with -Db_sanitize=none\n",
			"instructions per task");
	} else {
		Instructions ci = instructions_per_task(self, "core", cg_tasks, machines);
		Instructions bi = instructions_per_task(self, "bare", cg_tasks, machines);

		g_print("%-34s %14.0f %14.0f %10.0f\n", "instructions per task (callgrind)",
			mean2(ci.per_task), mean2(bi.per_task),
			mean2(ci.per_task) / mean2(bi.per_task));
		g_print("\ncallgrind: (run of %u tasks - run of 0) / %u, measured twice each:\n",
			cg_tasks, cg_tasks);
		g_print("  core  %.0f and %.0f (+/- %.2f%%); runs of 0: %" G_GUINT64_FORMAT
			" and %" G_GUINT64_FORMAT "\n",
			ci.per_task[0], ci.per_task[1], spread2(ci.per_task), ci.empty[0],
			ci.empty[1]);
		g_print("  bare  %.0f and %.0f (+/- %.2f%%); runs of 0: %" G_GUINT64_FORMAT
			" and %" G_GUINT64_FORMAT "\n",
			bi.per_task[0], bi.per_task[1], spread2(bi.per_task), bi.empty[0],
			bi.empty[1]);
	}

	g_print("\ncore overhead over %u tasks, one at a time: median %.3f ms (min %.3f, max %.3f)\n",
		tasks, core.overhead * 1e3, core.min * 1e3, core.max * 1e3);
	g_print("  where (medians, ms):");
	for (guint s = 0; s < N_TIMED_STEPS; s++)
		g_print(" %s %.3f,", timed_steps[s], core.steps[s] * 1e3);
	g_print(" outside the steps %.3f\n", core.outside * 1e3);
	g_print("bare plugin: median of %u cycles of restore_start + state + stop\n", bare_cycles);
	g_print("tasks/s: %u tasks on %u machines submitted at once; bare = %u threads, each the "
		"bare ops around a %u s sleep (the ideal: %u / %u s = %.2f)\n",
		TASKS_PER_MACHINE * machines, machines, machines, RUN_S, machines, RUN_S,
		(double)machines / RUN_S);
	return 0;
}
