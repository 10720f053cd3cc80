/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot manager itself: opening state_dir/snapshots, and whether it is busy. */
#include <errno.h>
#include <glib/gstdio.h>

#include "durable_file.h"
#include "snapshot_manager_private.h"

G_DEFINE_QUARK(nbx-snapshot-error-quark, nbx_snapshot_error)

/* The bases under the root, after removing what an import cut short before its base left. */
static GPtrArray *
scan_root(NbxSnapshotManager *manager, GError **error)
{
	g_autoptr(GDir) dir = g_dir_open(manager->root, 0, error);
	GPtrArray *names;
	const char *name;

	if (dir == NULL)
		return NULL;
	names = g_ptr_array_new_with_free_func(g_free);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(manager->root, name, NULL);

		if (g_str_has_prefix(name, ".import-")) {
			/* An import cut short before it reached its base. */
			g_warning("removing %s, left by an interrupted import", path);
			nbx_remove_tree(path);
		} else if (name[0] != '.' && g_file_test(path, G_FILE_TEST_IS_DIR) &&
			   nbx_snapshot_name_is_safe(name)) {
			g_ptr_array_add(names, g_strdup(name));
		}
	}
	return names;
}

NbxSnapshotManager *
nbx_snapshot_manager_new(const char *state_dir, NbxStore *store, const NbxSnapshotHost *host,
			 GError **error)
{
	NbxSnapshotManager *manager = g_new0(NbxSnapshotManager, 1);
	g_autoptr(GPtrArray) names = NULL;

	manager->root = g_build_filename(state_dir, "snapshots", NULL);
	manager->store = store;
	manager->host = *host;
	g_mutex_init(&manager->lock);
	manager->bases = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					       (GDestroyNotify)nbx_snapshot_base_free);
	if (g_mkdir_with_parents(manager->root, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", manager->root, g_strerror(errno));
		nbx_snapshot_manager_free(manager);
		return NULL;
	}
	names = scan_root(manager, error);
	if (names == NULL) {
		nbx_snapshot_manager_free(manager);
		return NULL;
	}
	for (guint i = 0; i < names->len; i++)
		nbx_snapshot_recover_base(manager, g_ptr_array_index(names, i));
	return manager;
}

void
nbx_snapshot_manager_free(NbxSnapshotManager *manager)
{
	if (manager == NULL)
		return;
	g_hash_table_unref(manager->bases);
	g_mutex_clear(&manager->lock);
	g_free(manager->root);
	g_free(manager);
}

gboolean
nbx_snapshot_manager_operating(NbxSnapshotManager *manager)
{
	GHashTableIter iter;
	SnapshotBase *base;
	gboolean busy = FALSE;

	if (manager == NULL)
		return FALSE;
	g_mutex_lock(&manager->lock);
	g_hash_table_iter_init(&iter, manager->bases);
	while (!busy && g_hash_table_iter_next(&iter, NULL, (gpointer *)&base))
		busy = base->busy;
	g_mutex_unlock(&manager->lock);
	return busy;
}

gboolean
nbx_snapshot_manager_busy(NbxSnapshotManager *manager)
{
	g_autofree char *modified = nbx_snapshot_manager_session_machine(manager);

	/* A call sets busy before it opens a session and clears it after closing one. */
	return modified != NULL || nbx_snapshot_manager_operating(manager);
}

char *
nbx_snapshot_manager_session_machine(NbxSnapshotManager *manager)
{
	GHashTableIter iter;
	SnapshotBase *base;
	char *machine = NULL;

	g_mutex_lock(&manager->lock);
	g_hash_table_iter_init(&iter, manager->bases);
	while (machine == NULL && g_hash_table_iter_next(&iter, NULL, (gpointer *)&base)) {
		if (base->session != NULL)
			machine = g_strdup(base->session->machine);
	}
	g_mutex_unlock(&manager->lock);
	return machine;
}
