/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a daemon killed mid-operation left in a base: the staging
 * directories of a commit or an import (the previous generation is still
 * current and intact), and an open session, rolled back.
 */
#include <string.h>

#include "durable_file.h"
#include "snapshot_manager_private.h"

/*
 * What an interrupted commit may have made in the hypervisor already (a
 * libvirt snapshot its directory names): the plugin forgets it, or it leaks.
 */
static void
forget_in_plugin(NbxSnapshotManager *manager, SnapshotBase *base, const char *path)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxMachine *owner = nbx_machine_pool_lookup(setup->pool, base->name);
	g_autoptr(GError) error = NULL;

	if (owner == NULL || !nbx_snapshot_has_op(owner, SNAPSHOT_OP_REMOVE) ||
	    !g_file_test(path, G_FILE_TEST_IS_DIR))
		return;
	if (!nbx_snapshot_plugin_remove(owner, path, &error))
		g_warning("what %s left in the hypervisor may stay: %s", path, error->message);
}

/* A session a dead daemon left: the plugin cleans up what it can, the files go. */
static void
recover_session(NbxSnapshotManager *manager, SnapshotBase *base, SnapshotSession *session)
{
	SnapshotTarget target;
	g_autoptr(GError) error = NULL;

	g_warning("snapshot base %s: the session on machine %s was left open by a previous "
		  "daemon; rolling it back",
		  base->name, session->machine);
	g_mutex_lock(&manager->lock);
	base->session = session;
	g_mutex_unlock(&manager->lock);
	if (nbx_snapshot_resolve(manager, session->machine, &target, &error) &&
	    nbx_snapshot_has_op(target.machine, SNAPSHOT_OP_ROLLBACK)) {
		g_autofree char *work = nbx_snapshot_session_work_dir(base);
		g_autofree char *from_dir = NULL;
		struct nbx_snapshot_session args =
			nbx_snapshot_session_args(base, session, work, NULL, &from_dir);
		g_autoptr(GError) rollback_error = NULL;

		session->held = manager->host.hold_machine(manager->host.user_data,
							   session->machine, NULL);
		if (!nbx_snapshot_plugin_rollback(&target,
						  nbx_snapshot_settings(manager)->timeouts.stop,
						  &args, &rollback_error))
			g_warning("snapshot base %s: rollback of the abandoned session: %s",
				  base->name, rollback_error->message);
	}
	nbx_store_event_addf(manager->store, 0, session->machine, "snapshot.rollback",
			     "session on base %s rolled back at start-up (the daemon had died)",
			     base->name);
	nbx_snapshot_session_end(manager, base);
}

/* Removes the staging directories of interrupted commits and imports. */
static void
remove_staged(NbxSnapshotManager *manager, SnapshotBase *base)
{
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(base->dir, entry, NULL);

		if (g_str_has_prefix(entry, ".commit-") || g_str_has_prefix(entry, ".import-") ||
		    strcmp(entry, ".current.new") == 0) {
			g_warning("snapshot base %s: removing %s, left by an interrupted commit or "
				  "import; generation %" G_GINT64_FORMAT " stays current",
				  base->name, path, base->current);
			forget_in_plugin(manager, base, path);
			nbx_remove_tree(path);
		}
	}
}

void
nbx_snapshot_recover_base(NbxSnapshotManager *manager, const char *name)
{
	SnapshotBase *base;
	SnapshotSession *session;

	g_mutex_lock(&manager->lock);
	base = nbx_snapshot_base_get_locked(manager, name);
	g_mutex_unlock(&manager->lock);
	remove_staged(manager, base);
	session = nbx_snapshot_session_load(base);
	if (session != NULL) {
		recover_session(manager, base, session);
	} else {
		/* A session whose end was cut short after its record went. */
		g_autofree char *work = nbx_snapshot_session_work_dir(base);

		nbx_remove_tree(work);
	}
	nbx_snapshot_collect_garbage(manager, base);
}
