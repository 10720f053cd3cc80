/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finds and opens plugins, and checks each descriptor against the ABI
 * before any of the plugin's code runs. A refused plugin is recorded with
 * one line naming the file and the reason; the others still load.
 */
#pragma once

#include <glib.h>
#include <gmodule.h>
#include <nestbox/plugin.h>

#include "schema.h"

typedef struct _NbxPlugin {
	char *path;
	/* Copies in the core's own layout: fields the plugin predates are 0. */
	struct nbx_plugin_descriptor descriptor;
	/*
	 * The ops tables, copied in the core's layout. Opaque here: only the
	 * clients of core/plugins/ call a plugin (plugin_ops.h).
	 */
	struct _NbxPluginOps *ops;
	/* Imported schemas; empty (never NULL) when the plugin has none. */
	NbxSchema *config_schema;
	NbxSchema *machine_schema;
	/* ABI 1.2: per-task options; empty (never NULL) when the plugin takes none. */
	NbxSchema *task_schema;
} NbxPlugin;

typedef struct {
	/* NbxPlugin *, in the order they were loaded. */
	GPtrArray *plugins;
	/* char *, "PATH: refused: REASON", in the order they were found. */
	GPtrArray *refusals;
} NbxPluginRegistry;

NbxPluginRegistry *nbx_plugin_registry_new(void);
void nbx_plugin_registry_free(NbxPluginRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxPluginRegistry, nbx_plugin_registry_free)

/*
 * Loads every `*.so` in @dir (sorted by name, so the outcome of a duplicate
 * name never depends on readdir order). A directory that is missing is a
 * refusal; one writable by others refuses all it holds.
 */
void nbx_plugin_registry_scan_dir(NbxPluginRegistry *registry, const char *dir);

/* Loads one file; FALSE when it was refused (the refusal is recorded). */
gboolean nbx_plugin_registry_load_file(NbxPluginRegistry *registry, const char *path);

NbxPlugin *nbx_plugin_registry_lookup(const NbxPluginRegistry *registry, const char *name);

const char *nbx_plugin_kind_name(guint32 kind);

/* The rule for descriptor->name, shared with nestbox-scaffold. */
#define NBX_PLUGIN_NAME_MAX 63
/* `[a-z][a-z0-9_-]*`, 1 to NBX_PLUGIN_NAME_MAX bytes. */
gboolean nbx_plugin_name_is_well_formed(const char *name);
/* Names `--config-template` uses for the core's own files. */
gboolean nbx_plugin_name_is_reserved(const char *name);
