/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One analysis's thread and what it ends with; its parts are in the files
 * analysis_private.h lists.
 */
#include "analysis_private.h"

#include "guest_setup.h"
#include "report.h"
#include "task_options.h"

/* ---- reference counting --------------------------------------------------- */

NbxAnalysis *
nbx_analysis_ref(NbxAnalysis *analysis)
{
	g_atomic_int_inc(&analysis->refs);
	return analysis;
}

void
nbx_analysis_unref(NbxAnalysis *analysis)
{
	if (analysis == NULL || !g_atomic_int_dec_and_test(&analysis->refs))
		return;
	if (analysis->thread != NULL)
		g_thread_unref(analysis->thread);
	nbx_task_free(analysis->task);
	config_destroy(&analysis->options);
	g_free(analysis->interrupt_reason);
	g_free(analysis->death);
	g_free(analysis->early_death);
	g_free(analysis->failure);
	g_free(analysis->generation_dir);
	g_free(analysis->outcome.reason);
	g_free(analysis->outcome.machine_failure);
	json_array_unref(analysis->steps);
	g_ptr_array_unref(analysis->aux_runs);
	nbx_guest_run_unref(analysis->guest);
	g_mutex_clear(&analysis->lock);
	g_cond_clear(&analysis->cond);
	g_free(analysis);
}

gint64
nbx_analysis_task_id(const NbxAnalysis *analysis)
{
	return analysis->task->id;
}

const NbxTask *
nbx_analysis_task(const NbxAnalysis *analysis)
{
	return analysis->task;
}

NbxMachine *
nbx_analysis_machine(const NbxAnalysis *analysis)
{
	return analysis->machine;
}

const NbxAnalysisOutcome *
nbx_analysis_outcome(const NbxAnalysis *analysis)
{
	return &analysis->outcome;
}

/* ---- interruptions ----------------------------------------------------------- */

void
nbx_analysis_interrupt(NbxAnalysis *analysis, NbxTaskState state, const char *reason)
{
	g_mutex_lock(&analysis->lock);
	/* A cancel is final: it also overrides a shutdown's "run it again". */
	if (!analysis->interrupted ||
	    (state == NBX_TASK_CANCELLED && analysis->interrupt_state != NBX_TASK_CANCELLED)) {
		analysis->interrupted = TRUE;
		analysis->interrupt_state = state;
		g_free(analysis->interrupt_reason);
		analysis->interrupt_reason = g_strdup(reason);
	}
	g_cond_broadcast(&analysis->cond);
	g_mutex_unlock(&analysis->lock);
}

void
nbx_analysis_machine_state(NbxAnalysis *analysis, gint32 state, const char *reason)
{
	gboolean down = state == NBX_MACHINE_POWEROFF || state == NBX_MACHINE_ERROR;
	g_autofree char *death = NULL;

	if (!down && state != NBX_MACHINE_RUNNING)
		return;
	death = g_strdup_printf("machine %s went %s during the analysis%s%s",
				analysis->machine->machine.name, nbx_machine_state_name(state),
				reason != NULL ? ": " : "", reason != NULL ? reason : "");
	g_mutex_lock(&analysis->lock);
	/* RUNNING is entered and left under the analysis's lock (analysis_machine.c). */
	if (nbx_machine_get_state(analysis->machine) != NBX_MACHINE_STATE_RUNNING) {
		/* Only a "down" after this analysis's own "running": not the last run's stop. */
		analysis->seen_running |= state == NBX_MACHINE_RUNNING;
		if (down && analysis->seen_running && analysis->early_death == NULL)
			analysis->early_death = g_steal_pointer(&death);
	} else if (down && analysis->death == NULL) {
		analysis->death = g_steal_pointer(&death);
		g_cond_broadcast(&analysis->cond);
	}
	g_mutex_unlock(&analysis->lock);
}

gboolean
nbx_analysis_cut_short(NbxAnalysis *analysis)
{
	gboolean cut;

	g_mutex_lock(&analysis->lock);
	cut = analysis->interrupted || analysis->death != NULL;
	g_mutex_unlock(&analysis->lock);
	return cut;
}

/*
 * Sleeps until @until (monotonic) unless interrupted or the machine dies.
 * TRUE when the whole time passed.
 */
