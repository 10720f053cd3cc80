/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <unistd.h>

G_DEFINE_QUARK(nbx-store-error-quark, nbx_store_error)

/*
 * Bump with a migration in store_prepare_schema(); a database with a newer
 * version is refused rather than guessed at.
 */
#define STORE_SCHEMA_VERSION 3

/* Long enough to ride out another process's checkpoint, short enough to report a stuck lock. */
#define STORE_BUSY_TIMEOUT_MS 5000

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
 * Plain constants only: values always go through sqlite3_bind_*(), never
 * into the text of a statement.
 */
static const char schema_v1[] =
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
	"  priority INTEGER NOT NULL DEFAULT 0,"
	"  created_us INTEGER NOT NULL DEFAULT 0,"
	"  started_us INTEGER NOT NULL DEFAULT 0,"
	"  ended_us INTEGER NOT NULL DEFAULT 0,"
	"  target TEXT,"
	"  target_name TEXT,"
	"  machine TEXT,"
	"  platform TEXT,"
	"  os_version TEXT,"
	"  architecture TEXT,"
	"  tags TEXT NOT NULL DEFAULT '[]',"
	"  duration_s INTEGER NOT NULL DEFAULT 0,"
	"  memory_dump INTEGER NOT NULL DEFAULT 0,"
	"  debug INTEGER NOT NULL DEFAULT 0,"
	"  options_json TEXT,"
	"  assigned_machine TEXT,"
	"  analysis_dir TEXT,"
	"  step TEXT,"
	"  reason TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_run_order ON tasks (state, priority DESC, created_us, id);"
	"CREATE TABLE machines ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  machinery TEXT NOT NULL,"
	"  activity INTEGER NOT NULL DEFAULT 0 CHECK (activity BETWEEN 0 AND 3),"
	"  task_id INTEGER NOT NULL DEFAULT 0,"
	"  disabled_reason TEXT,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  updated_us INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time_us INTEGER NOT NULL,"
	"  task_id INTEGER NOT NULL DEFAULT 0,"
	"  machine TEXT,"
	"  kind TEXT NOT NULL,"
	"  message TEXT"
	");"
	"CREATE INDEX events_task ON events (task_id);"
	"PRAGMA user_version = 1;";

/*
 * Version 2: an operator's cancel, recorded before it is acknowledged, in a
 * column of its own that nbx_store_task_update() never writes: the analysis
 * thread's copy of the task cannot undo it, and a restarted daemon reads it.
 */
static const char schema_v2[] =
	"ALTER TABLE tasks ADD COLUMN cancel_requested_us INTEGER NOT NULL DEFAULT 0;"
	"PRAGMA user_version = 2;";

/*
 * Version 3: the Idempotency-Key a client sent with a submission, so that
 * a retried submission finds the task the first one made (control_api.c).
 * A key is looked for only within a window, so an old one may be reused:
 * the row is then replaced.
 */
static const char schema_v3[] =
	"CREATE TABLE idempotency_keys ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  task_id INTEGER NOT NULL,"
	"  request_digest TEXT NOT NULL,"
	"  created_us INTEGER NOT NULL"
	");"
	"CREATE INDEX idempotency_keys_created ON idempotency_keys (created_us);"
	"PRAGMA user_version = 3;";

/* migrations[N] takes a store from version N to N + 1. */
static const char *const migrations[] = { schema_v1, schema_v2, schema_v3 };
G_STATIC_ASSERT(G_N_ELEMENTS(migrations) == STORE_SCHEMA_VERSION);

/* The order of the columns is the order of the ?N parameters in bind_task(). */
#define TASK_COLUMNS                                                                             \
	"state, priority, created_us, started_us, ended_us, target, target_name, machine, "      \
	"platform, os_version, architecture, tags, duration_s, memory_dump, debug, options_json, " \
	"assigned_machine, analysis_dir, step, reason, attempts"
#define TASK_PARAMS                                                                   \
	"?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, " \
	"?20, ?21"
#define TASK_SELECT "SELECT id, " TASK_COLUMNS ", cancel_requested_us FROM tasks"

#define MACHINE_SELECT \
	"SELECT name, machinery, activity, task_id, disabled_reason, failures, updated_us FROM machines"
