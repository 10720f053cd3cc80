/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Retention's side of the manager (core/tasks/retention.h decides when):
 * the old generations of every base on disk, and removing one of them
 * once more checked with its base claimed, so no operator call and no
 * new run of the base can meet it half removed.
 */
#include <string.h>
#include <sys/stat.h>

#include "durable_file.h"
#include "json_file.h"
#include "snapshot_manager_private.h"

void
nbx_snapshot_old_generation_free(NbxSnapshotOldGeneration *old)
{
	if (old == NULL)
		return;
	g_free(old->base);
	g_free(old);
}

/* When gen-N was made: its record says; its directory's time without one. */
static gint64
created_us(const char *dir)
{
	g_autofree char *meta_path = g_build_filename(dir, SNAPSHOT_META_FILE, NULL);
	g_autoptr(JsonObject) meta = nbx_json_read_object_file(meta_path);
	const char *created =
		meta != NULL ? json_object_get_string_member_with_default(meta, "created", NULL)
			     : NULL;
	g_autoptr(GDateTime) time = created != NULL ? g_date_time_new_from_iso8601(created, NULL)
						    : NULL;
	struct stat st;

	if (time != NULL)
		return g_date_time_to_unix(time) * G_USEC_PER_SEC +
		       g_date_time_get_microsecond(time);
	return lstat(dir, &st) == 0 ? (gint64)st.st_mtime * G_USEC_PER_SEC : 0;
}

/* The old generations of the base @name into @found; the lock held. */
static void
list_base(NbxSnapshotManager *manager, const char *name, GPtrArray *found)
{
	SnapshotBase *base = nbx_snapshot_base_get_locked(manager, name);
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		gint64 generation = nbx_snapshot_generation_of_name(entry);
		g_autofree char *path = NULL;
		NbxSnapshotOldGeneration *old;

		if (!nbx_snapshot_generation_is_old(base, generation))
			continue;
		path = g_build_filename(base->dir, entry, NULL);
		old = g_new0(NbxSnapshotOldGeneration, 1);
		old->base = g_strdup(name);
		old->generation = generation;
		old->created_us = created_us(path);
		old->bytes = nbx_tree_bytes(path);
		g_ptr_array_add(found, old);
	}
}

static gint
compare_created(gconstpointer a, gconstpointer b)
{
	const NbxSnapshotOldGeneration *x = *(NbxSnapshotOldGeneration *const *)a;
	const NbxSnapshotOldGeneration *y = *(NbxSnapshotOldGeneration *const *)b;
	int by_base = strcmp(x->base, y->base);

	if (x->created_us != y->created_us)
		return x->created_us < y->created_us ? -1 : 1;
	if (by_base != 0)
		return by_base;
	return x->generation < y->generation ? -1 : x->generation > y->generation;
}

GPtrArray *
nbx_snapshot_manager_list_old(NbxSnapshotManager *manager)
{
	GPtrArray *found =
		g_ptr_array_new_with_free_func((GDestroyNotify)nbx_snapshot_old_generation_free);
	g_autoptr(GDir) root = g_dir_open(manager->root, 0, NULL);
	const char *name;

	/* A base whose machine left the configuration keeps its directory: it is listed too. */
	while (root != NULL && (name = g_dir_read_name(root)) != NULL) {
		g_autofree char *path = g_build_filename(manager->root, name, NULL);

		if (name[0] == '.' || !nbx_snapshot_name_is_safe(name) ||
		    !g_file_test(path, G_FILE_TEST_IS_DIR))
			continue;
		g_mutex_lock(&manager->lock);
		list_base(manager, name, found);
		g_mutex_unlock(&manager->lock);
	}
	g_ptr_array_sort(found, compare_created);
	return found;
}

gboolean
nbx_snapshot_manager_remove_old(NbxSnapshotManager *manager, const NbxSnapshotOldGeneration *old,
				GError **error)
{
	SnapshotBase *base = nbx_snapshot_base_claim(manager, old->base, error);
	gboolean still_old;
	gboolean removed;

	if (base == NULL)
		return FALSE;
	g_mutex_lock(&manager->lock);
	still_old = nbx_snapshot_generation_is_old(base, old->generation);
	g_mutex_unlock(&manager->lock);
	if (!still_old) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "snapshot base %s: generation %" G_GINT64_FORMAT " is in use now",
			    old->base, old->generation);
		nbx_snapshot_base_unclaim(manager, base);
		return FALSE;
	}
	removed = nbx_snapshot_generation_remove(manager, base, old->generation, error);
	nbx_snapshot_base_unclaim(manager, base);
	return removed;
}
