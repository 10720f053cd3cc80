/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tasks coming in and called off: a submission checked, its sample stored
 * by its SHA-256, the task stored (or ended at once when no machine could
 * ever serve it); a cancel of a queued or running task.
 */
#include "scheduler_private.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "guest_task_options.h"
#include "structured_log.h"
#include "task_options.h"

/* Every option a plugin will read, typed and checked now: a bad one is the client's 400. */
static gboolean
validate_options(NbxScheduler *scheduler, const char *options_json, GError **error)
{
	return nbx_task_options_check(scheduler->setup, options_json, error);
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

/* The task and its task.submitted event, in one durable commit. */
static gboolean
insert_task(NbxScheduler *scheduler, NbxTask *task, const NbxSubmission *submission,
	    GError **error)
{
	g_autofree char *priority = g_strdup_printf("priority %" G_GINT64_FORMAT, task->priority);
	const NbxStoreNote submitted = { NULL, "task.submitted", priority };
	gboolean keyed = submission != NULL && submission->idempotency_key != NULL;

	return nbx_store_task_insert_noting(scheduler->store, task,
					    keyed ? submission->idempotency_key : NULL,
					    keyed ? submission->request_digest : NULL,
					    keyed ? submission->keys_expired_us : 0, &submitted, error);
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

	machine_request = nbx_scheduler_request_of(scheduler, task);
	if (!nbx_machine_pool_could_serve(scheduler->setup->pool, &machine_request, &no_match)) {
		/* Stored anyway, failed at once: the submitter sees why, nothing waits forever. */
		task->state = NBX_TASK_FAILED;
		task->ended_us = task->created_us;
		task->reason = g_strdup(no_match->message);
	}
	if (!insert_task(scheduler, task, submission, error))
		return NULL;
	if (task->state == NBX_TASK_FAILED) {
		nbx_scheduler_event(scheduler, task->id, NULL, "task.ended", "failed: %s", task->reason);
		nbx_message(&(NbxLogFields){ .task_id = task->id }, "task %" G_GINT64_FORMAT
			    " failed: %s", task->id, task->reason);
	} else {
		nbx_scheduler_schedule_soon(scheduler);
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
		nbx_scheduler_event(scheduler, task_id, NULL, "task.cancel", "cancel requested");
		return TRUE;
	}
	nbx_scheduler_end_task(scheduler, task, NBX_TASK_CANCELLED, "cancelled by the operator");
	return TRUE;
}
