/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler at work: made and freed, its pass over the queue, the
 * analyses it starts and what it does when they end, a new configuration
 * swapped in. On top of its parts (scheduler_private.h).
 */
#include "scheduler_private.h"

#include <json-glib/json-glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"
#include "structured_log.h"

/* ---- settings ------------------------------------------------------------------ */

/* The analyses' copy of the settings nestbox.conf gave (its schema, their defaults). */
static void
read_settings(NbxScheduler *scheduler, NbxSetup *setup)
{
	const NbxSettings *settings = &setup->config->settings;
	NbxAnalysisSettings *s = &scheduler->settings;

	s->timeouts = settings->timeouts;
	s->graceful_stop = settings->scheduler.graceful_stop;
	s->retry_on_machine_death = settings->scheduler.retry_on_machine_death;
	s->max_attempts = settings->scheduler.max_attempts;
	s->grace_s = settings->scheduler.op_grace;
	s->snapshots = scheduler->snapshots;
	scheduler->failure_limit = settings->scheduler.machine_failure_limit;
	scheduler->default_duration = settings->scheduler.default_duration;
	scheduler->max_duration = settings->scheduler.max_duration;
}

/* ---- analyses' endings ---- */

static gboolean
cancel_was_requested(NbxScheduler *scheduler, gint64 id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) stored = nbx_store_task_get(scheduler->store, id, &error);

	if (stored == NULL)
		g_warning("task %" G_GINT64_FORMAT ": %s", id, error->message);
	return stored != NULL && stored->cancel_requested_us != 0;
}

static void
on_analysis_finished(NbxAnalysis *analysis, gpointer data)
{
	NbxScheduler *scheduler = data;
	const NbxAnalysisOutcome *outcome = nbx_analysis_outcome(analysis);
	NbxMachine *machine = nbx_analysis_machine(analysis);
	g_autoptr(NbxTask) task = nbx_task_copy(nbx_analysis_task(analysis));
	g_autoptr(GError) error = NULL;
	gint64 id = task->id;

	/* Everything below touches the scheduler unlocked: it must be the main thread's. */
	if (g_thread_self() != scheduler->thread)
		g_critical("task %" G_GINT64_FORMAT ": analysis end handled off the main thread", id);
	nbx_machine_set_watcher(machine, NULL, NULL, NULL, NULL);
	if (outcome->machine_failure != NULL) {
		nbx_scheduler_count_failure(scheduler, machine, outcome->machine_failure);
	} else if (outcome->machine_cycled &&
		   !nbx_store_machine_set_failures(scheduler->store, machine->machine.name, 0,
						   &error)) {
		g_warning("%s", error->message);
	}
	if (outcome->machine_stuck && !outcome->machine_wedged) {
		g_autofree char *reason = g_strdup_printf(
			"%s; it may still be running", outcome->machine_failure);

		nbx_scheduler_disable_machine(scheduler, machine, reason);
	}
	if (outcome->machine_wedged) {
		g_autofree char *reason = g_strdup_printf(
			"an operation on it did not return (%s); it stays locked until it does",
			outcome->machine_failure != NULL ? outcome->machine_failure : "unknown");

		nbx_scheduler_disable_machine(scheduler, machine, reason);
		if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_WEDGE, 0, NULL, &error))
			g_warning("%s", error->message);
	} else {
		nbx_machine_pool_release(scheduler->setup->pool, machine);
	}

	/* A cancel acknowledged after the analysis settled on "run it again" is final all the same. */
	if (task->state == NBX_TASK_QUEUED && cancel_was_requested(scheduler, id)) {
		task->state = NBX_TASK_CANCELLED;
		g_free(task->reason);
		task->reason = g_strdup("cancelled by the operator");
	}
	/* The analysis wrote the task's fields; the scheduler writes its final row. */
	if (task->state == NBX_TASK_QUEUED) {
		const NbxStoreNote queued = { machine->machine.name, "task.queued",
					      task->reason != NULL ? task->reason : "queued again" };

		if (!nbx_store_task_update_noting(scheduler->store, task, &queued, &error))
			g_warning("task %" G_GINT64_FORMAT ": %s", id, error->message);
		g_message("task %" G_GINT64_FORMAT " queued again: %s", id,
			  task->reason != NULL ? task->reason : "");
	} else {
		nbx_scheduler_end_task(scheduler, task, task->state, task->reason);
	}
	g_hash_table_remove(scheduler->analyses, &id);
	nbx_scheduler_maybe_finish_shutdown(scheduler);
	nbx_scheduler_schedule_soon(scheduler);
}

/*
 * The abandoned op is over, but the machine may run (a late restore) and the
 * store still says "starting" or "stopping": it is stopped, like a machine
 * a dead daemon left, before it is released. Its stop counts among the
 * wedged until then, so no reload swaps its plugin out from under it.
 */
