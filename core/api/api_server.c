/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_server.h"

#include <errno.h>
#include <glib-unix.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * A refused request's body is read and dropped so the client, still
 * sending, can read the answer instead of a reset; a client that keeps
 * sending longer than this is cut off without one.
 */
#define DRAIN_SECONDS 10
/*
 * libmicrohttpd keeps a connection's request line, headers, read buffer and
 * answer headers in one pool of this size. Beyond max_header_bytes a head
 * is refused here, in JSON; one that does not fit in the pool at all is
 * answered 414 or 431 by libmicrohttpd itself, with its own short body.
 */
#define POOL_SLACK_BYTES (64 * 1024)
/* File descriptors the rest of the daemon may want besides the API's connections. */
#define OTHER_FILES 256

typedef struct {
	NbxApiServer *server;
	struct MHD_Daemon *daemon;
	/* Required as "Authorization: Bearer TOKEN", or NULL (the UNIX socket). */
	char *token;
	guint watch;
	/* Wakes libmicrohttpd when it says; one source, re-armed, not one per run. */
	GSource *timer;
	/* A connection closed during this run (see listener_run()). */
	gboolean closed_one;
} Listener;

struct _NbxApiServer {
	NbxApiServerLimits limits;
	NbxApiServerHandlers handlers;
	gpointer user_data;
	GPtrArray *listeners;
	/* Connections counted against limits.max_connections. */
	guint connections;
	/* Connections turned into streams, counted against limits.max_streams. */
	guint streams;
	/* NbxApiStream * not yet let go of by libmicrohttpd. */
	GList *open_streams;
	/* NbxApiRequest *, waiting for nbx_api_pending_respond(). */
	GList *suspended;
};

/*
 * One client connection. Every connection starts ordinary: counted in
 * server->connections, held to the header deadline and to the cap. One
 * that becomes a stream (nbx_api_request_start_stream) is counted in
 * server->streams instead, with its own cap; each daemon's
 * MHD_OPTION_CONNECTION_LIMIT has room for both, so that streams can
 * neither starve ordinary requests nor be starved by them.
 */
typedef struct {
	NbxApiServer *server;
	int fd;
	gboolean ordinary;
	/* Accepted while the cap was already reached (over both listeners). */
	gboolean over_cap;
	guint header_deadline;
} Connection;

typedef enum {
	STAGE_HEAD,     /* waiting for the request line and headers */
	STAGE_BODY,     /* the headers are in; the body is coming */
	STAGE_COMPLETE, /* received whole: executed or refused */
} Stage;

typedef struct {
	char *name;
	char *value;
} Header;

struct _NbxApiPending {
	/* NULL once the server has answered the request itself. */
	NbxApiRequest *request;
};

struct _NbxApiRequest {
	NbxApiServer *server;
	Listener *listener;
	struct MHD_Connection *mhd;
	Stage stage;
	gsize uri_length;
	const char *method;
	const char *path;
	GHashTable *query;

	gsize body_limit;
	const char *limit_setting;
	guint64 received;
	GByteArray *kept;
	NbxApiBodyWrite write;
	NbxApiBodyFinish finish;
	gpointer sink;

	NbxApiProblem refusal;
	gint64 drain_until_us;
	/* On the UNIX socket, or with the bearer token. */
	gboolean has_credentials;

	guint status; /* 0 until answered */
	const char *content_type; /* NULL: JSON */
	char *answer;
	gsize answer_length;
	GArray *headers;
	NbxApiPending *pending;
	/* libmicrohttpd took the answer: it is not queued a second time. */
	gboolean queued;
	/* Answered by a stream, not by status and answer. */
	gboolean streamed;

	gpointer data;
	GDestroyNotify destroy;
};

/* ---- answers ---- */

static void
header_clear(gpointer data)
{
	Header *header = data;

	g_free(header->name);
	g_free(header->value);
}

void
nbx_api_request_add_header(NbxApiRequest *request, const char *name, const char *value)
{
	Header header = { g_strdup(name), g_strdup(value) };

	g_array_append_val(request->headers, header);
}

