/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler's view of the machines: it listens to their transitions
 * (machine.h) for the events an operator reads, counts their failures and
 * takes one that keeps failing out of service, lists them for the control
 * API, and holds one for a snapshot session.
 */
#include "scheduler_private.h"

#include "machinery_client.h"
#include "structured_log.h"

/* A machine taken out of service is in the task events and the journal. */
static void
on_machine_change(const NbxMachineChange *change, gpointer data)
{
	NbxScheduler *scheduler = data;
	const char *name = change->machine->machine.name;

	if (change->event != NBX_MACHINE_EVENT_DISABLE)
		return;
	nbx_scheduler_event(scheduler, 0, name, "machine.disabled", "%s", change->reason);
	g_warning("machine %s disabled: %s", name, change->reason);
}

/*
 * machinery.h's promise: a machinery with state events is asked `state`
 * once for each machine, so a machine someone else left running is known
 * at once, and then trusted to report changes. On the main thread, before
 * anything is scheduled on the machines: the plugin's deadline bounds it.
 * A machine already in use (left running by a dead daemon, being stopped)
 * is skipped; its stop reports what it becomes.
 */
static void
ask_states_once(NbxScheduler *scheduler, NbxSetup *setup)
{
	GPtrArray *machines = setup->pool->machines;

	for (guint i = 0; i < machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(machines, i);
		NbxMachineState held = nbx_machine_get_state(machine);
		NbxOpContext context = {
			.deadline_us = g_get_monotonic_time() +
				       scheduler->settings.timeouts.stop * G_USEC_PER_SEC,
		};
		g_autoptr(GError) error = NULL;
		g_autofree char *reason = NULL;
		gint32 state = NBX_MACHINE_UNKNOWN;

		if ((held != NBX_MACHINE_STATE_IDLE && held != NBX_MACHINE_STATE_DISABLED) ||
		    !nbx_machinery_has_state_events(machine->machinery))
			continue;
		if (nbx_machinery_state(machine->machinery, &machine->machine, &context, &state,
					&reason, &error))
			nbx_machine_note_hypervisor_state(machine, state, reason);
		else
			g_warning("%s", error->message);
	}
}

void
nbx_scheduler_sync_machines(NbxScheduler *scheduler, NbxSetup *setup)
{
	GPtrArray *machines = setup->pool->machines;

	for (guint i = 0; i < machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(machines, i);
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxStoredMachine) stored = NULL;

		if (!nbx_store_machine_ensure(scheduler->store, machine->machine.name,
					      nbx_plugin_instance_name(machine->machinery), &error)) {
			g_warning("%s", error->message);
			continue;
		}
		stored = nbx_store_machine_get(scheduler->store, machine->machine.name, &error);
		/* Before the store is attached: what is read back is not written again. */
		if (stored != NULL && stored->disabled_reason != NULL)
			nbx_machine_transition(machine, NBX_MACHINE_EVENT_DISABLE, 0,
					       stored->disabled_reason, NULL);
	}
	nbx_machine_board_set_store(&setup->pool->board, scheduler->store);
	scheduler->machine_listener =
		nbx_machine_board_add_listener(&setup->pool->board, on_machine_change, scheduler);
	ask_states_once(scheduler, setup);
}

void
nbx_scheduler_unsync_machines(NbxScheduler *scheduler, NbxSetup *setup)
{
	if (scheduler->machine_listener != 0)
		nbx_machine_board_remove_listener(&setup->pool->board, scheduler->machine_listener);
	scheduler->machine_listener = 0;
}

void
nbx_scheduler_disable_machine(NbxScheduler *scheduler, NbxMachine *machine,
			      const char *reason)
{
	g_autoptr(GError) error = NULL;

	nbx_scheduler_discard_if_prepared(scheduler, machine);
	if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_DISABLE, 0, reason, &error))
		g_warning("%s", error->message);
	/* Tasks waiting for it say so. */
	nbx_scheduler_schedule_soon(scheduler);
}

void
nbx_scheduler_count_failure(NbxScheduler *scheduler, NbxMachine *machine,
			    const char *failure)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxStoredMachine) stored =
		nbx_store_machine_get(scheduler->store, machine->machine.name, &error);
	gint64 failures = (stored != NULL ? stored->failures : 0) + 1;

	if (!nbx_store_machine_set_failures(scheduler->store, machine->machine.name, failures,
					    &error))
		g_warning("%s", error->message);
	if (failures >= scheduler->failure_limit && !nbx_machine_is_disabled(machine)) {
		g_autofree char *reason = g_strdup_printf(
			"disabled after %" G_GINT64_FORMAT " failed operations in a row; last: %s",
			failures, failure);

		nbx_scheduler_disable_machine(scheduler, machine, reason);
	}
}

gboolean
nbx_scheduler_has_wedged(NbxScheduler *scheduler)
{
	GPtrArray *machines = scheduler->setup->pool->machines;

	if (scheduler->unwedge_stops > 0)
		return TRUE;
	for (guint i = 0; i < machines->len; i++) {
		if (nbx_machine_get_state(g_ptr_array_index(machines, i)) ==
		    NBX_MACHINE_STATE_WEDGED)
			return TRUE;
	}
	return FALSE;
}

