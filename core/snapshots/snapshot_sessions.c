/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Modification sessions: begin, copy_in, commit, rollback. A session is
 * recorded (session.json) before the plugin starts anything, so a daemon
 * that dies with one open rolls it back at its next start.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "durable_file.h"
#include "snapshot_manager_private.h"

void
nbx_snapshot_session_end(NbxSnapshotManager *manager, SnapshotBase *base)
{
	g_autofree char *path = nbx_snapshot_session_file(base);
	g_autofree char *work = nbx_snapshot_session_work_dir(base);
	SnapshotSession *session;

	g_unlink(path);
	nbx_snapshot_sync_dir(base->dir, NULL);
	nbx_remove_tree(work);
	g_mutex_lock(&manager->lock);
	session = g_steal_pointer(&base->session);
	g_mutex_unlock(&manager->lock);
	if (session != NULL && session->held != NULL)
		manager->host.release_machine(manager->host.user_data, session->held);
	nbx_snapshot_session_free(session);
}

/* ---- begin ---- */

/* A new session on @base for machine @name, which is held from the scheduler; NULL with @error. */
static SnapshotSession *
session_open(NbxSnapshotManager *manager, SnapshotBase *base, const char *name,
	     gboolean cold_boot, GError **error)
{
	SnapshotSession *session;
	g_autoptr(GError) busy = NULL;

	if (base->session != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified already, on machine %s (console %s): commit "
			    "or roll that back first",
			    base->name, base->session->machine,
			    base->session->console[0] != '\0' ? base->session->console : "none");
		return NULL;
	}
	session = g_new0(SnapshotSession, 1);
	session->machine = g_strdup(name);
	session->started_us = g_get_real_time();
	g_mutex_lock(&manager->lock);
	session->from = base->current;
	/* A generation without memory can only be booted. */
	session->cold_boot = cold_boot || base->current_cold;
	g_mutex_unlock(&manager->lock);
	session->held = manager->host.hold_machine(manager->host.user_data, name, &busy);
	if (session->held == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "machine %s cannot be modified now: %s", name, busy->message);
		nbx_snapshot_session_free(session);
		return NULL;
	}
	return session;
}

