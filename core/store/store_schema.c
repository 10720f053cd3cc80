/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's tables and their numbered migrations: a file is brought from
 * its version to the current one in one transaction, and a file of a newer
 * nestbox is refused rather than guessed at.
 */
#include "store_private.h"

/*
 * Bump with a migration below; a database with a newer version is refused
 * rather than guessed at.
 */
#define STORE_SCHEMA_VERSION 3

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
	g_auto(NbxStoreOp) op = NBX_STORE_OP_INIT;
	gint64 version = 0;

	nbx_store_op_lock(&op, store, "cannot create the store's tables");
	if (!nbx_store_op_begin_transaction(&op, error) ||
	    !nbx_store_pragma_int(store, "PRAGMA user_version", &version, error) ||
	    !check_version(store, version, error))
		return FALSE;
	for (; version < STORE_SCHEMA_VERSION; version++) {
		if (sqlite3_exec(store->db, migrations[version], NULL, NULL, NULL) == SQLITE_OK)
			continue;
		/* A file with our table names but no version is someone else's database. */
		if (version == 0)
			nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED, "%s", op.what);
		else
			nbx_store_set_error(store, error, NBX_STORE_ERROR_FAILED,
					    "cannot upgrade the store from version %" G_GINT64_FORMAT
					    " to %" G_GINT64_FORMAT,
					    version, version + 1);
		return FALSE;
	}
	return nbx_store_op_commit(&op, error);
}

gboolean
nbx_store_schema_read_version(NbxStore *store, gint64 *version, GError **error)
{
	return nbx_store_pragma_int(store, "PRAGMA user_version", version, error) &&
	       check_version(store, *version, error);
}

gboolean
nbx_store_schema_migrate(NbxStore *store, gint64 version, GError **error)
{
	if (version == STORE_SCHEMA_VERSION)
		return TRUE;
	return prepare_schema(store, error);
}
