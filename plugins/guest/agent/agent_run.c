/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * execute and poll: each command goes the way connect chose for the
 * session; a command's handle says which way it went, so poll asks the
 * right thing (the launcher's files, nestbox-agent's /process, or nothing:
 * plain /execute tells nothing of a started command).
 */
#include "agent_run.h"

#include "agent_extensions.h"
#include "agent_plugin.h"

#define KNOWN_COMMAND_FLAGS (NBX_GUEST_COMMAND_WAIT | NBX_GUEST_COMMAND_SHELL)

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
