/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router: the routes under /api/v1 and those outside it (metrics,
 * events, the status page), found by method and path (404, or 405 with
 * the methods allowed), and the server's head() and execute() for them.
 */
#include <string.h>

#include "control_api_routes.h"

static void
handle_events(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	nbx_api_events_serve(api->events, request, query);
}

/* ---- routing ---- */

static const NbxApiRoute routes[] = {
	{ "GET", "health", nbx_api_health, NULL },
	{ "GET", "tasks", nbx_api_task_list, NULL },
	{ "POST", "tasks", nbx_api_task_submit, nbx_api_task_submit_head },
	{ "GET", "tasks/*", nbx_api_task_get, NULL },
	{ "POST", "tasks/*/cancel", nbx_api_task_cancel, NULL },
	{ "GET", "machines", nbx_api_machine_list, NULL },
	{ "POST", "machines/*/disable", nbx_api_machine_disable, NULL },
	{ "POST", "machines/*/enable", nbx_api_machine_enable, NULL },
	{ "GET", "plugins", nbx_api_plugin_list, NULL },
	{ "GET", "snapshots", nbx_api_snapshot_status, NULL },
	{ "POST", "snapshots/import", nbx_api_snapshot_import, NULL },
	{ "POST", "snapshots/*/begin", nbx_api_snapshot_begin, NULL },
	{ "POST", "snapshots/*/commit", nbx_api_snapshot_commit, NULL },
	{ "POST", "snapshots/*/rollback", nbx_api_snapshot_rollback, NULL },
	{ "POST", "snapshots/*/copy", nbx_api_snapshot_copy, NULL },
	{ "POST", "snapshots/*/export", nbx_api_snapshot_export, NULL },
};

/* Outside /api/v1: what Prometheus, event-stream clients and browsers ask for. */
static const NbxApiRoute root_routes[] = {
	{ "GET", "metrics", nbx_api_metrics, NULL },
	{ "GET", "events", handle_events, NULL },
	{ "GET", "", nbx_api_page_show, NULL },
	{ "GET", "static/*", nbx_api_page_static, NULL },
	{ "POST", "login", nbx_api_page_login, NULL },
	{ "POST", "logout", nbx_api_page_logout, NULL },
	{ "POST", "ui/tasks/*/cancel", nbx_api_page_cancel, NULL },
};

/* Fills @args (at most 2) with the segments "*" matched. */
static gboolean
route_matches(const NbxApiRoute *route, char **segments, char **args)
{
	g_auto(GStrv) pattern = g_strsplit(route->pattern, "/", -1);
	guint n = 0;

	if (g_strv_length(pattern) != g_strv_length(segments))
		return FALSE;
	for (guint i = 0; pattern[i] != NULL; i++) {
		if (strcmp(pattern[i], "*") == 0) {
			if (segments[i][0] == '\0')
				return FALSE;
			args[n++] = segments[i];
		} else if (strcmp(pattern[i], segments[i]) != 0) {
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * The route of @table for @method and @segments, or NULL; the methods of
 * the routes whose pattern matched go to @allow.
 */
static const NbxApiRoute *
match_route(const NbxApiRoute *table, gsize n, char **segments, const char *method, char **args,
	    GString *allow)
{
	for (gsize i = 0; i < n; i++) {
		char *found[2] = { NULL, NULL };

		if (!route_matches(&table[i], segments, found))
			continue;
		if (strcmp(table[i].method, method) == 0) {
			memcpy(args, found, sizeof found);
			return &table[i];
		}
		g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "", table[i].method);
	}
	return NULL;
}

/* The route for the request's method and path, or a 404 / 405 (with its Allow header). */
static gboolean
find_route(NbxApiRequest *request, NbxApiCall *call, NbxApiProblem *problem)
{
	const char *method = nbx_api_request_method(request);
	const char *path = nbx_api_request_path(request);
	g_autoptr(GString) allow = g_string_new(NULL);

	if (g_str_has_prefix(path, NBX_API_PREFIX "/")) {
		call->segments = g_strsplit(path + strlen(NBX_API_PREFIX "/"), "/", -1);
		call->route = match_route(routes, G_N_ELEMENTS(routes), call->segments, method,
					  call->args, allow);
		if (call->route == NULL && allow->len == 0)
			return nbx_api_problem_set(problem, 404, "not_found", NULL,
						   "no such resource: %s", path);
	} else {
		call->segments = g_strsplit(path + (*path == '/'), "/", -1);
		call->route = match_route(root_routes, G_N_ELEMENTS(root_routes), call->segments,
					  method, call->args, allow);
		if (call->route == NULL && allow->len == 0)
			return nbx_api_problem_set(problem, 404, "not_found", NULL,
						   "no such resource: %s (the API lives under "
						   NBX_API_PREFIX "/)",
						   path);
	}
	if (call->route != NULL)
		return TRUE;
	nbx_api_request_add_header(request, "Allow", allow->str);
	return nbx_api_problem_set(problem, 405, "method_not_allowed", NULL,
				   "%s is not allowed on %s (allowed: %s)", method, path,
				   allow->str);
}

static void
api_call_free(gpointer data)
{
	NbxApiCall *call = data;

	if (call->state_free != NULL)
		call->state_free(call->state);
	g_strfreev(call->segments);
	g_free(call);
}

void
nbx_api_route_head(NbxApiRequest *request, gpointer user_data)
{
	NbxControlApi *api = user_data;
	NbxApiCall *call = g_new0(NbxApiCall, 1);
	g_auto(NbxApiProblem) problem = { 0 };

	nbx_api_request_set_data(request, call, api_call_free);
	if (!find_route(request, call, &problem))
		nbx_api_request_refuse(request, &problem);
	else if (call->route->head != NULL)
		call->route->head(api, request);
	else
		nbx_api_request_keep_body(request, api->max_json_bytes, "api.max_json_kb");
}

void
nbx_api_route_execute(NbxApiRequest *request, gpointer user_data)
{
	NbxApiCall *call = nbx_api_request_get_data(request);

	call->route->func(user_data, request, call->args, nbx_api_request_query(request));
}
