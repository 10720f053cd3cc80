/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between the control API (control_api.c), its router (api_router.c) and
 * the files that serve its routes, one resource each: the API's state and
 * what every route uses (api_route_rules.c). Not for anything outside the
 * API.
 */
#pragma once

#include <sys/types.h>

#include "api_events.h"
#include "api_page.h"
#include "api_problem.h"
#include "api_server.h"
#include "control_api.h"

#define NBX_API_PREFIX "/api/v1"

struct _NbxControlApi {
	NbxScheduler *scheduler;
	/* GET /events (api_events.c). */
	NbxApiEvents *events;
	/* The status page's sessions (api_page.c). */
	NbxApiPage *page;
	/* NULL until set: the snapshot routes then answer 503. */
	NbxSnapshotManager *snapshots;
	NbxApiServer *server;
	char *socket_path;
	/* The socket file we bound, so we never unlink one that replaced it. */
	dev_t socket_dev;
	ino_t socket_ino;
	gsize max_body_bytes;
	gsize max_json_bytes;
};

typedef void (*NbxApiRouteFunc)(NbxControlApi *api, NbxApiRequest *request, char **args,
				GHashTable *query);
/*
 * Called once the route's headers are in, to say where its body goes (or
 * refuse it); without one, a route takes a JSON body of up to
 * api.max_json_kb.
 */
typedef void (*NbxApiRouteHead)(NbxControlApi *api, NbxApiRequest *request);

typedef struct {
	const char *method;
	/* Segments after /api/v1/; "*" matches one non-empty segment. */
	const char *pattern;
	NbxApiRouteFunc func;
	NbxApiRouteHead head;
} NbxApiRoute;

/* What the router keeps with a request (its data): the route and the route's own state. */
typedef struct {
	const NbxApiRoute *route;
	char **segments;
	/* The segments "*" matched. */
	char *args[2];
	gpointer state;
	GDestroyNotify state_free;
} NbxApiCall;

/*
 * A body that must be empty or a JSON object holding only @allowed (NULL
 * for none). Returns the object (possibly empty) or NULL with the problem.
 */
JsonObject *nbx_api_read_small_object(NbxApiRequest *request, const char *allowed,
				      NbxApiProblem *problem);
gboolean nbx_api_check_query(GHashTable *query, const char *const *known, NbxApiProblem *problem);
/*
 * Answers a scheduler's (or the store's) error: 400 invalid naming the
 * field, 404, @conflict_status with @conflict_code, else 500.
 */
void nbx_api_respond_scheduler_error(NbxApiRequest *request, const GError *error,
				     const char *conflict_code, guint conflict_status);

/* The server's head() and execute(): the route for the request, then its function (api_router.c). */
void nbx_api_route_head(NbxApiRequest *request, gpointer user_data);
void nbx_api_route_execute(NbxApiRequest *request, gpointer user_data);

/* GET /health (api_health.c). */
void nbx_api_health(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query);

/* /tasks but their submission (api_tasks.c). */
void nbx_api_task_list(NbxControlApi *api, NbxApiRequest *request, char **args,
		       GHashTable *query);
void nbx_api_task_get(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query);
void nbx_api_task_cancel(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);

/* /machines (api_machines.c). */
void nbx_api_machine_list(NbxControlApi *api, NbxApiRequest *request, char **args,
			  GHashTable *query);
void nbx_api_machine_disable(NbxControlApi *api, NbxApiRequest *request, char **args,
			     GHashTable *query);
void nbx_api_machine_enable(NbxControlApi *api, NbxApiRequest *request, char **args,
			    GHashTable *query);

/* GET /plugins (api_plugins.c). */
void nbx_api_plugin_list(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);

/* GET /metrics (api_metrics.c). */
void nbx_api_metrics(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query);

/* The status page (api_page.c, api_page_render.c). */
void nbx_api_page_show(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query);
void nbx_api_page_static(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);
void nbx_api_page_login(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query);
void nbx_api_page_logout(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);
void nbx_api_page_cancel(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);
/* The page's HTML; @csrf (or NULL) goes into its forms. */
GString *nbx_api_page_render(NbxControlApi *api, const char *csrf);

/* POST /tasks (api_task_submit.c). */
void nbx_api_task_submit_head(NbxControlApi *api, NbxApiRequest *request);
void nbx_api_task_submit(NbxControlApi *api, NbxApiRequest *request, char **args,
			 GHashTable *query);

/* /snapshots (api_snapshots.c). */
void nbx_api_snapshot_status(NbxControlApi *api, NbxApiRequest *request, char **args,
			     GHashTable *query);
void nbx_api_snapshot_begin(NbxControlApi *api, NbxApiRequest *request, char **args,
			    GHashTable *query);
void nbx_api_snapshot_commit(NbxControlApi *api, NbxApiRequest *request, char **args,
			     GHashTable *query);
void nbx_api_snapshot_rollback(NbxControlApi *api, NbxApiRequest *request, char **args,
			       GHashTable *query);
void nbx_api_snapshot_copy(NbxControlApi *api, NbxApiRequest *request, char **args,
			   GHashTable *query);
void nbx_api_snapshot_export(NbxControlApi *api, NbxApiRequest *request, char **args,
			     GHashTable *query);
void nbx_api_snapshot_import(NbxControlApi *api, NbxApiRequest *request, char **args,
			     GHashTable *query);