#define EVENT_SELECT "SELECT id, time_us, task_id, machine, kind, message FROM events"

/*
 * Statements come from the store's cache (prepare()): leaving an
 * operation resets one for the next, it is finalized only at close.
 */
static void
stmt_release(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, stmt_release)

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
static void G_GNUC_PRINTF(4, 5)
set_error(NbxStore *store, GError **error, NbxStoreError code, const char *format, ...)
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
 * do) gets a fresh one, kept until close like the rest.
 */
static sqlite3_stmt *
prepare(NbxStore *store, const char *sql, GError **error, const char *what)
{
	sqlite3_stmt *stmt = g_hash_table_lookup(store->statements, sql);

	if (stmt != NULL && !sqlite3_stmt_busy(stmt))
		return stmt;
	stmt = NULL;
	if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		sqlite3_finalize(stmt);
		return NULL;
	}
	if (!g_hash_table_contains(store->statements, sql))
		g_hash_table_insert(store->statements, g_strdup(sql), stmt);
	return stmt;
}

static void
bind_text(sqlite3_stmt *stmt, int index, const char *value)
{
	/* The values outlive every step: no copy needed. */
	if (value == NULL)
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
}

static char *
column_strdup(sqlite3_stmt *stmt, int index)
{
	if (sqlite3_column_type(stmt, index) == SQLITE_NULL)
		return NULL;
	return g_strdup((const char *)sqlite3_column_text(stmt, index));
}

/* Runs a statement that returns no rows; the caller names the operation. */
static gboolean
step_done(NbxStore *store, sqlite3_stmt *stmt, GError **error, const char *what)
{
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return FALSE;
	}
	return TRUE;
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
 * Lock held.
 */
/* A cached PRAGMA: sqlite3_exec would parse it on every progress record. */
static gboolean
set_synchronous(NbxStore *store, const char *pragma)
{
	g_autoptr(sqlite3_stmt) stmt = prepare(store, pragma, NULL, pragma);

	return stmt != NULL && sqlite3_step(stmt) == SQLITE_DONE;
}

static gboolean
progress_done(NbxStore *store, sqlite3_stmt *stmt, GError **error, const char *what)
{
	gboolean ok;

	if (!set_synchronous(store, "PRAGMA synchronous = NORMAL"))
		g_warning("%s: cannot skip the fsync of a progress record: %s", store->path,
			  sqlite3_errmsg(store->db));
	ok = step_done(store, stmt, error, what);
	if (!set_synchronous(store, "PRAGMA synchronous = FULL"))
		g_error("%s: cannot make commits durable again: %s", store->path,
			sqlite3_errmsg(store->db));
	return ok;
}

/* --- opening --- */

static gboolean
exec_pragma_int(NbxStore *store, const char *sql, gint64 *value, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = prepare(store, sql, error, "cannot open the store");

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
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
		return FALSE;
	}
}

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
		prepare(store, "PRAGMA journal_mode = WAL", error, "cannot switch the store to WAL");
	const char *mode;

	if (stmt == NULL)
		return FALSE;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot switch the store to WAL");
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
check_version(NbxStore *store, gint64 version, GError **error)
{
	if (version > STORE_SCHEMA_VERSION) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_VERSION,
			    "%s: the store has schema version %" G_GINT64_FORMAT
			    ", this nestbox knows up to version %d; run a newer nestbox or "
			    "point state_dir elsewhere",
			    store->path, version, STORE_SCHEMA_VERSION);
		return FALSE;
	}
	if (version < 0) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_VERSION,
			    "%s: the store has schema version %" G_GINT64_FORMAT
			    ", which no nestbox writes; it is not a nestbox store",
			    store->path, version);
		return FALSE;
	}
	return TRUE;
}

