/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_setup.h"

#include "setting_names.h"

static NbxPluginInstance *
find_guest(NbxSetup *setup, const char *name)
{
	for (guint i = 0; setup->guests != NULL && i < setup->guests->len; i++) {
		NbxPluginInstance *instance = g_ptr_array_index(setup->guests, i);

		if (g_strcmp0(nbx_plugin_instance_name(instance), name) == 0)
			return instance;
	}
	return NULL;
}

static const char *
absent_reason(NbxSetup *setup, const char *name)
{
	NbxPlugin *plugin = nbx_plugin_registry_lookup(setup->registry, name);

	if (plugin == NULL)
		return "no guest plugin of that name is loaded";
	if (plugin->descriptor.kind != NBX_PLUGIN_GUEST)
		return "that plugin is not a guest plugin";
	return "that guest plugin is disabled (guest/NAME.conf: enabled = false)";
}

NbxPluginInstance *
nbx_guest_setup_lookup(NbxSetup *setup, const NbxMachine *machine, GError **error)
{
	const char *name = nbx_config_guest_name(setup->config, NBX_SETTING(machine->machine.config),
						 machine->machine.platform);
	NbxPluginInstance *instance;

	if (name == NULL)
		return NULL;
	instance = find_guest(setup, name);
	if (instance == NULL)
		g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_NOT_FOUND,
			    "machine %s: guest plugin \"%s\": %s", machine->machine.name, name,
			    absent_reason(setup, name));
	return instance;
}

static void
check_default(NbxSetup *setup, const char *platform, NbxDiagnostics *diagnostics)
{
	g_autofree char *key = g_strdup_printf("guest.%s", platform);
	const char *name = nbx_config_core_string(setup->config, key, NULL);
	config_setting_t *setting;
	g_autofree char *location = NULL;

	if (name == NULL || g_strcmp0(name, "none") == 0 || find_guest(setup, name) != NULL)
		return;
	setting = config_lookup(&setup->config->core_file->config, key);
	location = setting != NULL ? nbx_setting_location(setting)
				   : g_strdup(setup->config->core_file->path);
	nbx_diagnostics_add(diagnostics, location, key, "guest plugin \"%s\": %s", name,
			    absent_reason(setup, name));
}

void
nbx_guest_setup_check(NbxSetup *setup, NbxDiagnostics *diagnostics)
{
	check_default(setup, "windows", diagnostics);
	check_default(setup, "linux", diagnostics);
	check_default(setup, "other", diagnostics);
	for (guint i = 0; i < setup->pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(setup->pool->machines, i);
		config_setting_t *group = NBX_SETTING(machine->machine.config);
		config_setting_t *own = group != NULL && config_setting_type(group) == CONFIG_TYPE_GROUP
						? config_setting_get_member(group, "guest")
						: NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *location = NULL;

		/* A machine that takes the default was told about at the default's key. */
		if (own == NULL || nbx_guest_setup_lookup(setup, machine, &error) != NULL ||
		    error == NULL)
			continue;
		location = nbx_setting_location(own);
		nbx_diagnostics_add(diagnostics, location, "guest", "%s", error->message);
	}
}
