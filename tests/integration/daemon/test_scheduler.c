/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler and the analysis lifecycle, in process, against the "fake"
 * machinery and the test auxiliaries (tests/plugins/good), with the real
 * store. Faults the real plugins cannot produce on demand are injected
 * through the fake's machine keys.
 */
#include <gio/gio.h>
#include <signal.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "machine_pool.h"
#include "scheduler.h"
#include "store.h"
#include "test_support.h"

typedef struct {
	char *dir;
	NbxSetup *setup;
	NbxStore *store;
	NbxScheduler *scheduler;
	gboolean drained;
} Fixture;

static const char *
plugin_dir(void)
{
	return g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
}

/*
 * Writes a config dir: @core is appended to nestbox.conf, @machines is the
 * body of fake.conf's machines list, @aux the whole auxiliary.conf.
 */
static void
start(Fixture *f, const char *core, const char *machines, const char *aux)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *nestbox_conf = NULL;
	g_autofree char *fake_conf = NULL;
	g_autofree char *ledger = NULL;
	g_autofree char *store_path = NULL;

	f->dir = test_dir_new();
	ledger = g_build_filename(f->dir, "ledger", NULL);
	nestbox_conf = g_strdup_printf("machineries = [ \"fake\" ];\n"
				       "plugin_dirs = [ \"%s\" ];\n"
				       "builtin_plugin_dir = false;\n"
				       "state_dir = \"state\";\n"
				       "run_dir = \"run\";\n"
				       "analyses_dir = \"analyses\";\n"
				       "%s\n",
				       plugin_dir(), core != NULL ? core : "");
	fake_conf = g_strdup_printf("ledger = \"%s\";\nmachines = ( %s );\n", ledger, machines);
	test_write(f->dir, "nestbox.conf", nestbox_conf);
	test_write(f->dir, "machinery/fake.conf", fake_conf);
	test_write(f->dir, "auxiliary.conf",
		   aux != NULL ? aux
			       : "aux-alpha = { enabled = true; };\n"
				 "aux-beta = { enabled = true; };\n"
				 "aux-gamma = { enabled = false; };\n"
				 "aux-strict = { enabled = false; };\n");
	f->setup = nbx_setup_load(f->dir, NULL, diagnostics);
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_test_message("%s", nbx_diagnostics_get(diagnostics, i));
	g_assert_nonnull(f->setup);
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(f->setup->config->analyses_dir, 0750), ==, 0);
	store_path = g_build_filename(f->setup->config->state_dir, "nestbox.sqlite", NULL);
	f->store = nbx_store_open(store_path, &error);
	g_assert_no_error(error);
	f->scheduler = nbx_scheduler_new(f->setup, f->store, &error);
	g_assert_no_error(error);
}

static void
on_drained(gpointer data)
{
	*(gboolean *)data = TRUE;
}

/* Spins the main loop until @done says so; a hang guard, not a timing assertion. */
static void
spin_until(gboolean (*done)(Fixture *f, gpointer data), Fixture *f, gpointer data)
{
	gint64 give_up = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	while (!done(f, data)) {
		g_assert_cmpint(g_get_monotonic_time(), <, give_up);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(2000);
	}
}

static gboolean
is_idle(Fixture *f, gpointer data)
{
	return nbx_scheduler_is_idle(f->scheduler);
}

/* Shuts the scheduler down and waits until it has drained. */
static void
drain(Fixture *f)
{
	nbx_scheduler_shutdown(f->scheduler, 60, on_drained, &f->drained);
	while (!f->drained)
		g_main_context_iteration(NULL, TRUE);
	spin_until(is_idle, f, NULL);
}

static void
stop(Fixture *f)
{
	if (!f->drained)
		drain(f);
	nbx_scheduler_free(f->scheduler);
	nbx_setup_free(f->setup);
	nbx_store_close(f->store);
	test_dir_remove(f->dir);
	g_free(f->dir);
}

static NbxTask *
submit(Fixture *f, const char *machine, gint64 duration, gint64 priority)
{
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(GError) error = NULL;
	NbxTask *task;

	request->machine = g_strdup(machine);
	request->duration_s = duration;
	request->priority = priority;
	task = nbx_scheduler_submit(f->scheduler, request, NULL, &error);
	g_assert_no_error(error);
	return task;
}

static gint64
submit_id(Fixture *f, const char *machine, gint64 duration, gint64 priority)
{
	g_autoptr(NbxTask) task = submit(f, machine, duration, priority);

	return task->id;
}

static NbxTask *
get(Fixture *f, gint64 id)
{
	g_autoptr(GError) error = NULL;
	NbxTask *task = nbx_store_task_get(f->store, id, &error);

	g_assert_no_error(error);
	return task;
}

static gboolean
task_is_final(Fixture *f, gpointer data)
{
	g_autoptr(NbxTask) task = get(f, *(gint64 *)data);

	return nbx_task_state_is_final(task->state);
}

static NbxTask *
wait_final(Fixture *f, gint64 id)
{
	spin_until(task_is_final, f, &id);
	return get(f, id);
}

