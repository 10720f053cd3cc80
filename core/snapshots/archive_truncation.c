/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a failed read of an archive means: cut short (TRUNCATED), altered
 * (TAMPERED), or not a nestbox snapshot at all (FORMAT). The zstd frames
 * decide between the first two.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_import.h"

static const guchar zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

static guint32
le32(const guchar *bytes)
{
	return (guint32)bytes[0] | (guint32)bytes[1] << 8 | (guint32)bytes[2] << 16 |
	       (guint32)bytes[3] << 24;
}

/* Past the skippable frame at @at (its size follows its magic); -1 when unreadable. */
static off_t
zstd_skippable_end(int fd, off_t at)
{
	guchar size[4];

	if (pread(fd, size, 4, at + 4) != 4)
		return -1;
	return at + 8 + (off_t)le32(size);
}

/* Past the blocks that start at @at, the last one included; -1 when they do not hold. */
static off_t
zstd_blocks_end(int fd, off_t at, off_t file_size)
{
	gboolean last = FALSE;

	while (!last) {
		guchar block[3];
		guint32 header, size;

		if (pread(fd, block, 3, at) != 3)
			return -1;
		header = (guint32)block[0] | (guint32)block[1] << 8 | (guint32)block[2] << 16;
		last = header & 1;
		size = header >> 3;
		switch ((header >> 1) & 3) {
		case 0: /* raw */
		case 2: /* compressed */
			at += 3 + size;
			break;
		case 1: /* RLE: one byte */
			at += 4;
			break;
		default:
			return -1;
		}
		if (at > file_size)
			return -1;
	}
	return at;
}

/* Past the zstd frame at @at: its header, its blocks, its checksum; -1 when it does not hold. */
static off_t
zstd_frame_end(int fd, off_t at, off_t file_size)
{
	static const int dictionary_bytes[] = { 0, 1, 2, 4 };
	static const int content_size_bytes[] = { 0, 2, 4, 8 };
	guchar descriptor;
	int fcs_flag, single_segment;

	if (pread(fd, &descriptor, 1, at + 4) != 1)
		return -1;
	fcs_flag = descriptor >> 6;
	single_segment = (descriptor >> 5) & 1;
	at += 5 + (single_segment ? 0 : 1) + dictionary_bytes[descriptor & 3] +
	      (fcs_flag == 0 ? single_segment : content_size_bytes[fcs_flag]);
	at = zstd_blocks_end(fd, at, file_size);
	if (at < 0)
		return -1;
	/* Content checksum. */
	return (descriptor & 4) ? at + 4 : at;
}

/*
 * Whether @fd holds whole zstd frames, from its first byte to its last: the
 * frame and block headers are walked with pread, the data skipped. A file
 * cut short ends inside a frame; one whose data was altered still has every
 * header in place. zstd frames carry no checksum here (libarchive writes
 * none), so this is what tells "truncated" from "damaged" when the decoder
 * simply runs out of tar stream (RFC 8878, section 3.1).
 */
static gboolean
zstd_stream_complete(int fd)
{
	struct stat st;
	off_t at = 0;

	if (fstat(fd, &st) != 0)
		return FALSE;
	while (at < st.st_size) {
		guchar head[4];
		guint32 magic;

		if (pread(fd, head, 4, at) != 4)
			return FALSE;
		magic = le32(head);
		if ((magic & 0xfffffff0u) == 0x184d2a50u)
			at = zstd_skippable_end(fd, at);
		else if (magic == 0xfd2fb528u)
			at = zstd_frame_end(fd, at, st.st_size);
		else
			return FALSE;
		if (at < 0)
			return FALSE;
	}
	return at == st.st_size;
}

/* The decoder ran out of tar stream, but the file is whole: it was altered. */
static gboolean
import_damaged(NbxArchiveImport *im, GError **error)
{
	if (im->entry != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"%s: the archive is damaged (its compressed data is "
						"whole but decodes to a short %s)",
						im->entry, im->entry);
	return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					"the archive is damaged after %s (its compressed data is "
					"whole but decodes to a short tar stream)",
					im->last_entry != NULL ? im->last_entry : "its start");
}

gboolean
nbx_archive_import_truncated(NbxArchiveImport *im, GError **error)
{
	if (zstd_stream_complete(im->fd))
		return import_damaged(im, error);
	if (im->entry != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
						"the archive ends in %s (truncated: %" G_GINT64_FORMAT
						" of %" G_GINT64_FORMAT " bytes)",
						im->entry, im->entry_done, im->entry_size);
	if (g_strcmp0(im->last_entry, NBX_ARCHIVE_MANIFEST_ENTRY) == 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
						"the archive ends after " NBX_ARCHIVE_MANIFEST_ENTRY
						" (truncated in its end-of-archive marker)");
	if (im->last_entry != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
						"the archive ends after %s (truncated: no "
						NBX_ARCHIVE_MANIFEST_ENTRY ")",
						im->last_entry);
	return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
					"the archive ends before its first entry (truncated)");
}

gboolean
nbx_archive_import_failed(NbxArchiveImport *im, GError **error)
{
	const char *reason = archive_error_string(im->archive);
	gboolean zstd = im->magic_length == sizeof(zstd_magic) &&
			memcmp(im->magic, zstd_magic, sizeof(zstd_magic)) == 0;

	if (reason == NULL)
		reason = "unknown error";
	if (im->read_errno != 0)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error,
						"reading failed: %s", g_strerror(im->read_errno));
	if (im->at_end && zstd)
		return nbx_archive_import_truncated(im, error);
	if (!im->header_done)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						"not a nestbox snapshot (%s)", reason);
	if (im->entry != NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"%s: the archive is damaged (%s)", im->entry, reason);
	return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					"the archive is damaged after %s (%s)", im->last_entry,
					reason);
}

/*
 * Asked only when libarchive could not open the archive after reading the
 * whole file, so the file is small: a complete frame of something that is
 * not tar is not a snapshot, a cut frame is a truncated one.
 */
gboolean
nbx_archive_zstd_stream_is_cut(const char *path)
{
	struct archive *raw = archive_read_new();
	struct archive_entry *entry;
	gboolean cut = TRUE;

	archive_read_support_filter_zstd(raw);
	archive_read_support_format_raw(raw);
	if (archive_read_open_filename(raw, path, 65536) == ARCHIVE_OK &&
	    archive_read_next_header(raw, &entry) == ARCHIVE_OK) {
		char buffer[65536];
		la_ssize_t n;

		while ((n = archive_read_data(raw, buffer, sizeof(buffer))) > 0)
			;
		cut = n < 0;
	}
	archive_read_free(raw);
	return cut;
}
