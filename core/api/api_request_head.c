/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the control API and the server's own files may ask of a request
 * once its head is in: method, path, headers, query, cookies, the
 * connection, the caller's data. Below the request's life (api_request.c)
 * and its body (api_request_body.c), which both read it.
 */
#include "api_server_private.h"

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

const char *
nbx_api_request_cookie(NbxApiRequest *request, const char *name)
{
	return MHD_lookup_connection_value(request->mhd, MHD_COOKIE_KIND, name);
}
