/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Export and import: a generation to and from a snapshot archive
 * (snapshot_archive.h), full (with the memory state, checked against this
 * host's fingerprint) or minimal (a cold boot on the new host).
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "durable_file.h"
#include "snapshot_manager_private.h"

/* ---- export ---- */

/* Fills @manifest with the files and the fingerprint of @dir (NULL: generation 0). */
static gboolean
describe_generation(const SnapshotTarget *target, const char *dir, NbxSnapshotManifest *manifest,
		    GError **error)
{
	return nbx_snapshot_plugin_files(target, dir, manifest, error) &&
	       nbx_snapshot_plugin_fingerprint(target, 0, dir, manifest, error);
}

static JsonObject *
export_result(const char *name, const SnapshotTarget *target, gint64 generation, gboolean full,
	      const char *output, const NbxSnapshotManifest *manifest)
{
	JsonObject *result = json_object_new();
	struct stat st;

	json_object_set_string_member(result, "machine", name);
	json_object_set_string_member(result, "base", target->base_name);
	json_object_set_int_member(result, "generation", generation);
	json_object_set_string_member(result, "kind", full ? "full" : "minimal");
	json_object_set_string_member(result, "output", output);
	json_object_set_int_member(result, "bytes", stat(output, &st) == 0 ? st.st_size : 0);
	json_object_set_int_member(result, "files", manifest->files->len);
	return result;
}

gboolean
nbx_snapshot_manager_export(NbxSnapshotManager *manager, const char *name, gboolean full,
			    const char *output, JsonObject **result, GError **error)
{
	SnapshotTarget target;
	g_autoptr(NbxSnapshotManifest) manifest = NULL;
	g_autofree char *dir = NULL;
	gint64 generation = 0;
	gboolean ok;

	if (output == NULL || !g_path_is_absolute(output)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "output: must be an absolute path");
		return FALSE;
	}
	if (!nbx_snapshot_resolve(manager, name, &target, error) ||
	    !nbx_snapshot_require_op(&target, SNAPSHOT_OP_FILES, error) ||
	    !nbx_snapshot_require_op(&target, SNAPSHOT_OP_FINGERPRINT, error))
		return FALSE;
	/* Counted as used, so no commit removes it under the export. A minimal
	 * export of a generation without memory is fine; a full one is not. */
	if (!nbx_snapshot_use_current(manager, target.base_name, !full, &generation, &dir, error))
		return FALSE;
	manifest = nbx_snapshot_manifest_new(target.base_name,
					     nbx_plugin_instance_name(target.machinery), full);
	ok = describe_generation(&target, dir, manifest, error) &&
	     nbx_snapshot_archive_write(output, manifest, error);
	nbx_snapshot_unuse_generation(manager, target.base_name, generation);
	if (!ok)
		return FALSE;
	*result = export_result(name, &target, generation, full, output, manifest);
	nbx_store_event_addf(manager->store, 0, name, "snapshot.export",
			     "base %s generation %" G_GINT64_FORMAT " exported (%s) to %s",
			     target.base_name, generation, full ? "full" : "minimal", output);
	return TRUE;
}

/* ---- import: what can be refused before a byte is unpacked ---- */

typedef struct {
	NbxSnapshotManager *manager;
	const char *input;
	const char *machine;
	gboolean replace;
	gboolean minimal;
	SnapshotTarget target;
	SnapshotBase *base;
	gboolean full;
	/* Why check_import refused, in our own domain (the archive wraps it as REFUSED). */
	GError *refusal;
	/* The staging directory: under the root, then moved into the base. */
	char *staged;
} Import;

/* The machine @name may take the archive: the same machinery, an import op, no session. */
static gboolean
check_import_target(Import *im, const NbxSnapshotManifest *header, const char *name,
		    GError **error)
{
	if (!nbx_snapshot_resolve(im->manager, name, &im->target, error))
		return FALSE;
	if (g_strcmp0(header->machinery, nbx_plugin_instance_name(im->target.machinery)) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "the snapshot is for machinery %s; machine %s belongs to %s",
			    header->machinery, name, nbx_plugin_instance_name(im->target.machinery));
		return FALSE;
	}
	if (!nbx_snapshot_require_op(&im->target, SNAPSHOT_OP_IMPORT, error))
		return FALSE;
	im->base = nbx_snapshot_base_claim(im->manager, im->target.base_name, error);
	if (im->base == NULL)
		return FALSE;
	if (im->base->session != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "base %s is being modified on machine %s: commit or roll back first",
			    im->base->name, im->base->session->machine);
		return FALSE;
	}
	return TRUE;
}