static JsonObject *
read_report(const NbxTask *task)
{
	g_autofree char *path = g_build_filename(task->analysis_dir, "report.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* The names of the report's steps, joined by spaces. */
static char *
step_names(JsonObject *report)
{
	JsonArray *steps = json_object_get_array_member(report, "steps");
	g_autoptr(GString) names = g_string_new(NULL);

	for (guint i = 0; i < json_array_get_length(steps); i++)
		g_string_append_printf(
			names, "%s%s", i ? " " : "",
			json_object_get_string_member(json_array_get_object_element(steps, i),
						      "name"));
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static JsonObject *
find_step(JsonObject *report, const char *name)
{
	JsonArray *steps = json_object_get_array_member(report, "steps");

	for (guint i = 0; i < json_array_get_length(steps); i++) {
		JsonObject *step = json_array_get_object_element(steps, i);

		if (g_strcmp0(json_object_get_string_member(step, "name"), name) == 0)
			return step;
	}
	g_assert_not_reached();
}

static gboolean
running_marker_exists(Fixture *f, const char *machine)
{
	g_autofree char *path =
		g_strdup_printf("%s/plugins/fake/%s.running", f->setup->config->run_dir, machine);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* RUN_DIR/NAME.OP.SUFFIX of the fake machinery: its barrier files. */
static char *
fake_run_file(Fixture *f, const char *machine, const char *op, const char *suffix)
{
	return g_strdup_printf("%s/plugins/fake/%s.%s.%s", f->setup->config->run_dir, machine, op,
			       suffix);
}

/* Stops @op of @machine at its barrier from now on (fake_machinery.c). */
static void
arm_barrier(Fixture *f, const char *machine, const char *op)
{
	g_autofree char *path = fake_run_file(f, machine, op, "barrier");

	test_write("/", path, "");
}

static void
release_barrier(Fixture *f, const char *machine, const char *op)
{
	g_autofree char *path = fake_run_file(f, machine, op, "barrier");

	g_assert_cmpint(g_unlink(path), ==, 0);
}

static gboolean
file_exists(Fixture *f, gpointer data)
{
	return g_file_test(data, G_FILE_TEST_EXISTS);
}

static gboolean
file_is_gone(Fixture *f, gpointer data)
{
	return !g_file_test(data, G_FILE_TEST_EXISTS);
}

/* Until @op of @machine waits at its barrier. */
static void
wait_barrier(Fixture *f, const char *machine, const char *op)
{
	g_autofree char *reached = fake_run_file(f, machine, op, "reached");

	spin_until(file_exists, f, reached);
}

static NbxMachineStatus *
machine_status(Fixture *f, const char *name)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(f->scheduler);

	for (guint i = 0; i < machines->len; i++) {
		NbxMachineStatus *status = g_ptr_array_index(machines, i);

		if (g_strcmp0(status->name, name) == 0)
			return g_ptr_array_steal_index(machines, i);
	}
	g_assert_not_reached();
}

#define MACHINE_AT(name, ip, extra)                                                     \
	"{ name = \"" name "\"; label = \"" name "\"; ip = \"" ip "\"; platform = \"linux\"; " extra \
	" }"
#define MACHINE(name, extra) MACHINE_AT(name, "127.0.0.1", extra)

/* ---- lifecycle ------------------------------------------------------------------ */

static void
test_lifecycle(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *names = NULL;
	g_autoptr(NbxMachineStatus) status = NULL;
	JsonArray *steps;
	const char *previous = "";

	start(&f, NULL, MACHINE("m1", ""), NULL);
	request->duration_s = 1;
	request->memory_dump = TRUE;
	request->options_json = g_strdup("{\"aux-alpha\": {\"note\": \"from the task\"}}");
	task = nbx_scheduler_submit(f.scheduler, request, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(task->state, ==, NBX_TASK_QUEUED);
	done = wait_final(&f, task->id);
	g_assert_cmpstr(nbx_task_state_name(done->state), ==, "reported");
	g_assert_null(done->reason);
	g_assert_cmpstr(done->assigned_machine, ==, "m1");
	g_assert_cmpint(done->attempts, ==, 1);
	g_assert_cmpint(done->started_us, >=, done->created_us);
	g_assert_cmpint(done->ended_us, >=, done->started_us);

	report = read_report(done);
	names = step_names(report);
	/* aux-beta has order 0, aux-alpha 2: started in that order, stopped in reverse. */
	g_assert_cmpstr(names, ==,
			"analysis_dir auxiliary.aux-beta.start auxiliary.aux-alpha.start "
			"restore_start run dump_memory stop auxiliary.aux-alpha.stop "
			"auxiliary.aux-beta.stop");
	steps = json_object_get_array_member(report, "steps");
	for (guint i = 0; i < json_array_get_length(steps); i++) {
		JsonObject *step = json_array_get_object_element(steps, i);
		const char *started = json_object_get_string_member(step, "started");
		const char *ended = json_object_get_string_member(step, "ended");

		/* Same fixed-width ISO 8601 format: text order is time order. */
		g_assert_cmpstr(started, >=, previous);
		g_assert_cmpstr(ended, >=, started);
		previous = ended;
		g_assert_true(json_object_get_boolean_member(step, "ok"));
	}
	{
		g_autofree char *dump = g_build_filename(done->analysis_dir, "memory.dmp", NULL);
		g_autofree char *contents = NULL;

		g_assert_true(g_file_get_contents(dump, &contents, NULL, NULL));
		g_assert_cmpstr(contents, ==, "fake memory of m1");
	}
	g_assert_cmpfloat(json_object_get_double_member(find_step(report, "run"), "duration_s"),
			  >=, 1.0);
	g_assert_cmpstr(json_object_get_string_member(report, "result"), ==, "reported");
	g_assert_cmpstr(json_object_get_string_member(
				json_object_get_object_member(
					json_object_get_object_member(
						json_object_get_object_member(report, "auxiliaries"),
						"aux-alpha"),
					"result"),
				"note"),
			==, "from the task");
	g_assert_cmpstr(json_object_get_string_member(
				json_object_get_object_member(report, "machine"), "machinery"),
			==, "fake");

	g_assert_false(running_marker_exists(&f, "m1"));
	status = machine_status(&f, "m1");
	g_assert_cmpstr(status->activity, ==, "idle");
	g_assert_null(status->disabled_reason);
	g_assert_cmpstr(status->state, ==, "poweroff");
	stop(&f);
}

/*
 * machinery.h: with state events, the core asks `state` once per machine
 * at start, so `nestbox machines` tells the truth before the first run.
 */
static void
test_state_asked_at_start(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxMachineStatus) status = NULL;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	status = machine_status(&f, "m1");
	g_assert_cmpstr(status->state, ==, "poweroff");
	stop(&f);
}

static gboolean
setup_is(Fixture *f, gpointer data)
{
	return nbx_scheduler_get_setup(f->scheduler) == data;
}

/*
 * machinery.h: a reload makes a new instance with new machine structs; the
 * old instance gets free_machine for each of its own, still valid, before
 * its shutdown.
 */
static void
test_reload_new_machines(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_auto(GStrv) old = NULL;
	g_auto(GStrv) new = NULL;
	g_autoptr(GError) error = NULL;
	NbxSetup *reloaded;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	path = g_build_filename(f.dir, "ledger.lifecycle", NULL);
	/* Two reloads: the first ends the first instance, the second the second. */
	for (int round = 0; round < 2; round++) {
		reloaded = nbx_setup_load(f.dir, NULL, diagnostics);
		g_assert_nonnull(reloaded);
		g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
		nbx_scheduler_replace_setup(f.scheduler, reloaded);
		spin_until(setup_is, &f, reloaded);
		f.setup = reloaded;
	}
	/* Each instance freed its own machine, then shut down. */
	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 5);
	old = g_strsplit(lines[0], " ", -1);
	new = g_strsplit(lines[2], " ", -1);
	g_assert_cmpstr(old[0], ==, "free_machine");
	g_assert_cmpstr(old[1], ==, "m1");
	g_assert_true(g_str_has_prefix(lines[1], "shutdown -"));
	g_assert_cmpstr(new[0], ==, "free_machine");
	g_assert_cmpstr(new[1], ==, "m1");
	g_assert_true(g_str_has_prefix(lines[3], "shutdown -"));
	/* A new struct for the same machine (the old one was still allocated when
	 * the new instance made its own, so the addresses cannot coincide). */
	g_assert_cmpstr(new[2], !=, old[2]);
	stop(&f);
}

/* Submits @options; NULL when refused, with the refusal in @message. */
static NbxTask *
submit_options(Fixture *f, const char *options, char **message)
{
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(GError) error = NULL;
	NbxTask *task;

	request->machine = g_strdup("m1");
	request->duration_s = 1;
	request->options_json = g_strdup(options);
	task = nbx_scheduler_submit(f->scheduler, request, NULL, &error);
	if (task == NULL) {
		g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID);
		*message = g_strdup(error->message);
	}
	return task;
}

static void
assert_refused(Fixture *f, const char *options, const char *message)
{
	g_autofree char *got = NULL;
	g_autoptr(NbxTask) task = submit_options(f, options, &got);

	g_assert_null(task);
	g_assert_cmpstr(got, ==, message);
}

/*
 * ABI 1.2: a plugin's task_schema types, bounds and defaults its per-task
 * options at submission, its check_task says what a schema cannot, and the
 * plugin reads them typed.
 */
static void
test_task_options_typed(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *message = NULL;
	JsonObject *strict;

	start(&f, NULL, MACHINE("m1", ""), "aux-strict = { enabled = true; must_set = \"x\"; };\n");
	assert_refused(&f, "{\"aux-strict\": {\"depth\": \"9\"}}",
		       "options.aux-strict.depth: must be between 1 and 5, found 9");
	assert_refused(&f, "{\"aux-strict\": {\"depth\": \"deep\"}}",
		       "options.aux-strict.depth: not an integer: "
		       "\u201cdeep\u201d is not a signed number");
	assert_refused(&f, "{\"aux-strict\": {\"colour\": \"red\"}}",
		       "options.aux-strict.colour: plugin aux-strict has no such per-task option");
	assert_refused(&f, "{\"aux-strict\": {\"mode\": \"slow\", \"depth\": 4}}",
		       "options.aux-strict.depth: mode slow takes a depth of at most 3, found 4");
	assert_refused(&f, "{\"aux-strict\": {\"depth\": [1]}}",
		       "options.aux-strict.depth: must be a string, an integer or a boolean");
	/* A JSON integer is taken as one, and reaches the plugin typed. */
	task = submit_options(&f, "{\"aux-strict\": {\"depth\": 4}}", &message);
	g_assert_null(message);
	done = wait_final(&f, task->id);
	g_assert_cmpstr(nbx_task_state_name(done->state), ==, "reported");
	report = read_report(done);
	strict = json_object_get_object_member(
		json_object_get_object_member(json_object_get_object_member(report, "auxiliaries"),
					      "aux-strict"),
		"result");
	g_assert_cmpstr(json_object_get_string_member(strict, "depth"), ==, "4");
	stop(&f);
}

static void
test_unserviceable(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) stored = NULL;
	g_autoptr(GError) error = NULL;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	request->platform = g_strdup("plan9");
	task = nbx_scheduler_submit(f.scheduler, request, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(task->state, ==, NBX_TASK_FAILED);
	g_assert_cmpstr(task->reason, ==, "no configured machine matches platform=plan9");
	stored = get(&f, task->id);
	g_assert_cmpint(stored->state, ==, NBX_TASK_FAILED);

	/* Invalid requests store nothing. */
	g_clear_pointer(&task, nbx_task_free);
	g_free(request->platform);
	request->platform = NULL;
	request->options_json = g_strdup("{\"nosuch\": {}}");
	task = nbx_scheduler_submit(f.scheduler, request, NULL, &error);
	g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID);
	g_assert_cmpstr(error->message, ==,
			"options.nosuch: no auxiliary or guest plugin named \"nosuch\" is enabled");
	g_assert_null(task);
	g_clear_error(&error);
	g_free(request->options_json);
	request->options_json = NULL;
	request->duration_s = 999999;
	task = nbx_scheduler_submit(f.scheduler, request, NULL, &error);
	g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID);
	g_assert_true(g_str_has_prefix(error->message, "duration: "));
	{
		g_autoptr(GPtrArray) all = nbx_store_task_list(f.store, -1, 0, 0, NULL);

		g_assert_cmpuint(all->len, ==, 1);
	}
	stop(&f);
}

