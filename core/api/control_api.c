/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API: HTTP/1.1 + JSON under /api/v1, served by api_server.c
 * (libmicrohttpd) on the main thread.
 *
 *   GET  /metrics                        the Prometheus text format (api_metrics.c)
 *   GET  /events[?task=ID]               Server-Sent Events of task and machine changes
 *   GET  /, /static/FILE; POST /login, /logout, /ui/tasks/ID/cancel
 *                                        the status page (api_page.c)
 *   GET  /api/v1/health                  status, version, counts, uptime
 *   POST /api/v1/tasks                   submit (JSON, multipart "task" + "file", or the
 *                                        file as the body with ?task=JSON); Idempotency-Key
 *   GET  /api/v1/tasks?state=&limit=&before=
 *   GET  /api/v1/tasks/ID                the task and its events
 *   POST /api/v1/tasks/ID/cancel
 *   GET  /api/v1/machines
 *   POST /api/v1/machines/NAME/disable   optional body {"reason": "..."}
 *   POST /api/v1/machines/NAME/enable
 *   GET  /api/v1/plugins
 *   GET  /api/v1/snapshots               bases, generations (size, users), sessions
 *   POST /api/v1/snapshots/NAME/begin    {"cold_boot": bool} -> {"console", "from"}
 *   POST /api/v1/snapshots/NAME/copy     {"paths": [absolute paths on the daemon's host]}
 *   POST /api/v1/snapshots/NAME/commit   -> {"generation"}
 *   POST /api/v1/snapshots/NAME/rollback
 *   POST /api/v1/snapshots/NAME/export   {"output": path, "full": bool}
 *   POST /api/v1/snapshots/import        {"input": path, "machine", "replace", "minimal"}
 * Snapshot calls answer when done (a commit may take minutes); 501
 * not_supported when the machine's machinery lacks the op.
 *
 * Every error is {"error": {"code", "message", "field"}} ("field" is null
 * when no one field is to blame) with a 4xx/5xx status:
 *   400 malformed_json, invalid (a field's value or type), unknown_field
 *   401 unauthorized (TCP only)   404 not_found   405 method_not_allowed
 *   409 conflict                  413 too_large   414 too_large (url)
 *   415 unsupported_media_type    422 conflict (an Idempotency-Key reused)
 *   431 too_large (headers)       500 internal    503 shutting_down, busy
 *
 * A request is executed only once it has been received whole, and a
 * submitted task is validated completely here, before the scheduler sees
 * it, so a refused request, or one cut short, stores nothing.
 *
 * Access: the UNIX socket is guarded by its mode (0660) and group; TCP
 * requires "Authorization: Bearer TOKEN" on every request, checked before
 * the body is read.
 */
#include "control_api.h"

#include <string.h>

#include "api_events.h"
#include "api_json.h"
#include "api_listen.h"
#include "api_upload.h"
#include "control_api_routes.h"
#include "metrics.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 1000
/* Long enough that guessing it over the network is hopeless. */
#define TOKEN_MIN_LENGTH 16
#define JSON_DEFAULT_BYTES (1024 * 1024)
/* Event streams (GET /events) served at once, besides api.max_connections. */
#define EVENT_STREAMS_MAX 64
/* A client this far behind is dropped: far more than a burst of changes, far less than memory. */
#define EVENT_QUEUE_BYTES (256 * 1024)

/* ---- what every route uses ---- */

/*
 * The scheduler's INVALID messages begin with the field ("tags: ..."); any
 * other prefix (a path, a sentence) is not a field name.
 */
static char *
field_of_message(const char *message)
{
	const char *colon = strstr(message, ": ");

	if (colon == NULL || colon == message)
		return NULL;
	for (const char *p = message; p < colon; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return NULL;
	}
	return g_strndup(message, colon - message);
}

void
nbx_api_respond_scheduler_error(NbxApiRequest *request, const GError *error,
				const char *conflict_code, guint conflict_status)
{
	g_autofree char *field = NULL;

	if (error->domain == NBX_STORE_ERROR && error->code == NBX_STORE_ERROR_NOT_FOUND) {
		nbx_api_request_respond_error(request, 404, "not_found", NULL, "%s",
					      error->message);
		return;
	}
	if (error->domain != NBX_SCHEDULER_ERROR) {
		nbx_api_request_respond_error(request, 500, "internal", NULL, "%s", error->message);
		return;
	}
	switch ((NbxSchedulerError)error->code) {
	case NBX_SCHEDULER_ERROR_INVALID:
		field = field_of_message(error->message);
		nbx_api_request_respond_error(request, 400, "invalid", field, "%s", error->message);
		return;
	case NBX_SCHEDULER_ERROR_NOT_FOUND:
		nbx_api_request_respond_error(request, 404, "not_found", NULL, "%s",
					      error->message);
		return;
	case NBX_SCHEDULER_ERROR_CONFLICT:
		nbx_api_request_respond_error(request, conflict_status, conflict_code, NULL, "%s",
					      error->message);
		return;
	case NBX_SCHEDULER_ERROR_FAILED:
	default:
		nbx_api_request_respond_error(request, 500, "internal", NULL, "%s", error->message);
		return;
	}
}

static void
set_nullable_string(JsonObject *object, const char *name, const char *value)
{
	if (value != NULL)
		json_object_set_string_member(object, name, value);
	else
		json_object_set_null_member(object, name);
}

static gboolean
check_members(JsonObject *object, const char *allowed, NbxApiProblem *problem)
{
	g_autoptr(GList) members = json_object_get_members(object);
	g_auto(GStrv) names = allowed != NULL ? g_strsplit(allowed, ", ", -1) : NULL;

	for (GList *l = members; l != NULL; l = l->next) {
		const char *name = l->data;

		if (names != NULL && g_strv_contains((const char *const *)names, name))
			continue;
		if (allowed != NULL)
			return nbx_api_problem_set(problem, 400, "unknown_field", name,
						   "%s: unknown field (known: %s)", name, allowed);
		return nbx_api_problem_set(problem, 400, "unknown_field", name,
					   "%s: unknown field (this request takes none)", name);
	}
	return TRUE;
}

JsonObject *
nbx_api_read_small_object(NbxApiRequest *request, const char *allowed, NbxApiProblem *problem)
{
	g_autoptr(GBytes) body = nbx_api_request_body(request);
	g_autoptr(JsonObject) object = NULL;
	gsize length;
	const char *data = g_bytes_get_data(body, &length);

	if (length == 0)
		return json_object_new();
	object = nbx_api_json_parse_object("body", data, length, problem);
	if (object == NULL || !check_members(object, allowed, problem))
		return NULL;
	return g_steal_pointer(&object);
}

gboolean
nbx_api_check_query(GHashTable *query, const char *const *known, NbxApiProblem *problem)
{
	GHashTableIter iter;
	gpointer key;

	if (query == NULL)
		return TRUE;
	g_hash_table_iter_init(&iter, query);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		if (!g_strv_contains(known, key)) {
			g_autofree char *names = g_strjoinv(", ", (char **)known);

			return nbx_api_problem_set(problem, 400, "unknown_field", key,
						   "%s: unknown query parameter (known: %s)",
						   (const char *)key, names);
		}
	}
	return TRUE;
}

/* ---- handlers ---- */

static void
handle_health(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	NbxSchedulerHealth health = { 0 };
	JsonObject *root = json_object_new();
	JsonObject *machines = json_object_new();

	nbx_scheduler_health(api->scheduler, &health);
	json_object_set_string_member(root, "status",
				      health.shutting_down ? "shutting_down" : "ok");
	json_object_set_string_member(root, "version", NESTBOX_VERSION);
	json_object_set_int_member(root, "queued", health.queued);
	json_object_set_int_member(root, "running", health.running);
	json_object_set_int_member(machines, "total", health.machines);
	json_object_set_int_member(machines, "free", health.machines_free);
	json_object_set_int_member(machines, "disabled", health.machines_disabled);
	json_object_set_object_member(root, "machines", machines);
	json_object_set_boolean_member(root, "shutting_down", health.shutting_down);
	json_object_set_int_member(root, "uptime", health.uptime_s);
	nbx_api_request_respond_object(request, 200, root);
}

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

static void
handle_task_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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
	set_nullable_string(object, "time", time);
	set_nullable_string(object, "kind", event->kind);
	set_nullable_string(object, "machine", event->machine);
	set_nullable_string(object, "message", event->message);
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

static void
handle_task_get(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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

static void
handle_task_cancel(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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

JsonNode *
nbx_api_machine_to_json(const NbxMachineStatus *machine)
{
	JsonObject *object = json_object_new();
	JsonArray *tags = json_array_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(object, "name", machine->name);
	set_nullable_string(object, "machinery", machine->machinery);
	set_nullable_string(object, "label", machine->label);
	set_nullable_string(object, "ip", machine->ip);
	set_nullable_string(object, "platform", machine->platform);
	set_nullable_string(object, "os_version", machine->os_version);
	set_nullable_string(object, "architecture", machine->architecture);
	for (char **tag = machine->tags; tag != NULL && *tag != NULL; tag++)
		json_array_add_string_element(tags, *tag);
	json_object_set_array_member(object, "tags", tags);
	set_nullable_string(object, "state", machine->state);
	set_nullable_string(object, "activity", machine->activity);
	if (machine->task_id > 0)
		json_object_set_int_member(object, "task_id", machine->task_id);
	else
		json_object_set_null_member(object, "task_id");
	json_object_set_boolean_member(object, "disabled", machine->disabled_reason != NULL);
	set_nullable_string(object, "disabled_reason", machine->disabled_reason);
	json_object_set_int_member(object, "failures", machine->failures);
	json_node_take_object(node, object);
	return node;
}

static void
handle_machine_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);
	JsonArray *array = json_array_sized_new(machines->len);
	JsonObject *root = json_object_new();

	for (guint i = 0; i < machines->len; i++)
		json_array_add_element(array, nbx_api_machine_to_json(g_ptr_array_index(machines, i)));
	json_object_set_array_member(root, "machines", array);
	nbx_api_request_respond_object(request, 200, root);
}

static void
respond_machine(NbxControlApi *api, NbxApiRequest *request, const char *name)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);

	for (guint i = 0; i < machines->len; i++) {
		const NbxMachineStatus *machine = g_ptr_array_index(machines, i);

		if (g_strcmp0(machine->name, name) == 0) {
			nbx_api_request_respond(request, 200, nbx_api_machine_to_json(machine));
			return;
		}
	}
	/* Gone between the change and the listing: only a reload can do that. */
	nbx_api_request_respond_error(request, 404, "not_found", "name", "name: no machine \"%s\"",
				      name);
}