gboolean
nbx_analysis_wait_until(NbxAnalysis *analysis, gint64 until)
{
	gboolean cut;

	g_mutex_lock(&analysis->lock);
	while (!(cut = analysis->interrupted || analysis->death != NULL) &&
	       g_cond_wait_until(&analysis->cond, &analysis->lock, until))
		;
	g_mutex_unlock(&analysis->lock);
	return !cut;
}


typedef struct {
	NbxAnalysis *analysis;
	NbxAnalysisFunc func;
} Post;

static gboolean
run_post(gpointer data)
{
	Post *post = data;

	post->func(post->analysis, post->analysis->callbacks.user_data);
	return G_SOURCE_REMOVE;
}

static void
post_free(gpointer data)
{
	Post *post = data;

	nbx_analysis_unref(post->analysis);
	g_free(post);
}

/* Calls @func(analysis) on the main thread, holding a reference until then. */
void
nbx_analysis_post_to_main(NbxAnalysis *analysis, NbxAnalysisFunc func)
{
	Post *post = g_new(Post, 1);

	post->analysis = nbx_analysis_ref(analysis);
	post->func = func;
	/*
	 * Not g_main_context_invoke(): it runs the function right here, on
	 * this thread, whenever nobody owns the main context at that moment.
	 */
	g_autoptr(GSource) source = g_idle_source_new();

	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, run_post, post, post_free);
	g_source_attach(source, NULL);
}

/* ---- the thread ------------------------------------------------------------------ */

static void
settle(NbxAnalysis *analysis)
{
	NbxTask *task = analysis->task;
	NbxAnalysisOutcome *outcome = &analysis->outcome;
	gboolean died;

	g_mutex_lock(&analysis->lock);
	died = analysis->death != NULL;
	if (analysis->interrupted) {
		outcome->state = analysis->interrupt_state;
		outcome->reason = g_strdup(analysis->interrupt_reason);
	}
	g_mutex_unlock(&analysis->lock);

	if (outcome->reason == NULL && analysis->failure != NULL) {
		if (died && analysis->settings.retry_on_machine_death &&
		    task->attempts < analysis->settings.max_attempts) {
			outcome->state = NBX_TASK_QUEUED;
			outcome->reason = g_strdup_printf("%s; it will run again", analysis->failure);
		} else {
			outcome->state = NBX_TASK_FAILED;
			outcome->reason = g_strdup(analysis->failure);
		}
	} else if (outcome->reason == NULL) {
		outcome->state = NBX_TASK_REPORTED;
	}
	task->state = outcome->state;
	g_free(task->reason);
	task->reason = g_strdup(outcome->reason);
	if (outcome->state == NBX_TASK_QUEUED) {
		/* A shutdown is not the task's fault: it does not use up an attempt. */
		if (analysis->interrupted)
			task->attempts = MAX(task->attempts - 1, 0);
		task->started_us = 0;
	} else {
		task->ended_us = g_get_real_time();
	}
}

/* The machine's guest plugin, if it has one, gets its part of the analysis. */
static gboolean
guest_prepare(NbxAnalysis *analysis)
{
	const NbxSettings *settings = &analysis->setup->config->settings;
	g_autoptr(GError) error = NULL;
	NbxPluginInstance *guest = nbx_guest_setup_lookup(analysis->setup, analysis->machine, &error);
	NbxGuestLimits limits = {
		.connect_s = analysis->settings.timeouts.agent,
		.op_s = analysis->settings.timeouts.guest,
		.grace_s = analysis->settings.grace_s,
		.max_files = settings->guest.max_files,
		.max_file_bytes = settings->guest.max_file_mb << 20,
		.max_output_bytes = settings->guest.max_output_kb << 10,
	};
	config_setting_t *options;

	if (error != NULL) {
		nbx_analysis_step_now(analysis, "guest", error->message);
		nbx_analysis_fail(analysis, error->message);
		return FALSE;
	}
	if (guest == NULL)
		return TRUE;
	options = config_setting_get_member(config_root_setting(&analysis->options),
					    nbx_plugin_instance_name(guest));
	analysis->guest = nbx_guest_run_new(guest, analysis->task, &analysis->machine->machine,
					    NBX_NODE(options), &limits, &nbx_analysis_for_guest,
					    analysis);
	return TRUE;
}

