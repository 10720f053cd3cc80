/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "scheduler.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "analysis.h"
#include "machine_pool.h"
#include "plugin_instance.h"
#include "task_options_check.h"

G_DEFINE_QUARK(nbx-scheduler-error-quark, nbx_scheduler_error)

struct _NbxScheduler {
	NbxSetup *setup;
	/* A validated configuration waiting for the running analyses to end. */
	NbxSetup *pending_setup;
	NbxStore *store;
	NbxAnalysisSettings settings;
	gint64 failure_limit;
	gint64 default_duration;
	gint64 max_duration;
	NbxRestoreGate gate;
	char *samples_dir;

	/* task id -> NbxAnalysis * (a reference), while its lifecycle runs. */
	GHashTable *analyses;
	/* NbxAnalysis * whose abandoned machine op has not returned. */
	GPtrArray *wedged;
	/*
	 * NbxPoolMachine * -> NbxAnalysis *: who to tell when a machine's
	 * state changes. Read from plugin threads, hence its own lock.
	 */
	GMutex by_machine_lock;
	GHashTable *by_machine;

	/* The thread that made it: the main thread, the only one that touches it. */
	GThread *thread;
	gboolean recovering;
	gboolean shutting_down;
	guint schedule_source;
	gint64 started_us;

	/* Borrowed; NULL when snapshots are not managed (some tests). */
	NbxSnapshotManager *snapshots;

	NbxSchedulerDoneFunc shutdown_done;
	gpointer shutdown_data;
	guint shutdown_timer;
};

static void schedule_soon(NbxScheduler *scheduler);
static void stop_in_background(NbxScheduler *scheduler, GPtrArray *machines,
			       NbxAnalysis *unwedged);

/* ---- settings ------------------------------------------------------------------ */

static gint64
core_integer(NbxSetup *setup, const char *path, gint64 fallback)
{
	return nbx_config_core_integer(setup->config, path, fallback);
}

static void
read_settings(NbxScheduler *scheduler, NbxSetup *setup)
{
	NbxAnalysisSettings *s = &scheduler->settings;

	s->timeouts.auxiliary_start = core_integer(setup, "timeouts.auxiliary_start", 60);
	s->timeouts.restore = core_integer(setup, "timeouts.restore", 300);
	s->timeouts.agent = core_integer(setup, "timeouts.agent", 120);
	s->timeouts.dump_memory = core_integer(setup, "timeouts.dump_memory", 600);
	s->timeouts.acpi_stop = core_integer(setup, "timeouts.acpi_stop", 30);
	s->timeouts.stop = core_integer(setup, "timeouts.stop", 120);
	s->timeouts.auxiliary_stop = core_integer(setup, "timeouts.auxiliary_stop", 120);
	s->graceful_stop = g_strcmp0(nbx_config_core_string(setup->config, "scheduler.stop_method",
							    "hard"),
				     "acpi") == 0;
	s->retry_on_machine_death =
		nbx_config_core_boolean(setup->config, "scheduler.retry_on_machine_death", TRUE);
	s->max_attempts = core_integer(setup, "scheduler.max_attempts", 2);
	s->grace_s = core_integer(setup, "scheduler.op_grace", 5);
	s->snapshots = scheduler->snapshots;
	scheduler->failure_limit = core_integer(setup, "scheduler.machine_failure_limit", 3);
	scheduler->default_duration = core_integer(setup, "scheduler.default_duration", 60);
	scheduler->max_duration = core_integer(setup, "scheduler.max_duration", 3600);
}

/* ---- machine state events ------------------------------------------------------------ */

static void
on_machine_state(NbxPoolMachine *machine, gint32 state, const char *reason, gpointer data)
{
	NbxScheduler *scheduler = data;
	NbxAnalysis *analysis;

	g_mutex_lock(&scheduler->by_machine_lock);
	analysis = g_hash_table_lookup(scheduler->by_machine, machine);
	if (analysis != NULL)
		nbx_analysis_ref(analysis);
	g_mutex_unlock(&scheduler->by_machine_lock);
	if (analysis == NULL)
		return;
	nbx_analysis_machine_state(analysis, state, reason);
	nbx_analysis_unref(analysis);
}