static void
set_machine_disabled(NbxControlApi *api, NbxApiRequest *request, const char *name,
		     const char *reason)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_scheduler_set_machine_disabled(api->scheduler, name, reason, &error)) {
		if (g_error_matches(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND))
			nbx_api_request_respond_error(request, 404, "not_found", "name", "%s",
						      error->message);
		else
			nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return;
	}
	nbx_api_events_machines_changed(api->events);
	respond_machine(api, request, name);
}

static void
handle_machine_disable(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	g_auto(NbxApiProblem) problem = { 0 };
	const char *reason = "disabled by the operator";
	JsonNode *node;

	body = nbx_api_read_small_object(request, "reason", &problem);
	if (body == NULL) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	node = json_object_get_member(body, "reason");
	if (node != NULL && !JSON_NODE_HOLDS_NULL(node)) {
		if (!nbx_api_json_is(node, G_TYPE_STRING))
			nbx_api_json_wrong_type("reason", "a string", node, &problem);
		else if (*json_node_get_string(node) == '\0')
			nbx_api_problem_set(
				&problem, 400, "invalid", "reason",
				"reason: must not be empty (leave it out for the default)");
		else if (nbx_api_check_text("reason", json_node_get_string(node), &problem))
			reason = json_node_get_string(node);
		if (problem.status != 0) {
			nbx_api_request_respond_problem(request, &problem);
			return;
		}
	}
	set_machine_disabled(api, request, args[0], reason);
}

