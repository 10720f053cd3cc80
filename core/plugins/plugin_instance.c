/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plugin_instance.h"

#include "host_services.h"
#include "plugin_ops.h"

#include <errno.h>
#include <glib/gstdio.h>

NbxPluginInstance *
nbx_plugin_instance_new(NbxPluginSection *section, const NbxConfig *config)
{
	NbxPluginInstance *instance = g_new0(NbxPluginInstance, 1);
	const char *name = section->plugin->descriptor.name;

	instance->plugin = section->plugin;
	instance->section = section;
	instance->config = config;
	instance->state_dir = g_build_filename(config->state_dir, "plugins", name, NULL);
	instance->run_dir = g_build_filename(config->run_dir, "plugins", name, NULL);
	g_mutex_init(&instance->lock);
	instance->children = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	instance->sources = g_hash_table_new(NULL, NULL);
	nbx_host_services_fill(&instance->host, instance);
	return instance;
}

static gboolean
make_private_dir(const char *path, GError **error)
{
	if (g_mkdir_with_parents(path, 0750) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create directory %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* The three ops every kind has, in the same place of its own table. */
typedef struct {
	bool (*init)(const struct nbx_host *, void **, struct nbx_error *);
	void (*shutdown)(void *);
	bool (*check)(void *, struct nbx_check *, struct nbx_error *);
} CommonOps;

static CommonOps
common_ops(const NbxPluginInstance *instance)
{
	const NbxPlugin *plugin = instance->plugin;

	switch (plugin->descriptor.kind) {
	case NBX_PLUGIN_MACHINERY:
		return (CommonOps){ plugin->ops->machinery.init, plugin->ops->machinery.shutdown,
				    plugin->ops->machinery.check };
	case NBX_PLUGIN_AUXILIARY:
		return (CommonOps){ plugin->ops->auxiliary.init, plugin->ops->auxiliary.shutdown,
				    plugin->ops->auxiliary.check };
	default:
		return (CommonOps){ plugin->ops->guest.init, plugin->ops->guest.shutdown,
				    plugin->ops->guest.check };
	}
}

gboolean
nbx_plugin_instance_init(NbxPluginInstance *instance, GError **error)
{
	bool (*init)(const struct nbx_host *, void **, struct nbx_error *) =
		common_ops(instance).init;
	struct nbx_error err = { 0 };

	g_return_val_if_fail(!instance->initialized, FALSE);
	if (!make_private_dir(instance->state_dir, error) ||
	    !make_private_dir(instance->run_dir, error))
		return FALSE;
	if (init != NULL && !init(&instance->host, &instance->instance, &err)) {
		nbx_plugin_error_propagate(error, instance, NULL, "init", &err);
		return FALSE;
	}
	instance->initialized = TRUE;
	return TRUE;
}

typedef struct {
	NbxPluginInstance *instance;
	void (*free_machine)(void *, struct nbx_machine *);
} FreeMachines;

static void
free_one_machine(struct nbx_machine *machine, gpointer data)
{
	FreeMachines *free_machines = data;

	free_machines->free_machine(free_machines->instance->instance, machine);
}

/* ABI 1.2: the plugin frees each machine's plugin_data before `shutdown`. */
static void
free_machines(NbxPluginInstance *instance)
{
	FreeMachines free_machines = { instance, instance->plugin->ops->machinery.free_machine };

	if (instance->plugin->descriptor.kind != NBX_PLUGIN_MACHINERY ||
	    free_machines.free_machine == NULL || instance->machine_sink == NULL)
		return;
	instance->machine_sink->foreach(instance->machine_owner, instance, free_one_machine,
					&free_machines);
}

void
nbx_plugin_instance_set_machine_sink(NbxPluginInstance *instance, const NbxMachineSink *sink,
				     gpointer owner)
{
	instance->machine_sink = sink;
	instance->machine_owner = owner;
}

void
nbx_plugin_instance_shutdown(NbxPluginInstance *instance)
{
	void (*shutdown)(void *) = common_ops(instance).shutdown;

	if (!instance->initialized)
		return;
	instance->initialized = FALSE;
	free_machines(instance);
	if (shutdown != NULL)
		shutdown(instance->instance);
	instance->instance = NULL;
}

void
nbx_plugin_instance_free(NbxPluginInstance *instance)
{
	if (instance == NULL)
		return;
	nbx_plugin_instance_shutdown(instance);
	nbx_host_services_release(instance);
	g_hash_table_unref(instance->children);
	g_hash_table_unref(instance->sources);
	g_mutex_clear(&instance->lock);
	g_free(instance->state_dir);
	g_free(instance->run_dir);
	g_free(instance);
}

void
nbx_plugin_instance_check(NbxPluginInstance *instance, NbxDiagnostics *diagnostics)
{
	bool (*check)(void *, struct nbx_check *, struct nbx_error *) = common_ops(instance).check;
	struct nbx_check context = { .instance = instance, .diagnostics = diagnostics };
	struct nbx_error err = { 0 };

	if (check == NULL || !instance->initialized)
		return;
	instance->diagnostics = diagnostics;
	if (!check(instance->instance, &context, &err)) {
		g_autoptr(GError) error = NULL;

		nbx_plugin_error_propagate(&error, instance, NULL, "check", &err);
		nbx_diagnostics_add(diagnostics, instance->section->file->path, NULL, "%s",
				    error->message);
	}
	instance->diagnostics = NULL;
}
