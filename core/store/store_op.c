/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One operation on the store (NbxStoreOp, store_private.h): the lock held
 * from the first prepare to the last step, the cached statement released
 * and an unfinished transaction rolled back when it ends, and every error
 * named after the operation.
 */
#include "store_private.h"

#include <stdarg.h>

void
nbx_store_op_lock(NbxStoreOp *op, NbxStore *store, const char *what)
{
	g_return_if_fail(op->store == NULL);

	op->store = store;
	op->what = what;
	g_mutex_lock(&store->lock);
	op->locked = TRUE;
}

gboolean
nbx_store_op_prepare(NbxStoreOp *op, const char *sql, GError **error)
{
	g_return_val_if_fail(op->locked, FALSE);

	g_clear_pointer(&op->stmt, nbx_store_statement_release);
	op->stmt = nbx_store_statement(op->store, sql, error, op->what);
	return op->stmt != NULL;
}

gboolean
nbx_store_op_begin(NbxStoreOp *op, NbxStore *store, const char *sql, const char *what,
		   GError **error)
{
	nbx_store_op_lock(op, store, what);
	return nbx_store_op_prepare(op, sql, error);
}

static gboolean
op_failed(NbxStoreOp *op, GError **error)
{
	nbx_store_set_error(op->store, error, NBX_STORE_ERROR_FAILED, "%s", op->what);
	return FALSE;
}

/*
 * Progress records (events, a running task's step, a machine's activity and
 * failure count) commit without an fsync of their own: synchronous=NORMAL.
 * A kill -9 loses none of them (the WAL is written before the commit
 * returns; only its fsync is skipped). A power loss may lose those made
 * since the last FULL commit, never more: every FULL commit fsyncs the WAL,
 * and with it every earlier frame. What is acknowledged (a submission, a
 * cancel, a task queued again or ended, a machine disabled) is a FULL
 * commit. A running task whose progress a power loss took is recovered like
 * any running task (its steps redone).
 *
 * The level is switched only when the next commit needs the other one, and
 * stays until then: a PRAGMA runs only once per prepared statement, so
 * SQLite parses it anew on every run, and switching twice around each
 * progress record was the largest part of one (issue 17). SQLite reads the
 * level at each commit and refuses to change it inside a transaction, so
 * it is set before the autocommit step or the BEGIN it is for.
 */
static void
set_synchronous(NbxStore *store, gboolean full)
{
	const char *pragma = full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (store->synchronous_full == full || !sqlite3_get_autocommit(store->db))
		return;
	stmt = nbx_store_statement(store, pragma, NULL, pragma);
	if (stmt != NULL && sqlite3_step(stmt) == SQLITE_DONE)
		store->synchronous_full = full;
	else if (full)
		/* An acknowledged commit without its fsync would be a lie to the client. */
		g_error("%s: cannot make commits durable again: %s", store->path,
			sqlite3_errmsg(store->db));
	else
		/* Then it commits with FULL: slower, never less durable. */
		g_warning("%s: cannot skip the fsync of a progress record: %s", store->path,
			  sqlite3_errmsg(store->db));
}

gboolean
nbx_store_op_done(NbxStoreOp *op, GError **error)
{
	set_synchronous(op->store, TRUE);
	if (sqlite3_step(op->stmt) != SQLITE_DONE)
		return op_failed(op, error);
	return TRUE;
}

gboolean
nbx_store_op_progress_done(NbxStoreOp *op, GError **error)
{
	set_synchronous(op->store, FALSE);
	if (sqlite3_step(op->stmt) != SQLITE_DONE)
		return op_failed(op, error);
	return TRUE;
}

NbxStoreRow
nbx_store_op_row(NbxStoreOp *op, GError **error)
{
	switch (sqlite3_step(op->stmt)) {
	case SQLITE_ROW:
		return NBX_STORE_ROW;
	case SQLITE_DONE:
		return NBX_STORE_NO_ROW;
	default:
		op_failed(op, error);
		return NBX_STORE_FAILED;
	}
}

GPtrArray *
nbx_store_op_rows(NbxStoreOp *op, NbxStoreRowReader read, GDestroyNotify free_func,
		  GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(free_func);
	NbxStoreRow row;

	while ((row = nbx_store_op_row(op, error)) == NBX_STORE_ROW) {
		gpointer record = read(op, error);

		if (record == NULL)
			return NULL;
		g_ptr_array_add(rows, record);
	}
	return row == NBX_STORE_NO_ROW ? g_steal_pointer(&rows) : NULL;
}

gboolean
nbx_store_op_changed(NbxStoreOp *op, GError **error, const char *format, ...)
{
	g_autofree char *which = NULL;
	va_list args;

	if (sqlite3_changes(op->store->db) != 0)
		return TRUE;
	va_start(args, format);
	which = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND, "%s: %s (%s)", op->what,
		    which, op->store->path);
	return FALSE;
}

/* BEGIN and COMMIT are cached like the rest: sqlite3_exec would parse them on every call. */
static gboolean
run_cached(NbxStoreOp *op, const char *sql)
{
	g_autoptr(sqlite3_stmt) stmt = nbx_store_statement(op->store, sql, NULL, op->what);

	return stmt != NULL && sqlite3_step(stmt) == SQLITE_DONE;
}

static gboolean
begin_transaction(NbxStoreOp *op, gboolean durable, GError **error)
{
	g_return_val_if_fail(op->locked && !op->in_transaction, FALSE);

	set_synchronous(op->store, durable);
	if (!run_cached(op, "BEGIN IMMEDIATE"))
		return op_failed(op, error);
	op->in_transaction = TRUE;
	return TRUE;
}

gboolean
nbx_store_op_begin_transaction(NbxStoreOp *op, GError **error)
{
	return begin_transaction(op, TRUE, error);
}

gboolean
nbx_store_op_begin_progress(NbxStoreOp *op, GError **error)
{
	return begin_transaction(op, FALSE, error);
}

gboolean
nbx_store_op_commit(NbxStoreOp *op, GError **error)
{
	g_return_val_if_fail(op->in_transaction, FALSE);

	if (!run_cached(op, "COMMIT"))
		return op_failed(op, error);
	op->in_transaction = FALSE;
	return TRUE;
}

void
nbx_store_op_end(NbxStoreOp *op)
{
	/* The statement first: a ROLLBACK waits for no reader of this connection's own. */
	g_clear_pointer(&op->stmt, nbx_store_statement_release);
	if (op->in_transaction) {
		nbx_store_rollback(op->store);
		op->in_transaction = FALSE;
	}
	if (op->locked) {
		g_mutex_unlock(&op->store->lock);
		op->locked = FALSE;
	}
}
