/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * set_clock: a guest restored from a memory state wakes up at the time it
 * was saved. agent.py has no route for the clock, so it is set the first
 * way the agent allows: nestbox-agent's /clock, the helper script (through
 * /execpy or an interpreter), or a command through /execute whose output
 * shows the new time. The report says which, and whether it worked.
 */
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_extensions.h"
#include "agent_helper.h"
#include "agent_plugin.h"

/* How far the time a command prints may be from the one asked for. */
#define CLOCK_TOLERANCE_S 5

/* The time to set now, for an op that was asked for @unix_time_us at @asked_us. */
static double
time_now(struct agent_session *session, int64_t unix_time_us, int64_t asked_us)
{
	int64_t elapsed = session->host->monotonic_us(session->host) - asked_us;

	return (double)(unix_time_us + elapsed) / G_USEC_PER_SEC;
}

static bool
set_by_helper(struct agent_session *session, int64_t unix_time_us, int64_t asked_us,
	      struct nbx_error *err)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) spec = NULL;
	g_autoptr(JsonObject) result = NULL;
	const char *why;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "action");
	json_builder_add_string_value(builder, "clock");
	json_builder_set_member_name(builder, "time");
	json_builder_add_double_value(builder, time_now(session, unix_time_us, asked_us));
	json_builder_end_object(builder);
	spec = json_builder_get_root(builder);
	if (!agent_helper_run(session, spec, &result, err))
		return false;
	if (agent_answer_boolean(result, "set", FALSE))
		return true;
	why = agent_answer_boolean(result, "dry_run", FALSE)
		      ? "NESTBOX_HELPER_DRY_CLOCK is set in the agent's environment"
		      : agent_answer_string(result, "error");
	g_autofree char *shown = agent_text_printable(why != NULL ? why : "no reason given", -1, 300);
	session->host->error_set(session->host, err, NBX_ERROR_FAILED,
				 "the helper script did not set the guest's clock: %s", shown);
	return false;
}

/* A command that sets the clock to @seconds and prints the clock's new time. */
static char *
clock_command(const struct agent_session *session, gint64 seconds)
{
	g_autofree char *script = NULL, *quoted = NULL;

	if (!session->windows)
		return g_strdup_printf("date -u -s @%" G_GINT64_FORMAT " +%%s", seconds);
	script = g_strdup_printf("Set-Date -Date ([DateTimeOffset]::FromUnixTimeSeconds(%" G_GINT64_FORMAT
				 ").LocalDateTime) | Out-Null; "
				 "[DateTimeOffset]::UtcNow.ToUnixTimeSeconds()",
				 seconds);
	quoted = g_shell_quote(script);
	return g_strdup_printf("powershell -NoProfile -NonInteractive -Command %s", quoted);
}

static bool
set_by_command(struct agent_session *session, int64_t unix_time_us, int64_t asked_us,
	       struct nbx_error *err)
{
	gint64 seconds = (gint64)(time_now(session, unix_time_us, asked_us) + 0.5);
	g_autofree char *command = clock_command(session, seconds);
	const char *form[] = { "command", command, NULL };
	g_auto(AgentAnswer) answer = { 0 };
	const char *printed, *errors;
	gint64 now = 0;

	if (!agent_call(session, "POST", "/execute", AGENT_REQUEST_WAIT, form,
			(gsize)session->settings.max_answer_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /execute of the clock command", &answer, err);
		return false;
	}
	printed = answer.object != NULL ? agent_answer_string(answer.object, "stdout") : NULL;
	if (printed != NULL)
		now = g_ascii_strtoll(printed, NULL, 10);
	if (llabs(now - seconds) <= CLOCK_TOLERANCE_S)
		return true;
	errors = answer.object != NULL ? agent_answer_string(answer.object, "stderr") : NULL;
	g_autofree char *shown = agent_text_printable(errors != NULL && errors[0] != '\0' ? errors
							 : printed != NULL ? printed
									   : "nothing",
						     -1, 300);
	session->host->error_set(session->host, err, NBX_ERROR_FAILED,
				 "\"%s\" did not set the guest's clock; it printed: %s", command, shown);
	return false;
}

bool
agent_op_set_clock(void *instance, void *session_ptr, int64_t unix_time_us,
		   const struct nbx_call *call, struct nbx_error *err)
{
	struct agent_session *session = session_ptr;
	int64_t asked_us = session->host->monotonic_us(session->host);
	const char *method;
	bool set;

	if (!agent_op_begin(session, call, err))
		return false;
	if (agent_has(session, AGENT_FEATURE_CLOCK)) {
		method = "nestbox-agent's /clock";
		set = agent_extended_set_clock(session, unix_time_us, err);
	} else if (agent_helper_available(session)) {
		method = "the helper script";
		set = set_by_helper(session, unix_time_us, asked_us, err);
	} else if (agent_has(session, AGENT_FEATURE_EXECUTE)) {
		method = session->windows ? "PowerShell's Set-Date through /execute"
					  : "date -s through /execute";
		set = set_by_command(session, unix_time_us, asked_us, err);
	} else {
		method = "none";
		set = false;
		session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
					 "the agent at %s has no way to set the clock: it announces "
					 "none of clock, execpy and execute",
					 session->endpoint.name);
	}
	agent_report_string(session, "clock_method", method);
	agent_report_boolean(session, "clock_set", set);
	if (!set)
		agent_report_string(session, "clock_error", err->message);
	return set;
}
