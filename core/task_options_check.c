/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "task_options_check.h"

#include <libconfig.h>
#include <string.h>

#include "auxiliary_client.h"
#include "diagnostics.h"
#include "plugin_instance.h"
#include "scheduler.h"

/* The options of @aux from @options as a libconfig group under root.options, strings only. */
static config_setting_t *
options_group(config_setting_t *all, const char *aux, JsonObject *options)
{
	config_setting_t *group = config_setting_add(all, aux, CONFIG_TYPE_GROUP);
	JsonObject *given = options != NULL && json_object_has_member(options, aux)
				    ? json_object_get_object_member(options, aux)
				    : NULL;
	g_autoptr(GList) keys = given != NULL ? json_object_get_members(given) : NULL;

	for (GList *k = keys; group != NULL && k != NULL; k = k->next) {
		config_setting_t *setting = config_setting_add(group, k->data, CONFIG_TYPE_STRING);

		if (setting != NULL)
			config_setting_set_string(setting,
						  json_object_get_string_member(given, k->data));
	}
	return group;
}

/* "(default): options.router.route: ..." -> "options.router.route: ...". */
static const char *
without_location(const char *diagnostic)
{
	static const char prefix[] = "(default): ";

	return g_str_has_prefix(diagnostic, prefix) ? diagnostic + strlen(prefix) : diagnostic;
}

gboolean
nbx_task_options_check(GPtrArray *auxiliaries, JsonObject *options, GError **error)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(GString) problems = g_string_new(NULL);
	config_setting_t *all;
	config_t config;

	config_init(&config);
	all = config_setting_add(config_root_setting(&config), "options", CONFIG_TYPE_GROUP);
	for (guint i = 0; i < auxiliaries->len; i++) {
		NbxPluginInstance *aux = g_ptr_array_index(auxiliaries, i);
		struct nbx_check check = { .instance = aux, .diagnostics = diagnostics };
		config_setting_t *group;
		g_autoptr(GError) failed = NULL;

		if (!nbx_auxiliary_has_check_task(aux))
			continue;
		group = options_group(all, nbx_plugin_instance_name(aux), options);
		if (group != NULL &&
		    !nbx_auxiliary_check_task(aux, NBX_NODE(group), &check, &failed))
			nbx_diagnostics_add(diagnostics, NULL, NULL, "%s", failed->message);
	}
	config_destroy(&config);
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_string_append_printf(problems, "%s%s", i > 0 ? "; " : "",
				       without_location(nbx_diagnostics_get(diagnostics, i)));
	if (problems->len == 0)
		return TRUE;
	g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID, "%s", problems->str);
	return FALSE;
}
