/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A request's life, from libmicrohttpd's first word (its URI) to its end:
 * the head checked against the limits and the listener's token, the
 * control API's head(), the body, execute() once it has come whole, the
 * answer queued; and its credentials (what the control API may ask of
 * the request's head is in api_request_head.c).
 */
#include "api_server_private.h"

#include <string.h>

static gboolean
expects_continue(NbxApiRequest *request)
{
	const char *expect = nbx_api_request_header(request, MHD_HTTP_HEADER_EXPECT);

	return expect != NULL && g_ascii_strcasecmp(expect, "100-continue") == 0;
}

/* Takes as long for every @given of a given length: no early exit on the first mismatch. */
gboolean
nbx_api_token_equal(const char *given, const char *expected)
{
	gsize given_length = strlen(given);
	gsize expected_length = strlen(expected);
	guchar diff = given_length != expected_length;

	for (gsize i = 0; i < expected_length; i++)
		diff |= (guchar)expected[i] ^ (guchar)(i < given_length ? given[i] : 0);
	return diff == 0;
}

static gboolean
has_bearer_token(NbxApiRequest *request)
{
	const char *header;

	if (request->listener->token == NULL)
		return TRUE;
	header = nbx_api_request_header(request, MHD_HTTP_HEADER_AUTHORIZATION);
	if (header == NULL || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
		return FALSE;
	return nbx_api_token_equal(header + 7, request->listener->token);
}

static gboolean
is_authorized(NbxApiRequest *request)
{
	NbxApiServer *server = request->server;

	request->has_credentials = has_bearer_token(request);
	return request->has_credentials ||
	       (server->handlers.authorize != NULL &&
		server->handlers.authorize(request, server->user_data));
}

gboolean
nbx_api_request_has_credentials(NbxApiRequest *request)
{
	return request->has_credentials;
}

const char *
nbx_api_request_listener_token(NbxApiRequest *request)
{
	return request->listener->token;
}

/* What the server refuses before the control API sees the request. */
static gboolean
check_head(NbxApiRequest *request, Connection *connection, NbxApiProblem *problem)
{
	const NbxApiServerLimits *limits = &request->server->limits;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(request->mhd, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	gsize head_size = info != NULL ? info->header_size : 0;

	if (request->uri_length > limits->max_header_bytes)
		return nbx_api_problem_set(problem, 414, "too_large", "url",
					   "url: %" G_GSIZE_FORMAT
					   " bytes long; at most %" G_GSIZE_FORMAT
					   " (api.max_header_kb)",
					   request->uri_length, limits->max_header_bytes);
	if (head_size > limits->max_header_bytes)
		return nbx_api_problem_set(
			problem, 431, "too_large", "headers",
			"headers: the request line and headers are %" G_GSIZE_FORMAT
			" bytes; at most %" G_GSIZE_FORMAT " (api.max_header_kb)",
			head_size, limits->max_header_bytes);
	if (connection != NULL && connection->over_cap) {
		/* Not kept: a client that comes back later may find room. */
		nbx_api_request_add_header(request, MHD_HTTP_HEADER_CONNECTION, "close");
		return nbx_api_problem_set(problem, 503, "busy", NULL,
					   "nestboxd serves %u connections at once "
					   "(api.max_connections); try again",
					   limits->max_connections);
	}
	if (!is_authorized(request))
		return nbx_api_problem_set(problem, 401, "unauthorized", NULL,
					   "over TCP every request needs \"Authorization: Bearer "
					   "TOKEN\" with the token of api.token_file");
	return TRUE;
}

static void
begin_request(NbxApiRequest *request)
{
	Connection *connection = nbx_api_connection_of(request->mhd);
	g_auto(NbxApiProblem) problem = { 0 };

	nbx_api_connection_stop_deadline(connection);
	request->stage = STAGE_BODY;
	if (!check_head(request, connection, &problem))
		nbx_api_request_refuse(request, &problem);
	else
		request->server->handlers.head(request, request->server->user_data);
	/* A request that takes no body may announce none. */
	nbx_api_request_refuse_declared_too_large(request);
	/* The client waits for a "100 Continue" before it sends the body: no need to drain it. */
	if (request->refusal.status != 0 && expects_continue(request)) {
		request->stage = STAGE_COMPLETE;
		nbx_api_request_respond_problem(request, &request->refusal);
		nbx_api_request_queue_answer(request);
	}
}

static void
complete_request(NbxApiRequest *request)
{
	g_auto(NbxApiProblem) problem = { 0 };

	request->stage = STAGE_COMPLETE;
	if (request->refusal.status != 0)
		nbx_api_request_respond_problem(request, &request->refusal);
	else if (request->finish != NULL && !request->finish(request->sink, &problem))
		nbx_api_request_respond_problem(request, &problem);
	else
		request->server->handlers.execute(request, request->server->user_data);
	if (request->status == 0 && request->pending == NULL && !request->streamed) {
		nbx_api_problem_set(&problem, 500, "internal", NULL, "%s %s got no answer",
				    request->method, request->path);
		nbx_api_request_respond_problem(request, &problem);
	}
	if (request->status != 0)
		nbx_api_request_queue_answer(request);
}

enum MHD_Result
nbx_api_request_on_access(void *cls, struct MHD_Connection *mhd, const char *url,
			  const char *method, const char *version, const char *upload_data,
			  size_t *upload_data_size, void **con_cls)
{
	NbxApiRequest *request = *con_cls;

	switch (request->stage) {
	case STAGE_HEAD:
		request->method = method;
		request->path = url;
		begin_request(request);
		return MHD_YES;
	case STAGE_BODY:
		if (*upload_data_size > 0) {
			gboolean go_on = nbx_api_request_take_body(request, upload_data, *upload_data_size);

			*upload_data_size = 0;
			return go_on ? MHD_YES : MHD_NO;
		}
		complete_request(request);
		return MHD_YES;
	case STAGE_COMPLETE:
		/*
		 * Resumed after nbx_api_pending_respond(), or called again because
		 * the answer could not be queued before: a body that still comes
		 * is not read, and an answer refused twice ends the connection.
		 */
		*upload_data_size = 0;
		if (request->status != 0 && !nbx_api_request_queue_answer(request))
			return MHD_NO;
		return MHD_YES;
	}
	g_assert_not_reached();
}

/* libmicrohttpd's first word on a request: its URI, before any header. */
void *
nbx_api_request_on_uri(void *cls, const char *uri, struct MHD_Connection *mhd)
{
	Listener *listener = cls;
	NbxApiRequest *request = g_new0(NbxApiRequest, 1);

	request->server = listener->server;
	request->listener = listener;
	request->mhd = mhd;
	request->uri_length = strlen(uri);
	request->headers = nbx_api_answer_headers_new();
	return request;
}

static void
request_free(NbxApiRequest *request)
{
	if (request->pending != NULL)
		request->pending->request = NULL;
	request->server->suspended = g_list_remove(request->server->suspended, request);
	if (request->destroy != NULL)
		request->destroy(request->data);
	g_clear_pointer(&request->query, g_hash_table_unref);
	g_clear_pointer(&request->kept, g_byte_array_unref);
	nbx_api_problem_clear(&request->refusal);
	g_free(request->answer);
	g_array_unref(request->headers);
	g_free(request);
}

/*
 * The request is over: answered, or cut short (the client went away, a
 * timeout, an error), and then never executed: its data (a partial upload)
 * goes with it.
 */
void
nbx_api_request_on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	NbxApiRequest *request = *con_cls;
	Connection *connection = nbx_api_connection_of(mhd);

	if (request == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		g_debug("api: %s %s ended before it was answered (%d)",
			request->method != NULL ? request->method : "a request",
			request->path != NULL ? request->path : "", (int)toe);
	request_free(request);
	*con_cls = NULL;
	/* Keep-alive: the next request's headers have their deadline too. */
	if (connection != NULL && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		nbx_api_connection_start_deadline(connection);
}