/* ---- timeouts ------------------------------------------------------------------- */

/*
 * An op that ignores its deadline is abandoned and its machine stays locked;
 * once the op returns, the machine is stopped and says so (what it shows
 * is true now: not "starting", not "locked until it does").
 */
static void
check_abandoned(const char *fault, const char *op, const char *activity_while_hung,
		NbxTaskState task_state)
{
	Fixture f = { 0 };
	g_autofree char *core = g_strdup_printf("timeouts = { %s = 1; };\nscheduler = { op_grace = 1; };",
						g_str_equal(op, "stop") ? "stop" : "restore");
	g_autofree char *machine = g_strdup_printf(MACHINE("m1", "fault = \"%s\";"), fault);
	g_autofree char *abandoned = g_strdup_printf(
		"fake: machine m1: %s did not return within 1 s (its deadline) and was abandoned", op);
	g_autofree char *wedged = g_strdup_printf(
		"an operation on it did not return (%s); it stays locked until it does", abandoned);
	g_autofree char *returned = g_strdup_printf(
		"an operation on it returned only after it was abandoned (%s); the machine was "
		"stopped since",
		abandoned);
	g_autofree char *stopped = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(NbxMachineStatus) hung = NULL;
	g_autoptr(NbxMachineStatus) after = NULL;

	start(&f, core, machine, NULL);
	done = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(done->state, ==, task_state);
	if (task_state == NBX_TASK_FAILED)
		g_assert_cmpstr(done->reason, ==, abandoned);
	/* The auxiliaries were still stopped. */
	stopped = g_build_filename(done->analysis_dir, "aux-alpha.stopped", NULL);
	g_assert_true(g_file_test(stopped, G_FILE_TEST_EXISTS));
	/* The op still hangs at its barrier: nothing else may run on the machine. */
	hung = machine_status(&f, "m1");
	g_assert_cmpstr(hung->disabled_reason, ==, wedged);
	g_assert_cmpstr(hung->activity, ==, activity_while_hung);
	g_assert_false(nbx_scheduler_is_idle(f.scheduler));

	release_barrier(&f, "m1", op);
	spin_until(is_idle, &f, NULL);
	after = machine_status(&f, "m1");
	g_assert_cmpstr(after->disabled_reason, ==, returned);
	g_assert_cmpstr(after->activity, ==, "idle");
	g_assert_false(running_marker_exists(&f, "m1"));
	stop(&f);
}

static void
test_timeout_restore_hangs(void)
{
	check_abandoned("restore_hangs", "restore_start", "starting", NBX_TASK_FAILED);
}

static void
test_timeout_restore_deadline(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *names = NULL;
	g_autoptr(NbxMachineStatus) status = NULL;

	/* The op returns at its deadline: a grace that only a hang could use up. */
	start(&f, "timeouts = { restore = 1; };\nscheduler = { op_grace = 120; };",
	      MACHINE("m1", "fault = \"restore_times_out\";"), NULL);
	task = submit(&f, "m1", 1, 0);
	done = wait_final(&f, task->id);
	g_assert_cmpint(done->state, ==, NBX_TASK_FAILED);
	g_assert_cmpstr(done->reason, ==,
			"fake: machine m1: restore_start: the hypervisor did not answer before the "
			"deadline");
	report = read_report(done);
	names = step_names(report);
	/* After a failed restore the machine is still stopped, then the auxiliaries. */
	g_assert_true(strstr(names, "restore_start stop auxiliary.aux-alpha.stop") != NULL);
	status = machine_status(&f, "m1");
	g_assert_null(status->disabled_reason);
	g_assert_cmpint(status->failures, ==, 1);
	stop(&f);
}