static void
on_analysis_unwedged(NbxAnalysis *analysis, gpointer data)
{
	NbxScheduler *scheduler = data;
	NbxMachine *machine = nbx_analysis_machine(analysis);
	g_autoptr(GPtrArray) machines = g_ptr_array_new();
	g_autoptr(GError) error = NULL;

	g_message("machine %s: the abandoned operation returned; stopping the machine",
		  machine->machine.name);
	if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_UNWEDGE, 0, NULL, &error))
		g_warning("%s", error->message);
	g_ptr_array_add(machines, machine);
	nbx_scheduler_stop_in_background(scheduler, machines, analysis);
}

/* ---- scheduling ---------------------------------------------------------------------- */

/* What the hypervisor says of the machine goes to the analysis running on it. */
static void
on_hypervisor_state(gpointer analysis, gint32 state, const char *reason)
{
	nbx_analysis_machine_state(analysis, state, reason);
}

static void
start_analysis(NbxScheduler *scheduler, const NbxTask *task, NbxMachine *machine)
{
	const NbxAnalysisCallbacks callbacks = {
		.finished = on_analysis_finished,
		.unwedged = on_analysis_unwedged,
		.user_data = scheduler,
	};
	NbxAnalysis *analysis;
	gint64 *key = g_new(gint64, 1);

	nbx_message(&(NbxLogFields){ .task_id = task->id, .machine = machine->machine.name },
		    "task %" G_GINT64_FORMAT ": starting on machine %s", task->id,
		    machine->machine.name);
	/* Known to the state listener before the first op can report anything. */
	analysis = nbx_analysis_start(scheduler->setup, scheduler->store, machine, task,
				      &scheduler->settings, &scheduler->gate, &callbacks);
	nbx_machine_set_watcher(machine, on_hypervisor_state, analysis,
				(gpointer(*)(gpointer))nbx_analysis_ref,
				(GDestroyNotify)nbx_analysis_unref);
	*key = task->id;
	g_hash_table_insert(scheduler->analyses, key, analysis);
}

static void swap_pending_setup(NbxScheduler *scheduler);

/*
 * A queued task says why it waits, as things are now (a machine disabled
 * meanwhile, enabled again but busy): collected in @changed (borrowed) for
 * one store write, only when the words change.
 */
static void
note_waiting(NbxTask *task, const char *why, GPtrArray *changed)
{
	g_autofree char *reason = g_strdup_printf("waiting: %s", why);

	if (g_strcmp0(task->reason, reason) == 0)
		return;
	g_free(task->reason);
	task->reason = g_steal_pointer(&reason);
	g_ptr_array_add(changed, task);
}

static gboolean
schedule(gpointer data)
{
	NbxScheduler *scheduler = data;
	g_autoptr(GPtrArray) queued = NULL;
	g_autoptr(GPtrArray) waiting = NULL;
	g_autoptr(GError) error = NULL;

	scheduler->schedule_source = 0;
	if (scheduler->recovering || scheduler->shutting_down)
		return G_SOURCE_REMOVE;
	if (scheduler->pending_setup != NULL) {
		/* The old plugins' prepared runs go with them: discarded first. */
		if (g_hash_table_size(scheduler->analyses) > 0 || nbx_scheduler_has_wedged(scheduler) ||
		    (scheduler->snapshots != NULL && nbx_snapshot_manager_busy(scheduler->snapshots)) ||
		    nbx_scheduler_discard_all_prepared(scheduler))
			return G_SOURCE_REMOVE;
		swap_pending_setup(scheduler);
	}
	queued = nbx_store_task_list_queued(scheduler->store, &error);
	if (queued == NULL) {
		g_warning("cannot read the queue: %s", error->message);
		return G_SOURCE_REMOVE;
	}
	waiting = g_ptr_array_new();
	for (guint i = 0; i < queued->len; i++) {
		NbxTask *task = g_ptr_array_index(queued, i);
		NbxMachineRequest request = nbx_scheduler_request_of(scheduler, task);
		g_autoptr(GError) busy = NULL;
		NbxMachine *machine;

		/* A cancel recorded but not yet carried out (its store write failed). */
		if (task->cancel_requested_us != 0) {
			nbx_scheduler_end_task(scheduler, task, NBX_TASK_CANCELLED, "cancelled by the operator");
			continue;
		}
		machine = nbx_machine_pool_acquire(scheduler->setup->pool, &request, &busy);
		if (machine != NULL) {
			/* restore_start uses the prepared run or throws it away (machinery.h). */
			nbx_prepared_runs_forget(scheduler->prepared, machine);
			start_analysis(scheduler, task, machine);
		}
		else if (g_error_matches(busy, NBX_POOL_ERROR, NBX_POOL_ERROR_NO_MATCH))
			/* A reload may have removed the machines it was waiting for. */
			nbx_scheduler_end_task(scheduler, task, NBX_TASK_FAILED, busy->message);
		else
			note_waiting(task, busy->message, waiting);
	}
	if (!nbx_store_task_set_queued_reasons(scheduler->store, waiting, &error))
		g_warning("%s", error->message);
	nbx_scheduler_prepare_idle_machines(scheduler);
	return G_SOURCE_REMOVE;
}

