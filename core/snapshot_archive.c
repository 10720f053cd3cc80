/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* sync_file_range */
#include "snapshot_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <nestbox/machinery.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#ifndef NESTBOX_VERSION
#define NESTBOX_VERSION "unknown"
#endif

G_DEFINE_QUARK(nbx-snapshot-archive-error-quark, nbx_snapshot_archive_error)

#define HEADER_ENTRY "nestbox-snapshot.json"
#define MANIFEST_ENTRY "manifest.json"
#define FILES_PREFIX "files/"
#define FORMAT_NAME "nestbox-snapshot"
#define FORMAT_VERSION 1

/*
 * One buffer for every read of a source file and of the archive: large
 * enough that the syscalls cost nothing next to compression and hashing,
 * small enough to be irrelevant to the daemon's footprint.
 */
#define IO_BLOCK_SIZE (1 << 20)

/* The header and the manifest are a few KiB; anything far larger is not ours. */
#define JSON_ENTRY_MAX (1 << 20)

#define ENTRY_MODE 0640

/* zstd level 3 is what `zstd` and `tar --zstd` use. */
#define ZSTD_LEVEL "3"

/*
 * One compression worker beside the calling thread, as the zstd command
 * (-T1, its default) does under `tar --zstd`: compression overlaps the
 * reading and hashing instead of following it.
 */
#define ZSTD_THREADS "1"

/* ---- roles and names ---- */

static const char *const role_names[] = {
	[NBX_SNAPSHOT_FILE_DESCRIPTION] = "description",
	[NBX_SNAPSHOT_FILE_DISK] = "disk",
	[NBX_SNAPSHOT_FILE_MEMORY] = "memory",
	[NBX_SNAPSHOT_FILE_OTHER] = "other",
};

static const char *
role_to_string(gint32 role)
{
	if (role < NBX_SNAPSHOT_FILE_DESCRIPTION || role > NBX_SNAPSHOT_FILE_OTHER)
		return NULL;
	return role_names[role];
}

static gint32
role_from_string(const char *name)
{
	for (gint32 role = NBX_SNAPSHOT_FILE_DESCRIPTION; role <= NBX_SNAPSHOT_FILE_OTHER; role++) {
		if (g_strcmp0(role_names[role], name) == 0)
			return role;
	}
	return 0;
}

/*
 * Why @name cannot be a file of the archive, or NULL when it can: files
 * are unpacked by base name into the destination directory, so anything
 * that could name another place (or nothing) is refused, on both sides.
 */
static const char *
name_unsafe_reason(const char *name)
{
	if (name[0] == '\0')
		return "an empty name";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "not a file name";
	if (strchr(name, '/') != NULL)
		return "contains '/'";
	if (strlen(name) > 255)
		return "longer than 255 bytes";
	if (!g_utf8_validate(name, -1, NULL))
		return "not UTF-8";
	for (const char *c = name; *c != '\0'; c++) {
		if ((guchar)*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

/*
 * Names are UTF-8, and libarchive converts them through the charset of the
 * locale: under the C locale its pax writer even crashes on a non-ASCII
 * name (3.6.2). So the archive work runs with a UTF-8 LC_CTYPE on the
 * calling thread, whatever the daemon's locale; other threads are not
 * affected. Without C.UTF-8, names still round-trip, as raw bytes.
 */
typedef struct {
	locale_t utf8;
	locale_t previous;
} ThreadLocale;

static void
thread_locale_enter(ThreadLocale *tl)
{
	locale_t base = duplocale(uselocale((locale_t)0));

	tl->utf8 = base != (locale_t)0 ? newlocale(LC_CTYPE_MASK, "C.UTF-8", base) : (locale_t)0;
	if (tl->utf8 == (locale_t)0) {
		if (base != (locale_t)0)
			freelocale(base);
		return;
	}
	tl->previous = uselocale(tl->utf8);
}

static void
thread_locale_leave(ThreadLocale *tl)
{
	if (tl->utf8 == (locale_t)0)
		return;
	uselocale(tl->previous);
	freelocale(tl->utf8);
}

/* ---- the manifest ---- */

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

static NbxSnapshotArchiveFile *
manifest_append_file(NbxSnapshotManifest *manifest, gint32 role, const char *name, gint64 size)
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
	file = manifest_append_file(manifest, role, name, -1);
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

/* ---- small helpers ---- */

static gboolean
write_all(int fd, const void *data, gsize length)
{
	const guchar *p = data;

	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		p += n;
		length -= (gsize)n;
	}
	return TRUE;
}

/*
 * Writes that start their own writeback every few MiB: the final fsync then
 * waits for little, the disk works while the CPU compresses or hashes, and
 * a file of many GiB never piles up as dirty pages that stall every other
 * writer on the host.
 */
#define WRITEBACK_CHUNK (8 << 20)

typedef struct {
	int fd;
	gint64 written;
	gint64 kicked; /* writeback started up to here */
} SyncedFile;

static gboolean
synced_write(SyncedFile *file, const void *data, gsize length)
{
	if (!write_all(file->fd, data, length))
		return FALSE;
	file->written += (gint64)length;
	if (file->written - file->kicked >= WRITEBACK_CHUNK) {
		/* Only a hint: a failure shows at fsync. */
		sync_file_range(file->fd, file->kicked, file->written - file->kicked,
				SYNC_FILE_RANGE_WRITE);
		file->kicked = file->written;
	}
	return TRUE;
}

static ssize_t
read_retry(int fd, void *buffer, gsize length)
{
	ssize_t n;

	do
		n = read(fd, buffer, length);
	while (n < 0 && errno == EINTR);
	return n;
}

static char *
json_to_bytes(JsonBuilder *builder, gsize *length)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(builder);

	json_generator_set_pretty(generator, TRUE);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, length);
}