static guint16
unused_port(void)
{
	g_autoptr(GSocket) socket =
		g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_true(g_socket_bind(socket, any, TRUE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
test_timeout_agent(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autofree char *machine = NULL;
	g_autofree char *expected = NULL;
	guint16 port = unused_port();

	machine = g_strdup_printf(MACHINE("m1", "agent_port = %u;"), port);
	start(&f, "timeouts = { agent = 1; };", machine, NULL);
	task = submit(&f, "m1", 1, 0);
	done = wait_final(&f, task->id);
	g_assert_cmpint(done->state, ==, NBX_TASK_FAILED);
	expected = g_strdup_printf("the guest agent at 127.0.0.1:%u did not answer within 1 s",
				   port);
	g_assert_true(g_str_has_prefix(done->reason, expected));
	g_assert_false(running_marker_exists(&f, "m1"));
	stop(&f);
}

static void
test_agent_answers(void)
{
	Fixture f = { 0 };
	g_autoptr(GSocketListener) listener = g_socket_listener_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *machine = NULL;
	g_autoptr(GError) error = NULL;
	guint16 port = g_socket_listener_add_any_inet_port(listener, NULL, &error);

	g_assert_no_error(error);
	machine = g_strdup_printf(MACHINE("m1", "agent_port = %u;"), port);
	start(&f, "timeouts = { agent = 30; };", machine, NULL);
	task = submit(&f, "m1", 1, 0);
	done = wait_final(&f, task->id);
	g_assert_cmpstr(done->reason, ==, NULL);
	report = read_report(done);
	g_assert_true(json_object_get_boolean_member(find_step(report, "agent"), "ok"));
	stop(&f);
}

/* The results are complete; the machine is what cannot be trusted. */
static void
test_timeout_stop(void)
{
	check_abandoned("stop_hangs", "stop", "stopping", NBX_TASK_REPORTED);
}

static void
check_acpi(const char *fault, gboolean powers_off)
{
	Fixture f = { 0 };
	g_autofree char *machine = g_strdup_printf(MACHINE("m1", "fault = \"%s\";"), fault);
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *names = NULL;
	JsonObject *wait;

	g_autofree char *core = g_strdup_printf(
		"scheduler = { stop_method = \"acpi\"; };\ntimeouts = { acpi_stop = %d; };",
		/* A guest that powers off is waited for; one that ignores the button, 1 s. */
		powers_off ? 600 : 1);

	start(&f, core, machine, NULL);
	done = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	report = read_report(done);
	names = step_names(report);
	g_assert_true(strstr(names, "run acpi_stop acpi_stop.wait stop auxiliary") != NULL);
	wait = find_step(report, "acpi_stop.wait");
	g_assert_cmpint(json_object_get_boolean_member(wait, "ok"), ==, powers_off);
	if (!powers_off)
		g_assert_cmpstr(json_object_get_string_member(wait, "error"), ==,
				"the guest did not power off in time; pulling the plug");
	g_assert_false(running_marker_exists(&f, "m1"));
	stop(&f);
}

static void
test_acpi_stop(void)
{
	check_acpi("none", TRUE);
}

static void
test_acpi_stop_ignored(void)
{
	check_acpi("ignores_acpi", FALSE);
}

static void
test_dump_fails(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autoptr(GError) error = NULL;

	start(&f, NULL, MACHINE("m1", "fault = \"dump_fails\";"), NULL);
	request->duration_s = 1;
	request->memory_dump = TRUE;
	task = nbx_scheduler_submit(f.scheduler, request, NULL, &error);
	g_assert_no_error(error);
	done = wait_final(&f, task->id);
	/* A failed dump costs the dump, not the analysis. */
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	report = read_report(done);
	g_assert_cmpstr(json_object_get_string_member(find_step(report, "dump_memory"), "error"),
			==, "fake: machine m1: dump_memory: injected dump failure");
	stop(&f);
}

/* ---- auxiliaries ----------------------------------------------------------------- */

static void
run_with_failing_aux(const char *fault, gboolean required, const char *core)
{
	Fixture f = { 0 };
	g_autofree char *aux = g_strdup_printf(
		"aux-alpha = { enabled = true; fault = \"%s\"; required = %s; };\n"
		"aux-beta = { enabled = true; };\n"
		"aux-gamma = { enabled = false; };\n"
		"aux-strict = { enabled = false; };\n",
		fault, required ? "true" : "false");
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *names = NULL;
	g_autofree char *beta_stopped = NULL;
	JsonObject *alpha;

	start(&f, core, MACHINE("m1", ""), aux);
	task = submit(&f, "m1", 1, 0);
	done = wait_final(&f, task->id);
	report = read_report(done);
	names = step_names(report);
	alpha = json_object_get_object_member(json_object_get_object_member(report, "auxiliaries"),
					      "aux-alpha");
	g_assert_false(json_object_get_boolean_member(alpha, "started"));
	g_assert_false(json_object_has_member(alpha, "stopped"));
	beta_stopped = g_build_filename(done->analysis_dir, "aux-beta.stopped", NULL);
	g_assert_true(g_file_test(beta_stopped, G_FILE_TEST_EXISTS));
	if (required) {
		g_assert_cmpint(done->state, ==, NBX_TASK_FAILED);
		g_assert_true(g_str_has_prefix(done->reason, "required auxiliary aux-alpha did not start: aux-alpha: start: "));
		/* The machine was never touched. */
		g_assert_cmpstr(names, ==,
				"analysis_dir auxiliary.aux-beta.start auxiliary.aux-alpha.start "
				"auxiliary.aux-beta.stop");
	} else {
		g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
		g_assert_cmpstr(names, ==,
				"analysis_dir auxiliary.aux-beta.start auxiliary.aux-alpha.start "
				"restore_start run stop auxiliary.aux-beta.stop");
	}
	if (g_str_equal(fault, "hang_start")) {
		/* The abandoned start still hangs: let it return before the plugin goes. */
		g_autofree char *reached = g_strdup_printf("%s/plugins/aux-alpha/start.reached",
							   f.setup->config->run_dir);
		g_autofree char *barrier = g_strdup_printf("%s/plugins/aux-alpha/start.barrier",
							   f.setup->config->run_dir);

		g_assert_true(g_file_test(reached, G_FILE_TEST_EXISTS));
		g_assert_cmpint(g_unlink(barrier), ==, 0);
		spin_until(file_is_gone, &f, reached);
	}
	stop(&f);
}

static void
test_aux_fails(void)
{
	run_with_failing_aux("fail_start", FALSE, NULL);
}

static void
test_aux_fails_required(void)
{
	run_with_failing_aux("fail_start", TRUE, NULL);
}

static void
test_aux_hangs(void)
{
	run_with_failing_aux("hang_start", FALSE,
			     "timeouts = { auxiliary_start = 1; };\nscheduler = { op_grace = 0; };");
}

/* A start given up on that succeeds after all still gets its stop. */
static void
test_aux_late_start(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) done = NULL;
	g_autofree char *stopped = NULL;
	g_autofree char *barrier = NULL;

	start(&f, "timeouts = { auxiliary_start = 1; };\nscheduler = { op_grace = 0; };",
	      MACHINE("m1", ""),
	      "aux-alpha = { enabled = true; fault = \"slow_start\"; };\n"
	      "aux-beta = { enabled = false; };\naux-gamma = { enabled = false; };\n"
	      "aux-strict = { enabled = false; };\n");
	done = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	stopped = g_build_filename(done->analysis_dir, "aux-alpha.stopped", NULL);
	g_assert_false(g_file_test(stopped, G_FILE_TEST_EXISTS));
	/* The start hangs at its barrier until now, long after it was given up on. */
	barrier = g_strdup_printf("%s/plugins/aux-alpha/start.barrier", f.setup->config->run_dir);
	g_assert_cmpint(g_unlink(barrier), ==, 0);
	spin_until(file_exists, &f, stopped);
	stop(&f);
}

/* ---- machines --------------------------------------------------------------------- */

typedef struct {
	gint64 id;
	const char *reason;
} ReasonWanted;

static gboolean
task_has_reason(Fixture *f, gpointer data)
{
	ReasonWanted *wanted = data;
	g_autoptr(NbxTask) task = get(f, wanted->id);

	return g_strcmp0(task->reason, wanted->reason) == 0;
}

/* Until task @id's stored reason is @reason (a hang guard only, like spin_until). */
static void
wait_reason(Fixture *f, gint64 id, const char *reason)
{
	ReasonWanted wanted = { .id = id, .reason = reason };
	gint64 give_up = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	while (!task_has_reason(f, &wanted)) {
		if (g_get_monotonic_time() > give_up) {
			g_autoptr(NbxTask) task = get(f, id);

			g_error("task %" G_GINT64_FORMAT ": reason \"%s\", not \"%s\"", id,
				task->reason, reason);
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(2000);
	}
}

/*
 * A queued task says why it waits, as it is now: the machine busy, then
 * disabled under it, then enabled again.
 */
static void
test_waiting_reason(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) first = NULL;
	g_autoptr(NbxTask) second = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(GError) error = NULL;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	arm_barrier(&f, "m1", "stop");
	first = submit(&f, "m1", 1, 0);
	wait_barrier(&f, "m1", "stop");
	second = submit(&f, "m1", 1, 0);
	wait_reason(&f, second->id, "waiting: no machine matching name=m1 is free: 1 in use, 0 disabled");
	g_assert_true(nbx_scheduler_set_machine_disabled(f.scheduler, "m1", "disk full", &error));
	wait_reason(&f, second->id,
		    "waiting: no machine matching name=m1 is free: 0 in use, 1 disabled (m1: disk "
		    "full)");
	release_barrier(&f, "m1", "stop");
	done = wait_final(&f, first->id);
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	g_clear_pointer(&done, nbx_task_free);
	/* Still disabled: it still waits, for that reason. */
	wait_reason(&f, second->id,
		    "waiting: no machine matching name=m1 is free: 0 in use, 1 disabled (m1: disk "
		    "full)");
	g_assert_true(nbx_scheduler_set_machine_disabled(f.scheduler, "m1", NULL, &error));
	done = wait_final(&f, second->id);
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	g_assert_null(done->reason);
	stop(&f);
}

static void
test_disable_enable(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) first = NULL;
	g_autoptr(NbxTask) second = NULL;
	g_autoptr(NbxTask) third = NULL;
	g_autoptr(NbxMachineStatus) status = NULL;
	g_autoptr(GError) error = NULL;

	start(&f, "scheduler = { machine_failure_limit = 2; };",
	      MACHINE("m1", "fault = \"restore_fails\";"), NULL);
	first = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(first->state, ==, NBX_TASK_FAILED);
	second = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(second->state, ==, NBX_TASK_FAILED);
	status = machine_status(&f, "m1");
	g_assert_cmpstr(status->disabled_reason, ==,
			"disabled after 2 failed operations in a row; last: fake: machine m1: "
			"restore_start: injected failure");

	/* A disabled machine takes no task: this one waits, and says why... */
	third = submit(&f, "m1", 1, 0);
	wait_reason(&f, third->id,
		    "waiting: no machine matching name=m1 is free: 0 in use, 1 disabled (m1: "
		    "disabled after 2 failed operations in a row; last: fake: machine m1: "
		    "restore_start: injected failure)");
	g_clear_pointer(&third, nbx_task_free);
	third = get(&f, 3);
	g_assert_cmpint(third->state, ==, NBX_TASK_QUEUED);
	g_assert_cmpint(third->attempts, ==, 0);

	/* ...until the machine is enabled again. */
	g_assert_true(nbx_scheduler_set_machine_disabled(f.scheduler, "m1", NULL, &error));
	g_assert_no_error(error);
	g_clear_pointer(&third, nbx_task_free);
	third = wait_final(&f, 3);
	g_assert_cmpint(third->attempts, ==, 1);
	g_assert_false(nbx_scheduler_set_machine_disabled(f.scheduler, "nosuch", NULL, &error));
	g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND);
	stop(&f);
}

