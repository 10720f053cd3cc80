/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One machine: what it is (its `struct nbx_machine` and its machinery) and
 * the core's single state machine for it. What the core is doing with the
 * machine (NbxMachineState) and whether it is out of service (its disabled
 * reason) change ONLY through nbx_machine_transition(), which holds the
 * machine's own lock, refuses a transition the table does not allow,
 * persists the change where the store keeps it (the machine's activity, its
 * disabled reason), and tells the listeners once. What the hypervisor last
 * said is kept here too, under the same lock, and handed to the watcher
 * (the analysis running on the machine).
 *
 * Selection among machines is the pool's (machine_pool.h).
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"
#include "store.h"

/* What the core is doing with a machine. */
typedef enum {
	/* Free: the pool may hand it out. */
	NBX_MACHINE_STATE_IDLE,
	/* Out of service, with a reason; nothing runs on it. */
	NBX_MACHINE_STATE_DISABLED,
	/* Held (a task, a snapshot session, a prepared run); nothing started yet. */
	NBX_MACHINE_STATE_RESERVED,
	/* `restore_start` called (the store: "starting"). */
	NBX_MACHINE_STATE_RESTORING,
	/* Up, running a task (the store: "running"). */
	NBX_MACHINE_STATE_RUNNING,
	/* Being stopped (the store: "stopping"). */
	NBX_MACHINE_STATE_STOPPING,
	/* An op on it was abandoned and has not returned: no op may run on it. */
	NBX_MACHINE_STATE_WEDGED,
	NBX_MACHINE_STATE_COUNT,
} NbxMachineState;

/* What moves a machine from one state to another. */
typedef enum {
	/* IDLE -> RESERVED: the pool selected it, or a caller holds it. */
	NBX_MACHINE_EVENT_RESERVE,
	/*
	 * RESERVED, RESTORING, RUNNING or STOPPING -> IDLE, or DISABLED when it
	 * has a disabled reason. From STOPPING: its stop failed (the store keeps
	 * "stopping", so a later daemon stops it). From RESTORING or RUNNING: an
	 * abandoned op returned just before the analysis ended, too late for
	 * its stop; the releasing party answers for it, as before this module.
	 */
	NBX_MACHINE_EVENT_RELEASE,
	/* RESERVED -> RESTORING; persisted "starting" with the task. */
	NBX_MACHINE_EVENT_RESTORE,
	/* RESTORING -> RUNNING; persisted "running" with the task. */
	NBX_MACHINE_EVENT_UP,
	/* RESERVED, RESTORING or RUNNING -> STOPPING; persisted "stopping" with the task. */
	NBX_MACHINE_EVENT_STOP,
	/* STOPPING -> RESERVED: the stop worked; persisted "idle". */
	NBX_MACHINE_EVENT_STOPPED,
	/* RESERVED, RESTORING, RUNNING or STOPPING -> WEDGED: an op was abandoned. */
	NBX_MACHINE_EVENT_WEDGE,
	/* WEDGED -> STOPPING: the op returned, the machine is stopped; persisted "stopping". */
	NBX_MACHINE_EVENT_UNWEDGE,
	/*
	 * IDLE or DISABLED -> STOPPING: a previous daemon left it busy (the
	 * store says so already, so nothing is persisted); it is stopped.
	 */
	NBX_MACHINE_EVENT_RECLAIM,
	/* Any state: the disabled reason set; IDLE -> DISABLED. Persisted. */
	NBX_MACHINE_EVENT_DISABLE,
	/* Any state: the disabled reason cleared; DISABLED -> IDLE. Persisted. */
	NBX_MACHINE_EVENT_ENABLE,
	NBX_MACHINE_EVENT_COUNT,
} NbxMachineEvent;

#define NBX_MACHINE_ERROR_DOMAIN (nbx_machine_error_quark())
GQuark nbx_machine_error_quark(void);

typedef enum {
	/* The transition table does not allow the event in the machine's state. */
	NBX_MACHINE_ERROR_ILLEGAL,
} NbxMachineError;

typedef struct _NbxMachine NbxMachine;

/* One transition, told to every listener after the machine's lock is released. */
typedef struct {
	NbxMachine *machine;
	NbxMachineEvent event;
	NbxMachineState from;
	NbxMachineState to;
	/* DISABLE: the reason; NULL otherwise. */
	const char *reason;
} NbxMachineChange;

