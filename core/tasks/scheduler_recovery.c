/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Machines the core may have left running, stopped before they serve
 * again: what a dead daemon left (its tasks go back to the queue, its
 * machines are stopped at start-up), and a machine whose abandoned op
 * returned at last.
 */
#include "scheduler_private.h"

#include "machinery_client.h"

/*
 * Machines the core may have left running, stopped off the main thread
 * (which must keep serving plugins' callbacks) while they stay locked: what
 * a dead daemon left (recovery), or a machine whose abandoned op returned.
 */
typedef struct {
	NbxScheduler *scheduler;
	/* NbxMachine *, locked. */
	GPtrArray *machines;
	/* char *: NULL when the machine was stopped, else what `stop` said. */
	GPtrArray *failures;
	/* The wedged analysis whose machine it is, or NULL for recovery. */
	NbxAnalysis *unwedged;
} MachineStops;

static gboolean machine_stops_done(gpointer data);

static gpointer
machine_stops_thread(gpointer data)
{
	MachineStops *stops = data;
	NbxScheduler *scheduler = stops->scheduler;

	for (guint i = 0; i < stops->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(stops->machines, i);
		NbxOpContext context = {
			.deadline_us = g_get_monotonic_time() +
				       scheduler->settings.timeouts.stop * G_USEC_PER_SEC,
		};
		g_autoptr(GError) error = NULL;

		if (nbx_machinery_call(machine->machinery, NBX_MACHINERY_OP_STOP, &machine->machine,
				       &context, &error))
			g_ptr_array_add(stops->failures, NULL);
		else
			g_ptr_array_add(stops->failures, g_strdup(error->message));
	}
	g_idle_add(machine_stops_done, stops);
	return NULL;
}

void
nbx_scheduler_stop_in_background(NbxScheduler *scheduler, GPtrArray *machines, NbxAnalysis *unwedged)
{
	MachineStops *stops = g_new0(MachineStops, 1);

	stops->scheduler = scheduler;
	stops->machines = g_ptr_array_ref(machines);
	stops->failures = g_ptr_array_new_with_free_func(g_free);
	stops->unwedged = unwedged != NULL ? nbx_analysis_ref(unwedged) : NULL;
	if (unwedged != NULL)
		scheduler->unwedge_stops++;
	g_thread_unref(g_thread_new("nbx-machine-stop", machine_stops_thread, stops));
}

static void
note_recovered(NbxScheduler *scheduler, NbxMachine *machine, const char *failure)
{
	g_autofree char *reason = NULL;

	if (failure == NULL) {
		nbx_scheduler_event(scheduler, 0, machine->machine.name, "machine.recovered",
		      "stopped after the previous daemon ended without stopping it");
		g_message("machine %s: stopped what the previous daemon left running",
			  machine->machine.name);
		return;
	}
	reason = g_strdup_printf("could not be stopped after the previous daemon died: %s",
				 failure);
	nbx_scheduler_disable_machine(scheduler, machine, reason);
}

/*
 * The machine stays disabled (an op that ignores its deadline is the
 * operator's to judge) but its reason says what is true now: the op has
 * returned and the machine is stopped, or could not be.
 */
static void
note_unwedged(NbxScheduler *scheduler, NbxMachine *machine, NbxAnalysis *analysis,
	      const char *failure)
{
	const char *op_failure = nbx_analysis_outcome(analysis)->machine_failure;
	g_autofree char *reason = NULL;
	gboolean still_disabled;

	if (op_failure == NULL)
		op_failure = "unknown";
	if (failure != NULL) {
		reason = g_strdup_printf("could not be stopped after an abandoned operation (%s) "
					 "returned: %s",
					 op_failure, failure);
		nbx_scheduler_disable_machine(scheduler, machine, reason);
		return;
	}
	nbx_scheduler_event(scheduler, 0, machine->machine.name, "machine.unwedged",
	      "the abandoned operation returned; the machine was stopped");
	g_message("machine %s: the abandoned operation returned and the machine was stopped; "
		  "it stays disabled until enabled",
		  machine->machine.name);
	still_disabled = nbx_machine_is_disabled(machine);
	/* Unless the operator enabled it meanwhile. */
	if (still_disabled) {
		reason = g_strdup_printf("an operation on it returned only after it was abandoned "
					 "(%s); the machine was stopped since",
					 op_failure);
		nbx_scheduler_disable_machine(scheduler, machine, reason);
	}
}

