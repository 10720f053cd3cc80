/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler: accepts tasks into the store, hands queued tasks to free
 * machines (priority, then age; least recently used machine among equals),
 * runs each analysis on a thread of its own (analysis.c), counts machine
 * failures and disables a machine that keeps failing, recovers what a
 * previous daemon left behind, and drains on shutdown.
 *
 * Every function here is called on the main thread (the control API's and
 * the signal handlers' thread); the analysis threads report back through
 * the main context.
 */
#pragma once

#include <glib.h>

#include "daemon_setup.h"
#include "snapshot_manager.h"
#include "store.h"
#include "task.h"

#define NBX_SCHEDULER_ERROR (nbx_scheduler_error_quark())
GQuark nbx_scheduler_error_quark(void);

typedef enum {
	/* A request field is wrong; the message names the field first ("tags: ..."). */
	NBX_SCHEDULER_ERROR_INVALID,
	NBX_SCHEDULER_ERROR_NOT_FOUND,
	/* The task has already ended / the daemon is shutting down. */
	NBX_SCHEDULER_ERROR_CONFLICT,
	NBX_SCHEDULER_ERROR_FAILED,
} NbxSchedulerError;

typedef struct _NbxScheduler NbxScheduler;

/* One machine as the control API lists it. */
typedef struct {
	char *name;
	char *machinery;
	char *label;
	char *ip;
	char *platform;
	char *os_version;   /* or NULL */
	char *architecture; /* or NULL */
	char **tags;
	/* What the hypervisor last said: "running", "poweroff", ... */
	char *state;
	/* What the core is doing with it: "idle", "starting", ... */
	char *activity;
	gint64 task_id;	       /* 0 when free */
	char *disabled_reason; /* NULL when enabled */
	gint64 failures;       /* consecutive failed operations */
} NbxMachineStatus;

void nbx_machine_status_free(NbxMachineStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxMachineStatus, nbx_machine_status_free)

typedef struct {
	gint64 queued;
	gint64 running;
	gint64 machines;
	gint64 machines_free;
	gint64 machines_disabled;
	gboolean shutting_down;
	gint64 uptime_s;
} NbxSchedulerHealth;

/*
 * Takes @setup and @store (borrowed: both must outlive the scheduler) and
 * recovers what a previous daemon left: tasks it was running are re-queued
 * (or failed once they used up their attempts) with the reason, machines
 * it may have left running are stopped, in the background; scheduling
 * starts when that is done.
 */
NbxScheduler *nbx_scheduler_new(NbxSetup *setup, NbxStore *store, GError **error);

/*
 * Swaps in a freshly loaded setup (SIGHUP). Running analyses keep the
 * machines and plugins they started with; the old setup is freed once the
 * last of them ends. Takes ownership of @setup.
 */
void nbx_scheduler_replace_setup(NbxScheduler *scheduler, NbxSetup *setup);
NbxSetup *nbx_scheduler_get_setup(NbxScheduler *scheduler);
NbxStore *nbx_scheduler_get_store(NbxScheduler *scheduler);

/*
 * What comes with a submission besides the task's fields; every member may
 * be NULL.
 */
typedef struct {
	/*
	 * The sample: a file the caller wrote into nbx_scheduler_get_samples_dir()
	 * (so that it can be renamed into place) and its SHA-256 (lower-case
	 * hex). The scheduler moves it to samples/SHA256 (or removes it when that
	 * exists) once it stores the task; otherwise it stays the caller's.
	 */
	const char *sample_file;
	const char *sample_sha256;
	/*
	 * A client's Idempotency-Key and a digest of what the request asked for,
	 * stored with the task (the control API looks them up before it submits).
	 */
	const char *idempotency_key;
	const char *request_digest;
	/* Keys older than this (wall-clock microseconds) are forgotten. */
	gint64 keys_expired_us;
} NbxSubmission;

/*
 * Accepts a task. @request carries what the submitter asked for (priority,
 * machine / platform / os_version / architecture / tags, duration,
 * memory_dump, debug, options_json, target_name); the rest is ignored.
 * @submission (or NULL) brings the sample and the idempotency key.
 *
 * Invalid requests (unknown auxiliary in options, duration out of range...)
 * fail with NBX_SCHEDULER_ERROR_INVALID and store nothing. A request no
 * configured machine could ever serve is stored and ends FAILED at once,
 * with the reason: that is a returned task, not an error.
 * Returns the stored task.
 */
NbxTask *nbx_scheduler_submit(NbxScheduler *scheduler, const NbxTask *request,
			      const NbxSubmission *submission, GError **error);
/* state_dir/samples, where samples are kept by their SHA-256. */
const char *nbx_scheduler_get_samples_dir(NbxScheduler *scheduler);

/*
 * Cancels a queued task at once, or asks a running analysis to stop its
 * machine and end CANCELLED. NOT_FOUND / CONFLICT (already ended).
 */
gboolean nbx_scheduler_cancel(NbxScheduler *scheduler, gint64 task_id, GError **error);

/* NbxMachineStatus *, in configuration order. */
GPtrArray *nbx_scheduler_list_machines(NbxScheduler *scheduler);

/* Enables (@reason NULL) or disables a machine; NOT_FOUND. */
gboolean nbx_scheduler_set_machine_disabled(NbxScheduler *scheduler, const char *name,
					    const char *reason, GError **error);

void nbx_scheduler_health(NbxScheduler *scheduler, NbxSchedulerHealth *health);

/* Restores use @snapshots' generations from now on (borrowed; set before tasks run). */
void nbx_scheduler_set_snapshots(NbxScheduler *scheduler, NbxSnapshotManager *snapshots);
/* The snapshot manager restores use, or NULL (thread-safe once tasks run). */
NbxSnapshotManager *nbx_scheduler_get_snapshots(NbxScheduler *scheduler);

/*
 * Takes machine @name out of scheduling for a snapshot session, as an
 * analysis would; NBX_POOL_ERROR_BUSY when it runs a task or is disabled.
 * Any thread. nbx_scheduler_unhold_machine() gives it back.
 */
NbxMachine *nbx_scheduler_hold_machine(NbxScheduler *scheduler, const char *name,
				       GError **error);
void nbx_scheduler_unhold_machine(NbxScheduler *scheduler, NbxMachine *machine);

/*
 * A new generation of @base became current (a commit, an import): the
 * runs prepared from the old one are discarded, and the machines prepared
 * again from the new one. Any thread.
 */
void nbx_scheduler_generation_changed(NbxScheduler *scheduler, const char *base);

/*
 * Stops taking tasks and interrupts the running analyses (their tasks go
 * back to the queue with the reason); calls @done on the main thread once
 * every analysis has ended or @timeout_s has passed.
 */
typedef void (*NbxSchedulerDoneFunc)(gpointer user_data);
void nbx_scheduler_shutdown(NbxScheduler *scheduler, gint64 timeout_s, NbxSchedulerDoneFunc done,
			    gpointer user_data);

/* No analysis runs, none is wedged, recovery is over, no prepare or discard runs. */
gboolean nbx_scheduler_is_idle(NbxScheduler *scheduler);

void nbx_scheduler_free(NbxScheduler *scheduler);