static char *
time_to_iso8601(gint64 time_us)
{
	g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_utc(time_us / G_USEC_PER_SEC);
	g_autoptr(GDateTime) exact = g_date_time_add(seconds, time_us % G_USEC_PER_SEC);

	return g_date_time_format_iso8601(exact);
}

/* ---- writing ---- */

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
	SyncedFile temp;
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
		ExportSource source = { .file = file, .fd = -1 };
		const char *why;
		struct stat st;

		if (file->role == NBX_SNAPSHOT_FILE_MEMORY && !x->manifest->full)
			continue;
		/* A manifest from an import that skipped this file has nothing to read. */
		if (file->path == NULL) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				    "%s: %s has no path to read it from", x->path, file->name);
			return FALSE;
		}
		if (role_to_string(file->role) == NULL) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				    "%s: %s: unknown file role %d", x->path, file->path, file->role);
			return FALSE;
		}
		if ((why = name_unsafe_reason(file->name)) != NULL) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				    "%s: %s: the base name \"%s\" cannot be stored (%s)", x->path,
				    file->path, file->name, why);
			return FALSE;
		}
		if (g_hash_table_contains(names, file->name)) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				    "%s: %s and %s have the same base name (the archive stores "
				    "files by base name)",
				    x->path, (const char *)g_hash_table_lookup(names, file->name),
				    file->path);
			return FALSE;
		}
		g_hash_table_insert(names, file->name, file->path);

		/* O_NONBLOCK: a FIFO in the list must not hang the export before it is refused. */
		source.fd = open(file->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (source.fd < 0) {
			int saved = errno;

			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
				    "%s: cannot open %s: %s", x->path, file->path, g_strerror(saved));
			return FALSE;
		}
		g_array_append_val(x->sources, source);
		if (fstat(source.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
				    "%s: %s is not a regular file", x->path, file->path);
			return FALSE;
		}
		g_array_index(x->sources, ExportSource, x->sources->len - 1).size = st.st_size;
		posix_fadvise(source.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	return TRUE;
}

static void
export_build_header(Export *x)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *created = time_to_iso8601(x->created_us);
	GPtrArray *fingerprint = x->manifest->fingerprint;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "format");
	json_builder_add_string_value(builder, FORMAT_NAME);
	json_builder_set_member_name(builder, "version");
	json_builder_add_int_value(builder, FORMAT_VERSION);
	json_builder_set_member_name(builder, "machine");
	json_builder_add_string_value(builder, x->manifest->machine);
	json_builder_set_member_name(builder, "machinery");
	json_builder_add_string_value(builder, x->manifest->machinery);
	json_builder_set_member_name(builder, "kind");
	json_builder_add_string_value(builder, x->manifest->full ? "full" : "minimal");
	json_builder_set_member_name(builder, "created");
	json_builder_add_string_value(builder, created);
	json_builder_set_member_name(builder, "nestbox_version");
	json_builder_add_string_value(builder, NESTBOX_VERSION);

	/* An array, not an object: the plugin's order is kept. */
	json_builder_set_member_name(builder, "fingerprint");
	json_builder_begin_array(builder);
	for (guint i = 0; i + 1 < fingerprint->len; i += 2) {
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "key");
		json_builder_add_string_value(builder, g_ptr_array_index(fingerprint, i));
		json_builder_set_member_name(builder, "value");
		json_builder_add_string_value(builder, g_ptr_array_index(fingerprint, i + 1));
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);

	json_builder_set_member_name(builder, "files");
	json_builder_begin_array(builder);
	for (guint i = 0; i < x->sources->len; i++) {
		ExportSource *source = &g_array_index(x->sources, ExportSource, i);

		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "name");
		json_builder_add_string_value(builder, source->file->name);
		json_builder_set_member_name(builder, "role");
		json_builder_add_string_value(builder, role_to_string(source->file->role));
		json_builder_set_member_name(builder, "size");
		json_builder_add_int_value(builder, source->size);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);

	x->header = json_to_bytes(builder, &x->header_length);
}

static char *
export_build_manifest(Export *x, gsize *length)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *header_sha256 = nbx_sha256_of(x->header, x->header_length);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "files");
	json_builder_begin_array(builder);
	for (guint i = 0; i < x->sources->len; i++) {
		ExportSource *source = &g_array_index(x->sources, ExportSource, i);

		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "name");
		json_builder_add_string_value(builder, source->file->name);
		json_builder_set_member_name(builder, "size");
		json_builder_add_int_value(builder, source->size);
		json_builder_set_member_name(builder, "sha256");
		json_builder_add_string_value(builder, source->sha256);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "header_sha256");
	json_builder_add_string_value(builder, header_sha256);
	json_builder_end_object(builder);

	return json_to_bytes(builder, length);
}

