/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machines table: the core's record of each machine (what it last did
 * with it and for which task, its disabled reason, its consecutive
 * failures), which recovery reads after a crash.
 */
#include "store_private.h"

#define MACHINE_SELECT \
	"SELECT name, machinery, activity, task_id, disabled_reason, failures, updated_us FROM machines"

void
nbx_stored_machine_free(NbxStoredMachine *machine)
{
	if (machine == NULL)
		return;
	g_free(machine->name);
	g_free(machine->machinery);
	g_free(machine->disabled_reason);
	g_free(machine);
}

const char *
nbx_machine_activity_name(NbxMachineActivity activity)
{
	switch (activity) {
	case NBX_MACHINE_ACTIVITY_IDLE:
		return "idle";
	case NBX_MACHINE_ACTIVITY_STARTING:
		return "starting";
	case NBX_MACHINE_ACTIVITY_RUNNING:
		return "running";
	case NBX_MACHINE_ACTIVITY_STOPPING:
		return "stopping";
	default:
		return "unknown";
	}
}

gboolean
nbx_store_machine_ensure(NbxStore *store, const char *name, const char *machinery, GError **error)
{
	/*
	 * An existing row is kept whole, machinery included: if a previous
	 * daemon left the machine running, recovery must ask the machinery
	 * that started it.
	 */
	static const char sql[] =
		"INSERT INTO machines (name, machinery, activity, task_id, disabled_reason, failures, "
		"updated_us) VALUES (?1, ?2, 0, 0, NULL, 0, ?3) ON CONFLICT (name) DO NOTHING";
	g_autofree char *what = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && name != NULL && machinery != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s", name);
	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	nbx_store_bind_text(op.stmt, 1, name);
	nbx_store_bind_text(op.stmt, 2, machinery);
	sqlite3_bind_int64(op.stmt, 3, g_get_real_time());
	return nbx_store_op_done(&op, error);
}

/*
 * The one shape of every machine update: @sql's ?1 is the machine's name,
 * ?N its update time, and the values between are bound by @bind (the
 * caller's). NOT_FOUND when the machine has no row.
 */
typedef void (*MachineBind)(sqlite3_stmt *stmt, gconstpointer values);

static gboolean
update_machine(NbxStore *store, const char *name, const char *sql, int time_index,
	       MachineBind bind, gconstpointer values, gboolean progress, const char *what,
	       GError **error)
{
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	nbx_store_bind_text(op.stmt, 1, name);
	bind(op.stmt, values);
	sqlite3_bind_int64(op.stmt, time_index, g_get_real_time());
	if (!(progress ? nbx_store_op_progress_done : nbx_store_op_done)(&op, error))
		return FALSE;
	return nbx_store_op_changed(&op, error, "the store has no machine %s", name);
}

typedef struct {
	NbxMachineActivity activity;
	gint64 task_id;
} ActivityValues;

static void
bind_activity(sqlite3_stmt *stmt, gconstpointer values)
{
	const ActivityValues *activity = values;

	sqlite3_bind_int(stmt, 2, (int)activity->activity);
	sqlite3_bind_int64(stmt, 3, activity->task_id);
}

gboolean
nbx_store_machine_set_activity(NbxStore *store, const char *name, NbxMachineActivity activity,
			       gint64 task_id, GError **error)
{
	static const char sql[] =
		"UPDATE machines SET activity = ?2, task_id = ?3, updated_us = ?4 WHERE name = ?1";
	const ActivityValues values = { activity, task_id };
	g_autofree char *what = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s as %s", name,
			       nbx_machine_activity_name(activity));
	return update_machine(store, name, sql, 4, bind_activity, &values, TRUE, what, error);
}

static void
bind_reason(sqlite3_stmt *stmt, gconstpointer values)
{
	/* NULL (enabling) is bound to no parameter: that statement has no ?2. */
	if (values != NULL)
		nbx_store_bind_text(stmt, 2, values);
}

