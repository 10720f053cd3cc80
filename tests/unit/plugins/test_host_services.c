/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-services table as a plugin uses it: errors, config look-ups,
 * paths, child processes (spawned from a worker thread, reaped, signalled
 * only when ours), main-loop sources, reports.
 */
#include <glib-unix.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "report.h"
#include "test_support.h"

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	const struct nbx_host *host;
	GMainLoop *loop;
} Fixture;

static void
set_up(Fixture *f, gconstpointer data)
{
	f->dir = test_config_dir_new(g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR"), "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "speed = 7;\nmachines = ( { name = \"m\"; label = \"m\"; ip = \"192.0.2.1\";\n"
		   "  platform = \"linux\"; tags = [ \"a\", \"b\" ]; } );\n");
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 0);
	f->host = &((NbxPluginInstance *)g_ptr_array_index(f->setup->machineries, 0))->host;
	f->loop = g_main_loop_new(NULL, FALSE);
	nbx_host_services_set_main_thread();
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	g_main_loop_unref(f->loop);
	nbx_setup_free(f->setup);
	nbx_diagnostics_free(f->diagnostics);
	test_dir_remove(f->dir);
	g_free(f->dir);
}

static void
test_error_set(Fixture *f, gconstpointer data)
{
	struct nbx_error err = { 0 };
	g_autofree char *long_text = g_strnfill(5000, 'x');

	f->host->error_set(f->host, &err, NBX_ERROR_NOT_FOUND, "snapshot %s missing", "s1");
	/* The first, innermost cause wins. */
	f->host->error_set(f->host, &err, NBX_ERROR_FAILED, "outer");
	g_assert_cmpint(err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_cmpstr(err.message, ==, "snapshot s1 missing");
	memset(&err, 0, sizeof err);
	f->host->error_set(f->host, &err, NBX_ERROR_NONE, "%s", long_text);
	g_assert_cmpint(err.code, ==, NBX_ERROR_FAILED);
	g_assert_cmpuint(strlen(err.message), ==, NBX_ERROR_MESSAGE_SIZE - 1);
	f->host->error_set(f->host, NULL, NBX_ERROR_FAILED, "no crash on NULL");
}

static void
test_config_lookups(Fixture *f, gconstpointer data)
{
	NbxMachine *m = nbx_machine_pool_lookup(f->setup->pool, "m");
	const struct nbx_config_node *machine = m->machine.config;
	int64_t speed = 0;
	g_autofree char *location = g_strdup_printf("%s/machinery/fake.conf:1", f->dir);

	g_assert_true(f->host->config_integer(f->host, NULL, "speed", &speed));
	g_assert_cmpint(speed, ==, 7);
	g_assert_null(f->host->config_string(f->host, NULL, "speed"));
	g_assert_cmpuint(f->host->config_list_length(f->host, NULL, "machines"), ==, 1);
	g_assert_true(f->host->config_list_group(f->host, NULL, "machines", 0) == machine);
	g_assert_null(f->host->config_list_group(f->host, NULL, "machines", 1));
	g_assert_cmpuint(f->host->config_list_length(f->host, machine, "tags"), ==, 2);
	g_assert_cmpstr(f->host->config_list_string(f->host, machine, "tags", 1), ==, "b");
	g_assert_null(f->host->config_list_string(f->host, machine, "tags", 2));
	g_assert_cmpstr(f->host->config_location(f->host, NULL, "speed"), ==, location);
	g_assert_cmpstr(f->host->path(f->host, NBX_PATH_CONFIG_DIR), ==, f->setup->config->dir);
	g_assert_true(g_str_has_suffix(f->host->path(f->host, NBX_PATH_STATE_DIR),
				       "/state/plugins/fake"));
	g_assert_null(f->host->path(f->host, 99));
	g_assert_true(NBX_HOST_HAS(f->host, report_add_file));
}

typedef struct {
	Fixture *f;
	int64_t pid;
	int32_t status;
	gboolean exited;
	gboolean spawned;
	struct nbx_error err;
} ChildRun;

static void
on_child_exit(void *user_data, int64_t pid, int32_t status)
{
	ChildRun *run = user_data;

	g_assert_cmpint(pid, ==, run->pid);
	run->status = status;
	run->exited = TRUE;
	g_main_loop_quit(run->f->loop);
}

/* Spawns from a worker thread, as a machine op would. */
static gpointer
spawn_in_worker(gpointer data)
{
	ChildRun *run = data;
	const char *argv[] = { "sh", "-c", "echo out; exit 3", NULL };
	g_autofree char *output = g_build_filename(run->f->dir, "child.log", NULL);
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn,
		.argv = argv,
		.stdin_fd = -1,
		.output_path = output,
		.on_exit = on_child_exit,
		.user_data = run,
	};

	run->spawned = run->f->host->spawn(run->f->host, &spawn, &run->pid, &run->err);
	return NULL;
}

