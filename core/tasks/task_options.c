/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "task_options.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "auxiliary_client.h"
#include "diagnostics.h"
#include "field_check.h"
#include "guest_client.h"
#include "guest_task_options.h"
#include "schema_validate.h"
#include "scheduler.h"

static void G_GNUC_PRINTF(2, 3)
invalid(GError **error, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	if (error != NULL && *error == NULL)
		*error = g_error_new_valist(NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
					    format, args);
	va_end(args);
}

static NbxPluginInstance *
find_plugin(NbxSetup *setup, const char *name)
{
	GPtrArray *kinds[] = { setup->auxiliaries, setup->guests };

	for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
		for (guint i = 0; kinds[k] != NULL && i < kinds[k]->len; i++)
			if (g_strcmp0(nbx_plugin_instance_name(g_ptr_array_index(kinds[k], i)),
				      name) == 0)
				return g_ptr_array_index(kinds[k], i);
	return NULL;
}

/* A JSON scalar as the text a schema parses (default_value's syntax); NULL otherwise. */
static char *
scalar_text(JsonNode *value)
{
	if (!JSON_NODE_HOLDS_VALUE(value))
		return NULL;
	switch (json_node_get_value_type(value)) {
	case G_TYPE_STRING:
		return g_strdup(json_node_get_string(value));
	case G_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(value));
	case G_TYPE_BOOLEAN:
		return g_strdup(json_node_get_boolean(value) ? "true" : "false");
	default:
		return NULL;
	}
}

static gboolean
option_name_is_valid(const char *name)
{
	if (!g_ascii_islower(name[0]))
		return FALSE;
	for (const char *c = name; *c != '\0'; c++)
		if (!g_ascii_islower(*c) && !g_ascii_isdigit(*c) && *c != '_' && *c != '-')
			return FALSE;
	return TRUE;
}

/* One option: typed by @schema when the plugin has one, a string otherwise. */
static gboolean
add_option(config_setting_t *group, const NbxSchema *schema, const char *plugin, const char *key,
	   JsonNode *value, GError **error)
{
	g_autofree char *text = scalar_text(value);
	g_autoptr(GString) why = g_string_new(NULL);
	const struct nbx_config_field *field;
	config_setting_t *setting;

	if (!option_name_is_valid(key)) {
		invalid(error, "options.%s.%s: option names are [a-z][a-z0-9_-]*", plugin, key);
		return FALSE;
	}
	if (text == NULL) {
		invalid(error, "options.%s.%s: must be a string, an integer or a boolean", plugin,
			key);
		return FALSE;
	}
	if (schema == NULL) {
		setting = config_setting_add(group, key, CONFIG_TYPE_STRING);
		return setting != NULL && config_setting_set_string(setting, text) == CONFIG_TRUE;
	}
	field = nbx_schema_lookup(schema, key);
	if (field == NULL) {
		invalid(error, "options.%s.%s: plugin %s has no such per-task option", plugin, key,
			plugin);
		return FALSE;
	}
	if (!nbx_field_set_from_text(group, field, text, why)) {
		invalid(error, "options.%s.%s: %s", plugin, key, why->str);
		return FALSE;
	}
	return TRUE;
}

/* The options were made here, not read from a file: a problem has no line to name. */
static const char *
without_location(const char *problem)
{
	const char *colon = strstr(problem, ": options.");

	return colon != NULL ? colon + 2 : problem;
}

/* Bounds, choices and defaults of the plugin's task schema; the first problem as @error. */
static gboolean
validate_group(const NbxSchema *schema, config_setting_t *group, const char *plugin,
	       GError **error)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autofree char *prefix = g_strdup_printf("options.%s", plugin);
	NbxValidation validation = { .diagnostics = diagnostics, .check_environment = FALSE };
	const char *problem;

	if (nbx_schema_validate_group(schema, group, prefix, &validation))
		return TRUE;
	problem = without_location(nbx_diagnostics_get(diagnostics, 0));
	invalid(error, "%s", problem);
	return FALSE;
}

