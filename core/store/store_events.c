/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The events table: what happened to a task or a machine, in order. */
#include "store_private.h"

#include <stdarg.h>

#define EVENT_SELECT "SELECT id, time_us, task_id, machine, kind, message FROM events"

void
nbx_stored_event_free(NbxStoredEvent *event)
{
	if (event == NULL)
		return;
	g_free(event->machine);
	g_free(event->kind);
	g_free(event->message);
	g_free(event);
}

void
nbx_store_bind_event(sqlite3_stmt *stmt, gint64 task_id, const NbxStoreNote *note)
{
	sqlite3_bind_int64(stmt, 1, g_get_real_time());
	sqlite3_bind_int64(stmt, 2, task_id);
	nbx_store_bind_text(stmt, 3, note->machine);
	nbx_store_bind_text(stmt, 4, note->kind);
	nbx_store_bind_text(stmt, 5, note->message);
}

gboolean
nbx_store_event_add(NbxStore *store, gint64 task_id, const char *machine, const char *kind,
		    const char *message, GError **error)
{
	const NbxStoreNote note = { machine, kind, message };
	g_autofree char *what = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && kind != NULL, FALSE);

	what = g_strdup_printf("cannot record event %s", kind);
	if (!nbx_store_op_begin(&op, store, NBX_STORE_EVENT_INSERT, what, error))
		return FALSE;
	nbx_store_bind_event(op.stmt, task_id, &note);
	return nbx_store_op_progress_done(&op, error);
}

static gpointer
read_event(NbxStoreOp *op, G_GNUC_UNUSED GError **error)
{
	NbxStoredEvent *event = g_new0(NbxStoredEvent, 1);

	event->id = sqlite3_column_int64(op->stmt, 0);
	event->time_us = sqlite3_column_int64(op->stmt, 1);
	event->task_id = sqlite3_column_int64(op->stmt, 2);
	event->machine = nbx_store_column_strdup(op->stmt, 3);
	event->kind = nbx_store_column_strdup(op->stmt, 4);
	event->message = nbx_store_column_strdup(op->stmt, 5);
	return event;
}

GPtrArray *
nbx_store_event_list(NbxStore *store, gint64 task_id, GError **error)
{
	/*
	 * Oldest first by id, not by time: the wall clock may step back, the
	 * order of insertion does not. The per-task statement walks events_task,
	 * whose entries are already in id order.
	 */
	static const char sql_all[] = EVENT_SELECT " ORDER BY id";
	static const char sql_task[] = EVENT_SELECT " WHERE task_id = ?1 ORDER BY id";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, NULL);

	if (!nbx_store_op_begin(&op, store, task_id != 0 ? sql_task : sql_all,
				"cannot list events", error))
		return NULL;
	if (task_id != 0)
		sqlite3_bind_int64(op.stmt, 1, task_id);
	return nbx_store_op_rows(&op, read_event, (GDestroyNotify)nbx_stored_event_free, error);
}

void
nbx_store_event_addf(NbxStore *store, gint64 task_id, const char *machine, const char *kind,
		     const char *format, ...)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	if (!nbx_store_event_add(store, task_id, machine, kind, message, &error))
		g_warning("%s", error->message);
}
