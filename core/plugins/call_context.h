/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the clients of every plugin kind share (core/plugins/ only): the
 * ABI's `struct nbx_call` made from the core's NbxOpContext, and the end of
 * every call, where a failure becomes one prefixed GError.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"

void nbx_call_from_context(struct nbx_call *call, const NbxOpContext *context);

/* TRUE when @ok; else @error = "PLUGIN: [machine M: ]OP: the plugin's message". */
gboolean nbx_call_end(const NbxPluginInstance *instance, const char *machine, const char *op,
		      bool ok, struct nbx_error *err, GError **error);
