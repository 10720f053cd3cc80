/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API's HTTP server: GNU libmicrohttpd without a thread of its
 * own, driven by the GLib main loop (its epoll fd and its next timeout), so
 * every request is handled on the main thread, as the scheduler requires.
 *
 * It owns what HTTP asks of a server that clients must not be able to
 * exhaust: a cap on connections, a deadline for a request's headers, an
 * idle timeout, a size limit on headers and bodies, and the rule that a
 * request is executed only once it has been received whole (a client that
 * goes away halfway leaves nothing behind). What a request means is the
 * control API's business (control_api.c): the server calls it when a
 * request's headers are in, gives it the body as it comes, and calls it
 * again when the request is complete.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "api_problem.h"

typedef struct {
	/* Ordinary connections served at once, UNIX and TCP together. */
	guint max_connections;
	/*
	 * Seconds from a connection's start, or from the end of its previous
	 * request, to the end of the next request's headers.
	 */
	guint header_timeout_s;
	/* Seconds a connection may go without a byte moving either way. */
	guint idle_timeout_s;
	/* Bytes of request line and headers; more is answered 414 or 431. */
	gsize max_header_bytes;
	/*
	 * Streams (GET /events) open at once, on top of max_connections: they
	 * neither take the ordinary requests' room nor wait for it.
	 */
	guint max_streams;
} NbxApiServerLimits;

typedef struct _NbxApiServer NbxApiServer;
typedef struct _NbxApiRequest NbxApiRequest;

typedef struct {
	/*
	 * The request line and headers are in. Refuse now
	 * (nbx_api_request_refuse), or say where the body goes
	 * (nbx_api_request_keep_body, nbx_api_request_stream_body); by
	 * default a request may have no body.
	 */
	void (*head)(NbxApiRequest *request, gpointer user_data);
	/*
	 * The request has come whole and was not refused: answer it, now or
	 * later (nbx_api_request_suspend). Never called for a request cut short.
	 */
	void (*execute)(NbxApiRequest *request, gpointer user_data);
	/*
	 * A request on a listener with a token came without the right bearer
	 * token: TRUE lets it through all the same (the status page's login
	 * and its session cookie), FALSE answers 401. NULL: always FALSE.
	 */
	gboolean (*authorize)(NbxApiRequest *request, gpointer user_data);
} NbxApiServerHandlers;

NbxApiServer *nbx_api_server_new(const NbxApiServerLimits *limits,
				 const NbxApiServerHandlers *handlers, gpointer user_data);
/*
 * Serves the listening socket @fd (taken, even on failure). With @token,
 * every request must carry "Authorization: Bearer TOKEN" (checked before
 * its body is read).
 */
gboolean nbx_api_server_add_listener(NbxApiServer *server, int fd, const char *token,
				     GError **error);
/* Answers every suspended request 503 and closes every connection. */
void nbx_api_server_free(NbxApiServer *server);

/* Ordinary connections open now (tests count them). */
guint nbx_api_server_connection_count(NbxApiServer *server);

/* ---- a request ---- */

const char *nbx_api_request_method(NbxApiRequest *request);
/* The path, percent-decoded, without the query. */
const char *nbx_api_request_path(NbxApiRequest *request);
/* A request header (the first of that name), or NULL. */
const char *nbx_api_request_header(NbxApiRequest *request, const char *name);
/* Compares a secret in a time that does not tell how much of it was right. */
gboolean nbx_api_token_equal(const char *given, const char *expected);
/* A cookie the request carries, or NULL. */
const char *nbx_api_request_cookie(NbxApiRequest *request, const char *name);
/* It came on the UNIX socket, or with the listener's bearer token (not through authorize()). */
gboolean nbx_api_request_has_credentials(NbxApiRequest *request);
/* The bearer token its listener requires, or NULL (the UNIX socket). */
const char *nbx_api_request_listener_token(NbxApiRequest *request);

/* The query's parameters, decoded (the last of a name wins), or NULL when it has none. */
GHashTable *nbx_api_request_query(NbxApiRequest *request);
/* The libmicrohttpd connection, for its multipart reader (api_multipart.c). */
struct MHD_Connection *nbx_api_request_connection(NbxApiRequest *request);

/* What the control API keeps with the request; freed with it. */
void nbx_api_request_set_data(NbxApiRequest *request, gpointer data, GDestroyNotify destroy);
gpointer nbx_api_request_get_data(NbxApiRequest *request);

