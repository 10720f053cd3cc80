/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store: tasks, the core's record of each machine, and an event log, in
 * one SQLite database (WAL) under state_dir. It is what survives a crash:
 * every accepted task is in it before the submitter hears "accepted", and
 * every machine the core may have left running is marked in it before the
 * first machine op is called.
 *
 * Thread-safe: one connection behind a mutex; every function may be called
 * from any thread. Every write is its own transaction (or one transaction
 * per call), so a kill -9 never leaves half a change.
 */
#pragma once

#include <glib.h>

#include "task.h"

#define NBX_STORE_ERROR (nbx_store_error_quark())
GQuark nbx_store_error_quark(void);

typedef enum {
	NBX_STORE_ERROR_FAILED,	   /* SQLite said no; the message has its words */
	NBX_STORE_ERROR_NOT_FOUND, /* no such task / machine */
	NBX_STORE_ERROR_VERSION,   /* a database of a newer nestbox */
} NbxStoreError;

typedef struct _NbxStore NbxStore;

/*
 * What the core last did with a machine. Anything but IDLE at start-up
 * means a previous daemon may have left it running: recovery stops it.
 */
typedef enum {
	NBX_MACHINE_ACTIVITY_IDLE = 0,
	NBX_MACHINE_ACTIVITY_STARTING = 1, /* restore_start / norestore_start called */
	NBX_MACHINE_ACTIVITY_RUNNING = 2,
	NBX_MACHINE_ACTIVITY_STOPPING = 3,
} NbxMachineActivity;

typedef struct {
	char *name;
	char *machinery;
	NbxMachineActivity activity;
	gint64 task_id;		/* the task using it, 0 for none */
	char *disabled_reason;	/* NULL when enabled */
	gint64 failures;	/* consecutive failed operations */
	gint64 updated_us;
} NbxStoredMachine;

void nbx_stored_machine_free(NbxStoredMachine *machine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxStoredMachine, nbx_stored_machine_free)
const char *nbx_machine_activity_name(NbxMachineActivity activity);

typedef struct {
	gint64 id;
	gint64 time_us;
	gint64 task_id; /* 0 for none */
	char *machine;	/* or NULL */
	char *kind;	/* e.g. "task.queued", "step.end", "machine.disabled" */
	char *message;
} NbxStoredEvent;

void nbx_stored_event_free(NbxStoredEvent *event);

/*
 * Opens (creating it and its schema if needed) the database at @path, in
 * WAL mode with synchronous=FULL and a busy timeout. Refuses a database
 * whose schema version is newer than this build's.
 */
NbxStore *nbx_store_open(const char *path, GError **error);
void nbx_store_close(NbxStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxStore, nbx_store_close)

/*
 * @func is told of every task the store inserts (@inserted) or updates
 * (the task as written), on the writer's thread with the store's lock held, so in the
 * order of the writes: it must be quick and must not call the store.
 */
typedef void (*NbxStoreTaskObserver)(const NbxTask *task, gboolean inserted, gpointer data);
void nbx_store_add_task_observer(NbxStore *store, NbxStoreTaskObserver func, gpointer data);
void nbx_store_remove_task_observer(NbxStore *store, NbxStoreTaskObserver func, gpointer data);

/*
 * An event recorded in the same commit as the task write it goes with
 * (its task is the task written): one commit instead of two, and the
 * event exactly as durable as the write.
 */
typedef struct {
	const char *machine; /* or NULL */
	const char *kind;
	const char *message;
} NbxStoreNote;

/* Inserts @task (its id is ignored) and sets task->id. */
gboolean nbx_store_task_insert(NbxStore *store, NbxTask *task, GError **error);
/*
 * The same, and remembers in the same transaction that a client's
 * Idempotency-Key @key (with a digest of what it asked for) made the task;
 * keys made before @expired_us are forgotten.
 */
gboolean nbx_store_task_insert_keyed(NbxStore *store, NbxTask *task, const char *key,
				     const char *request_digest, gint64 expired_us, GError **error);
/*
 * Either of the two (a key when @key is set), and @note's event when set,
 * in one durable transaction.
 */
gboolean nbx_store_task_insert_noting(NbxStore *store, NbxTask *task, const char *key,
				      const char *request_digest, gint64 expired_us,
				      const NbxStoreNote *note, GError **error);