static void
handle_machine_enable(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	g_auto(NbxApiProblem) problem = { 0 };

	body = nbx_api_read_small_object(request, NULL, &problem);
	if (body == NULL) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	set_machine_disabled(api, request, args[0], NULL);
}

/* The enabled instance of @plugin in @setup, or NULL. */
static NbxPluginInstance *
instance_of(NbxSetup *setup, NbxPlugin *plugin)
{
	GPtrArray *lists[] = { setup->machineries, setup->auxiliaries };

	for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
		for (guint i = 0; lists[l] != NULL && i < lists[l]->len; i++) {
			NbxPluginInstance *instance = g_ptr_array_index(lists[l], i);

			if (instance->plugin == plugin)
				return instance;
		}
	}
	return NULL;
}

static JsonNode *
plugin_to_json(NbxSetup *setup, NbxPlugin *plugin)
{
	const struct nbx_plugin_descriptor *d = &plugin->descriptor;
	NbxPluginInstance *instance = instance_of(setup, plugin);
	JsonObject *object = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *abi = g_strdup_printf("%u.%u", d->abi_major, d->abi_minor);

	set_nullable_string(object, "name", d->name);
	json_object_set_string_member(object, "kind", nbx_plugin_kind_name(d->kind));
	set_nullable_string(object, "version", d->version);
	json_object_set_string_member(object, "abi", abi);
	set_nullable_string(object, "description", d->description);
	set_nullable_string(object, "path", plugin->path);
	json_object_set_boolean_member(object, "enabled", instance != NULL);
	/* The configured start order when enabled, else what the plugin asks for. */
	if (d->kind != NBX_PLUGIN_AUXILIARY)
		json_object_set_null_member(object, "order");
	else if (instance != NULL)
		json_object_set_int_member(object, "order", instance->section->order);
	else
		json_object_set_int_member(object, "order", d->order > 0 ? d->order : 1);
	json_node_take_object(node, object);
	return node;
}

