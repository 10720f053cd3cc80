/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest plugins' configuration: conf/guest/NAME.conf for each, optional
 * (a plugin without a file runs on its defaults), validated with the other
 * files, before any plugin's init and any machine.
 */
#include "config.h"

#include <string.h>

#include "core_schema.h"
#include "schema_validate.h"

/* A file of no settings, for a guest plugin that has none: its defaults apply. */
static NbxConfigFile *
empty_file(const char *path)
{
	NbxConfigFile *file = g_new0(NbxConfigFile, 1);

	file->path = g_strdup(path);
	config_init(&file->config);
	return file;
}

static void
load_guest(NbxConfig *config, NbxPlugin *plugin, NbxDiagnostics *diagnostics)
{
	g_autofree char *file_name = g_strconcat(plugin->descriptor.name, ".conf", NULL);
	g_autofree char *path = g_build_filename(config->dir, "guest", file_name, NULL);
	g_autoptr(NbxSchema) core = nbx_schema_new_static(nbx_core_guest_fields);
	NbxValidation validation = {
		.diagnostics = diagnostics, .base_dir = config->dir, .check_environment = TRUE
	};
	gboolean exists = g_file_test(path, G_FILE_TEST_EXISTS);
	NbxConfigFile *file = exists ? nbx_config_file_read(path, TRUE, diagnostics)
				     : empty_file(path);
	NbxPluginSection *section;
	int enabled = 1;

	if (file == NULL)
		return;
	g_ptr_array_add(config->files, file);
	section = g_new0(NbxPluginSection, 1);
	section->plugin = plugin;
	section->schema = nbx_schema_concat(core, plugin->config_schema);
	section->file = file;
	section->root = config_root_setting(&file->config);
	nbx_schema_validate_group(section->schema, section->root, NULL, &validation);
	config_setting_lookup_bool(section->root, "enabled", &enabled);
	if (!enabled) {
		nbx_config_section_free(section);
		return;
	}
	g_ptr_array_add(config->guests, section);
}

/* A file in guest/ that no guest plugin reads is a mistake worth naming. */
static void
refuse_stray_files(NbxConfig *config, NbxPluginRegistry *registry, NbxDiagnostics *diagnostics)
{
	g_autofree char *dir_path = g_build_filename(config->dir, "guest", NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	const char *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		g_autofree char *name = NULL;
		g_autofree char *path = NULL;
		NbxPlugin *plugin;

		if (!g_str_has_suffix(entry, ".conf"))
			continue;
		name = g_strndup(entry, strlen(entry) - strlen(".conf"));
		plugin = nbx_plugin_registry_lookup(registry, name);
		if (plugin != NULL && plugin->descriptor.kind == NBX_PLUGIN_GUEST)
			continue;
		path = g_build_filename(dir_path, entry, NULL);
		nbx_diagnostics_add(diagnostics, path, NULL,
				    plugin == NULL ? "no guest plugin named \"%s\" is loaded"
						   : "plugin \"%s\" is not a guest plugin",
				    name);
	}
}

void
nbx_config_load_guests(NbxConfig *config, NbxPluginRegistry *registry,
		       NbxDiagnostics *diagnostics)
{
	if (config->guests == NULL)
		config->guests =
			g_ptr_array_new_with_free_func((GDestroyNotify)nbx_config_section_free);
	for (guint i = 0; i < registry->plugins->len; i++) {
		NbxPlugin *plugin = g_ptr_array_index(registry->plugins, i);

		if (plugin->descriptor.kind == NBX_PLUGIN_GUEST)
			load_guest(config, plugin, diagnostics);
	}
	refuse_stray_files(config, registry, diagnostics);
}

const char *
nbx_config_guest_name(const NbxConfig *config, const config_setting_t *machine_setting,
		      const char *platform)
{
	const char *name = NULL;
	g_autofree char *key = NULL;

	if (machine_setting != NULL &&
	    config_setting_lookup_string(machine_setting, "guest", &name) == CONFIG_TRUE)
		return *name != '\0' && strcmp(name, "none") != 0 ? name : NULL;
	key = g_strdup_printf("guest.%s", g_strcmp0(platform, "windows") == 0 ? "windows"
					  : g_strcmp0(platform, "linux") == 0   ? "linux"
										: "other");
	name = nbx_config_core_string(config, key, NULL);
	return name != NULL && strcmp(name, "none") != 0 ? name : NULL;
}
