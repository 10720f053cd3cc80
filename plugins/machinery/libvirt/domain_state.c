/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain_state.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <nestbox/machinery.h>

/* Reason names, indexed by libvirt's reason numbers; NULL where libvirt has none. */
static const char *const running_reasons[] = {
	"unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
	"migration cancelled", "save cancelled", "woken up", "resumed after a crash",
	"post-copy migration", "failed post-copy migration",
};
static const char *const paused_reasons[] = {
	"unknown", "by a user", "for migration", "for a save", "for a dump",
	"disk I/O error", "watchdog", "from snapshot", "shutting down",
	"while taking a snapshot", "guest crashed", "starting up", "post-copy migration",
	"failed post-copy migration", "API error",
};
static const char *const shutoff_reasons[] = {
	"unknown", "shut down", "destroyed", "crashed", "migrated", "saved",
	"failed to start", "from snapshot", "killed by the daemon",
};
static const char *const crashed_reasons[] = { "unknown", "guest panicked" };

static char *
describe(const char *state, const char *const *names, size_t n_names, int reason)
{
	if (reason >= 0 && (size_t)reason < n_names && names[reason] != NULL)
		return g_strdup_printf("%s (%s)", state, names[reason]);
	return g_strdup_printf("%s (reason %d)", state, reason);
}

static int32_t
map_paused(int reason, char **description)
{
	*description = describe("paused", paused_reasons, G_N_ELEMENTS(paused_reasons), reason);
	switch (reason) {
	/* Pauses that no resume can undo: the guest is not usable as it is. */
	case VIR_DOMAIN_PAUSED_IOERROR:
	case VIR_DOMAIN_PAUSED_CRASHED:
	case VIR_DOMAIN_PAUSED_POSTCOPY_FAILED:
	case 14: /* VIR_DOMAIN_PAUSED_API_ERROR, newer libvirt than 9.0 */
		return NBX_MACHINE_ERROR;
	default:
		return NBX_MACHINE_PAUSED;
	}
}

int32_t
lv_domain_state_map(int state, int reason, char **description)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		*description = describe("running", running_reasons, G_N_ELEMENTS(running_reasons),
					 reason);
		return NBX_MACHINE_RUNNING;
	case VIR_DOMAIN_BLOCKED:
		/* Waiting on a resource (Xen): its CPUs are scheduled, it runs. */
		*description = g_strdup("blocked on a resource (counts as running)");
		return NBX_MACHINE_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return map_paused(reason, description);
	case VIR_DOMAIN_SHUTDOWN:
		/* Shutting down: still on until libvirt says shut off. */
		*description = g_strdup("shutting down");
		return NBX_MACHINE_RUNNING;
	case VIR_DOMAIN_SHUTOFF:
		*description = describe("shut off", shutoff_reasons, G_N_ELEMENTS(shutoff_reasons),
					reason);
		return NBX_MACHINE_POWEROFF;
	case VIR_DOMAIN_CRASHED:
		*description = describe("crashed", crashed_reasons, G_N_ELEMENTS(crashed_reasons),
					reason);
		return NBX_MACHINE_ERROR;
	case VIR_DOMAIN_PMSUSPENDED:
		*description = g_strdup_printf("suspended by the guest's power management (reason %d); "
					       "nestbox cannot use it",
					       reason);
		return NBX_MACHINE_ERROR;
	case VIR_DOMAIN_NOSTATE:
		*description = g_strdup_printf("libvirt reports no state (reason %d)", reason);
		return NBX_MACHINE_ERROR;
	default:
		*description = g_strdup_printf("libvirt reports state %d (reason %d), which this "
					       "plugin does not know",
					       state, reason);
		return NBX_MACHINE_ERROR;
	}
}

bool
lv_domain_pause_resumable(int state, int reason)
{
	return state == VIR_DOMAIN_PAUSED &&
	       (reason == VIR_DOMAIN_PAUSED_FROM_SNAPSHOT || reason == VIR_DOMAIN_PAUSED_SNAPSHOT ||
		reason == VIR_DOMAIN_PAUSED_DUMP);
}
