/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generations on disk: gen-N directories, the `current` symlink, the runs
 * that use each, and the
 * order of renames and syncs that makes a new generation current without
 * ever leaving a half one current.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "durable_file.h"
#include "json_file.h"
#include "snapshot_manager_private.h"
#include "task.h"

gboolean
nbx_snapshot_sync_dir(const char *path, GError **error)
{
	if (nbx_fsync_path(path, TRUE))
		return TRUE;
	g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED, "cannot sync %s: %s",
		    path, g_strerror(errno));
	return FALSE;
}

/* Every file of @path and @path itself reach the disk: a rename of it then publishes whole files. */
static gboolean
sync_tree(const char *path, GError **error)
{
	g_autofree char *failed = NULL;
	int saved;

	if (nbx_fsync_tree(path, &failed))
		return TRUE;
	saved = errno;
	g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED, "cannot sync %s: %s",
		    failed, g_strerror(saved));
	return FALSE;
}

char *
nbx_snapshot_generation_dir(const SnapshotBase *base, gint64 generation)
{
	g_autofree char *name = g_strdup_printf("gen-%" G_GINT64_FORMAT, generation);

	return g_build_filename(base->dir, name, NULL);
}

gint64
nbx_snapshot_generation_of_name(const char *name)
{
	char *end = NULL;
	gint64 n;

	if (!g_str_has_prefix(name, "gen-"))
		return 0;
	n = g_ascii_strtoll(name + 4, &end, 10);
	return (end != NULL && *end == '\0' && n > 0) ? n : 0;
}

gint64
nbx_snapshot_read_current(const SnapshotBase *base)
{
	g_autofree char *link = g_build_filename(base->dir, SNAPSHOT_CURRENT_LINK, NULL);
	g_autofree char *target = g_file_read_link(link, NULL);

	return target != NULL ? nbx_snapshot_generation_of_name(target) : 0;
}

/* Points `current` at gen-@generation: a new symlink renamed over the old one. */
static gboolean
write_current(const SnapshotBase *base, gint64 generation, GError **error)
{
	g_autofree char *link = g_build_filename(base->dir, SNAPSHOT_CURRENT_LINK, NULL);
	g_autofree char *temporary = g_build_filename(base->dir, ".current.new", NULL);
	g_autofree char *target = g_strdup_printf("gen-%" G_GINT64_FORMAT, generation);

	g_unlink(temporary);
	if (symlink(target, temporary) != 0 || rename(temporary, link) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot make %s current in %s: %s", target, base->dir, g_strerror(errno));
		g_unlink(temporary);
		return FALSE;
	}
	return nbx_snapshot_sync_dir(base->dir, error);
}

gint64
nbx_snapshot_newest_generation(const SnapshotBase *base)
{
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *name;
	gint64 newest = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		newest = MAX(newest, nbx_snapshot_generation_of_name(name));
		if (g_str_has_prefix(name, ".commit-") || g_str_has_prefix(name, ".import-"))
			newest = MAX(newest, g_ascii_strtoll(name + 8, NULL, 10));
	}
	return newest;
}

gboolean
nbx_snapshot_generation_needs_cold_boot(const SnapshotBase *base, gint64 generation)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;
	g_autoptr(JsonObject) meta = NULL;

	if (generation == 0)
		return FALSE;
	dir = nbx_snapshot_generation_dir(base, generation);
	path = g_build_filename(dir, SNAPSHOT_META_FILE, NULL);
	meta = nbx_json_read_object_file(path);
	return meta != NULL && json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE);
}

JsonObject *
nbx_snapshot_generation_meta_new(const char *origin, const SnapshotTarget *target)
{
	JsonObject *meta = json_object_new();
	g_autofree char *now = nbx_format_time_us(g_get_real_time());

	json_object_set_string_member(meta, "origin", origin);
	json_object_set_string_member(meta, "created", now);
	json_object_set_string_member(meta, "machine", target->machine->machine.name);
	json_object_set_string_member(meta, "machinery",
				      nbx_plugin_instance_name(target->machinery));
	return meta;
}

