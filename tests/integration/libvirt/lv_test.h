/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the libvirt machinery's tests share: a configuration directory
 * loaded through the core as nestboxd loads it, machine ops run on a
 * worker thread as the scheduler runs them, and the core's view of each
 * machine's state (which only the plugin's events and ops update).
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "daemon_setup.h"

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	NbxPluginInstance *libvirt;
} LvTest;

typedef enum {
	LV_OP_RESTORE,
	LV_OP_NORESTORE,
	LV_OP_STOP,
	LV_OP_ACPI_STOP,
	LV_OP_DUMP,
	LV_OP_STATE,
	LV_OP_HANDLE_PAUSED,
	LV_OP_SNAPSHOT_BEGIN,
	LV_OP_SNAPSHOT_COMMIT,
	LV_OP_SNAPSHOT_ROLLBACK,
	LV_OP_SNAPSHOT_REMOVE,
} LvOp;

/* What a call carries besides the op, for lv_test_call. */
typedef struct {
	LvOp op;
	/* struct nbx_call.flags */
	uint32_t flags;
	/* LV_OP_RESTORE: struct nbx_call.generation_dir; LV_OP_SNAPSHOT_REMOVE: the generation. */
	const char *generation_dir;
	/* LV_OP_DUMP */
	const char *path;
	/* The session ops; its console is filled by LV_OP_SNAPSHOT_BEGIN. */
	struct nbx_snapshot_session *session;
} LvCall;

typedef struct {
	bool ok;
	int32_t state;
	struct nbx_error err;
	double seconds;
} LvOpResult;

/* A snapshot session's directories, under the test's dir, and its arguments. */
typedef struct {
	char *work_dir;
	char *new_dir;
	struct nbx_snapshot_session args;
} LvSession;

/*
 * A session starting from generation @from_dir (NULL: 0), with a fresh
 * work_dir, and new_dir = @t's dir/@new_name (made) unless that is NULL.
 */
void lv_session_init(LvSession *s, LvTest *t, const char *from_dir, const char *new_name);
void lv_session_clear(LvSession *s);

/* A config dir that loads only the plugins in @plugin_dir and enables "libvirt". */
void lv_test_init(LvTest *t, const char *plugin_dir);

/* Writes machinery/libvirt.conf = @conf and loads the whole setup. */
void lv_test_load(LvTest *t, const char *conf);

/* Prints every diagnostic and asserts there was none. */
void lv_test_assert_clean(LvTest *t);

/* The diagnostic containing every one of the NULL-terminated needles, or fails. */
const char *lv_test_diagnostic(LvTest *t, ...) G_GNUC_NULL_TERMINATED;

void lv_test_unload(LvTest *t);
void lv_test_clear(LvTest *t);

/* Runs @op on @machine on a worker thread, waits for it. @path is for LV_OP_DUMP. */
LvOpResult lv_test_op(LvTest *t, const char *machine, LvOp op, const char *path);

/* Runs @call on @machine on a worker thread, waits for it. */
LvOpResult lv_test_call(LvTest *t, const char *machine, const LvCall *call);

/* Like lv_test_call, and fails the test when the op fails. */
LvOpResult lv_test_call_ok(LvTest *t, const char *machine, const LvCall *call);

/* Like lv_test_op, and fails the test when the op fails. */
LvOpResult lv_test_op_ok(LvTest *t, const char *machine, LvOp op, const char *path);

/* The state the core holds for @machine. */
int32_t lv_test_pool_state(LvTest *t, const char *machine, char **reason);

/*
 * Waits for the core to hold @state for @machine; false if it did not
 * within TEST_HANG_GUARD_S (a hang: a busy host only makes it late).
 */
bool lv_test_wait_state(LvTest *t, const char *machine, int32_t state);