/* Machine rows in the store for every configured machine; their disabled reasons back in the pool. */
static void
sync_machines(NbxScheduler *scheduler, NbxSetup *setup)
{
	GPtrArray *machines = setup->pool->machines;

	for (guint i = 0; i < machines->len; i++) {
		NbxPoolMachine *machine = g_ptr_array_index(machines, i);
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxStoredMachine) stored = NULL;

		if (!nbx_store_machine_ensure(scheduler->store, machine->machine.name,
					      nbx_plugin_instance_name(machine->machinery), &error)) {
			g_warning("%s", error->message);
			continue;
		}
		stored = nbx_store_machine_get(scheduler->store, machine->machine.name, &error);
		if (stored != NULL && stored->disabled_reason != NULL)
			nbx_machine_pool_set_disabled(setup->pool, machine, stored->disabled_reason);
	}
	setup->pool->state_listener = on_machine_state;
	setup->pool->state_listener_data = scheduler;
}

/* ---- task endings --------------------------------------------------------------------- */

#define event(scheduler, ...) nbx_store_event_addf((scheduler)->store, __VA_ARGS__)

static void
end_task(NbxScheduler *scheduler, NbxTask *task, NbxTaskState state, const char *reason)
{
	g_autoptr(GError) error = NULL;
	/* @reason may be task->reason itself. */
	char *copy = g_strdup(reason);

	task->state = state;
	task->ended_us = g_get_real_time();
	g_free(task->reason);
	task->reason = copy;
	reason = copy;
	if (!nbx_store_task_update(scheduler->store, task, &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", task->id, error->message);
	event(scheduler, task->id, task->assigned_machine, "task.ended", "%s%s%s",
	      nbx_task_state_name(state), reason != NULL ? ": " : "", reason != NULL ? reason : "");
	g_message("task %" G_GINT64_FORMAT " %s%s%s", task->id, nbx_task_state_name(state),
		  reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

static void
disable_machine(NbxScheduler *scheduler, NbxPoolMachine *machine, const char *reason)
{
	g_autoptr(GError) error = NULL;

	nbx_machine_pool_set_disabled(scheduler->setup->pool, machine, reason);
	if (!nbx_store_machine_set_disabled(scheduler->store, machine->machine.name, reason, &error))
		g_warning("%s", error->message);
	event(scheduler, 0, machine->machine.name, "machine.disabled", "%s", reason);
	g_warning("machine %s disabled: %s", machine->machine.name, reason);
	/* Tasks waiting for it say so. */
	schedule_soon(scheduler);
}

/* Consecutive failures; at the limit the machine is taken out of service. */
static void
count_failure(NbxScheduler *scheduler, NbxPoolMachine *machine, const char *failure)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxStoredMachine) stored =
		nbx_store_machine_get(scheduler->store, machine->machine.name, &error);
	gint64 failures = (stored != NULL ? stored->failures : 0) + 1;

	if (!nbx_store_machine_set_failures(scheduler->store, machine->machine.name, failures,
					    &error))
		g_warning("%s", error->message);
	if (failures >= scheduler->failure_limit && machine->disabled_reason == NULL) {
		g_autofree char *reason = g_strdup_printf(
			"disabled after %" G_GINT64_FORMAT " failed operations in a row; last: %s",
			failures, failure);

		disable_machine(scheduler, machine, reason);
	}
}

static void
maybe_finish_shutdown(NbxScheduler *scheduler)
{
	NbxSchedulerDoneFunc done = scheduler->shutdown_done;

	if (!scheduler->shutting_down || done == NULL || g_hash_table_size(scheduler->analyses) > 0 ||
	    scheduler->recovering)
		return;
	scheduler->shutdown_done = NULL;
	g_clear_handle_id(&scheduler->shutdown_timer, g_source_remove);
	done(scheduler->shutdown_data);
}

static void
forget_machine(NbxScheduler *scheduler, NbxPoolMachine *machine)
{
	g_mutex_lock(&scheduler->by_machine_lock);
	g_hash_table_remove(scheduler->by_machine, machine);
	g_mutex_unlock(&scheduler->by_machine_lock);
}

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
	NbxPoolMachine *machine = nbx_analysis_machine(analysis);
	g_autoptr(NbxTask) task = nbx_task_copy(nbx_analysis_task(analysis));
	g_autoptr(GError) error = NULL;
	gint64 id = task->id;

	/* Everything below touches the scheduler unlocked: it must be the main thread's. */
	if (g_thread_self() != scheduler->thread)
		g_critical("task %" G_GINT64_FORMAT ": analysis end handled off the main thread", id);
	forget_machine(scheduler, machine);
	if (outcome->machine_failure != NULL) {
		count_failure(scheduler, machine, outcome->machine_failure);
	} else if (outcome->machine_cycled &&
		   !nbx_store_machine_set_failures(scheduler->store, machine->machine.name, 0,
						   &error)) {
		g_warning("%s", error->message);
	}
	if (outcome->machine_stuck && !outcome->machine_wedged) {
		g_autofree char *reason = g_strdup_printf(
			"%s; it may still be running", outcome->machine_failure);

		disable_machine(scheduler, machine, reason);
	}
	if (outcome->machine_wedged) {
		g_autofree char *reason = g_strdup_printf(
			"an operation on it did not return (%s); it stays locked until it does",
			outcome->machine_failure != NULL ? outcome->machine_failure : "unknown");

		disable_machine(scheduler, machine, reason);
		g_ptr_array_add(scheduler->wedged, nbx_analysis_ref(analysis));
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
		if (!nbx_store_task_update(scheduler->store, task, &error))
			g_warning("task %" G_GINT64_FORMAT ": %s", id, error->message);
		event(scheduler, id, machine->machine.name, "task.queued", "%s",
		      task->reason != NULL ? task->reason : "queued again");
		g_message("task %" G_GINT64_FORMAT " queued again: %s", id,
			  task->reason != NULL ? task->reason : "");
	} else {
		end_task(scheduler, task, task->state, task->reason);
	}
	g_hash_table_remove(scheduler->analyses, &id);
	maybe_finish_shutdown(scheduler);
	schedule_soon(scheduler);
}

/*
 * The abandoned op is over, but the machine may run (a late restore) and the
 * store still says "starting" or "stopping": it is stopped, like a machine
 * a dead daemon left, before it is released. It stays among the wedged
 * until then, so no reload swaps its plugin out from under the stop.
 */
static void
on_analysis_unwedged(NbxAnalysis *analysis, gpointer data)
{
	NbxScheduler *scheduler = data;
	NbxPoolMachine *machine = nbx_analysis_machine(analysis);
	g_autoptr(GPtrArray) machines = g_ptr_array_new();
	g_autoptr(GError) error = NULL;

	g_message("machine %s: the abandoned operation returned; stopping the machine",
		  machine->machine.name);
	if (!nbx_store_machine_set_activity(scheduler->store, machine->machine.name,
					    NBX_MACHINE_ACTIVITY_STOPPING, 0, &error))
		g_warning("%s", error->message);
	g_ptr_array_add(machines, machine);
	stop_in_background(scheduler, machines, analysis);
}

/* ---- scheduling ---------------------------------------------------------------------- */

static NbxMachineRequest
request_of(NbxScheduler *scheduler, const NbxTask *task)
{
	NbxMachineRequest request = {
		.platform = task->platform,
		.os_version = task->os_version,
		.architecture = task->architecture,
		.tags = (const char *const *)task->tags,
	};

	/* "machine" is a name, or else a label. */
	if (task->machine != NULL && *task->machine != '\0') {
		if (nbx_machine_pool_lookup(scheduler->setup->pool, task->machine) != NULL)
			request.name = task->machine;
		else
			request.label = task->machine;
	}
	return request;
}

static void
start_analysis(NbxScheduler *scheduler, const NbxTask *task, NbxPoolMachine *machine)
{
	const NbxAnalysisCallbacks callbacks = {
		.finished = on_analysis_finished,
		.unwedged = on_analysis_unwedged,
		.user_data = scheduler,
	};
	NbxAnalysis *analysis;
	gint64 *key = g_new(gint64, 1);

	g_message("task %" G_GINT64_FORMAT ": starting on machine %s", task->id,
		  machine->machine.name);
	/* Known to the state listener before the first op can report anything. */
	analysis = nbx_analysis_start(scheduler->setup, scheduler->store, machine, task,
				      &scheduler->settings, &scheduler->gate, &callbacks);
	g_mutex_lock(&scheduler->by_machine_lock);
	g_hash_table_insert(scheduler->by_machine, machine, analysis);
	g_mutex_unlock(&scheduler->by_machine_lock);
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
		if (g_hash_table_size(scheduler->analyses) > 0 || scheduler->wedged->len > 0 ||
		    (scheduler->snapshots != NULL && nbx_snapshot_manager_busy(scheduler->snapshots)))
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
		NbxMachineRequest request = request_of(scheduler, task);
		g_autoptr(GError) busy = NULL;
		NbxPoolMachine *machine;

		/* A cancel recorded but not yet carried out (its store write failed). */
		if (task->cancel_requested_us != 0) {
			end_task(scheduler, task, NBX_TASK_CANCELLED, "cancelled by the operator");
			continue;
		}
		machine = nbx_machine_pool_acquire(scheduler->setup->pool, &request, &busy);
		if (machine != NULL)
			start_analysis(scheduler, task, machine);
		else if (g_error_matches(busy, NBX_POOL_ERROR, NBX_POOL_ERROR_NO_MATCH))
			/* A reload may have removed the machines it was waiting for. */
			end_task(scheduler, task, NBX_TASK_FAILED, busy->message);
		else
			note_waiting(task, busy->message, waiting);
	}
	if (!nbx_store_task_set_queued_reasons(scheduler->store, waiting, &error))
		g_warning("%s", error->message);
	return G_SOURCE_REMOVE;
}

