/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon_setup.h"

#include "guest_setup.h"
#include "machinery_client.h"
#include "machine_segments.h"
#include "plugin_sections.h"

NbxPluginRegistry *
nbx_setup_scan_plugins(char **dirs)
{
	NbxPluginRegistry *registry = nbx_plugin_registry_new();

	for (char **dir = dirs; dir != NULL && *dir != NULL; dir++)
		nbx_plugin_registry_scan_dir(registry, *dir);
	return registry;
}

static void
add_refusals(const NbxPluginRegistry *registry, NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < registry->refusals->len; i++)
		nbx_diagnostics_add(diagnostics, NULL, NULL, "%s",
				    (const char *)g_ptr_array_index(registry->refusals, i));
}

static void
load_machines(NbxSetup *setup, NbxPluginInstance *instance, NbxDiagnostics *diagnostics)
{
	struct nbx_machine_loader loader = { .instance = instance, .diagnostics = diagnostics };
	g_autoptr(GError) error = NULL;

	if (!nbx_machinery_declares_machines(instance)) {
		nbx_machine_pool_add_configured(
			setup->pool, instance,
			config_setting_get_member(instance->section->root, "machines"), diagnostics);
		return;
	}
	if (!nbx_machinery_load_machines(instance, &loader, &error))
		nbx_diagnostics_add(diagnostics, instance->section->file->path, NULL, "%s",
				    error->message);
}

static void
check_machines(NbxSetup *setup, NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < setup->pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(setup->pool->machines, i);
		NbxPluginInstance *instance = machine->machinery;
		struct nbx_check check = { .instance = instance, .diagnostics = diagnostics };
		g_autoptr(GError) error = NULL;

		if (!instance->initialized)
			continue;
		if (!nbx_machinery_check_machine(instance, &machine->machine, &check, &error))
			nbx_diagnostics_add(diagnostics, machine->location, NULL, "%s",
					    error->message);
	}
}

/* init every plugin, stopping at none: every failure is worth reporting. */
static void
init_instances(GPtrArray *instances, NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < instances->len; i++) {
		NbxPluginInstance *instance = g_ptr_array_index(instances, i);
		g_autoptr(GError) error = NULL;

		if (!nbx_plugin_instance_init(instance, &error)) {
			nbx_diagnostics_add(diagnostics, instance->section->file->path, NULL, "%s",
					    error->message);
			continue;
		}
		nbx_plugin_instance_check(instance, diagnostics);
	}
}

static GPtrArray *
make_instances(NbxSetup *setup, GPtrArray *sections)
{
	GPtrArray *instances = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_plugin_instance_free);

	for (guint i = 0; i < sections->len; i++) {
		NbxPluginInstance *instance =
			nbx_plugin_instance_new(g_ptr_array_index(sections, i), setup->config);

		nbx_plugin_instance_set_machine_sink(instance, nbx_machine_pool_sink(), setup->pool);
		g_ptr_array_add(instances, instance);
	}
	return instances;
}

/* An enabled machinery with no machine runs nothing: worth a word, not a refusal. */
static void
warn_machineries_without_machines(NbxSetup *setup, NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < setup->machineries->len; i++) {
		NbxPluginInstance *instance = g_ptr_array_index(setup->machineries, i);
		config_setting_t *machines =
			config_setting_get_member(instance->section->root, "machines");
		g_autofree char *location =
			nbx_setting_location(machines != NULL ? machines : instance->section->root);
		guint count = 0;

		for (guint m = 0; m < setup->pool->machines->len; m++)
			count += ((NbxMachine *)g_ptr_array_index(setup->pool->machines, m))
					 ->machinery == instance;
		if (count == 0)
			nbx_diagnostics_warn(diagnostics, location, "machines",
					     "machinery %s is enabled but has no enabled machine: it "
					     "will run no analysis",
					     nbx_plugin_instance_name(instance));
	}
}

NbxSetup *
nbx_setup_read(const char *config_dir, const char *builtin_plugin_dir,
	       NbxDiagnostics *diagnostics)
{
	NbxConfig *config = nbx_config_load_core(config_dir, builtin_plugin_dir, diagnostics);
	NbxSetup *setup;

	if (config == NULL)
		return NULL;
	setup = g_new0(NbxSetup, 1);
	setup->config = config;
	setup->registry = nbx_setup_scan_plugins(config->plugin_dirs);
	add_refusals(setup->registry, diagnostics);
	nbx_plugin_sections_load(config, setup->registry, diagnostics);
	return setup;
}

void
nbx_setup_start(NbxSetup *setup, NbxDiagnostics *diagnostics)
{
	g_return_if_fail(setup->pool == NULL);
	setup->pool = nbx_machine_pool_new();
	setup->machineries = make_instances(setup, setup->config->machineries);
	setup->auxiliaries = make_instances(setup, setup->config->auxiliaries);
	setup->guests = make_instances(setup, setup->config->guests);

	/* Plugins see only configurations that passed their schema. */
	if (nbx_diagnostics_count(diagnostics) > 0)
		return;
	for (guint i = 0; i < setup->machineries->len; i++) {
		NbxPluginInstance *instance = g_ptr_array_index(setup->machineries, i);

		if (!nbx_machinery_declares_machines(instance))
			load_machines(setup, instance, diagnostics);
	}
	init_instances(setup->machineries, diagnostics);
	init_instances(setup->auxiliaries, diagnostics);
	init_instances(setup->guests, diagnostics);
	for (guint i = 0; i < setup->machineries->len; i++) {
		NbxPluginInstance *instance = g_ptr_array_index(setup->machineries, i);

		if (nbx_machinery_declares_machines(instance) && instance->initialized)
			load_machines(setup, instance, diagnostics);
	}
	nbx_machine_pool_check_unique(setup->pool, diagnostics);
	nbx_machine_pool_check_bases(setup->pool, diagnostics);
	nbx_machine_segments_check(setup->pool,
				   nbx_config_core_string(setup->config, "network.uplink_prefix", NULL),
				   diagnostics);
	check_machines(setup, diagnostics);
	nbx_guest_setup_check(setup, diagnostics);
	if (nbx_diagnostics_count(diagnostics) == 0)
		warn_machineries_without_machines(setup, diagnostics);
}

NbxSetup *
nbx_setup_load(const char *config_dir, const char *builtin_plugin_dir,
	       NbxDiagnostics *diagnostics)
{
	NbxSetup *setup = nbx_setup_read(config_dir, builtin_plugin_dir, diagnostics);

	if (setup != NULL)
		nbx_setup_start(setup, diagnostics);
	return setup;
}

void
nbx_setup_free(NbxSetup *setup)
{
	if (setup == NULL)
		return;
	/* Guests and auxiliaries first: they were started last. */
	if (setup->guests != NULL)
		g_ptr_array_unref(setup->guests);
	if (setup->auxiliaries != NULL)
		g_ptr_array_unref(setup->auxiliaries);
	if (setup->machineries != NULL)
		g_ptr_array_unref(setup->machineries);
	nbx_machine_pool_free(setup->pool);
	nbx_plugin_registry_free(setup->registry);
	nbx_config_free(setup->config);
	g_free(setup);
}
