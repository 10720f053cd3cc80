/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent guest plugin, as built, running commands through a fake agent:
 * the launcher on CAPE's and Cuckoo 2's agents (exit codes, output, the end
 * of a started command), plain /execute (output, no exit code, said so),
 * nestbox-agent's extensions, the agent's refusals and hostile answers, and
 * set_clock each way the agent allows.
 */
#include <string.h>
#include <unistd.h>

#include "guest_agent_fixture.h"

#define LONG_MS 60000
#define POLL_INTERVAL_US (50 * 1000)
#define POLL_GIVE_UP_US (60 * G_USEC_PER_SEC)

/* A command, as the core builds one, with its output into two descriptors. */
typedef struct {
	struct nbx_guest_command command;
	struct nbx_guest_process process;
	const char *argv[8];
	int out;
	int err;
} Run;

static void
run_init(Fixture *f, Run *run, const char *command, const char *const *argv, uint32_t flags)
{
	gsize i = 0;

	memset(run, 0, sizeof *run);
	for (; argv[i] != NULL && i < G_N_ELEMENTS(run->argv) - 1; i++)
		run->argv[i] = argv[i];
	run->out = ga_temp_fd(f);
	run->err = ga_temp_fd(f);
	run->command = (struct nbx_guest_command){
		.struct_size = sizeof run->command,
		.command = command,
		.argv = run->argv,
		.cwd = f->agent_root,
		.flags = flags,
		.stdout_fd = run->out,
		.stderr_fd = run->err,
		.output_limit = 1 << 20,
	};
	run->process.struct_size = sizeof run->process;
}

static void
run_clear(Run *run)
{
	close(run->out);
	close(run->err);
}

static void
assert_output(Run *run, const char *out, const char *err)
{
	g_autofree char *got_out = ga_read_fd(run->out, NULL);
	g_autofree char *got_err = ga_read_fd(run->err, NULL);

	g_assert_cmpstr(got_out, ==, out);
	g_assert_cmpstr(got_err, ==, err);
}

/* Polls (as the core does, only faster) until the command has exited. */
static void
poll_until_exited(Fixture *f, Run *run)
{
	gint64 give_up = g_get_monotonic_time() + POLL_GIVE_UP_US;

	while (run->process.state != NBX_GUEST_PROCESS_EXITED) {
		g_assert_true(ga_poll(f, &run->command, &run->process, LONG_MS, NULL));
		if (g_get_monotonic_time() > give_up)
			g_error("the command did not exit within 60 s");
		g_usleep(POLL_INTERVAL_US);
	}
}

static const char *const exit3_argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
static const char exit3_command[] = "sh -c 'echo out; echo err >&2; exit 3'";
static const char *const later4_argv[] = { "sh", "-c", "sleep 0.5; echo done; exit 4", NULL };
static const char later4_command[] = "sh -c 'sleep 0.5; echo done; exit 4'";

/* ---- the launcher -------------------------------------------------------------- */

static void
waited_exit_code(Fixture *f, const char *const *agent_args)
{
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, agent_args);
	ga_connect_ok(f);
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_EXITED);
	g_assert_true(run.process.exit_code_known);
	g_assert_cmpint(run.process.exit_code, ==, 3);
	g_assert_cmpint(run.process.pid, >, 0);
	g_assert_cmpstr(run.process.note, ==, "");
	assert_output(&run, "out\n", "err\n");
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 1);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execute"), ==, 0);
	run_clear(&run);
}

static void
test_launcher_waited_cape(Fixture *f, gconstpointer data)
{
	waited_exit_code(f, NULL);
}

/* Cuckoo 2's /execpy answers no exit code: the launcher's result file has it. */
static void
test_launcher_waited_cuckoo2(Fixture *f, gconstpointer data)
{
	const char *const cuckoo2[] = { "--flavor", "cuckoo2", NULL };

	waited_exit_code(f, cuckoo2);
}

