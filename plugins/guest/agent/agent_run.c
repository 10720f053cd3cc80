/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * execute and poll: each command goes the way connect chose for the
 * session; a command's handle says which way it went, so poll asks the
 * right thing (the launcher's files, nestbox-agent's /process, or nothing:
 * plain /execute tells nothing of a started command).
 */
#include "agent_run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_extensions.h"
#include "agent_plugin.h"

#define KNOWN_COMMAND_FLAGS (NBX_GUEST_COMMAND_WAIT | NBX_GUEST_COMMAND_SHELL)

int64_t
agent_output_limit(const struct agent_session *session, const struct nbx_guest_command *command)
{
	int64_t limit = command->output_limit > 0 ? command->output_limit : 0;

	return MIN(limit, session->settings.max_output_bytes);
}

void
agent_report_truncated(struct agent_session *session)
{
	agent_report_boolean(session, "output_truncated", TRUE);
}

bool
agent_write_output(struct agent_session *session, int fd, const char *text, gsize length,
		   int64_t limit, struct nbx_error *err)
{
	gsize keep = (gsize)MIN((int64_t)length, limit);
	const char *p = text;

	if (fd < 0)
		return true;
	if (keep < length)
		agent_report_truncated(session);
	while (keep > 0) {
		ssize_t n = write(fd, p, keep);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			session->host->error_set(session->host, err, NBX_ERROR_IO,
						 "writing the command's output failed: %s",
						 g_strerror(errno));
			return false;
		}
		p += n;
		keep -= (gsize)n;
	}
	return true;
}

bool
agent_fetch_output(struct agent_session *session, const char *guest_path, int fd, int64_t limit,
		   struct nbx_error *err)
{
	gboolean missing = FALSE, too_large = FALSE;
	int64_t written = 0;

	if (fd < 0)
		return true;
	if (!agent_retrieve_to_fd(session, guest_path, fd, limit, &written, &missing, &too_large,
				  err))
		return false;
	if (too_large)
		agent_report_truncated(session);
	if (missing)
		session->host->log(session->host, NBX_LOG_WARNING,
				   "task %" G_GINT64_FORMAT ": the command's output %s was not in the guest",
				   session->context->task->id, guest_path);
	return true;
}

void
agent_note(struct nbx_guest_process *process, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vsnprintf(process->note, sizeof process->note, format, args);
	va_end(args);
}

void
agent_record_exit(struct nbx_guest_process *process, gint64 value)
{
	process->state = NBX_GUEST_PROCESS_EXITED;
	if (value < 0) {
		agent_note(process, "the command was killed by signal %" G_GINT64_FORMAT, -value);
		return;
	}
	process->exit_code_known = true;
	process->exit_code = (int32_t)(uint32_t)(guint64)value;
}

static bool
fail_no_way(struct agent_session *session, struct nbx_error *err)
{
	const struct nbx_host *host = session->host;

	if (!session->settings.use_launcher && agent_has(session, AGENT_FEATURE_EXECPY))
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED,
				"use_launcher is off and the agent at %s does not announce execute "
				"(Cuckoo 2's agent.py runs only Python files, through /execpy): turn "
				"use_launcher on",
				session->endpoint.name);
	else
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED,
				"the agent at %s announces neither execute nor execpy: it cannot run "
				"a command",
				session->endpoint.name);
	return false;
}

bool
agent_op_execute(void *instance, void *session_ptr, const struct nbx_guest_command *command,
		 struct nbx_guest_process *process, const struct nbx_call *call,
		 struct nbx_error *err)
{
	struct agent_session *session = session_ptr;

	if (!agent_op_begin(session, call, err))
		return false;
	if ((command->flags & ~KNOWN_COMMAND_FLAGS) != 0) {
		session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
					 "unknown command flags 0x%x",
					 command->flags & ~KNOWN_COMMAND_FLAGS);
		return false;
	}
	switch (session->run_method) {
	case AGENT_RUN_LAUNCHER_EXECPY:
	case AGENT_RUN_LAUNCHER_EXECUTE:
		return agent_launcher_execute(session, command, process, err);
	case AGENT_RUN_EXTENDED:
	case AGENT_RUN_EXECUTE:
		return agent_execute_command(session, command, process, err);
	case AGENT_RUN_NONE:
		break;
	}
	return fail_no_way(session, err);
}

bool
agent_op_poll(void *instance, void *session_ptr, const struct nbx_guest_command *command,
	      struct nbx_guest_process *process, const struct nbx_call *call,
	      struct nbx_error *err)
{
	struct agent_session *session = session_ptr;

	if (!agent_op_begin(session, call, err))
		return false;
	if (process->state == NBX_GUEST_PROCESS_EXITED)
		return true;
	if (g_str_has_prefix(process->handle, "launch:"))
		return agent_launcher_poll(session, command, process, err);
	if (g_str_has_prefix(process->handle, "process:"))
		return agent_extended_poll(session, command, process, err);
	/* Started by plain /execute: the agent says nothing more about it. */
	return true;
}