/*
 * Our own write callback rather than archive_write_open_fd(): it keeps
 * errno, so a full disk is reported as such and not as "Write error".
 */
static la_ssize_t
export_write_cb(struct archive *archive, void *data, const void *buffer, size_t length)
{
	Export *x = data;

	if (!synced_write(&x->temp, buffer, length)) {
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
export_open_archive(Export *x, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(x->path);
	g_autofree char *base = g_path_get_basename(x->path);

	/* Hidden and beside the target, so the rename cannot cross file systems. */
	x->temp_path = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	x->temp.fd = g_mkstemp_full(x->temp_path, O_RDWR | O_CLOEXEC, ENTRY_MODE);
	if (x->temp.fd < 0) {
		int saved = errno;

		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: cannot create a temporary file in %s: %s", x->path, dir,
			    g_strerror(saved));
		g_clear_pointer(&x->temp_path, g_free);
		return FALSE;
	}

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
	archive_write_set_bytes_per_block(x->archive, IO_BLOCK_SIZE);
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

	/* The bytes as they are: see ThreadLocale. */
	archive_entry_set_pathname(entry, name);
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, ENTRY_MODE);
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

/* Streams one file through the hash into the archive, exactly the size the header gave. */
static gboolean
export_file_entry(Export *x, ExportSource *source, GError **error)
{
	g_autofree char *entry = g_strconcat(FILES_PREFIX, source->file->name, NULL);
	g_autoptr(NbxSha256) sum = nbx_sha256_new();
	gint64 done = 0;
	ssize_t n;
	guchar extra;

	if (!export_entry_header(x, entry, source->size, error))
		return FALSE;
	while (done < source->size) {
		n = read_retry(source->fd, x->buffer, MIN(source->size - done, IO_BLOCK_SIZE));
		if (n < 0) {
			int saved = errno;

			g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
				    "%s: reading %s failed: %s", x->path, source->file->path,
				    g_strerror(saved));
			return FALSE;
		}
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
	/* A file still being written would give an archive that matches no state of it. */
	n = read_retry(source->fd, &extra, 1);
	if (n < 0) {
		int saved = errno;

		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: reading %s failed: %s", x->path, source->file->path, g_strerror(saved));
		return FALSE;
	}
	if (n > 0) {
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: %s grew while it was archived (beyond %" G_GINT64_FORMAT " bytes)",
			    x->path, source->file->path, source->size);
		return FALSE;
	}
	source->sha256 = nbx_sha256_finish(g_steal_pointer(&sum));
	return TRUE;
}

/* Makes the complete archive durable under its real name. */
static gboolean
export_commit(Export *x, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(x->path);
	int rc = archive_write_close(x->archive);
	int dir_fd;

	if (rc != ARCHIVE_OK) {
		export_set_archive_error(x, "the end of the archive", error);
		return FALSE;
	}
	if (fsync(x->temp.fd) != 0 || close(x->temp.fd) != 0) {
		int saved = errno;

		x->temp.fd = -1;
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: writing %s failed: %s", x->path, x->temp_path, g_strerror(saved));
		return FALSE;
	}
	x->temp.fd = -1;
	if (g_rename(x->temp_path, x->path) != 0) {
		int saved = errno;

		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: cannot rename %s to it: %s", x->path, x->temp_path,
			    g_strerror(saved));
		return FALSE;
	}
	g_clear_pointer(&x->temp_path, g_free);

	/* The rename is only durable once the directory is. */
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 || fsync(dir_fd) != 0) {
		int saved = errno;

		if (dir_fd >= 0)
			close(dir_fd);
		g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
			    "%s: cannot sync the directory %s: %s", x->path, dir, g_strerror(saved));
		return FALSE;
	}
	close(dir_fd);
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
	if (!export_memory_entry(x, HEADER_ENTRY, x->header, x->header_length, error))
		return FALSE;
	x->buffer = g_malloc(IO_BLOCK_SIZE);
	for (guint i = 0; i < x->sources->len; i++) {
		if (!export_file_entry(x, &g_array_index(x->sources, ExportSource, i), error))
			return FALSE;
	}
	manifest = export_build_manifest(x, &manifest_length);
	if (!export_memory_entry(x, MANIFEST_ENTRY, manifest, manifest_length, error))
		return FALSE;
	return export_commit(x, error);
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
	ThreadLocale locale = { 0 };
	gboolean ok;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(manifest != NULL, FALSE);
	g_return_val_if_fail(manifest->machine != NULL && manifest->machinery != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	thread_locale_enter(&locale);
	ok = export_run(&x, error);
	if (ok) {
		/* Only a complete export changes the caller's manifest. */
		for (guint i = 0; i < x.sources->len; i++) {
			ExportSource *source = &g_array_index(x.sources, ExportSource, i);

			source->file->size = source->size;
			g_free(source->file->sha256);
			source->file->sha256 = g_steal_pointer(&source->sha256);
		}
		manifest->created_us = x.created_us;
		g_free(manifest->nestbox_version);
		manifest->nestbox_version = g_strdup(NESTBOX_VERSION);
	}
	export_clear(&x);
	thread_locale_leave(&locale);
	return ok;
}

