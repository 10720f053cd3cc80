/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /api/v1/plugins: every plugin loaded, enabled or not, and the
 * files refused.
 */
#include "api_json.h"
#include "control_api_routes.h"

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

	nbx_api_json_set_nullable_string(object, "name", d->name);
	json_object_set_string_member(object, "kind", nbx_plugin_kind_name(d->kind));
	nbx_api_json_set_nullable_string(object, "version", d->version);
	json_object_set_string_member(object, "abi", abi);
	nbx_api_json_set_nullable_string(object, "description", d->description);
	nbx_api_json_set_nullable_string(object, "path", plugin->path);
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

void
nbx_api_plugin_list(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
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
