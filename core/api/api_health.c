/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /api/v1/health: status, version, counts, uptime.
 */
#include "control_api_routes.h"

void
nbx_api_health(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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