static gboolean
machine_stops_done(gpointer data)
{
	MachineStops *stops = data;
	NbxScheduler *scheduler = stops->scheduler;

	for (guint i = 0; i < stops->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(stops->machines, i);
		const char *failure = g_ptr_array_index(stops->failures, i);
		g_autoptr(GError) error = NULL;

		if (failure == NULL &&
		    !nbx_machine_transition(machine, NBX_MACHINE_EVENT_STOPPED, 0, NULL, &error))
			g_warning("%s", error->message);
		if (stops->unwedged != NULL)
			note_unwedged(scheduler, machine, stops->unwedged, failure);
		else
			note_recovered(scheduler, machine, failure);
		nbx_machine_pool_release(scheduler->setup->pool, machine);
	}
	if (stops->unwedged != NULL) {
		scheduler->unwedge_stops--;
		nbx_analysis_unref(stops->unwedged);
	} else {
		scheduler->recovering = FALSE;
	}
	g_ptr_array_unref(stops->machines);
	g_ptr_array_unref(stops->failures);
	g_free(stops);
	nbx_scheduler_maybe_finish_shutdown(scheduler);
	nbx_scheduler_schedule_soon(scheduler);
	return G_SOURCE_REMOVE;
}

/* ---- recovery ------------------------------------------------------------------------- */

/* A task the dead daemon was running: cancelled if the operator said so, else queued or failed. */
static void
recover_task(NbxScheduler *scheduler, NbxTask *task)
{
	g_autofree char *reason = g_strdup_printf(
		"nestboxd ended during step %s", task->step != NULL ? task->step : "(none)");
	g_autoptr(GError) local = NULL;

	if (task->cancel_requested_us != 0) {
		g_autofree char *final = g_strdup_printf("cancelled by the operator (%s)", reason);

		nbx_scheduler_end_task(scheduler, task, NBX_TASK_CANCELLED, final);
	} else if (task->attempts < scheduler->settings.max_attempts) {
		task->state = NBX_TASK_QUEUED;
		task->started_us = 0;
		g_free(task->reason);
		task->reason = g_strdup_printf("%s; it will run again", reason);
		if (!nbx_store_task_update(scheduler->store, task, &local))
			g_warning("%s", local->message);
		nbx_scheduler_event(scheduler, task->id, task->assigned_machine, "task.recovered", "%s",
		      task->reason);
		g_message("task %" G_GINT64_FORMAT ": %s", task->id, task->reason);
	} else {
		g_autofree char *final = g_strdup_printf(
			"%s, and it has used up its %" G_GINT64_FORMAT " attempts", reason,
			scheduler->settings.max_attempts);

		nbx_scheduler_end_task(scheduler, task, NBX_TASK_FAILED, final);
	}
}

/*
 * Whatever a dead daemon was doing: its tasks go back to the queue (or
 * fail, out of attempts, or end cancelled when a cancel was acknowledged),
 * and the machines it may have left running are stopped before anything
 * else is scheduled.
 */
gboolean
nbx_scheduler_recover(NbxScheduler *scheduler, GError **error)
{
	g_autoptr(GPtrArray) running = nbx_store_task_list(scheduler->store, NBX_TASK_RUNNING, 0, 0,
							   error);
	g_autoptr(GPtrArray) stored = NULL;
	g_autoptr(GPtrArray) left_running = NULL;

	if (running == NULL)
		return FALSE;
	for (guint i = 0; i < running->len; i++)
		recover_task(scheduler, g_ptr_array_index(running, i));

	stored = nbx_store_machine_list(scheduler->store, error);
	if (stored == NULL)
		return FALSE;
	left_running = g_ptr_array_new();
	for (guint i = 0; i < stored->len; i++) {
		NbxStoredMachine *row = g_ptr_array_index(stored, i);
		NbxMachine *machine;

		if (row->activity == NBX_MACHINE_ACTIVITY_IDLE)
			continue;
		machine = nbx_machine_pool_lookup(scheduler->setup->pool, row->name);
		if (machine == NULL) {
			g_warning("machine %s was %s when the previous daemon ended, and is no "
				  "longer configured: stop it by hand",
				  row->name, nbx_machine_activity_name(row->activity));
			continue;
		}
		/* Held, so nothing is scheduled on it before it is stopped. */
		if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_RECLAIM, 0, NULL, error))
			return FALSE;
		g_ptr_array_add(left_running, machine);
	}
	if (left_running->len == 0) {
		nbx_scheduler_schedule_soon(scheduler);
		return TRUE;
	}
	scheduler->recovering = TRUE;
	nbx_scheduler_stop_in_background(scheduler, left_running, NULL);
	return TRUE;
}

