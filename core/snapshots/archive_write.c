/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing a snapshot archive: nbx_snapshot_archive_write(). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <nestbox/machinery.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_format.h"
#include "durable_file.h"
#include "json_file.h"
#include "sha256.h"

#ifndef NESTBOX_VERSION
#define NESTBOX_VERSION "unknown"
#endif

/* zstd level 3 is what `zstd` and `tar --zstd` use. */
#define ZSTD_LEVEL "3"

/*
 * One compression worker beside the calling thread, as the zstd command
 * (-T1, its default) does under `tar --zstd`: compression overlaps the
 * reading and hashing instead of following it.
 */
#define ZSTD_THREADS "1"

typedef struct {
	NbxSnapshotArchiveFile *file;
	int fd;
	gint64 size;
	char *sha256;
} ExportSource;

typedef struct {
	const char *path;
	NbxSnapshotManifest *manifest;
	GArray *sources; /* ExportSource, the files in the archive, in order */
	gint64 created_us;
	char *header;
	gsize header_length;
	char *temp_path;
	NbxSyncedFile temp;
	int write_errno; /* of the last failed write to the temporary file */
	struct archive *archive;
	guchar *buffer;
} Export;

static void
export_clear(Export *x)
{
	for (guint i = 0; x->sources != NULL && i < x->sources->len; i++) {
		ExportSource *source = &g_array_index(x->sources, ExportSource, i);

		if (source->fd >= 0)
			close(source->fd);
		g_free(source->sha256);
	}
	g_clear_pointer(&x->sources, g_array_unref);
	if (x->archive != NULL)
		archive_write_free(x->archive);
	if (x->temp.fd >= 0)
		close(x->temp.fd);
	/* Only set while the temporary file is ours to remove. */
	if (x->temp_path != NULL)
		g_unlink(x->temp_path);
	g_free(x->temp_path);
	g_free(x->header);
	g_free(x->buffer);
}

/* Whether @file can be stored under its base name; @names: the base names so far. */
static gboolean
export_check_file(Export *x, NbxSnapshotArchiveFile *file, GHashTable *names, GError **error)
{
	const char *why;

	/* A manifest from an import that skipped this file has nothing to read. */
	if (file->path == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			    "%s: %s has no path to read it from", x->path, file->name);
		return FALSE;
	}
	if (nbx_archive_role_name(file->role) == NULL) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			    "%s: %s: unknown file role %d", x->path, file->path, file->role);
		return FALSE;
	}
	if ((why = nbx_archive_name_unsafe_reason(file->name)) != NULL) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			    "%s: %s: the base name \"%s\" cannot be stored (%s)", x->path, file->path,
			    file->name, why);
		return FALSE;
	}
	if (g_hash_table_contains(names, file->name)) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			    "%s: %s and %s have the same base name (the archive stores "
			    "files by base name)",
			    x->path, (const char *)g_hash_table_lookup(names, file->name), file->path);
		return FALSE;
	}
	g_hash_table_insert(names, file->name, file->path);
	return TRUE;
}