static void
handle_plugin_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	NbxSetup *setup = nbx_scheduler_get_setup(api->scheduler);
	GPtrArray *plugins = setup->registry->plugins;
	GPtrArray *refusals = setup->registry->refusals;
	JsonArray *array = json_array_sized_new(plugins->len);
	JsonArray *refused = json_array_sized_new(refusals->len);
	JsonObject *root = json_object_new();

	for (guint i = 0; i < plugins->len; i++)
		json_array_add_element(array, plugin_to_json(setup, g_ptr_array_index(plugins, i)));
	for (guint i = 0; i < refusals->len; i++)
		json_array_add_string_element(refused, g_ptr_array_index(refusals, i));
	json_object_set_array_member(root, "plugins", array);
	json_object_set_array_member(root, "refused", refused);
	nbx_api_request_respond_object(request, 200, root);
}

void
nbx_control_api_set_snapshots(NbxControlApi *api, NbxSnapshotManager *snapshots)
{
	api->snapshots = snapshots;
}

static void
handle_events(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	nbx_api_events_serve(api->events, request, query);
}

/* ---- routing ---- */

static const NbxApiRoute routes[] = {
	{ "GET", "health", handle_health, NULL },
	{ "GET", "tasks", handle_task_list, NULL },
	{ "POST", "tasks", nbx_api_task_submit, nbx_api_task_submit_head },
	{ "GET", "tasks/*", handle_task_get, NULL },
	{ "POST", "tasks/*/cancel", handle_task_cancel, NULL },
	{ "GET", "machines", handle_machine_list, NULL },
	{ "POST", "machines/*/disable", handle_machine_disable, NULL },
	{ "POST", "machines/*/enable", handle_machine_enable, NULL },
	{ "GET", "plugins", handle_plugin_list, NULL },
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

/* The route for the request's method and path, or a 404 / 405 (with its Allow header). */
static gboolean
find_route(NbxApiRequest *request, NbxApiCall *call, NbxApiProblem *problem)
{
	const char *method = nbx_api_request_method(request);
	const char *path = nbx_api_request_path(request);
	g_autoptr(GString) allow = g_string_new(NULL);

	if (!g_str_has_prefix(path, NBX_API_PREFIX "/")) {
		g_auto(GStrv) segments = g_strsplit(path + (*path == '/'), "/", -1);

		for (guint i = 0; i < G_N_ELEMENTS(root_routes); i++) {
			char *args[2] = { NULL, NULL };

			if (!route_matches(&root_routes[i], segments, args))
				continue;
			if (strcmp(root_routes[i].method, method) == 0) {
				call->route = &root_routes[i];
				call->segments = g_steal_pointer(&segments);
				memcpy(call->args, args, sizeof args);
				return TRUE;
			}
			g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "",
					       root_routes[i].method);
		}
	}
	if (allow->len > 0) {
		nbx_api_request_add_header(request, "Allow", allow->str);
		return nbx_api_problem_set(problem, 405, "method_not_allowed", NULL,
					   "%s is not allowed on %s (allowed: %s)", method, path,
					   allow->str);
	}
	if (!g_str_has_prefix(path, NBX_API_PREFIX "/"))
		return nbx_api_problem_set(
			problem, 404, "not_found", NULL,
			"no such resource: %s (the API lives under " NBX_API_PREFIX "/)", path);
	call->segments = g_strsplit(path + strlen(NBX_API_PREFIX "/"), "/", -1);
	for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
		char *args[2] = { NULL, NULL };

		if (!route_matches(&routes[i], call->segments, args))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			call->route = &routes[i];
			memcpy(call->args, args, sizeof args);
			return TRUE;
		}
		g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "", routes[i].method);
	}
	if (allow->len == 0)
		return nbx_api_problem_set(problem, 404, "not_found", NULL, "no such resource: %s",
					   path);
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