static void
schedule_soon(NbxScheduler *scheduler)
{
	if (scheduler->schedule_source == 0)
		scheduler->schedule_source = g_idle_add(schedule, scheduler);
}

/* ---- machines stopped in the background ------------------------------------------------ */

/*
 * Machines the core may have left running, stopped off the main thread
 * (which must keep serving plugins' callbacks) while they stay locked: what
 * a dead daemon left (recovery), or a machine whose abandoned op returned.
 */
typedef struct {
	NbxScheduler *scheduler;
	/* NbxPoolMachine *, locked. */
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
		NbxPoolMachine *machine = g_ptr_array_index(stops->machines, i);
		NbxPluginInstance *machinery = machine->machinery;
		struct nbx_call call = {
			.struct_size = sizeof call,
			.deadline_us = g_get_monotonic_time() +
				       scheduler->settings.timeouts.stop * G_USEC_PER_SEC,
		};
		struct nbx_error err = { 0 };

		if (machinery->plugin->machinery.stop(machinery->instance, &machine->machine, &call,
						      &err)) {
			g_ptr_array_add(stops->failures, NULL);
		} else {
			err.message[sizeof err.message - 1] = '\0';
			g_ptr_array_add(stops->failures, g_strdup(err.message));
		}
	}
	g_idle_add(machine_stops_done, stops);
	return NULL;
}