static void
test_stop_fails(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(NbxMachineStatus) status = NULL;

	start(&f, NULL, MACHINE("m1", "fault = \"stop_fails\";"), NULL);
	done = wait_final(&f, submit_id(&f, "m1", 1, 0));
	/* The results are complete; the machine is what cannot be trusted. */
	g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
	status = machine_status(&f, "m1");
	g_assert_cmpstr(status->disabled_reason, ==,
			"fake: machine m1: stop: injected stop failure; it may still be running");
	g_assert_cmpstr(status->activity, ==, "stopping");
	stop(&f);
}

/* @death_ms 0: the machine dies before its restore_start returns. */
static void
check_dies(gboolean retry, int death_ms)
{
	Fixture f = { 0 };
	g_autofree char *core = g_strdup_printf(
		"scheduler = { retry_on_machine_death = %s; max_attempts = 2; };",
		retry ? "true" : "false");
	g_autofree char *machine =
		g_strdup_printf(MACHINE("m1", "fault = \"dies_while_running\"; death_ms = %d;"),
				death_ms);
	g_autoptr(NbxTask) done = NULL;
	g_autofree char *aside = NULL;

	start(&f, core, machine, NULL);
	done = wait_final(&f, submit_id(&f, "m1", 30, 0));
	g_assert_cmpint(done->state, ==, NBX_TASK_FAILED);
	g_assert_cmpstr(done->reason, ==,
			"machine m1 went poweroff during the analysis: killed from outside");
	g_assert_cmpint(done->attempts, ==, retry ? 2 : 1);
	/* The first attempt's directory is kept beside the second's. */
	aside = g_strdup_printf("%s.attempt-1", done->analysis_dir);
	g_assert_cmpint(g_file_test(aside, G_FILE_TEST_IS_DIR), ==, retry);
	g_assert_false(running_marker_exists(&f, "m1"));
	stop(&f);
}

static void
test_machine_dies_retried(void)
{
	check_dies(TRUE, 300);
}

static void
test_machine_dies_not_retried(void)
{
	check_dies(FALSE, 300);
}

/* However late the core sees the restore end, a death before that is not missed. */
static void
test_machine_dies_during_restore(void)
{
	check_dies(TRUE, 0);
}

static void
test_paused(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) resumed = NULL;
	g_autoptr(NbxTask) stuck = NULL;
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *names = NULL;

	start(&f, NULL,
	      MACHINE("m1", "fault = \"comes_back_paused\";") ", " MACHINE_AT(
		      "m2", "127.0.0.2", "fault = \"paused_unresumable\";"),
	      NULL);
	resumed = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(resumed->state, ==, NBX_TASK_REPORTED);
	report = read_report(resumed);
	names = step_names(report);
	g_assert_true(strstr(names, "restore_start handle_paused run") != NULL);
	stuck = wait_final(&f, submit_id(&f, "m2", 1, 0));
	g_assert_cmpint(stuck->state, ==, NBX_TASK_FAILED);
	g_assert_cmpstr(stuck->reason, ==,
			"fake: machine m2: handle_paused: paused after an I/O error: not resumable");
	g_assert_false(running_marker_exists(&f, "m2"));
	stop(&f);
}

/* ---- scheduling -------------------------------------------------------------------- */

typedef struct {
	char *op;
	char *machine;
	gint64 begin;
	gint64 end;
} Interval;

static void
interval_free(Interval *interval)
{
	g_free(interval->op);
	g_free(interval->machine);
	g_free(interval);
}