static void
rollback(NbxStore *store)
{
	/* Only when a transaction is still open: a failed COMMIT may have ended it. */
	if (!sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Creates or migrates the schema in one transaction, so a crash leaves the
 * store at its old version or at the new one, never between. IMMEDIATE
 * takes the write lock before the version is read again: a second process
 * opening the same file waits and then sees the new version instead of
 * migrating twice.
 */
static gboolean
prepare_schema(NbxStore *store, GError **error)
{
	gint64 version = 0;

	if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot create the store's tables");
		return FALSE;
	}
	if (!exec_pragma_int(store, "PRAGMA user_version", &version, error) ||
	    !check_version(store, version, error)) {
		rollback(store);
		return FALSE;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		if (sqlite3_exec(store->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK) {
			/* A file with our table names but no version is someone else's database. */
			if (version == 0)
				set_error(store, error, NBX_STORE_ERROR_FAILED,
					  "cannot create the store's tables");
			else
				set_error(store, error, NBX_STORE_ERROR_FAILED,
					  "cannot upgrade the store from version %" G_GINT64_FORMAT
					  " to %" G_GINT64_FORMAT,
					  version, version + 1);
			rollback(store);
			return FALSE;
		}
	}
	if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot create the store's tables");
		rollback(store);
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
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
		return FALSE;
	}
	/* Before anything writes: switching to WAL would already change a newer store. */
	if (!exec_pragma_int(store, "PRAGMA user_version", &version, error) ||
	    !check_version(store, version, error))
		return FALSE;
	if (!enable_wal(store, error))
		return FALSE;
	if (!exec_pragma_int(store, "PRAGMA synchronous = FULL", NULL, error) ||
	    !exec_pragma_int(store, "PRAGMA foreign_keys = ON", NULL, error))
		return FALSE;
	if (version == STORE_SCHEMA_VERSION)
		return TRUE;
	return prepare_schema(store, error);
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
	store->statements = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
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
		set_error(store, error, NBX_STORE_ERROR_FAILED, "cannot open the store");
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

/* --- tasks --- */

static char *
tags_to_json(char *const *tags)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

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
	g_autoptr(JsonNode) root = json_from_string(text != NULL ? text : "[]", NULL);
	g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
	JsonArray *array;

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
	bind_text(stmt, 6, task->target);
	bind_text(stmt, 7, task->target_name);
	bind_text(stmt, 8, task->machine);
	bind_text(stmt, 9, task->platform);
	bind_text(stmt, 10, task->os_version);
	bind_text(stmt, 11, task->architecture);
	bind_text(stmt, 12, tags_json);
	sqlite3_bind_int64(stmt, 13, task->duration_s);
	sqlite3_bind_int(stmt, 14, task->memory_dump ? 1 : 0);
	sqlite3_bind_int(stmt, 15, task->debug ? 1 : 0);
	bind_text(stmt, 16, task->options_json);
	bind_text(stmt, 17, task->assigned_machine);
	bind_text(stmt, 18, task->analysis_dir);
	bind_text(stmt, 19, task->step);
	bind_text(stmt, 20, task->reason);
	sqlite3_bind_int64(stmt, 21, task->attempts);
}

/* Reads a row of TASK_SELECT; NULL (with @error set) for a damaged row. */
static NbxTask *
read_task(NbxStore *store, sqlite3_stmt *stmt, GError **error)
{
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
	task->target = column_strdup(stmt, 6);
	task->target_name = column_strdup(stmt, 7);
	task->machine = column_strdup(stmt, 8);
	task->platform = column_strdup(stmt, 9);
	task->os_version = column_strdup(stmt, 10);
	task->architecture = column_strdup(stmt, 11);
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
	task->options_json = column_strdup(stmt, 16);
	task->assigned_machine = column_strdup(stmt, 17);
	task->analysis_dir = column_strdup(stmt, 18);
	task->step = column_strdup(stmt, 19);
	task->reason = column_strdup(stmt, 20);
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

/* Inserts @task and sets its id; lock held. */
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

static gboolean
insert_task(NbxStore *store, NbxTask *task, GError **error, const char *what)
{
	static const char sql[] = "INSERT INTO tasks (" TASK_COLUMNS ") VALUES (" TASK_PARAMS ")";
	g_autofree char *tags_json = tags_to_json(task->tags);
	g_autoptr(sqlite3_stmt) stmt = prepare(store, sql, error, what);

	if (stmt == NULL)
		return FALSE;
	bind_task(stmt, task, tags_json);
	if (!step_done(store, stmt, error, what))
		return FALSE;
	/* Under the lock: no other insert on this connection can come between. */
	task->id = sqlite3_last_insert_rowid(store->db);
	return TRUE;
}

gboolean
nbx_store_task_insert(NbxStore *store, NbxTask *task, GError **error)
{
	const char *what = "cannot store a new task";
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_val_if_fail(store != NULL && task != NULL, FALSE);

	if (!task_state_is_valid(store, task, error, what))
		return FALSE;
	locker = g_mutex_locker_new(&store->lock);
	if (!insert_task(store, task, error, what))
		return FALSE;
	notify_task(store, task, TRUE);
	return TRUE;
}

/*
 * Remembers @key for the task just inserted, and forgets the keys made
 * before @expired_us; lock held.
 */
static gboolean
insert_key(NbxStore *store, const NbxTask *task, const char *key, const char *request_digest,
	   gint64 expired_us, GError **error, const char *what)
{
	g_autoptr(sqlite3_stmt) purge =
		prepare(store, "DELETE FROM idempotency_keys WHERE created_us < ?1", error, what);
	g_autoptr(sqlite3_stmt) insert = NULL;

	if (purge == NULL)
		return FALSE;
	sqlite3_bind_int64(purge, 1, expired_us);
	if (!step_done(store, purge, error, what))
		return FALSE;
	insert = prepare(store,
			 "INSERT OR REPLACE INTO idempotency_keys (key, task_id, request_digest, "
			 "created_us) VALUES (?1, ?2, ?3, ?4)",
			 error, what);
	if (insert == NULL)
		return FALSE;
	bind_text(insert, 1, key);
	sqlite3_bind_int64(insert, 2, task->id);
	bind_text(insert, 3, request_digest);
	sqlite3_bind_int64(insert, 4, task->created_us);
	return step_done(store, insert, error, what);
}

gboolean
nbx_store_task_insert_keyed(NbxStore *store, NbxTask *task, const char *key,
			    const char *request_digest, gint64 expired_us, GError **error)
{
	const char *what = "cannot store a new task";
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_val_if_fail(store != NULL && task != NULL && key != NULL, FALSE);
	g_return_val_if_fail(request_digest != NULL, FALSE);

	if (!task_state_is_valid(store, task, error, what))
		return FALSE;
	locker = g_mutex_locker_new(&store->lock);
	if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return FALSE;
	}
	if (!insert_task(store, task, error, what) ||
	    !insert_key(store, task, key, request_digest, expired_us, error, what)) {
		rollback(store);
		return FALSE;
	}
	if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		rollback(store);
		return FALSE;
	}
	notify_task(store, task, TRUE);
	return TRUE;
}

