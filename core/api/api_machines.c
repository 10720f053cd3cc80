/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machines: GET /api/v1/machines, POST /api/v1/machines/NAME/disable
 * (optional body {"reason": "..."}) and /enable.
 */
#include "api_json.h"
#include "api_machine_json.h"
#include "control_api_routes.h"

void
nbx_api_machine_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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

void
nbx_api_machine_disable(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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

void
nbx_api_machine_enable(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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