static void
test_spawn_from_worker(Fixture *f, gconstpointer data)
{
	ChildRun run = { .f = f };
	GThread *worker = g_thread_new("worker", spawn_in_worker, &run);
	g_autofree char *log = NULL;
	g_autofree char *log_path = g_build_filename(f->dir, "child.log", NULL);

	g_main_loop_run(f->loop);
	g_thread_join(worker);
	g_assert_true(run.spawned);
	g_assert_true(run.exited);
	g_assert_true(WIFEXITED(run.status));
	g_assert_cmpint(WEXITSTATUS(run.status), ==, 3);
	g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	g_assert_cmpstr(log, ==, "out\n");
}

static void
test_child_signal(Fixture *f, gconstpointer data)
{
	ChildRun run = { .f = f };
	const char *argv[] = { "sleep", "60", NULL };
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1,
		.on_exit = on_child_exit, .user_data = &run,
	};
	struct nbx_error err = { 0 };

	g_assert_true(f->host->spawn(f->host, &spawn, &run.pid, &run.err));
	/* Not ours: refused, nothing is sent. */
	g_assert_false(f->host->child_signal(f->host, getppid(), SIGTERM, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	g_assert_true(g_str_has_suffix(err.message, "is not a running child of this plugin"));
	g_assert_true(f->host->child_signal(f->host, run.pid, SIGKILL, &err));
	g_main_loop_run(f->loop);
	g_assert_true(WIFSIGNALED(run.status));
	g_assert_cmpint(WTERMSIG(run.status), ==, SIGKILL);
	/* Reaped: no longer ours to signal. */
	memset(&err, 0, sizeof err);
	g_assert_false(f->host->child_signal(f->host, run.pid, SIGKILL, &err));
}

static void
test_spawn_failure(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "/nonexistent/qemu-system-x86_64", NULL };
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1 };
	struct nbx_error err = { 0 };
	int64_t pid = 0;

	g_assert_false(f->host->spawn(f->host, &spawn, &pid, &err));
	g_assert_true(g_str_has_prefix(err.message, "cannot start /nonexistent/qemu-system-x86_64: "));
}

typedef struct {
	Fixture *f;
	int reads;
	int ticks;
	uint32_t events;
} SourceRun;

static bool
on_readable(void *user_data, int fd, uint32_t events)
{
	SourceRun *run = user_data;
	char byte;

	run->events = events;
	g_assert_cmpint(read(fd, &byte, 1), ==, 1);
	run->reads++;
	return false;
}

static bool
on_tick(void *user_data)
{
	SourceRun *run = user_data;

	if (++run->ticks < 3)
		return true;
	g_main_loop_quit(run->f->loop);
	return false;
}

static void
test_sources(Fixture *f, gconstpointer data)
{
	SourceRun run = { .f = f };
	int fds[2];
	uint64_t watch, removed;

	g_assert_cmpint(pipe(fds), ==, 0);
	watch = f->host->watch_fd(f->host, fds[0], NBX_FD_IN, on_readable, &run);
	g_assert_cmpuint(watch, >, 0);
	g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
	removed = f->host->add_timeout(f->host, 1, on_tick, &run);
	f->host->remove_source(f->host, removed);
	f->host->add_timeout(f->host, 5, on_tick, &run);
	g_main_loop_run(f->loop);
	g_assert_cmpint(run.reads, ==, 1);
	g_assert_true(run.events & NBX_FD_IN);
	/* Exactly 3 ticks: the removed timeout never fired. */
	g_assert_cmpint(run.ticks, ==, 3);
	f->host->remove_source(f->host, watch); /* already gone: ignored */
	close(fds[0]);
	close(fds[1]);
}