void
nbx_api_request_respond(NbxApiRequest *request, guint status, JsonNode *body)
{
	g_autoptr(JsonNode) owned = body;
	g_autoptr(JsonGenerator) generator = json_generator_new();

	g_return_if_fail(request->status == 0);
	json_generator_set_root(generator, owned);
	json_generator_set_pretty(generator, TRUE);
	request->answer = json_generator_to_data(generator, &request->answer_length);
	request->status = status;
}

void
nbx_api_request_respond_bytes(NbxApiRequest *request, guint status, const char *content_type,
			      GBytes *body)
{
	g_autoptr(GBytes) owned = body;
	gsize length = 0;
	gconstpointer data = g_bytes_get_data(owned, &length);

	g_return_if_fail(request->status == 0);
	request->answer = g_memdup2(data, length);
	request->answer_length = length;
	request->content_type = content_type;
	request->status = status;
}

void
nbx_api_request_respond_problem(NbxApiRequest *request, const NbxApiProblem *problem)
{
	if (problem->status == 401)
		nbx_api_request_add_header(request, "WWW-Authenticate", "Bearer realm=\"nestbox\"");
	nbx_api_request_respond(request, problem->status, nbx_api_problem_to_json(problem));
}

void
nbx_api_request_respond_error(NbxApiRequest *request, guint status, const char *code,
			      const char *field, const char *format, ...)
{
	g_auto(NbxApiProblem) problem = { .status = status, .code = code };
	va_list args;

	problem.field = g_strdup(field);
	va_start(args, format);
	problem.message = g_strdup_vprintf(format, args);
	va_end(args);
	nbx_api_request_respond_problem(request, &problem);
}

void
nbx_api_request_respond_object(NbxApiRequest *request, guint status, JsonObject *object)
{
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_node_take_object(node, object);
	nbx_api_request_respond(request, status, node);
}

/*
 * Hands the answer to libmicrohttpd; it may then stop reading the request.
 * libmicrohttpd refuses an answer in some states of the connection (while
 * a body is still arriving, say) and then calls on_access() again: the
 * answer stays ours until it is taken, and is taken once.
 */
static gboolean
queue_answer(NbxApiRequest *request)
{
	struct MHD_Response *response;
	enum MHD_Result queued;

	if (request->queued)
		return TRUE;
	response = MHD_create_response_from_buffer(request->answer_length, request->answer,
						   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return FALSE;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				request->content_type != NULL ? request->content_type
							      : "application/json");
	MHD_add_response_header(response, MHD_HTTP_HEADER_SERVER, "nestboxd/" NESTBOX_VERSION);
	for (guint i = 0; i < request->headers->len; i++) {
		Header *header = &g_array_index(request->headers, Header, i);

		MHD_add_response_header(response, header->name, header->value);
	}
	queued = MHD_queue_response(request->mhd, request->status, response);
	MHD_destroy_response(response);
	if (queued != MHD_YES) {
		g_debug("api: cannot queue the answer to %s %s yet", request->method,
			request->path);
		return FALSE;
	}
	request->queued = TRUE;
	g_clear_pointer(&request->answer, g_free);
	return TRUE;
}

/* ---- the request's head ---- */

const char *
nbx_api_request_method(NbxApiRequest *request)
{
	return request->method;
}

const char *
nbx_api_request_path(NbxApiRequest *request)
{
	return request->path;
}

const char *
nbx_api_request_header(NbxApiRequest *request, const char *name)
{
	return MHD_lookup_connection_value(request->mhd, MHD_HEADER_KIND, name);
}

static enum MHD_Result
add_query_argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	g_hash_table_replace(cls, g_strdup(key), g_strdup(value != NULL ? value : ""));
	return MHD_YES;
}

GHashTable *
nbx_api_request_query(NbxApiRequest *request)
{
	if (request->query == NULL) {
		request->query = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		MHD_get_connection_values(request->mhd, MHD_GET_ARGUMENT_KIND, add_query_argument,
					  request->query);
	}
	return g_hash_table_size(request->query) > 0 ? request->query : NULL;
}

