/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connect: GET / until the agent answers, then what it is (name, version,
 * features), how commands will run on it, and what it can do. disconnect:
 * the session's end (nothing is sent: the agent keeps no session, and
 * /kill would stop the agent itself, not a command).
 */
#include <inttypes.h>
#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"
#include "agent_helper.h"
#include "agent_plugin.h"

/* Features beyond these are listed in the report but mean nothing here. */
#define MAX_FEATURES 64
#define MAX_FEATURE_LENGTH 64

static const struct {
	const char *name;
	uint32_t bit;
} known_features[] = {
	{ "execpy", AGENT_FEATURE_EXECPY },
	{ "execute", AGENT_FEATURE_EXECUTE },
	{ "logs", AGENT_FEATURE_LOGS },
	{ "unicodepath", AGENT_FEATURE_UNICODEPATH },
	{ "execute_exitcode", AGENT_FEATURE_EXECUTE_EXITCODE },
	{ "process", AGENT_FEATURE_PROCESS },
	{ "list", AGENT_FEATURE_LIST },
	{ "clock", AGENT_FEATURE_CLOCK },
};

static void
session_free(struct agent_session *session)
{
	if (session == NULL)
		return;
	agent_endpoint_clear(&session->endpoint);
	g_clear_pointer(&session->launches, g_ptr_array_unref);
	g_free(session);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentSession, session_free)

static struct agent_session *
session_new(struct agent_plugin *plugin, const struct nbx_guest_context *context,
	    struct nbx_error *err)
{
	const struct nbx_machine *machine = context->machine;
	struct agent_session *session = g_new0(struct agent_session, 1);
	int port;

	session->host = plugin->host;
	session->context = context;
	session->settings = plugin->settings;
	agent_settings_apply_task(plugin->host, context->task, &session->settings);
	session->windows = g_strcmp0(machine->platform, "windows") == 0;
	session->launches = g_ptr_array_new_with_free_func(g_free);
	port = machine->agent_port > 0 ? machine->agent_port : (int)session->settings.port;
	if (!agent_endpoint_init(&session->endpoint, plugin->host, machine->ip, port,
				 session->settings.request_timeout_s, err)) {
		session_free(session);
		return NULL;
	}
	return session;
}

/* Sleeps until the next try; false when the deadline leaves no time for one. */
static gboolean
pause_before_retry(struct agent_session *session)
{
	const struct nbx_host *host = session->host;
	int64_t now = host->monotonic_us(host);
	int64_t wake = now + session->settings.retry_interval_ms * 1000;

	if (session->deadline_us != 0 && wake >= session->deadline_us)
		return FALSE;
	g_usleep((gulong)(wake - now));
	return TRUE;
}

static bool
fail_not_agent(struct agent_session *session, const AgentAnswer *index, struct nbx_error *err)
{
	g_autofree char *words = agent_answer_message(index->object);

	session->host->error_set(session->host, err, NBX_ERROR_INVALID,
				 "what answers at %s is not a Cuckoo/CAPE agent: GET / gave HTTP %u%s%s",
				 session->endpoint.name, index->status, words ? ": " : "",
				 words ? words : "");
	return false;
}

/*
 * GET / until an answer, the deadline, or something that is not an agent.
 * An agent that is not up yet refuses the connection or stays silent: both
 * are retried.
 */
static bool
wait_for_index(struct agent_session *session, AgentAnswer *index, struct nbx_error *err)
{
	const struct nbx_host *host = session->host;
	g_autofree char *last = NULL;

	for (;;) {
		struct nbx_error attempt = { 0 };
		AgentFailure failure = AGENT_FAILURE_NONE;

		if (agent_call(session, "GET", "/", AGENT_REQUEST_QUICK, NULL,
			       (gsize)session->settings.max_answer_bytes, index, &failure, &attempt)) {
			if (index->status == SOUP_STATUS_OK && index->object != NULL)
				return true;
			return fail_not_agent(session, index, err);
		}
		if (failure == AGENT_FAILURE_PROTOCOL || attempt.code == NBX_ERROR_INVALID) {
			host->error_set(host, err, attempt.code, "%s", attempt.message);
			return false;
		}
		/* The try the deadline cut short says less than the one before it. */
		if (failure != AGENT_FAILURE_FINAL || last == NULL) {
			g_free(last);
			last = g_strdup(attempt.message);
		}
		if (failure == AGENT_FAILURE_FINAL || !pause_before_retry(session))
			break;
	}
	host->error_set(host, err, NBX_ERROR_TIMEOUT,
			"the agent at %s did not answer before the step's deadline (last try: %s)",
			session->endpoint.name, last);
	return false;
}

