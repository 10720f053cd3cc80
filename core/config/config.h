/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration directory: nestbox.conf, machinery/NAME.conf for each
 * enabled machinery, auxiliary.conf, guest/NAME.conf for guest plugins.
 * Loading validates every file against the schemas and reports every
 * problem; nothing here starts anything. This file reads nestbox.conf and
 * holds the rest; the plugin sections are matched to their plugins one
 * layer up (setup/plugin_sections.c), where the plugin registry is known.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>

#include "api_settings.h"
#include "diagnostics.h"
#include "settings.h"
#include "schema.h"

typedef struct {
	char *path;
	config_t config;
} NbxConfigFile;

/*
 * The plugin a section configures (plugin_loader.h): config/ carries it
 * and looks not inside; setup/plugin_sections.c matches sections to plugins.
 */
typedef struct _NbxPlugin NbxPlugin;

/* One plugin's configuration. */
typedef struct {
	NbxPlugin *plugin;
	/* The schema its root was validated with (core keys + the plugin's). */
	NbxSchema *schema;
	/* Its file (the machinery's own, or the shared auxiliary.conf). */
	NbxConfigFile *file;
	/* Its root: the machinery file's root, or the auxiliary's group. */
	config_setting_t *root;
	/* Auxiliaries: the effective start order. */
	gint64 order;
} NbxPluginSection;

typedef struct {
	char *dir;
	NbxConfigFile *core_file;
	/* Settings of nestbox.conf, absolute paths. */
	char **plugin_dirs; /* every directory to scan, in order */
	char **machinery_names;
	char *state_dir;
	char *run_dir;
	char *analyses_dir;
	char *log_level;
	/* The control API's, checked as start-up uses them. */
	NbxApiSettings *api;
	/* `timeouts` and `scheduler`; zero when nestbox.conf is not valid. */
	NbxSettings settings;
	/* NbxConfigFile *: every file read besides nestbox.conf. */
	GPtrArray *files;
	/* NbxPluginSection *: enabled machineries, in nestbox.conf's order. */
	GPtrArray *machineries;
	/* NbxPluginSection *: enabled auxiliaries, by order then name. */
	GPtrArray *auxiliaries;
	/* NbxPluginSection *: every enabled guest plugin loaded (guest_config.c). */
	GPtrArray *guests;
} NbxConfig;

/*
 * Reads and validates nestbox.conf in @dir, and works out the plugin
 * directories: NESTBOX_PLUGIN_PATH (colon-separated), then `plugin_dirs`,
 * then @builtin_plugin_dir unless `builtin_plugin_dir = false`. Returns a
 * config even when there were problems (they are in @diagnostics), NULL
 * only when nestbox.conf could not be parsed at all.
 */
NbxConfig *nbx_config_load_core(const char *dir, const char *builtin_plugin_dir,
				NbxDiagnostics *diagnostics);

/*
 * The guest plugin @machine_setting (the machine's group, or NULL) names,
 * else nestbox.conf's guest.PLATFORM default; NULL for none.
 */
const char *nbx_config_guest_name(const NbxConfig *config, const config_setting_t *machine_setting,
				  const char *platform);

/*
 * What start-up read once (state_dir, run_dir, analyses_dir, the api group,
 * the token) cannot change while nestboxd runs: reports each key of @fresh
 * that differs from @running, naming it. FALSE when one differs.
 */
gboolean nbx_config_check_reload(const NbxConfig *running, const NbxConfig *fresh,
				 NbxDiagnostics *diagnostics);

void nbx_config_free(NbxConfig *config);

/*
 * A setting of nestbox.conf by path ("guest.linux"), as the file says it,
 * or @fallback when it is absent: for keys that are not settings of
 * NbxSettings (a guest plugin per platform), and for tests that look at
 * what a file that failed validation held. The core reads its settings
 * from NbxConfig.settings. The string one treats "" as absent.
 */
gint64 nbx_config_core_integer(const NbxConfig *config, const char *path, gint64 fallback);
const char *nbx_config_core_string(const NbxConfig *config, const char *path,
				   const char *fallback);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxConfig, nbx_config_free)

/*
 * Parses @path into a new file; on a syntax error reports
 * `path:line: syntax error: ...` and returns NULL. A missing file is
 * reported only when @required.
 */
NbxConfigFile *nbx_config_file_read(const char *path, gboolean required,
				    NbxDiagnostics *diagnostics);
void nbx_config_file_free(NbxConfigFile *file);
void nbx_config_section_free(NbxPluginSection *section);