static void
stop_in_background(NbxScheduler *scheduler, GPtrArray *machines, NbxAnalysis *unwedged)
{
	MachineStops *stops = g_new0(MachineStops, 1);

	stops->scheduler = scheduler;
	stops->machines = g_ptr_array_ref(machines);
	stops->failures = g_ptr_array_new_with_free_func(g_free);
	stops->unwedged = unwedged != NULL ? nbx_analysis_ref(unwedged) : NULL;
	g_thread_unref(g_thread_new("nbx-machine-stop", machine_stops_thread, stops));
}

static void
note_recovered(NbxScheduler *scheduler, NbxPoolMachine *machine, const char *failure)
{
	g_autofree char *reason = NULL;

	if (failure == NULL) {
		event(scheduler, 0, machine->machine.name, "machine.recovered",
		      "stopped after the previous daemon ended without stopping it");
		g_message("machine %s: stopped what the previous daemon left running",
			  machine->machine.name);
		return;
	}
	reason = g_strdup_printf("could not be stopped after the previous daemon died: %s",
				 failure);
	disable_machine(scheduler, machine, reason);
}

/*
 * The machine stays disabled (an op that ignores its deadline is the
 * operator's to judge) but its reason says what is true now: the op has
 * returned and the machine is stopped, or could not be.
 */
static void
note_unwedged(NbxScheduler *scheduler, NbxPoolMachine *machine, NbxAnalysis *analysis,
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
		disable_machine(scheduler, machine, reason);
		return;
	}
	event(scheduler, 0, machine->machine.name, "machine.unwedged",
	      "the abandoned operation returned; the machine was stopped");
	g_message("machine %s: the abandoned operation returned and the machine was stopped; "
		  "it stays disabled until enabled",
		  machine->machine.name);
	g_mutex_lock(&scheduler->setup->pool->lock);
	still_disabled = machine->disabled_reason != NULL;
	g_mutex_unlock(&scheduler->setup->pool->lock);
	/* Unless the operator enabled it meanwhile. */
	if (still_disabled) {
		reason = g_strdup_printf("an operation on it returned only after it was abandoned "
					 "(%s); the machine was stopped since",
					 op_failure);
		disable_machine(scheduler, machine, reason);
	}
}