static void
on_head(NbxApiRequest *request, gpointer user_data)
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

static gboolean
on_authorize(NbxApiRequest *request, gpointer user_data)
{
	NbxControlApi *api = user_data;

	return nbx_api_page_authorize(api->page, request);
}

static void
on_execute(NbxApiRequest *request, gpointer user_data)
{
	NbxApiCall *call = nbx_api_request_get_data(request);

	call->route->func(user_data, request, call->args, nbx_api_request_query(request));
}

/* ---- settings ---- */

/* The limits, with 0 taking the defaults the settings have. */
static NbxApiServerLimits
server_limits(const NbxControlApiOptions *options)
{
	NbxApiServerLimits limits = {
		.max_connections = options->max_connections > 0 ? options->max_connections : 128,
		.header_timeout_s = options->header_timeout_s > 0 ? options->header_timeout_s : 10,
		.idle_timeout_s = options->idle_timeout_s > 0 ? options->idle_timeout_s : 60,
		.max_header_bytes =
			options->max_header_bytes > 0 ? options->max_header_bytes : 16 * 1024,
		.max_streams = options->max_event_streams > 0 ? options->max_event_streams
							       : EVENT_STREAMS_MAX,
	};

	return limits;
}

/* ---- listening ---- */

static gboolean
listen_unix(NbxControlApi *api, const NbxControlApiOptions *options, int backlog, GError **error)
{
	int fd = nbx_api_listen_unix(options->socket_path, options->socket_group, backlog,
				     &api->socket_dev, &api->socket_ino, error);

	if (fd < 0)
		return FALSE;
	api->socket_path = g_strdup(options->socket_path);
	if (!nbx_api_server_add_listener(api->server, fd, NULL, error)) {
		g_prefix_error(error, "api.socket: %s: ", options->socket_path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
listen_tcp(NbxControlApi *api, const NbxControlApiOptions *options, int backlog, GError **error)
{
	g_autofree char *token = g_strstrip(g_strdup(options->token != NULL ? options->token : ""));
	int fd;

	if (strlen(token) < TOKEN_MIN_LENGTH) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: %s; put at least %d random characters in it, e.g. "
			    "`head -c 32 /dev/urandom | base64`",
			    *token == '\0' ? "api.tcp needs a token and it is empty or missing"
					   : "the token is too short",
			    TOKEN_MIN_LENGTH);
		return FALSE;
	}
	if (nbx_api_has_control_character(token)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: the token must be one line of printable characters");
		return FALSE;
	}
	fd = nbx_api_listen_tcp(options->tcp_address, backlog, error);
	if (fd < 0)
		return FALSE;
	if (!nbx_api_server_add_listener(api->server, fd, token, error)) {
		g_prefix_error(error, "api.tcp: %s: ", options->tcp_address);
		return FALSE;
	}
	return TRUE;
}

NbxControlApi *
nbx_control_api_new(NbxScheduler *scheduler, const NbxControlApiOptions *options, GError **error)
{
	static const NbxApiServerHandlers handlers = { .head = on_head,
						       .execute = on_execute,
						       .authorize = on_authorize };
	NbxApiServerLimits limits = server_limits(options);
	int backlog = options->listen_backlog > 0 ? (int)options->listen_backlog : 1024;
	NbxControlApi *api;

	g_return_val_if_fail(scheduler != NULL, NULL);
	g_return_val_if_fail(options != NULL && options->socket_path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	api = g_new0(NbxControlApi, 1);
	api->scheduler = scheduler;
	api->max_body_bytes = options->max_body_bytes;
	api->max_json_bytes = options->max_json_bytes > 0
				      ? options->max_json_bytes
				      : MIN(JSON_DEFAULT_BYTES, options->max_body_bytes);
	api->server = nbx_api_server_new(&limits, &handlers, api);
	nbx_api_upload_clean_dir(nbx_scheduler_get_samples_dir(scheduler));
	api->page = nbx_api_page_new();
	api->events = nbx_api_events_new(scheduler, options->event_queue_bytes > 0
							    ? options->event_queue_bytes
							    : EVENT_QUEUE_BYTES);
	if (!nbx_metrics_follow_tasks(nbx_scheduler_get_store(scheduler), error)) {
		g_prefix_error(error, "metrics: cannot count the stored tasks: ");
		nbx_control_api_free(api);
		return NULL;
	}
	if (!listen_unix(api, options, backlog, error) ||
	    (options->tcp_address != NULL && *options->tcp_address != '\0' &&
	     !listen_tcp(api, options, backlog, error))) {
		nbx_control_api_free(api);
		return NULL;
	}
	return api;
}

guint
nbx_control_api_connection_count(NbxControlApi *api)
{
	return nbx_api_server_connection_count(api->server);
}

guint
nbx_control_api_stream_count(NbxControlApi *api)
{
	return nbx_api_server_stream_count(api->server);
}

void
nbx_control_api_free(NbxControlApi *api)
{
	if (api == NULL)
		return;
	nbx_api_server_free(api->server);
	/* After the server: its streams are closed by now. */
	nbx_api_events_free(api->events);
	nbx_api_page_free(api->page);
	nbx_metrics_unfollow_tasks();
	if (api->socket_path != NULL)
		nbx_api_unlink_unix(api->socket_path, api->socket_dev, api->socket_ino);
	g_free(api->socket_path);
	g_free(api);
}
