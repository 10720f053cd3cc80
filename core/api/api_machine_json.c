/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_machine_json.h"

#include "api_json.h"

JsonNode *
nbx_api_machine_to_json(const NbxMachineStatus *machine)
{
	JsonObject *object = json_object_new();
	JsonArray *tags = json_array_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(object, "name", machine->name);
	nbx_api_json_set_nullable_string(object, "machinery", machine->machinery);
	nbx_api_json_set_nullable_string(object, "label", machine->label);
	nbx_api_json_set_nullable_string(object, "ip", machine->ip);
	nbx_api_json_set_nullable_string(object, "platform", machine->platform);
	nbx_api_json_set_nullable_string(object, "os_version", machine->os_version);
	nbx_api_json_set_nullable_string(object, "architecture", machine->architecture);
	for (char **tag = machine->tags; tag != NULL && *tag != NULL; tag++)
		json_array_add_string_element(tags, *tag);
	json_object_set_array_member(object, "tags", tags);
	nbx_api_json_set_nullable_string(object, "state", machine->state);
	nbx_api_json_set_nullable_string(object, "activity", machine->activity);
	if (machine->task_id > 0)
		json_object_set_int_member(object, "task_id", machine->task_id);
	else
		json_object_set_null_member(object, "task_id");
	json_object_set_boolean_member(object, "disabled", machine->disabled_reason != NULL);
	nbx_api_json_set_nullable_string(object, "disabled_reason", machine->disabled_reason);
	json_object_set_int_member(object, "failures", machine->failures);
	json_node_take_object(node, object);
	return node;
}
