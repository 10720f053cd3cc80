/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streams: answers that never end (GET /events), their body sent as the
 * control API queues it, a client too slow dropped.
 */
#include "api_server_private.h"

#include <string.h>
#include <sys/socket.h>

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
void
nbx_api_stream_drop(NbxApiStream *stream)
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

NbxApiStream *
nbx_api_request_start_stream(NbxApiRequest *request, const char *content_type, gsize max_queued,
			     NbxApiStreamClosed closed, gpointer data)
{
	NbxApiServer *server = request->server;
	Connection *connection = nbx_api_connection_of(request->mhd);
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
	stream->fd = connection != NULL ? connection->fd : -1;
	stream->queued = g_byte_array_new();
	stream->max_queued = max_queued;
	stream->closed = closed;
	stream->data = data;
	response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read,
						     stream, stream_free);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(response, MHD_HTTP_HEADER_SERVER, "nestboxd/" NESTBOX_VERSION);
	nbx_api_answer_add_headers(response, request->headers);
	server->open_streams = g_list_prepend(server->open_streams, stream);
	request->streamed = TRUE;
	nbx_api_connection_become_stream(server, request->mhd);
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
		nbx_api_stream_drop(stream);
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
