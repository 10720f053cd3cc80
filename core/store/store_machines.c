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
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && name != NULL && machinery != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s", name);
	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	nbx_store_bind_text(stmt, 1, name);
	nbx_store_bind_text(stmt, 2, machinery);
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	return nbx_store_step_done(store, stmt, error, what);
}

/*
 * Runs one UPDATE of a machine row whose ?1 is the name and ?2.. are bound
 * by the caller's values; NOT_FOUND when the machine has no row. Lock held.
 */
static gboolean
machine_update_done(NbxStore *store, sqlite3_stmt *stmt, const char *name, gboolean progress,
		    GError **error, const char *what)
{
	if (!(progress ? nbx_store_progress_done : nbx_store_step_done)(store, stmt, error, what))
		return FALSE;
	if (sqlite3_changes(store->db) == 0) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "%s: the store has no machine %s (%s)", what, name, store->path);
		return FALSE;
	}
	return TRUE;
}

gboolean
nbx_store_machine_set_activity(NbxStore *store, const char *name, NbxMachineActivity activity,
			       gint64 task_id, GError **error)
{
	static const char sql[] =
		"UPDATE machines SET activity = ?2, task_id = ?3, updated_us = ?4 WHERE name = ?1";
	g_autofree char *what = NULL;
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s as %s", name,
			       nbx_machine_activity_name(activity));
	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	nbx_store_bind_text(stmt, 1, name);
	sqlite3_bind_int(stmt, 2, (int)activity);
	sqlite3_bind_int64(stmt, 3, task_id);
	sqlite3_bind_int64(stmt, 4, g_get_real_time());
	return machine_update_done(store, stmt, name, TRUE, error, what);
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
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record machine %s as %s", name,
			       reason != NULL ? "disabled" : "enabled");
	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, reason != NULL ? sql_disable : sql_enable, error, what);
	if (stmt == NULL)
		return FALSE;
	nbx_store_bind_text(stmt, 1, name);
	if (reason != NULL)
		nbx_store_bind_text(stmt, 2, reason);
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	return machine_update_done(store, stmt, name, FALSE, error, what);
}

gboolean
nbx_store_machine_set_failures(NbxStore *store, const char *name, gint64 failures, GError **error)
{
	static const char sql[] =
		"UPDATE machines SET failures = ?2, updated_us = ?3 WHERE name = ?1";
	g_autofree char *what = NULL;
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);

	what = g_strdup_printf("cannot record the failures of machine %s", name);
	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	nbx_store_bind_text(stmt, 1, name);
	sqlite3_bind_int64(stmt, 2, failures);
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	return machine_update_done(store, stmt, name, TRUE, error, what);
}

static NbxStoredMachine *
read_machine(sqlite3_stmt *stmt)
{
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
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, NULL);

	what = g_strdup_printf("cannot read machine %s", name);
	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, MACHINE_SELECT " WHERE name = ?1", error, what);
	if (stmt == NULL)
		return NULL;
	nbx_store_bind_text(stmt, 1, name);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		return read_machine(stmt);
	case SQLITE_DONE:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "the store has no machine %s (%s)", name, store->path);
		return NULL;
	default:
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return NULL;
	}
}

GPtrArray *
nbx_store_machine_list(NbxStore *store, GError **error)
{
	const char *what = "cannot list machines";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autoptr(GPtrArray) machines = NULL;
	int rc;

	g_return_val_if_fail(store != NULL, NULL);

	locker = g_mutex_locker_new(&store->lock);
	stmt = nbx_store_statement(store, MACHINE_SELECT " ORDER BY name", error, what);
	if (stmt == NULL)
		return NULL;
	machines = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_stored_machine_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_ptr_array_add(machines, read_machine(stmt));
	if (rc != SQLITE_DONE) {
		nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return NULL;
	}
	return g_steal_pointer(&machines);
}
