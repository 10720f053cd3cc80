/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A loaded plugin brought to life with its configuration: made with its
 * own host-services table (host_services.c) and directories, its `init`,
 * `check` and `shutdown`, freed with what it left running. What the
 * services and clients hold of it (its state, its name, its errors) is in
 * plugin_instance_state.h, below them all.
 */
#pragma once

#include "plugin_instance_state.h"

NbxPluginInstance *nbx_plugin_instance_new(NbxPluginSection *section, const NbxConfig *config);

/* Creates its directories and calls the plugin's `init`. */
gboolean nbx_plugin_instance_init(NbxPluginInstance *instance, GError **error);

/* Makes @sink (with @owner) the receiver of what the plugin says about machines. */
void nbx_plugin_instance_set_machine_sink(NbxPluginInstance *instance, const NbxMachineSink *sink,
					  gpointer owner);

/* Calls `shutdown` once, if `init` succeeded. */
void nbx_plugin_instance_shutdown(NbxPluginInstance *instance);

/* Shuts down and frees. */
void nbx_plugin_instance_free(NbxPluginInstance *instance);

/* Runs the plugin's `check` op, if any; problems go to @diagnostics. */
void nbx_plugin_instance_check(NbxPluginInstance *instance, NbxDiagnostics *diagnostics);
