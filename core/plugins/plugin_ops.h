/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plugins' ops tables, for the files of core/plugins/ only: the
 * clients (machinery_client.c, auxiliary_client.c, guest_client.c) and
 * plugin_instance.c are the only callers of a plugin's code. Nothing
 * of the core outside this folder includes this header (white-box tests
 * that call a slot raw on purpose do).
 */
#pragma once

#include <nestbox/plugin.h>

#include "plugin_loader.h"

/* Fields a plugin's minor ABI predates are 0: an absent op is NULL. */
struct _NbxPluginOps {
	struct nbx_machinery_ops machinery;
	struct nbx_auxiliary_ops auxiliary;
	struct nbx_guest_ops guest;
};

const struct nbx_machinery_ops *nbx_plugin_machinery_ops(const NbxPlugin *plugin);
const struct nbx_auxiliary_ops *nbx_plugin_auxiliary_ops(const NbxPlugin *plugin);
const struct nbx_guest_ops *nbx_plugin_guest_ops(const NbxPlugin *plugin);
