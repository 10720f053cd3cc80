/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the snapshot manager share (snapshot_manager.h is its
 * public side):
 *   snapshot_manager.c       the manager: start-up, whether it is busy
 *   snapshot_recovery.c      what a dead daemon left: half commits, open sessions
 *   snapshot_bases.c         bases, the one operator call on each, the runs' use
 *   snapshot_generations.c   gen-N on disk, `current`, the runs that use each,
 *                            publishing, removal
 *   snapshot_session_record.c  a session's record: session.json, its work dir
 *   snapshot_sessions.c      begin, copy_in, commit, rollback
 *   snapshot_transfer.c      export and import
 *   snapshot_status.c        what `nestbox snapshot status` shows
 *   snapshot_retention.c     old generations, for retention
 *   snapshot_plugin_calls.c  every call into the machinery plugin
 */
#pragma once

#include <nestbox/machinery.h>

#include "snapshot_archive.h"
#include "snapshot_manager.h"

#define SNAPSHOT_META_FILE ".nestbox-generation.json"
#define SNAPSHOT_SESSION_FILE "session.json"
#define SNAPSHOT_SESSION_DIR "session"
#define SNAPSHOT_CURRENT_LINK "current"

typedef struct {
	char *machine;
	gint64 from;
	gboolean cold_boot;
	char *console;
	gint64 started_us;
	/* Held from the scheduler for the session; NULL after a restart. */
	NbxMachine *held;
} SnapshotSession;

typedef struct {
	char *name;
	char *dir;
	gint64 current;
	/* The current generation was imported without memory (read once, kept here). */
	gboolean current_cold;
	/* generation -> runs restored from it (gint64 keys, guint values). */
	GHashTable *users;
	/* An operator call runs on this base. */
	gboolean busy;
	SnapshotSession *session;
} SnapshotBase;

struct _NbxSnapshotManager {
	char *root;
	NbxStore *store;
	NbxSnapshotHost host;
	GMutex lock;
	/* base name -> SnapshotBase *; guarded by @lock. */
	GHashTable *bases;
};

/* A machine an operator named, and the base whose generations it restores. */
typedef struct {
	NbxMachine *machine;
	/* The machine whose generations it restores (maybe @machine itself). */
	const char *base_name;
	NbxPluginInstance *machinery;
} SnapshotTarget;

/* ---- snapshot_bases.c ---- */

void nbx_snapshot_base_free(SnapshotBase *base);
/* A machine name that can be a directory name: not empty, no '/', not "." or "..". */
gboolean nbx_snapshot_name_is_safe(const char *name);
/* The base of @name, made (and read from disk) on first use; the lock held. */
SnapshotBase *nbx_snapshot_base_get_locked(NbxSnapshotManager *manager, const char *name);
/* The enabled machine @name and its base in *@target. */
gboolean nbx_snapshot_resolve(NbxSnapshotManager *manager, const char *name,
			      SnapshotTarget *target, GError **error);
/* Marks the base @name busy for one operator call: NULL with CONFLICT when it is already. */
SnapshotBase *nbx_snapshot_base_claim(NbxSnapshotManager *manager, const char *name,
				      GError **error);
void nbx_snapshot_base_unclaim(NbxSnapshotManager *manager, SnapshotBase *base);
/*
 * Counts a user of @base_name's current generation and says which it is;
 * refuses one without memory unless @allow_cold (a minimal export may).
 */
gboolean nbx_snapshot_use_current(NbxSnapshotManager *manager, const char *base_name,
				  gboolean allow_cold, gint64 *generation, char **dir,
				  GError **error);
/* The other half of nbx_snapshot_use_current(): an old generation goes with its last user. */
void nbx_snapshot_unuse_generation(NbxSnapshotManager *manager, const char *base_name,
				   gint64 generation);

/* ---- snapshot_generations.c ---- */

/* Runs restored from @generation of @base; the lock held. */
guint nbx_snapshot_generation_users(const SnapshotBase *base, gint64 generation);
/* One more (@delta +1) or one fewer (-1) run restored from @generation of @base; the lock held. */
void nbx_snapshot_generation_users_add(SnapshotBase *base, gint64 generation, int delta);
char *nbx_snapshot_generation_dir(const SnapshotBase *base, gint64 generation);
/* "gen-N" -> N, else 0. */
gint64 nbx_snapshot_generation_of_name(const char *name);
/* The generation `current` points at; 0 without it. */
gint64 nbx_snapshot_read_current(const SnapshotBase *base);
/* The highest number in use in @base, staged ones included. */
gint64 nbx_snapshot_newest_generation(const SnapshotBase *base);
/* The generation's own record says it needs a cold boot (imported without memory). */
gboolean nbx_snapshot_generation_needs_cold_boot(const SnapshotBase *base, gint64 generation);
/* A generation's record (.nestbox-generation.json) with its origin and what made it. */
JsonObject *nbx_snapshot_generation_meta_new(const char *origin, const SnapshotTarget *target);
/* Publishes @staged as gen-@generation of @base and makes it current. */
gboolean nbx_snapshot_publish(NbxSnapshotManager *manager, SnapshotBase *base,
			      const char *staged, gint64 generation, JsonObject *meta,
			      GError **error);
