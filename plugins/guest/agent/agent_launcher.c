/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Commands through the launcher (guest_helper.py, action "run"): agent.py
 * gives no exit code for /execute and nothing at all for an asynchronous
 * one, so the launcher runs the command, keeps its output in bounded files
 * and its end in a "result" file beside itself. A waited command is a
 * synchronous /execpy; a started one an asynchronous /execpy, then the
 * launcher's "started" file; a poll asks for the "result" file.
 */
#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_helper.h"
#include "agent_run.h"

#define HANDLE_PREFIX "launch:"
/* How often the launcher's "started" file is asked for: from the first
 * interval, doubling up to the last. */
#define START_POLL_FIRST_MS 20
#define START_POLL_LAST_MS 250

static JsonNode *
run_spec(const struct agent_session *session, const struct nbx_guest_command *command)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "action");
	json_builder_add_string_value(builder, "run");
	json_builder_set_member_name(builder, "argv");
	json_builder_begin_array(builder);
	for (const char *const *word = command->argv; word != NULL && *word != NULL; word++)
		json_builder_add_string_value(builder, *word);
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "command");
	json_builder_add_string_value(builder, command->command);
	json_builder_set_member_name(builder, "shell");
	json_builder_add_boolean_value(builder, (command->flags & NBX_GUEST_COMMAND_SHELL) != 0);
	json_builder_set_member_name(builder, "cwd");
	if (command->cwd != NULL)
		json_builder_add_string_value(builder, command->cwd);
	else
		json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "limit");
	json_builder_add_int_value(builder, agent_output_limit(session, command));
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

/* Remembers the launcher's directory; the handle is its index. */
static void
remember(struct agent_session *session, const char *dir, struct nbx_guest_process *process)
{
	g_ptr_array_add(session->launches, g_strdup(dir));
	g_snprintf(process->handle, sizeof process->handle, HANDLE_PREFIX "%u",
		   session->launches->len - 1);
}

/* The launcher's directory of the command @handle names, or NULL. */
static const char *
find(struct agent_session *session, const char *handle)
{
	guint64 index;

	if (!g_ascii_string_to_unsigned(handle + strlen(HANDLE_PREFIX), 10, 0, G_MAXUINT, &index,
					NULL) ||
	    index >= session->launches->len)
		return NULL;
	return g_ptr_array_index(session->launches, index);
}

static void
read_exit(JsonObject *result, struct nbx_guest_process *process)
{
	gint64 value;

	if (agent_answer_integer(result, "exit_code", &value) && value >= 0)
		agent_record_exit(process, value);
	else if (agent_answer_integer(result, "signal", &value) && value > 0)
		agent_record_exit(process, -value);
	else
		agent_note(process, "the launcher's result holds no exit code");
	if (agent_answer_boolean(result, "output_open", FALSE) && process->note[0] == '\0')
		agent_note(process, "a process the command left behind still held its output "
				    "open; what it wrote after the command ended is not kept");
}

/* The command ended: its exit code, then its output into the core's descriptors. */
static bool
finish(struct agent_session *session, const AgentHelperRun *run,
       const struct nbx_guest_command *command, JsonObject *result,
       struct nbx_guest_process *process, struct nbx_error *err)
{
	int64_t limit = agent_output_limit(session, command);
	g_autofree char *out = agent_helper_path(session, run, "stdout");
	g_autofree char *errors = agent_helper_path(session, run, "stderr");
	gint64 pid;

	if (!agent_answer_boolean(result, "started", FALSE)) {
		const char *why = agent_answer_string(result, "error");
		g_autofree char *shown = agent_text_printable(why != NULL ? why : "no reason given",
							      -1, 300);

		g_autofree char *program = agent_text_printable(
			command->argv != NULL && command->argv[0] != NULL ? command->argv[0]
									  : command->command,
			-1, 200);

		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the command could not be started in the guest (%s): %s",
					 program, shown);
		return false;
	}
	process->state = NBX_GUEST_PROCESS_EXITED;
	if (agent_answer_integer(result, "pid", &pid) && pid > 0)
		process->pid = pid;
	read_exit(result, process);
	if (agent_answer_boolean(result, "stdout_truncated", FALSE) ||
	    agent_answer_boolean(result, "stderr_truncated", FALSE))
		agent_report_truncated(session);
	return agent_fetch_output(session, out, command->stdout_fd, limit, err) &&
	       agent_fetch_output(session, errors, command->stderr_fd, limit, err);
}