static gboolean
machine_stops_done(gpointer data)
{
	MachineStops *stops = data;
	NbxScheduler *scheduler = stops->scheduler;

	for (guint i = 0; i < stops->machines->len; i++) {
		NbxPoolMachine *machine = g_ptr_array_index(stops->machines, i);
		const char *failure = g_ptr_array_index(stops->failures, i);
		g_autoptr(GError) error = NULL;

		if (failure == NULL &&
		    !nbx_store_machine_set_activity(scheduler->store, machine->machine.name,
						    NBX_MACHINE_ACTIVITY_IDLE, 0, &error))
			g_warning("%s", error->message);
		if (stops->unwedged != NULL)
			note_unwedged(scheduler, machine, stops->unwedged, failure);
		else
			note_recovered(scheduler, machine, failure);
		nbx_machine_pool_release(scheduler->setup->pool, machine);
	}
	if (stops->unwedged != NULL) {
		g_ptr_array_remove(scheduler->wedged, stops->unwedged);
		nbx_analysis_unref(stops->unwedged);
	} else {
		scheduler->recovering = FALSE;
	}
	g_ptr_array_unref(stops->machines);
	g_ptr_array_unref(stops->failures);
	g_free(stops);
	maybe_finish_shutdown(scheduler);
	schedule_soon(scheduler);
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

		end_task(scheduler, task, NBX_TASK_CANCELLED, final);
	} else if (task->attempts < scheduler->settings.max_attempts) {
		task->state = NBX_TASK_QUEUED;
		task->started_us = 0;
		g_free(task->reason);
		task->reason = g_strdup_printf("%s; it will run again", reason);
		if (!nbx_store_task_update(scheduler->store, task, &local))
			g_warning("%s", local->message);
		event(scheduler, task->id, task->assigned_machine, "task.recovered", "%s",
		      task->reason);
		g_message("task %" G_GINT64_FORMAT ": %s", task->id, task->reason);
	} else {
		g_autofree char *final = g_strdup_printf(
			"%s, and it has used up its %" G_GINT64_FORMAT " attempts", reason,
			scheduler->settings.max_attempts);

		end_task(scheduler, task, NBX_TASK_FAILED, final);
	}
}

/*
 * Whatever a dead daemon was doing: its tasks go back to the queue (or
 * fail, out of attempts, or end cancelled when a cancel was acknowledged),
 * and the machines it may have left running are stopped before anything
 * else is scheduled.
 */
static gboolean
recover(NbxScheduler *scheduler, GError **error)
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
		NbxPoolMachine *machine;

		if (row->activity == NBX_MACHINE_ACTIVITY_IDLE)
			continue;
		machine = nbx_machine_pool_lookup(scheduler->setup->pool, row->name);
		if (machine == NULL) {
			g_warning("machine %s was %s when the previous daemon ended, and is no "
				  "longer configured: stop it by hand",
				  row->name, nbx_machine_activity_name(row->activity));
			continue;
		}
		/* Locked, so nothing is scheduled on it before it is stopped. */
		machine->in_use = TRUE;
		g_ptr_array_add(left_running, machine);
	}
	if (left_running->len == 0) {
		schedule_soon(scheduler);
		return TRUE;
	}
	scheduler->recovering = TRUE;
	stop_in_background(scheduler, left_running, NULL);
	return TRUE;
}

/* ---- public ------------------------------------------------------------------------------ */

NbxScheduler *
nbx_scheduler_new(NbxSetup *setup, NbxStore *store, GError **error)
{
	NbxScheduler *scheduler = g_new0(NbxScheduler, 1);

	scheduler->setup = setup;
	scheduler->store = store;
	scheduler->thread = g_thread_self();
	scheduler->started_us = g_get_monotonic_time();
	scheduler->analyses = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
						    (GDestroyNotify)nbx_analysis_unref);
	scheduler->wedged = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_analysis_unref);
	scheduler->by_machine = g_hash_table_new(NULL, NULL);
	g_mutex_init(&scheduler->by_machine_lock);
	scheduler->samples_dir = g_build_filename(setup->config->state_dir, "samples", NULL);
	read_settings(scheduler, setup);
	nbx_restore_gate_init(&scheduler->gate,
			      core_integer(setup, "scheduler.max_concurrent_restores", 2));
	sync_machines(scheduler, setup);
	if (!recover(scheduler, error)) {
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
		scheduler->setup->pool->state_listener = NULL;
	g_hash_table_unref(scheduler->analyses);
	g_ptr_array_unref(scheduler->wedged);
	g_hash_table_unref(scheduler->by_machine);
	g_mutex_clear(&scheduler->by_machine_lock);
	nbx_restore_gate_clear(&scheduler->gate);
	nbx_setup_free(scheduler->pending_setup);
	g_free(scheduler->samples_dir);
	g_free(scheduler);
}

NbxSetup *
nbx_scheduler_get_setup(NbxScheduler *scheduler)
{
	return scheduler->setup;
}

NbxStore *
nbx_scheduler_get_store(NbxScheduler *scheduler)
{
	return scheduler->store;
}

/*
 * The new configuration is applied when no analysis runs on the old one:
 * a plugin instance is never replaced under a machine it is driving.
 */