/* Opens @file and adds it to the sources, with the size of what was opened. */
static gboolean
export_open_source(Export *x, NbxSnapshotArchiveFile *file, GError **error)
{
	ExportSource source = { .file = file, .fd = -1 };
	struct stat st;

	/* O_NONBLOCK: a FIFO in the list must not hang the export before it is refused. */
	source.fd = open(file->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (source.fd < 0)
		return nbx_archive_io_error(x->path, error, "cannot open %s", file->path);
	g_array_append_val(x->sources, source);
	if (fstat(source.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: %s is not a regular file", x->path, file->path);
		return FALSE;
	}
	g_array_index(x->sources, ExportSource, x->sources->len - 1).size = st.st_size;
	posix_fadvise(source.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return TRUE;
}

/*
 * Opens every file before the first byte is written: the header lists the
 * sizes, so they are taken from the descriptors that are then read.
 */
static gboolean
export_open_sources(Export *x, GError **error)
{
	g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);

	x->sources = g_array_new(FALSE, TRUE, sizeof(ExportSource));
	for (guint i = 0; i < x->manifest->files->len; i++) {
		NbxSnapshotArchiveFile *file = g_ptr_array_index(x->manifest->files, i);

		if (file->role == NBX_SNAPSHOT_FILE_MEMORY && !x->manifest->full)
			continue;
		if (!export_check_file(x, file, names, error) ||
		    !export_open_source(x, file, error))
			return FALSE;
	}
	return TRUE;
}

static char *
time_to_iso8601(gint64 time_us)
{
	g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_utc(time_us / G_USEC_PER_SEC);
	g_autoptr(GDateTime) exact = g_date_time_add(seconds, time_us % G_USEC_PER_SEC);

	return g_date_time_format_iso8601(exact);
}

static void
add_string(JsonBuilder *builder, const char *name, const char *value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, value);
}

static void
add_int(JsonBuilder *builder, const char *name, gint64 value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_int_value(builder, value);
}

static char *
builder_to_text(JsonBuilder *builder, gsize *length)
{
	g_autoptr(JsonNode) root = json_builder_get_root(builder);

	return nbx_json_to_text(root, length);
}

/* An array, not an object: the plugin's order is kept. */
static void
export_add_fingerprint(Export *x, JsonBuilder *builder)
{
	GPtrArray *fingerprint = x->manifest->fingerprint;

	json_builder_set_member_name(builder, "fingerprint");
	json_builder_begin_array(builder);
	for (guint i = 0; i + 1 < fingerprint->len; i += 2) {
		json_builder_begin_object(builder);
		add_string(builder, "key", g_ptr_array_index(fingerprint, i));
		add_string(builder, "value", g_ptr_array_index(fingerprint, i + 1));
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

/* "files": name, size and, in the header, the role; in the manifest, the SHA-256. */
static void
export_add_files(Export *x, JsonBuilder *builder, gboolean header)
{
	json_builder_set_member_name(builder, "files");
	json_builder_begin_array(builder);
	for (guint i = 0; i < x->sources->len; i++) {
		ExportSource *source = &g_array_index(x->sources, ExportSource, i);

		json_builder_begin_object(builder);
		add_string(builder, "name", source->file->name);
		if (header)
			add_string(builder, "role", nbx_archive_role_name(source->file->role));
		add_int(builder, "size", source->size);
		if (!header)
			add_string(builder, "sha256", source->sha256);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

static void
export_build_header(Export *x)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *created = time_to_iso8601(x->created_us);

	json_builder_begin_object(builder);
	add_string(builder, "format", NBX_ARCHIVE_FORMAT_NAME);
	add_int(builder, "version", NBX_ARCHIVE_FORMAT_VERSION);
	add_string(builder, "machine", x->manifest->machine);
	add_string(builder, "machinery", x->manifest->machinery);
	add_string(builder, "kind", x->manifest->full ? "full" : "minimal");
	add_string(builder, "created", created);
	add_string(builder, "nestbox_version", NESTBOX_VERSION);
	export_add_fingerprint(x, builder);
	export_add_files(x, builder, TRUE);
	json_builder_end_object(builder);

	x->header = builder_to_text(builder, &x->header_length);
}

static char *
export_build_manifest(Export *x, gsize *length)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *header_sha256 = nbx_sha256_hex(x->header, x->header_length);

	json_builder_begin_object(builder);
	export_add_files(x, builder, FALSE);
	add_string(builder, "header_sha256", header_sha256);
	json_builder_end_object(builder);

	return builder_to_text(builder, length);
}

/*
 * Our own write callback rather than archive_write_open_fd(): it keeps
 * errno, so a full disk is reported as such and not as "Write error".
 */
static la_ssize_t
export_write_cb(struct archive *archive, void *data, const void *buffer, size_t length)
{
	Export *x = data;

	if (!nbx_synced_write(&x->temp, buffer, length)) {
		x->write_errno = errno;
		archive_set_error(archive, x->write_errno, "%s", g_strerror(x->write_errno));
		return -1;
	}
	return (la_ssize_t)length;
}

static void
export_set_archive_error(Export *x, const char *entry, GError **error)
{
	const char *reason = x->write_errno != 0 ? g_strerror(x->write_errno)
						 : archive_error_string(x->archive);

	g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
		    "%s: writing %s failed: %s", x->path, entry,
		    reason != NULL ? reason : "unknown error");
}

static gboolean
export_create_temp(Export *x, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(x->path);
	g_autofree char *base = g_path_get_basename(x->path);

	/* Hidden and beside the target, so the rename cannot cross file systems. */
	x->temp_path = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	x->temp.fd = g_mkstemp_full(x->temp_path, O_RDWR | O_CLOEXEC, NBX_ARCHIVE_ENTRY_MODE);
	if (x->temp.fd < 0) {
		nbx_archive_io_error(x->path, error, "cannot create a temporary file in %s", dir);
		g_clear_pointer(&x->temp_path, g_free);
		return FALSE;
	}
	return TRUE;
}

static gboolean
export_open_archive(Export *x, GError **error)
{
	if (!export_create_temp(x, error))
		return FALSE;
	x->archive = archive_write_new();
	if (archive_write_set_format_pax_restricted(x->archive) != ARCHIVE_OK ||
	    archive_write_add_filter_zstd(x->archive) != ARCHIVE_OK ||
	    archive_write_set_filter_option(x->archive, "zstd", "compression-level", ZSTD_LEVEL) !=
		    ARCHIVE_OK) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: libarchive cannot write pax tar with zstd: %s", x->path,
			    archive_error_string(x->archive));
		return FALSE;
	}
	/* libarchive older than 3.6 has no worker option: it then compresses in this thread. */
	archive_write_set_filter_option(x->archive, "zstd", "threads", ZSTD_THREADS);
	/*
	 * Compressed output goes to the file in large writes; the last one is
	 * not padded, which would only append zeros after the zstd frame.
	 */
	archive_write_set_bytes_per_block(x->archive, NBX_ARCHIVE_IO_BLOCK_SIZE);
	archive_write_set_bytes_in_last_block(x->archive, 1);
	if (archive_write_open2(x->archive, x, NULL, export_write_cb, NULL, NULL) != ARCHIVE_OK) {
		export_set_archive_error(x, "the archive", error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
export_entry_header(Export *x, const char *name, gint64 size, GError **error)
{
	struct archive_entry *entry = archive_entry_new();
	int rc;

	/* The bytes as they are: see NbxArchiveLocale. */
	archive_entry_set_pathname(entry, name);
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, NBX_ARCHIVE_ENTRY_MODE);
	archive_entry_set_size(entry, size);
	archive_entry_set_mtime(entry, x->created_us / G_USEC_PER_SEC, 0);
	/* uid and gid 0, no owner names: the host's accounts are nobody's business. */
	rc = archive_write_header(x->archive, entry);
	archive_entry_free(entry);
	/* A warning is a name the locale cannot convert: stored as raw bytes. */
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
		export_set_archive_error(x, name, error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
export_memory_entry(Export *x, const char *name, const char *data, gsize length, GError **error)
{
	if (!export_entry_header(x, name, (gint64)length, error))
		return FALSE;
	if (archive_write_data(x->archive, data, length) != (la_ssize_t)length) {
		export_set_archive_error(x, name, error);
		return FALSE;
	}
	return TRUE;
}

/* A file still being written would give an archive that matches no state of it. */
static gboolean
export_check_file_end(Export *x, ExportSource *source, GError **error)
{
	guchar extra;
	ssize_t n = nbx_read_retry(source->fd, &extra, 1);

	if (n < 0)
		return nbx_archive_io_error(x->path, error, "reading %s failed", source->file->path);
	if (n > 0) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: %s grew while it was archived (beyond %" G_GINT64_FORMAT " bytes)",
			    x->path, source->file->path, source->size);
		return FALSE;
	}
	return TRUE;
}

/* Streams one file through the hash into the archive, exactly the size the header gave. */
static gboolean
export_file_entry(Export *x, ExportSource *source, GError **error)
{
	g_autofree char *entry = g_strconcat(NBX_ARCHIVE_FILES_PREFIX, source->file->name, NULL);
	g_autoptr(NbxSha256) sum = nbx_sha256_new();
	gint64 done = 0;

	if (!export_entry_header(x, entry, source->size, error))
		return FALSE;
	while (done < source->size) {
		ssize_t n = nbx_read_retry(source->fd, x->buffer,
					   MIN(source->size - done, NBX_ARCHIVE_IO_BLOCK_SIZE));

		if (n < 0)
			return nbx_archive_io_error(x->path, error, "reading %s failed",
						    source->file->path);
		if (n == 0) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
				    "%s: %s shrank while it was archived (%" G_GINT64_FORMAT
				    " of %" G_GINT64_FORMAT " bytes)",
				    x->path, source->file->path, done, source->size);
			return FALSE;
		}
		nbx_sha256_update(sum, x->buffer, n);
		if (archive_write_data(x->archive, x->buffer, n) != n) {
			export_set_archive_error(x, entry, error);
			return FALSE;
		}
		done += n;
	}
	if (!export_check_file_end(x, source, error))
		return FALSE;
	source->sha256 = nbx_sha256_finish(g_steal_pointer(&sum));
	return TRUE;
}

