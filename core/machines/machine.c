/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machine.h"

G_DEFINE_QUARK(nbx-machine-error-quark, nbx_machine_error)

#define BIT(state) (1u << (state))
#define ANY_STATE (BIT(NBX_MACHINE_STATE_COUNT) - 1)
/* The state an event leaves unchanged (DISABLE, ENABLE outside IDLE/DISABLED). */
#define SAME NBX_MACHINE_STATE_COUNT

/* What the store keeps of a transition. */
typedef enum {
	PERSIST_NOTHING,
	PERSIST_ACTIVITY,
	PERSIST_DISABLED,
} Persist;

/* One row of the transition table. */
typedef struct {
	/* The states the event is allowed in (BIT()s). */
	guint from;
	/* Where it leads; SAME: nowhere (RELEASE is decided by the disabled reason). */
	NbxMachineState to;
	Persist persist;
	NbxMachineActivity activity;
	const char *name;
} Rule;

static const Rule rules[NBX_MACHINE_EVENT_COUNT] = {
	[NBX_MACHINE_EVENT_RESERVE] = { BIT(NBX_MACHINE_STATE_IDLE), NBX_MACHINE_STATE_RESERVED,
					PERSIST_NOTHING, 0, "reserve" },
	[NBX_MACHINE_EVENT_RELEASE] = { BIT(NBX_MACHINE_STATE_RESERVED) |
						BIT(NBX_MACHINE_STATE_RESTORING) |
						BIT(NBX_MACHINE_STATE_RUNNING) |
						BIT(NBX_MACHINE_STATE_STOPPING),
					NBX_MACHINE_STATE_IDLE, PERSIST_NOTHING, 0, "release" },
	[NBX_MACHINE_EVENT_RESTORE] = { BIT(NBX_MACHINE_STATE_RESERVED),
					NBX_MACHINE_STATE_RESTORING, PERSIST_ACTIVITY,
					NBX_MACHINE_ACTIVITY_STARTING, "restore" },
	[NBX_MACHINE_EVENT_UP] = { BIT(NBX_MACHINE_STATE_RESTORING), NBX_MACHINE_STATE_RUNNING,
				   PERSIST_ACTIVITY, NBX_MACHINE_ACTIVITY_RUNNING, "up" },
	[NBX_MACHINE_EVENT_STOP] = { BIT(NBX_MACHINE_STATE_RESERVED) |
					     BIT(NBX_MACHINE_STATE_RESTORING) |
					     BIT(NBX_MACHINE_STATE_RUNNING),
				     NBX_MACHINE_STATE_STOPPING, PERSIST_ACTIVITY,
				     NBX_MACHINE_ACTIVITY_STOPPING, "stop" },
	[NBX_MACHINE_EVENT_STOPPED] = { BIT(NBX_MACHINE_STATE_STOPPING),
					NBX_MACHINE_STATE_RESERVED, PERSIST_ACTIVITY,
					NBX_MACHINE_ACTIVITY_IDLE, "stopped" },
	[NBX_MACHINE_EVENT_WEDGE] = { BIT(NBX_MACHINE_STATE_RESERVED) |
					      BIT(NBX_MACHINE_STATE_RESTORING) |
					      BIT(NBX_MACHINE_STATE_RUNNING) |
					      BIT(NBX_MACHINE_STATE_STOPPING),
				      NBX_MACHINE_STATE_WEDGED, PERSIST_NOTHING, 0, "wedge" },
	[NBX_MACHINE_EVENT_UNWEDGE] = { BIT(NBX_MACHINE_STATE_WEDGED), NBX_MACHINE_STATE_STOPPING,
					PERSIST_ACTIVITY, NBX_MACHINE_ACTIVITY_STOPPING,
					"unwedge" },
	[NBX_MACHINE_EVENT_RECLAIM] = { BIT(NBX_MACHINE_STATE_IDLE) |
						BIT(NBX_MACHINE_STATE_DISABLED),
					NBX_MACHINE_STATE_STOPPING, PERSIST_NOTHING, 0, "reclaim" },
	[NBX_MACHINE_EVENT_DISABLE] = { ANY_STATE, SAME, PERSIST_DISABLED, 0, "disable" },
	[NBX_MACHINE_EVENT_ENABLE] = { ANY_STATE, SAME, PERSIST_DISABLED, 0, "enable" },
};

static const char *const state_names[NBX_MACHINE_STATE_COUNT] = {
	[NBX_MACHINE_STATE_IDLE] = "idle",	     [NBX_MACHINE_STATE_DISABLED] = "disabled",
	[NBX_MACHINE_STATE_RESERVED] = "reserved",   [NBX_MACHINE_STATE_RESTORING] = "restoring",
	[NBX_MACHINE_STATE_RUNNING] = "running",     [NBX_MACHINE_STATE_STOPPING] = "stopping",
	[NBX_MACHINE_STATE_WEDGED] = "wedged",
};