struct MHD_Connection *
nbx_api_request_connection(NbxApiRequest *request)
{
	return request->mhd;
}

void
nbx_api_request_set_data(NbxApiRequest *request, gpointer data, GDestroyNotify destroy)
{
	if (request->destroy != NULL)
		request->destroy(request->data);
	request->data = data;
	request->destroy = destroy;
}

gpointer
nbx_api_request_get_data(NbxApiRequest *request)
{
	return request->data;
}

/* ---- the body ---- */

static gboolean refuse_declared_too_large(NbxApiRequest *request);

gboolean
nbx_api_request_keep_body(NbxApiRequest *request, gsize limit, const char *setting)
{
	request->body_limit = limit;
	request->limit_setting = setting;
	request->kept = g_byte_array_new();
	return !refuse_declared_too_large(request);
}

GBytes *
nbx_api_request_body(NbxApiRequest *request)
{
	if (request->kept == NULL)
		return g_bytes_new_static("", 0);
	return g_byte_array_free_to_bytes(g_steal_pointer(&request->kept));
}

gboolean
nbx_api_request_stream_body(NbxApiRequest *request, gsize limit, const char *setting,
			    NbxApiBodyWrite write, NbxApiBodyFinish finish, gpointer sink)
{
	request->body_limit = limit;
	request->limit_setting = setting;
	request->write = write;
	request->finish = finish;
	request->sink = sink;
	return !refuse_declared_too_large(request);
}

void
nbx_api_request_refuse(NbxApiRequest *request, const NbxApiProblem *problem)
{
	if (request->refusal.status != 0)
		return;
	nbx_api_problem_set(&request->refusal, problem->status, problem->code, problem->field, "%s",
			    problem->message);
	request->drain_until_us = g_get_monotonic_time() + DRAIN_SECONDS * G_USEC_PER_SEC;
	/* Nothing more is kept: the body is dropped from here on. */
	g_clear_pointer(&request->kept, g_byte_array_unref);
}

static void
refuse_too_large(NbxApiRequest *request)
{
	g_auto(NbxApiProblem) problem = { 0 };

	if (request->limit_setting == NULL)
		nbx_api_problem_set(&problem, 413, "too_large", "body",
				    "body: this request takes no body");
	else
		nbx_api_problem_set(&problem, 413, "too_large", "body",
				    "body: larger than the %" G_GSIZE_FORMAT " bytes allowed (%s)",
				    request->body_limit, request->limit_setting);
	nbx_api_request_refuse(request, &problem);
}

static guint64
declared_length(NbxApiRequest *request, gboolean *known)
{
	const char *text = nbx_api_request_header(request, MHD_HTTP_HEADER_CONTENT_LENGTH);
	guint64 length = 0;

	*known =
		text != NULL && g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &length, NULL);
	return length;
}

/* A Content-Length over the limit is refused before any of the body comes. */
static gboolean
refuse_declared_too_large(NbxApiRequest *request)
{
	gboolean known = FALSE;
	guint64 length = declared_length(request, &known);

	if (!known || length <= request->body_limit)
		return FALSE;
	refuse_too_large(request);
	return TRUE;
}

/* FALSE: close the connection (a refused body that goes on for too long). */
static gboolean
take_body(NbxApiRequest *request, const char *data, gsize length)
{
	g_auto(NbxApiProblem) problem = { 0 };

	if (request->refusal.status != 0)
		return g_get_monotonic_time() < request->drain_until_us;
	request->received += length;
	if (request->received > request->body_limit) {
		refuse_too_large(request);
		return TRUE;
	}
	if (request->kept != NULL)
		g_byte_array_append(request->kept, (const guint8 *)data, (guint)length);
	else if (request->write != NULL && !request->write(request->sink, data, length, &problem))
		nbx_api_request_refuse(request, &problem);
	return TRUE;
}

/* ---- the request's life ---- */

static Connection *
connection_of(struct MHD_Connection *mhd)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

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