/*
 * Keeps the body in memory, up to @limit bytes; more is refused 413 naming
 * @setting (at once, and FALSE is returned, when the Content-Length says
 * so). The whole body is nbx_api_request_body() when the request is
 * executed.
 */
gboolean nbx_api_request_keep_body(NbxApiRequest *request, gsize limit, const char *setting);
GBytes *nbx_api_request_body(NbxApiRequest *request);

/*
 * Hands the body to @write as it comes (never all of it in memory), up to
 * @limit bytes, more refused 413 naming @setting (FALSE when the
 * Content-Length says so at once); @finish is called once it
 * has come whole. Either may refuse the request by returning FALSE with
 * @problem set. @sink is the control API's (freed by it, with the request's
 * data).
 */
typedef gboolean (*NbxApiBodyWrite)(gpointer sink, const char *data, gsize length,
				    NbxApiProblem *problem);
typedef gboolean (*NbxApiBodyFinish)(gpointer sink, NbxApiProblem *problem);
gboolean nbx_api_request_stream_body(NbxApiRequest *request, gsize limit, const char *setting,
				     NbxApiBodyWrite write, NbxApiBodyFinish finish, gpointer sink);

/*
 * Refuses the request with @problem. The rest of its body is read and
 * dropped so that the client sees the answer (a client that asked for
 * "Expect: 100-continue" gets it at once and sends no body).
 */
void nbx_api_request_refuse(NbxApiRequest *request, const NbxApiProblem *problem);

/* ---- answering ---- */

/* Adds a header to the answer (before it is given). */
void nbx_api_request_add_header(NbxApiRequest *request, const char *name, const char *value);
/*
 * Answers @status with @body (taken) as @content_type (a static string:
 * the metrics' text format, the status page's files).
 */
void nbx_api_request_respond_bytes(NbxApiRequest *request, guint status, const char *content_type,
				   GBytes *body);
/* Answers @status with @body (taken) as JSON. */
void nbx_api_request_respond(NbxApiRequest *request, guint status, JsonNode *body);
void nbx_api_request_respond_problem(NbxApiRequest *request, const NbxApiProblem *problem);
/* Answers @status with {"error": {...}}. */
void nbx_api_request_respond_error(NbxApiRequest *request, guint status, const char *code,
				   const char *field, const char *format, ...) G_GNUC_PRINTF(5, 6);
/* Answers @status with @object (taken). */
void nbx_api_request_respond_object(NbxApiRequest *request, guint status, JsonObject *object);

/*
 * For an answer that takes a while (a snapshot commit): the request waits,
 * its connection unpolled and without timeouts, until
 * nbx_api_pending_respond(). Call from execute(), on the main thread.
 */
typedef struct _NbxApiPending NbxApiPending;
NbxApiPending *nbx_api_request_suspend(NbxApiRequest *request);
/*
 * Answers the suspended request (main thread), or does nothing if the
 * server has gone since; frees @pending and takes @body.
 */
void nbx_api_pending_respond(NbxApiPending *pending, guint status, JsonNode *body);
void nbx_api_pending_respond_problem(NbxApiPending *pending, const NbxApiProblem *problem);

/*
 * ---- streams ----
 * An answer that never ends (the event stream): its body is sent as the
 * control API queues it. The connection then leaves the ordinary ones'
 * count and cap for the streams' own (limits.max_streams), and has no idle
 * timeout (its owner sends something now and then, so a client that went
 * away is noticed).
 */
typedef struct _NbxApiStream NbxApiStream;
/* The stream is over (the client went, it was dropped, or the server stops); @stream is freed after. */
typedef void (*NbxApiStreamClosed)(NbxApiStream *stream, gpointer data);

/*
 * Answers the request (from execute()) 200 with @content_type and a body
 * that follows; at most @max_queued bytes wait to be sent. At the cap the
 * request is answered 503 and NULL is returned.
 */
NbxApiStream *nbx_api_request_start_stream(NbxApiRequest *request, const char *content_type,
					   gsize max_queued, NbxApiStreamClosed closed,
					   gpointer data);
/*
 * Queues @text for the client (main thread). A client so slow that more
 * than max_queued bytes would wait is dropped: its connection is closed
 * and FALSE returned (closed() follows when libmicrohttpd lets go of it).
 */
gboolean nbx_api_stream_send(NbxApiStream *stream, const char *text, gsize length);
/* Streams open now (tests count them). */
guint nbx_api_server_stream_count(NbxApiServer *server);