/* ---- reading ---- */

typedef struct {
	const char *path;
	const char *dest_dir;
	gboolean skip_memory;
	int fd;
	int dest_fd;
	guchar *block;
	/*
	 * libarchive asked for bytes past the end of the file: a decoder that
	 * fails after that ran out of input, which is what a truncated archive
	 * looks like. A decoder that fails before that found bad bytes.
	 */
	gboolean at_end;
	int read_errno;
	guchar magic[4];
	gsize magic_length;
	struct archive *archive;
	/* The parsed header, which becomes the result. */
	NbxSnapshotManifest *header;
	char *header_sha256;
	GHashTable *files; /* base name -> NbxSnapshotArchiveFile * of header */
	GHashTable *seen;  /* base names whose entry was read */
	/* Where the reading is, for messages. */
	const char *entry; /* the entry whose data is being read, or NULL */
	gint64 entry_done;
	gint64 entry_size;
	char *last_entry; /* the last complete entry, or NULL */
	gboolean header_done;
} Import;

static const guchar zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

static gboolean import_error(Import *im, NbxSnapshotArchiveError code, GError **error,
			     const char *format, ...) G_GNUC_PRINTF(4, 5);

/* "PATH: <message>"; always FALSE, for `return import_error(...)`. */
static gboolean
import_error(Import *im, NbxSnapshotArchiveError code, GError **error, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, code, "%s: %s", im->path, message);
	return FALSE;
}

static la_ssize_t
import_read_cb(struct archive *archive, void *data, const void **buffer)
{
	Import *im = data;
	ssize_t n = read_retry(im->fd, im->block, IO_BLOCK_SIZE);

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
		magic = (guint32)head[0] | (guint32)head[1] << 8 | (guint32)head[2] << 16 |
			(guint32)head[3] << 24;
		if ((magic & 0xfffffff0u) == 0x184d2a50u) {
			/* A skippable frame: its size follows. */
			if (pread(fd, head, 4, at + 4) != 4)
				return FALSE;
			at += 8 + ((off_t)head[0] | (off_t)head[1] << 8 | (off_t)head[2] << 16 |
				   (off_t)head[3] << 24);
			continue;
		}
		if (magic != 0xfd2fb528u)
			return FALSE;
		{
			guchar descriptor;
			static const int dictionary_bytes[] = { 0, 1, 2, 4 };
			static const int content_size_bytes[] = { 0, 2, 4, 8 };
			int fcs_flag, single_segment;
			gboolean last = FALSE;

			if (pread(fd, &descriptor, 1, at + 4) != 1)
				return FALSE;
			fcs_flag = descriptor >> 6;
			single_segment = (descriptor >> 5) & 1;
			at += 5 + (single_segment ? 0 : 1) + dictionary_bytes[descriptor & 3] +
			      (fcs_flag == 0 ? single_segment : content_size_bytes[fcs_flag]);
			while (!last) {
				guchar block[3];
				guint32 header, size;

				if (pread(fd, block, 3, at) != 3)
					return FALSE;
				header = (guint32)block[0] | (guint32)block[1] << 8 |
					 (guint32)block[2] << 16;
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
					return FALSE;
				}
				if (at > st.st_size)
					return FALSE;
			}
			/* Content checksum. */
			if (descriptor & 4)
				at += 4;
		}
	}
	return at == st.st_size;
}

static gboolean
import_truncated(Import *im, GError **error)
{
	/* The decoder ran out of tar stream, but the file is whole: it was altered. */
	if (zstd_stream_complete(im->fd)) {
		if (im->entry != NULL)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    "%s: the archive is damaged (its compressed data is "
					    "whole but decodes to a short %s)",
					    im->entry, im->entry);
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "the archive is damaged after %s (its compressed data is whole "
				    "but decodes to a short tar stream)",
				    im->last_entry != NULL ? im->last_entry : "its start");
	}
	if (im->entry != NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
				    "the archive ends in %s (truncated: %" G_GINT64_FORMAT
				    " of %" G_GINT64_FORMAT " bytes)",
				    im->entry, im->entry_done, im->entry_size);
	if (g_strcmp0(im->last_entry, MANIFEST_ENTRY) == 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
				    "the archive ends after " MANIFEST_ENTRY
				    " (truncated in its end-of-archive marker)");
	if (im->last_entry != NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
				    "the archive ends after %s (truncated: no " MANIFEST_ENTRY ")",
				    im->last_entry);
	return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, error,
			    "the archive ends before its first entry (truncated)");
}

