/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The header entry: read first, parsed into the manifest the import
 * returns, and shown to the caller's check before any file is unpacked.
 */
#include <nestbox/machinery.h>
#include <string.h>

#include "archive_read.h"
#include "sha256.h"

#define HEADER NBX_ARCHIVE_HEADER_ENTRY

static gboolean
header_format_error(NbxArchiveImport *im, GError **error, const char *message)
{
	return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error, "%s", message);
}

/* The array member @member of the header in *@array; FALSE with @error when it is missing. */
static gboolean
header_array(NbxArchiveImport *im, JsonObject *object, const char *member, JsonArray **array,
	     GError **error)
{
	*array = nbx_archive_json_array(object, member);
	if (*array == NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": \"%s\" is missing or not an array", member);
	return TRUE;
}

/* files[@i] of the header, checked and added to the manifest. */
static gboolean
header_file(NbxArchiveImport *im, JsonObject *file, guint i, GError **error)
{
	const char *name = file != NULL ? nbx_archive_json_string(file, "name") : NULL;
	const char *role_name = file != NULL ? nbx_archive_json_string(file, "role") : NULL;
	gint32 role = nbx_archive_role_from_name(role_name);
	gint64 size = -1;
	const char *why;

	if (name == NULL || role_name == NULL || !nbx_archive_json_int(file, "size", &size))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u] needs a string name, a string "
						"role and an integer size",
						i);
	if ((why = nbx_archive_name_unsafe_reason(name)) != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u]: unsafe name \"%s\" (%s)", i, name,
						why);
	if (g_hash_table_contains(im->files, name))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u]: \"%s\" is listed twice", i, name);
	if (role == 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u] (%s): unknown role \"%s\"", i, name,
						role_name);
	if (role == NBX_SNAPSHOT_FILE_MEMORY && !im->header->full)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u] (%s): a minimal snapshot holds no "
						"memory file",
						i, name);
	if (size < 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": files[%u] (%s): negative size", i, name);
	g_hash_table_insert(im->files, g_strdup(name),
			    nbx_archive_manifest_append(im->header, role, name, size));
	return TRUE;
}

static gboolean
header_files(NbxArchiveImport *im, JsonObject *object, GError **error)
{
	JsonArray *files;

	if (!header_array(im, object, "files", &files, error))
		return FALSE;
	for (guint i = 0; i < json_array_get_length(files); i++) {
		if (!header_file(im, nbx_archive_json_array_object(files, i), i, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean
header_fingerprint(NbxArchiveImport *im, JsonObject *object, GError **error)
{
	JsonArray *fingerprint;

	if (!header_array(im, object, "fingerprint", &fingerprint, error))
		return FALSE;
	for (guint i = 0; i < json_array_get_length(fingerprint); i++) {
		JsonObject *pair = nbx_archive_json_array_object(fingerprint, i);
		const char *key = pair != NULL ? nbx_archive_json_string(pair, "key") : NULL;
		const char *value = pair != NULL ? nbx_archive_json_string(pair, "value") : NULL;

		if (key == NULL || value == NULL)
			return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
							HEADER ": fingerprint[%u] needs a string key "
							"and a string value",
							i);
		nbx_snapshot_manifest_add_fingerprint(im->header, key, value);
	}
	return TRUE;
}

/* That the header is a nestbox snapshot's, of the version this code reads. */
static gboolean
header_check_format(NbxArchiveImport *im, JsonObject *object, GError **error)
{
	const char *format = nbx_archive_json_string(object, "format");
	gint64 version = 0;

	if (g_strcmp0(format, NBX_ARCHIVE_FORMAT_NAME) != 0)
		return header_format_error(im, error,
					   "not a nestbox snapshot (" HEADER
					   ": \"format\" is not \"" NBX_ARCHIVE_FORMAT_NAME "\")");
	if (!nbx_archive_json_int(object, "version", &version))
		return header_format_error(im, error,
					   HEADER ": \"version\" is missing or not an integer");
	if (version != NBX_ARCHIVE_FORMAT_VERSION)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						"snapshot format version %" G_GINT64_FORMAT
						"; this nestbox reads version %d",
						version, NBX_ARCHIVE_FORMAT_VERSION);
	return TRUE;
}

/* The header's strings: the manifest is made from them. */
static gboolean
header_describe(NbxArchiveImport *im, JsonObject *object, GError **error)
{
	const char *machine = nbx_archive_json_string(object, "machine");
	const char *machinery = nbx_archive_json_string(object, "machinery");
	const char *kind = nbx_archive_json_string(object, "kind");
	const char *created_text = nbx_archive_json_string(object, "created");
	const char *version_text = nbx_archive_json_string(object, "nestbox_version");
	g_autoptr(GDateTime) created = NULL;

	if (machine == NULL || machinery == NULL || kind == NULL || created_text == NULL ||
	    version_text == NULL)
		return header_format_error(im, error,
					   HEADER ": machine, machinery, kind, created and "
					   "nestbox_version must all be strings");
	if (strcmp(kind, "full") != 0 && strcmp(kind, "minimal") != 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": kind \"%s\" is neither \"full\" nor "
						"\"minimal\"",
						kind);
	created = g_date_time_new_from_iso8601(created_text, NULL);
	if (created == NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						HEADER ": created \"%s\" is not an ISO 8601 time",
						created_text);
	im->header = nbx_snapshot_manifest_new(machine, machinery, strcmp(kind, "full") == 0);
	im->header->created_us = g_date_time_to_unix(created) * G_USEC_PER_SEC +
				 g_date_time_get_microsecond(created);
	im->header->nestbox_version = g_strdup(version_text);
	return TRUE;
}

static gboolean
header_parse(NbxArchiveImport *im, const char *data, gsize length, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *object = nbx_archive_import_parse_object(im, HEADER, data, length, parser, error);

	if (object == NULL)
		return FALSE;
	return header_check_format(im, object, error) && header_describe(im, object, error) &&
	       header_fingerprint(im, object, error) && header_files(im, object, error);
}

/* Lets @check refuse the archive, its words kept as they are. */
static gboolean
header_run_check(NbxArchiveImport *im, NbxSnapshotArchiveCheck check, gpointer user_data,
		 GError **error)
{
	g_autoptr(GError) refusal = NULL;

	if (check == NULL || check(im->header, user_data, &refusal))
		return TRUE;
	if (refusal == NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED, error,
						"refused (the check gave no reason)");
	/* The check's words are what the user must act on: kept as they are. */
	g_set_error_literal(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED,
			    refusal->message);
	return FALSE;
}

gboolean
nbx_archive_import_header(NbxArchiveImport *im, NbxSnapshotArchiveCheck check,
			  gpointer user_data, GError **error)
{
	struct archive_entry *entry;
	const char *name;
	g_autofree char *data = NULL;
	gsize length = 0;

	if (!nbx_archive_import_next(im, &entry, &name, error))
		return FALSE;
	if (entry == NULL)
		return header_format_error(im, error, "not a nestbox snapshot (an empty archive)");
	if (strcmp(name, HEADER) != 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						"not a nestbox snapshot (first entry is %s)", name);
	data = nbx_archive_import_json_entry(im, entry, HEADER, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
					     &length, error);
	if (data == NULL)
		return FALSE;
	im->header_sha256 = nbx_sha256_hex(data, length);
	if (!header_parse(im, data, length, error))
		return FALSE;
	im->header_done = TRUE;
	return header_run_check(im, check, user_data, error);
}
