/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tasks table: a task inserted (with its Idempotency-Key when the
 * client sent one), read, updated, listed and counted; an operator's cancel
 * recorded in a column of its own; observers told of every task written.
 */
#include "store_private.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* The order of the columns is the order of the ?N parameters in bind_task(). */
#define TASK_COLUMNS                                                                             \
	"state, priority, created_us, started_us, ended_us, target, target_name, machine, "      \
	"platform, os_version, architecture, tags, duration_s, memory_dump, debug, options_json, " \
	"assigned_machine, analysis_dir, step, reason, attempts"
#define TASK_PARAMS                                                                   \
	"?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, " \
	"?20, ?21"
#define TASK_SELECT "SELECT id, " TASK_COLUMNS ", cancel_requested_us FROM tasks"

/* What an untagged task (most of them) stores, written and read without a JSON parser. */
#define NO_TAGS_JSON "[]"

static char *
tags_to_json(char *const *tags)
{
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) root = NULL;

	if (tags == NULL || *tags == NULL)
		return g_strdup(NO_TAGS_JSON);
	builder = json_builder_new();
	json_builder_begin_array(builder);
	for (char *const *tag = tags; tag != NULL && *tag != NULL; tag++)
		json_builder_add_string_value(builder, *tag);
	json_builder_end_array(builder);
	root = json_builder_get_root(builder);
	return json_to_string(root, FALSE);
}

static char **
tags_from_json(const char *text)
{
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GPtrArray) tags = NULL;
	JsonArray *array;

	if (text == NULL || strcmp(text, NO_TAGS_JSON) == 0)
		return g_new0(char *, 1);
	root = json_from_string(text, NULL);
	tags = g_ptr_array_new_with_free_func(g_free);
	if (root == NULL || !JSON_NODE_HOLDS_ARRAY(root))
		return NULL;
	array = json_node_get_array(root);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);

		if (!JSON_NODE_HOLDS_VALUE(element) ||
		    json_node_get_value_type(element) != G_TYPE_STRING)
			return NULL;
		g_ptr_array_add(tags, g_strdup(json_node_get_string(element)));
	}
	g_ptr_array_add(tags, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&tags), FALSE);
}

/* Binds ?1..?21 in TASK_COLUMNS order; @tags_json must live until the last step. */
static void
bind_task(sqlite3_stmt *stmt, const NbxTask *task, const char *tags_json)
{
	sqlite3_bind_int(stmt, 1, (int)task->state);
	sqlite3_bind_int64(stmt, 2, task->priority);
	sqlite3_bind_int64(stmt, 3, task->created_us);
	sqlite3_bind_int64(stmt, 4, task->started_us);
	sqlite3_bind_int64(stmt, 5, task->ended_us);
	nbx_store_bind_text(stmt, 6, task->target);
	nbx_store_bind_text(stmt, 7, task->target_name);
	nbx_store_bind_text(stmt, 8, task->machine);
	nbx_store_bind_text(stmt, 9, task->platform);
	nbx_store_bind_text(stmt, 10, task->os_version);
	nbx_store_bind_text(stmt, 11, task->architecture);
	nbx_store_bind_text(stmt, 12, tags_json);
	sqlite3_bind_int64(stmt, 13, task->duration_s);
	sqlite3_bind_int(stmt, 14, task->memory_dump ? 1 : 0);
	sqlite3_bind_int(stmt, 15, task->debug ? 1 : 0);
	nbx_store_bind_text(stmt, 16, task->options_json);
	nbx_store_bind_text(stmt, 17, task->assigned_machine);
	nbx_store_bind_text(stmt, 18, task->analysis_dir);
	nbx_store_bind_text(stmt, 19, task->step);
	nbx_store_bind_text(stmt, 20, task->reason);
	sqlite3_bind_int64(stmt, 21, task->attempts);
}

