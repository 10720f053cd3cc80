/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tasks: GET /api/v1/tasks (by state, newest first, paged with before),
 * GET /api/v1/tasks/ID with its events, POST /api/v1/tasks/ID/cancel.
 * Submitting one is api_task_submit.c.
 */
#include "api_json.h"
#include "control_api_routes.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 1000

/* A positive decimal integer and nothing else ("+1", "1x", "0x1" are not ids). */
static gboolean
parse_id(const char *field, const char *text, gint64 *id, NbxApiProblem *problem)
{
	guint64 value = 0;

	if (text == NULL || !g_ascii_isdigit(*text) ||
	    !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &value, NULL))
		return nbx_api_problem_set(problem, 400, "invalid", field,
					   "%s: expected a positive integer, found \"%s\"", field,
					   text != NULL ? text : "");
	*id = (gint64)value;
	return TRUE;
}

static char *
state_names(void)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (int state = 0; state <= NBX_TASK_STATE_LAST; state++)
		g_string_append_printf(names, "%s%s", state > 0 ? ", " : "",
				       nbx_task_state_name(state));
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
read_list_query(GHashTable *query, int *state, gint64 *limit, gint64 *before,
		NbxApiProblem *problem)
{
	static const char *const known[] = { "state", "limit", "before", NULL };
	const char *text;
	guint64 value;

	if (!nbx_api_check_query(query, known, problem))
		return FALSE;
	text = query != NULL ? g_hash_table_lookup(query, "state") : NULL;
	if (text != NULL && *text != '\0') {
		*state = nbx_task_state_from_name(text);
		if (*state < 0) {
			g_autofree char *names = state_names();

			return nbx_api_problem_set(problem, 400, "invalid", "state",
						   "state: unknown state \"%s\" (known: %s)", text,
						   names);
		}
	}
	text = query != NULL ? g_hash_table_lookup(query, "limit") : NULL;
	if (text != NULL) {
		if (!g_ascii_isdigit(*text) ||
		    !g_ascii_string_to_unsigned(text, 10, 1, LIST_LIMIT_MAX, &value, NULL))
			return nbx_api_problem_set(
				problem, 400, "invalid", "limit",
				"limit: expected an integer from 1 to %d, found \"%s\"",
				LIST_LIMIT_MAX, text);
		*limit = (gint64)value;
	}
	text = query != NULL ? g_hash_table_lookup(query, "before") : NULL;
	if (text != NULL && !parse_id("before", text, before, problem))
		return FALSE;
	return TRUE;
}

void
nbx_api_task_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(GPtrArray) tasks = NULL;
	g_autoptr(GError) error = NULL;
	JsonArray *array;
	JsonObject *root;
	g_auto(NbxApiProblem) problem = { 0 };
	int state = -1;
	gint64 limit = LIST_LIMIT_DEFAULT;
	gint64 before = 0;

	if (!read_list_query(query, &state, &limit, &before, &problem)) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	tasks = nbx_store_task_list(store, state, limit, before, &error);
	if (tasks == NULL) {
		nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return;
	}
	array = json_array_sized_new(tasks->len);
	for (guint i = 0; i < tasks->len; i++)
		json_array_add_element(array, nbx_task_to_json(g_ptr_array_index(tasks, i)));
	root = json_object_new();
	json_object_set_array_member(root, "tasks", array);
	nbx_api_request_respond_object(request, 200, root);
}

static JsonNode *
event_to_json(const NbxStoredEvent *event)
{
	JsonObject *object = json_object_new();
	g_autofree char *time = nbx_format_time_us(event->time_us);
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_int_member(object, "id", event->id);
	nbx_api_json_set_nullable_string(object, "time", time);
	nbx_api_json_set_nullable_string(object, "kind", event->kind);
	nbx_api_json_set_nullable_string(object, "machine", event->machine);
	nbx_api_json_set_nullable_string(object, "message", event->message);
	json_node_take_object(node, object);
	return node;
}

/* Answers the task with @id, and its events when @with_events, or the error. */
static void
respond_task(NbxControlApi *api, NbxApiRequest *request, gint64 id, gboolean with_events)
{
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *node;
	JsonArray *array;

	task = nbx_store_task_get(store, id, &error);
	if (task == NULL) {
		if (g_error_matches(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND))
			nbx_api_request_respond_error(request, 404, "not_found", "id",
						      "id: no task %" G_GINT64_FORMAT, id);
		else
			nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return;
	}
	node = nbx_task_to_json(task);
	if (with_events) {
		events = nbx_store_event_list(store, id, &error);
		if (events == NULL) {
			json_node_unref(node);
			nbx_api_respond_scheduler_error(request, error, "conflict", 409);
			return;
		}
		array = json_array_sized_new(events->len);
		for (guint i = 0; i < events->len; i++)
			json_array_add_element(array, event_to_json(g_ptr_array_index(events, i)));
		json_object_set_array_member(json_node_get_object(node), "events", array);
	}
	nbx_api_request_respond(request, 200, node);
}

void
nbx_api_task_get(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const char *const none[] = { NULL };
	g_auto(NbxApiProblem) problem = { 0 };
	gint64 id = 0;

	if (!parse_id("id", args[0], &id, &problem) ||
	    !nbx_api_check_query(query, none, &problem)) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	respond_task(api, request, id, TRUE);
}

void
nbx_api_task_cancel(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(NbxApiProblem) problem = { 0 };
	gint64 id = 0;

	if (!parse_id("id", args[0], &id, &problem) ||
	    (body = nbx_api_read_small_object(request, NULL, &problem)) == NULL) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	if (!nbx_scheduler_cancel(api->scheduler, id, &error)) {
		if (g_error_matches(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND))
			nbx_api_request_respond_error(request, 404, "not_found", "id", "%s",
						      error->message);
		else
			nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return;
	}
	respond_task(api, request, id, FALSE);
}
