/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between the files of the HTTP server (api_server.c: listeners and the
 * main loop; api_connection.c: connections, their cap and header deadline;
 * api_request.c: a request's life; api_request_head.c: what may be asked
 * of it; api_request_body.c: its body;
 * api_answer.c: its answer; api_pending.c: suspended requests;
 * api_stream.c: answers that never end). Nothing else includes it.
 */
#pragma once

#include <microhttpd.h>

#include "api_server.h"

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

/* ---- api_connection.c ---- */

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION: counts, caps and times connections. */
void nbx_api_connection_notify(void *cls, struct MHD_Connection *mhd, void **socket_context,
			       enum MHD_ConnectionNotificationCode toe);
/* The connection a request came on, or NULL. */
Connection *nbx_api_connection_of(struct MHD_Connection *mhd);
/* The next request's headers must come within api.header_timeout from now. */
void nbx_api_connection_start_deadline(Connection *connection);
void nbx_api_connection_stop_deadline(Connection *connection);
/* The connection leaves the ordinary ones' count for the streams'. */
void nbx_api_connection_become_stream(NbxApiServer *server, struct MHD_Connection *mhd);

/* ---- api_request.c: libmicrohttpd's callbacks for a request ---- */

void *nbx_api_request_on_uri(void *cls, const char *uri, struct MHD_Connection *mhd);
enum MHD_Result nbx_api_request_on_access(void *cls, struct MHD_Connection *mhd, const char *url,
					  const char *method, const char *version,
					  const char *upload_data, size_t *upload_data_size,
					  void **con_cls);
void nbx_api_request_on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
				  enum MHD_RequestTerminationCode toe);

/* ---- api_request_body.c ---- */

/* A Content-Length over the limit is refused before any of the body comes (TRUE then). */
gboolean nbx_api_request_refuse_declared_too_large(NbxApiRequest *request);
/* A piece of the body; FALSE: close the connection (a refused body that goes on for too long). */
gboolean nbx_api_request_take_body(NbxApiRequest *request, const char *data, gsize length);

/* ---- api_answer.c ---- */

/* An empty list of the answer's extra headers. */
GArray *nbx_api_answer_headers_new(void);
void nbx_api_answer_add_headers(struct MHD_Response *response, GArray *headers);
/* Hands the answer to libmicrohttpd, once; FALSE when it cannot take it now. */
gboolean nbx_api_request_queue_answer(NbxApiRequest *request);

/* ---- api_pending.c ---- */

/* The suspended request has its answer: libmicrohttpd takes it back. */
void nbx_api_pending_resume(NbxApiRequest *request);

/* ---- api_stream.c ---- */

/* Ends the stream: its client is too slow, or the server stops. */
void nbx_api_stream_drop(NbxApiStream *stream);
