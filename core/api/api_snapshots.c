/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot routes of the control API: each call runs on a worker thread
 * while its request is suspended (a commit saves a machine's memory and
 * may take minutes), and the main loop goes on serving everything else.
 */
#include "api_json.h"
#include "control_api_routes.h"

typedef enum { SNAP_BEGIN, SNAP_COMMIT, SNAP_ROLLBACK, SNAP_COPY, SNAP_EXPORT, SNAP_IMPORT } SnapOp;

typedef struct {
	NbxSnapshotManager *snapshots;
	/* The request, waiting for the answer. */
	NbxApiPending *pending;
	SnapOp op;
	char *machine;
	JsonObject *body;
	JsonObject *result;
	GError *error;
} SnapCall;

static void
snap_call_free(SnapCall *call)
{
	g_free(call->machine);
	g_clear_pointer(&call->body, json_object_unref);
	g_clear_pointer(&call->result, json_object_unref);
	g_clear_error(&call->error);
	g_free(call);
}

static const char *
member_string(JsonObject *body, const char *name)
{
	JsonNode *node = json_object_get_member(body, name);

	return node != NULL && nbx_api_json_is(node, G_TYPE_STRING) ? json_node_get_string(node)
								    : NULL;
}

static gboolean
member_boolean(JsonObject *body, const char *name)
{
	JsonNode *node = json_object_get_member(body, name);

	return node != NULL && nbx_api_json_is(node, G_TYPE_BOOLEAN) && json_node_get_boolean(node);
}

static void
snap_call_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
	SnapCall *call = data;
	NbxSnapshotManager *snapshots = call->snapshots;
	g_autofree char *console = NULL;
	gint64 generation = 0;
	gboolean ok = FALSE;

	switch (call->op) {
	case SNAP_BEGIN:
		ok = nbx_snapshot_manager_begin(snapshots, call->machine,
						member_boolean(call->body, "cold_boot"), &console,
						&generation, &call->error);
		if (ok) {
			call->result = json_object_new();
			json_object_set_string_member(call->result, "console", console);
			json_object_set_int_member(call->result, "from", generation);
		}
		break;
	case SNAP_COMMIT:
		ok = nbx_snapshot_manager_commit(snapshots, call->machine, &generation,
						 &call->error);
		if (ok) {
			call->result = json_object_new();
			json_object_set_int_member(call->result, "generation", generation);
		}
		break;
	case SNAP_ROLLBACK:
		ok = nbx_snapshot_manager_rollback(snapshots, call->machine, &call->error);
		if (ok)
			call->result = json_object_new();
		break;
	case SNAP_COPY: {
		JsonArray *array = json_object_get_array_member(call->body, "paths");
		g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
		g_auto(GStrv) paths = NULL;

		for (guint i = 0; i < json_array_get_length(array); i++)
			g_strv_builder_add(builder, json_array_get_string_element(array, i));
		paths = g_strv_builder_end(builder);
		ok = nbx_snapshot_manager_copy_in(snapshots, call->machine,
						  (const char *const *)paths, &call->error);
		if (ok)
			call->result = json_object_new();
		break;
	}
	case SNAP_EXPORT:
		ok = nbx_snapshot_manager_export(
			snapshots, call->machine, member_boolean(call->body, "full"),
			member_string(call->body, "output"), &call->result, &call->error);
		break;
	case SNAP_IMPORT:
		ok = nbx_snapshot_manager_import(
			snapshots, member_string(call->body, "input"),
			member_string(call->body, "machine"), member_boolean(call->body, "replace"),
			member_boolean(call->body, "minimal"), &call->result, &call->error);
		break;
	}
	g_task_return_boolean(task, ok);
}

/* The snapshot manager's error as the client sees it. */
static void
snapshot_problem(const GError *error, NbxApiProblem *problem)
{
	static const struct {
		NbxSnapshotError code;
		guint status;
		const char *name;
	} map[] = {
		{ NBX_SNAPSHOT_ERROR_NOT_FOUND, 404, "not_found" },
		{ NBX_SNAPSHOT_ERROR_NOT_SUPPORTED, 501, "not_supported" },
		{ NBX_SNAPSHOT_ERROR_CONFLICT, 409, "conflict" },
		{ NBX_SNAPSHOT_ERROR_INVALID, 400, "invalid" },
	};

	if (error->domain != NBX_SNAPSHOT_ERROR) {
		nbx_api_problem_set(problem, 500, "internal", NULL, "%s", error->message);
		return;
	}
	for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
		if ((NbxSnapshotError)error->code == map[i].code) {
			nbx_api_problem_set(problem, map[i].status, map[i].name, NULL, "%s",
					    error->message);
			return;
		}
	}
	nbx_api_problem_set(problem, 500, "failed", NULL, "%s", error->message);
}

