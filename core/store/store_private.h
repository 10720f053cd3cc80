/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the store share (store.c: the connection and its
 * statements; store_schema.c: the tables and their migrations;
 * store_tasks.c, store_machines.c, store_events.c: one table each). Not
 * for use outside core/store/.
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
	 * SQL text -> its statement, prepared once (parsing was 46 % of the
	 * core's instructions per task, issue 17). A statement is released
	 * (reset) at the end of the operation that used it, under @lock.
	 */
	GHashTable *statements;
	/* NbxTaskObserver *: told of every task written, under the lock (in write order). */
	GPtrArray *task_observers;
};

typedef struct {
	NbxStoreTaskObserver func;
	gpointer data;
} NbxTaskObserver;

/*
 * Statements come from the store's cache (nbx_store_statement()): leaving
 * an operation resets one for the next, it is finalized only at close.
 */
static inline void
stmt_release(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, stmt_release)

/*
 * "<what>: <SQLite's words>[: <why>] (<file>)". Called with the lock held:
 * the message belongs to the connection.
 */
void nbx_store_set_error(NbxStore *store, GError **error, NbxStoreError code, const char *format,
			 ...) G_GNUC_PRINTF(4, 5);
/* The cached statement of @sql (see store.c); NULL with @error naming @what. */
sqlite3_stmt *nbx_store_statement(NbxStore *store, const char *sql, GError **error,
				  const char *what);
/* Binds @value, or NULL; the value must outlive the statement's steps. */
void nbx_store_bind_text(sqlite3_stmt *stmt, int index, const char *value);
/* A copy of the column's text, or NULL for SQL NULL. */
char *nbx_store_column_strdup(sqlite3_stmt *stmt, int index);
/* Runs a statement that returns no rows; the caller names the operation. */
gboolean nbx_store_step_done(NbxStore *store, sqlite3_stmt *stmt, GError **error,
			     const char *what);
/* Likewise for a progress record: committed without an fsync of its own (store.c). */
gboolean nbx_store_progress_done(NbxStore *store, sqlite3_stmt *stmt, GError **error,
				 const char *what);
/* Runs a PRAGMA, reading its integer answer into @value when set. */
gboolean nbx_store_pragma_int(NbxStore *store, const char *sql, gint64 *value, GError **error);
/* Ends the open transaction, if one is still open (a failed COMMIT may have ended it). */
void nbx_store_rollback(NbxStore *store);

/*
 * The schema version of the file, refused when it is newer than this
 * nestbox knows or negative (store_schema.c).
 */
gboolean nbx_store_schema_read_version(NbxStore *store, gint64 *version, GError **error);
/* Creates or migrates the tables from @version to the current one, in one transaction. */
gboolean nbx_store_schema_migrate(NbxStore *store, gint64 version, GError **error);