/* Makes the complete archive durable under its real name. */
static gboolean
export_commit(Export *x, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(x->path);
	int rc = archive_write_close(x->archive);
	gboolean closed;

	if (rc != ARCHIVE_OK) {
		export_set_archive_error(x, "the end of the archive", error);
		return FALSE;
	}
	closed = fsync(x->temp.fd) == 0 && close(x->temp.fd) == 0;
	x->temp.fd = -1;
	if (!closed)
		return nbx_archive_io_error(x->path, error, "writing %s failed", x->temp_path);
	if (g_rename(x->temp_path, x->path) != 0)
		return nbx_archive_io_error(x->path, error, "cannot rename %s to it", x->temp_path);
	g_clear_pointer(&x->temp_path, g_free);
	/* The rename is only durable once the directory is. */
	if (!nbx_fsync_path(dir, TRUE))
		return nbx_archive_io_error(x->path, error, "cannot sync the directory %s", dir);
	return TRUE;
}

static gboolean
export_run(Export *x, GError **error)
{
	g_autofree char *manifest = NULL;
	gsize manifest_length = 0;

	if (!export_open_sources(x, error))
		return FALSE;
	export_build_header(x);
	if (!export_open_archive(x, error))
		return FALSE;
	if (!export_memory_entry(x, NBX_ARCHIVE_HEADER_ENTRY, x->header, x->header_length, error))
		return FALSE;
	x->buffer = g_malloc(NBX_ARCHIVE_IO_BLOCK_SIZE);
	for (guint i = 0; i < x->sources->len; i++) {
		if (!export_file_entry(x, &g_array_index(x->sources, ExportSource, i), error))
			return FALSE;
	}
	manifest = export_build_manifest(x, &manifest_length);
	if (!export_memory_entry(x, NBX_ARCHIVE_MANIFEST_ENTRY, manifest, manifest_length, error))
		return FALSE;
	return export_commit(x, error);
}

/* Only a complete export changes the caller's manifest. */
static void
export_fill_manifest(Export *x)
{
	for (guint i = 0; i < x->sources->len; i++) {
		ExportSource *source = &g_array_index(x->sources, ExportSource, i);

		source->file->size = source->size;
		g_free(source->file->sha256);
		source->file->sha256 = g_steal_pointer(&source->sha256);
	}
	x->manifest->created_us = x->created_us;
	g_free(x->manifest->nestbox_version);
	x->manifest->nestbox_version = g_strdup(NESTBOX_VERSION);
}

gboolean
nbx_snapshot_archive_write(const char *path, NbxSnapshotManifest *manifest, GError **error)
{
	Export x = {
		.path = path,
		.manifest = manifest,
		.created_us = g_get_real_time(),
		.temp.fd = -1,
	};
	NbxArchiveLocale locale = { 0 };
	gboolean ok;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(manifest != NULL, FALSE);
	g_return_val_if_fail(manifest->machine != NULL && manifest->machinery != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	nbx_archive_locale_enter(&locale);
	ok = export_run(&x, error);
	if (ok)
		export_fill_manifest(&x);
	export_clear(&x);
	nbx_archive_locale_leave(&locale);
	return ok;
}