/* Makes the work directory and records @session: a crash from here on is rolled back. */
static gboolean
session_record(NbxSnapshotManager *manager, SnapshotBase *base, SnapshotSession *session,
	       const char *work, GError **error)
{
	nbx_remove_tree(work);
	if (g_mkdir(work, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", work, g_strerror(errno));
		manager->host.release_machine(manager->host.user_data, session->held);
		nbx_snapshot_session_free(session);
		return FALSE;
	}
	g_mutex_lock(&manager->lock);
	base->session = session;
	g_mutex_unlock(&manager->lock);
	if (!nbx_snapshot_session_save(base, session, error)) {
		nbx_snapshot_session_end(manager, base);
		return FALSE;
	}
	return TRUE;
}

/* The plugin starts the machine for the session; its console is kept. */
static gboolean
session_start(NbxSnapshotManager *manager, const SnapshotTarget *target, SnapshotBase *base,
	      const char *work, GError **error)
{
	SnapshotSession *session = base->session;
	g_autofree char *from_dir = NULL;
	struct nbx_snapshot_session args =
		nbx_snapshot_session_args(base, session, work, NULL, &from_dir);

	if (!nbx_snapshot_plugin_begin(target, session->cold_boot ? NBX_SNAPSHOT_COLD_BOOT : 0,
				       nbx_snapshot_settings(manager)->timeouts.restore,
				       &args, error)) {
		nbx_snapshot_session_end(manager, base);
		return FALSE;
	}
	args.console[sizeof args.console - 1] = '\0';
	g_free(session->console);
	session->console = g_strdup(args.console);
	nbx_snapshot_session_save(base, session, NULL);
	return TRUE;
}

gboolean
nbx_snapshot_manager_begin(NbxSnapshotManager *manager, const char *name, gboolean cold_boot,
			   char **console, gint64 *from, GError **error)
{
	SnapshotTarget target;
	SnapshotBase *base;
	SnapshotSession *session;
	g_autofree char *work = NULL;

	if (!nbx_snapshot_resolve(manager, name, &target, error) ||
	    !nbx_snapshot_require_op(&target, SNAPSHOT_OP_BEGIN, error) ||
	    !nbx_snapshot_require_op(&target, SNAPSHOT_OP_COMMIT, error))
		return FALSE;
	base = nbx_snapshot_base_claim(manager, target.base_name, error);
	if (base == NULL)
		return FALSE;
	session = session_open(manager, base, name, cold_boot, error);
	work = nbx_snapshot_session_work_dir(base);
	if (session == NULL || !session_record(manager, base, session, work, error) ||
	    !session_start(manager, &target, base, work, error)) {
		nbx_snapshot_base_unclaim(manager, base);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, name, "snapshot.begin",
			     "modifying base %s from generation %" G_GINT64_FORMAT "%s; console %s",
			     base->name, session->from, session->cold_boot ? " (cold boot)" : "",
			     session->console[0] != '\0' ? session->console : "none");
	*console = g_strdup(session->console);
	*from = session->from;
	nbx_snapshot_base_unclaim(manager, base);
	return TRUE;
}

/* ---- ops on an open session ---- */

/*
 * An op on the open session of a base: the machine resolved, the op
 * checked, the base claimed, and the session's arguments ready.
 */
typedef struct {
	SnapshotTarget target;
	SnapshotBase *base;
	char *work;
	char *from_dir;
	struct nbx_snapshot_session args;
} SessionCall;

static void
session_call_close(NbxSnapshotManager *manager, SessionCall *call)
{
	if (call->base != NULL)
		nbx_snapshot_base_unclaim(manager, call->base);
	g_free(call->work);
	g_free(call->from_dir);
}

static gboolean
session_call_open(NbxSnapshotManager *manager, const char *name, SnapshotOp op,
		  SessionCall *call, GError **error)
{
	SnapshotBase *base;

	if (!nbx_snapshot_resolve(manager, name, &call->target, error) ||
	    !nbx_snapshot_require_op(&call->target, op, error))
		return FALSE;
	base = nbx_snapshot_base_claim(manager, call->target.base_name, error);
	if (base == NULL)
		return FALSE;
	call->base = base;
	if (base->session == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "no modification of base %s is open (nestbox snapshot begin %s)",
			    base->name, name);
		return FALSE;
	}
	if (strcmp(base->session->machine, name) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified on machine %s, not %s", base->name,
			    base->session->machine, name);
		return FALSE;
	}
	call->work = nbx_snapshot_session_work_dir(base);
	call->args = nbx_snapshot_session_args(base, base->session, call->work, NULL,
					       &call->from_dir);
	return TRUE;
}

