/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plugin instance as the core's services and clients see it: its state
 * (the plugin, its configuration, its host-services table, what it has
 * running), its name, and its errors as GErrors. Below the instance's life
 * (plugin_instance.c) and the host services (host_services.c,
 * host_children.c), which both hold it: the life fills and releases the
 * services, the services never call the life.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "config.h"
#include "diagnostics.h"
#include "plugin_loader.h"

#define NBX_PLUGIN_ERROR (nbx_plugin_error_quark())
GQuark nbx_plugin_error_quark(void);

typedef struct _NbxPluginInstance NbxPluginInstance;

/*
 * Where what a machinery says about its machines goes. The owner of the
 * machines (core/machines) sets it, so that plugins/ calls nothing above it:
 * the host services report through it, the instance walks it for
 * `free_machine`.
 */
typedef struct {
	/*
	 * A machine declared in `load_machines`: checked and added. FALSE, with
	 * the problem in @problems, when it is refused.
	 */
	gboolean (*declare)(gpointer owner, NbxPluginInstance *machinery,
			    const struct nbx_machine *machine, const char *location,
			    NbxDiagnostics *problems);
	/* The host service machine_state_changed, from any thread. */
	void (*state_changed)(gpointer owner, struct nbx_machine *machine, gint32 state,
			      const char *reason);
	/* Calls @each for every machine of @machinery. */
	void (*foreach)(gpointer owner, NbxPluginInstance *machinery,
			void (*each)(struct nbx_machine *machine, gpointer data), gpointer data);
} NbxMachineSink;

struct _NbxPluginInstance {
	NbxPlugin *plugin;
	NbxPluginSection *section;
	const NbxConfig *config;
	struct nbx_host host;
	void *instance;
	gboolean initialized;
	char *state_dir;
	char *run_dir;
	/*
	 * What the plugin has running in the core, so nothing outlives it:
	 * pid -> NbxChild it spawned (and may signal), and the GSources of its
	 * fd watches and timeouts. Guarded by `lock`.
	 */
	GMutex lock;
	GHashTable *children;
	GHashTable *sources;
	/* The machines' owner; NULL sink: nobody listens (a plugin being checked). */
	const NbxMachineSink *machine_sink;
	gpointer machine_owner;
	NbxDiagnostics *diagnostics;
};

/*
 * The circumstances of one call into a plugin, as the core knows them (the
 * clients turn it into `struct nbx_call`); zero fields are "none".
 */
typedef struct {
	/* g_get_monotonic_time() by which the op must return; 0: no deadline. */
	gint64 deadline_us;
	guint32 flags;
	const char *analysis_dir;
	gint64 task_id;
	/* The generation to restore or prepare; NULL: generation 0. */
	const char *generation_dir;
} NbxOpContext;

/* What `struct nbx_check` and `struct nbx_machine_loader` are to the core. */
struct nbx_check {
	NbxPluginInstance *instance;
	NbxDiagnostics *diagnostics;
};

struct nbx_machine_loader {
	NbxPluginInstance *instance;
	NbxDiagnostics *diagnostics;
};

const char *nbx_plugin_instance_name(const NbxPluginInstance *instance);

/* Turns a plugin's error into a GError prefixed "PLUGIN: [machine M: ]OP: ". */
void nbx_plugin_error_propagate(GError **error, const NbxPluginInstance *instance,
				const char *machine, const char *op, const struct nbx_error *err);

/* The node handed to plugins for a libconfig setting, and back. */
#define NBX_NODE(setting) ((const struct nbx_config_node *)(setting))
#define NBX_SETTING(node) ((config_setting_t *)(node))
