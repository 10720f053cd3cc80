/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public types of snapshot_archive.h: its error domain and the manifest. */
#include "archive_format.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK(nbx-snapshot-archive-error-quark, nbx_snapshot_archive_error)

gboolean
nbx_archive_io_error(const char *path, GError **error, const char *format, ...)
{
	int saved = errno;
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, "%s: %s: %s",
		    path, message, g_strerror(saved));
	return FALSE;
}

static void
archive_file_free(gpointer data)
{
	NbxSnapshotArchiveFile *file = data;

	g_free(file->name);
	g_free(file->path);
	g_free(file->sha256);
	g_free(file);
}

NbxSnapshotManifest *
nbx_snapshot_manifest_new(const char *machine, const char *machinery, gboolean full)
{
	NbxSnapshotManifest *manifest = g_new0(NbxSnapshotManifest, 1);

	manifest->machine = g_strdup(machine);
	manifest->machinery = g_strdup(machinery);
	manifest->full = full;
	manifest->files = g_ptr_array_new_with_free_func(archive_file_free);
	manifest->fingerprint = g_ptr_array_new_with_free_func(g_free);
	return manifest;
}

NbxSnapshotArchiveFile *
nbx_archive_manifest_append(NbxSnapshotManifest *manifest, gint32 role, const char *name,
			    gint64 size)
{
	NbxSnapshotArchiveFile *file = g_new0(NbxSnapshotArchiveFile, 1);

	file->role = role;
	file->name = g_strdup(name);
	file->size = size;
	g_ptr_array_add(manifest->files, file);
	return file;
}

void
nbx_snapshot_manifest_add_file(NbxSnapshotManifest *manifest, gint32 role, const char *path)
{
	g_autofree char *name = NULL;
	NbxSnapshotArchiveFile *file;

	g_return_if_fail(manifest != NULL);
	g_return_if_fail(path != NULL);

	name = g_path_get_basename(path);
	file = nbx_archive_manifest_append(manifest, role, name, -1);
	file->path = g_strdup(path);
}

void
nbx_snapshot_manifest_add_fingerprint(NbxSnapshotManifest *manifest, const char *key,
				      const char *value)
{
	g_return_if_fail(manifest != NULL);
	g_return_if_fail(key != NULL);

	g_ptr_array_add(manifest->fingerprint, g_strdup(key));
	g_ptr_array_add(manifest->fingerprint, g_strdup(value != NULL ? value : ""));
}

const char *
nbx_snapshot_manifest_fingerprint(const NbxSnapshotManifest *manifest, const char *key)
{
	g_return_val_if_fail(manifest != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	for (guint i = 0; i + 1 < manifest->fingerprint->len; i += 2) {
		if (strcmp(g_ptr_array_index(manifest->fingerprint, i), key) == 0)
			return g_ptr_array_index(manifest->fingerprint, i + 1);
	}
	return NULL;
}

void
nbx_snapshot_manifest_free(NbxSnapshotManifest *manifest)
{
	if (manifest == NULL)
		return;
	g_free(manifest->machine);
	g_free(manifest->machinery);
	g_ptr_array_unref(manifest->files);
	g_ptr_array_unref(manifest->fingerprint);
	g_free(manifest->nestbox_version);
	g_free(manifest);
}