/* Absolute paths of regular files the daemon can read, at least one. */
static gboolean
check_copy_in_paths(const char *const *paths, GError **error)
{
	if (paths == NULL || paths[0] == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "paths: name at least one file");
		return FALSE;
	}
	for (const char *const *p = paths; *p != NULL; p++) {
		if (!g_path_is_absolute(*p) || !g_file_test(*p, G_FILE_TEST_IS_REGULAR) ||
		    g_access(*p, R_OK) != 0) {
			g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
				    "%s: not an absolute path of a regular file the daemon can read",
				    *p);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
nbx_snapshot_manager_copy_in(NbxSnapshotManager *manager, const char *name,
			     const char *const *paths, GError **error)
{
	SessionCall session = { 0 };
	gboolean ok;

	if (!check_copy_in_paths(paths, error))
		return FALSE;
	ok = session_call_open(manager, name, SNAPSHOT_OP_COPY_IN, &session, error);
	if (ok) {
		ok = nbx_snapshot_plugin_copy_in(&session.target, &session.args, paths, error);
		if (ok)
			nbx_store_event_addf(manager->store, 0, name, "snapshot.copy",
					     "%u file(s) handed to the guest",
					     g_strv_length((char **)paths));
	}
	session_call_close(manager, &session);
	return ok;
}

/* The plugin writes the session into a new staging directory, whose path it returns. */
static char *
commit_stage(NbxSnapshotManager *manager, SessionCall *session, const char *name,
	     gint64 next, GError **error)
{
	g_autofree char *staged_name = g_strdup_printf(".commit-%" G_GINT64_FORMAT, next);
	g_autofree char *staged = g_build_filename(session->base->dir, staged_name, NULL);

	if (g_mkdir(staged, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", staged, g_strerror(errno));
		return NULL;
	}
	session->args.new_dir = staged;
	if (!nbx_snapshot_plugin_commit(
		    &session->target,
		    nbx_snapshot_settings(manager)->timeouts.snapshot_commit, &session->args,
		    error)) {
		nbx_remove_tree(staged);
		nbx_store_event_addf(manager->store, 0, name, "snapshot.commit_failed", "%s",
				     (*error)->message);
		return NULL;
	}
	return g_steal_pointer(&staged);
}

gboolean
nbx_snapshot_manager_commit(NbxSnapshotManager *manager, const char *name, gint64 *generation,
			    GError **error)
{
	SessionCall session = { 0 };
	SnapshotBase *base;
	g_autofree char *staged = NULL;
	g_autoptr(JsonObject) meta = NULL;
	gint64 next, from;

	if (!session_call_open(manager, name, SNAPSHOT_OP_COMMIT, &session, error)) {
		session_call_close(manager, &session);
		return FALSE;
	}
	base = session.base;
	next = nbx_snapshot_newest_generation(base) + 1;
	staged = commit_stage(manager, &session, name, next, error);
	if (staged == NULL) {
		session_call_close(manager, &session);
		return FALSE;
	}
	from = base->session->from;
	meta = nbx_snapshot_generation_meta_new("commit", &session.target);
	json_object_set_int_member(meta, "from", from);
	json_object_set_boolean_member(meta, "cold_boot", FALSE);
	if (!nbx_snapshot_publish(manager, base, staged, next, meta, error)) {
		/* The machine is down (commit stopped it): the session is over either way. */
		nbx_remove_tree(staged);
		nbx_snapshot_session_end(manager, base);
		session_call_close(manager, &session);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, name, "snapshot.commit",
			     "base %s: generation %" G_GINT64_FORMAT " (from %" G_GINT64_FORMAT
			     ") is current",
			     base->name, next, from);
	g_message("snapshot base %s: generation %" G_GINT64_FORMAT " committed on machine %s",
		  base->name, next, name);
	nbx_snapshot_session_end(manager, base);
	session_call_close(manager, &session);
	nbx_snapshot_collect_garbage(manager, base);
	*generation = next;
	return TRUE;
}

gboolean
nbx_snapshot_manager_rollback(NbxSnapshotManager *manager, const char *name, GError **error)
{
	SessionCall session = { 0 };
	SnapshotBase *base;

	if (!session_call_open(manager, name, SNAPSHOT_OP_ROLLBACK, &session, error)) {
		session_call_close(manager, &session);
		return FALSE;
	}
	base = session.base;
	if (!nbx_snapshot_plugin_rollback(&session.target,
					  nbx_snapshot_settings(manager)->timeouts.stop,
					  &session.args, error)) {
		/* The machine may still run: the session stays, so it is not reused. */
		session_call_close(manager, &session);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, name, "snapshot.rollback",
			     "base %s: modification thrown away; generation %" G_GINT64_FORMAT
			     " stays current",
			     base->name, base->current);
	nbx_snapshot_session_end(manager, base);
	session_call_close(manager, &session);
	nbx_snapshot_collect_garbage(manager, base);
	return TRUE;
}