/*
 * The id of the task @key made since @since_us, and its request's digest
 * (@request_digest, owned by the caller); 0 when there is none, -1 with
 * @error when the store failed.
 */
gint64 nbx_store_task_find_by_key(NbxStore *store, const char *key, gint64 since_us,
				  char **request_digest, GError **error);
/*
 * Writes every field of @task over the stored row with its id, except
 * cancel_requested_us (nbx_store_task_request_cancel() owns it).
 */
gboolean nbx_store_task_update(NbxStore *store, const NbxTask *task, GError **error);
/*
 * nbx_store_task_update() and, when @note is set, its event, in one
 * transaction: a progress commit for a running task, a durable one
 * otherwise (store_op.c).
 */
gboolean nbx_store_task_update_noting(NbxStore *store, const NbxTask *task,
				      const NbxStoreNote *note, GError **error);
/*
 * What a running analysis changes between the task's full writes: its
 * step and analysis_dir, written alone (no other column, no index touched),
 * with @note's event when set, in one progress commit. @task must be
 * RUNNING and otherwise as last written by nbx_store_task_update().
 */
gboolean nbx_store_task_set_step(NbxStore *store, const NbxTask *task, const NbxStoreNote *note,
				 GError **error);
/*
 * Records an operator's cancel of a queued or running task (the time of the
 * first request is kept), durably, before the cancel is acknowledged.
 * nbx_store_task_update() never clears it: a task with it set never runs
 * again, whatever the daemon that had it was doing. NOT_FOUND when the task
 * does not exist or has ended.
 */
gboolean nbx_store_task_request_cancel(NbxStore *store, gint64 id, GError **error);
/*
 * Sets the stored reason of every task of @tasks (NbxTask *; only id and
 * reason are read) that is still queued, in one transaction.
 */
gboolean nbx_store_task_set_queued_reasons(NbxStore *store, GPtrArray *tasks, GError **error);
/* NULL with NBX_STORE_ERROR_NOT_FOUND when there is no such task. */
NbxTask *nbx_store_task_get(NbxStore *store, gint64 id, GError **error);
/*
 * Tasks in @state (or in any state when @state < 0), newest first, at most
 * @limit (all when <= 0), ids below @before_id when it is > 0 (paging).
 * Returns NbxTask * (owned, free func set).
 */
GPtrArray *nbx_store_task_list(NbxStore *store, int state, gint64 limit, gint64 before_id,
			       GError **error);
/* Queued tasks in run order: priority descending, then created, then id. */
GPtrArray *nbx_store_task_list_queued(NbxStore *store, GError **error);

/* How many tasks are in @state; -1 on error. */
gint64 nbx_store_task_count(NbxStore *store, NbxTaskState state, GError **error);

/* Creates the machine's row when missing (IDLE, enabled), keeps it otherwise. */
gboolean nbx_store_machine_ensure(NbxStore *store, const char *name, const char *machinery,
				  GError **error);
gboolean nbx_store_machine_set_activity(NbxStore *store, const char *name,
					NbxMachineActivity activity, gint64 task_id,
					GError **error);
/* @reason NULL enables it again (and zeroes the failure count). */
gboolean nbx_store_machine_set_disabled(NbxStore *store, const char *name, const char *reason,
					GError **error);
gboolean nbx_store_machine_set_failures(NbxStore *store, const char *name, gint64 failures,
					GError **error);
NbxStoredMachine *nbx_store_machine_get(NbxStore *store, const char *name, GError **error);
/* NbxStoredMachine *, by name. */
GPtrArray *nbx_store_machine_list(NbxStore *store, GError **error);

gboolean nbx_store_event_add(NbxStore *store, gint64 task_id, const char *machine,
			     const char *kind, const char *message, GError **error);
/*
 * The same, with a printf-style message; a failure to store it is logged
 * (an event lost must never stop an analysis).
 */
void nbx_store_event_addf(NbxStore *store, gint64 task_id, const char *machine, const char *kind,
			  const char *format, ...) G_GNUC_PRINTF(5, 6);

/* Events of @task_id (every event when 0), oldest first; NbxStoredEvent *. */
GPtrArray *nbx_store_event_list(NbxStore *store, gint64 task_id, GError **error);
