/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which guest plugin serves which machine: the machine's `guest` key, else
 * nestbox.conf's guest.PLATFORM. Checked at start-up (and --check) for every
 * machine, so a machine never starts with a guest plugin that is not there.
 */
#pragma once

#include <glib.h>

#include "daemon_setup.h"

/* Every machine's guest plugin and every guest.* default name a loaded, enabled guest plugin. */
void nbx_guest_setup_check(NbxSetup *setup, NbxDiagnostics *diagnostics);

/*
 * The guest plugin of @machine, or NULL when it has none (only its
 * agent_port is waited for). Sets @error when it names one that is absent
 * (a setup that passed its check never does).
 */
NbxPluginInstance *nbx_guest_setup_lookup(NbxSetup *setup, const NbxMachine *machine,
					  GError **error);