/* Whether the machine has a snapshot already: a generation, or one its configuration names. */
static gboolean
target_has_snapshot(Import *im, const char *name)
{
	g_autoptr(NbxSnapshotManifest) probe = NULL;
	if (im->base->current > 0)
		return TRUE;
	if (!nbx_snapshot_has_op(im->target.machine, SNAPSHOT_OP_FILES))
		return FALSE;
	probe = nbx_snapshot_manifest_new(name, "", FALSE);
	/* A plugin that cannot list generation 0 has none to list. */
	return nbx_snapshot_plugin_files(&im->target, NULL, probe, NULL);
}

static gboolean
check_import_header(const NbxSnapshotManifest *header, Import *im, GError **error)
{
	const char *name = im->machine != NULL ? im->machine : header->machine;

	if (!check_import_target(im, header, name, error))
		return FALSE;
	if (target_has_snapshot(im, name) && !im->replace) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT,
			    "machine %s already has a snapshot (base %s, generation %" G_GINT64_FORMAT
			    "); import with --replace to make the imported one current (the "
			    "present one is kept until nothing uses it)",
			    name, im->base->name, im->base->current);
		return FALSE;
	}
	im->full = header->full;
	return TRUE;
}

/* The archive's check callback (NbxSnapshotArchiveCheck). */
static gboolean
check_import(const NbxSnapshotManifest *header, gpointer data, GError **error)
{
	Import *im = data;

	if (check_import_header(header, im, error))
		return TRUE;
	g_clear_error(&im->refusal);
	im->refusal = g_error_copy(*error);
	return FALSE;
}

/* ---- import ---- */

/* The fingerprint keys that must agree for a memory state to restore. */
static const char *const compared_keys[] = {
	"hypervisor", "hypervisor_version", "machine_type", "cpu_model", "memory_mb", NULL,
};

/* "key: archive X, this host Y" for each difference, or NULL when they agree. */
static char *
fingerprint_differences(const NbxSnapshotManifest *archive, const NbxSnapshotManifest *here)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; compared_keys[i] != NULL; i++) {
		const char *a = nbx_snapshot_manifest_fingerprint(archive, compared_keys[i]);
		const char *h = nbx_snapshot_manifest_fingerprint(here, compared_keys[i]);

		if (g_strcmp0(a, h) != 0)
			g_string_append_printf(text, "%s%s: archive %s, this host %s",
					       text->len > 0 ? "; " : "", compared_keys[i],
					       a != NULL ? a : "(none)", h != NULL ? h : "(none)");
	}
	return text->len > 0 ? g_string_free(g_steal_pointer(&text), FALSE) : NULL;
}

/* The staging directory lives under the root: the base is not known before the check. */
static gboolean
import_stage(Import *im, GError **error)
{
	g_autofree char *staged_name = g_strdup_printf(".import-%" G_GINT64_FORMAT "-%08x",
						       g_get_real_time(), g_random_int());

	im->staged = g_build_filename(im->manager->root, staged_name, NULL);
	if (g_mkdir_with_parents(im->staged, 0750) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot create %s: %s", im->staged, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* The archive unpacked into the staging directory; NULL with @error, nothing left. */
static NbxSnapshotManifest *
import_unpack(Import *im, GError **error)
{
	g_autoptr(GError) local = NULL;
	NbxSnapshotManifest *manifest = nbx_snapshot_archive_read(im->input, im->staged,
								  im->minimal, check_import, im,
								  &local);

	if (manifest != NULL)
		return manifest;
	nbx_remove_tree(im->staged);
	if (im->base != NULL)
		nbx_snapshot_base_unclaim(im->manager, im->base);
	if (im->refusal != NULL)
		g_propagate_error(error, g_steal_pointer(&im->refusal));
	else if (local->domain == NBX_SNAPSHOT_ERROR)
		g_propagate_error(error, g_steal_pointer(&local));
	else
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID, "%s",
			    local->message);
	return NULL;
}

/* A memory state restores only where the hypervisor is the one that made it. */
static gboolean
import_check_fingerprint(Import *im, const NbxSnapshotManifest *manifest, GError **error)
{
	g_autoptr(NbxSnapshotManifest) here =
		nbx_snapshot_manifest_new(manifest->machine, manifest->machinery, TRUE);
	g_autofree char *differences = NULL;

	if (!nbx_snapshot_require_op(&im->target, SNAPSHOT_OP_FINGERPRINT, error))
		return FALSE;
	if (!nbx_snapshot_plugin_fingerprint(&im->target, NBX_SNAPSHOT_FINGERPRINT_HOST,
					     im->staged, here, error))
		return FALSE;
	differences = fingerprint_differences(manifest, here);
	if (differences != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "%s: its memory state was made by an incompatible host (%s); "
			    "import it with --minimal to boot its disk and take a new memory "
			    "snapshot here",
			    im->input, differences);
		return FALSE;
	}
	return TRUE;
}

