/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files back from the guest: download (POST /retrieve, streamed into the
 * core's descriptor and bounded), list_files (agent.py has no listing
 * route: nestbox-agent's /list, or the helper script's glob), agent_log
 * (GET /logs, where announced).
 */
#include <errno.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "agent_answer.h"
#include "agent_extensions.h"
#include "agent_helper.h"
#include "agent_plugin.h"

bool
agent_op_download(void *instance, void *session_ptr, const char *guest_path, int fd,
		  int64_t max_bytes, int64_t *size, const struct nbx_call *call,
		  struct nbx_error *err)
{
	struct agent_session *session = session_ptr;
	int64_t limit = MIN(max_bytes, session->settings.max_download_bytes);
	gboolean missing = FALSE, too_large = FALSE;
	g_autofree char *shown = agent_text_printable(guest_path, -1, 200);

	*size = 0;
	if (!agent_op_begin(session, call, err) ||
	    !agent_retrieve_to_fd(session, guest_path, fd, limit, size, &missing, &too_large, err))
		return false;
	if (missing) {
		session->host->error_set(session->host, err, NBX_ERROR_NOT_FOUND,
					 "the guest has no file %s (or the agent cannot read it)", shown);
		return false;
	}
	if (too_large) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the guest file %s is larger than the limit of %" G_GINT64_FORMAT
					 " bytes",
					 shown, limit);
		return false;
	}
	return true;
}

static JsonNode *
list_spec(const char *pattern, uint32_t max_matches)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "action");
	json_builder_add_string_value(builder, "list");
	json_builder_set_member_name(builder, "pattern");
	json_builder_add_string_value(builder, pattern);
	json_builder_set_member_name(builder, "limit");
	json_builder_add_int_value(builder, max_matches);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

/* The helper's listing: {"files": [{"path", "size"}], "truncated", "skipped"}. */
static bool
list_by_helper(struct agent_session *session, const char *pattern, uint32_t max_matches,
	       nbx_guest_file_fn emit, void *emit_data, struct nbx_error *err)
{
	g_autoptr(JsonNode) spec = list_spec(pattern, max_matches);
	g_autoptr(JsonObject) result = NULL;
	JsonNode *files;
	JsonArray *array;

	if (!agent_helper_run(session, spec, &result, err))
		return false;
	files = json_object_get_member(result, "files");
	if (files == NULL || !JSON_NODE_HOLDS_ARRAY(files)) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the helper's listing of %s has no files array", pattern);
		return false;
	}
	array = json_node_get_array(files);
	for (guint i = 0; i < json_array_get_length(array) && i < max_matches; i++) {
		JsonNode *node = json_array_get_element(array, i);
		JsonObject *file = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
		const char *path = file != NULL ? agent_answer_string(file, "path") : NULL;
		gint64 size = -1;

		/* Only ever a label and a /retrieve argument, but a string one. */
		if (path == NULL || !g_utf8_validate(path, -1, NULL))
			continue;
		if (!agent_answer_integer(file, "size", &size) || size < 0)
			size = -1;
		if (!emit(emit_data, path, size))
			break;
	}
	return true;
}

bool
agent_op_list_files(void *instance, void *session_ptr, const char *pattern,
		    uint32_t max_matches, nbx_guest_file_fn emit, void *emit_data,
		    const struct nbx_call *call, struct nbx_error *err)
{
	struct agent_session *session = session_ptr;

	if (!agent_op_begin(session, call, err))
		return false;
	if (pattern[0] == '\0' || max_matches == 0) {
		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "an empty pattern or no match allowed");
		return false;
	}
	if (agent_has(session, AGENT_FEATURE_LIST))
		return agent_extended_list(session, pattern, max_matches, emit, emit_data, err);
	if (agent_helper_available(session))
		return list_by_helper(session, pattern, max_matches, emit, emit_data, err);
	session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
				 "the agent at %s cannot list files: agent.py has no listing route, "
				 "and this one announces neither execpy (for the helper script) nor "
				 "nestbox-agent's list",
				 session->endpoint.name);
	return false;
}

/* Writes @text into @fd within *@budget bytes; cut silently (the log is best effort). */
static bool
write_log_part(struct agent_session *session, int fd, const char *text, int64_t *budget,
	       struct nbx_error *err)
{
	gsize keep = (gsize)MIN((int64_t)strlen(text), *budget);

	while (keep > 0) {
		ssize_t n = write(fd, text, keep);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			session->host->error_set(session->host, err, NBX_ERROR_IO,
						 "writing the agent's log failed: %s", g_strerror(errno));
			return false;
		}
		text += n;
		keep -= (gsize)n;
		*budget -= n;
	}
	return true;
}

bool
agent_op_agent_log(void *instance, void *session_ptr, int fd, int64_t max_bytes,
		   const struct nbx_call *call, struct nbx_error *err)
{
	struct agent_session *session = session_ptr;
	g_auto(AgentAnswer) answer = { 0 };
	const char *out, *errors;
	int64_t budget = max_bytes;

	if (!agent_op_begin(session, call, err))
		return false;
	if (!agent_has(session, AGENT_FEATURE_LOGS)) {
		session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
					 "the agent at %s does not announce logs",
					 session->endpoint.name);
		return false;
	}
	if (!agent_call(session, "GET", "/logs", AGENT_REQUEST_QUICK, NULL,
			(gsize)session->settings.max_log_answer_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status) || answer.object == NULL) {
		agent_fail_refused(session, "GET /logs", &answer, err);
		return false;
	}
	out = agent_answer_string(answer.object, "stdout");
	errors = agent_answer_string(answer.object, "stderr");
	return write_log_part(session, fd, "--- the agent's stdout ---\n", &budget, err) &&
	       write_log_part(session, fd, out != NULL ? out : "", &budget, err) &&
	       write_log_part(session, fd, "\n--- the agent's stderr ---\n", &budget, err) &&
	       write_log_part(session, fd, errors != NULL ? errors : "", &budget, err);
}