static void
test_report_and_state(Fixture *f, gconstpointer data)
{
	struct nbx_report *report = nbx_report_new();
	g_autoptr(JsonObject) object = NULL;
	NbxMachine *m = nbx_machine_pool_lookup(f->setup->pool, "m");

	f->host->report_set_string(f->host, report, "interface", "br0");
	f->host->report_set_integer(f->host, report, "packets", 42);
	f->host->report_add_file(f->host, report, "dump.pcap");
	object = nbx_report_ref_object(report);
	g_assert_cmpstr(json_object_get_string_member(object, "interface"), ==, "br0");
	g_assert_cmpint(json_object_get_int_member(object, "packets"), ==, 42);
	g_assert_cmpstr(json_array_get_string_element(
				json_object_get_array_member(object, "files"), 0),
			==, "dump.pcap");
	nbx_report_free(report);

	f->host->machine_state_changed(f->host, &m->machine, NBX_MACHINE_PAUSED, "from snapshot");
	g_assert_cmpint(m->hypervisor_state, ==, NBX_MACHINE_PAUSED);
	g_assert_cmpstr(m->hypervisor_reason, ==, "from snapshot");
}

static bool
must_not_fire(void *user_data)
{
	g_error("a timeout of a plugin that is gone fired");
	return false;
}

typedef struct {
	Fixture *f;
	pid_t pid;
	gint64 started;
} ReapWait;

/*
 * Quits once the child is reaped (its child watch runs on this loop,
 * however late a busy host lets the killed process exit) and the removed
 * 20 ms timeout has had 100 ms to fire, were it still there.
 */
static gboolean
quit_when_reaped(gpointer data)
{
	ReapWait *wait = data;
	gint64 now = g_get_monotonic_time();

	g_assert_cmpint(now - wait->started, <, TEST_HANG_GUARD_S * G_USEC_PER_SEC);
	if (now - wait->started < 100 * G_TIME_SPAN_MILLISECOND || kill(wait->pid, 0) == 0)
		return G_SOURCE_CONTINUE;
	g_main_loop_quit(wait->f->loop);
	return G_SOURCE_REMOVE;
}

/* What a plugin leaves behind at shutdown is ended by the core. */
static void
test_release_at_shutdown(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "sleep", "60", NULL };
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1,
				   .on_exit = on_child_exit, .user_data = NULL };
	struct nbx_error err = { 0 };
	int64_t pid = 0;
	int fds[2];
	ReapWait wait = { .f = f };

	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_true(f->host->spawn(f->host, &spawn, &pid, &err));
	f->host->add_timeout(f->host, 20, must_not_fire, NULL);
	f->host->watch_fd(f->host, fds[0], NBX_FD_IN, (nbx_fd_fn)must_not_fire, NULL);
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING, "fake: killing child * it left*");
	nbx_setup_free(f->setup);
	f->setup = NULL;
	g_test_assert_expected_messages();
	g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
	wait.pid = (pid_t)pid;
	wait.started = g_get_monotonic_time();
	g_timeout_add(10, quit_when_reaped, &wait);
	g_main_loop_run(f->loop);
	/* Killed and reaped: the pid is gone. */
	g_assert_cmpint(kill((pid_t)pid, 0), ==, -1);
	close(fds[0]);
	close(fds[1]);
}

/* ---- ABI 1.2: run, stdout/stderr descriptors, user, namespace, invoke_main ---- */

typedef struct {
	Fixture *f;
	const char *const *argv;
	gint64 deadline_us;
	char out_buffer[64];
	char err_buffer[64];
	struct nbx_output out;
	struct nbx_output err_out;
	int32_t status;
	gboolean ok;
	struct nbx_error err;
	uint32_t uid, gid;
	const uint32_t *groups;
	uint32_t n_groups;
	const char *netns;
} RunCall;

static gpointer
run_in_worker(gpointer data)
{
	RunCall *call = data;
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = call->argv, .stdin_fd = -1,
				   .uid = call->uid, .gid = call->gid, .groups = call->groups,
				   .n_groups = call->n_groups,
				   .network_namespace = call->netns };

	call->out = (struct nbx_output){ .struct_size = sizeof call->out,
					 .buffer = call->out_buffer,
					 .size = sizeof call->out_buffer };
	call->err_out = (struct nbx_output){ .struct_size = sizeof call->err_out,
					     .buffer = call->err_buffer,
					     .size = sizeof call->err_buffer };
	call->ok = call->f->host->run(call->f->host, &spawn, call->deadline_us, &call->out,
				      &call->err_out, &call->status, &call->err);
	return NULL;
}

