/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Everything a configuration directory brings to life, in the order that
 * keeps the promise "nothing starts before everything is validated":
 * nestbox.conf, the plugins, their files, the machines; then, only when all
 * of that is clean, each plugin's init and checks. No machine is started.
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "diagnostics.h"
#include "machine_pool.h"
#include "plugin_instance.h"
#include "plugin_loader.h"

typedef struct {
	NbxConfig *config;
	NbxPluginRegistry *registry;
	/* NbxPluginInstance *: machineries (config order), then auxiliaries (start order). */
	GPtrArray *machineries;
	GPtrArray *auxiliaries;
	/* NbxPluginInstance *: every enabled guest plugin (guest_setup.c finds a machine's). */
	GPtrArray *guests;
	NbxMachinePool *pool;
} NbxSetup;

/*
 * Loads @config_dir: nbx_setup_read(), then nbx_setup_start(). Problems
 * (config errors, refused plugins, failed plugin checks) go to
 * @diagnostics; the setup is usable only when none were added. Returns NULL
 * only when nestbox.conf could not be read. @builtin_plugin_dir: the
 * directory compiled in (NULL for none).
 */
NbxSetup *nbx_setup_load(const char *config_dir, const char *builtin_plugin_dir,
			 NbxDiagnostics *diagnostics);

/*
 * The first half, all the file I/O: reads and validates every file, scans
 * and opens the plugins, validates their sections. Runs no plugin code but
 * constructors, so it may run on any thread: a reload runs it on a worker,
 * so that a slow file never stalls the main loop.
 */
NbxSetup *nbx_setup_read(const char *config_dir, const char *builtin_plugin_dir,
			 NbxDiagnostics *diagnostics);

/*
 * The second half, on the main thread (plugins' init, check and
 * load_machines run there): makes the plugin instances and, when
 * @diagnostics holds no problem yet, inits them, loads and checks the
 * machines, and warns about a machinery left with no machine.
 */
void nbx_setup_start(NbxSetup *setup, NbxDiagnostics *diagnostics);

void nbx_setup_free(NbxSetup *setup);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSetup, nbx_setup_free)

/* Scans @dirs into a new registry (used without a config, e.g. --list-plugins). */
NbxPluginRegistry *nbx_setup_scan_plugins(char **dirs);