static void
swap_pending_setup(NbxScheduler *scheduler)
{
	NbxSetup *old = scheduler->setup;

	old->pool->state_listener = NULL;
	scheduler->setup = g_steal_pointer(&scheduler->pending_setup);
	read_settings(scheduler, scheduler->setup);
	g_mutex_lock(&scheduler->gate.lock);
	scheduler->gate.limit = MAX(core_integer(scheduler->setup,
						 "scheduler.max_concurrent_restores", 2), 1);
	g_mutex_unlock(&scheduler->gate.lock);
	sync_machines(scheduler, scheduler->setup);
	g_free(scheduler->samples_dir);
	scheduler->samples_dir =
		g_build_filename(scheduler->setup->config->state_dir, "samples", NULL);
	nbx_setup_free(old);
	g_message("new configuration in effect: %u machines",
		  scheduler->setup->pool->machines->len);
}

void
nbx_scheduler_set_snapshots(NbxScheduler *scheduler, NbxSnapshotManager *snapshots)
{
	scheduler->snapshots = snapshots;
	scheduler->settings.snapshots = snapshots;
}

NbxPoolMachine *
nbx_scheduler_hold_machine(NbxScheduler *scheduler, const char *name, GError **error)
{
	NbxMachineRequest request = { .name = name };

	/* The pool has its own lock; the setup is not swapped while snapshots are busy. */
	return nbx_machine_pool_acquire(scheduler->setup->pool, &request, error);
}

static gboolean
kick(gpointer data)
{
	schedule_soon(data);
	return G_SOURCE_REMOVE;
}

void
nbx_scheduler_unhold_machine(NbxScheduler *scheduler, NbxPoolMachine *machine)
{
	nbx_machine_pool_release(scheduler->setup->pool, machine);
	/* Queued tasks may have waited for it; schedule() runs on the main thread only. */
	g_autoptr(GSource) source = g_idle_source_new();

	g_source_set_callback(source, kick, scheduler, NULL);
	g_source_attach(source, NULL);
}

void
nbx_scheduler_replace_setup(NbxScheduler *scheduler, NbxSetup *setup)
{
	nbx_setup_free(scheduler->pending_setup);
	scheduler->pending_setup = setup;
	if (g_hash_table_size(scheduler->analyses) > 0 || scheduler->wedged->len > 0)
		g_message("the new configuration takes effect when the running analyses end");
	schedule_soon(scheduler);
}

static gboolean
option_name_is_valid(const char *name)
{
	if (!g_ascii_islower(name[0]))
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_' && *p != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean
validate_options(NbxScheduler *scheduler, const char *options_json, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	g_autoptr(GList) names = NULL;
	JsonObject *object;

	if (!json_parser_load_from_data(parser, options_json, -1, &local)) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
			    "options: not JSON: %s", local->message);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
			    "options: must be an object of auxiliary names");
		return FALSE;
	}
	object = json_node_get_object(json_parser_get_root(parser));
	names = json_object_get_members(object);
	for (GList *l = names; l != NULL; l = l->next) {
		const char *name = l->data;
		JsonNode *member = json_object_get_member(object, name);
		gboolean enabled = FALSE;
		g_autoptr(GList) keys = NULL;

		for (guint i = 0; i < scheduler->setup->auxiliaries->len; i++)
			enabled |= g_strcmp0(nbx_plugin_instance_name(g_ptr_array_index(
						     scheduler->setup->auxiliaries, i)),
					     name) == 0;
		if (!enabled) {
			g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
				    "options.%s: no auxiliary named \"%s\" is enabled", name, name);
			return FALSE;
		}
		if (!JSON_NODE_HOLDS_OBJECT(member)) {
			g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
				    "options.%s: must be an object of strings", name);
			return FALSE;
		}
		keys = json_object_get_members(json_node_get_object(member));
		for (GList *k = keys; k != NULL; k = k->next) {
			JsonNode *value = json_object_get_member(json_node_get_object(member),
								 k->data);

			if (!option_name_is_valid(k->data)) {
				g_set_error(error, NBX_SCHEDULER_ERROR,
					    NBX_SCHEDULER_ERROR_INVALID,
					    "options.%s.%s: option names are [a-z][a-z0-9_-]*", name,
					    (const char *)k->data);
				return FALSE;
			}
			if (!JSON_NODE_HOLDS_VALUE(value) ||
			    json_node_get_value_type(value) != G_TYPE_STRING) {
				g_set_error(error, NBX_SCHEDULER_ERROR,
					    NBX_SCHEDULER_ERROR_INVALID,
					    "options.%s.%s: must be a string", name,
					    (const char *)k->data);
				return FALSE;
			}
		}
	}
	/* Well formed: now what each auxiliary says of its own (a route not offered...). */
	return nbx_task_options_check(scheduler->setup->auxiliaries, object, error);
}

