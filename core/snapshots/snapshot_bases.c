/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bases (the machines whose generations others restore), the runs that
 * use a generation, and the one operator call at a time on each base.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "snapshot_manager_private.h"

void
nbx_snapshot_base_free(SnapshotBase *base)
{
	g_free(base->name);
	g_free(base->dir);
	g_hash_table_unref(base->users);
	nbx_snapshot_session_free(base->session);
	g_free(base);
}

gboolean
nbx_snapshot_name_is_safe(const char *name)
{
	return name != NULL && *name != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

SnapshotBase *
nbx_snapshot_base_get_locked(NbxSnapshotManager *manager, const char *name)
{
	SnapshotBase *base = g_hash_table_lookup(manager->bases, name);

	if (base != NULL)
		return base;
	base = g_new0(SnapshotBase, 1);
	base->name = g_strdup(name);
	base->dir = g_build_filename(manager->root, name, NULL);
	base->users = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	base->current = nbx_snapshot_read_current(base);
	base->current_cold = nbx_snapshot_generation_needs_cold_boot(base, base->current);
	g_hash_table_insert(manager->bases, base->name, base);
	return base;
}

gboolean
nbx_snapshot_resolve(NbxSnapshotManager *manager, const char *name, SnapshotTarget *target,
		     GError **error)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	NbxMachine *machine = nbx_machine_pool_lookup(setup->pool, name);

	if (machine == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_NOT_FOUND,
			    "no enabled machine is named \"%s\" (see nestbox machines)", name);
		return FALSE;
	}
	target->machine = machine;
	target->base_name = nbx_pool_machine_base(machine);
	target->machinery = machine->machinery;
	if (!nbx_snapshot_name_is_safe(target->base_name)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "machine name \"%s\" cannot name a directory", target->base_name);
		return FALSE;
	}
	return TRUE;
}

SnapshotBase *
nbx_snapshot_base_claim(NbxSnapshotManager *manager, const char *name, GError **error)
{
	SnapshotBase *base;

	g_mutex_lock(&manager->lock);
	base = nbx_snapshot_base_get_locked(manager, name);
	if (base->busy) {
		g_mutex_unlock(&manager->lock);
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "another snapshot operation on base %s is running; try again when it "
			    "ends",
			    name);
		return NULL;
	}
	base->busy = TRUE;
	g_mutex_unlock(&manager->lock);
	if (g_mkdir_with_parents(base->dir, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", base->dir, g_strerror(errno));
		nbx_snapshot_base_unclaim(manager, base);
		return NULL;
	}
	return base;
}

void
nbx_snapshot_base_unclaim(NbxSnapshotManager *manager, SnapshotBase *base)
{
	g_mutex_lock(&manager->lock);
	base->busy = FALSE;
	g_mutex_unlock(&manager->lock);
}

gboolean
nbx_snapshot_use_current(NbxSnapshotManager *manager, const char *base_name,
			 gboolean allow_cold, gint64 *generation, char **dir, GError **error)
{
	SnapshotBase *base;

	g_mutex_lock(&manager->lock);
	base = nbx_snapshot_base_get_locked(manager, base_name);
	if (base->current_cold && !allow_cold) {
		g_mutex_unlock(&manager->lock);
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "snapshot generation %" G_GINT64_FORMAT " of base %s was imported "
			    "without its memory: boot it and take a full snapshot first (nestbox "
			    "snapshot begin --cold-boot %s, then nestbox snapshot commit %s)",
			    base->current, base->name, base->name, base->name);
		return FALSE;
	}
	*generation = base->current;
	if (base->current > 0)
		*dir = nbx_snapshot_generation_dir(base, base->current);
	nbx_snapshot_generation_users_add(base, base->current, +1);
	g_mutex_unlock(&manager->lock);
	return TRUE;
}

void
nbx_snapshot_unuse_generation(NbxSnapshotManager *manager, const char *base_name,
			      gint64 generation)
{
	SnapshotBase *base;
	gboolean collect;

	g_mutex_lock(&manager->lock);
	base = nbx_snapshot_base_get_locked(manager, base_name);
	nbx_snapshot_generation_users_add(base, generation, -1);
	collect = generation != base->current && nbx_snapshot_generation_users(base, generation) == 0 &&
		  !base->busy;
	g_mutex_unlock(&manager->lock);
	if (collect)
		nbx_snapshot_collect_garbage(manager, base);
}

gboolean
nbx_snapshot_manager_use(NbxSnapshotManager *manager, NbxMachine *machine,
			 gint64 *generation, char **dir, GError **error)
{
	*generation = 0;
	*dir = NULL;
	if (!nbx_snapshot_has_generations(machine))
		return TRUE;
	return nbx_snapshot_use_current(manager, nbx_pool_machine_base(machine), FALSE, generation,
					dir, error);
}

void
nbx_snapshot_manager_unuse(NbxSnapshotManager *manager, NbxMachine *machine,
			   gint64 generation)
{
	if (nbx_snapshot_has_generations(machine))
		nbx_snapshot_unuse_generation(manager, nbx_pool_machine_base(machine), generation);
}
