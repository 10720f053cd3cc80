/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /execute as agent.py has it: "command" split with shlex (the core
 * quoted it for that), "async" and "shell" presence flags ("async=0" is
 * still async), "cwd". A waited command answers its stdout and stderr but no
 * exit code; a started one answers nothing of the process. nestbox-agent's
 * extension adds both (agent_extensions.c reads its answers).
 */
#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_run.h"
#include "agent_extensions.h"

/* JSON escapes a byte as at most 6 characters; two streams, and the rest. */
static gsize
answer_bound(const struct agent_session *session, const struct nbx_guest_command *command)
{
	gint64 limit = agent_output_limit(session, command);
	gint64 bound = session->settings.max_answer_bytes + 2 * 6 * limit;

	return (gsize)MIN(bound, G_MAXINT32);
}

/*
 * The "command" field. With "shell", agent.py runs Popen(shlex words,
 * shell=True): on POSIX only the FIRST word is the shell's script (the rest
 * become $0, $1...), so the whole command is sent as one quoted word; on
 * Windows the words are joined again for cmd.exe, so it goes as it is.
 */
static char *
command_field(const struct agent_session *session, const struct nbx_guest_command *command)
{
	if ((command->flags & NBX_GUEST_COMMAND_SHELL) != 0 && !session->windows)
		return g_shell_quote(command->command);
	return g_strdup(command->command);
}

static void
note_no_exit_code(struct nbx_guest_process *process, gboolean wait)
{
	if (wait)
		agent_note(process, "agent.py's /execute reports no exit code (the launcher, "
				    "use_launcher, needs /execpy)");
	else
		agent_note(process, "agent.py's /execute reports nothing of a started command: "
				    "no pid, no exit code, no end");
}

/* A waited command whose answer was too large to read: it ended, its output is lost. */
static bool
ended_unread(struct agent_session *session, struct nbx_guest_process *process, gsize bound)
{
	process->state = NBX_GUEST_PROCESS_EXITED;
	agent_note(process, "the agent's answer was larger than %" G_GSIZE_FORMAT
			    " bytes: neither output nor exit code was read",
		   bound);
	agent_report_truncated(session);
	return true;
}

/* Plain /execute's answer: the output of a waited command, nothing else. */
static bool
executed(struct agent_session *session, const struct nbx_guest_command *command,
	 JsonObject *answer, struct nbx_guest_process *process, struct nbx_error *err)
{
	gboolean wait = (command->flags & NBX_GUEST_COMMAND_WAIT) != 0;
	int64_t limit = agent_output_limit(session, command);
	const char *out = answer != NULL ? agent_answer_string(answer, "stdout") : NULL;
	const char *errors = answer != NULL ? agent_answer_string(answer, "stderr") : NULL;

	note_no_exit_code(process, wait);
	if (!wait) {
		process->state = NBX_GUEST_PROCESS_STARTED;
		return true;
	}
	process->state = NBX_GUEST_PROCESS_EXITED;
	return agent_write_output(session, command->stdout_fd, out ? out : "",
				  out ? strlen(out) : 0, limit, err) &&
	       agent_write_output(session, command->stderr_fd, errors ? errors : "",
				  errors ? strlen(errors) : 0, limit, err);
}

bool
agent_execute_command(struct agent_session *session, const struct nbx_guest_command *command,
		      struct nbx_guest_process *process, struct nbx_error *err)
{
	gboolean wait = (command->flags & NBX_GUEST_COMMAND_WAIT) != 0;
	gsize bound = wait ? answer_bound(session, command) : (gsize)session->settings.max_answer_bytes;
	g_autofree char *command_text = command_field(session, command);
	g_auto(AgentAnswer) answer = { 0 };
	struct nbx_error attempt = { 0 };
	AgentFailure failure = AGENT_FAILURE_NONE;
	const char *form[9] = { "command", command_text, NULL };
	gsize n = 2;

	if ((command->flags & NBX_GUEST_COMMAND_SHELL) != 0) {
		form[n++] = "shell";
		form[n++] = "1";
	}
	if (!wait) {
		form[n++] = "async";
		form[n++] = "1";
	}
	if (command->cwd != NULL) {
		form[n++] = "cwd";
		form[n++] = command->cwd;
	}
	if (!agent_call(session, "POST", "/execute", wait ? AGENT_REQUEST_WAIT : AGENT_REQUEST_QUICK,
			form, bound, &answer, &failure, &attempt)) {
		/* The agent answers a waited command once it has ended. */
		if (wait && failure == AGENT_FAILURE_TOO_LARGE)
			return ended_unread(session, process, bound);
		session->host->error_set(session->host, err, attempt.code, "%s", attempt.message);
		return false;
	}
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /execute", &answer, err);
		return false;
	}
	if (session->run_method == AGENT_RUN_EXTENDED)
		return agent_extended_executed(session, command, answer.object, process, err);
	return executed(session, command, answer.object, process, err);
}