/*
 * Samples are kept once, by content: state_dir/samples/SHA256. The upload
 * is already synced; renaming it is atomic, so a sample is whole or absent.
 */
static char *
store_sample(NbxScheduler *scheduler, const NbxSubmission *submission, GError **error)
{
	g_autofree char *path =
		g_build_filename(scheduler->samples_dir, submission->sample_sha256, NULL);

	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_unlink(submission->sample_file);
		return g_steal_pointer(&path);
	}
	if (g_rename(submission->sample_file, path) != 0) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_FAILED,
			    "cannot move the sample to %s: %s", path, g_strerror(errno));
		return NULL;
	}
	return g_steal_pointer(&path);
}

const char *
nbx_scheduler_get_samples_dir(NbxScheduler *scheduler)
{
	return scheduler->samples_dir;
}

static gboolean
insert_task(NbxScheduler *scheduler, NbxTask *task, const NbxSubmission *submission,
	    GError **error)
{
	if (submission != NULL && submission->idempotency_key != NULL)
		return nbx_store_task_insert_keyed(scheduler->store, task,
						   submission->idempotency_key,
						   submission->request_digest,
						   submission->keys_expired_us, error);
	return nbx_store_task_insert(scheduler->store, task, error);
}

NbxTask *
nbx_scheduler_submit(NbxScheduler *scheduler, const NbxTask *request,
		     const NbxSubmission *submission, GError **error)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(GError) no_match = NULL;
	NbxMachineRequest machine_request;

	if (scheduler->shutting_down) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_CONFLICT,
			    "nestboxd is shutting down and takes no new tasks");
		return NULL;
	}
	if (request->duration_s < 0 || request->duration_s > scheduler->max_duration) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_INVALID,
			    "duration: must be between 1 and %" G_GINT64_FORMAT
			    " seconds (scheduler.max_duration), not %" G_GINT64_FORMAT,
			    scheduler->max_duration, request->duration_s);
		return NULL;
	}
	if (request->options_json != NULL && !validate_options(scheduler, request->options_json, error))
		return NULL;

	task->priority = request->priority;
	task->created_us = g_get_real_time();
	task->target_name = g_strdup(request->target_name);
	task->machine = g_strdup(request->machine);
	task->platform = g_strdup(request->platform);
	task->os_version = g_strdup(request->os_version);
	task->architecture = g_strdup(request->architecture);
	g_strfreev(task->tags);
	task->tags = g_strdupv(request->tags != NULL ? request->tags : (char *[]){ NULL });
	task->duration_s = request->duration_s > 0 ? request->duration_s
						   : scheduler->default_duration;
	task->memory_dump = request->memory_dump;
	task->debug = request->debug;
	task->options_json = g_strdup(request->options_json);
	if (submission != NULL && submission->sample_file != NULL) {
		task->target = store_sample(scheduler, submission, error);
		if (task->target == NULL)
			return NULL;
	}

	machine_request = request_of(scheduler, task);
	if (!nbx_machine_pool_could_serve(scheduler->setup->pool, &machine_request, &no_match)) {
		/* Stored anyway, failed at once: the submitter sees why, nothing waits forever. */
		task->state = NBX_TASK_FAILED;
		task->ended_us = task->created_us;
		task->reason = g_strdup(no_match->message);
	}
	if (!insert_task(scheduler, task, submission, error))
		return NULL;
	event(scheduler, task->id, NULL, "task.submitted", "priority %" G_GINT64_FORMAT,
	      task->priority);
	if (task->state == NBX_TASK_FAILED) {
		event(scheduler, task->id, NULL, "task.ended", "failed: %s", task->reason);
		g_message("task %" G_GINT64_FORMAT " failed: %s", task->id, task->reason);
	} else {
		schedule_soon(scheduler);
	}
	return g_steal_pointer(&task);
}