static void
started_then_polled(Fixture *f, const char *const *agent_args)
{
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, agent_args);
	ga_connect_ok(f);
	run_init(f, &run, later4_command, later4_argv, 0);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_RUNNING);
	g_assert_cmpint(run.process.pid, >, 0);
	poll_until_exited(f, &run);
	g_assert_true(run.process.exit_code_known);
	g_assert_cmpint(run.process.exit_code, ==, 4);
	assert_output(&run, "done\n", "");
	run_clear(&run);
}

static void
test_launcher_started_cape(Fixture *f, gconstpointer data)
{
	started_then_polled(f, NULL);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 1);
}

static void
test_launcher_started_cuckoo2(Fixture *f, gconstpointer data)
{
	const char *const cuckoo2[] = { "--flavor", "cuckoo2", NULL };

	started_then_polled(f, cuckoo2);
}

static void
test_launcher_output_limit(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL };
	g_autoptr(JsonObject) report = NULL;
	g_autofree char *out = NULL;
	gsize length;
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "sh -c 'head -c 100000 /dev/zero | tr \"\\0\" x'", argv,
		 NBX_GUEST_COMMAND_WAIT);
	run.command.output_limit = 10;
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.exit_code, ==, 0);
	out = ga_read_fd(run.out, &length);
	g_assert_cmpmem(out, length, "xxxxxxxxxx", 10);
	report = ga_report(f);
	g_assert_true(json_object_get_boolean_member(report, "output_truncated"));
	run_clear(&run);
}

static void
test_launcher_start_failure(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "/nonexistent/sample", NULL };
	struct nbx_error err;
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "/nonexistent/sample", argv, 0);
	g_assert_false(ga_execute(f, &run.command, &run.process, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "could not be started in the guest");
	ga_assert_error(&err, NBX_ERROR_INVALID, "in the guest (/nonexistent/sample): ");
	run_clear(&run);
}

/* A waited command that outlives the step: TIMEOUT at the deadline, the command left running. */
static void
test_launcher_waited_past_deadline(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "sleep", "600", NULL };
	struct nbx_error err;
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "sleep 600", argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_false(ga_execute(f, &run.command, &run.process, 3000, &err));
	ga_assert_error(&err, NBX_ERROR_TIMEOUT,
			"POST /execpy to the agent at 10.231.0.2:8000 did not finish before the "
			"step's deadline");
	run_clear(&run);
}

/* A signal is not an exit code: said so, on both the launcher and nestbox-agent. */
static void
killed_by_signal(Fixture *f, const char *const *agent_args)
{
	const char *const argv[] = { "sh", "-c", "kill -9 $$", NULL };
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, agent_args);
	ga_connect_ok(f);
	run_init(f, &run, "sh -c 'kill -9 $$'", argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_EXITED);
	g_assert_false(run.process.exit_code_known);
	g_assert_cmpstr(run.process.note, ==, "the command was killed by signal 9");
	run_clear(&run);
}

static void
test_launcher_killed(Fixture *f, gconstpointer data)
{
	killed_by_signal(f, NULL);
}

static void
test_nestbox_killed(Fixture *f, gconstpointer data)
{
	const char *const nestbox[] = { "--flavor", "nestbox", NULL };

	killed_by_signal(f, nestbox);
}

/* A child the command leaves behind holds its output: the launcher ends anyway, and says so. */
static void
test_launcher_output_held_open(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "sh", "-c", "sleep 600 & echo started", NULL };
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "sh -c 'sleep 600 & echo started'", argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.exit_code, ==, 0);
	g_assert_nonnull(strstr(run.process.note, "still held its output open"));
	assert_output(&run, "started\n", "");
	run_clear(&run);
}

/* Argument words reach the command as they are: a Windows path keeps its backslashes. */
static void
test_launcher_keeps_words(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "printf", "%s|", "C:\\Users\\x y", "it's", NULL };
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "printf '%s|' 'C:\\Users\\x y' 'it'\\''s'", argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	assert_output(&run, "C:\\Users\\x y|it's|", "");
	run_clear(&run);
}

/* ---- plain /execute ---------------------------------------------------------------- */

