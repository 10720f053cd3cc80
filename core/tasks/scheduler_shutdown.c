/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler's shutdown: the analyses interrupted, the runs made ahead
 * discarded (scheduler_prepared.c), and done() once all of that is over or
 * the time is up.
 */
#include "scheduler_private.h"

void
nbx_scheduler_maybe_finish_shutdown(NbxScheduler *scheduler)
{
	NbxSchedulerDoneFunc done = scheduler->shutdown_done;

	if (!scheduler->shutting_down || done == NULL || g_hash_table_size(scheduler->analyses) > 0 ||
	    scheduler->recovering || nbx_scheduler_discard_all_prepared(scheduler))
		return;
	scheduler->shutdown_done = NULL;
	g_clear_handle_id(&scheduler->shutdown_timer, g_source_remove);
	done(scheduler->shutdown_data);
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
	/* Runs made ahead go too (maybe_finish_shutdown waits for them). */
	nbx_scheduler_maybe_finish_shutdown(scheduler);
}