static gboolean
build_plugin(NbxSetup *setup, config_setting_t *root, const char *name, JsonNode *member,
	     GError **error)
{
	NbxPluginInstance *plugin = find_plugin(setup, name);
	const NbxSchema *schema;
	config_setting_t *group;
	g_autoptr(GList) keys = NULL;
	JsonObject *object;

	if (plugin == NULL) {
		invalid(error, "options.%s: no auxiliary or guest plugin named \"%s\" is enabled",
			name, name);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(member)) {
		invalid(error, "options.%s: must be an object of options", name);
		return FALSE;
	}
	/*
	 * plugin.h: built for 1.0/1.1, the options are strings as they came; from
	 * 1.2 the task_schema says what it takes (none declared: no option at all).
	 */
	schema = plugin->plugin->descriptor.abi_minor >= 2 ? plugin->plugin->task_schema : NULL;
	group = config_setting_add(root, name, CONFIG_TYPE_GROUP);
	if (group == NULL) {
		invalid(error, "options.%s: named twice", name);
		return FALSE;
	}
	object = json_node_get_object(member);
	keys = json_object_get_members(object);
	for (GList *k = keys; k != NULL; k = k->next)
		if (!add_option(group, schema, name, k->data, json_object_get_member(object, k->data),
				error))
			return FALSE;
	return schema == NULL || validate_group(schema, group, name, error);
}

gboolean
nbx_task_options_build(NbxSetup *setup, const char *options_json, config_setting_t *root,
		       GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	g_autoptr(GList) names = NULL;
	JsonObject *object;

	if (options_json == NULL)
		return TRUE;
	if (!json_parser_load_from_data(parser, options_json, -1, &local)) {
		invalid(error, "options: not JSON: %s", local->message);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		invalid(error, "options: must be an object of plugin names");
		return FALSE;
	}
	object = json_node_get_object(json_parser_get_root(parser));
	names = json_object_get_members(object);
	for (GList *l = names; l != NULL; l = l->next) {
		/* The API checked the guest's fields it keeps there (guest_task_options.h). */
		if (g_strcmp0(l->data, NBX_GUEST_RUN_OPTIONS) == 0)
			continue;
		if (!build_plugin(setup, root, l->data, json_object_get_member(object, l->data),
				  error))
			return FALSE;
	}
	return TRUE;
}

/* `check_task` of @plugin on @options (its group, or an empty one). */
static gboolean
check_plugin(NbxPluginInstance *plugin, gboolean guest, config_setting_t *root, GError **error)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	struct nbx_check check = { .instance = plugin, .diagnostics = diagnostics };
	const char *name = nbx_plugin_instance_name(plugin);
	config_setting_t *group = config_setting_get_member(root, name);
	g_autoptr(GError) failed = NULL;
	gboolean ok;

	if (group == NULL)
		group = config_setting_add(root, name, CONFIG_TYPE_GROUP);
	ok = guest ? nbx_guest_check_task(plugin, NBX_NODE(group), &check, &failed)
		   : nbx_auxiliary_check_task(plugin, NBX_NODE(group), &check, &failed);
	if (!ok) {
		invalid(error, "options.%s: %s", name, failed->message);
		return FALSE;
	}
	if (nbx_diagnostics_count(diagnostics) == 0)
		return TRUE;
	invalid(error, "%s", without_location(nbx_diagnostics_get(diagnostics, 0)));
	return FALSE;
}

gboolean
nbx_task_options_check(NbxSetup *setup, const char *options_json, GError **error)
{
	config_t scratch;
	config_setting_t *root;
	gboolean ok;

	config_init(&scratch);
	/* Under "options", so a plugin's check_report names options.PLUGIN.KEY. */
	root = config_setting_add(config_root_setting(&scratch), "options", CONFIG_TYPE_GROUP);
	ok = nbx_task_options_build(setup, options_json, root, error);
	for (guint i = 0; ok && i < setup->auxiliaries->len; i++) {
		NbxPluginInstance *aux = g_ptr_array_index(setup->auxiliaries, i);

		if (nbx_auxiliary_has_check_task(aux))
			ok = check_plugin(aux, FALSE, root, error);
	}
	for (guint i = 0; ok && setup->guests != NULL && i < setup->guests->len; i++) {
		NbxPluginInstance *guest = g_ptr_array_index(setup->guests, i);

		/* A guest plugin checks only the options a task gives it. */
		if (nbx_guest_has_check_task(guest) &&
		    config_setting_get_member(root, nbx_plugin_instance_name(guest)) != NULL)
			ok = check_plugin(guest, TRUE, root, error);
	}
	config_destroy(&scratch);
	return ok;
}