const char *
nbx_api_request_cookie(NbxApiRequest *request, const char *name)
{
	return MHD_lookup_connection_value(request->mhd, MHD_COOKIE_KIND, name);
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
connection_stop_deadline(Connection *connection)
{
	if (connection != NULL && connection->header_deadline != 0) {
		g_source_remove(connection->header_deadline);
		connection->header_deadline = 0;
	}
}

static void
begin_request(NbxApiRequest *request)
{
	Connection *connection = connection_of(request->mhd);
	g_auto(NbxApiProblem) problem = { 0 };

	connection_stop_deadline(connection);
	request->stage = STAGE_BODY;
	if (!check_head(request, connection, &problem))
		nbx_api_request_refuse(request, &problem);
	else
		request->server->handlers.head(request, request->server->user_data);
	/* A request that takes no body may announce none. */
	refuse_declared_too_large(request);
	/* The client waits for a "100 Continue" before it sends the body: no need to drain it. */
	if (request->refusal.status != 0 && expects_continue(request)) {
		request->stage = STAGE_COMPLETE;
		nbx_api_request_respond_problem(request, &request->refusal);
		queue_answer(request);
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
		queue_answer(request);
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *mhd, const char *url, const char *method,
	  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
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
			gboolean go_on = take_body(request, upload_data, *upload_data_size);

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
		if (request->status != 0 && !queue_answer(request))
			return MHD_NO;
		return MHD_YES;
	}
	g_assert_not_reached();
}

/* libmicrohttpd's first word on a request: its URI, before any header. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *mhd)
{
	Listener *listener = cls;
	NbxApiRequest *request = g_new0(NbxApiRequest, 1);

	request->server = listener->server;
	request->listener = listener;
	request->mhd = mhd;
	request->uri_length = strlen(uri);
	request->headers = g_array_new(FALSE, TRUE, sizeof(Header));
	g_array_set_clear_func(request->headers, header_clear);
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

static gboolean on_header_deadline(gpointer data);

static void
connection_start_deadline(Connection *connection)
{
	connection_stop_deadline(connection);
	connection->header_deadline = g_timeout_add_seconds(
		connection->server->limits.header_timeout_s, on_header_deadline, connection);
}

/*
 * The request is over: answered, or cut short (the client went away, a
 * timeout, an error), and then never executed: its data (a partial upload)
 * goes with it.
 */
static void
on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	NbxApiRequest *request = *con_cls;
	Connection *connection = connection_of(mhd);

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
		connection_start_deadline(connection);
}

/* ---- connections ---- */

/*
 * A connection whose request headers have not come in time (one byte a
 * second is enough to defeat an idle timeout): shut down, so that
 * libmicrohttpd sees the end of it and closes it.
 */
static gboolean
on_header_deadline(gpointer data)
{
	Connection *connection = data;

	connection->header_deadline = 0;
	g_debug("api: closing a connection whose request headers did not come within %u s "
		"(api.header_timeout)",
		connection->server->limits.header_timeout_s);
	shutdown(connection->fd, SHUT_RDWR);
	return G_SOURCE_REMOVE;
}

static void
on_connection(void *cls, struct MHD_Connection *mhd, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	Listener *listener = cls;
	NbxApiServer *server = listener->server;
	Connection *connection = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CONNECTION_FD);

		connection = g_new0(Connection, 1);
		connection->server = server;
		connection->fd = info != NULL ? info->connect_fd : -1;
		connection->ordinary = TRUE;
		connection->over_cap = server->connections >= server->limits.max_connections;
		server->connections++;
		connection_start_deadline(connection);
		*socket_context = connection;
		return;
	}
	listener->closed_one = TRUE;
	if (connection == NULL)
		return;
	connection_stop_deadline(connection);
	if (connection->ordinary)
		server->connections--;
	else
		server->streams--;
	g_free(connection);
	*socket_context = NULL;
}

guint
nbx_api_server_connection_count(NbxApiServer *server)
{
	return server->connections;
}

/* ---- suspended requests ---- */

