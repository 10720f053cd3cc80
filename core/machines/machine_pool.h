/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every machine of every enabled machinery, with the core's view of it:
 * which plugin owns it, whether it is in use or disabled, what the
 * hypervisor last said. Selection for a task happens here.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "diagnostics.h"
#include "plugin_instance.h"

#define NBX_POOL_ERROR (nbx_pool_error_quark())
GQuark nbx_pool_error_quark(void);

typedef enum {
	/* No configured machine could ever serve the request. */
	NBX_POOL_ERROR_NO_MATCH,
	/* Some could, but all of them are in use or disabled right now. */
	NBX_POOL_ERROR_BUSY,
} NbxPoolError;

typedef struct {
	/* First, so a `struct nbx_machine *` from a plugin leads back here. */
	struct nbx_machine machine;
	NbxPluginInstance *machinery;
	/* "file:line" of its group, or "plugin NAME" for a declared one. */
	char *location;
	/* Where `machine`'s strings live. */
	GPtrArray *strings;
	char **tags;
	/*
	 * The machine whose snapshot generations this one restores (its
	 * `base_machine` key), or NULL: its own. Read-only after loading.
	 */
	char *base_machine;
	/*
	 * Its `segment`, `host_address` and `host_mac` keys: with a segment,
	 * machine.interface is the segment's bridge and
	 * machine.network_namespace its namespace (machine_segments.h).
	 * Read-only after loading.
	 */
	gboolean segment;
	char *host_address;
	char *host_mac;

	/* Guarded by the pool's lock. */
	gboolean in_use;
	char *disabled_reason;
	/* Pool-wide release sequence: higher = released more recently. */
	guint64 last_release;
	gint32 hypervisor_state;
	char *hypervisor_reason;
} NbxPoolMachine;

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
	GMutex lock;
	/*
	 * Counts releases. A clock would tie when two releases fall in the
	 * same microsecond, and a tie would hand out the busier machine.
	 */
	guint64 releases;
	/* NbxPoolMachine *, in the order they were added. */
	GPtrArray *machines;
	/*
	 * Told of every state a plugin reports, from the plugin's thread,
	 * after the pool's lock is released (the scheduler: a machine that
	 * dies under an analysis). Set before any plugin op runs.
	 */
	void (*state_listener)(NbxPoolMachine *machine, gint32 state, const char *reason,
			       gpointer user_data);
	gpointer state_listener_data;
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
const char *nbx_pool_machine_base(const NbxPoolMachine *machine);

/*
 * Picks a machine for @request and marks it in use: among the enabled,
 * free machines that match, the least recently used (ties: by name).
 * A task's tags must all be among the machine's. Fails with
 * NBX_POOL_ERROR_NO_MATCH (with the reason) or NBX_POOL_ERROR_BUSY.
 */
NbxPoolMachine *nbx_machine_pool_acquire(NbxMachinePool *pool, const NbxMachineRequest *request,
					 GError **error);
void nbx_machine_pool_release(NbxMachinePool *pool, NbxPoolMachine *machine);

/*
 * Whether some configured machine, busy or disabled or not, matches
 * @request; otherwise NBX_POOL_ERROR_NO_MATCH with the reason.
 */
gboolean nbx_machine_pool_could_serve(NbxMachinePool *pool, const NbxMachineRequest *request,
				      GError **error);

/* Takes a machine out of selection with a reason, or puts it back (NULL). */
void nbx_machine_pool_set_disabled(NbxMachinePool *pool, NbxPoolMachine *machine,
				   const char *reason);

NbxPoolMachine *nbx_machine_pool_lookup(NbxMachinePool *pool, const char *name);

/* Records what the hypervisor says (host service machine_state_changed). */
void nbx_machine_pool_note_state(NbxMachinePool *pool, struct nbx_machine *machine, gint32 state,
				 const char *reason);

/*
 * What the machineries declare and report goes to the pool that is the
 * sink's owner (nbx_plugin_instance_set_machine_sink()).
 */
const NbxMachineSink *nbx_machine_pool_sink(void);

/* The last state noted, and its reason (a copy, or NULL) when @reason is set. */
gint32 nbx_machine_pool_get_state(NbxMachinePool *pool, NbxPoolMachine *machine, char **reason);

const char *nbx_machine_state_name(gint32 state);
