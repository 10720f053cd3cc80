/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_session.h"

#include <libsoup/soup.h>
#include <string.h>

#include "agent_answer.h"

/* Longest guest directory taken from the agent. */
#define MAX_GUEST_DIR 1024
/* What the file part of a /store is called in the multipart body: the
 * agents use only the "filepath" field, and an ASCII name needs no encoding. */
#define UPLOAD_PART_NAME "sample.bin"

gboolean
agent_has(const struct agent_session *session, uint32_t features)
{
	return (session->features & features) == features;
}

const char *
agent_interpreter(const struct agent_session *session)
{
	return session->windows ? session->settings.interpreter_windows
				: session->settings.interpreter_linux;
}

void
agent_answer_clear(AgentAnswer *answer)
{
	g_clear_pointer(&answer->object, json_object_unref);
	answer->status = 0;
}

static bool
read_answer(struct agent_session *session, AgentExchange *exchange, gsize max,
	    AgentAnswer *answer, AgentFailure *failure, struct nbx_error *err)
{
	g_autoptr(GBytes) body = NULL;
	g_autofree char *problem = NULL;
	guint status = agent_exchange_status(exchange);

	if (!agent_exchange_read(exchange, max, &body, failure, err))
		return false;
	answer->status = status;
	if (g_bytes_get_size(body) == 0)
		return true;
	answer->object = agent_answer_parse(body, &problem);
	/* An error page that is not JSON is still an answer: the status says it. */
	if (answer->object != NULL || !SOUP_STATUS_IS_SUCCESSFUL(status))
		return true;
	if (failure != NULL)
		*failure = AGENT_FAILURE_PROTOCOL;
	session->host->error_set(session->host, err, NBX_ERROR_INVALID,
				 "the agent at %s answered %s with %s", session->endpoint.name,
				 agent_exchange_what(exchange), problem);
	return false;
}

bool
agent_call(struct agent_session *session, const char *method, const char *path,
	   AgentRequestKind kind, const char *const *form, gsize max, AgentAnswer *answer,
	   AgentFailure *failure, struct nbx_error *err)
{
	AgentRequest request = {
		.method = method,
		.path = path,
		.kind = kind,
		.deadline_us = session->deadline_us,
		.form = form,
	};
	g_autoptr(AgentExchange) exchange =
		agent_exchange_start(&session->endpoint, &request, failure, err);

	memset(answer, 0, sizeof *answer);
	return exchange != NULL && read_answer(session, exchange, max, answer, failure, err);
}

void
agent_fail_refused(struct agent_session *session, const char *what, const AgentAnswer *answer,
		   struct nbx_error *err)
{
	g_autofree char *words = agent_answer_message(answer->object);
	int32_t code = answer->status == SOUP_STATUS_NOT_FOUND ? NBX_ERROR_NOT_FOUND
									: NBX_ERROR_INVALID;
	const char *hint = "";

	/* agent.py refuses commands from 127.0.0.1 and from what it takes for its own address. */
	if (words != NULL && strstr(words, "Not allowed to execute") != NULL) {
		code = NBX_ERROR_PERMISSION;
		hint = " (agent.py runs no command for a client at 127.0.0.1 or at what it takes "
		       "for its own address: reach it from the host's side of the guest's network)";
	}
	session->host->error_set(session->host, err, code,
				 "the agent at %s refused %s (HTTP %u)%s%s%s", session->endpoint.name,
				 what, answer->status, words != NULL ? ": " : "",
				 words != NULL ? words : "", hint);
}

char *
agent_guest_join(const struct agent_session *session, const char *dir, const char *name)
{
	gsize length = strlen(dir);
	const char *separator = dir[0] == '/' ? "/" : session->windows || strchr(dir, '\\') ? "\\" : "/";

	if (length > 0 && (dir[length - 1] == '/' || dir[length - 1] == '\\'))
		separator = "";
	return g_strconcat(dir, separator, name, NULL);
}