NbxApiPending *
nbx_api_request_suspend(NbxApiRequest *request)
{
	NbxApiPending *pending = g_new0(NbxApiPending, 1);

	g_return_val_if_fail(request->stage == STAGE_COMPLETE && request->pending == NULL, NULL);
	pending->request = request;
	request->pending = pending;
	request->server->suspended = g_list_prepend(request->server->suspended, request);
	MHD_suspend_connection(request->mhd);
	return pending;
}

static void
resume(NbxApiRequest *request)
{
	request->pending->request = NULL;
	request->pending = NULL;
	request->server->suspended = g_list_remove(request->server->suspended, request);
	MHD_resume_connection(request->mhd);
	/*
	 * Without a thread of its own, libmicrohttpd takes a resumed
	 * connection back only when it next runs: run it now.
	 */
	g_source_set_ready_time(request->listener->timer, 0);
}

void
nbx_api_pending_respond(NbxApiPending *pending, guint status, JsonNode *body)
{
	NbxApiRequest *request = pending->request;

	if (request == NULL) {
		json_node_unref(body);
	} else {
		nbx_api_request_respond(request, status, body);
		resume(request);
	}
	g_free(pending);
}

void
nbx_api_pending_respond_problem(NbxApiPending *pending, const NbxApiProblem *problem)
{
	nbx_api_pending_respond(pending, problem->status, nbx_api_problem_to_json(problem));
}

/* ---- streams ---- */

struct _NbxApiStream {
	NbxApiServer *server;
	Listener *listener;
	struct MHD_Connection *mhd;
	int fd;
	GByteArray *queued;
	gsize max_queued;
	/* Waiting for bytes: libmicrohttpd does not poll the connection. */
	gboolean suspended;
	/* Too slow, or the server stops: the next read ends the answer with an error. */
	gboolean dropped;
	NbxApiStreamClosed closed;
	gpointer data;
};

static void
stream_wake(NbxApiStream *stream)
{
	if (!stream->suspended)
		return;
	stream->suspended = FALSE;
	MHD_resume_connection(stream->mhd);
	g_source_set_ready_time(stream->listener->timer, 0);
}

/*
 * The socket is shut down too: a client that reads nothing leaves its
 * socket full, and libmicrohttpd would never come to read the end of the
 * answer that closes the connection.
 */
static void
stream_drop(NbxApiStream *stream)
{
	stream->dropped = TRUE;
	if (stream->fd >= 0)
		shutdown(stream->fd, SHUT_RDWR);
	stream_wake(stream);
}

/*
 * libmicrohttpd asks for more of the body. With nothing queued the
 * connection is suspended (the pattern microhttpd.h gives for "no data
 * yet"), and nbx_api_stream_send() resumes it.
 */
static ssize_t
stream_read(void *cls, uint64_t position, char *buffer, size_t max)
{
	NbxApiStream *stream = cls;
	gsize length;

	if (stream->dropped)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (stream->queued->len == 0) {
		stream->suspended = TRUE;
		MHD_suspend_connection(stream->mhd);
		return 0;
	}
	length = MIN(max, stream->queued->len);
	memcpy(buffer, stream->queued->data, length);
	g_byte_array_remove_range(stream->queued, 0, (guint)length);
	return (ssize_t)length;
}

/* libmicrohttpd let go of the answer: the connection is over. */
static void
stream_free(void *cls)
{
	NbxApiStream *stream = cls;

	stream->server->open_streams = g_list_remove(stream->server->open_streams, stream);
	if (stream->closed != NULL)
		stream->closed(stream, stream->data);
	g_byte_array_unref(stream->queued);
	g_free(stream);
}

/* The connection leaves the ordinary ones' count for the streams'. */
static void
connection_become_stream(NbxApiServer *server, struct MHD_Connection *mhd)
{
	Connection *connection = connection_of(mhd);

	if (connection == NULL || !connection->ordinary)
		return;
	connection->ordinary = FALSE;
	server->connections--;
	server->streams++;
	MHD_set_connection_option(mhd, MHD_CONNECTION_OPTION_TIMEOUT, 0U);
}