/* ---- made and freed, a new configuration --------------------------------------------- */

/* A prepare or discard returned: the machine is let go, and may serve a task. */
static void
on_prepared_op_done(NbxMachine *machine, gpointer data)
{
	NbxScheduler *scheduler = data;

	nbx_machine_pool_release(scheduler->setup->pool, machine);
	if (scheduler->shutting_down)
		nbx_scheduler_maybe_finish_shutdown(scheduler);
	else
		nbx_scheduler_schedule_soon(scheduler);
}

NbxScheduler *
nbx_scheduler_new(NbxSetup *setup, NbxStore *store, GError **error)
{
	NbxScheduler *scheduler = g_new0(NbxScheduler, 1);

	scheduler->setup = setup;
	scheduler->store = store;
	scheduler->schedule = schedule;
	scheduler->thread = g_thread_self();
	scheduler->started_us = g_get_monotonic_time();
	scheduler->analyses = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
						    (GDestroyNotify)nbx_analysis_unref);
	scheduler->samples_dir = g_build_filename(setup->config->state_dir, "samples", NULL);
	read_settings(scheduler, setup);
	nbx_restore_gate_init(&scheduler->gate,
			      setup->config->settings.scheduler.max_concurrent_restores);
	scheduler->prepared = nbx_prepared_runs_new(on_prepared_op_done, scheduler);
	nbx_scheduler_sync_machines(scheduler, setup);
	if (!nbx_scheduler_recover(scheduler, error)) {
		nbx_scheduler_free(scheduler);
		return NULL;
	}
	return scheduler;
}

void
nbx_scheduler_free(NbxScheduler *scheduler)
{
	if (scheduler == NULL)
		return;
	g_clear_handle_id(&scheduler->schedule_source, g_source_remove);
	g_clear_handle_id(&scheduler->shutdown_timer, g_source_remove);
	if (scheduler->setup != NULL)
		nbx_scheduler_unsync_machines(scheduler, scheduler->setup);
	g_hash_table_unref(scheduler->analyses);
	nbx_restore_gate_clear(&scheduler->gate);
	nbx_prepared_runs_free(scheduler->prepared);
	nbx_setup_free(scheduler->pending_setup);
	g_free(scheduler->samples_dir);
	g_free(scheduler);
}

/*
 * The new configuration is applied when no analysis runs on the old one:
 * a plugin instance is never replaced under a machine it is driving.
 */
static void
swap_pending_setup(NbxScheduler *scheduler)
{
	NbxSetup *old = scheduler->setup;

	nbx_scheduler_unsync_machines(scheduler, old);
	/* Every run was discarded; what is left (failed prepares) named the old machines. */
	nbx_prepared_runs_forget_all(scheduler->prepared);
	scheduler->setup = g_steal_pointer(&scheduler->pending_setup);
	read_settings(scheduler, scheduler->setup);
	nbx_restore_gate_set_limit(&scheduler->gate,
				   scheduler->setup->config->settings.scheduler.max_concurrent_restores);
	nbx_scheduler_sync_machines(scheduler, scheduler->setup);
	g_free(scheduler->samples_dir);
	scheduler->samples_dir =
		g_build_filename(scheduler->setup->config->state_dir, "samples", NULL);
	nbx_setup_free(old);
	g_message("new configuration in effect: %u machines",
		  scheduler->setup->pool->machines->len);
}

void
nbx_scheduler_replace_setup(NbxScheduler *scheduler, NbxSetup *setup)
{
	nbx_setup_free(scheduler->pending_setup);
	scheduler->pending_setup = setup;
	if (g_hash_table_size(scheduler->analyses) > 0 || nbx_scheduler_has_wedged(scheduler))
		g_message("the new configuration takes effect when the running analyses end");
	nbx_scheduler_schedule_soon(scheduler);
}

gboolean
nbx_scheduler_is_idle(NbxScheduler *scheduler)
{
	return g_hash_table_size(scheduler->analyses) == 0 && !nbx_scheduler_has_wedged(scheduler) &&
	       !scheduler->recovering && nbx_prepared_runs_in_flight(scheduler->prepared) == 0;
}

