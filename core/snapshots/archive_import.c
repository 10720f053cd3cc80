/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state of one archive read: its errors and where it is, for messages. */
#include "archive_import.h"

gboolean
nbx_archive_import_error(NbxArchiveImport *im, NbxSnapshotArchiveError code, GError **error,
			 const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, code, "%s: %s", im->path, message);
	return FALSE;
}

void
nbx_archive_import_entry_done(NbxArchiveImport *im, const char *name)
{
	g_free(im->last_entry);
	im->last_entry = g_strdup(name);
	im->entry = NULL;
}

gboolean
nbx_archive_entry_is_plain_file(struct archive_entry *entry)
{
	return archive_entry_filetype(entry) == AE_IFREG && archive_entry_hardlink(entry) == NULL &&
	       archive_entry_symlink(entry) == NULL && archive_entry_sparse_count(entry) == 0 &&
	       archive_entry_size_is_set(entry);
}