/* Reads a row of TASK_SELECT; NULL (with @error set) for a damaged row. */
static gpointer
read_task(NbxStoreOp *op, GError **error)
{
	NbxStore *store = op->store;
	sqlite3_stmt *stmt = op->stmt;
	g_autoptr(NbxTask) task = g_new0(NbxTask, 1);
	gint64 state = sqlite3_column_int64(stmt, 1);

	task->id = sqlite3_column_int64(stmt, 0);
	if (state < 0 || state > NBX_TASK_STATE_LAST) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
			    "task %" G_GINT64_FORMAT ": stored state %" G_GINT64_FORMAT
			    " is not a task state (%s)",
			    task->id, state, store->path);
		return NULL;
	}
	task->state = (NbxTaskState)state;
	task->priority = sqlite3_column_int64(stmt, 2);
	task->created_us = sqlite3_column_int64(stmt, 3);
	task->started_us = sqlite3_column_int64(stmt, 4);
	task->ended_us = sqlite3_column_int64(stmt, 5);
	task->target = nbx_store_column_strdup(stmt, 6);
	task->target_name = nbx_store_column_strdup(stmt, 7);
	task->machine = nbx_store_column_strdup(stmt, 8);
	task->platform = nbx_store_column_strdup(stmt, 9);
	task->os_version = nbx_store_column_strdup(stmt, 10);
	task->architecture = nbx_store_column_strdup(stmt, 11);
	task->tags = tags_from_json((const char *)sqlite3_column_text(stmt, 12));
	if (task->tags == NULL) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
			    "task %" G_GINT64_FORMAT ": stored tags are not a JSON array of "
			    "strings: %s (%s)",
			    task->id, (const char *)sqlite3_column_text(stmt, 12), store->path);
		return NULL;
	}
	task->duration_s = sqlite3_column_int64(stmt, 13);
	task->memory_dump = sqlite3_column_int64(stmt, 14) != 0;
	task->debug = sqlite3_column_int64(stmt, 15) != 0;
	task->options_json = nbx_store_column_strdup(stmt, 16);
	task->assigned_machine = nbx_store_column_strdup(stmt, 17);
	task->analysis_dir = nbx_store_column_strdup(stmt, 18);
	task->step = nbx_store_column_strdup(stmt, 19);
	task->reason = nbx_store_column_strdup(stmt, 20);
	task->attempts = sqlite3_column_int64(stmt, 21);
	task->cancel_requested_us = sqlite3_column_int64(stmt, 22);
	return g_steal_pointer(&task);
}

/* The CHECK constraint would refuse it too, but with words no user can act on. */
static gboolean
task_state_is_valid(NbxStore *store, const NbxTask *task, GError **error, const char *what)
{
	if ((guint)task->state <= NBX_TASK_STATE_LAST)
		return TRUE;
	g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
		    "%s: %d is not a task state (%s)", what, (int)task->state, store->path);
	return FALSE;
}

/* Lock held, so observers see the writes in the order the store made them. */
static void
notify_task(NbxStore *store, const NbxTask *task, gboolean inserted)
{
	for (guint i = 0; i < store->task_observers->len; i++) {
		NbxTaskObserver *observer = g_ptr_array_index(store->task_observers, i);

		observer->func(task, inserted, observer->data);
	}
}

void
nbx_store_add_task_observer(NbxStore *store, NbxStoreTaskObserver func, gpointer data)
{
	NbxTaskObserver *observer = g_new0(NbxTaskObserver, 1);

	observer->func = func;
	observer->data = data;
	g_mutex_lock(&store->lock);
	g_ptr_array_add(store->task_observers, observer);
	g_mutex_unlock(&store->lock);
}

void
nbx_store_remove_task_observer(NbxStore *store, NbxStoreTaskObserver func, gpointer data)
{
	g_mutex_lock(&store->lock);
	for (guint i = 0; i < store->task_observers->len; i++) {
		NbxTaskObserver *observer = g_ptr_array_index(store->task_observers, i);

		if (observer->func == func && observer->data == data) {
			g_ptr_array_remove_index(store->task_observers, i);
			break;
		}
	}
	g_mutex_unlock(&store->lock);
}

/* Inserts @task and sets its id; @op's lock held. */
static gboolean
insert_task(NbxStoreOp *op, NbxTask *task, GError **error)
{
	static const char sql[] = "INSERT INTO tasks (" TASK_COLUMNS ") VALUES (" TASK_PARAMS ")";
	g_autofree char *tags_json = tags_to_json(task->tags);

	if (!nbx_store_op_prepare(op, sql, error))
		return FALSE;
	bind_task(op->stmt, task, tags_json);
	if (!nbx_store_op_done(op, error))
		return FALSE;
	/* Under the lock: no other insert on this connection can come between. */
	task->id = sqlite3_last_insert_rowid(op->store->db);
	return TRUE;
}

