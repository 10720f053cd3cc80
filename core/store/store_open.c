/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening and closing the store: the file opened read-write, WAL and
 * synchronous=FULL switched on and checked, the schema brought up to date
 * (store_schema.c) before any table's file runs an operation.
 */
#include "store_private.h"

#include <sqlite3.h>

/* Long enough to ride out another process's checkpoint, short enough to report a stuck lock. */
#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * WAL is what lets readers (the API) run while the runner writes, and what
 * makes a synchronous=FULL commit one fsync. SQLite silently keeps the old
 * mode when it cannot switch (a network file system, an in-memory database),
 * so read back the mode it answers with.
 */
static gboolean
enable_wal(NbxStore *store, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt =
		nbx_store_statement(store, "PRAGMA journal_mode = WAL", error, "cannot switch the store to WAL");
	const char *mode;

	if (stmt == NULL)
		return FALSE;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot switch the store to WAL");
		return FALSE;
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (g_ascii_strcasecmp(mode != NULL ? mode : "", "wal") != 0) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
			    "%s: SQLite cannot use write-ahead logging here (journal mode stays "
			    "\"%s\"); put state_dir on a local file system",
			    store->path, mode != NULL ? mode : "");
		return FALSE;
	}
	return TRUE;
}

static gboolean
store_setup(NbxStore *store, GError **error)
{
	gint64 version = 0;

	sqlite3_extended_result_codes(store->db, 1);
	if (sqlite3_busy_timeout(store->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
		return FALSE;
	}
	/* Before anything writes: switching to WAL would already change a newer store. */
	if (!nbx_store_schema_read_version(store, &version, error))
		return FALSE;
	if (!enable_wal(store, error))
		return FALSE;
	if (!nbx_store_pragma_int(store, "PRAGMA synchronous = FULL", NULL, error) ||
	    !nbx_store_pragma_int(store, "PRAGMA foreign_keys = ON", NULL, error))
		return FALSE;
	store->synchronous_full = TRUE;
	return nbx_store_schema_migrate(store, version, error);
}

NbxStore *
nbx_store_open(const char *path, GError **error)
{
	g_autoptr(NbxStore) store = NULL;
	int rc;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	store = g_new0(NbxStore, 1);
	g_mutex_init(&store->lock);
	store->statements = g_hash_table_new(g_direct_hash, g_direct_equal);
	store->task_observers = g_ptr_array_new_with_free_func(g_free);
	store->path = g_strdup(path);
	rc = sqlite3_open_v2(path, &store->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (store->db == NULL) {
			g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
				    "cannot open the store: %s (%s)", sqlite3_errstr(rc), path);
			return NULL;
		}
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
		return NULL;
	}
	/* SQLite falls back to read-only for a write-protected file; a store must be written. */
	if (sqlite3_db_readonly(store->db, "main") == 1) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
			    "cannot open the store: %s is read-only; give nestboxd's user write "
			    "access to it and its directory",
			    path);
		return NULL;
	}
	if (!store_setup(store, error))
		return NULL;
	return g_steal_pointer(&store);
}

void
nbx_store_close(NbxStore *store)
{
	if (store == NULL)
		return;
	/* Every statement (cached or a nested spare) goes first, so close cannot be refused. */
	if (store->db != NULL) {
		sqlite3_stmt *stmt;

		while ((stmt = sqlite3_next_stmt(store->db, NULL)) != NULL)
			sqlite3_finalize(stmt);
	}
	g_clear_pointer(&store->statements, g_hash_table_unref);
	if (store->db != NULL && sqlite3_close(store->db) != SQLITE_OK)
		g_warning("cannot close the store: %s (%s)", sqlite3_errmsg(store->db), store->path);
	g_mutex_clear(&store->lock);
	g_ptr_array_unref(store->task_observers);
	g_free(store->path);
	g_free(store);
}
