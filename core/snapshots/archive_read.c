/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a snapshot archive: nbx_snapshot_archive_read(), the driver on top of its steps. */
#include "archive_read.h"

#include <errno.h>
#include <fcntl.h>
#include <nestbox/machinery.h>
#include <string.h>
#include <unistd.h>

#include "durable_file.h"
#include "sha256.h"

static la_ssize_t
import_read_cb(struct archive *archive, void *data, const void **buffer)
{
	NbxArchiveImport *im = data;
	ssize_t n = nbx_read_retry(im->fd, im->block, NBX_ARCHIVE_IO_BLOCK_SIZE);

	if (n < 0) {
		im->read_errno = errno;
		archive_set_error(archive, im->read_errno, "%s", g_strerror(im->read_errno));
		return -1;
	}
	if (n == 0)
		im->at_end = TRUE;
	if (im->magic_length < sizeof(im->magic)) {
		gsize take = MIN(sizeof(im->magic) - im->magic_length, (gsize)n);

		memcpy(im->magic + im->magic_length, im->block, take);
		im->magic_length += take;
	}
	*buffer = im->block;
	return n;
}

/* Where a file entry's data goes: through the hash, and to disk unless it is skipped. */
typedef struct {
	NbxSnapshotArchiveFile *file;
	NbxSha256 *sum;
	NbxSyncedFile out; /* fd -1: skipped */
} FileSink;

static gboolean
file_sink(NbxArchiveImport *im, const void *block, gsize length, gpointer data, GError **error)
{
	FileSink *sink = data;

	nbx_sha256_update(sink->sum, block, length);
	if (sink->out.fd >= 0 && !nbx_synced_write(&sink->out, block, length))
		return nbx_archive_io_error(im->path, error, "writing %s/%s failed", im->dest_dir,
					    sink->file->name);
	return TRUE;
}

/* Streams one file entry through the hash, to @fd unless it is skipped (@fd < 0). */
static gboolean
import_file_data(NbxArchiveImport *im, NbxSnapshotArchiveFile *file, const char *name, int fd,
		 GError **error)
{
	g_autoptr(NbxSha256) sum = nbx_sha256_new();
	FileSink sink = { .file = file, .sum = sum, .out.fd = fd };

	if (!nbx_archive_import_data(im, name, file->size, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
				     file_sink, &sink, error))
		return FALSE;
	file->sha256 = nbx_sha256_finish(g_steal_pointer(&sum));
	return TRUE;
}

/* The header's record of file entry @name in *@file, once: FALSE with @error for any other entry. */
static gboolean
import_expected_file(NbxArchiveImport *im, struct archive_entry *entry, const char *name,
		     NbxSnapshotArchiveFile **file, GError **error)
{
	const char *base = name + strlen(NBX_ARCHIVE_FILES_PREFIX);

	*file = g_hash_table_lookup(im->files, base);
	if (*file == NULL)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"unexpected entry %s: the header does not list it "
						"(the archive was altered)",
						name);
	if (g_hash_table_contains(im->seen, base))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"%s appears twice (the archive was altered)", name);
	g_hash_table_add(im->seen, g_strdup(base));
	if (!nbx_archive_entry_is_plain_file(entry))
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"%s is not a regular file (the archive was altered)",
						name);
	if (archive_entry_size(entry) != (*file)->size)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
						"%s holds %" G_GINT64_FORMAT
						" bytes, the header says %" G_GINT64_FORMAT
						" (the archive was altered)",
						name, (gint64)archive_entry_size(entry),
						(*file)->size);
	return TRUE;
}

/* Unpacks @file into the destination, synced; @keep FALSE: only hashed. */
static gboolean
import_file_to_disk(NbxArchiveImport *im, NbxSnapshotArchiveFile *file, const char *name,
		    gboolean keep, GError **error)
{
	gboolean ok;
	int fd = -1;

	if (keep) {
		/* O_EXCL and O_NOFOLLOW: nothing in the directory is reused or followed. */
		fd = openat(im->dest_fd, file->name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    NBX_ARCHIVE_ENTRY_MODE);
		if (fd < 0)
			return nbx_archive_io_error(im->path, error, "cannot create %s/%s",
						    im->dest_dir, file->name);
	}
	ok = import_file_data(im, file, name, fd, error);
	if (ok && keep && fsync(fd) != 0)
		ok = nbx_archive_io_error(im->path, error, "writing %s/%s failed", im->dest_dir,
					  file->name);
	if (fd >= 0 && close(fd) != 0 && ok)
		ok = nbx_archive_io_error(im->path, error, "writing %s/%s failed", im->dest_dir,
					  file->name);
	return ok;
}

