/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The auxiliary client: the only code of the core that calls an auxiliary
 * plugin's ops, one function per op, with the machinery client's rules
 * (machinery_client.h): the slot checked, the error cleared, one GError in
 * NBX_PLUGIN_ERROR prefixed "PLUGIN: OP: ".
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"

gboolean nbx_auxiliary_start(NbxPluginInstance *auxiliary, const struct nbx_aux_context *context,
			     void **analysis_data, const NbxOpContext *call, GError **error);

gboolean nbx_auxiliary_stop(NbxPluginInstance *auxiliary, const struct nbx_aux_context *context,
			    void *analysis_data, const NbxOpContext *call, GError **error);

/* Whether it takes per-task options it checks itself (`check_task`). */
gboolean nbx_auxiliary_has_check_task(const NbxPluginInstance *auxiliary);

/* `check_task`: problems go to @check; FALSE with @error when checking failed. */
gboolean nbx_auxiliary_check_task(NbxPluginInstance *auxiliary,
				  const struct nbx_config_node *options, struct nbx_check *check,
				  GError **error);
