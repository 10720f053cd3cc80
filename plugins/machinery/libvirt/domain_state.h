/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a libvirt domain state (virDomainState + its reason) means to
 * nestbox. Pure: no connection behind it, so every state and reason is
 * tested without a hypervisor.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * The `enum nbx_machine_state` of libvirt's @state with @reason (the
 * numbers virDomainGetState returns). BLOCKED counts as running; a domain
 * that crashed, paused on an error, or is in a state this plugin does not
 * know is NBX_MACHINE_ERROR. *@description (g_free it) says it for
 * humans: "paused (from snapshot)", "crashed (guest panicked)".
 */
int32_t lv_domain_state_map(int state, int reason, char **description);

/*
 * True when a PAUSED domain may be resumed by handle_paused: only the
 * pauses that mean "came back from a snapshot or a dump", never a user's,
 * a watchdog's or an error's.
 */
bool lv_domain_pause_resumable(int state, int reason);
