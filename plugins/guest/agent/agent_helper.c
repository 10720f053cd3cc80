/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_helper.h"

#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_resources.h"

#define HELPER_RESOURCE "/org/nestbox/plugins/guest/agent/guest_helper.py"
#define HELPER_FILE "nestbox_helper.py"
#define SPEC_PLACEHOLDER "@SPEC@"
#define SAID_CHARS 400

void
agent_helper_run_clear(AgentHelperRun *run)
{
	g_clear_pointer(&run->dir, g_free);
	g_clear_pointer(&run->said, g_free);
}

gboolean
agent_helper_available(const struct agent_session *session)
{
	return agent_has(session, AGENT_FEATURE_EXECPY) ||
	       (agent_has(session, AGENT_FEATURE_EXECUTE) && agent_interpreter(session) != NULL);
}

char *
agent_helper_path(const struct agent_session *session, const AgentHelperRun *run,
		  const char *name)
{
	return agent_guest_join(session, run->dir, name);
}

/* The script with @spec in it, base64 so no quoting can break it. */
static GBytes *
helper_script(JsonNode *spec)
{
	g_autoptr(GBytes) template = g_resource_lookup_data(
		agent_resources_get_resource(), HELPER_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	g_autofree char *json = json_to_string(spec, FALSE);
	g_autofree char *encoded = g_base64_encode((const guchar *)json, strlen(json));
	g_autoptr(GString) script = NULL;

	g_assert(template != NULL); /* compiled in */
	script = g_string_new_len(g_bytes_get_data(template, NULL),
				  (gssize)g_bytes_get_size(template));
	g_string_replace(script, SPEC_PLACEHOLDER, encoded, 1);
	return g_string_free_to_bytes(g_steal_pointer(&script));
}

/* What an agent's answer to a waited run says the interpreter printed. */
static char *
interpreter_said(JsonObject *answer)
{
	const char *stderr_text = answer != NULL ? agent_answer_string(answer, "stderr") : NULL;
	const char *stdout_text = answer != NULL ? agent_answer_string(answer, "stdout") : NULL;
	const char *text = stderr_text != NULL && stderr_text[0] != '\0' ? stderr_text : stdout_text;

	if (text == NULL || text[0] == '\0')
		return NULL;
	/* The end of a traceback says the most. */
	if (strlen(text) > SAID_CHARS)
		text += strlen(text) - SAID_CHARS;
	return agent_text_printable(text, -1, SAID_CHARS);
}

/* POST /execpy, or /execute with the interpreter, of the uploaded script. */
static bool
launch(struct agent_session *session, const char *script, gboolean wait, AgentHelperRun *run,
       struct nbx_error *err)
{
	gboolean execpy = agent_has(session, AGENT_FEATURE_EXECPY);
	g_autofree char *quoted_interpreter = NULL, *quoted_script = NULL, *command = NULL;
	g_auto(AgentAnswer) answer = { 0 };
	const char *path = execpy ? "/execpy" : "/execute";
	const char *form[9] = { NULL };
	gsize n = 0;

	if (execpy) {
		form[n++] = "filepath";
		form[n++] = script;
	} else {
		quoted_interpreter = g_shell_quote(agent_interpreter(session));
		quoted_script = g_shell_quote(script);
		command = g_strconcat(quoted_interpreter, " ", quoted_script, NULL);
		form[n++] = "command";
		form[n++] = command;
	}
	form[n++] = "cwd";
	form[n++] = run->dir;
	if (!wait) {
		/* A presence flag: its value means nothing to the agents. */
		form[n++] = "async";
		form[n++] = "1";
	}
	if (!agent_call(session, "POST", path, wait ? AGENT_REQUEST_WAIT : AGENT_REQUEST_QUICK,
			form, (gsize)session->settings.max_answer_bytes, &answer, NULL, err))
		return false;
	run->said = interpreter_said(answer.object);
	/* CAPE answers a script that exited non-zero with 400 and its exitcode. */
	if (SOUP_STATUS_IS_SUCCESSFUL(answer.status) ||
	    (answer.status == SOUP_STATUS_BAD_REQUEST && answer.object != NULL &&
	     json_object_has_member(answer.object, "exitcode")))
		return true;
	agent_fail_refused(session, execpy ? "POST /execpy of the helper script"
					   : "POST /execute of the helper script",
			   &answer, err);
	return false;
}

bool
agent_helper_start(struct agent_session *session, JsonNode *spec, gboolean wait,
		   AgentHelperRun *run, struct nbx_error *err)
{
	g_autoptr(GBytes) script = helper_script(spec);
	g_autofree char *script_path = NULL;

	if (!agent_make_temp_dir(session, "nestbox-", &run->dir, err))
		return false;
	script_path = agent_guest_join(session, run->dir, HELPER_FILE);
	return agent_store_bytes(session, script_path, script, err) &&
	       launch(session, script_path, wait, run, err);
}

bool
agent_helper_read(struct agent_session *session, const AgentHelperRun *run, const char *name,
		  JsonObject **object, gboolean *missing, struct nbx_error *err)
{
	g_autofree char *path = agent_helper_path(session, run, name);
	g_autoptr(GBytes) data = NULL;
	g_autofree char *problem = NULL;

	*object = NULL;
	/* Small JSON documents, but for a listing. */
	if (!agent_retrieve_bytes(session, path, (gsize)session->settings.max_listing_bytes,
				  &data, missing, err))
		return false;
	if (*missing)
		return true;
	*object = agent_answer_parse(data, &problem);
	if (*object == NULL) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the helper's file %s in the guest holds %s", path, problem);
		return false;
	}
	return true;
}

bool
agent_helper_run(struct agent_session *session, JsonNode *spec, JsonObject **result,
		 struct nbx_error *err)
{
	g_auto(AgentHelperRun) run = { 0 };
	gboolean missing = FALSE;

	if (!agent_helper_start(session, spec, TRUE, &run, err) ||
	    !agent_helper_read(session, &run, "result", result, &missing, err))
		return false;
	if (missing) {
		session->host->error_set(session->host, err, NBX_ERROR_FAILED,
					 "the helper script in %s ended without a result%s%s", run.dir,
					 run.said != NULL ? "; the interpreter said: " : "",
					 run.said != NULL ? run.said : "");
		return false;
	}
	return true;
}