/* Turns a failed libarchive call into the error that says what is wrong. */
static gboolean
import_archive_error(Import *im, GError **error)
{
	const char *reason = archive_error_string(im->archive);
	gboolean zstd = im->magic_length == sizeof(zstd_magic) &&
			memcmp(im->magic, zstd_magic, sizeof(zstd_magic)) == 0;

	if (reason == NULL)
		reason = "unknown error";
	if (im->read_errno != 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error, "reading failed: %s",
				    g_strerror(im->read_errno));
	if (im->at_end && zstd)
		return import_truncated(im, error);
	if (!im->header_done)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "not a nestbox snapshot (%s)", reason);
	if (im->entry != NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "%s: the archive is damaged (%s)", im->entry, reason);
	return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
			    "the archive is damaged after %s (%s)", im->last_entry, reason);
}

/*
 * The next entry and its UTF-8 name; *@entry NULL at the end of the
 * archive. Warnings (a name the locale cannot show) are not failures: the
 * names used are the UTF-8 ones, and every byte is checked by hash.
 */
static gboolean
import_next(Import *im, struct archive_entry **entry, const char **name, GError **error)
{
	int rc = archive_read_next_header(im->archive, entry);

	if (rc == ARCHIVE_EOF) {
		*entry = NULL;
		*name = NULL;
		return TRUE;
	}
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return import_archive_error(im, error);
	*name = archive_entry_pathname_utf8(*entry);
	if (*name == NULL)
		*name = archive_entry_pathname(*entry);
	if (*name == NULL)
		return import_error(im, im->header_done ? NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED
							: NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				    error, "an entry after %s has no readable name",
				    im->last_entry != NULL ? im->last_entry : "the start");
	return TRUE;
}

static void
import_entry_done(Import *im, const char *name)
{
	g_free(im->last_entry);
	im->last_entry = g_strdup(name);
	im->entry = NULL;
}

static gboolean
entry_is_plain_file(struct archive_entry *entry)
{
	return archive_entry_filetype(entry) == AE_IFREG && archive_entry_hardlink(entry) == NULL &&
	       archive_entry_symlink(entry) == NULL && archive_entry_sparse_count(entry) == 0 &&
	       archive_entry_size_is_set(entry);
}

/* The whole of a small entry (the header, the manifest), NUL-terminated. */
static char *
import_read_json_entry(Import *im, struct archive_entry *entry, const char *name,
		       NbxSnapshotArchiveError bad, gsize *length, GError **error)
{
	g_autofree char *data = NULL;
	gint64 size = archive_entry_size(entry);

	if (!entry_is_plain_file(entry) || size < 0 || size > JSON_ENTRY_MAX) {
		import_error(im, bad, error, "%s is not a regular file of at most %d bytes", name,
			     JSON_ENTRY_MAX);
		return NULL;
	}
	data = g_malloc(size + 1);
	im->entry = name;
	im->entry_size = size;
	im->entry_done = 0;
	/* Blocks rather than archive_read_data(), which forgets what it got before an error. */
	for (;;) {
		const void *block;
		size_t got;
		la_int64_t offset;
		int rc = archive_read_data_block(im->archive, &block, &got, &offset);

		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			import_archive_error(im, error);
			return NULL;
		}
		if (offset != im->entry_done || (gint64)got > size - im->entry_done) {
			import_error(im, bad, error, "%s: data at offset %" G_GINT64_FORMAT
				     " where %" G_GINT64_FORMAT " was expected",
				     name, (gint64)offset, im->entry_done);
			return NULL;
		}
		memcpy(data + im->entry_done, block, got);
		im->entry_done += got;
	}
	if (im->entry_done != size) {
		import_truncated(im, error);
		return NULL;
	}
	data[size] = '\0';
	*length = size;
	import_entry_done(im, name);
	return g_steal_pointer(&data);
}

/* The string member @name of @object, or NULL when it is absent or not a string. */
static const char *
json_string_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

static gboolean
json_int_member(JsonObject *object, const char *name, gint64 *value)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

static JsonArray *
json_array_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static JsonObject *
json_array_object(JsonArray *array, guint index)
{
	JsonNode *node = json_array_get_element(array, index);

	return JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static JsonObject *
json_parse_object(const char *data, gsize length, JsonParser *parser, char **why)
{
	g_autoptr(GError) json_error = NULL;
	JsonNode *root;

	if (!json_parser_load_from_data(parser, data, length, &json_error)) {
		*why = g_strdup_printf("not valid JSON: %s", json_error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		*why = g_strdup("not a JSON object");
		return NULL;
	}
	return json_node_get_object(root);
}

static gboolean
import_header_files(Import *im, JsonObject *object, GError **error)
{
	JsonArray *files = json_array_member(object, "files");

	if (files == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": \"files\" is missing or not an array");
	for (guint i = 0; i < json_array_get_length(files); i++) {
		JsonObject *file = json_array_object(files, i);
		const char *name = file != NULL ? json_string_member(file, "name") : NULL;
		const char *role_name = file != NULL ? json_string_member(file, "role") : NULL;
		gint32 role = role_from_string(role_name);
		gint64 size = -1;
		const char *why;

		if (name == NULL || role_name == NULL || !json_int_member(file, "size", &size))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u] needs a string name, a string "
					    "role and an integer size",
					    i);
		if ((why = name_unsafe_reason(name)) != NULL)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u]: unsafe name \"%s\" (%s)", i,
					    name, why);
		if (g_hash_table_contains(im->files, name))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u]: \"%s\" is listed twice", i,
					    name);
		if (role == 0)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u] (%s): unknown role \"%s\"", i,
					    name, role_name);
		if (role == NBX_SNAPSHOT_FILE_MEMORY && !im->header->full)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u] (%s): a minimal snapshot "
					    "holds no memory file",
					    i, name);
		if (size < 0)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": files[%u] (%s): negative size", i, name);
		g_hash_table_insert(im->files, g_strdup(name),
				    manifest_append_file(im->header, role, name, size));
	}
	return TRUE;
}

