/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler's state as its parts share it (scheduler_private.h): its
 * error domain, a task's end, what a task asks of the pool, and the wake-up
 * of its pass over the queue, which scheduler_queue.c hands in. Below every
 * other part of the scheduler; it calls none of them.
 */
#include "scheduler_private.h"

#include "structured_log.h"

G_DEFINE_QUARK(nbx-scheduler-error-quark, nbx_scheduler_error)

/* ---- tasks ---- */

void
nbx_scheduler_end_task(NbxScheduler *scheduler, NbxTask *task, NbxTaskState state, const char *reason)
{
	g_autoptr(GError) error = NULL;
	/* @reason may be task->reason itself. */
	char *copy = g_strdup(reason);
	g_autofree char *ended = NULL;

	task->state = state;
	task->ended_us = g_get_real_time();
	g_free(task->reason);
	task->reason = copy;
	reason = copy;
	ended = g_strdup_printf("%s%s%s", nbx_task_state_name(state), reason != NULL ? ": " : "",
				reason != NULL ? reason : "");
	/* The event in the task's durable commit. */
	if (!nbx_store_task_update_noting(scheduler->store, task,
					  &(NbxStoreNote){ task->assigned_machine, "task.ended", ended },
					  &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", task->id, error->message);
	nbx_message(&(NbxLogFields){ .task_id = task->id, .machine = task->assigned_machine },
		    "task %" G_GINT64_FORMAT " %s%s%s", task->id, nbx_task_state_name(state),
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

NbxMachineRequest
nbx_scheduler_request_of(NbxScheduler *scheduler, const NbxTask *task)
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

/* ---- the pass over the queue, asked for ---- */

void
nbx_scheduler_schedule_soon(NbxScheduler *scheduler)
{
	if (scheduler->schedule_source == 0)
		scheduler->schedule_source = g_idle_add(scheduler->schedule, scheduler);
}

/* ---- what it holds ---- */

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

void
nbx_scheduler_set_snapshots(NbxScheduler *scheduler, NbxSnapshotManager *snapshots)
{
	scheduler->snapshots = snapshots;
	scheduler->settings.snapshots = snapshots;
}

NbxSnapshotManager *
nbx_scheduler_get_snapshots(NbxScheduler *scheduler)
{
	return scheduler->snapshots;
}