/* Adds @note's event for @task_id in @op's transaction. */
static gboolean
insert_note(NbxStoreOp *op, gint64 task_id, const NbxStoreNote *note, GError **error)
{
	if (note == NULL)
		return TRUE;
	if (!nbx_store_op_prepare(op, NBX_STORE_EVENT_INSERT, error))
		return FALSE;
	nbx_store_bind_event(op->stmt, task_id, note);
	return nbx_store_op_done(op, error);
}

/*
 * Remembers @key for the task just inserted, and forgets the keys made
 * before @expired_us; @op's lock held.
 */
static gboolean
insert_key(NbxStoreOp *op, const NbxTask *task, const char *key, const char *request_digest,
	   gint64 expired_us, GError **error)
{
	if (!nbx_store_op_prepare(op, "DELETE FROM idempotency_keys WHERE created_us < ?1", error))
		return FALSE;
	sqlite3_bind_int64(op->stmt, 1, expired_us);
	if (!nbx_store_op_done(op, error))
		return FALSE;
	if (!nbx_store_op_prepare(op,
				  "INSERT OR REPLACE INTO idempotency_keys (key, task_id, "
				  "request_digest, created_us) VALUES (?1, ?2, ?3, ?4)",
				  error))
		return FALSE;
	nbx_store_bind_text(op->stmt, 1, key);
	sqlite3_bind_int64(op->stmt, 2, task->id);
	nbx_store_bind_text(op->stmt, 3, request_digest);
	sqlite3_bind_int64(op->stmt, 4, task->created_us);
	return nbx_store_op_done(op, error);
}

gboolean
nbx_store_task_insert_noting(NbxStore *store, NbxTask *task, const char *key,
			     const char *request_digest, gint64 expired_us, const NbxStoreNote *note,
			     GError **error)
{
	const char *what = "cannot store a new task";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && task != NULL, FALSE);
	g_return_val_if_fail(key == NULL || request_digest != NULL, FALSE);

	if (!task_state_is_valid(store, task, error, what))
		return FALSE;
	nbx_store_op_lock(&op, store, what);
	if (key == NULL && note == NULL) {
		if (!insert_task(&op, task, error))
			return FALSE;
	} else if (!nbx_store_op_begin_transaction(&op, error) || !insert_task(&op, task, error) ||
		   (key != NULL &&
		    !insert_key(&op, task, key, request_digest, expired_us, error)) ||
		   !insert_note(&op, task->id, note, error) || !nbx_store_op_commit(&op, error)) {
		return FALSE;
	}
	notify_task(store, task, TRUE);
	return TRUE;
}

gboolean
nbx_store_task_insert(NbxStore *store, NbxTask *task, GError **error)
{
	return nbx_store_task_insert_noting(store, task, NULL, NULL, 0, NULL, error);
}

gboolean
nbx_store_task_insert_keyed(NbxStore *store, NbxTask *task, const char *key,
			    const char *request_digest, gint64 expired_us, GError **error)
{
	g_return_val_if_fail(key != NULL, FALSE);

	return nbx_store_task_insert_noting(store, task, key, request_digest, expired_us, NULL,
					    error);
}

gint64
nbx_store_task_find_by_key(NbxStore *store, const char *key, gint64 since_us,
			   char **request_digest, GError **error)
{
	static const char sql[] = "SELECT task_id, request_digest FROM idempotency_keys "
				  "WHERE key = ?1 AND created_us >= ?2";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && key != NULL, -1);

	if (!nbx_store_op_begin(&op, store, sql, "cannot look up an Idempotency-Key", error))
		return -1;
	nbx_store_bind_text(op.stmt, 1, key);
	sqlite3_bind_int64(op.stmt, 2, since_us);
	switch (nbx_store_op_row(&op, error)) {
	case NBX_STORE_ROW:
		*request_digest = nbx_store_column_strdup(op.stmt, 1);
		return sqlite3_column_int64(op.stmt, 0);
	case NBX_STORE_NO_ROW:
		return 0;
	default:
		return -1;
	}
}