typedef void (*NbxMachineListener)(const NbxMachineChange *change, gpointer data);

/* What the hypervisor says of a machine, told to its watcher (from the plugin's thread). */
typedef void (*NbxMachineWatcher)(gpointer data, gint32 state, const char *reason);

/*
 * What the machines of one pool share: where transitions are persisted
 * and who hears of them. Set up before any machine changes state.
 */
typedef struct {
	/* Borrowed; NULL: nothing is persisted (a configuration being checked). */
	NbxStore *store;
	/* Guards `listeners`. */
	GMutex lock;
	/* NbxMachineListenerEntry *, in the order they were added. */
	GPtrArray *listeners;
} NbxMachineBoard;

struct _NbxMachine {
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
	NbxMachineBoard *board;

	/* Guards everything below; only machine.c touches it. */
	GMutex lock;
	NbxMachineState state;
	char *disabled_reason;
	gint32 hypervisor_state;
	char *hypervisor_reason;
	NbxMachineWatcher watcher;
	gpointer watcher_data;
	GDestroyNotify watcher_unref;
	gpointer (*watcher_ref)(gpointer data);
};

void nbx_machine_board_init(NbxMachineBoard *board);
void nbx_machine_board_clear(NbxMachineBoard *board);
/* Persist transitions into @store from now on (borrowed; NULL: nowhere). */
void nbx_machine_board_set_store(NbxMachineBoard *board, NbxStore *store);
/* Adds a listener; returns an id for nbx_machine_board_remove_listener(). */
guint nbx_machine_board_add_listener(NbxMachineBoard *board, NbxMachineListener listener,
				     gpointer data);
void nbx_machine_board_remove_listener(NbxMachineBoard *board, guint id);

/* A machine in state IDLE, hypervisor state UNKNOWN, on @board. */
NbxMachine *nbx_machine_new(NbxMachineBoard *board, NbxPluginInstance *machinery);
void nbx_machine_free(NbxMachine *machine);

/*
 * THE transition function. Under the machine's lock: refuses @event when
 * the table does not allow it in the current state (NBX_MACHINE_ERROR_ILLEGAL,
 * naming the machine, the event and the state, and nothing changes), else
 * moves the machine and persists the change (RESTORE, UP and STOP record
 * @task_id with the activity; DISABLE records @reason, which it needs).
 * Then, outside the lock, every listener hears of it once. When the store
 * refuses the write, the machine has moved all the same (its state is the
 * truth in this daemon; the store is what a later one recovers from) and
 * the store's error is returned.
 */
gboolean nbx_machine_transition(NbxMachine *machine, NbxMachineEvent event, gint64 task_id,
				const char *reason, GError **error);

/* Whether the table allows @event in @state, and where it leads (when @to is set). */
gboolean nbx_machine_transition_allowed(NbxMachineState state, NbxMachineEvent event,
					gboolean disabled, NbxMachineState *to);

NbxMachineState nbx_machine_get_state(NbxMachine *machine);
/* A copy of the disabled reason, or NULL when the machine is in service. */
char *nbx_machine_dup_disabled_reason(NbxMachine *machine);
gboolean nbx_machine_is_disabled(NbxMachine *machine);

const char *nbx_machine_state_to_string(NbxMachineState state);
const char *nbx_machine_event_to_string(NbxMachineEvent event);

/* Records what the hypervisor says and tells the watcher (any thread). */
void nbx_machine_note_hypervisor_state(NbxMachine *machine, gint32 state,
				       const char *reason);
/* The last hypervisor state noted, and its reason (a copy, or NULL) when @reason is set. */
gint32 nbx_machine_get_hypervisor_state(NbxMachine *machine, char **reason);

/*
 * Who hears what the hypervisor says of the machine: one watcher at a
 * time, held with @ref while it is set and while it is being told;
 * NULL @watcher clears it.
 */
void nbx_machine_set_watcher(NbxMachine *machine, NbxMachineWatcher watcher, gpointer data,
			     gpointer (*ref)(gpointer data), GDestroyNotify unref);

/* The ABI's `enum nbx_machine_state` as the API spells it ("running", ...). */
const char *nbx_machine_state_name(gint32 state);