/* A worker thread blocks in `run`; the main loop is not needed for it. */
static void
run_call(RunCall *call)
{
	g_thread_join(g_thread_new("worker", run_in_worker, call));
}

static void
test_run_captures(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 5", NULL };
	const char *flood[] = { "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL };
	RunCall call = { .f = f, .argv = argv };
	RunCall big = { .f = f, .argv = flood };

	run_call(&call);
	g_assert_true(call.ok);
	g_assert_true(WIFEXITED(call.status));
	g_assert_cmpint(WEXITSTATUS(call.status), ==, 5);
	g_assert_cmpstr(call.out_buffer, ==, "out\n");
	g_assert_cmpstr(call.err_buffer, ==, "err\n");
	g_assert_false(call.out.truncated);
	/* More than fits: kept up to the buffer, the rest drained, the child not blocked. */
	run_call(&big);
	g_assert_true(big.ok);
	g_assert_cmpint(WEXITSTATUS(big.status), ==, 0);
	g_assert_cmpuint(big.out.length, ==, sizeof big.out_buffer - 1);
	g_assert_true(big.out.truncated);
	g_assert_cmpuint(strlen(big.out_buffer), ==, sizeof big.out_buffer - 1);
}

static void
test_run_deadline(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "sleep", "600", NULL };
	RunCall call = { .f = f, .argv = argv };
	NbxPluginInstance *instance = g_ptr_array_index(f->setup->machineries, 0);

	call.deadline_us = g_get_monotonic_time() + G_USEC_PER_SEC / 5;
	run_call(&call);
	g_assert_false(call.ok);
	g_assert_cmpint(call.err.code, ==, NBX_ERROR_TIMEOUT);
	g_assert_cmpstr(call.err.message, ==,
			"sleep did not finish before its deadline and was killed");
	/* Killed and reaped by `run` itself: nothing is left tracked. */
	g_assert_cmpuint(g_hash_table_size(instance->children), ==, 0);
}

static void
test_run_refuses_async_fields(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "true", NULL };
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1,
				   .output_path = "/tmp/x" };
	struct nbx_error err = { 0 };
	int32_t status;

	g_assert_false(f->host->run(f->host, &spawn, 0, NULL, NULL, &status, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
}

/* stdout to a pipe of the plugin's, stderr to output_path: never mixed. */
static void
test_spawn_stdout_fd(Fixture *f, gconstpointer data)
{
	ChildRun run = { .f = f };
	const char *argv[] = { "sh", "-c", "echo data; echo diagnostics >&2", NULL };
	g_autofree char *log_path = g_build_filename(f->dir, "stderr.log", NULL);
	g_autofree char *log = NULL;
	char buffer[64] = { 0 };
	int fds[2];
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1,
				   .output_path = log_path, .on_exit = on_child_exit,
				   .user_data = &run };

	g_assert_cmpint(pipe(fds), ==, 0);
	spawn.stdout_fd = fds[1];
	g_assert_true(f->host->spawn(f->host, &spawn, &run.pid, &run.err));
	close(fds[1]);
	g_assert_cmpint(read(fds[0], buffer, sizeof buffer - 1), ==, 5);
	g_assert_cmpstr(buffer, ==, "data\n");
	close(fds[0]);
	g_main_loop_run(f->loop);
	g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	g_assert_cmpstr(log, ==, "diagnostics\n");
}

static void
test_spawn_as_user(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "sh", "-c", "id -u; id -g; id -G; grep ^Groups /proc/self/status",
			       NULL };
	const uint32_t groups[] = { 65533 };
	RunCall call = { .f = f, .argv = argv, .uid = 65534, .gid = 65534, .groups = groups,
			 .n_groups = 1 };
	RunCall half = { .f = f, .argv = argv, .uid = 65534 };

	if (geteuid() != 0) {
		g_test_skip("switching users needs root");
		return;
	}
	run_call(&call);
	g_assert_true(call.ok);
	g_assert_cmpstr(call.out_buffer, ==, "65534\n65534\n65534 65533\nGroups:\t65533 \n");
	run_call(&half);
	g_assert_false(half.ok);
	g_assert_cmpint(half.err.code, ==, NBX_ERROR_INVALID);
}

