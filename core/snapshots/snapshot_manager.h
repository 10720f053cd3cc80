/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot manager: the core's side of snapshot generations
 * (nestbox/machinery.h, "DOC: snapshots").
 *
 * On disk, under state_dir/snapshots/BASE/ (BASE: the machine whose
 * generations they are):
 *   gen-N/          a complete generation (N >= 1), the plugin's files plus
 *                   .nestbox-generation.json (origin, time, cold boot)
 *   current         symlink to the current gen-N; absent: generation 0,
 *                   the snapshot the machine's configuration names
 *   session.json    an open modification session, and session/ its work_dir
 *   .commit-N, .import-N     being written; removed at start-up
 * A generation becomes current by rename(2) of its complete, synced
 * directory and then of the `current` symlink, so a daemon killed at any
 * point of a commit or an import leaves the previous generation current and
 * intact; what it was writing is removed at the next start.
 *
 * Runs count as users of the generation they restored from until their
 * machine is stopped; an old generation is removed when it has no user.
 *
 * Operator calls (begin ... import) block: call them from a worker thread.
 * Calls on one base are serialised; other bases go on meanwhile.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon_setup.h"
#include "machine_pool.h"
#include "store.h"

#define NBX_SNAPSHOT_ERROR (nbx_snapshot_error_quark())
GQuark nbx_snapshot_error_quark(void);

typedef enum {
	NBX_SNAPSHOT_ERROR_NOT_FOUND,	  /* no such machine, no session */
	NBX_SNAPSHOT_ERROR_NOT_SUPPORTED, /* the machinery lacks the op */
	NBX_SNAPSHOT_ERROR_CONFLICT,	  /* busy, a session is (not) open, --replace needed */
	NBX_SNAPSHOT_ERROR_INVALID,	  /* a bad archive, an incompatible fingerprint, a bad path */
	NBX_SNAPSHOT_ERROR_FAILED,	  /* the plugin or the file system said no */
} NbxSnapshotError;

typedef struct _NbxSnapshotManager NbxSnapshotManager;

/*
 * How the manager reaches the machines: the current setup, and holding a
 * machine out of the scheduler's hands for a session (thread-safe).
 */
typedef struct {
	NbxSetup *(*get_setup)(gpointer user_data);
	/* NULL with NBX_POOL_ERROR_BUSY (running a task, disabled) when it cannot. */
	NbxMachine *(*hold_machine)(gpointer user_data, const char *name, GError **error);
	void (*release_machine)(gpointer user_data, NbxMachine *machine);
	/* A new generation of base @base is current; NULL: nobody to tell. */
	void (*generation_changed)(gpointer user_data, const char *base);
	gpointer user_data;
} NbxSnapshotHost;

/*
 * Opens state_dir/snapshots: removes what interrupted commits and imports
 * left, rolls back the sessions a dead daemon left open (the plugin cleans
 * up its processes), and removes generations nothing uses.
 */
NbxSnapshotManager *nbx_snapshot_manager_new(const char *state_dir, NbxStore *store,
					     const NbxSnapshotHost *host, GError **error);
void nbx_snapshot_manager_free(NbxSnapshotManager *manager);

/* ---- the analysis side (any thread) ---- */

/*
 * The generation a restore of @machine must use: its directory (NULL for
 * generation 0) in *@dir and its number in *@generation; counted as used
 * until nbx_snapshot_manager_unuse(). Fails when the current generation
 * needs a cold boot (an import without memory).
 */
gboolean nbx_snapshot_manager_use(NbxSnapshotManager *manager, NbxMachine *machine,
				  gint64 *generation, char **dir, GError **error);
void nbx_snapshot_manager_unuse(NbxSnapshotManager *manager, NbxMachine *machine,
				gint64 generation);

/* An operator call is running or a session is open: a reload must wait. */
gboolean nbx_snapshot_manager_busy(NbxSnapshotManager *manager);
/* An operator call is inside a plugin now: exiting would free the plugin under it. */
gboolean nbx_snapshot_manager_operating(NbxSnapshotManager *manager);
/* The machine of an open session, for messages (g_free), or NULL. */
char *nbx_snapshot_manager_session_machine(NbxSnapshotManager *manager);

/* ---- the operator side (blocking; a worker thread) ---- */

/* Starts a session on @machine; *@console gets the plugin's console address. */
gboolean nbx_snapshot_manager_begin(NbxSnapshotManager *manager, const char *machine,
				    gboolean cold_boot, char **console, gint64 *from,
				    GError **error);
gboolean nbx_snapshot_manager_copy_in(NbxSnapshotManager *manager, const char *machine,
				      const char *const *paths, GError **error);
/* Writes the session as a new generation and makes it current. */
gboolean nbx_snapshot_manager_commit(NbxSnapshotManager *manager, const char *machine,
				     gint64 *generation, GError **error);
gboolean nbx_snapshot_manager_rollback(NbxSnapshotManager *manager, const char *machine,
				       GError **error);

/* Writes @machine's current generation to @output (an absolute path). */
gboolean nbx_snapshot_manager_export(NbxSnapshotManager *manager, const char *machine,
				     gboolean full, const char *output, JsonObject **result,
				     GError **error);
/*
 * Imports the archive @input as a new current generation of @machine (NULL:
 * the machine the archive names). @minimal leaves the memory out (and the
 * fingerprint unchecked); @replace allows it over an existing snapshot.
 */
gboolean nbx_snapshot_manager_import(NbxSnapshotManager *manager, const char *input,
				     const char *machine, gboolean replace, gboolean minimal,
				     JsonObject **result, GError **error);

/* ---- retention (any thread; core/tasks/retention.h) ---- */

/*
 * An old generation: not its base's current one, no run restored from it,
 * no session started from it. Nothing can restore from it again. The
 * manager removes one as soon as its last run ends; retention finds what
 * could not go then (the plugin said it was busy, an operator call held
 * the base) or what a daemon of an older version left.
 */
typedef struct {
	char *base;
	gint64 generation;
	gint64 created_us; /* from its record (its directory's time without one) */
	guint64 bytes;	   /* the space it takes */
} NbxSnapshotOldGeneration;

void nbx_snapshot_old_generation_free(NbxSnapshotOldGeneration *old);

/* Every base's old generations on disk, oldest first. */
GPtrArray *nbx_snapshot_manager_list_old(NbxSnapshotManager *manager);

/*
 * Removes @old once more checked with its base claimed (the plugin's
 * snapshot_remove first). FALSE with CONFLICT when its base is busy or the
 * plugin is, or it is in use now; FAILED when the plugin or the file
 * system said no.
 */
gboolean nbx_snapshot_manager_remove_old(NbxSnapshotManager *manager,
					 const NbxSnapshotOldGeneration *old, GError **error);

/* Every base: its machines, generations (size, users, origin), session. */
JsonNode *nbx_snapshot_manager_status(NbxSnapshotManager *manager);
