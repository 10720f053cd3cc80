/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the three ways of running a command (agent_launcher.c,
 * agent_execute.c, agent_extensions.c) share: the output bounds, its copy
 * into the core's files, the notes, how a command ended, the report. Below
 * them all; it calls none of them.
 */
#pragma once

#include <nestbox/plugin.h>

#include "agent_session.h"

/* Bytes of each output stream kept for @command: the core's and the setting's bound. */
int64_t agent_output_limit(const struct agent_session *session,
			   const struct nbx_guest_command *command);

/*
 * Writes at most @limit bytes of @text into @fd (-1: nowhere); a longer text
 * is cut and recorded as output_truncated in the report.
 */
bool agent_write_output(struct agent_session *session, int fd, const char *text, gsize length,
			int64_t limit, struct nbx_error *err);

/*
 * Copies the guest file @guest_path (a command's output) into @fd (-1:
 * nowhere), at most @limit bytes; more, or a missing file, is recorded.
 */
bool agent_fetch_output(struct agent_session *session, const char *guest_path, int fd,
			int64_t limit, struct nbx_error *err);

/* Records in the report that an output stream was cut. */
void agent_report_truncated(struct agent_session *session);

/* Sets @process's note (why an exit code or output is missing). */
void agent_note(struct nbx_guest_process *process, const char *format, ...) G_GNUC_PRINTF(2, 3);

/*
 * Records how a command ended: a negative @value is a POSIX signal (Python's
 * returncode -N), noted; any other an exit code, its low 32 bits (Windows'
 * NTSTATUS values are over 2^31).
 */
void agent_record_exit(struct nbx_guest_process *process, gint64 value);