static void
test_execute_plain(Fixture *f, gconstpointer data)
{
	Run run;

	ga_load(f, "", "use_launcher = false;");
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_cmphex(f->info.abilities & NBX_GUEST_CAN_EXIT_CODE, ==, 0);
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_EXITED);
	g_assert_false(run.process.exit_code_known);
	g_assert_nonnull(strstr(run.process.note, "reports no exit code"));
	assert_output(&run, "out\n", "err\n");
	run_clear(&run);

	run_init(f, &run, later4_command, later4_argv, 0);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_STARTED);
	g_assert_nonnull(strstr(run.process.note, "reports nothing of a started command"));
	g_assert_true(ga_poll(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_STARTED);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 0);
	run_clear(&run);
}

/* agent.py's shell=True on POSIX runs only the first shlex word: all of it is one word. */
static void
test_execute_plain_shell(Fixture *f, gconstpointer data)
{
	const char *const argv[] = { "echo", "a;", "echo", "b", NULL };
	Run run;

	ga_load(f, "", "use_launcher = false;");
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, "echo a; echo b", argv, NBX_GUEST_COMMAND_WAIT | NBX_GUEST_COMMAND_SHELL);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	assert_output(&run, "a\nb\n", "");
	run_clear(&run);
}

static void
test_execute_refused(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--fault", "refuse_execute", NULL };
	struct nbx_error err;
	Run run;

	ga_load(f, "", "use_launcher = false;");
	ga_start_agent(f, args);
	ga_connect_ok(f);
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_false(ga_execute(f, &run.command, &run.process, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_PERMISSION, "Not allowed to execute commands");
	run_clear(&run);
}

static void
test_execute_huge_answer(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--fault", "huge", "--fault-route", "/execute", NULL };
	g_autoptr(JsonObject) report = NULL;
	Run run;

	ga_load(f, "", "use_launcher = false;");
	ga_start_agent(f, args);
	ga_connect_ok(f);
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	run.command.output_limit = 1000;
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_EXITED);
	g_assert_false(run.process.exit_code_known);
	g_assert_nonnull(strstr(run.process.note, "neither output nor exit code was read"));
	report = ga_report(f);
	g_assert_true(json_object_get_boolean_member(report, "output_truncated"));
	run_clear(&run);
}

static void
test_execute_deep_answer(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--fault", "deep_json", "--fault-route", "/execpy", NULL };
	struct nbx_error err;
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_false(ga_execute(f, &run.command, &run.process, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "JSON nested more than 8 levels deep");
	run_clear(&run);
}

static void
test_execute_unknown_flag(Fixture *f, gconstpointer data)
{
	struct nbx_error err;
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	run_init(f, &run, exit3_command, exit3_argv, 1u << 7);
	g_assert_false(ga_execute(f, &run.command, &run.process, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "unknown command flags 0x80");
	run_clear(&run);
}

/* ---- nestbox-agent's extensions ---------------------------------------------------- */

static void
test_execute_nestbox(Fixture *f, gconstpointer data)
{
	const char *const nestbox[] = { "--flavor", "nestbox", NULL };
	Run run;

	ga_load(f, "", NULL);
	ga_start_agent(f, nestbox);
	ga_connect_ok(f);
	g_assert_cmpstr(f->info.name, ==, "nestbox-agent");
	run_init(f, &run, exit3_command, exit3_argv, NBX_GUEST_COMMAND_WAIT);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_true(run.process.exit_code_known);
	g_assert_cmpint(run.process.exit_code, ==, 3);
	assert_output(&run, "out\n", "err\n");
	run_clear(&run);

	run_init(f, &run, later4_command, later4_argv, 0);
	g_assert_true(ga_execute(f, &run.command, &run.process, LONG_MS, NULL));
	g_assert_cmpint(run.process.state, ==, NBX_GUEST_PROCESS_RUNNING);
	poll_until_exited(f, &run);
	g_assert_cmpint(run.process.exit_code, ==, 4);
	assert_output(&run, "done\n", "");
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 0);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/process"), >, 0);
	run_clear(&run);
}

/* ---- set_clock --------------------------------------------------------------------- */

static const gint64 clock_time_us = G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC + 250000;

/* The fake agent runs the helper with NESTBOX_HELPER_DRY_CLOCK: it says so, and what it would set. */
static void
test_clock_helper(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonObject) report = NULL;
	struct nbx_error err;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_false(ga_set_clock(f, clock_time_us, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_FAILED, "NESTBOX_HELPER_DRY_CLOCK is set");
	report = ga_report(f);
	g_assert_cmpstr(json_object_get_string_member(report, "clock_method"), ==,
			"the helper script");
	g_assert_false(json_object_get_boolean_member(report, "clock_set"));
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 1);
}