gint64
nbx_store_task_find_by_key(NbxStore *store, const char *key, gint64 since_us,
			   char **request_digest, GError **error)
{
	const char *what = "cannot look up an Idempotency-Key";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && key != NULL, -1);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store,
		       "SELECT task_id, request_digest FROM idempotency_keys "
		       "WHERE key = ?1 AND created_us >= ?2",
		       error, what);
	if (stmt == NULL)
		return -1;
	bind_text(stmt, 1, key);
	sqlite3_bind_int64(stmt, 2, since_us);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		*request_digest = column_strdup(stmt, 1);
		return sqlite3_column_int64(stmt, 0);
	case SQLITE_DONE:
		return 0;
	default:
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return -1;
	}
}

gboolean
nbx_store_task_update(NbxStore *store, const NbxTask *task, GError **error)
{
	static const char sql[] = "UPDATE tasks SET (" TASK_COLUMNS ") = (" TASK_PARAMS ") WHERE id = ?22";
	g_autofree char *what = NULL;
	g_autofree char *tags_json = NULL;
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && task != NULL, FALSE);

	what = g_strdup_printf("cannot store task %" G_GINT64_FORMAT, task->id);
	if (!task_state_is_valid(store, task, error, what))
		return FALSE;
	tags_json = tags_to_json(task->tags);
	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	bind_task(stmt, task, tags_json);
	sqlite3_bind_int64(stmt, 22, task->id);
	/* A running task's steps are progress; queued again and ended are acknowledged. */
	if (!(task->state == NBX_TASK_RUNNING ? progress_done : step_done)(store, stmt, error, what))
		return FALSE;
	if (sqlite3_changes(store->db) == 0) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "%s: there is no task %" G_GINT64_FORMAT " (%s)", what, task->id,
			    store->path);
		return FALSE;
	}
	notify_task(store, task, FALSE);
	return TRUE;
}