static void
test_spawn_network_namespace(Fixture *f, gconstpointer data)
{
	const char *readlink_argv[] = { "readlink", "/proc/self/ns/net", NULL };
	const char *unshare_argv[] = { "unshare", "--net", "sleep", "600", NULL };
	g_autofree char *theirs = NULL, *ns_path = NULL;
	g_autoptr(GError) error = NULL;
	RunCall inside = { .f = f, .argv = readlink_argv };
	RunCall missing = { .f = f, .argv = readlink_argv, .netns = "/run/netns/nbx-no-such-ns" };
	GPid holder;

	if (geteuid() != 0) {
		g_test_skip("a network namespace needs root");
		return;
	}
	/* A namespace of this test's own, held by a process it ends by pid. */
	g_assert_true(g_spawn_async(NULL, (char **)unshare_argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &holder, &error));
	ns_path = g_strdup_printf("/proc/%d/ns/net", holder);
	/* Wait until unshare has moved into its namespace (it then execs sleep). */
	for (int i = 0; i < 6000; i++) {
		g_autofree char *mine = g_file_read_link("/proc/self/ns/net", NULL);

		g_free(theirs);
		theirs = g_file_read_link(ns_path, NULL);
		if (theirs != NULL && g_strcmp0(theirs, mine) != 0)
			break;
		g_usleep(10000);
	}
	inside.netns = ns_path;
	run_call(&inside);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	g_assert_true(inside.ok);
	g_assert_true(g_str_has_prefix(inside.out_buffer, theirs));
	run_call(&missing);
	g_assert_false(missing.ok);
	g_assert_cmpint(missing.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(missing.err.message, "/run/netns/nbx-no-such-ns"));
}

typedef struct {
	Fixture *f;
	GThread *ran_on;
} InvokeRun;

static void
on_main(void *user_data)
{
	InvokeRun *run = user_data;

	run->ran_on = g_thread_self();
	g_main_loop_quit(run->f->loop);
}

static gpointer
invoke_from_worker(gpointer data)
{
	InvokeRun *run = data;

	g_assert_cmpuint(run->f->host->invoke_main(run->f->host, on_main, run), >, 0);
	return NULL;
}

static void
test_invoke_main(Fixture *f, gconstpointer data)
{
	InvokeRun run = { .f = f };

	g_thread_join(g_thread_new("worker", invoke_from_worker, &run));
	g_main_loop_run(f->loop);
	g_assert_true(run.ran_on == g_thread_self());
}

static void
test_report_json(Fixture *f, gconstpointer data)
{
	struct nbx_report *report = nbx_report_new();
	g_autoptr(JsonObject) object = NULL;
	g_autofree char *deep = g_strnfill(100000, '[');
	struct nbx_error err = { 0 };

	f->host->report_set_boolean(f->host, report, "time_set", true);
	g_assert_true(f->host->report_set_json(f->host, report, "agent",
					       "{\"version\": \"0.22\", \"features\": [\"a\"]}",
					       &err));
	g_assert_false(f->host->report_set_json(f->host, report, "deep", deep, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(err.message, "more than 32 levels"));
	memset(&err, 0, sizeof err);
	g_assert_false(f->host->report_set_json(f->host, report, "bad", "{\"a\": ", &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_INVALID);
	object = nbx_report_ref_object(report);
	g_assert_true(json_object_get_boolean_member(object, "time_set"));
	g_assert_cmpstr(json_object_get_string_member(
				json_object_get_object_member(object, "agent"), "version"),
			==, "0.22");
	g_assert_false(json_object_has_member(object, "deep"));
	g_assert_false(json_object_has_member(object, "bad"));
	nbx_report_free(report);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, set_up, fn, tear_down)
	ADD("/host/error-set", test_error_set);
	ADD("/host/config-lookups", test_config_lookups);
	ADD("/host/spawn-from-worker", test_spawn_from_worker);
	ADD("/host/child-signal", test_child_signal);
	ADD("/host/spawn-failure", test_spawn_failure);
	ADD("/host/sources", test_sources);
	ADD("/host/report-and-state", test_report_and_state);
	ADD("/host/release-at-shutdown", test_release_at_shutdown);
	ADD("/host/run-captures", test_run_captures);
	ADD("/host/run-deadline", test_run_deadline);
	ADD("/host/run-refuses-async-fields", test_run_refuses_async_fields);
	ADD("/host/spawn-stdout-fd", test_spawn_stdout_fd);
	ADD("/host/spawn-as-user", test_spawn_as_user);
	ADD("/host/spawn-network-namespace", test_spawn_network_namespace);
	ADD("/host/invoke-main", test_invoke_main);
	ADD("/host/report-json", test_report_json);
	return g_test_run();
}
