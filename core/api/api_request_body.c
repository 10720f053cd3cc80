/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A request's body: kept in memory or handed on as it comes, bounded by
 * the route's limit (a Content-Length over it is refused before a byte of
 * the body comes), and read and dropped after a refusal.
 */
#include "api_server_private.h"

/*
 * A refused request's body is read and dropped so the client, still
 * sending, can read the answer instead of a reset; a client that keeps
 * sending longer than this is cut off without one.
 */
#define DRAIN_SECONDS 10


gboolean
nbx_api_request_keep_body(NbxApiRequest *request, gsize limit, const char *setting)
{
	request->body_limit = limit;
	request->limit_setting = setting;
	request->kept = g_byte_array_new();
	return !nbx_api_request_refuse_declared_too_large(request);
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
	return !nbx_api_request_refuse_declared_too_large(request);
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
gboolean
nbx_api_request_refuse_declared_too_large(NbxApiRequest *request)
{
	gboolean known = FALSE;
	guint64 length = declared_length(request, &known);

	if (!known || length <= request->body_limit)
		return FALSE;
	refuse_too_large(request);
	return TRUE;
}

gboolean
nbx_api_request_take_body(NbxApiRequest *request, const char *data, gsize length)
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