NbxTask *
nbx_store_task_get(NbxStore *store, gint64 id, GError **error)
{
	g_autofree char *what = g_strdup_printf("cannot read task %" G_GINT64_FORMAT, id);
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL, NULL);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, TASK_SELECT " WHERE id = ?1", error, what);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int64(stmt, 1, id);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		return read_task(store, stmt, error);
	case SQLITE_DONE:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "there is no task %" G_GINT64_FORMAT " (%s)", id, store->path);
		return NULL;
	default:
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
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
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL, FALSE);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, g_get_real_time());
	sqlite3_bind_int(stmt, 3, NBX_TASK_QUEUED);
	sqlite3_bind_int(stmt, 4, NBX_TASK_RUNNING);
	if (!step_done(store, stmt, error, what))
		return FALSE;
	if (sqlite3_changes(store->db) == 0) {
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "%s: there is no queued or running task %" G_GINT64_FORMAT " (%s)", what,
			    id, store->path);
		return FALSE;
	}
	return TRUE;
}

/* Binds, runs and resets one "set the reason of queued task ?1 to ?2"; lock held. */
static gboolean
set_queued_reason(NbxStore *store, sqlite3_stmt *stmt, const NbxTask *task, GError **error)
{
	gboolean ok;

	sqlite3_bind_int64(stmt, 1, task->id);
	bind_text(stmt, 2, task->reason);
	ok = step_done(store, stmt, error, "cannot record why tasks wait");
	sqlite3_reset(stmt);
	return ok;
}

gboolean
nbx_store_task_set_queued_reasons(NbxStore *store, GPtrArray *tasks, GError **error)
{
	static const char sql[] = "UPDATE tasks SET reason = ?2 WHERE id = ?1 AND state = ?3";
	const char *what = "cannot record why tasks wait";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && tasks != NULL, FALSE);

	if (tasks->len == 0)
		return TRUE;
	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int(stmt, 3, NBX_TASK_QUEUED);
	/* One transaction, one fsync, however many tasks a disabled machine keeps waiting. */
	if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return FALSE;
	}
	for (guint i = 0; i < tasks->len; i++) {
		if (!set_queued_reason(store, stmt, g_ptr_array_index(tasks, i), error)) {
			rollback(store);
			return FALSE;
		}
	}
	if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		rollback(store);
		return FALSE;
	}
	return TRUE;
}

/* Every row of a TASK_SELECT statement whose parameters are bound; lock held. */
static GPtrArray *
read_tasks(NbxStore *store, sqlite3_stmt *stmt, GError **error, const char *what)
{
	g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_task_free);
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		NbxTask *task = read_task(store, stmt, error);

		if (task == NULL)
			return NULL;
		g_ptr_array_add(tasks, task);
	}
	if (rc != SQLITE_DONE) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return NULL;
	}
	return g_steal_pointer(&tasks);
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
	const char *what = "cannot list tasks";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL, NULL);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, state < 0 ? sql_all : sql_state, error, what);
	if (stmt == NULL)
		return NULL;
	if (state >= 0)
		sqlite3_bind_int(stmt, 1, state);
	sqlite3_bind_int64(stmt, 2, before_id > 0 ? before_id : G_MAXINT64);
	sqlite3_bind_int64(stmt, 3, limit > 0 ? limit : -1);
	return read_tasks(store, stmt, error, what);
}

GPtrArray *
nbx_store_task_list_queued(NbxStore *store, GError **error)
{
	/* Walks tasks_run_order: no sort, however long the queue. */
	static const char sql[] =
		TASK_SELECT " WHERE state = ?1 ORDER BY priority DESC, created_us ASC, id ASC";
	const char *what = "cannot list queued tasks";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL, NULL);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int(stmt, 1, NBX_TASK_QUEUED);
	return read_tasks(store, stmt, error, what);
}

gint64
nbx_store_task_count(NbxStore *store, NbxTaskState state, GError **error)
{
	/* The state is the index's first column: a count without reading rows. */
	static const char sql[] = "SELECT count(*) FROM tasks WHERE state = ?1";
	const char *what = "cannot count tasks";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL, -1);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int(stmt, 1, state);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return -1;
	}
	return sqlite3_column_int64(stmt, 0);
}