void
nbx_machine_status_free(NbxMachineStatus *status)
{
	if (status == NULL)
		return;
	g_free(status->name);
	g_free(status->machinery);
	g_free(status->label);
	g_free(status->ip);
	g_free(status->platform);
	g_free(status->os_version);
	g_free(status->architecture);
	g_strfreev(status->tags);
	g_free(status->state);
	g_free(status->activity);
	g_free(status->disabled_reason);
	g_free(status);
}

GPtrArray *
nbx_scheduler_list_machines(NbxScheduler *scheduler)
{
	GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_machine_status_free);
	NbxMachinePool *pool = scheduler->setup->pool;

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		const struct nbx_machine *m = &machine->machine;
		NbxMachineStatus *status = g_new0(NbxMachineStatus, 1);
		g_autoptr(NbxStoredMachine) stored =
			nbx_store_machine_get(scheduler->store, m->name, NULL);

		status->name = g_strdup(m->name);
		status->machinery = g_strdup(nbx_plugin_instance_name(machine->machinery));
		status->label = g_strdup(m->label);
		status->ip = g_strdup(m->ip);
		status->platform = g_strdup(m->platform);
		status->os_version = g_strdup(m->os_version);
		status->architecture = g_strdup(m->architecture);
		status->tags = g_strdupv(machine->tags);
		status->state = g_strdup(
			nbx_machine_state_name(nbx_machine_get_hypervisor_state(machine, NULL)));
		status->activity = g_strdup(nbx_machine_activity_name(
			stored != NULL ? stored->activity : NBX_MACHINE_ACTIVITY_IDLE));
		status->task_id = stored != NULL ? stored->task_id : 0;
		status->disabled_reason = nbx_machine_dup_disabled_reason(machine);
		status->failures = stored != NULL ? stored->failures : 0;
		g_ptr_array_add(list, status);
	}
	return list;
}

gboolean
nbx_scheduler_set_machine_disabled(NbxScheduler *scheduler, const char *name, const char *reason,
				   GError **error)
{
	NbxMachine *machine = nbx_machine_pool_lookup(scheduler->setup->pool, name);

	if (machine == NULL) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND,
			    "no machine named \"%s\" is configured", name);
		return FALSE;
	}
	if (reason != NULL) {
		nbx_scheduler_disable_machine(scheduler, machine, reason);
		return TRUE;
	}
	/* A prepare that failed before is worth another try now. */
	nbx_prepared_runs_forget(scheduler->prepared, machine);
	if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_ENABLE, 0, NULL, error))
		return FALSE;
	nbx_scheduler_event(scheduler, 0, name, "machine.enabled", "enabled by the operator");
	g_message("machine %s enabled", name);
	nbx_scheduler_schedule_soon(scheduler);
	return TRUE;
}

void
nbx_scheduler_health(NbxScheduler *scheduler, NbxSchedulerHealth *health)
{
	NbxMachinePool *pool = scheduler->setup->pool;

	*health = (NbxSchedulerHealth){ 0 };
	health->queued = nbx_store_task_count(scheduler->store, NBX_TASK_QUEUED, NULL);
	health->running = g_hash_table_size(scheduler->analyses);
	health->machines = pool->machines->len;
	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);

		if (nbx_machine_is_disabled(machine))
			health->machines_disabled++;
		else if (nbx_machine_get_state(machine) == NBX_MACHINE_STATE_IDLE)
			health->machines_free++;
	}
	health->shutting_down = scheduler->shutting_down;
	health->uptime_s = (g_get_monotonic_time() - scheduler->started_us) / G_USEC_PER_SEC;
}

NbxMachine *
nbx_scheduler_hold_machine(NbxScheduler *scheduler, const char *name, GError **error)
{
	NbxMachineRequest request = { .name = name };
	NbxMachine *machine;

	NbxMachine *known = nbx_machine_pool_lookup(scheduler->setup->pool, name);
	gint64 until = g_get_monotonic_time() +
		       (scheduler->settings.timeouts.restore + scheduler->settings.grace_s) *
			       G_USEC_PER_SEC;

	/*
	 * A machine held only while its next run is prepared is not busy for
	 * an operator: wait for the prepare. The pool has its own lock; the
	 * setup is not swapped while snapshots are busy.
	 */
	if (known != NULL && g_thread_self() != scheduler->thread)
		nbx_prepared_runs_wait(scheduler->prepared, known, until);
	machine = nbx_machine_pool_acquire(scheduler->setup->pool, &request, error);
	/* snapshot_begin throws a prepared run away itself (machinery.h). */
	if (machine != NULL)
		nbx_prepared_runs_forget(scheduler->prepared, machine);
	return machine;
}

static gboolean
kick(gpointer data)
{
	nbx_scheduler_schedule_soon(data);
	return G_SOURCE_REMOVE;
}

void
nbx_scheduler_unhold_machine(NbxScheduler *scheduler, NbxMachine *machine)
{
	nbx_machine_pool_release(scheduler->setup->pool, machine);
	/* Queued tasks may have waited for it; schedule() runs on the main thread only. */
	g_autoptr(GSource) source = g_idle_source_new();

	g_source_set_callback(source, kick, scheduler, NULL);
	g_source_attach(source, NULL);
}