static gboolean
import_header_fingerprint(Import *im, JsonObject *object, GError **error)
{
	JsonArray *fingerprint = json_array_member(object, "fingerprint");

	if (fingerprint == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": \"fingerprint\" is missing or not an array");
	for (guint i = 0; i < json_array_get_length(fingerprint); i++) {
		JsonObject *pair = json_array_object(fingerprint, i);
		const char *key = pair != NULL ? json_string_member(pair, "key") : NULL;
		const char *value = pair != NULL ? json_string_member(pair, "value") : NULL;

		if (key == NULL || value == NULL)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    HEADER_ENTRY ": fingerprint[%u] needs a string key and "
					    "a string value",
					    i);
		nbx_snapshot_manifest_add_fingerprint(im->header, key, value);
	}
	return TRUE;
}

static gboolean
import_parse_header(Import *im, const char *data, gsize length, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GDateTime) created = NULL;
	g_autofree char *why = NULL;
	JsonObject *object = json_parse_object(data, length, parser, &why);
	const char *format, *machine, *machinery, *kind, *created_text, *version_text;
	gint64 version = 0;

	if (object == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": %s", why);
	format = json_string_member(object, "format");
	if (g_strcmp0(format, FORMAT_NAME) != 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "not a nestbox snapshot (" HEADER_ENTRY
				    ": \"format\" is not \"" FORMAT_NAME "\")");
	if (!json_int_member(object, "version", &version))
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": \"version\" is missing or not an integer");
	if (version != FORMAT_VERSION)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "snapshot format version %" G_GINT64_FORMAT
				    "; this nestbox reads version %d",
				    version, FORMAT_VERSION);

	machine = json_string_member(object, "machine");
	machinery = json_string_member(object, "machinery");
	kind = json_string_member(object, "kind");
	created_text = json_string_member(object, "created");
	version_text = json_string_member(object, "nestbox_version");
	if (machine == NULL || machinery == NULL || kind == NULL || created_text == NULL ||
	    version_text == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": machine, machinery, kind, created and "
				    "nestbox_version must all be strings");
	if (strcmp(kind, "full") != 0 && strcmp(kind, "minimal") != 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": kind \"%s\" is neither \"full\" nor \"minimal\"",
				    kind);
	created = g_date_time_new_from_iso8601(created_text, NULL);
	if (created == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    HEADER_ENTRY ": created \"%s\" is not an ISO 8601 time",
				    created_text);

	im->header = nbx_snapshot_manifest_new(machine, machinery, strcmp(kind, "full") == 0);
	im->header->created_us = g_date_time_to_unix(created) * G_USEC_PER_SEC +
				 g_date_time_get_microsecond(created);
	im->header->nestbox_version = g_strdup(version_text);
	return import_header_fingerprint(im, object, error) && import_header_files(im, object, error);
}

/* Reads and checks the first entry, then lets @check refuse the archive. */
static gboolean
import_header(Import *im, NbxSnapshotArchiveCheck check, gpointer user_data, GError **error)
{
	struct archive_entry *entry;
	const char *name;
	g_autofree char *data = NULL;
	gsize length = 0;
	g_autoptr(GError) refusal = NULL;

	if (!import_next(im, &entry, &name, error))
		return FALSE;
	if (entry == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "not a nestbox snapshot (an empty archive)");
	if (strcmp(name, HEADER_ENTRY) != 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "not a nestbox snapshot (first entry is %s)", name);
	data = import_read_json_entry(im, entry, HEADER_ENTRY, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
				      &length, error);
	if (data == NULL)
		return FALSE;
	im->header_sha256 = nbx_sha256_of(data, length);
	if (!import_parse_header(im, data, length, error))
		return FALSE;
	im->header_done = TRUE;

	if (check == NULL || check(im->header, user_data, &refusal))
		return TRUE;
	if (refusal == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED, error,
				    "refused (the check gave no reason)");
	/* The check's words are what the user must act on: kept as they are. */
	g_set_error_literal(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED,
			    refusal->message);
	return FALSE;
}

