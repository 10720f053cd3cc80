/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One analysis as its parts share it: its references, what the scheduler
 * reads of it, its interruptions and the machine's death, the waits they
 * cut short, and calls posted to the main thread. Below every other part
 * (analysis_private.h lists them); the thread that drives them is in
 * analysis_thread.c.
 */
#include "analysis_private.h"

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