static gpointer
analysis_thread(gpointer data)
{
	NbxAnalysis *analysis = data;
	gboolean started = FALSE;
	gboolean cycled = FALSE;

	if (nbx_analysis_make_dir(analysis) && guest_prepare(analysis)) {
		nbx_analysis_auxiliaries_prepare(analysis);
		if (nbx_analysis_auxiliaries_start(analysis) && !nbx_analysis_cut_short(analysis)) {
			started = nbx_analysis_start_machine(analysis);
			if (started && analysis->guest != NULL) {
				if (nbx_guest_run_begin(analysis->guest) &&
				    analysis->failure == NULL && !nbx_analysis_cut_short(analysis))
					nbx_analysis_run_duration(analysis);
				/* Before the machine stops: fetch, then disconnect. */
				nbx_guest_run_end(analysis->guest);
			} else if (started) {
				if (analysis->machine->machine.agent_port > 0)
					nbx_analysis_wait_for_agent(analysis);
				if (analysis->failure == NULL && !nbx_analysis_cut_short(analysis))
					nbx_analysis_run_duration(analysis);
			}
			if (started) {
				if (analysis->task->memory_dump && !nbx_analysis_cut_short(analysis) &&
				    analysis->failure == NULL)
					nbx_analysis_dump_memory(analysis);
			}
			/* After a failed restore too: a machinery may have left something. */
			if (!nbx_analysis_machine_wedged(analysis)) {
				gboolean failed_before = analysis->outcome.machine_failure != NULL;

				nbx_analysis_stop_machine(analysis, started);
				cycled = started && !failed_before &&
					 analysis->outcome.machine_failure == NULL;
			}
		}
		nbx_analysis_auxiliaries_stop(analysis);
	}
	/* The machine is down (or wedged, and then its disk stays open anyway). */
	if (analysis->generation_in_use)
		nbx_snapshot_manager_unuse(analysis->settings.snapshots, analysis->machine,
					   analysis->generation);
	settle(analysis);
	analysis->outcome.machine_cycled = cycled;
	nbx_analysis_write_report(analysis);

	g_mutex_lock(&analysis->lock);
	analysis->outcome.machine_wedged = analysis->machine_op_pending;
	analysis->finished = TRUE;
	g_mutex_unlock(&analysis->lock);
	nbx_analysis_post_to_main(analysis, analysis->callbacks.finished);
	nbx_analysis_unref(analysis);
	return NULL;
}

/*
 * Per-task options as libconfig groups, so plugins read them with the
 * host's look-ups; typed as at submission (task_options.h). A reload
 * between the two may have changed a plugin's schema: what no longer fits
 * stops there, and the plugin sees the options made before it.
 */
static void
load_options(NbxAnalysis *analysis)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_task_options_build(analysis->setup, analysis->task->options_json,
				    config_root_setting(&analysis->options), &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

NbxAnalysis *
nbx_analysis_start(NbxSetup *setup, NbxStore *store, NbxMachine *machine, const NbxTask *task,
		   const NbxAnalysisSettings *settings, NbxRestoreGate *gate,
		   const NbxAnalysisCallbacks *callbacks)
{
	NbxAnalysis *analysis = g_new0(NbxAnalysis, 1);
	g_autofree char *running = NULL;

	analysis->refs = 1;
	analysis->setup = setup;
	analysis->store = store;
	analysis->machine = machine;
	analysis->task = nbx_task_copy(task);
	analysis->settings = *settings;
	analysis->gate = gate;
	analysis->callbacks = *callbacks;
	analysis->steps = json_array_new();
	analysis->aux_runs = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_aux_run_free);
	g_mutex_init(&analysis->lock);
	g_cond_init(&analysis->cond);
	config_init(&analysis->options);
	load_options(analysis);

	analysis->task->state = NBX_TASK_RUNNING;
	analysis->task->started_us = g_get_real_time();
	analysis->task->attempts++;
	g_free(analysis->task->assigned_machine);
	analysis->task->assigned_machine = g_strdup(machine->machine.name);
	g_clear_pointer(&analysis->task->reason, g_free);
	running = g_strdup_printf("attempt %" G_GINT64_FORMAT " on machine %s",
				  analysis->task->attempts, machine->machine.name);
	nbx_analysis_store_task(analysis, "task.running", running);

	analysis->thread = g_thread_new("nbx-analysis", analysis_thread, nbx_analysis_ref(analysis));
	return analysis;
}