NbxApiStream *
nbx_api_request_start_stream(NbxApiRequest *request, const char *content_type, gsize max_queued,
			     NbxApiStreamClosed closed, gpointer data)
{
	NbxApiServer *server = request->server;
	NbxApiStream *stream;
	struct MHD_Response *response;

	g_return_val_if_fail(request->stage == STAGE_COMPLETE && request->status == 0, NULL);
	if (server->streams >= server->limits.max_streams) {
		nbx_api_request_respond_error(request, 503, "busy", NULL,
					      "nestboxd serves %u event streams at once; try again",
					      server->limits.max_streams);
		return NULL;
	}
	stream = g_new0(NbxApiStream, 1);
	stream->server = server;
	stream->listener = request->listener;
	stream->mhd = request->mhd;
	stream->fd = connection_of(request->mhd) != NULL ? connection_of(request->mhd)->fd : -1;
	stream->queued = g_byte_array_new();
	stream->max_queued = max_queued;
	stream->closed = closed;
	stream->data = data;
	response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read,
						     stream, stream_free);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(response, MHD_HTTP_HEADER_SERVER, "nestboxd/" NESTBOX_VERSION);
	for (guint i = 0; i < request->headers->len; i++) {
		Header *header = &g_array_index(request->headers, Header, i);

		MHD_add_response_header(response, header->name, header->value);
	}
	server->open_streams = g_list_prepend(server->open_streams, stream);
	request->streamed = TRUE;
	connection_become_stream(server, request->mhd);
	if (MHD_queue_response(request->mhd, 200, response) != MHD_YES) {
		/* Freed with the response, and nobody to tell. */
		stream->closed = NULL;
		MHD_destroy_response(response);
		request->streamed = FALSE;
		nbx_api_request_respond_error(request, 500, "internal", NULL,
					      "cannot start the event stream");
		return NULL;
	}
	MHD_destroy_response(response);
	return stream;
}

gboolean
nbx_api_stream_send(NbxApiStream *stream, const char *text, gsize length)
{
	if (stream->dropped)
		return FALSE;
	if (stream->queued->len + length > stream->max_queued) {
		g_debug("api: dropping an event stream whose client does not keep up "
			"(%u bytes waiting)",
			stream->queued->len);
		stream_drop(stream);
		return FALSE;
	}
	g_byte_array_append(stream->queued, (const guint8 *)text, (guint)length);
	stream_wake(stream);
	return TRUE;
}

guint
nbx_api_server_stream_count(NbxApiServer *server)
{
	return server->streams;
}

/* ---- the main loop ---- */

/*
 * Lets libmicrohttpd do what is due, then wakes it again when it says. At
 * the connection cap it takes its listening socket out of its epoll set,
 * and puts it back only at the start of a run: after a connection closed,
 * run again at once, or the connections waiting in the backlog would wait
 * for the next timeout.
 */
static void
listener_run(Listener *listener)
{
	MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
	gboolean due;

	listener->closed_one = FALSE;
	MHD_run(listener->daemon);
	due = MHD_get_timeout(listener->daemon, &timeout_ms) == MHD_YES;
	if (listener->closed_one)
		timeout_ms = 0;
	if (due || listener->closed_one)
		g_source_set_ready_time(listener->timer,
					g_get_monotonic_time() +
						(gint64)MIN(timeout_ms, G_MAXINT32) * 1000);
	else
		g_source_set_ready_time(listener->timer, -1);
}

static gboolean
on_timer(GSource *source, GSourceFunc callback, gpointer data)
{
	g_source_set_ready_time(source, -1);
	return callback(data);
}

static gboolean
on_timer_callback(gpointer data)
{
	listener_run(data);
	return G_SOURCE_CONTINUE;
}

static GSource *
timer_new(Listener *listener)
{
	static GSourceFuncs funcs = { .dispatch = on_timer };
	GSource *source = g_source_new(&funcs, sizeof(GSource));

	g_source_set_callback(source, on_timer_callback, listener, NULL);
	g_source_set_ready_time(source, -1);
	g_source_attach(source, NULL);
	return source;
}

static gboolean
on_ready(gint fd, GIOCondition condition, gpointer data)
{
	listener_run(data);
	return G_SOURCE_CONTINUE;
}

