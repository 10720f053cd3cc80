/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the three ways of running a command share: see agent_output.h. */
#include "agent_output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "agent_plugin.h"

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