const char *
nbx_machine_state_to_string(NbxMachineState state)
{
	g_return_val_if_fail(state < NBX_MACHINE_STATE_COUNT, "unknown");
	return state_names[state];
}

const char *
nbx_machine_event_to_string(NbxMachineEvent event)
{
	g_return_val_if_fail(event < NBX_MACHINE_EVENT_COUNT, "unknown");
	return rules[event].name;
}

gboolean
nbx_machine_transition_allowed(NbxMachineState state, NbxMachineEvent event, gboolean disabled,
			       NbxMachineState *to)
{
	const Rule *rule;
	NbxMachineState next;

	g_return_val_if_fail(state < NBX_MACHINE_STATE_COUNT, FALSE);
	g_return_val_if_fail(event < NBX_MACHINE_EVENT_COUNT, FALSE);
	rule = &rules[event];
	if ((rule->from & BIT(state)) == 0)
		return FALSE;
	next = rule->to == SAME ? state : rule->to;
	/* Out of service: it rests DISABLED, not IDLE. */
	if (event == NBX_MACHINE_EVENT_RELEASE && disabled)
		next = NBX_MACHINE_STATE_DISABLED;
	if (event == NBX_MACHINE_EVENT_DISABLE && state == NBX_MACHINE_STATE_IDLE)
		next = NBX_MACHINE_STATE_DISABLED;
	if (event == NBX_MACHINE_EVENT_ENABLE && state == NBX_MACHINE_STATE_DISABLED)
		next = NBX_MACHINE_STATE_IDLE;
	if (to != NULL)
		*to = next;
	return TRUE;
}

/* ---- the board: persistence and listeners -------------------------------------- */

typedef struct {
	guint id;
	NbxMachineListener listener;
	gpointer data;
} ListenerEntry;

void
nbx_machine_board_init(NbxMachineBoard *board)
{
	board->store = NULL;
	g_mutex_init(&board->lock);
	board->listeners = g_ptr_array_new_with_free_func(g_free);
}

void
nbx_machine_board_clear(NbxMachineBoard *board)
{
	g_ptr_array_unref(board->listeners);
	g_mutex_clear(&board->lock);
}

void
nbx_machine_board_set_store(NbxMachineBoard *board, NbxStore *store)
{
	board->store = store;
}

guint
nbx_machine_board_add_listener(NbxMachineBoard *board, NbxMachineListener listener,
			       gpointer data)
{
	static guint next_id;
	ListenerEntry *entry = g_new0(ListenerEntry, 1);

	entry->listener = listener;
	entry->data = data;
	g_mutex_lock(&board->lock);
	entry->id = ++next_id;
	g_ptr_array_add(board->listeners, entry);
	g_mutex_unlock(&board->lock);
	return entry->id;
}

void
nbx_machine_board_remove_listener(NbxMachineBoard *board, guint id)
{
	g_mutex_lock(&board->lock);
	for (guint i = 0; i < board->listeners->len; i++) {
		ListenerEntry *entry = g_ptr_array_index(board->listeners, i);

		if (entry->id == id) {
			g_ptr_array_remove_index(board->listeners, i);
			break;
		}
	}
	g_mutex_unlock(&board->lock);
}

static void
board_notify(NbxMachineBoard *board, const NbxMachineChange *change)
{
	g_autoptr(GPtrArray) listeners = g_ptr_array_new_with_free_func(g_free);

	/* A copy: a listener may add or remove listeners. */
	g_mutex_lock(&board->lock);
	for (guint i = 0; i < board->listeners->len; i++)
		g_ptr_array_add(listeners, g_memdup2(g_ptr_array_index(board->listeners, i),
						     sizeof(ListenerEntry)));
	g_mutex_unlock(&board->lock);
	for (guint i = 0; i < listeners->len; i++) {
		ListenerEntry *entry = g_ptr_array_index(listeners, i);

		entry->listener(change, entry->data);
	}
}

static gboolean
persist(NbxMachine *machine, const Rule *rule, gint64 task_id, const char *reason,
	GError **error)
{
	NbxStore *store = machine->board->store;

	if (store == NULL || rule->persist == PERSIST_NOTHING)
		return TRUE;
	if (rule->persist == PERSIST_DISABLED)
		return nbx_store_machine_set_disabled(store, machine->machine.name, reason, error);
	/* An idle machine belongs to no task. */
	if (rule->activity == NBX_MACHINE_ACTIVITY_IDLE)
		task_id = 0;
	return nbx_store_machine_set_activity(store, machine->machine.name, rule->activity,
					      task_id, error);
}

/* ---- one machine ------------------------------------------------------------------------ */

NbxMachine *
nbx_machine_new(NbxMachineBoard *board, NbxPluginInstance *machinery)
{
	NbxMachine *machine = g_new0(NbxMachine, 1);

	machine->board = board;
	machine->machinery = machinery;
	machine->strings = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&machine->lock);
	machine->state = NBX_MACHINE_STATE_IDLE;
	machine->hypervisor_state = NBX_MACHINE_UNKNOWN;
	return machine;
}

