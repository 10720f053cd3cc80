/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every file of the store stands on: the error words, the statement
 * cache, binding and reading values, a PRAGMA, a rollback. It calls none of
 * them (store_open.c opens the connection, store_op.c runs an operation).
 */
#include "store_private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(nbx-store-error-quark, nbx_store_error)

/*
 * SQLite says only "unable to open database file", and its errno is that of
 * its last attempt (a read-only retry: ENOENT when the real problem was
 * EACCES), so look at the directory and the file ourselves.
 */
static char *
explain_cantopen(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);

	if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
		return g_strdup_printf("directory %s does not exist", dir);
	if (g_access(dir, W_OK | X_OK) != 0)
		return g_strdup_printf("cannot create files in %s: %s", dir, g_strerror(errno));
	if (g_file_test(path, G_FILE_TEST_EXISTS) && g_access(path, R_OK | W_OK) != 0)
		return g_strdup_printf("cannot read and write %s: %s", path, g_strerror(errno));
	return NULL;
}

/*
 * "<what>: <SQLite's words>[: <why>] (<file>)". Called with the lock held:
 * the message belongs to the connection.
 */
void
nbx_store_set_error(NbxStore *store, GError **error, NbxStoreError code, const char *format, ...)
{
	g_autofree char *what = NULL;
	g_autofree char *why = NULL;
	int errcode = sqlite3_errcode(store->db) & 0xff;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);

	if (errcode == SQLITE_CANTOPEN)
		why = explain_cantopen(store->path);
	else if (errcode == SQLITE_IOERR && sqlite3_system_errno(store->db) != 0)
		/* A full disk or a dying one: the system's words are the useful part. */
		why = g_strdup(g_strerror(sqlite3_system_errno(store->db)));
	if (why != NULL)
		g_set_error(error, NBX_STORE_ERROR, code, "%s: %s: %s (%s)", what,
			    sqlite3_errmsg(store->db), why, store->path);
	else
		g_set_error(error, NBX_STORE_ERROR, code, "%s: %s (%s)", what,
			    sqlite3_errmsg(store->db), store->path);
}

/*
 * The statement of @sql, from the cache or prepared now. One that is still
 * stepping (the same SQL nested in one operation, which the store does not
 * do) gets a fresh one, kept until close like the rest. The cache is keyed
 * by the text's address (the store's SQL is constants), and a hit is
 * checked against the statement's own text: hashing the text on every
 * lookup cost more than a string compare of it (issue 17).
 */
sqlite3_stmt *
nbx_store_statement(NbxStore *store, const char *sql, GError **error, const char *what)
{
	sqlite3_stmt *cached = g_hash_table_lookup(store->statements, sql);
	sqlite3_stmt *stmt = NULL;

	if (cached != NULL && !sqlite3_stmt_busy(cached) && strcmp(sqlite3_sql(cached), sql) == 0)
		return cached;
	if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK) {
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		sqlite3_finalize(stmt);
		return NULL;
	}
	/* A busy one keeps its place; another text at the same address takes it. */
	if (cached == NULL || strcmp(sqlite3_sql(cached), sql) != 0)
		g_hash_table_insert(store->statements, (gpointer)sql, stmt);
	return stmt;
}

void
nbx_store_statement_release(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

void
nbx_store_bind_text(sqlite3_stmt *stmt, int index, const char *value)
{
	/* The values outlive every step: no copy needed. */
	if (value == NULL)
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
}

char *
nbx_store_column_strdup(sqlite3_stmt *stmt, int index)
{
	if (sqlite3_column_type(stmt, index) == SQLITE_NULL)
		return NULL;
	return g_strdup((const char *)sqlite3_column_text(stmt, index));
}

gboolean
nbx_store_pragma_int(NbxStore *store, const char *sql, gint64 *value, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = nbx_store_statement(store, sql, error, "cannot open the store");

	if (stmt == NULL)
		return FALSE;
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		if (value != NULL)
			*value = sqlite3_column_int64(stmt, 0);
		return TRUE;
	case SQLITE_DONE:
		return TRUE;
	default:
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
		return FALSE;
	}
}

void
nbx_store_rollback(NbxStore *store)
{
	/* Only when a transaction is still open: a failed COMMIT may have ended it. */
	if (!sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}
