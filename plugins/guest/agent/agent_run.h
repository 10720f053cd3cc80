/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a command in the guest, three ways (see enum agent_run_method):
 * the launcher (agent_launcher.c), plain /execute (agent_execute.c), and
 * nestbox-agent's extended /execute with /process (agent_extensions.c).
 * What they share (the output bounds, the notes, the report) is in
 * agent_output.h, below them; agent_run.c picks the way for each command.
 */
#pragma once

#include <nestbox/plugin.h>

#include "agent_output.h"
#include "agent_session.h"

/* agent_launcher.c */
bool agent_launcher_execute(struct agent_session *session, const struct nbx_guest_command *command,
			    struct nbx_guest_process *process, struct nbx_error *err);
bool agent_launcher_poll(struct agent_session *session, const struct nbx_guest_command *command,
			 struct nbx_guest_process *process, struct nbx_error *err);

/* agent_execute.c: plain /execute, and the extended one's request (agent_extensions.h). */
bool agent_execute_command(struct agent_session *session, const struct nbx_guest_command *command,
			   struct nbx_guest_process *process, struct nbx_error *err);