/* Not @base's current generation, no run restored from it, no session from it; the lock held. */
gboolean nbx_snapshot_generation_is_old(const SnapshotBase *base, gint64 generation);
/*
 * The plugin forgets gen-@generation of @base (snapshot_remove), then its
 * directory goes. Without the lock; the caller checked it is old.
 */
gboolean nbx_snapshot_generation_remove(NbxSnapshotManager *manager, SnapshotBase *base,
					gint64 generation, GError **error);
/*
 * Removes the generations of @base other than the current one that no run
 * uses. Called without the lock.
 */
void nbx_snapshot_collect_garbage(NbxSnapshotManager *manager, SnapshotBase *base);
/* fsync of a directory, failing with NBX_SNAPSHOT_ERROR_FAILED. */
gboolean nbx_snapshot_sync_dir(const char *path, GError **error);

/* ---- snapshot_session_record.c ---- */

void nbx_snapshot_session_free(SnapshotSession *session);
/* session.json of @base. */
char *nbx_snapshot_session_file(const SnapshotBase *base);
char *nbx_snapshot_session_work_dir(const SnapshotBase *base);
/* What `status` shows of @session (its record adds started_us). */
JsonObject *nbx_snapshot_session_to_json(const SnapshotSession *session);
/* Records @session in @base's session.json. */
gboolean nbx_snapshot_session_save(const SnapshotBase *base, const SnapshotSession *session,
				   GError **error);
/* The session a previous daemon recorded in @base, or NULL. */
SnapshotSession *nbx_snapshot_session_load(const SnapshotBase *base);
/* The plugin's view of @session; *@from_dir (g_free) backs its from_dir. */
struct nbx_snapshot_session nbx_snapshot_session_args(const SnapshotBase *base,
						      const SnapshotSession *session,
						      const char *work_dir, const char *new_dir,
						      char **from_dir);

/* ---- snapshot_sessions.c ---- */

/* Forgets the session of @base: its files, its hold on the machine. */
void nbx_snapshot_session_end(NbxSnapshotManager *manager, SnapshotBase *base);

/* ---- snapshot_recovery.c ---- */

/* Cleans up what a dead daemon left in the base @name (see nbx_snapshot_manager_new()). */
void nbx_snapshot_recover_base(NbxSnapshotManager *manager, const char *name);

/* ---- snapshot_plugin_calls.c ---- */

/* The machinery's snapshot ops the manager calls. */
typedef enum {
	SNAPSHOT_OP_BEGIN,
	SNAPSHOT_OP_COMMIT,
	SNAPSHOT_OP_ROLLBACK,
	SNAPSHOT_OP_COPY_IN,
	SNAPSHOT_OP_FILES,
	SNAPSHOT_OP_FINGERPRINT,
	SNAPSHOT_OP_IMPORT,
	SNAPSHOT_OP_REMOVE,
} SnapshotOp;

/* snapshot_files / _fingerprint / _import / _remove only read or write small files. */
#define SNAPSHOT_SMALL_OP_TIMEOUT_S 120
#define SNAPSHOT_COPY_IN_TIMEOUT_S 600

/* The settings of the configuration in use (its timeouts). */
const NbxSettings *nbx_snapshot_settings(NbxSnapshotManager *manager);
gboolean nbx_snapshot_has_op(const NbxMachine *machine, SnapshotOp op);
/* Whether @machine's machinery keeps generations at all. */
gboolean nbx_snapshot_has_generations(const NbxMachine *machine);
/* FALSE with NOT_SUPPORTED, naming the machine and the machinery, when @op is missing. */
gboolean nbx_snapshot_require_op(const SnapshotTarget *target, SnapshotOp op, GError **error);
/*
 * The calls: each FALSE with @error naming the plugin, the machine and the
 * op (NBX_SNAPSHOT_ERROR; a busy plugin is CONFLICT, an unsupported op
 * NOT_SUPPORTED).
 */
gboolean nbx_snapshot_plugin_begin(const SnapshotTarget *target, guint32 flags,
				   gint64 timeout_s, struct nbx_snapshot_session *args,
				   GError **error);
gboolean nbx_snapshot_plugin_commit(const SnapshotTarget *target, gint64 timeout_s,
				    struct nbx_snapshot_session *args, GError **error);
gboolean nbx_snapshot_plugin_rollback(const SnapshotTarget *target, gint64 timeout_s,
				      struct nbx_snapshot_session *args, GError **error);
gboolean nbx_snapshot_plugin_copy_in(const SnapshotTarget *target,
				     struct nbx_snapshot_session *args, const char *const *paths,
				     GError **error);
/* snapshot_files of @dir (NULL: generation 0) into @manifest. */
gboolean nbx_snapshot_plugin_files(const SnapshotTarget *target, const char *dir,
				   NbxSnapshotManifest *manifest, GError **error);
/* snapshot_fingerprint of @dir into @manifest; @flags: NBX_SNAPSHOT_FINGERPRINT_HOST or 0. */
gboolean nbx_snapshot_plugin_fingerprint(const SnapshotTarget *target, guint32 flags,
					 const char *dir, NbxSnapshotManifest *manifest,
					 GError **error);
gboolean nbx_snapshot_plugin_import(const SnapshotTarget *target, guint32 flags,
				    const char *dir, GError **error);
/* snapshot_remove of @dir on @owner, the machine whose base it is. */
gboolean nbx_snapshot_plugin_remove(NbxMachine *owner, const char *dir, GError **error);