/*
 * Steps @op's UPDATE of @task and adds @note, one transaction when there is
 * a note; a running task's writes are progress, queued again and ended are
 * acknowledged. Tells the observers.
 */
static gboolean
finish_update(NbxStoreOp *op, const NbxTask *task, const NbxStoreNote *note, GError **error)
{
	gboolean progress = task->state == NBX_TASK_RUNNING;

	if (note == NULL) {
		if (!(progress ? nbx_store_op_progress_done : nbx_store_op_done)(op, error))
			return FALSE;
	} else {
		/* BEGIN runs a cached statement of its own: the bound UPDATE stays current. */
		if (!(progress ? nbx_store_op_begin_progress : nbx_store_op_begin_transaction)(op, error) ||
		    !nbx_store_op_done(op, error))
			return FALSE;
	}
	if (!nbx_store_op_changed(op, error, "there is no task %" G_GINT64_FORMAT, task->id))
		return FALSE;
	if (note != NULL && (!insert_note(op, task->id, note, error) || !nbx_store_op_commit(op, error)))
		return FALSE;
	notify_task(op->store, task, FALSE);
	return TRUE;
}

gboolean
nbx_store_task_update_noting(NbxStore *store, const NbxTask *task, const NbxStoreNote *note,
			     GError **error)
{
	static const char sql[] = "UPDATE tasks SET (" TASK_COLUMNS ") = (" TASK_PARAMS ") WHERE id = ?22";
	g_autofree char *what = NULL;
	g_autofree char *tags_json = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && task != NULL, FALSE);

	what = g_strdup_printf("cannot store task %" G_GINT64_FORMAT, task->id);
	if (!task_state_is_valid(store, task, error, what))
		return FALSE;
	tags_json = tags_to_json(task->tags);
	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	bind_task(op.stmt, task, tags_json);
	sqlite3_bind_int64(op.stmt, 22, task->id);
	return finish_update(&op, task, note, error);
}

gboolean
nbx_store_task_update(NbxStore *store, const NbxTask *task, GError **error)
{
	return nbx_store_task_update_noting(store, task, NULL, error);
}

gboolean
nbx_store_task_set_step(NbxStore *store, const NbxTask *task, const NbxStoreNote *note,
			GError **error)
{
	static const char sql[] = "UPDATE tasks SET step = ?2, analysis_dir = ?3 WHERE id = ?1";
	g_autofree char *what = NULL;
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && task != NULL, FALSE);
	g_return_val_if_fail(task->state == NBX_TASK_RUNNING, FALSE);

	what = g_strdup_printf("cannot store task %" G_GINT64_FORMAT, task->id);
	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	sqlite3_bind_int64(op.stmt, 1, task->id);
	nbx_store_bind_text(op.stmt, 2, task->step);
	nbx_store_bind_text(op.stmt, 3, task->analysis_dir);
	return finish_update(&op, task, note, error);
}

NbxTask *
nbx_store_task_get(NbxStore *store, gint64 id, GError **error)
{
	g_autofree char *what = g_strdup_printf("cannot read task %" G_GINT64_FORMAT, id);
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, NULL);

	if (!nbx_store_op_begin(&op, store, TASK_SELECT " WHERE id = ?1", what, error))
		return NULL;
	sqlite3_bind_int64(op.stmt, 1, id);
	switch (nbx_store_op_row(&op, error)) {
	case NBX_STORE_ROW:
		return read_task(&op, error);
	case NBX_STORE_NO_ROW:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "there is no task %" G_GINT64_FORMAT " (%s)", id, store->path);
		return NULL;
	default:
		return NULL;
	}
}