static bool
fail_no_result(struct agent_session *session, const AgentHelperRun *run, struct nbx_error *err)
{
	session->host->error_set(session->host, err, NBX_ERROR_FAILED,
				 "the launcher in %s ended without a result%s%s", run->dir,
				 run->said != NULL ? "; the interpreter said: " : "",
				 run->said != NULL ? run->said : "");
	return false;
}

/* Sleeps @interval_ms (doubling it for next time); false past the deadline. */
static gboolean
pause_for(struct agent_session *session, gint64 *interval_ms)
{
	const struct nbx_host *host = session->host;
	int64_t wake = host->monotonic_us(host) + *interval_ms * 1000;

	if (session->deadline_us != 0 && wake >= session->deadline_us)
		return FALSE;
	g_usleep((gulong)(*interval_ms * 1000));
	*interval_ms = MIN(*interval_ms * 2, START_POLL_LAST_MS);
	return TRUE;
}

/* Until the launcher has started the command (its "started" file), or failed to. */
static bool
await_start(struct agent_session *session, const AgentHelperRun *run,
	    const struct nbx_guest_command *command, struct nbx_guest_process *process,
	    struct nbx_error *err)
{
	gint64 interval_ms = START_POLL_FIRST_MS;

	do {
		g_autoptr(JsonObject) started = NULL, result = NULL;
		gboolean missing = FALSE;
		gint64 pid;

		if (!agent_helper_read(session, run, "started", &started, &missing, err))
			return false;
		if (!missing) {
			process->state = NBX_GUEST_PROCESS_RUNNING;
			if (agent_answer_integer(started, "pid", &pid) && pid > 0)
				process->pid = pid;
			return true;
		}
		if (!agent_helper_read(session, run, "result", &result, &missing, err))
			return false;
		if (!missing)
			return finish(session, run, command, result, process, err);
	} while (pause_for(session, &interval_ms));
	session->host->error_set(session->host, err, NBX_ERROR_TIMEOUT,
				 "the launcher in %s had not started the command by the step's "
				 "deadline",
				 run->dir);
	return false;
}

bool
agent_launcher_execute(struct agent_session *session, const struct nbx_guest_command *command,
		       struct nbx_guest_process *process, struct nbx_error *err)
{
	gboolean wait = (command->flags & NBX_GUEST_COMMAND_WAIT) != 0;
	g_autoptr(JsonNode) spec = run_spec(session, command);
	g_autoptr(JsonObject) result = NULL;
	g_auto(AgentHelperRun) run = { 0 };
	gboolean missing = FALSE;

	if (!agent_helper_start(session, spec, wait, &run, err))
		return false;
	remember(session, run.dir, process);
	if (!wait)
		return await_start(session, &run, command, process, err);
	if (!agent_helper_read(session, &run, "result", &result, &missing, err))
		return false;
	if (missing)
		return fail_no_result(session, &run, err);
	return finish(session, &run, command, result, process, err);
}

bool
agent_launcher_poll(struct agent_session *session, const struct nbx_guest_command *command,
		    struct nbx_guest_process *process, struct nbx_error *err)
{
	const char *dir = find(session, process->handle);
	AgentHelperRun run = { 0 };
	g_autoptr(JsonObject) result = NULL;
	gboolean missing = FALSE;

	if (dir == NULL) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "no command of this session has the handle \"%s\"",
					 process->handle);
		return false;
	}
	run.dir = (char *)dir;
	if (!agent_helper_read(session, &run, "result", &result, &missing, err))
		return false;
	if (missing) {
		process->state = NBX_GUEST_PROCESS_RUNNING;
		return true;
	}
	return finish(session, &run, command, result, process, err);
}