static gboolean
import_file(NbxArchiveImport *im, struct archive_entry *entry, const char *name, GError **error)
{
	NbxSnapshotArchiveFile *file;
	gboolean keep;

	if (!import_expected_file(im, entry, name, &file, error))
		return FALSE;
	keep = !(im->skip_memory && file->role == NBX_SNAPSHOT_FILE_MEMORY);
	if (!import_file_to_disk(im, file, name, keep, error))
		return FALSE;
	if (keep)
		file->path = g_build_filename(im->dest_dir, file->name, NULL);
	nbx_archive_import_entry_done(im, name);
	return TRUE;
}

static gboolean
import_open_files(NbxArchiveImport *im, GError **error)
{
	im->fd = open(im->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (im->fd < 0)
		return nbx_archive_io_error(im->path, error, "cannot open");
	posix_fadvise(im->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	im->dest_fd = open(im->dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->dest_fd < 0)
		return nbx_archive_io_error(im->path, error, "cannot open the destination %s",
					    im->dest_dir);
	return TRUE;
}

static gboolean
import_open(NbxArchiveImport *im, GError **error)
{
	if (!import_open_files(im, error))
		return FALSE;
	im->block = g_malloc(NBX_ARCHIVE_IO_BLOCK_SIZE);
	im->archive = archive_read_new();
	archive_read_support_filter_zstd(im->archive);
	archive_read_support_format_tar(im->archive);
	if (archive_read_open(im->archive, im, NULL, import_read_cb, NULL) != ARCHIVE_OK) {
		if (im->read_errno == 0 && im->at_end && !nbx_archive_zstd_stream_is_cut(im->path))
			return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
							"not a nestbox snapshot (%s)",
							archive_error_string(im->archive));
		return nbx_archive_import_failed(im, error);
	}
	/* Plain or otherwise compressed tar would read, but nestbox writes only zstd. */
	if (archive_filter_count(im->archive) != 2 ||
	    archive_filter_code(im->archive, 0) != ARCHIVE_FILTER_ZSTD)
		return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
						"not a nestbox snapshot (not zstd-compressed)");
	return TRUE;
}

/* The file entries up to and including the manifest, which must come last. */
static gboolean
import_entries(NbxArchiveImport *im, GError **error)
{
	for (;;) {
		struct archive_entry *entry;
		const char *name;

		if (!nbx_archive_import_next(im, &entry, &name, error))
			return FALSE;
		if (entry == NULL)
			return nbx_archive_import_truncated(im, error);
		if (strcmp(name, NBX_ARCHIVE_MANIFEST_ENTRY) == 0)
			return nbx_archive_import_manifest(im, entry, error);
		if (!g_str_has_prefix(name, NBX_ARCHIVE_FILES_PREFIX))
			return nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
							"unexpected entry %s (the archive was altered)",
							name);
		if (!import_file(im, entry, name, error))
			return FALSE;
	}
}

static gboolean
import_run(NbxArchiveImport *im, NbxSnapshotArchiveCheck check, gpointer user_data,
	   GError **error)
{
	if (!import_open(im, error) || !nbx_archive_import_header(im, check, user_data, error) ||
	    !import_entries(im, error))
		return FALSE;
	if (fsync(im->dest_fd) != 0)
		return nbx_archive_io_error(im->path, error, "cannot sync %s", im->dest_dir);
	return TRUE;
}

static void
import_clear(NbxArchiveImport *im)
{
	if (im->archive != NULL)
		archive_read_free(im->archive);
	if (im->fd >= 0)
		close(im->fd);
	if (im->dest_fd >= 0)
		close(im->dest_fd);
	g_free(im->block);
	nbx_snapshot_manifest_free(im->header);
	g_free(im->header_sha256);
	g_hash_table_unref(im->files);
	g_hash_table_unref(im->seen);
	g_free(im->last_entry);
}

NbxSnapshotManifest *
nbx_snapshot_archive_read(const char *path, const char *dest_dir, gboolean skip_memory,
			  NbxSnapshotArchiveCheck check, gpointer user_data, GError **error)
{
	NbxArchiveImport im = {
		.path = path,
		.dest_dir = dest_dir,
		.skip_memory = skip_memory,
		.fd = -1,
		.dest_fd = -1,
		.files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	};
	NbxSnapshotManifest *result = NULL;
	NbxArchiveLocale locale = { 0 };

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(dest_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	nbx_archive_locale_enter(&locale);
	if (import_run(&im, check, user_data, error))
		result = g_steal_pointer(&im.header);
	import_clear(&im);
	nbx_archive_locale_leave(&locale);
	return result;
}