gboolean
nbx_snapshot_publish(NbxSnapshotManager *manager, SnapshotBase *base, const char *staged,
		     gint64 generation, JsonObject *meta, GError **error)
{
	g_autofree char *meta_path = g_build_filename(staged, SNAPSHOT_META_FILE, NULL);
	g_autofree char *final = nbx_snapshot_generation_dir(base, generation);

	json_object_set_int_member(meta, "generation", generation);
	if (!nbx_json_write_object_file(meta_path, meta, error) || !sync_tree(staged, error))
		return FALSE;
	if (rename(staged, final) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot rename %s to %s: %s", staged, final, g_strerror(errno));
		return FALSE;
	}
	if (!nbx_snapshot_sync_dir(base->dir, error) || !write_current(base, generation, error)) {
		/* Not current: the next start removes it as unused. */
		return FALSE;
	}
	g_mutex_lock(&manager->lock);
	base->current = generation;
	base->current_cold = json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE);
	g_mutex_unlock(&manager->lock);
	/* Runs prepared from the old generation are no longer what the next restore needs. */
	if (manager->host.generation_changed != NULL)
		manager->host.generation_changed(manager->host.user_data, base->name);
	return TRUE;
}

guint
nbx_snapshot_generation_users(const SnapshotBase *base, gint64 generation)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(base->users, &generation));
}

void
nbx_snapshot_generation_users_add(SnapshotBase *base, gint64 generation, int delta)
{
	guint count = nbx_snapshot_generation_users(base, generation);
	gint64 *key = g_new(gint64, 1);

	*key = generation;
	count = delta < 0 && count == 0 ? 0 : (guint)((int)count + delta);
	if (count == 0) {
		g_hash_table_remove(base->users, key);
		g_free(key);
	} else {
		g_hash_table_replace(base->users, key, GUINT_TO_POINTER(count));
	}
}

gboolean
nbx_snapshot_generation_is_old(const SnapshotBase *base, gint64 generation)
{
	return generation > 0 && generation != base->current &&
	       nbx_snapshot_generation_users(base, generation) == 0 &&
	       !(base->session != NULL && base->session->from == generation);
}

/* The generations of @base that nothing needs: not current, no run, no session from them. */
static GArray *
unused_generations(NbxSnapshotManager *manager, SnapshotBase *base)
{
	GArray *doomed = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *name;

	g_mutex_lock(&manager->lock);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		gint64 generation = nbx_snapshot_generation_of_name(name);

		if (nbx_snapshot_generation_is_old(base, generation))
			g_array_append_val(doomed, generation);
	}
	g_mutex_unlock(&manager->lock);
	return doomed;
}

gboolean
nbx_snapshot_generation_remove(NbxSnapshotManager *manager, SnapshotBase *base,
			       gint64 generation, GError **error)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxMachine *owner = nbx_machine_pool_lookup(setup->pool, base->name);
	g_autofree char *path = nbx_snapshot_generation_dir(base, generation);

	/* The plugin forgets it first; if it would not, it stays: a leak beats a lost snapshot. */
	if (owner != NULL && nbx_snapshot_has_op(owner, SNAPSHOT_OP_REMOVE) &&
	    !nbx_snapshot_plugin_remove(owner, path, error))
		return FALSE;
	if (!nbx_remove_tree(path)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot remove %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* The plugin forgets each unused generation first, then its directory goes. */
void
nbx_snapshot_collect_garbage(NbxSnapshotManager *manager, SnapshotBase *base)
{
	g_autoptr(GArray) doomed = unused_generations(manager, base);

	for (guint i = 0; i < doomed->len; i++) {
		gint64 generation = g_array_index(doomed, gint64, i);
		g_autofree char *path = nbx_snapshot_generation_dir(base, generation);
		g_autoptr(GError) error = NULL;

		if (nbx_snapshot_generation_remove(manager, base, generation, &error))
			g_message("snapshot base %s: removed unused generation %s", base->name, path);
		else if (g_error_matches(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT))
			g_message("old generation %s kept for now: %s", path, error->message);
		else
			g_warning("snapshot base %s: old generation %s kept: %s", base->name, path,
				  error->message);
	}
}
