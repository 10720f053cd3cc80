/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A request's answer: its status, body and headers, handed to libmicrohttpd once. */
#include "api_server_private.h"

typedef struct {
	char *name;
	char *value;
} Header;

static void
header_clear(gpointer data)
{
	Header *header = data;

	g_free(header->name);
	g_free(header->value);
}

GArray *
nbx_api_answer_headers_new(void)
{
	GArray *headers = g_array_new(FALSE, TRUE, sizeof(Header));

	g_array_set_clear_func(headers, header_clear);
	return headers;
}

void
nbx_api_answer_add_headers(struct MHD_Response *response, GArray *headers)
{
	for (guint i = 0; i < headers->len; i++) {
		Header *header = &g_array_index(headers, Header, i);

		MHD_add_response_header(response, header->name, header->value);
	}
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
gboolean
nbx_api_request_queue_answer(NbxApiRequest *request)
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
	nbx_api_answer_add_headers(response, request->headers);
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