/* --- machines --- */

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
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	bind_text(stmt, 1, name);
	bind_text(stmt, 2, machinery);
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	return step_done(store, stmt, error, what);
}

/*
 * Runs one UPDATE of a machine row whose ?1 is the name and ?2.. are bound
 * by the caller's values; NOT_FOUND when the machine has no row. Lock held.
 */
static gboolean
machine_update_done(NbxStore *store, sqlite3_stmt *stmt, const char *name, gboolean progress,
		    GError **error, const char *what)
{
	if (!(progress ? progress_done : step_done)(store, stmt, error, what))
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
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	bind_text(stmt, 1, name);
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
	stmt = prepare(store, reason != NULL ? sql_disable : sql_enable, error, what);
	if (stmt == NULL)
		return FALSE;
	bind_text(stmt, 1, name);
	if (reason != NULL)
		bind_text(stmt, 2, reason);
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
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	bind_text(stmt, 1, name);
	sqlite3_bind_int64(stmt, 2, failures);
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	return machine_update_done(store, stmt, name, TRUE, error, what);
}

static NbxStoredMachine *
read_machine(sqlite3_stmt *stmt)
{
	NbxStoredMachine *machine = g_new0(NbxStoredMachine, 1);

	machine->name = column_strdup(stmt, 0);
	machine->machinery = column_strdup(stmt, 1);
	machine->activity = (NbxMachineActivity)sqlite3_column_int(stmt, 2);
	machine->task_id = sqlite3_column_int64(stmt, 3);
	machine->disabled_reason = column_strdup(stmt, 4);
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
	stmt = prepare(store, MACHINE_SELECT " WHERE name = ?1", error, what);
	if (stmt == NULL)
		return NULL;
	bind_text(stmt, 1, name);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		return read_machine(stmt);
	case SQLITE_DONE:
		g_set_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND,
			    "the store has no machine %s (%s)", name, store->path);
		return NULL;
	default:
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
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
	stmt = prepare(store, MACHINE_SELECT " ORDER BY name", error, what);
	if (stmt == NULL)
		return NULL;
	machines = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_stored_machine_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_ptr_array_add(machines, read_machine(stmt));
	if (rc != SQLITE_DONE) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return NULL;
	}
	return g_steal_pointer(&machines);
}

/* --- events --- */

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

gboolean
nbx_store_event_add(NbxStore *store, gint64 task_id, const char *machine, const char *kind,
		    const char *message, GError **error)
{
	static const char sql[] = "INSERT INTO events (time_us, task_id, machine, kind, message) "
				  "VALUES (?1, ?2, ?3, ?4, ?5)";
	g_autofree char *what = NULL;
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;

	g_return_val_if_fail(store != NULL && kind != NULL, FALSE);

	what = g_strdup_printf("cannot record event %s", kind);
	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, sql, error, what);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, g_get_real_time());
	sqlite3_bind_int64(stmt, 2, task_id);
	bind_text(stmt, 3, machine);
	bind_text(stmt, 4, kind);
	bind_text(stmt, 5, message);
	return progress_done(store, stmt, error, what);
}

static NbxStoredEvent *
read_event(sqlite3_stmt *stmt)
{
	NbxStoredEvent *event = g_new0(NbxStoredEvent, 1);

	event->id = sqlite3_column_int64(stmt, 0);
	event->time_us = sqlite3_column_int64(stmt, 1);
	event->task_id = sqlite3_column_int64(stmt, 2);
	event->machine = column_strdup(stmt, 3);
	event->kind = column_strdup(stmt, 4);
	event->message = column_strdup(stmt, 5);
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
	const char *what = "cannot list events";
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autoptr(GPtrArray) events = NULL;
	int rc;

	g_return_val_if_fail(store != NULL, NULL);

	locker = g_mutex_locker_new(&store->lock);
	stmt = prepare(store, task_id != 0 ? sql_task : sql_all, error, what);
	if (stmt == NULL)
		return NULL;
	if (task_id != 0)
		sqlite3_bind_int64(stmt, 1, task_id);
	events = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_stored_event_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_ptr_array_add(events, read_event(stmt));
	if (rc != SQLITE_DONE) {
		set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", what);
		return NULL;
	}
	return g_steal_pointer(&events);
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