/* Streams one file entry through the hash, to disk unless it is skipped. */
static gboolean
import_file_data(Import *im, NbxSnapshotArchiveFile *file, const char *name, int fd,
		 GError **error)
{
	g_autoptr(NbxSha256) sum = nbx_sha256_new();
	SyncedFile out = { .fd = fd };

	im->entry = name;
	im->entry_size = file->size;
	im->entry_done = 0;
	for (;;) {
		const void *block;
		size_t length;
		la_int64_t offset;
		int rc = archive_read_data_block(im->archive, &block, &length, &offset);

		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
			return import_archive_error(im, error);
		/* Holes would be data nobody hashed: nestbox writes none. */
		if (offset != im->entry_done || (gint64)length > file->size - im->entry_done)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    "%s: data at offset %" G_GINT64_FORMAT
					    " where %" G_GINT64_FORMAT " was expected",
					    name, (gint64)offset, im->entry_done);
		nbx_sha256_update(sum, block, length);
		if (out.fd >= 0 && !synced_write(&out, block, length)) {
			int saved = errno;

			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error,
					    "writing %s/%s failed: %s", im->dest_dir, file->name,
					    g_strerror(saved));
		}
		im->entry_done += length;
	}
	if (im->entry_done != file->size)
		return import_truncated(im, error);
	file->sha256 = nbx_sha256_finish(g_steal_pointer(&sum));
	return TRUE;
}

static gboolean
import_file(Import *im, struct archive_entry *entry, const char *name, GError **error)
{
	const char *base = name + strlen(FILES_PREFIX);
	NbxSnapshotArchiveFile *file = g_hash_table_lookup(im->files, base);
	gboolean keep;
	gboolean ok;
	int fd = -1;

	if (file == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "unexpected entry %s: the header does not list it "
				    "(the archive was altered)",
				    name);
	if (g_hash_table_contains(im->seen, base))
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "%s appears twice (the archive was altered)", name);
	g_hash_table_add(im->seen, g_strdup(base));
	if (!entry_is_plain_file(entry))
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "%s is not a regular file (the archive was altered)", name);
	if (archive_entry_size(entry) != file->size)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "%s holds %" G_GINT64_FORMAT " bytes, the header says %" G_GINT64_FORMAT
				    " (the archive was altered)",
				    name, (gint64)archive_entry_size(entry), file->size);

	keep = !(im->skip_memory && file->role == NBX_SNAPSHOT_FILE_MEMORY);
	if (keep) {
		/* O_EXCL and O_NOFOLLOW: nothing in the directory is reused or followed. */
		fd = openat(im->dest_fd, file->name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, ENTRY_MODE);
		if (fd < 0) {
			int saved = errno;

			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error,
					    "cannot create %s/%s: %s", im->dest_dir, file->name,
					    g_strerror(saved));
		}
	}
	ok = import_file_data(im, file, name, fd, error);
	if (ok && keep && fsync(fd) != 0) {
		int saved = errno;

		ok = import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error, "writing %s/%s failed: %s",
				  im->dest_dir, file->name, g_strerror(saved));
	}
	if (fd >= 0 && close(fd) != 0 && ok) {
		int saved = errno;

		ok = import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error, "writing %s/%s failed: %s",
				  im->dest_dir, file->name, g_strerror(saved));
	}
	if (!ok)
		return FALSE;
	if (keep)
		file->path = g_build_filename(im->dest_dir, file->name, NULL);
	import_entry_done(im, name);
	return TRUE;
}

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

/* The manifest against the header and against what was read, in that order. */
static gboolean
import_verify_manifest(Import *im, const char *data, gsize length, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
	g_autofree char *why = NULL;
	JsonObject *object = json_parse_object(data, length, parser, &why);
	JsonArray *files;
	const char *header_sha256;

	if (object == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    MANIFEST_ENTRY ": %s", why);
	header_sha256 = json_string_member(object, "header_sha256");
	files = json_array_member(object, "files");
	if (!is_sha256_hex(header_sha256) || files == NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    MANIFEST_ENTRY ": needs \"files\" and a SHA-256 \"header_sha256\"");
	if (g_ascii_strcasecmp(header_sha256, im->header_sha256) != 0)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    HEADER_ENTRY ": SHA-256 differs from the manifest "
				    "(the archive was altered)");

	for (guint i = 0; i < im->header->files->len; i++) {
		NbxSnapshotArchiveFile *file = g_ptr_array_index(im->header->files, i);

		if (!g_hash_table_contains(im->seen, file->name))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    FILES_PREFIX "%s is missing: the header lists it "
					    "(the archive was altered)",
					    file->name);
	}
	for (guint i = 0; i < json_array_get_length(files); i++) {
		JsonObject *entry = json_array_object(files, i);
		const char *name = entry != NULL ? json_string_member(entry, "name") : NULL;
		const char *sha256 = entry != NULL ? json_string_member(entry, "sha256") : NULL;
		NbxSnapshotArchiveFile *file = name != NULL ? g_hash_table_lookup(im->files, name)
							    : NULL;
		gint64 size = -1;

		if (name == NULL || !is_sha256_hex(sha256) || !json_int_member(entry, "size", &size))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    MANIFEST_ENTRY ": files[%u] needs a string name, an "
					    "integer size and a SHA-256",
					    i);
		if (file == NULL || g_hash_table_contains(listed, name))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    MANIFEST_ENTRY ": files[%u] (%s) is %s (the archive was "
					    "altered)",
					    i, name, file == NULL ? "not in the header" : "listed twice");
		g_hash_table_add(listed, (gpointer)name);
		if (size != file->size)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    FILES_PREFIX "%s: the manifest says %" G_GINT64_FORMAT
					    " bytes, the header %" G_GINT64_FORMAT
					    " (the archive was altered)",
					    name, size, file->size);
		if (g_ascii_strcasecmp(sha256, file->sha256) != 0)
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    FILES_PREFIX "%s: SHA-256 differs from the manifest "
					    "(the archive was altered)",
					    name);
	}
	if (g_hash_table_size(listed) != im->header->files->len)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    MANIFEST_ENTRY " lists %u files, the header %u (the archive was "
				    "altered)",
				    g_hash_table_size(listed), im->header->files->len);
	return TRUE;
}