gboolean
nbx_store_machine_set_disabled(NbxStore *store, const char *name, const char *reason,
			       GError **error)
{
	/* Enabling starts the failure count over: the operator says it is fixed. */
	static const char sql_enable[] = "UPDATE machines SET disabled_reason = NULL, failures = 0, "
					 "updated_us = ?3 WHERE name = ?1";
	static const char sql_disable[] =
		"UPDATE machines SET disabled_reason = ?2, updated_us = ?3 WHERE name = ?1";
	g_autofree char *what = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s as %s", name,
			       reason != NULL ? "disabled" : "enabled");
	return update_machine(store, name, reason != NULL ? sql_disable : sql_enable, 3,
			      bind_reason, reason, FALSE, what, error);
}

gboolean
nbx_store_machine_set_failures(NbxStore *store, const char *name, gint64 failures, GError **error)
{
	/*
	 * A count already at @failures is not written again (nor its
	 * updated_us): every clean run resets a count that is almost always 0
	 * already, and rewriting the row cost a commit of its pages each time.
	 */
	static const char sql[] = "UPDATE machines SET failures = ?2, updated_us = ?3 "
				  "WHERE name = ?1 AND failures <> ?2";
	g_autofree char *what = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record the failures of machine %s", name);
	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	nbx_store_bind_text(op.stmt, 1, name);
	sqlite3_bind_int64(op.stmt, 2, failures);
	sqlite3_bind_int64(op.stmt, 3, g_get_real_time());
	if (!nbx_store_op_progress_done(&op, error))
		return FALSE;
	if (sqlite3_changes(store->db) != 0)
		return TRUE;
	/* Nothing changed: the count was right already, or there is no such machine. */
	if (!nbx_store_op_prepare(&op, "SELECT 1 FROM machines WHERE name = ?1", error))
		return FALSE;
	nbx_store_bind_text(op.stmt, 1, name);
	switch (nbx_store_op_row(&op, error)) {
	case NBX_STORE_ROW:
		return TRUE;
	case NBX_STORE_NO_ROW:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "%s: the store has no machine %s (%s)", what, name, store->path);
		return FALSE;
	default:
		return FALSE;
	}
}

static gpointer
read_machine(NbxStoreOp *op, G_GNUC_UNUSED GError **error)
{
	sqlite3_stmt *stmt = op->stmt;
	NbxStoredMachine *machine = g_new0(NbxStoredMachine, 1);

	machine->name = nbx_store_column_strdup(stmt, 0);
	machine->machinery = nbx_store_column_strdup(stmt, 1);
	machine->activity = (NbxMachineActivity)sqlite3_column_int(stmt, 2);
	machine->task_id = sqlite3_column_int64(stmt, 3);
	machine->disabled_reason = nbx_store_column_strdup(stmt, 4);
	machine->failures = sqlite3_column_int64(stmt, 5);
	machine->updated_us = sqlite3_column_int64(stmt, 6);
	return machine;
}

NbxStoredMachine *
nbx_store_machine_get(NbxStore *store, const char *name, GError **error)
{
	g_autofree char *what = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && name != NULL, NULL);

	what = g_strdup_printf("cannot read machine %s", name);
	if (!nbx_store_op_begin(&op, store, MACHINE_SELECT " WHERE name = ?1", what, error))
		return NULL;
	nbx_store_bind_text(op.stmt, 1, name);
	switch (nbx_store_op_row(&op, error)) {
	case NBX_STORE_ROW:
		return read_machine(&op, error);
	case NBX_STORE_NO_ROW:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "the store has no machine %s (%s)", name, store->path);
		return NULL;
	default:
		return NULL;
	}
}

GPtrArray *
nbx_store_machine_list(NbxStore *store, GError **error)
{
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, NULL);

	if (!nbx_store_op_begin(&op, store, MACHINE_SELECT " ORDER BY name", "cannot list machines",
				error))
		return NULL;
	return nbx_store_op_rows(&op, read_machine, (GDestroyNotify)nbx_stored_machine_free, error);
}
