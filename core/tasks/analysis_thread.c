/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One analysis's thread and what it ends with, on top of its parts (the
 * files analysis_private.h lists).
 */
#include "analysis_private.h"

#include "guest_setup.h"
#include "report.h"
#include "task_options.h"

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