/* The ledger's begin/end pairs; asserts every machine's ops alternate. */
static GPtrArray *
read_ledger(Fixture *f)
{
	g_autofree char *path = g_build_filename(f->dir, "ledger", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GHashTable) open = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GPtrArray *intervals = g_ptr_array_new_with_free_func((GDestroyNotify)interval_free);
	g_autoptr(GError) error = NULL;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line != NULL && **line != '\0'; line++) {
		g_auto(GStrv) words = g_strsplit(*line, " ", 4);
		Interval *interval;

		g_assert_cmpuint(g_strv_length(words), ==, 4);
		if (g_strcmp0(words[0], "begin") == 0) {
			/* Ops on one machine never overlap. */
			g_assert_false(g_hash_table_contains(open, words[2]));
			interval = g_new0(Interval, 1);
			interval->op = g_strdup(words[1]);
			interval->machine = g_strdup(words[2]);
			interval->begin = g_ascii_strtoll(words[3], NULL, 10);
			g_hash_table_insert(open, g_strdup(words[2]), interval);
			g_ptr_array_add(intervals, interval);
		} else {
			interval = g_hash_table_lookup(open, words[2]);
			g_assert_nonnull(interval);
			g_assert_cmpstr(interval->op, ==, words[1]);
			interval->end = g_ascii_strtoll(words[3], NULL, 10);
			g_hash_table_remove(open, words[2]);
		}
	}
	g_assert_cmpuint(g_hash_table_size(open), ==, 0);
	return intervals;
}

static guint
count_ops(GPtrArray *intervals, const char *op)
{
	guint n = 0;

	for (guint i = 0; i < intervals->len; i++)
		n += g_strcmp0(((Interval *)g_ptr_array_index(intervals, i))->op, op) == 0;
	return n;
}

/* Whether two restore_start calls ever ran at the same time. */
static gboolean
restores_overlap(GPtrArray *intervals)
{
	for (guint i = 0; i < intervals->len; i++) {
		Interval *a = g_ptr_array_index(intervals, i);

		for (guint j = i + 1; j < intervals->len; j++) {
			Interval *b = g_ptr_array_index(intervals, j);

			if (g_strcmp0(a->op, "restore_start") == 0 &&
			    g_strcmp0(b->op, "restore_start") == 0 && a->begin < b->end &&
			    b->begin < a->end)
				return TRUE;
		}
	}
	return FALSE;
}