gboolean
nbx_store_task_request_cancel(NbxStore *store, gint64 id, GError **error)
{
	/* The first request's time is kept: a second cancel changes nothing. */
	static const char sql[] =
		"UPDATE tasks SET cancel_requested_us = CASE WHEN cancel_requested_us = 0 THEN ?2 "
		"ELSE cancel_requested_us END WHERE id = ?1 AND state IN (?3, ?4)";
	g_autofree char *what = g_strdup_printf("cannot record the cancel of task %" G_GINT64_FORMAT,
						id);
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, FALSE);

	if (!nbx_store_op_begin(&op, store, sql, what, error))
		return FALSE;
	sqlite3_bind_int64(op.stmt, 1, id);
	sqlite3_bind_int64(op.stmt, 2, g_get_real_time());
	sqlite3_bind_int(op.stmt, 3, NBX_TASK_QUEUED);
	sqlite3_bind_int(op.stmt, 4, NBX_TASK_RUNNING);
	return nbx_store_op_done(&op, error) &&
	       nbx_store_op_changed(&op, error, "there is no queued or running task %" G_GINT64_FORMAT,
				    id);
}

gboolean
nbx_store_task_set_queued_reasons(NbxStore *store, GPtrArray *tasks, GError **error)
{
	static const char sql[] = "UPDATE tasks SET reason = ?2 WHERE id = ?1 AND state = ?3";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL && tasks != NULL, FALSE);

	if (tasks->len == 0)
		return TRUE;
	/* One transaction, one fsync, however many tasks a disabled machine keeps waiting. */
	if (!nbx_store_op_begin(&op, store, sql, "cannot record why tasks wait", error) ||
	    !nbx_store_op_begin_transaction(&op, error))
		return FALSE;
	for (guint i = 0; i < tasks->len; i++) {
		const NbxTask *task = g_ptr_array_index(tasks, i);

		sqlite3_bind_int64(op.stmt, 1, task->id);
		nbx_store_bind_text(op.stmt, 2, task->reason);
		sqlite3_bind_int(op.stmt, 3, NBX_TASK_QUEUED);
		if (!nbx_store_op_done(&op, error))
			return FALSE;
		sqlite3_reset(op.stmt);
	}
	return nbx_store_op_commit(&op, error);
}

GPtrArray *
nbx_store_task_list(NbxStore *store, int state, gint64 limit, gint64 before_id, GError **error)
{
	/*
	 * Two fixed statements rather than one with "?1 < 0 OR state = ?1",
	 * which would hide the state from the planner. A negative LIMIT is
	 * SQLite's "no limit".
	 */
	static const char sql_all[] = TASK_SELECT " WHERE id < ?2 ORDER BY id DESC LIMIT ?3";
	static const char sql_state[] =
		TASK_SELECT " WHERE state = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, NULL);

	if (!nbx_store_op_begin(&op, store, state < 0 ? sql_all : sql_state, "cannot list tasks",
				error))
		return NULL;
	if (state >= 0)
		sqlite3_bind_int(op.stmt, 1, state);
	sqlite3_bind_int64(op.stmt, 2, before_id > 0 ? before_id : G_MAXINT64);
	sqlite3_bind_int64(op.stmt, 3, limit > 0 ? limit : -1);
	return nbx_store_op_rows(&op, read_task, (GDestroyNotify)nbx_task_free, error);
}

GPtrArray *
nbx_store_task_list_queued(NbxStore *store, GError **error)
{
	/* Walks tasks_run_order: no sort, however long the queue. */
	static const char sql[] =
		TASK_SELECT " WHERE state = ?1 ORDER BY priority DESC, created_us ASC, id ASC";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, NULL);

	if (!nbx_store_op_begin(&op, store, sql, "cannot list queued tasks", error))
		return NULL;
	sqlite3_bind_int(op.stmt, 1, NBX_TASK_QUEUED);
	return nbx_store_op_rows(&op, read_task, (GDestroyNotify)nbx_task_free, error);
}

gint64
nbx_store_task_count(NbxStore *store, NbxTaskState state, GError **error)
{
	/* The state is the index's first column: a count without reading rows. */
	static const char sql[] = "SELECT count(*) FROM tasks WHERE state = ?1";
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;

	g_return_val_if_fail(store != NULL, -1);

	if (!nbx_store_op_begin(&op, store, sql, "cannot count tasks", error))
		return -1;
	sqlite3_bind_int(op.stmt, 1, state);
	switch (nbx_store_op_row(&op, error)) {
	case NBX_STORE_ROW:
		return sqlite3_column_int64(op.stmt, 0);
	case NBX_STORE_NO_ROW:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED,
			    "cannot count tasks: SQLite gave no count (%s)", store->path);
		return -1;
	default:
		return -1;
	}
}