/* Copies printable @text into @out (@size bytes), cut at a character boundary. */
static void
copy_text(char *out, size_t size, const char *text)
{
	g_autofree char *printable = agent_text_printable(text, -1, size);
	const char *end = printable;

	while (*end != '\0' && (size_t)(g_utf8_next_char(end) - printable) < size)
		end = g_utf8_next_char(end);
	memcpy(out, printable, (size_t)(end - printable));
	out[end - printable] = '\0';
}

static gboolean
feature_well_formed(const char *feature)
{
	size_t length = strlen(feature);

	if (length == 0 || length > MAX_FEATURE_LENGTH)
		return FALSE;
	for (const char *p = feature; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
			return FALSE;
	}
	return TRUE;
}

/* The announced features: their bits, and the well-formed ones as a JSON array. */
static uint32_t
read_features(JsonArray *features, GString *listed, JsonBuilder *json)
{
	guint count = features != NULL ? MIN(json_array_get_length(features), MAX_FEATURES) : 0;
	uint32_t bits = 0;

	json_builder_begin_array(json);
	for (guint i = 0; i < count; i++) {
		JsonNode *node = json_array_get_element(features, i);
		const char *feature;

		if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
			continue;
		feature = json_node_get_string(node);
		if (!feature_well_formed(feature))
			continue;
		for (gsize k = 0; k < G_N_ELEMENTS(known_features); k++) {
			if (strcmp(feature, known_features[k].name) == 0)
				bits |= known_features[k].bit;
		}
		g_string_append_printf(listed, "%s%s", listed->len > 0 ? " " : "", feature);
		json_builder_add_string_value(json, feature);
	}
	json_builder_end_array(json);
	return bits;
}

static JsonArray *
features_member(JsonObject *index)
{
	JsonNode *node = json_object_get_member(index, "features");

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static char *
agent_name(JsonObject *index)
{
	const char *message = agent_answer_string(index, "message");
	char *name = g_strdup(message != NULL ? message : "");

	/* "CAPE Agent!", "Cuckoo Agent!" */
	if (g_str_has_suffix(name, "!"))
		name[strlen(name) - 1] = '\0';
	return name;
}

static bool
read_index(struct agent_session *session, JsonObject *index, struct nbx_guest_info *info,
	   struct nbx_error *err)
{
	const char *version = agent_answer_string(index, "version");
	JsonArray *features = features_member(index);
	g_autoptr(GString) listed = g_string_new(NULL);
	g_autoptr(JsonBuilder) json = json_builder_new();
	g_autoptr(JsonNode) array = NULL;
	g_autofree char *name = agent_name(index);
	g_autofree char *array_text = NULL;

	if (version == NULL && features == NULL) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "what answers at %s is not a Cuckoo/CAPE agent: its answer "
					 "to GET / has neither version nor features",
					 session->endpoint.name);
		return false;
	}
	session->features = read_features(features, listed, json);
	copy_text(info->name, sizeof info->name, name);
	copy_text(info->version, sizeof info->version, version != NULL ? version : "");
	copy_text(info->features, sizeof info->features, listed->str);
	array = json_builder_get_root(json);
	array_text = json_to_string(array, FALSE);
	agent_report_string(session, "agent_name", info->name);
	agent_report_string(session, "agent_version", info->version);
	session->host->report_set_json(session->host, session->context->report, "agent_features",
				       array_text, NULL);
	return true;
}