void
nbx_machine_free(NbxMachine *machine)
{
	if (machine == NULL)
		return;
	nbx_machine_set_watcher(machine, NULL, NULL, NULL, NULL);
	g_free(machine->location);
	g_ptr_array_unref(machine->strings);
	g_strfreev(machine->tags);
	g_free(machine->base_machine);
	g_free(machine->host_address);
	g_free(machine->host_mac);
	g_free(machine->disabled_reason);
	g_free(machine->hypervisor_reason);
	g_mutex_clear(&machine->lock);
	g_free(machine);
}

gboolean
nbx_machine_transition(NbxMachine *machine, NbxMachineEvent event, gint64 task_id,
		       const char *reason, GError **error)
{
	NbxMachineChange change = { .machine = machine, .event = event };
	g_autofree char *kept_reason = NULL;
	gboolean persisted;

	g_return_val_if_fail(event < NBX_MACHINE_EVENT_COUNT, FALSE);
	g_return_val_if_fail(event != NBX_MACHINE_EVENT_DISABLE || reason != NULL, FALSE);
	g_mutex_lock(&machine->lock);
	change.from = machine->state;
	if (!nbx_machine_transition_allowed(machine->state, event,
					    machine->disabled_reason != NULL, &change.to)) {
		g_mutex_unlock(&machine->lock);
		g_set_error(error, NBX_MACHINE_ERROR_DOMAIN, NBX_MACHINE_ERROR_ILLEGAL,
			    "machine %s: cannot %s it while it is %s (a core bug)",
			    machine->machine.name, rules[event].name,
			    state_names[change.from]);
		return FALSE;
	}
	machine->state = change.to;
	if (event == NBX_MACHINE_EVENT_DISABLE || event == NBX_MACHINE_EVENT_ENABLE) {
		g_free(machine->disabled_reason);
		machine->disabled_reason = g_strdup(reason);
		kept_reason = g_strdup(reason);
	}
	/* Under the lock: two transitions of one machine reach the store in their order. */
	persisted = persist(machine, &rules[event], task_id, kept_reason, error);
	g_mutex_unlock(&machine->lock);
	change.reason = kept_reason;
	board_notify(machine->board, &change);
	return persisted;
}

NbxMachineState
nbx_machine_get_state(NbxMachine *machine)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&machine->lock);

	return machine->state;
}

char *
nbx_machine_dup_disabled_reason(NbxMachine *machine)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&machine->lock);

	return g_strdup(machine->disabled_reason);
}

gboolean
nbx_machine_is_disabled(NbxMachine *machine)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&machine->lock);

	return machine->disabled_reason != NULL;
}

/* ---- what the hypervisor says ------------------------------------------------------------ */

void
nbx_machine_set_watcher(NbxMachine *machine, NbxMachineWatcher watcher, gpointer data,
			gpointer (*ref)(gpointer data), GDestroyNotify unref)
{
	gpointer old_data;
	GDestroyNotify old_unref;

	g_mutex_lock(&machine->lock);
	old_data = machine->watcher_data;
	old_unref = machine->watcher_unref;
	machine->watcher = watcher;
	machine->watcher_data = watcher != NULL && ref != NULL ? ref(data) : data;
	machine->watcher_ref = ref;
	machine->watcher_unref = unref;
	g_mutex_unlock(&machine->lock);
	if (old_data != NULL && old_unref != NULL)
		old_unref(old_data);
}

void
nbx_machine_note_hypervisor_state(NbxMachine *machine, gint32 state, const char *reason)
{
	NbxMachineWatcher watcher;
	gpointer data = NULL;
	GDestroyNotify unref = NULL;

	g_mutex_lock(&machine->lock);
	machine->hypervisor_state = state;
	g_free(machine->hypervisor_reason);
	machine->hypervisor_reason = g_strdup(reason);
	watcher = machine->watcher;
	if (watcher != NULL && machine->watcher_ref != NULL) {
		/* Held while it is told: it may be cleared meanwhile. */
		data = machine->watcher_ref(machine->watcher_data);
		unref = machine->watcher_unref;
	} else {
		data = machine->watcher_data;
	}
	g_mutex_unlock(&machine->lock);
	/* Told outside the lock: the watcher may ask the machine anything. */
	if (watcher == NULL)
		return;
	watcher(data, state, reason);
	if (unref != NULL)
		unref(data);
}

gint32
nbx_machine_get_hypervisor_state(NbxMachine *machine, char **reason)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&machine->lock);

	if (reason != NULL)
		*reason = g_strdup(machine->hypervisor_reason);
	return machine->hypervisor_state;
}

const char *
nbx_machine_state_name(gint32 state)
{
	switch (state) {
	case NBX_MACHINE_POWEROFF:
		return "poweroff";
	case NBX_MACHINE_RUNNING:
		return "running";
	case NBX_MACHINE_PAUSED:
		return "paused";
	case NBX_MACHINE_SAVED:
		return "saved";
	case NBX_MACHINE_ERROR:
		return "error";
	default:
		return "unknown";
	}
}
