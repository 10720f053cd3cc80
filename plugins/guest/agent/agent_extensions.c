/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox-agent's extensions to the protocol (its PROTOCOL.md), used only
 * when it announces them in GET /'s features:
 *  - "execute_exitcode": a waited /execute answers "exitcode" and whether
 *    stdout/stderr were cut; a started one answers "process_id" and the
 *    guest files its output goes to;
 *  - "process": POST /process (process_id, wait) says whether it still runs
 *    and its exit code;
 *  - "list": POST /list (pattern, limit) lists the files a glob matches;
 *  - "clock": POST /clock (time) sets the guest's clock.
 * Everything else in this plugin is agent.py's protocol as CAPE and Cuckoo
 * have it.
 */
#include "agent_extensions.h"

#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_run.h"

#define HANDLE_PREFIX "process:"

static bool
fail_answer(struct agent_session *session, const char *what, const char *missing,
	    struct nbx_error *err)
{
	session->host->error_set(session->host, err, NBX_ERROR_INVALID,
				 "the agent at %s answered %s without %s", session->endpoint.name,
				 what, missing);
	return false;
}

static bool
write_answer_output(struct agent_session *session, const struct nbx_guest_command *command,
		    JsonObject *answer, struct nbx_error *err)
{
	int64_t limit = agent_output_limit(session, command);
	const char *out = agent_answer_string(answer, "stdout");
	const char *errors = agent_answer_string(answer, "stderr");

	if (agent_answer_boolean(answer, "stdout_truncated", FALSE) ||
	    agent_answer_boolean(answer, "stderr_truncated", FALSE))
		agent_report_truncated(session);
	return agent_write_output(session, command->stdout_fd, out ? out : "", out ? strlen(out) : 0,
				  limit, err) &&
	       agent_write_output(session, command->stderr_fd, errors ? errors : "",
				  errors ? strlen(errors) : 0, limit, err);
}

bool
agent_extended_executed(struct agent_session *session, const struct nbx_guest_command *command,
			JsonObject *answer, struct nbx_guest_process *process,
			struct nbx_error *err)
{
	gint64 value;

	if (answer == NULL)
		return fail_answer(session, "POST /execute", "a body", err);
	if ((command->flags & NBX_GUEST_COMMAND_WAIT) == 0) {
		if (!agent_answer_integer(answer, "process_id", &value) || value <= 0)
			return fail_answer(session, "POST /execute", "a process_id", err);
		process->state = NBX_GUEST_PROCESS_RUNNING;
		process->pid = value;
		g_snprintf(process->handle, sizeof process->handle, HANDLE_PREFIX "%" G_GINT64_FORMAT,
			   value);
		return true;
	}
	if (!agent_answer_integer(answer, "exitcode", &value))
		return fail_answer(session, "POST /execute", "an exitcode", err);
	agent_record_exit(process, value);
	return write_answer_output(session, command, answer, err);
}

/* The output files an exited process's answer names, into the core's descriptors. */
static bool
fetch_outputs(struct agent_session *session, const struct nbx_guest_command *command,
	      JsonObject *answer, struct nbx_error *err)
{
	int64_t limit = agent_output_limit(session, command);
	const char *out = agent_answer_string(answer, "stdout_path");
	const char *errors = agent_answer_string(answer, "stderr_path");

	return (out == NULL || agent_fetch_output(session, out, command->stdout_fd, limit, err)) &&
	       (errors == NULL ||
		agent_fetch_output(session, errors, command->stderr_fd, limit, err));
}

bool
agent_extended_poll(struct agent_session *session, const struct nbx_guest_command *command,
		    struct nbx_guest_process *process, struct nbx_error *err)
{
	const char *pid = process->handle + strlen(HANDLE_PREFIX);
	const char *form[] = { "process_id", pid, "wait", "0", NULL };
	g_auto(AgentAnswer) answer = { 0 };
	const char *status;
	gint64 value;

	if (!agent_call(session, "POST", "/process", AGENT_REQUEST_QUICK, form,
			(gsize)session->settings.max_answer_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /process", &answer, err);
		return false;
	}
	status = answer.object != NULL ? agent_answer_string(answer.object, "status") : NULL;
	if (g_strcmp0(status, "running") == 0) {
		process->state = NBX_GUEST_PROCESS_RUNNING;
		return true;
	}
	if (g_strcmp0(status, "exited") != 0)
		return fail_answer(session, "POST /process", "a status running or exited", err);
	if (agent_answer_integer(answer.object, "exitcode", &value)) {
		agent_record_exit(process, value);
	} else {
		process->state = NBX_GUEST_PROCESS_EXITED;
		agent_note(process, "nestbox-agent's /process gave no exit code");
	}
	return fetch_outputs(session, command, answer.object, err);
}

/* One match of POST /list; false (with @err) when the answer is malformed. */
static bool
emit_listed(struct agent_session *session, JsonNode *node, nbx_guest_file_fn emit,
	    void *emit_data, gboolean *go_on, struct nbx_error *err)
{
	JsonObject *file = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	const char *path = file != NULL ? agent_answer_string(file, "path") : NULL;
	gint64 size = -1;

	if (path == NULL || !g_utf8_validate(path, -1, NULL))
		return fail_answer(session, "POST /list", "a path for every file", err);
	if (!agent_answer_integer(file, "size", &size) || size < 0)
		size = -1;
	*go_on = emit(emit_data, path, size);
	return true;
}

bool
agent_extended_list(struct agent_session *session, const char *pattern, uint32_t max_matches,
		    nbx_guest_file_fn emit, void *emit_data, struct nbx_error *err)
{
	g_autofree char *limit = g_strdup_printf("%u", MIN(max_matches, 10000u));
	const char *form[] = { "pattern", pattern, "limit", limit, NULL };
	g_auto(AgentAnswer) answer = { 0 };
	JsonNode *files;
	gboolean go_on = TRUE;

	if (!agent_call(session, "POST", "/list", AGENT_REQUEST_QUICK, form,
			(gsize)session->settings.max_listing_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /list", &answer, err);
		return false;
	}
	files = answer.object != NULL ? json_object_get_member(answer.object, "files") : NULL;
	if (files == NULL || !JSON_NODE_HOLDS_ARRAY(files))
		return fail_answer(session, "POST /list", "a files array", err);
	for (guint i = 0; go_on && i < json_array_get_length(json_node_get_array(files)) &&
			  i < max_matches;
	     i++) {
		if (!emit_listed(session, json_array_get_element(json_node_get_array(files), i), emit,
				 emit_data, &go_on, err))
			return false;
	}
	return true;
}

bool
agent_extended_set_clock(struct agent_session *session, int64_t unix_time_us,
			 struct nbx_error *err)
{
	g_autofree char *time = g_strdup_printf("%" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT,
						unix_time_us / G_USEC_PER_SEC,
						unix_time_us % G_USEC_PER_SEC);
	const char *form[] = { "time", time, NULL };
	g_auto(AgentAnswer) answer = { 0 };

	if (!agent_call(session, "POST", "/clock", AGENT_REQUEST_QUICK, form,
			(gsize)session->settings.max_answer_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /clock", &answer, err);
		return false;
	}
	if (answer.object == NULL || !agent_answer_boolean(answer.object, "set", FALSE)) {
		g_autofree char *words = agent_answer_message(answer.object);

		session->host->error_set(session->host, err, NBX_ERROR_FAILED,
					 "the agent at %s did not set the clock: %s",
					 session->endpoint.name, words != NULL ? words : "no reason given");
		return false;
	}
	return true;
}
