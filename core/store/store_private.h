/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the store share, from the bottom up: store.c (errors
 * and statements), store_op.c (one operation), store_schema.c (the tables
 * and their migrations), store_tasks.c, store_machines.c, store_events.c
 * (one table each), store_open.c (opening the connection). Not for use
 * outside core/store/.
 */
#pragma once

#include <sqlite3.h>

#include "store.h"

struct _NbxStore {
	sqlite3 *db;
	char *path;
	/*
	 * SQLITE_OPEN_FULLMUTEX only serialises single calls; the error
	 * message, sqlite3_changes() and the last rowid belong to the
	 * connection, so every operation holds this from prepare to release.
	 */
	GMutex lock;
	/*
	 * SQL text (by address) -> its statement, prepared once (parsing was
	 * 46 % of the core's instructions per task, issue 17). A statement is
	 * released (reset) at the end of the operation that used it, under @lock.
	 */
	GHashTable *statements;
	/*
	 * The synchronous level the connection commits with now: FULL for
	 * what is acknowledged, NORMAL for progress (store_op.c says why),
	 * switched only when a commit needs the other one.
	 */
	gboolean synchronous_full;
	/* NbxTaskObserver *: told of every task written, under the lock (in write order). */
	GPtrArray *task_observers;
};

typedef struct {
	NbxStoreTaskObserver func;
	gpointer data;
} NbxTaskObserver;

/*
 * One operation on the store, from taking its lock to its last step.
 * Every function of a table's file is "begin, bind, step": the lock, the
 * cached statement and the naming of the operation in errors live here
 * once (store_op.c), so each of those functions is only its SQL, its
 * bindings and what it reads back. Declare one as
 *
 *   g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;
 *
 * Leaving the scope resets the statement, rolls back a transaction still
 * open (a failed step or COMMIT), then releases the lock, in that order.
 */
typedef struct {
	NbxStore *store;
	/* The statement being bound and stepped; NULL until prepared. */
	sqlite3_stmt *stmt;
	/* "cannot ..." for every error of the operation; outlives the op. */
	const char *what;
	gboolean locked;
	gboolean in_transaction;
} NbxStoreOp;

#define NBX_STORE_OP_INIT { NULL, NULL, NULL, FALSE, FALSE }

/* What nbx_store_op_row() found. */
typedef enum {
	NBX_STORE_ROW,
	NBX_STORE_NO_ROW,
	NBX_STORE_FAILED,
} NbxStoreRow;

/* Reads the current row of @op's statement into a new record; NULL with @error for a damaged one. */
typedef gpointer (*NbxStoreRowReader)(NbxStoreOp *op, GError **error);

/* Takes the lock and names the operation; no statement yet. */
void nbx_store_op_lock(NbxStoreOp *op, NbxStore *store, const char *what);
/* nbx_store_op_lock() and nbx_store_op_prepare(): the common case. */
gboolean nbx_store_op_begin(NbxStoreOp *op, NbxStore *store, const char *sql, const char *what,
			    GError **error);
/* Makes @sql's cached statement the current one (releasing the previous); lock held. */
gboolean nbx_store_op_prepare(NbxStoreOp *op, const char *sql, GError **error);
/* Steps a statement that returns no rows. */
gboolean nbx_store_op_done(NbxStoreOp *op, GError **error);
/*
 * Likewise for a progress record, committed without an fsync of its own
 * (store_op.c says why that loses nothing acknowledged). Both set the
 * synchronous level only when the step commits by itself; inside a
 * transaction, its BEGIN chose it.
 */
gboolean nbx_store_op_progress_done(NbxStoreOp *op, GError **error);
/* Steps once: a row to read, none, or FAILED with @error set. */
NbxStoreRow nbx_store_op_row(NbxStoreOp *op, GError **error);
/* Every row, each read by @read into an array that frees them with @free_func. */
GPtrArray *nbx_store_op_rows(NbxStoreOp *op, NbxStoreRowReader read, GDestroyNotify free_func,
			     GError **error);
/*
 * After an UPDATE: FALSE with NOT_FOUND, "<what>: <format...> (<file>)",
 * when it changed no row.
 */
gboolean nbx_store_op_changed(NbxStoreOp *op, GError **error, const char *format, ...)
	G_GNUC_PRINTF(3, 4);
/* BEGIN IMMEDIATE: one transaction (and one fsync) for the operation's steps. */
gboolean nbx_store_op_begin_transaction(NbxStoreOp *op, GError **error);
/* The same for progress records only: its COMMIT skips the fsync (see above). */
gboolean nbx_store_op_begin_progress(NbxStoreOp *op, GError **error);
/* COMMIT; a failed one is rolled back when the op ends. */
gboolean nbx_store_op_commit(NbxStoreOp *op, GError **error);
/* Releases the statement, rolls back what is uncommitted, unlocks; idempotent. */
void nbx_store_op_end(NbxStoreOp *op);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NbxStoreOp, nbx_store_op_end)

/*
 * "<what>: <SQLite's words>[: <why>] (<file>)". Called with the lock held:
 * the message belongs to the connection.
 */
void nbx_store_set_error(NbxStore *store, GError **error, NbxStoreError code, const char *format,
			 ...) G_GNUC_PRINTF(4, 5);
/*
 * The cached statement of @sql (see store.c); NULL with @error naming
 * @what. Outside an NbxStoreOp only while the store is being opened.
 */
sqlite3_stmt *nbx_store_statement(NbxStore *store, const char *sql, GError **error,
				  const char *what);
/* Resets a cached statement for the next operation; it is finalized only at close. */
void nbx_store_statement_release(sqlite3_stmt *stmt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, nbx_store_statement_release)
/* Binds @value, or NULL; the value must outlive the statement's steps. */
void nbx_store_bind_text(sqlite3_stmt *stmt, int index, const char *value);
/* A copy of the column's text, or NULL for SQL NULL. */
char *nbx_store_column_strdup(sqlite3_stmt *stmt, int index);
/* Runs a PRAGMA, reading its integer answer into @value when set. */
gboolean nbx_store_pragma_int(NbxStore *store, const char *sql, gint64 *value, GError **error);
/* Ends the open transaction, if one is still open (a failed COMMIT may have ended it). */
void nbx_store_rollback(NbxStore *store);

/* The events table's INSERT (store_events.c), for a write that records one beside it. */
#define NBX_STORE_EVENT_INSERT                                            \
	"INSERT INTO events (time_us, task_id, machine, kind, message) " \
	"VALUES (?1, ?2, ?3, ?4, ?5)"
/* Binds NBX_STORE_EVENT_INSERT's parameters: @note's event of @task_id (0: none), now. */
void nbx_store_bind_event(sqlite3_stmt *stmt, gint64 task_id, const NbxStoreNote *note);

/*
 * The schema version of the file, refused when it is newer than this
 * nestbox knows or negative (store_schema.c).
 */
gboolean nbx_store_schema_read_version(NbxStore *store, gint64 *version, GError **error);
/* Creates or migrates the tables from @version to the current one, in one transaction. */
gboolean nbx_store_schema_migrate(NbxStore *store, gint64 version, GError **error);