gboolean
nbx_scheduler_cancel(NbxScheduler *scheduler, gint64 task_id, GError **error)
{
	g_autoptr(NbxTask) task = nbx_store_task_get(scheduler->store, task_id, error);
	g_autoptr(GError) local = NULL;
	NbxAnalysis *analysis;

	if (task == NULL) {
		if (error != NULL && g_error_matches(*error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND)) {
			g_clear_error(error);
			g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND,
				    "no task %" G_GINT64_FORMAT, task_id);
		}
		return FALSE;
	}
	if (nbx_task_state_is_final(task->state)) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_CONFLICT,
			    "task %" G_GINT64_FORMAT " has already ended (%s)", task_id,
			    nbx_task_state_name(task->state));
		return FALSE;
	}
	/*
	 * In the store before it is acknowledged: whatever ends this daemon from
	 * here on (kill -9, a shutdown that times out), the next one ends the
	 * task cancelled instead of running it again.
	 */
	if (!nbx_store_task_request_cancel(scheduler->store, task_id, &local)) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_FAILED,
			    "task %" G_GINT64_FORMAT " is not cancelled: %s", task_id,
			    local->message);
		return FALSE;
	}
	analysis = g_hash_table_lookup(scheduler->analyses, &task_id);
	if (analysis != NULL) {
		nbx_analysis_interrupt(analysis, NBX_TASK_CANCELLED, "cancelled by the operator");
		event(scheduler, task_id, NULL, "task.cancel", "cancel requested");
		return TRUE;
	}
	end_task(scheduler, task, NBX_TASK_CANCELLED, "cancelled by the operator");
	return TRUE;
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
		NbxPoolMachine *machine = g_ptr_array_index(pool->machines, i);
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
			nbx_machine_state_name(nbx_machine_pool_get_state(pool, machine, NULL)));
		status->activity = g_strdup(nbx_machine_activity_name(
			stored != NULL ? stored->activity : NBX_MACHINE_ACTIVITY_IDLE));
		status->task_id = stored != NULL ? stored->task_id : 0;
		g_mutex_lock(&pool->lock);
		status->disabled_reason = g_strdup(machine->disabled_reason);
		g_mutex_unlock(&pool->lock);
		status->failures = stored != NULL ? stored->failures : 0;
		g_ptr_array_add(list, status);
	}
	return list;
}

gboolean
nbx_scheduler_set_machine_disabled(NbxScheduler *scheduler, const char *name, const char *reason,
				   GError **error)
{
	NbxPoolMachine *machine = nbx_machine_pool_lookup(scheduler->setup->pool, name);

	if (machine == NULL) {
		g_set_error(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND,
			    "no machine named \"%s\" is configured", name);
		return FALSE;
	}
	if (reason != NULL) {
		disable_machine(scheduler, machine, reason);
		return TRUE;
	}
	nbx_machine_pool_set_disabled(scheduler->setup->pool, machine, NULL);
	if (!nbx_store_machine_set_disabled(scheduler->store, name, NULL, error))
		return FALSE;
	event(scheduler, 0, name, "machine.enabled", "enabled by the operator");
	g_message("machine %s enabled", name);
	schedule_soon(scheduler);
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
	g_mutex_lock(&pool->lock);
	for (guint i = 0; i < pool->machines->len; i++) {
		NbxPoolMachine *machine = g_ptr_array_index(pool->machines, i);

		if (machine->disabled_reason != NULL)
			health->machines_disabled++;
		else if (!machine->in_use)
			health->machines_free++;
	}
	g_mutex_unlock(&pool->lock);
	health->shutting_down = scheduler->shutting_down;
	health->uptime_s = (g_get_monotonic_time() - scheduler->started_us) / G_USEC_PER_SEC;
}

static gboolean
on_shutdown_timeout(gpointer data)
{
	NbxScheduler *scheduler = data;
	NbxSchedulerDoneFunc done = scheduler->shutdown_done;

	scheduler->shutdown_timer = 0;
	scheduler->shutdown_done = NULL;
	g_warning("%u analyses did not stop in time; the next start recovers them",
		  g_hash_table_size(scheduler->analyses));
	if (done != NULL)
		done(scheduler->shutdown_data);
	return G_SOURCE_REMOVE;
}

void
nbx_scheduler_shutdown(NbxScheduler *scheduler, gint64 timeout_s, NbxSchedulerDoneFunc done,
		       gpointer user_data)
{
	GHashTableIter iter;
	gpointer value;

	scheduler->shutting_down = TRUE;
	scheduler->shutdown_done = done;
	scheduler->shutdown_data = user_data;
	g_hash_table_iter_init(&iter, scheduler->analyses);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		nbx_analysis_interrupt(value, NBX_TASK_QUEUED,
				       "interrupted by a shutdown of nestboxd; it will run again");
	if (g_hash_table_size(scheduler->analyses) > 0)
		g_message("stopping %u running analyses (at most %" G_GINT64_FORMAT " s)",
			  g_hash_table_size(scheduler->analyses), timeout_s);
	scheduler->shutdown_timer = g_timeout_add_seconds((guint)timeout_s, on_shutdown_timeout,
							  scheduler);
	maybe_finish_shutdown(scheduler);
}

gboolean
nbx_scheduler_is_idle(NbxScheduler *scheduler)
{
	return g_hash_table_size(scheduler->analyses) == 0 && scheduler->wedged->len == 0 &&
	       !scheduler->recovering;
}
