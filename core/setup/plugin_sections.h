/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration's plugin sections matched to the plugins of a
 * registry (plugin_sections.c).
 */
#pragma once

#include "config.h"
#include "plugin_loader.h"

/*
 * Reads and validates the files of every enabled machinery, auxiliary.conf
 * and guest/NAME.conf against the schemas of the plugins in @registry, into
 * @config's machineries, auxiliaries and guests. A section that names no
 * plugin of its kind, or a file in guest/ that no guest plugin reads, is
 * reported to @diagnostics.
 */
void nbx_plugin_sections_load(NbxConfig *config, NbxPluginRegistry *registry,
			      NbxDiagnostics *diagnostics);