static void
snap_call_done(GObject *source, GAsyncResult *result, gpointer data)
{
	SnapCall *call = data;
	g_auto(NbxApiProblem) problem = { 0 };
	JsonNode *node;

	if (g_task_propagate_boolean(G_TASK(result), NULL)) {
		node = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(node, g_steal_pointer(&call->result));
		nbx_api_pending_respond(g_steal_pointer(&call->pending), 200, node);
	} else {
		snapshot_problem(call->error, &problem);
		nbx_api_pending_respond_problem(g_steal_pointer(&call->pending), &problem);
	}
	snap_call_free(call);
}

/* Body members: their types, and which are required. */
typedef enum { SNAP_STRING, SNAP_BOOLEAN, SNAP_STRINGS } SnapType;

typedef struct {
	const char *name;
	SnapType type;
	gboolean required;
} SnapField;

static gboolean
check_snap_body(JsonObject *body, const SnapField *fields, NbxApiProblem *problem)
{
	for (const SnapField *f = fields; f->name != NULL; f++) {
		JsonNode *node = json_object_get_member(body, f->name);

		if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
			if (f->required)
				return nbx_api_problem_set(problem, 400, "invalid", f->name,
							   "%s: required", f->name);
			continue;
		}
		if (f->type == SNAP_STRINGS) {
			JsonArray *array;

			if (!JSON_NODE_HOLDS_ARRAY(node))
				return nbx_api_json_wrong_type(f->name, "an array of strings", node,
							       problem);
			array = json_node_get_array(node);
			for (guint i = 0; i < json_array_get_length(array); i++) {
				if (!nbx_api_json_is(json_array_get_element(array, i),
						     G_TYPE_STRING))
					return nbx_api_json_wrong_type(
						f->name, "an array of strings", node, problem);
			}
		} else if (!nbx_api_json_is(node, f->type == SNAP_STRING ? G_TYPE_STRING
									 : G_TYPE_BOOLEAN)) {
			return nbx_api_json_wrong_type(
				f->name, f->type == SNAP_STRING ? "a string" : "a boolean", node,
				problem);
		}
	}
	return TRUE;
}

static void
start_snap_call(NbxControlApi *api, NbxApiRequest *request, SnapOp op, const char *machine,
		const char *allowed, const SnapField *fields)
{
	g_autoptr(GTask) task = NULL;
	g_auto(NbxApiProblem) problem = { 0 };
	JsonObject *body;
	SnapCall *call;

	if (api->snapshots == NULL) {
		nbx_api_request_respond_error(request, 503, "unavailable", NULL,
					      "this daemon does not manage snapshots");
		return;
	}
	body = nbx_api_read_small_object(request, allowed, &problem);
	if (body == NULL || !check_snap_body(body, fields, &problem) ||
	    (machine != NULL && !nbx_api_check_name("machine", machine, &problem))) {
		nbx_api_request_respond_problem(request, &problem);
		g_clear_pointer(&body, json_object_unref);
		return;
	}
	call = g_new0(SnapCall, 1);
	call->snapshots = api->snapshots;
	call->op = op;
	call->machine = g_strdup(machine);
	call->body = body;
	call->pending = nbx_api_request_suspend(request);
	task = g_task_new(NULL, NULL, snap_call_done, call);
	g_task_set_task_data(task, call, NULL);
	g_task_run_in_thread(task, snap_call_thread);
}

static const SnapField no_fields[] = { { 0 } };

void
nbx_api_snapshot_begin(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "cold_boot", SNAP_BOOLEAN, FALSE }, { 0 } };

	start_snap_call(api, request, SNAP_BEGIN, args[0], "cold_boot", fields);
}

void
nbx_api_snapshot_commit(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	start_snap_call(api, request, SNAP_COMMIT, args[0], NULL, no_fields);
}

void
nbx_api_snapshot_rollback(NbxControlApi *api, NbxApiRequest *request, char **args,
			  GHashTable *query)
{
	start_snap_call(api, request, SNAP_ROLLBACK, args[0], NULL, no_fields);
}

void
nbx_api_snapshot_copy(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "paths", SNAP_STRINGS, TRUE }, { 0 } };

	start_snap_call(api, request, SNAP_COPY, args[0], "paths", fields);
}

void
nbx_api_snapshot_export(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "output", SNAP_STRING, TRUE },
					    { "full", SNAP_BOOLEAN, FALSE },
					    { 0 } };

	start_snap_call(api, request, SNAP_EXPORT, args[0], "output, full", fields);
}

void
nbx_api_snapshot_import(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "input", SNAP_STRING, TRUE },
					    { "machine", SNAP_STRING, FALSE },
					    { "replace", SNAP_BOOLEAN, FALSE },
					    { "minimal", SNAP_BOOLEAN, FALSE },
					    { 0 } };

	start_snap_call(api, request, SNAP_IMPORT, NULL, "input, machine, replace, minimal",
			fields);
}

void
nbx_api_snapshot_status(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	if (api->snapshots == NULL) {
		nbx_api_request_respond_error(request, 503, "unavailable", NULL,
					      "this daemon does not manage snapshots");
		return;
	}
	nbx_api_request_respond(request, 200, nbx_snapshot_manager_status(api->snapshots));
}
