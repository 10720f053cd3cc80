/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task: one request to analyse (a file or nothing) on a machine that
 * matches, and what became of it. The same record is what the store keeps,
 * what the control API shows and what the task runner updates.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef enum {
	/* Accepted, waiting for a machine. */
	NBX_TASK_QUEUED = 0,
	/* An analysis is running it (`step` says where). */
	NBX_TASK_RUNNING = 1,
	/* Done: report.json is written. */
	NBX_TASK_REPORTED = 2,
	/* Ended without a full analysis; `reason` says why. */
	NBX_TASK_FAILED = 3,
	/* Cancelled by a user before it ended. */
	NBX_TASK_CANCELLED = 4,
} NbxTaskState;

#define NBX_TASK_STATE_LAST NBX_TASK_CANCELLED

typedef struct {
	gint64 id; /* > 0 once stored */
	NbxTaskState state;
	/* Higher runs first; equal priorities run oldest first. */
	gint64 priority;
	/* Wall-clock microseconds (g_get_real_time()); 0 = not yet. */
	gint64 created_us;
	gint64 started_us;
	gint64 ended_us;

	/* The stored copy of the submitted file, or NULL for none. */
	char *target;
	/* The file's name as submitted (no directory part), or NULL. */
	char *target_name;

	/* What the task asks for; NULL / empty match anything. */
	char *machine; /* a machine's name or label */
	char *platform;
	char *os_version;
	char *architecture;
	char **tags; /* NULL-terminated, never NULL */

	gint64 duration_s;
	gboolean memory_dump;
	gboolean debug;
	/* Per-auxiliary options, a JSON object of objects of strings
	 * ({"sniffer": {"bpf": "tcp"}}), or NULL. */
	char *options_json;

	/* Filled by the runner. */
	char *assigned_machine; /* machine's name, or NULL */
	char *analysis_dir;	/* or NULL */
	char *step;		/* current or last step, or NULL */
	char *reason;		/* why it failed / was cancelled / was requeued */
	gint64 attempts;	/* analyses started for it so far */
	/*
	 * When an operator's cancel was recorded (wall-clock microseconds), 0
	 * for none. Read from the store; written only by
	 * nbx_store_task_request_cancel(), never by a task update.
	 */
	gint64 cancel_requested_us;
} NbxTask;

NbxTask *nbx_task_new(void);
NbxTask *nbx_task_copy(const NbxTask *task);
void nbx_task_free(NbxTask *task);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxTask, nbx_task_free)

/* "queued", "running", ... and back; -1 for an unknown name. */
const char *nbx_task_state_name(NbxTaskState state);
int nbx_task_state_from_name(const char *name);
gboolean nbx_task_state_is_final(NbxTaskState state);

/*
 * Wall-clock microseconds as ISO 8601 UTC ("2026-11-23T10:00:00.000000Z"),
 * or NULL for a time GDateTime cannot hold.
 */
char *nbx_format_time_us(gint64 us);

/* The task as the control API shows it (timestamps as ISO 8601 UTC). */
JsonNode *nbx_task_to_json(const NbxTask *task);