static gboolean
some_task_waits_for_a_restore_slot(Fixture *f, gpointer data)
{
	g_autoptr(GPtrArray) events = nbx_store_event_list(f->store, 0, NULL);

	for (guint i = 0; i < events->len; i++) {
		NbxStoredEvent *event = g_ptr_array_index(events, i);

		if (g_strcmp0(event->kind, "restore.waiting") == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
restore_reached(Fixture *f, const char *machine)
{
	g_autofree char *reached = fake_run_file(f, machine, "restore_start", "reached");

	return g_file_test(reached, G_FILE_TEST_EXISTS);
}

static gboolean
one_restore_waits(Fixture *f, gpointer data)
{
	return restore_reached(f, "m1") || restore_reached(f, "m2");
}

/*
 * Both machines' restores held at their barriers: with two slots both get
 * there at once; with one, the second analysis waits for the slot (and says
 * so) while the first restore is held.
 */
static void
check_concurrency(gint64 restore_cap, gboolean expect_overlap)
{
	Fixture f = { 0 };
	g_autofree char *core =
		g_strdup_printf("scheduler = { max_concurrent_restores = %" G_GINT64_FORMAT "; };",
				restore_cap);
	g_autoptr(GPtrArray) intervals = NULL;
	g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	gint64 ids[6];

	start(&f, core, MACHINE("m1", "") ", " MACHINE_AT("m2", "127.0.0.2", ""), NULL);
	arm_barrier(&f, "m1", "restore_start");
	arm_barrier(&f, "m2", "restore_start");
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autoptr(NbxTask) task = submit(&f, NULL, 1, 0);

		ids[i] = task->id;
	}
	if (expect_overlap) {
		wait_barrier(&f, "m1", "restore_start");
		wait_barrier(&f, "m2", "restore_start");
	} else {
		spin_until(one_restore_waits, &f, NULL);
		spin_until(some_task_waits_for_a_restore_slot, &f, NULL);
		g_assert_false(restore_reached(&f, "m1") && restore_reached(&f, "m2"));
	}
	release_barrier(&f, "m1", "restore_start");
	release_barrier(&f, "m2", "restore_start");
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autoptr(NbxTask) done = wait_final(&f, ids[i]);

		g_assert_cmpint(done->state, ==, NBX_TASK_REPORTED);
		g_hash_table_add(used, g_strdup(done->assigned_machine));
	}
	/* Both machines served tasks. */
	g_assert_cmpuint(g_hash_table_size(used), ==, 2);
	intervals = read_ledger(&f);
	/* A restore and a stop per task; the prepares of idle machines come and go beside them. */
	g_assert_cmpuint(count_ops(intervals, "restore_start") + count_ops(intervals, "stop"), ==,
			 12);
	g_assert_cmpint(restores_overlap(intervals), ==, expect_overlap);
	stop(&f);
}


/* ---- prepared runs (ABI 1.2 prepare / discard) ---------------------------------------- */

static char *
prepared_file(Fixture *f, const char *machine)
{
	return g_strdup_printf("%s/plugins/fake/%s.prepared", f->setup->config->run_dir, machine);
}

/* How many times the ledger says @op began on @machine. */
static guint
ledger_count(Fixture *f, const char *op, const char *machine)
{
	g_autofree char *path = g_build_filename(f->dir, "ledger", NULL);
	g_autofree char *text = NULL;
	g_autofree char *needle = g_strdup_printf("begin %s %s ", op, machine);
	guint n = 0;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

typedef struct {
	const char *op;
	guint count;
} LedgerWant;

static gboolean
ledger_reaches(Fixture *f, gpointer data)
{
	LedgerWant *want = data;

	return ledger_count(f, want->op, "m1") >= want->count;
}

/*
 * An idle machine is prepared; an analysis uses the run (restore_start
 * after prepare, never beside it) and the machine is prepared again; a
 * disable, a reload and a shutdown each discard it.
 */
static void
test_prepare_lifecycle(void)
{
	Fixture f = { 0 };
	g_autofree char *prepared = NULL;
	g_autoptr(GPtrArray) intervals = NULL;
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(GError) error = NULL;
	LedgerWant discards = { "discard", 0 };
	NbxSetup *next;
	gint64 id;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	prepared = prepared_file(&f, "m1");
	spin_until(file_exists, &f, prepared);
	id = submit_id(&f, "m1", 1, 0);
	{
		g_autoptr(NbxTask) task = wait_final(&f, id);

		g_assert_cmpint(task->state, ==, NBX_TASK_REPORTED);
	}
	/* Ready again for the next task. */
	spin_until(file_exists, &f, prepared);
	intervals = read_ledger(&f);
	g_assert_cmpstr(((Interval *)g_ptr_array_index(intervals, 0))->op, ==, "prepare");
	g_assert_cmpuint(count_ops(intervals, "prepare"), >=, 2);

	g_assert_true(nbx_scheduler_set_machine_disabled(f.scheduler, "m1", "by the test", &error));
	spin_until(file_is_gone, &f, prepared);
	discards.count = 1;
	spin_until(ledger_reaches, &f, &discards);
	g_assert_true(nbx_scheduler_set_machine_disabled(f.scheduler, "m1", NULL, &error));
	spin_until(file_exists, &f, prepared);

	/* A reload: the old instance's run is discarded, the new one prepares its own. */
	next = nbx_setup_load(f.dir, NULL, diagnostics);
	g_assert_nonnull(next);
	nbx_scheduler_replace_setup(f.scheduler, next);
	discards.count = 2;
	spin_until(ledger_reaches, &f, &discards);
	spin_until(file_exists, &f, prepared);
	/* The scheduler freed the old setup at the swap. */
	f.setup = nbx_scheduler_get_setup(f.scheduler);

	drain(&f);
	g_assert_false(g_file_test(prepared, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(ledger_count(&f, "discard", "m1"), ==, 3);
	stop(&f);
}

/* A prepare that fails is not tried again until the machine has run. */
static void
test_prepare_failure(void)
{
	Fixture f = { 0 };
	LedgerWant first = { "prepare", 1 }, second = { "prepare", 2 };
	g_autoptr(GPtrArray) intervals = NULL;
	guint before_restore = 0;
	gint64 id;

	start(&f, NULL, MACHINE("m1", "fault = \"prepare_fails\";"), NULL);
	spin_until(ledger_reaches, &f, &first);
	id = submit_id(&f, "m1", 1, 0);
	{
		g_autoptr(NbxTask) task = wait_final(&f, id);

		g_assert_cmpint(task->state, ==, NBX_TASK_REPORTED);
	}
	spin_until(ledger_reaches, &f, &second);
	intervals = read_ledger(&f);
	for (guint i = 0; i < intervals->len; i++) {
		Interval *interval = g_ptr_array_index(intervals, i);

		if (g_strcmp0(interval->op, "restore_start") == 0)
			break;
		before_restore += g_strcmp0(interval->op, "prepare") == 0;
	}
	g_assert_cmpuint(before_restore, ==, 1);
	stop(&f);
}

static void
test_concurrency_parallel(void)
{
	check_concurrency(2, TRUE);
}

static void
test_concurrency_restore_cap(void)
{
	check_concurrency(1, FALSE);
}

static void
test_priority(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) low1 = NULL;
	g_autoptr(NbxTask) low2 = NULL;
	g_autoptr(NbxTask) high = NULL;
	g_autoptr(NbxTask) a = NULL;
	g_autoptr(NbxTask) b = NULL;
	g_autoptr(NbxTask) c = NULL;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	/* Submitted before the main loop runs: the first pass sees all three. */
	low1 = submit(&f, "m1", 1, 0);
	low2 = submit(&f, "m1", 1, 0);
	high = submit(&f, "m1", 1, 5);
	a = wait_final(&f, low1->id);
	b = wait_final(&f, low2->id);
	c = wait_final(&f, high->id);
	g_assert_cmpint(c->started_us, <, a->started_us);
	g_assert_cmpint(a->started_us, <, b->started_us);
	stop(&f);
}

static gboolean
task_is_running(Fixture *f, gpointer data)
{
	g_autoptr(NbxTask) task = get(f, *(gint64 *)data);

	return task->state == NBX_TASK_RUNNING && g_strcmp0(task->step, "run") == 0;
}

static void
test_cancel(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) running = NULL;
	g_autoptr(NbxTask) queued = NULL;
	g_autoptr(NbxTask) done = NULL;
	g_autoptr(NbxTask) done_queued = NULL;
	g_autoptr(GError) error = NULL;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	running = submit(&f, "m1", 600, 0);
	queued = submit(&f, "m1", 600, 0);
	spin_until(task_is_running, &f, &running->id);
	g_assert_true(nbx_scheduler_cancel(f.scheduler, queued->id, &error));
	g_assert_no_error(error);
	done_queued = get(&f, queued->id);
	g_assert_cmpint(done_queued->state, ==, NBX_TASK_CANCELLED);
	g_assert_cmpint(done_queued->attempts, ==, 0);

	g_assert_true(nbx_scheduler_cancel(f.scheduler, running->id, &error));
	done = wait_final(&f, running->id);
	g_assert_cmpint(done->state, ==, NBX_TASK_CANCELLED);
	g_assert_cmpstr(done->reason, ==, "cancelled by the operator");
	g_assert_false(running_marker_exists(&f, "m1"));

	g_assert_false(nbx_scheduler_cancel(f.scheduler, running->id, &error));
	g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_false(nbx_scheduler_cancel(f.scheduler, 4242, &error));
	g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND);
	stop(&f);
}

static void
test_shutdown_requeues(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) after = NULL;
	gboolean drained = FALSE;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	task = submit(&f, "m1", 600, 0);
	spin_until(task_is_running, &f, &task->id);
	g_assert_true(running_marker_exists(&f, "m1"));
	nbx_scheduler_shutdown(f.scheduler, 60, on_drained, &drained);
	while (!drained)
		g_main_context_iteration(NULL, TRUE);
	after = get(&f, task->id);
	g_assert_cmpint(after->state, ==, NBX_TASK_QUEUED);
	g_assert_cmpstr(after->reason, ==, "interrupted by a shutdown of nestboxd; it will run again");
	g_assert_cmpint(after->attempts, ==, 0);
	g_assert_false(running_marker_exists(&f, "m1"));
	/* A stopping scheduler takes nothing new. */
	{
		g_autoptr(NbxTask) request = nbx_task_new();
		g_autoptr(GError) error = NULL;

		g_assert_null(nbx_scheduler_submit(f.scheduler, request, NULL, &error));
		g_assert_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_CONFLICT);
	}
	stop(&f);
}

/*
 * A cancel that comes while a shutdown stops the machine (the shutdown
 * asked for "run it again" first) is final all the same.
 */
static void
test_cancel_during_shutdown(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(NbxTask) after = NULL;
	g_autoptr(GError) error = NULL;
	gboolean drained = FALSE;

	start(&f, NULL, MACHINE("m1", ""), NULL);
	arm_barrier(&f, "m1", "stop");
	task = submit(&f, "m1", 600, 0);
	spin_until(task_is_running, &f, &task->id);
	nbx_scheduler_shutdown(f.scheduler, 600, on_drained, &drained);
	wait_barrier(&f, "m1", "stop");
	g_assert_true(nbx_scheduler_cancel(f.scheduler, task->id, &error));
	g_assert_no_error(error);
	release_barrier(&f, "m1", "stop");
	while (!drained)
		g_main_context_iteration(NULL, TRUE);
	after = get(&f, task->id);
	g_assert_cmpstr(nbx_task_state_name(after->state), ==, "cancelled");
	g_assert_cmpstr(after->reason, ==, "cancelled by the operator");
	g_assert_false(running_marker_exists(&f, "m1"));
	stop(&f);
}

static gboolean
task_ran_again(Fixture *f, gint64 id)
{
	g_autoptr(GPtrArray) events = nbx_store_event_list(f->store, id, NULL);
	guint runs = 0;

	for (guint i = 0; i < events->len; i++)
		runs += g_strcmp0(((NbxStoredEvent *)g_ptr_array_index(events, i))->kind,
				  "task.running") == 0;
	return runs > 0;
}

