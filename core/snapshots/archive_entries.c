/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Walking an archive's entries and streaming an entry's data, for every step of the read. */
#include "archive_import.h"

/*
 * Warnings (a name the locale cannot show) are not failures: the names
 * used are the UTF-8 ones, and every byte is checked by hash.
 */
gboolean
nbx_archive_import_next(NbxArchiveImport *im, struct archive_entry **entry, const char **name,
			GError **error)
{
	int rc = archive_read_next_header(im->archive, entry);

	if (rc == ARCHIVE_EOF) {
		*entry = NULL;
		*name = NULL;
		return TRUE;
	}
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return nbx_archive_import_failed(im, error);
	*name = archive_entry_pathname_utf8(*entry);
	if (*name == NULL)
		*name = archive_entry_pathname(*entry);
	if (*name == NULL)
		return nbx_archive_import_error(im,
						im->header_done ? NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED
								: NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
						error, "an entry after %s has no readable name",
						im->last_entry != NULL ? im->last_entry : "the start");
	return TRUE;
}

/* Blocks rather than archive_read_data(), which forgets what it got before an error. */
gboolean
nbx_archive_import_data(NbxArchiveImport *im, const char *name, gint64 size,
			NbxSnapshotArchiveError bad, NbxArchiveDataSink sink, gpointer user_data,
			GError **error)
{
	im->entry = name;
	im->entry_size = size;
	im->entry_done = 0;
	for (;;) {
		const void *block;
		size_t length;
		la_int64_t offset;
		int rc = archive_read_data_block(im->archive, &block, &length, &offset);

		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
			return nbx_archive_import_failed(im, error);
		/* Holes would be data nobody hashed: nestbox writes none. */
		if (offset != im->entry_done || (gint64)length > size - im->entry_done)
			return nbx_archive_import_error(im, bad, error,
							"%s: data at offset %" G_GINT64_FORMAT
							" where %" G_GINT64_FORMAT " was expected",
							name, (gint64)offset, im->entry_done);
		if (!sink(im, block, length, user_data, error))
			return FALSE;
		im->entry_done += length;
	}
	if (im->entry_done != size)
		return nbx_archive_import_truncated(im, error);
	return TRUE;
}