static void
test_clock_nestbox(Fixture *f, gconstpointer data)
{
	const char *const nestbox[] = { "--flavor", "nestbox", NULL };
	g_autoptr(GPtrArray) requests = NULL;
	g_autoptr(JsonObject) report = NULL;
	JsonObject *last;

	ga_load(f, "", NULL);
	ga_start_agent(f, nestbox);
	ga_connect_ok(f);
	g_assert_true(ga_set_clock(f, clock_time_us, LONG_MS, NULL));
	requests = ga_agent_requests(f);
	last = g_ptr_array_index(requests, requests->len - 1);
	g_assert_cmpstr(json_object_get_string_member(last, "path"), ==, "/clock");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(last, "form"),
						      "time"),
			==, "1700000000.250000");
	report = ga_report(f);
	g_assert_true(json_object_get_boolean_member(report, "clock_set"));
}

/* No Python, no extension: `date -s` through /execute, checked by what it prints. */
static void
test_clock_execute(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--features", "execute", NULL };
	g_autoptr(GPtrArray) requests = NULL;
	JsonObject *last;
	gint64 set_to;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_true(ga_set_clock(f, clock_time_us, LONG_MS, NULL));
	requests = ga_agent_requests(f);
	last = g_ptr_array_index(requests, requests->len - 1);
	set_to = g_ascii_strtoll(json_object_get_string_member(last, "clock_set_to"), NULL, 10);
	g_assert_cmpint(set_to, >=, 1700000000);
	g_assert_cmpint(set_to, <=, 1700000000 + 60);
}

static void
test_clock_unsupported(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--features", "logs", NULL };
	struct nbx_error err;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_cmphex(f->info.abilities & NBX_GUEST_CAN_SET_CLOCK, ==, 0);
	g_assert_false(ga_set_clock(f, clock_time_us, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "has no way to set the clock");
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, ga_set_up, fn, ga_tear_down)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/guest-agent/launcher/waited/cape", test_launcher_waited_cape);
	ADD("/guest-agent/launcher/waited/cuckoo2", test_launcher_waited_cuckoo2);
	ADD("/guest-agent/launcher/started/cape", test_launcher_started_cape);
	ADD("/guest-agent/launcher/started/cuckoo2", test_launcher_started_cuckoo2);
	ADD("/guest-agent/launcher/output-limit", test_launcher_output_limit);
	ADD("/guest-agent/launcher/start-failure", test_launcher_start_failure);
	ADD("/guest-agent/launcher/keeps-words", test_launcher_keeps_words);
	ADD("/guest-agent/launcher/killed", test_launcher_killed);
	ADD("/guest-agent/launcher/waited-past-deadline", test_launcher_waited_past_deadline);
	ADD("/guest-agent/launcher/output-held-open", test_launcher_output_held_open);
	ADD("/guest-agent/execute/plain", test_execute_plain);
	ADD("/guest-agent/execute/plain-shell", test_execute_plain_shell);
	ADD("/guest-agent/execute/refused", test_execute_refused);
	ADD("/guest-agent/execute/huge-answer", test_execute_huge_answer);
	ADD("/guest-agent/execute/deep-answer", test_execute_deep_answer);
	ADD("/guest-agent/execute/unknown-flag", test_execute_unknown_flag);
	ADD("/guest-agent/execute/nestbox", test_execute_nestbox);
	ADD("/guest-agent/execute/nestbox-killed", test_nestbox_killed);
	ADD("/guest-agent/clock/helper", test_clock_helper);
	ADD("/guest-agent/clock/nestbox", test_clock_nestbox);
	ADD("/guest-agent/clock/execute", test_clock_execute);
	ADD("/guest-agent/clock/unsupported", test_clock_unsupported);
	return g_test_run();
}