/* The plugin takes the files, then they move into the base under their final number. */
static gboolean
import_into_base(Import *im, gboolean cold, gint64 *next, GError **error)
{
	g_autofree char *name = NULL;
	g_autofree char *in_base = NULL;

	if (!nbx_snapshot_plugin_import(&im->target, cold ? NBX_SNAPSHOT_IMPORT_MINIMAL : 0,
					im->staged, error))
		return FALSE;
	/* Into the base's directory (same file system), under its final number's staging name. */
	*next = nbx_snapshot_newest_generation(im->base) + 1;
	name = g_strdup_printf(".import-%" G_GINT64_FORMAT, *next);
	in_base = g_build_filename(im->base->dir, name, NULL);
	if (rename(im->staged, in_base) != 0) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_FAILED,
			    "cannot move %s to %s: %s", im->staged, in_base, g_strerror(errno));
		return FALSE;
	}
	g_free(im->staged);
	im->staged = g_steal_pointer(&in_base);
	return TRUE;
}

static gboolean
import_publish(Import *im, const NbxSnapshotManifest *manifest, gboolean cold, gint64 next,
	       GError **error)
{
	g_autoptr(JsonObject) meta = nbx_snapshot_generation_meta_new("import", &im->target);

	json_object_set_boolean_member(meta, "cold_boot", cold);
	json_object_set_string_member(meta, "archive", im->input);
	json_object_set_string_member(meta, "archive_machine", manifest->machine);
	return nbx_snapshot_publish(im->manager, im->base, im->staged, next, meta, error);
}

static JsonObject *
import_result(Import *im, const NbxSnapshotManifest *manifest, gboolean cold, gint64 next)
{
	JsonObject *result = json_object_new();

	json_object_set_string_member(result, "machine", im->target.machine->machine.name);
	json_object_set_string_member(result, "base", im->base->name);
	json_object_set_int_member(result, "generation", next);
	json_object_set_boolean_member(result, "cold_boot", cold);
	json_object_set_int_member(result, "files", manifest->files->len);
	return result;
}

gboolean
nbx_snapshot_manager_import(NbxSnapshotManager *manager, const char *input, const char *machine,
			    gboolean replace, gboolean minimal, JsonObject **result,
			    GError **error)
{
	Import im = { .manager = manager, .input = input, .machine = machine,
		      .replace = replace, .minimal = minimal };
	g_autoptr(NbxSnapshotManifest) manifest = NULL;
	gint64 next = 0;
	gboolean cold, ok;

	if (input == NULL || !g_path_is_absolute(input)) {
		g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_INVALID,
			    "input: must be an absolute path");
		return FALSE;
	}
	if (!import_stage(&im, error) || (manifest = import_unpack(&im, error)) == NULL) {
		g_free(im.staged);
		return FALSE;
	}
	cold = minimal || !im.full;
	ok = (cold || import_check_fingerprint(&im, manifest, error)) &&
	     import_into_base(&im, cold, &next, error) &&
	     import_publish(&im, manifest, cold, next, error);
	if (!ok) {
		nbx_remove_tree(im.staged);
		nbx_snapshot_base_unclaim(manager, im.base);
		g_free(im.staged);
		return FALSE;
	}
	nbx_store_event_addf(manager->store, 0, im.target.machine->machine.name, "snapshot.import",
			     "base %s: generation %" G_GINT64_FORMAT " imported from %s (%s)",
			     im.base->name, next, input, cold ? "needs a cold boot" : "full");
	nbx_snapshot_base_unclaim(manager, im.base);
	nbx_snapshot_collect_garbage(manager, im.base);
	*result = import_result(&im, manifest, cold, next);
	g_free(im.staged);
	return TRUE;
}
