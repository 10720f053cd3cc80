/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manifest.json, the last entry: checked against the header and against
 * the hashes taken while the files streamed past, in that order.
 */
#include <string.h>

#include "archive_read.h"

#define HEADER NBX_ARCHIVE_HEADER_ENTRY
#define MANIFEST NBX_ARCHIVE_MANIFEST_ENTRY
#define FILES_PREFIX NBX_ARCHIVE_FILES_PREFIX

static gboolean
is_sha256_hex(const char *text)
{
	if (text == NULL || strlen(text) != 64)
		return FALSE;
	for (const char *c = text; *c != '\0'; c++) {
		if (!g_ascii_isxdigit(*c))
			return FALSE;
	}
	return TRUE;
}

/* Every file the header lists was read. */
static gboolean
verify_all_read(NbxArchiveImport *im, GError **error)
{
	for (guint i = 0; i < im->header->files->len; i++) {
		NbxSnapshotArchiveFile *file = g_ptr_array_index(im->header->files, i);

		if (!g_hash_table_contains(im->seen, file->name))
			return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
							FILES_PREFIX "%s is missing: the header lists "
							"it (the archive was altered)",
							file->name);
	}
	return TRUE;
}

/* files[@i] of the manifest against the header and the data; @listed: names so far. */
static gboolean
verify_file(NbxArchiveImport *im, JsonObject *entry, guint i, GHashTable *listed,
	    GError **error)
{
	const char *name = entry != NULL ? nbx_archive_json_string(entry, "name") : NULL;
	const char *sha256 = entry != NULL ? nbx_archive_json_string(entry, "sha256") : NULL;
	NbxSnapshotArchiveFile *file = name != NULL ? g_hash_table_lookup(im->files, name) : NULL;
	gint64 size = -1;

	if (name == NULL || !is_sha256_hex(sha256) || !nbx_archive_json_int(entry, "size", &size))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						MANIFEST ": files[%u] needs a string name, an "
						"integer size and a SHA-256",
						i);
	if (file == NULL || g_hash_table_contains(listed, name))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						MANIFEST ": files[%u] (%s) is %s (the archive was "
						"altered)",
						i, name,
						file == NULL ? "not in the header" : "listed twice");
	g_hash_table_add(listed, (gpointer)name);
	if (size != file->size)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						FILES_PREFIX "%s: the manifest says %" G_GINT64_FORMAT
						" bytes, the header %" G_GINT64_FORMAT
						" (the archive was altered)",
						name, size, file->size);
	if (g_ascii_strcasecmp(sha256, file->sha256) != 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						FILES_PREFIX "%s: SHA-256 differs from the manifest "
						"(the archive was altered)",
						name);
	return TRUE;
}

static gboolean
verify_files(NbxArchiveImport *im, JsonArray *files, GError **error)
{
	g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < json_array_get_length(files); i++) {
		if (!verify_file(im, nbx_archive_json_array_object(files, i), i, listed, error))
			return FALSE;
	}
	if (g_hash_table_size(listed) != im->header->files->len)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						MANIFEST " lists %u files, the header %u (the archive "
						"was altered)",
						g_hash_table_size(listed), im->header->files->len);
	return TRUE;
}

static gboolean
verify_manifest(NbxArchiveImport *im, const char *data, gsize length, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *object =
		nbx_archive_import_parse_object(im, MANIFEST, data, length, parser, error);
	JsonArray *files;
	const char *header_sha256;

	if (object == NULL)
		return FALSE;
	header_sha256 = nbx_archive_json_string(object, "header_sha256");
	files = nbx_archive_json_array(object, "files");
	if (!is_sha256_hex(header_sha256) || files == NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						MANIFEST ": needs \"files\" and a SHA-256 "
						"\"header_sha256\"");
	if (g_ascii_strcasecmp(header_sha256, im->header_sha256) != 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						HEADER ": SHA-256 differs from the manifest "
						"(the archive was altered)");
	return verify_all_read(im, error) && verify_files(im, files, error);
}

gboolean
nbx_archive_import_manifest(NbxArchiveImport *im, struct archive_entry *entry, GError **error)
{
	g_autofree char *data = NULL;
	gsize length = 0;
	const char *name;

	data = nbx_archive_import_json_entry(im, entry, MANIFEST,
					     NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, &length, error);
	if (data == NULL || !verify_manifest(im, data, length, error))
		return FALSE;
	/* The manifest is the last entry: anything after it was added. */
	if (!nbx_archive_import_next(im, &entry, &name, error))
		return FALSE;
	if (entry != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"unexpected entry %s after " MANIFEST
						" (the archive was altered)",
						name);
	return TRUE;
}