G_GNUC_PRINTF(2, 0)
static void
on_log(void *cls, const char *format, va_list args)
{
	g_autofree char *message = g_strdup_vprintf(format, args);

	g_debug("api: libmicrohttpd: %s", g_strchomp(message));
}

static void
listener_free(gpointer data)
{
	Listener *listener = data;

	if (listener->watch != 0)
		g_source_remove(listener->watch);
	if (listener->timer != NULL) {
		g_source_destroy(listener->timer);
		g_source_unref(listener->timer);
	}
	if (listener->daemon != NULL)
		MHD_stop_daemon(listener->daemon);
	g_free(listener->token);
	g_free(listener);
}

static struct MHD_Daemon *
start_daemon(Listener *listener, int fd)
{
	const NbxApiServerLimits *limits = &listener->server->limits;

	return MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_access, listener, MHD_OPTION_EXTERNAL_LOGGER, on_log, listener,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)(limits->max_connections + limits->max_streams),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)limits->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(limits->max_header_bytes + POOL_SLACK_BYTES), MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, listener, MHD_OPTION_NOTIFY_COMPLETED, on_completed, listener,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, listener, MHD_OPTION_END);
}

gboolean
nbx_api_server_add_listener(NbxApiServer *server, int fd, const char *token, GError **error)
{
	Listener *listener = g_new0(Listener, 1);
	const union MHD_DaemonInfo *info;

	listener->server = server;
	listener->token = g_strdup(token);
	listener->daemon = start_daemon(listener, fd);
	if (listener->daemon == NULL) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "api: libmicrohttpd cannot serve the socket: %s", g_strerror(saved));
		close(fd);
		listener_free(listener);
		return FALSE;
	}
	info = MHD_get_daemon_info(listener->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	listener->watch = g_unix_fd_add(info->epoll_fd, G_IO_IN, on_ready, listener);
	listener->timer = timer_new(listener);
	g_ptr_array_add(server->listeners, listener);
	listener_run(listener);
	return TRUE;
}

/*
 * Every connection is a file descriptor: when the soft limit (often 1024)
 * cannot hold the connections the API serves at once, raise it towards the
 * hard one, or say so; a connection the kernel refuses with EMFILE would
 * otherwise hang its client without a word in the log.
 */
static void
ensure_file_limit(guint max_connections)
{
	rlim_t needed = (rlim_t)max_connections + OTHER_FILES;
	struct rlimit limit;
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed)
		return;
	raised.rlim_cur = MIN(needed, limit.rlim_max);
	raised.rlim_max = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		limit = raised;
	if (limit.rlim_cur < needed)
		g_warning("api.max_connections is %u, but this process may open only %lu files "
			  "(ulimit -n, hard limit %lu): raise the limit or lower the setting",
			  max_connections, (unsigned long)limit.rlim_cur,
			  (unsigned long)limit.rlim_max);
}

NbxApiServer *
nbx_api_server_new(const NbxApiServerLimits *limits, const NbxApiServerHandlers *handlers,
		   gpointer user_data)
{
	NbxApiServer *server = g_new0(NbxApiServer, 1);

	ensure_file_limit(limits->max_connections + limits->max_streams);
	server->limits = *limits;
	server->handlers = *handlers;
	server->user_data = user_data;
	server->listeners = g_ptr_array_new_with_free_func(listener_free);
	return server;
}

void
nbx_api_server_free(NbxApiServer *server)
{
	g_auto(NbxApiProblem) problem = { 0 };

	if (server == NULL)
		return;
	/* libmicrohttpd refuses to stop with a connection suspended. */
	nbx_api_problem_set(&problem, 503, "shutting_down", NULL,
			    "nestboxd is shutting down; the operation may still complete: look "
			    "at its state after the next start");
	while (server->suspended != NULL) {
		NbxApiRequest *request = server->suspended->data;

		nbx_api_request_respond_problem(request, &problem);
		resume(request);
	}
	for (GList *l = server->open_streams; l != NULL; l = l->next)
		stream_drop(l->data);
	g_ptr_array_unref(server->listeners);
	g_free(server);
}