/* The extension, where announced, needs no script; else the launcher, if wanted. */
static enum agent_run_method
choose_run_method(const struct agent_session *session)
{
	if (agent_has(session, AGENT_FEATURE_EXECUTE | AGENT_FEATURE_EXECUTE_EXITCODE |
				 AGENT_FEATURE_PROCESS))
		return AGENT_RUN_EXTENDED;
	if (session->settings.use_launcher && agent_has(session, AGENT_FEATURE_EXECPY))
		return AGENT_RUN_LAUNCHER_EXECPY;
	if (session->settings.use_launcher && agent_has(session, AGENT_FEATURE_EXECUTE) &&
	    agent_interpreter(session) != NULL)
		return AGENT_RUN_LAUNCHER_EXECUTE;
	if (agent_has(session, AGENT_FEATURE_EXECUTE))
		return AGENT_RUN_EXECUTE;
	return AGENT_RUN_NONE;
}

static uint32_t
abilities(const struct agent_session *session)
{
	uint32_t abilities = NBX_GUEST_CAN_DOWNLOAD;

	switch (session->run_method) {
	case AGENT_RUN_EXTENDED:
	case AGENT_RUN_LAUNCHER_EXECPY:
	case AGENT_RUN_LAUNCHER_EXECUTE:
		abilities |= NBX_GUEST_CAN_WATCH | NBX_GUEST_CAN_EXIT_CODE | NBX_GUEST_CAN_OUTPUT;
		break;
	case AGENT_RUN_EXECUTE:
		abilities |= NBX_GUEST_CAN_OUTPUT;
		break;
	case AGENT_RUN_NONE:
		break;
	}
	if (agent_has(session, AGENT_FEATURE_LOGS))
		abilities |= NBX_GUEST_CAN_AGENT_LOG;
	if (agent_has(session, AGENT_FEATURE_LIST) || agent_helper_available(session))
		abilities |= NBX_GUEST_CAN_LIST;
	if (agent_has(session, AGENT_FEATURE_CLOCK) || agent_helper_available(session) ||
	    agent_has(session, AGENT_FEATURE_EXECUTE))
		abilities |= NBX_GUEST_CAN_SET_CLOCK;
	return abilities;
}

static const char *
run_method_name(enum agent_run_method method)
{
	switch (method) {
	case AGENT_RUN_EXTENDED:
		return "/execute with nestbox-agent's exit codes and /process";
	case AGENT_RUN_LAUNCHER_EXECPY:
		return "launcher through /execpy";
	case AGENT_RUN_LAUNCHER_EXECUTE:
		return "launcher through /execute and the configured interpreter";
	case AGENT_RUN_EXECUTE:
		return "/execute (no exit code, no watching)";
	case AGENT_RUN_NONE:
		break;
	}
	return "none: the agent announces neither execute nor execpy";
}

bool
agent_op_connect(void *instance, const struct nbx_guest_context *context, void **session_out,
		 struct nbx_guest_info *info, const struct nbx_call *call, struct nbx_error *err)
{
	struct agent_plugin *plugin = instance;
	g_autoptr(AgentSession) session = session_new(plugin, context, err);
	g_auto(AgentAnswer) index = { 0 };

	if (session == NULL || !agent_op_begin(session, call, err) ||
	    !wait_for_index(session, &index, err) || !read_index(session, index.object, info, err))
		return false;
	session->run_method = choose_run_method(session);
	info->abilities = abilities(session);
	agent_report_string(session, "run_method", run_method_name(session->run_method));
	plugin->host->log(plugin->host, NBX_LOG_INFO,
			  "task %" PRId64 ": %s %s at %s; commands run by %s",
			  context->task->id, info->name[0] ? info->name : "agent", info->version,
			  session->endpoint.name, run_method_name(session->run_method));
	*session_out = g_steal_pointer(&session);
	return true;
}

void
agent_op_disconnect(void *instance, const struct nbx_guest_context *context, void *session)
{
	session_free(session);
}