static gboolean
import_manifest(Import *im, struct archive_entry *entry, GError **error)
{
	g_autofree char *data = NULL;
	gsize length = 0;
	const char *name;

	data = import_read_json_entry(im, entry, MANIFEST_ENTRY, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
				      &length, error);
	if (data == NULL || !import_verify_manifest(im, data, length, error))
		return FALSE;
	/* The manifest is the last entry: anything after it was added. */
	if (!import_next(im, &entry, &name, error))
		return FALSE;
	if (entry != NULL)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
				    "unexpected entry %s after " MANIFEST_ENTRY
				    " (the archive was altered)",
				    name);
	return TRUE;
}

/*
 * Whether the zstd stream in @path stops before its frame ends. Asked only
 * when libarchive could not open the archive after reading the whole file,
 * so the file is small: a complete frame of something that is not tar is
 * not a snapshot, a cut frame is a truncated one.
 */
static gboolean
zstd_stream_is_cut(const char *path)
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

static gboolean
import_open(Import *im, GError **error)
{
	im->fd = open(im->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (im->fd < 0) {
		int saved = errno;

		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error, "cannot open: %s",
				    g_strerror(saved));
	}
	posix_fadvise(im->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	im->dest_fd = open(im->dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->dest_fd < 0) {
		int saved = errno;

		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error,
				    "cannot open the destination %s: %s", im->dest_dir,
				    g_strerror(saved));
	}

	im->block = g_malloc(IO_BLOCK_SIZE);
	im->archive = archive_read_new();
	archive_read_support_filter_zstd(im->archive);
	archive_read_support_format_tar(im->archive);
	if (archive_read_open(im->archive, im, NULL, import_read_cb, NULL) != ARCHIVE_OK) {
		if (im->read_errno == 0 && im->at_end && !zstd_stream_is_cut(im->path))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					    "not a nestbox snapshot (%s)",
					    archive_error_string(im->archive));
		return import_archive_error(im, error);
	}
	/* Plain or otherwise compressed tar would read, but nestbox writes only zstd. */
	if (archive_filter_count(im->archive) != 2 ||
	    archive_filter_code(im->archive, 0) != ARCHIVE_FILTER_ZSTD)
		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
				    "not a nestbox snapshot (not zstd-compressed)");
	return TRUE;
}

static gboolean
import_run(Import *im, NbxSnapshotArchiveCheck check, gpointer user_data, GError **error)
{
	if (!import_open(im, error) || !import_header(im, check, user_data, error))
		return FALSE;
	for (;;) {
		struct archive_entry *entry;
		const char *name;

		if (!import_next(im, &entry, &name, error))
			return FALSE;
		if (entry == NULL)
			return import_truncated(im, error);
		if (strcmp(name, MANIFEST_ENTRY) == 0) {
			if (!import_manifest(im, entry, error))
				return FALSE;
			break;
		}
		if (!g_str_has_prefix(name, FILES_PREFIX))
			return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, error,
					    "unexpected entry %s (the archive was altered)", name);
		if (!import_file(im, entry, name, error))
			return FALSE;
	}
	if (fsync(im->dest_fd) != 0) {
		int saved = errno;

		return import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, error, "cannot sync %s: %s",
				    im->dest_dir, g_strerror(saved));
	}
	return TRUE;
}

NbxSnapshotManifest *
nbx_snapshot_archive_read(const char *path, const char *dest_dir, gboolean skip_memory,
			  NbxSnapshotArchiveCheck check, gpointer user_data, GError **error)
{
	Import im = {
		.path = path,
		.dest_dir = dest_dir,
		.skip_memory = skip_memory,
		.fd = -1,
		.dest_fd = -1,
		.files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	};
	NbxSnapshotManifest *result = NULL;
	ThreadLocale locale = { 0 };

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(dest_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	thread_locale_enter(&locale);
	if (import_run(&im, check, user_data, error))
		result = g_steal_pointer(&im.header);

	if (im.archive != NULL)
		archive_read_free(im.archive);
	if (im.fd >= 0)
		close(im.fd);
	if (im.dest_fd >= 0)
		close(im.dest_fd);
	g_free(im.block);
	nbx_snapshot_manifest_free(im.header);
	g_free(im.header_sha256);
	g_hash_table_unref(im.files);
	g_hash_table_unref(im.seen);
	g_free(im.last_entry);
	thread_locale_leave(&locale);
	return result;
}