/* A directory the agent named: printable, absolute (POSIX or Windows). */
static gboolean
usable_guest_dir(const char *dir)
{
	gsize length = strlen(dir);

	if (length == 0 || length > MAX_GUEST_DIR || !g_utf8_validate(dir, -1, NULL))
		return FALSE;
	for (const char *p = dir; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return dir[0] == '/' || (g_ascii_isalpha(dir[0]) && dir[1] == ':' && dir[2] == '\\') ||
	       g_str_has_prefix(dir, "\\\\");
}

bool
agent_make_temp_dir(struct agent_session *session, const char *prefix, char **dir,
		    struct nbx_error *err)
{
	const char *form[] = { "prefix", prefix, NULL };
	g_auto(AgentAnswer) answer = { 0 };
	const char *path;

	if (!agent_call(session, "POST", "/mkdtemp", AGENT_REQUEST_QUICK, form,
			(gsize)session->settings.max_answer_bytes, &answer, NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /mkdtemp", &answer, err);
		return false;
	}
	path = answer.object != NULL ? agent_answer_string(answer.object, "dirpath") : NULL;
	if (path == NULL || !usable_guest_dir(path)) {
		g_autofree char *shown = path != NULL ? agent_text_printable(path, -1, 100) : NULL;

		session->host->error_set(session->host, err, NBX_ERROR_INVALID,
					 "the agent at %s answered POST /mkdtemp without a usable "
					 "dirpath (%s)",
					 session->endpoint.name, shown != NULL ? shown : "none");
		return false;
	}
	*dir = g_strdup(path);
	return true;
}

/* The multipart body around a file: the "filepath" field, then the "file" part. */
static void
multipart_frame(const char *guest_path, char **head, char **tail, char **content_type)
{
	g_autofree char *boundary = g_uuid_string_random();

	*head = g_strdup_printf("--%s\r\n"
				"Content-Disposition: form-data; name=\"filepath\"\r\n\r\n"
				"%s\r\n"
				"--%s\r\n"
				"Content-Disposition: form-data; name=\"file\"; filename=\"" UPLOAD_PART_NAME
				"\"\r\n"
				"Content-Type: application/octet-stream\r\n\r\n",
				boundary, guest_path, boundary);
	*tail = g_strdup_printf("\r\n--%s--\r\n", boundary);
	*content_type = g_strdup_printf("multipart/form-data; boundary=%s", boundary);
}

bool
agent_store_stream(struct agent_session *session, const char *guest_path, GInputStream *content,
		   goffset length, struct nbx_error *err)
{
	g_autofree char *head = NULL, *tail = NULL, *content_type = NULL;
	g_autoptr(GInputStream) head_stream = NULL, tail_stream = NULL;
	g_autoptr(AgentExchange) exchange = NULL;
	g_auto(AgentAnswer) answer = { 0 };

	multipart_frame(guest_path, &head, &tail, &content_type);
	head_stream = g_memory_input_stream_new_from_data(g_strdup(head), -1, g_free);
	tail_stream = g_memory_input_stream_new_from_data(g_strdup(tail), -1, g_free);
	GInputStream *parts[] = { head_stream, content, tail_stream, NULL };
	AgentRequest request = {
		.method = "POST",
		.path = "/store",
		.kind = AGENT_REQUEST_TRANSFER,
		.deadline_us = session->deadline_us,
		.body_parts = parts,
		.body_length = (goffset)strlen(head) + length + (goffset)strlen(tail),
		.content_type = content_type,
	};

	exchange = agent_exchange_start(&session->endpoint, &request, NULL, err);
	if (exchange == NULL ||
	    !read_answer(session, exchange, (gsize)session->settings.max_answer_bytes, &answer,
			 NULL, err))
		return false;
	if (!SOUP_STATUS_IS_SUCCESSFUL(answer.status)) {
		agent_fail_refused(session, "POST /store", &answer, err);
		return false;
	}
	return true;
}

bool
agent_store_bytes(struct agent_session *session, const char *guest_path, GBytes *data,
		  struct nbx_error *err)
{
	g_autoptr(GInputStream) content = g_memory_input_stream_new_from_bytes(data);

	return agent_store_stream(session, guest_path, content, (goffset)g_bytes_get_size(data),
				  err);
}

/* POST /retrieve of @guest_path, its answer's headers read. */
static AgentExchange *
start_retrieve(struct agent_session *session, const char *guest_path, AgentRequestKind kind,
	       struct nbx_error *err)
{
	/* Neither "encoding" (base64 hides the length) nor "streaming" (CAPE
	 * then follows the file like tail -f and never ends the answer). */
	const char *form[] = { "filepath", guest_path, NULL };
	AgentRequest request = {
		.method = "POST",
		.path = "/retrieve",
		.kind = kind,
		.deadline_us = session->deadline_us,
		.form = form,
	};

	return agent_exchange_start(&session->endpoint, &request, NULL, err);
}

/* A status other than 200 and 404, as an error. */
static void
fail_retrieve_status(struct agent_session *session, AgentExchange *exchange,
		     struct nbx_error *err)
{
	g_auto(AgentAnswer) answer = { 0 };
	struct nbx_error ignored = { 0 };

	read_answer(session, exchange, (gsize)session->settings.max_answer_bytes, &answer, NULL,
		    &ignored);
	agent_fail_refused(session, "POST /retrieve", &answer, err);
}

bool
agent_retrieve_to_fd(struct agent_session *session, const char *guest_path, int fd,
		     int64_t max, int64_t *written, gboolean *missing, gboolean *too_large,
		     struct nbx_error *err)
{
	g_autoptr(AgentExchange) exchange =
		start_retrieve(session, guest_path, AGENT_REQUEST_TRANSFER, err);
	bool larger = false;
	guint status;

	*written = 0;
	*missing = *too_large = FALSE;
	if (exchange == NULL)
		return false;
	status = agent_exchange_status(exchange);
	if (status == SOUP_STATUS_NOT_FOUND) {
		*missing = TRUE;
		return true;
	}
	if (status != SOUP_STATUS_OK) {
		fail_retrieve_status(session, exchange, err);
		return false;
	}
	if (agent_exchange_length(exchange) > max) {
		*too_large = TRUE;
		return true;
	}
	if (!agent_exchange_copy(exchange, fd, max, written, &larger, err))
		return false;
	*too_large = larger;
	return true;
}

bool
agent_retrieve_bytes(struct agent_session *session, const char *guest_path, gsize max,
		     GBytes **data, gboolean *missing, struct nbx_error *err)
{
	g_autoptr(AgentExchange) exchange =
		start_retrieve(session, guest_path, AGENT_REQUEST_QUICK, err);
	guint status;

	*missing = FALSE;
	if (exchange == NULL)
		return false;
	status = agent_exchange_status(exchange);
	if (status == SOUP_STATUS_NOT_FOUND) {
		*missing = TRUE;
		return true;
	}
	if (status != SOUP_STATUS_OK) {
		fail_retrieve_status(session, exchange, err);
		return false;
	}
	return agent_exchange_read(exchange, max, data, NULL, err);
}

void
agent_report_string(struct agent_session *session, const char *key, const char *value)
{
	session->host->report_set_string(session->host, session->context->report, key, value);
}

void
agent_report_boolean(struct agent_session *session, const char *key, gboolean value)
{
	session->host->report_set_boolean(session->host, session->context->report, key, value);
}
