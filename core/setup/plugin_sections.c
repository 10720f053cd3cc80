/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plugin sections of a configuration matched to the plugins that
 * declare their schemas: machinery/NAME.conf for each machinery
 * nestbox.conf enables, a group of auxiliary.conf for each auxiliary,
 * guest/NAME.conf (optional) for each guest plugin; each validated against
 * the core's keys for its kind plus the plugin's own, before any plugin's
 * init and any machine. Here, above both, so that config/ reads files and
 * plugins/ loads plugins without either knowing the other's business.
 */
#include "plugin_sections.h"

#include <string.h>

#include "core_schema.h"
#include "schema_validate.h"

/* ---- machineries -------------------------------------------------------- */

static NbxSchema *
machinery_schema(NbxPlugin *plugin)
{
	g_autoptr(NbxSchema) core_machine = nbx_schema_new_static(nbx_core_machine_fields);
	g_autoptr(NbxSchema) machine = nbx_schema_concat(core_machine, plugin->machine_schema);

	return nbx_schema_with_group_list(plugin->config_schema, "machines",
					  "The machines of this machinery, one group each", machine,
					  0);
}

static void
load_machinery(NbxConfig *config, NbxPluginRegistry *registry, const char *name,
	       NbxDiagnostics *diagnostics)
{
	g_autofree char *path = NULL;
	g_autofree char *file_name = g_strconcat(name, ".conf", NULL);
	NbxPlugin *plugin = nbx_plugin_registry_lookup(registry, name);
	NbxValidation validation = {
		.diagnostics = diagnostics, .base_dir = config->dir, .check_environment = TRUE
	};
	NbxPluginSection *section;
	NbxConfigFile *file;

	if (plugin == NULL || plugin->descriptor.kind != NBX_PLUGIN_MACHINERY) {
		g_autofree char *location = nbx_setting_location(
			config_setting_get_member(config_root_setting(&config->core_file->config),
						  "machineries"));

		nbx_diagnostics_add(diagnostics, location, "machineries",
				    plugin == NULL ? "no machinery plugin named \"%s\" is loaded"
						   : "plugin \"%s\" is not a machinery",
				    name);
		return;
	}
	path = g_build_filename(config->dir, "machinery", file_name, NULL);
	file = nbx_config_file_read(path, TRUE, diagnostics);
	if (file == NULL)
		return;
	g_ptr_array_add(config->files, file);

	section = g_new0(NbxPluginSection, 1);
	section->plugin = plugin;
	section->schema = machinery_schema(plugin);
	section->file = file;
	section->root = config_root_setting(&file->config);
	nbx_schema_validate_group(section->schema, section->root, NULL, &validation);
	g_ptr_array_add(config->machineries, section);
}

/* ---- auxiliaries -------------------------------------------------------- */

static gint
compare_auxiliaries(gconstpointer a, gconstpointer b)
{
	const NbxPluginSection *x = *(NbxPluginSection *const *)a;
	const NbxPluginSection *y = *(NbxPluginSection *const *)b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return g_strcmp0(x->plugin->descriptor.name, y->plugin->descriptor.name);
}

static void
load_auxiliary_group(NbxConfig *config, NbxPluginRegistry *registry, NbxConfigFile *file,
		     config_setting_t *group, NbxDiagnostics *diagnostics)
{
	const char *name = config_setting_name(group);
	NbxPlugin *plugin = nbx_plugin_registry_lookup(registry, name);
	g_autoptr(NbxSchema) core = nbx_schema_new_static(nbx_core_auxiliary_fields);
	g_autofree char *order = NULL;
	g_autofree char *location = nbx_setting_location(group);
	NbxValidation validation = {
		.diagnostics = diagnostics, .base_dir = config->dir, .check_environment = TRUE
	};
	NbxPluginSection *section;
	int enabled = 1;

	if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
		nbx_diagnostics_add(diagnostics, location, name,
				    "expected a group { ... } for auxiliary module \"%s\"", name);
		return;
	}
	config_setting_lookup_bool(group, "enabled", &enabled);
	if (plugin == NULL || plugin->descriptor.kind != NBX_PLUGIN_AUXILIARY) {
		/* A disabled group is not validated, and may name an absent plugin. */
		if (enabled)
			nbx_diagnostics_add(diagnostics, location, name,
					    plugin == NULL
						    ? "no auxiliary plugin named \"%s\" is loaded"
						    : "plugin \"%s\" is not an auxiliary",
					    name);
		return;
	}

	section = g_new0(NbxPluginSection, 1);
	section->plugin = plugin;
	section->schema = nbx_schema_concat(core, plugin->config_schema);
	order = g_strdup_printf("%d", plugin->descriptor.order > 0 ? plugin->descriptor.order : 1);
	nbx_schema_set_default(section->schema, "order", order);
	section->file = file;
	section->root = group;
	nbx_schema_validate_group(section->schema, group, name, &validation);
	if (!enabled) {
		nbx_config_section_free(section);
		return;
	}
	long long order_value = 1;

	config_setting_lookup_int64(group, "order", &order_value);
	section->order = order_value;
	g_ptr_array_add(config->auxiliaries, section);
}

static void
load_auxiliaries(NbxConfig *config, NbxPluginRegistry *registry, NbxDiagnostics *diagnostics)
{
	g_autofree char *path = g_build_filename(config->dir, "auxiliary.conf", NULL);
	NbxConfigFile *file = nbx_config_file_read(path, FALSE, diagnostics);
	config_setting_t *root;

	/* No auxiliary.conf: no module runs, which is a valid choice. */
	if (file == NULL)
		return;
	g_ptr_array_add(config->files, file);
	root = config_root_setting(&file->config);
	for (int i = 0; i < config_setting_length(root); i++)
		load_auxiliary_group(config, registry, file, config_setting_get_elem(root, i),
				     diagnostics);
	g_ptr_array_sort(config->auxiliaries, compare_auxiliaries);
}

/* ---- guest plugins ----------------------------------------------------- */

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

/*
 * A section for every guest plugin of @registry, from guest/NAME.conf when
 * it exists (else its defaults); a file there that names no guest plugin is
 * refused.
 */
static void
load_guests(NbxConfig *config, NbxPluginRegistry *registry,
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

void
nbx_plugin_sections_load(NbxConfig *config, NbxPluginRegistry *registry,
			 NbxDiagnostics *diagnostics)
{
	for (char **name = config->machinery_names; *name != NULL; name++) {
		gboolean twice = FALSE;

		for (char **before = config->machinery_names; before < name; before++)
			twice |= g_strcmp0(*before, *name) == 0;
		if (twice) {
			nbx_diagnostics_add(diagnostics, config->core_file->path, "machineries",
					    "machinery \"%s\" is listed twice", *name);
			continue;
		}
		load_machinery(config, registry, *name, diagnostics);
	}
	load_auxiliaries(config, registry, diagnostics);
	load_guests(config, registry, diagnostics);
}