/* A task the "dead daemon" was running at @step, written behind the scheduler's back. */
static gint64
dead_daemons_task(Fixture *f, const char *step, gint64 attempts, const char *machine)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(GError) error = NULL;

	task->state = NBX_TASK_RUNNING;
	task->step = g_strdup(step);
	task->attempts = attempts;
	task->duration_s = 1;
	task->created_us = g_get_real_time();
	task->assigned_machine = g_strdup(machine);
	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	g_assert_no_error(error);
	return task->id;
}

/* The dead daemon's machine m1, marked @activity for task @id and running. */
static void
dead_daemons_machine(Fixture *f, NbxMachineActivity activity, gint64 id)
{
	g_autofree char *marker =
		g_strdup_printf("%s/plugins/fake/m1.running", f->setup->config->run_dir);
	g_autoptr(GError) error = NULL;

	g_assert_true(nbx_store_machine_set_activity(f->store, "m1", activity, id, &error));
	test_write("/", marker, "");
}

/*
 * What a daemon killed while a cancelled task's machine was stopping
 * leaves: a running task whose cancel was acknowledged. It ends cancelled
 * and never runs again; its machine is stopped.
 */
static void
test_recovery_keeps_cancel(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) after = NULL;
	g_autoptr(NbxTask) next = NULL;
	g_autoptr(GError) error = NULL;
	gint64 cancelled;

	start(&f, "scheduler = { max_attempts = 5; };", MACHINE("m1", ""), NULL);
	nbx_scheduler_free(f.scheduler);
	cancelled = dead_daemons_task(&f, "stop", 1, "m1");
	g_assert_true(nbx_store_task_request_cancel(f.store, cancelled, &error));
	dead_daemons_machine(&f, NBX_MACHINE_ACTIVITY_STOPPING, cancelled);

	f.scheduler = nbx_scheduler_new(f.setup, f.store, &error);
	g_assert_no_error(error);
	after = get(&f, cancelled);
	g_assert_cmpstr(nbx_task_state_name(after->state), ==, "cancelled");
	g_assert_cmpstr(after->reason, ==,
			"cancelled by the operator (nestboxd ended during step stop)");
	g_assert_cmpint(after->attempts, ==, 1);
	/* The machine is stopped, and the next task is what runs on it. */
	next = wait_final(&f, submit_id(&f, "m1", 1, 0));
	g_assert_cmpint(next->state, ==, NBX_TASK_REPORTED);
	g_assert_false(running_marker_exists(&f, "m1"));
	g_clear_pointer(&after, nbx_task_free);
	after = get(&f, cancelled);
	g_assert_cmpint(after->state, ==, NBX_TASK_CANCELLED);
	g_assert_false(task_ran_again(&f, cancelled));
	stop(&f);
}

/* What a daemon killed mid-analysis leaves: a running task, a machine marked running. */
static void
test_recovery(void)
{
	Fixture f = { 0 };
	g_autoptr(NbxTask) done_again = NULL;
	g_autoptr(NbxTask) done_spent = NULL;
	g_autoptr(GError) error = NULL;
	gint64 again, spent;

	start(&f, "scheduler = { max_attempts = 2; };", MACHINE("m1", ""), NULL);
	nbx_scheduler_free(f.scheduler);
	again = dead_daemons_task(&f, "run", 1, "m1");
	spent = dead_daemons_task(&f, "restore_start", 2, NULL);
	dead_daemons_machine(&f, NBX_MACHINE_ACTIVITY_RUNNING, again);

	f.scheduler = nbx_scheduler_new(f.setup, f.store, &error);
	g_assert_no_error(error);
	done_spent = get(&f, spent);
	g_assert_cmpint(done_spent->state, ==, NBX_TASK_FAILED);
	g_assert_cmpstr(done_spent->reason, ==,
			"nestboxd ended during step restore_start, and it has used up its 2 attempts");
	done_again = wait_final(&f, again);
	g_assert_cmpint(done_again->state, ==, NBX_TASK_REPORTED);
	g_assert_cmpint(done_again->attempts, ==, 2);
	g_assert_false(running_marker_exists(&f, "m1"));
	{
		g_autoptr(GPtrArray) events = nbx_store_event_list(f.store, 0, &error);
		gboolean recovered = FALSE;

		for (guint i = 0; i < events->len; i++) {
			NbxStoredEvent *event = g_ptr_array_index(events, i);

			recovered |= g_strcmp0(event->kind, "machine.recovered") == 0;
		}
		g_assert_true(recovered);
	}
	stop(&f);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* A plugin host, like nestboxd (nestboxd.c): a peer gone is an EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
	/* The daemon warns when it disables a machine: expected here, not fatal. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	nbx_host_services_set_main_thread();
	g_test_add_func("/scheduler/lifecycle", test_lifecycle);
	g_test_add_func("/scheduler/state-asked-at-start", test_state_asked_at_start);
	g_test_add_func("/scheduler/reload-new-machines", test_reload_new_machines);
	g_test_add_func("/scheduler/task-options-typed", test_task_options_typed);
	g_test_add_func("/scheduler/unserviceable-and-invalid", test_unserviceable);
	g_test_add_func("/scheduler/timeout/restore-hangs", test_timeout_restore_hangs);
	g_test_add_func("/scheduler/timeout/restore-deadline", test_timeout_restore_deadline);
	g_test_add_func("/scheduler/timeout/agent", test_timeout_agent);
	g_test_add_func("/scheduler/timeout/stop", test_timeout_stop);
	g_test_add_func("/scheduler/acpi-stop", test_acpi_stop);
	g_test_add_func("/scheduler/acpi-stop-ignored", test_acpi_stop_ignored);
	g_test_add_func("/scheduler/dump-fails", test_dump_fails);
	g_test_add_func("/scheduler/agent-answers", test_agent_answers);
	g_test_add_func("/scheduler/auxiliary/fails", test_aux_fails);
	g_test_add_func("/scheduler/auxiliary/fails-required", test_aux_fails_required);
	g_test_add_func("/scheduler/timeout/auxiliary", test_aux_hangs);
	g_test_add_func("/scheduler/auxiliary/late-start", test_aux_late_start);
	g_test_add_func("/scheduler/machine/disable-enable", test_disable_enable);
	g_test_add_func("/scheduler/machine/waiting-reason", test_waiting_reason);
	g_test_add_func("/scheduler/machine/stop-fails", test_stop_fails);
	g_test_add_func("/scheduler/machine/dies-retried", test_machine_dies_retried);
	g_test_add_func("/scheduler/machine/dies-not-retried", test_machine_dies_not_retried);
	g_test_add_func("/scheduler/machine/dies-during-restore", test_machine_dies_during_restore);
	g_test_add_func("/scheduler/machine/paused", test_paused);
	g_test_add_func("/scheduler/concurrency/parallel", test_concurrency_parallel);
	g_test_add_func("/scheduler/concurrency/restore-cap", test_concurrency_restore_cap);
	g_test_add_func("/scheduler/priority", test_priority);
	g_test_add_func("/scheduler/cancel", test_cancel);
	g_test_add_func("/scheduler/shutdown-requeues", test_shutdown_requeues);
	g_test_add_func("/scheduler/cancel-during-shutdown", test_cancel_during_shutdown);
	g_test_add_func("/scheduler/recovery", test_recovery);
	g_test_add_func("/scheduler/prepare-lifecycle", test_prepare_lifecycle);
	g_test_add_func("/scheduler/prepare-failure", test_prepare_failure);
	g_test_add_func("/scheduler/recovery-keeps-cancel", test_recovery_keeps_cancel);
	return g_test_run();
}
