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

gboolean
nbx_store_op_done(NbxStoreOp *op, GError **error)
{
	if (sqlite3_step(op->stmt) != SQLITE_DONE)
		return op_failed(op, error);
	return TRUE;
}

/* A cached PRAGMA: sqlite3_exec would parse it on every progress record. */
static gboolean
set_synchronous(NbxStore *store, const char *pragma)
{
	g_autoptr(sqlite3_stmt) stmt = nbx_store_statement(store, pragma, NULL, pragma);

	return stmt != NULL && sqlite3_step(stmt) == SQLITE_DONE;
}

/*
 * Progress records (events, a running task's step, a machine's activity and
 * failure count) commit without an fsync of their own: synchronous=NORMAL
 * for that one commit, then FULL again. A kill -9 loses none of them (the
 * WAL is written before the commit returns; only its fsync is skipped). A
 * power loss may lose those made since the last FULL commit, never more:
 * every FULL commit fsyncs the WAL, and with it every earlier frame. What
 * is acknowledged (a submission, a cancel, a task queued again or ended, a
 * machine disabled) stays a FULL commit. A running task whose progress a
 * power loss took is recovered like any running task (its steps redone).
 */
gboolean
nbx_store_op_progress_done(NbxStoreOp *op, GError **error)
{
	gboolean ok;

	if (!set_synchronous(op->store, "PRAGMA synchronous = NORMAL"))
		g_warning("%s: cannot skip the fsync of a progress record: %s", op->store->path,
			  sqlite3_errmsg(op->store->db));
	ok = nbx_store_op_done(op, error);
	if (!set_synchronous(op->store, "PRAGMA synchronous = FULL"))
		g_error("%s: cannot make commits durable again: %s", op->store->path,
			sqlite3_errmsg(op->store->db));
	return ok;
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

gboolean
nbx_store_op_begin_transaction(NbxStoreOp *op, GError **error)
{
	g_return_val_if_fail(op->locked && !op->in_transaction, FALSE);

	if (sqlite3_exec(op->store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return op_failed(op, error);
	op->in_transaction = TRUE;
	return TRUE;
}

gboolean
nbx_store_op_commit(NbxStoreOp *op, GError **error)
{
	g_return_val_if_fail(op->in_transaction, FALSE);

	if (sqlite3_exec(op->store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
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
