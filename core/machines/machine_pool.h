/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every machine of every enabled machinery, and the selection of one for a
 * task (least recently used among the free ones that match). Each
 * machine's state is its own (machine.h); the pool only reads it to
 * select, and reserves the one it picks through the machine's transition.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "diagnostics.h"
#include "machine.h"
#include "plugin_instance.h"

#define NBX_POOL_ERROR (nbx_pool_error_quark())
GQuark nbx_pool_error_quark(void);

typedef enum {
	/* No configured machine could ever serve the request. */
	NBX_POOL_ERROR_NO_MATCH,
	/* Some could, but all of them are in use or disabled right now. */
	NBX_POOL_ERROR_BUSY,
} NbxPoolError;


/* What a task asks for; NULL / empty fields match anything. */
typedef struct {
	const char *name;
	const char *label;
	const char *platform;
	const char *os_version;
	const char *architecture;
	const char *const *tags;
} NbxMachineRequest;

typedef struct _NbxMachinePool NbxMachinePool;

struct _NbxMachinePool {
	/* Guards `releases`, `last_release` and the machine list; selection holds it. */
	GMutex lock;
	/*
	 * Counts releases. A clock would tie when two releases fall in the
	 * same microsecond, and a tie would hand out the busier machine.
	 */
	guint64 releases;
	/* NbxMachine *, in the order they were added. */
	GPtrArray *machines;
	/* NbxMachine * -> guint64 *: its last release; none yet: 0. */
	GHashTable *last_release;
	/* Where the machines persist their transitions, and who hears of them. */
	NbxMachineBoard board;
};

NbxMachinePool *nbx_machine_pool_new(void);
void nbx_machine_pool_free(NbxMachinePool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxMachinePool, nbx_machine_pool_free)

/* Adds the enabled machines of a machinery's `machines` list. */
void nbx_machine_pool_add_configured(NbxMachinePool *pool, NbxPluginInstance *machinery,
				     config_setting_t *machines, NbxDiagnostics *diagnostics);

/*
 * Adds one machine, copying @spec. Problems with it (missing or invalid
 * name, label, ip or platform) go to @diagnostics at @location; returns
 * FALSE then.
 */
gboolean nbx_machine_pool_add(NbxMachinePool *pool, NbxPluginInstance *machinery,
			      const struct nbx_machine *spec, const char *location,
			      NbxDiagnostics *diagnostics);

/*
 * Reports every name, label, IP or MAC used by two machines; an IP or MAC
 * is shared freely by machines on segments of their own (each is alone in
 * its namespace), and by one such machine and the daemon's namespace.
 */
void nbx_machine_pool_check_unique(NbxMachinePool *pool, NbxDiagnostics *diagnostics);

/*
 * Each `base_machine` names another enabled machine of the same machinery
 * that has no base_machine itself (bases do not chain).
 */
void nbx_machine_pool_check_bases(NbxMachinePool *pool, NbxDiagnostics *diagnostics);

/* The name of @machine's snapshot base: its base_machine, else its own name. */
const char *nbx_pool_machine_base(const NbxMachine *machine);

/*
 * Picks a machine for @request and marks it in use: among the enabled,
 * free machines that match, the least recently used (ties: by name).
 * A task's tags must all be among the machine's. Fails with
 * NBX_POOL_ERROR_NO_MATCH (with the reason) or NBX_POOL_ERROR_BUSY.
 */
NbxMachine *nbx_machine_pool_acquire(NbxMachinePool *pool, const NbxMachineRequest *request,
				     GError **error);
/* Gives it back to selection (its RELEASE transition): it counts as used just now. */
void nbx_machine_pool_release(NbxMachinePool *pool, NbxMachine *machine);

/*
 * Whether some configured machine, busy or disabled or not, matches
 * @request; otherwise NBX_POOL_ERROR_NO_MATCH with the reason.
 */
gboolean nbx_machine_pool_could_serve(NbxMachinePool *pool, const NbxMachineRequest *request,
				      GError **error);

NbxMachine *nbx_machine_pool_lookup(NbxMachinePool *pool, const char *name);

/*
 * What the machineries declare and report goes to the pool that is the
 * sink's owner (nbx_plugin_instance_set_machine_sink()).
 */
const NbxMachineSink *nbx_machine_pool_sink(void);

