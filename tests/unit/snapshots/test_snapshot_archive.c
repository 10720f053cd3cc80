/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot archive: a round trip keeps every byte and every field; a
 * minimal export and skip_memory leave the memory file out; the check
 * callback stops an import before anything is written; altered, truncated,
 * foreign and unsafe archives are refused with the right code and words
 * naming the entry; a failed export leaves no temporary file.
 *
 * Altered archives are rebuilt with libarchive from the entries of a real
 * one, so each case changes exactly one thing.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/capability.h>
#include <locale.h>
#include <nestbox/machinery.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "snapshot_archive.h"
#include "test_support.h"

#define DISK_SIZE (3 * 1024 * 1024 + 12345)
#define MEMORY_SIZE (1024 * 1024 + 7)

typedef struct {
	char *dir;
	char *src;     /* the files exported */
	char *dest;    /* an empty directory to import into */
	char *archive; /* dir/snap.tar.zst */
} Fixture;

/* ---- files ---- */

static char *
path_in(const char *dir, const char *name)
{
	return g_build_filename(dir, name, NULL);
}

/* @random bytes of a fixed seed, then @zeros zero bytes: both paths of the compressor. */
static void
write_pattern(const char *path, gsize random, gsize zeros, guint32 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
	g_autofree guchar *data = g_malloc0(random + zeros);
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < random; i++)
		data[i] = (guchar)g_rand_int(rand);
	g_file_set_contents(path, (const char *)data, (gssize)(random + zeros), &error);
	g_assert_no_error(error);
}

static GBytes *
read_file(const char *path)
{
	g_autoptr(GError) error = NULL;
	char *data = NULL;
	gsize length = 0;

	g_file_get_contents(path, &data, &length, &error);
	g_assert_no_error(error);
	return g_bytes_new_take(data, length);
}

static char *
file_sha256(const char *path)
{
	g_autoptr(GBytes) bytes = read_file(path);

	return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
}

static guint
dir_count(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	guint count = 0;

	g_assert_nonnull(handle);
	while (g_dir_read_name(handle) != NULL)
		count++;
	return count;
}

static void
set_up(Fixture *f, gconstpointer data)
{
	g_autofree char *disk = NULL;
	g_autofree char *memory = NULL;
	g_autofree char *nvram = NULL;

	f->dir = test_dir_new();
	f->src = path_in(f->dir, "src");
	f->dest = path_in(f->dir, "dest");
	f->archive = path_in(f->dir, "snap.tar.zst");
	g_assert_cmpint(g_mkdir(f->src, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(f->dest, 0755), ==, 0);

	test_write(f->src, "machineinfo.json", "{\"name\": \"win10\", \"memory_mb\": 4096}\n");
	test_write(f->src, "empty.bin", "");
	disk = path_in(f->src, "disk.qcow2");
	write_pattern(disk, DISK_SIZE - 1024 * 1024, 1024 * 1024, 1);
	memory = path_in(f->src, "memory.zst");
	write_pattern(memory, MEMORY_SIZE, 0, 2);
	/* Not ASCII: the name must survive whatever the locale. */
	nvram = path_in(f->src, "nvram-é.fd");
	write_pattern(nvram, 4096, 4096, 3);
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	test_dir_remove(f->dir);
	g_free(f->dir);
	g_free(f->src);
	g_free(f->dest);
	g_free(f->archive);
}

static NbxSnapshotManifest *
manifest_for(Fixture *f, gboolean full)
{
	NbxSnapshotManifest *manifest = nbx_snapshot_manifest_new("win10", "qemu", full);
	static const struct {
		gint32 role;
		const char *name;
	} files[] = {
		{ NBX_SNAPSHOT_FILE_DESCRIPTION, "machineinfo.json" },
		{ NBX_SNAPSHOT_FILE_DISK, "disk.qcow2" },
		{ NBX_SNAPSHOT_FILE_MEMORY, "memory.zst" },
		{ NBX_SNAPSHOT_FILE_OTHER, "empty.bin" },
		{ NBX_SNAPSHOT_FILE_OTHER, "nvram-é.fd" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = path_in(f->src, files[i].name);

		nbx_snapshot_manifest_add_file(manifest, files[i].role, path);
	}
	/* Not alphabetical: the order must be the plugin's. */
	nbx_snapshot_manifest_add_fingerprint(manifest, "hypervisor", "qemu");
	nbx_snapshot_manifest_add_fingerprint(manifest, "cpu_model", "host");
	nbx_snapshot_manifest_add_fingerprint(manifest, "memory_mb", "4096");
	nbx_snapshot_manifest_add_fingerprint(manifest, "hypervisor_version", "8.0.2");
	return manifest;
}

static void
export(Fixture *f, gboolean full)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, full);
	g_autoptr(GError) error = NULL;

	g_assert_true(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_no_error(error);
}

static NbxSnapshotArchiveFile *
find_file(const NbxSnapshotManifest *manifest, const char *name)
{
	for (guint i = 0; i < manifest->files->len; i++) {
		NbxSnapshotArchiveFile *file = g_ptr_array_index(manifest->files, i);

		if (strcmp(file->name, name) == 0)
			return file;
	}
	return NULL;
}

/* Reads f->archive, expecting failure with @code and @words in the message. */
static void
assert_read_fails(Fixture *f, gboolean skip_memory, gint code, const char *words)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSnapshotManifest) result =
		nbx_snapshot_archive_read(f->archive, f->dest, skip_memory, NULL, NULL, &error);

	g_assert_null(result);
	g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, code);
	if (strstr(error->message, words) == NULL)
		g_error("\"%s\" lacks \"%s\"", error->message, words);
	/* Every message starts with the archive it is about. */
	g_assert_true(g_str_has_prefix(error->message, f->archive));
}

/* ---- archives rebuilt entry by entry ---- */

/*
 * The tests run in the C locale, as a daemon started without LANG does; the
 * archive code copes with that itself. libarchive used directly here needs
 * a UTF-8 LC_CTYPE for the non-ASCII name, on this thread only.
 */
static locale_t
utf8_enter(void)
{
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

	g_assert_true(utf8 != (locale_t)0);
	return uselocale(utf8);
}

static void
utf8_leave(locale_t previous)
{
	freelocale(uselocale(previous));
}

typedef struct {
	char *name;
	GByteArray *data;
	mode_t type;
} Entry;

static void
entry_free(gpointer data)
{
	Entry *entry = data;

	g_free(entry->name);
	g_byte_array_unref(entry->data);
	g_free(entry);
}

static Entry *
entry_new(const char *name, const void *data, gsize length)
{
	Entry *entry = g_new0(Entry, 1);

	entry->name = g_strdup(name);
	entry->data = g_byte_array_new();
	g_byte_array_append(entry->data, data, length);
	entry->type = AE_IFREG;
	return entry;
}

static GPtrArray *
entries_load(const char *path)
{
	GPtrArray *entries = g_ptr_array_new_with_free_func(entry_free);
	locale_t previous = utf8_enter();
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int rc;

	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	g_assert_cmpint(archive_read_open_filename(a, path, 65536), ==, ARCHIVE_OK);
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		Entry *entry = entry_new(archive_entry_pathname_utf8(ae), NULL, 0);
		char buffer[65536];
		la_ssize_t n;

		entry->type = archive_entry_filetype(ae);
		while ((n = archive_read_data(a, buffer, sizeof buffer)) > 0)
			g_byte_array_append(entry->data, (const guint8 *)buffer, n);
		g_assert_cmpint(n, ==, 0);
		g_ptr_array_add(entries, entry);
	}
	g_assert_cmpint(rc, ==, ARCHIVE_EOF);
	archive_read_free(a);
	utf8_leave(previous);
	return entries;
}

static void
entries_save_as(GPtrArray *entries, const char *path, gboolean zstd)
{
	locale_t previous = utf8_enter();
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (zstd)
		archive_write_add_filter_zstd(a);
	g_assert_cmpint(archive_write_open_filename(a, path), ==, ARCHIVE_OK);
	for (guint i = 0; i < entries->len; i++) {
		Entry *entry = g_ptr_array_index(entries, i);
		struct archive_entry *ae = archive_entry_new();

		archive_entry_update_pathname_utf8(ae, entry->name);
		archive_entry_set_filetype(ae, entry->type);
		archive_entry_set_perm(ae, 0640);
		archive_entry_set_size(ae, entry->type == AE_IFREG ? entry->data->len : 0);
		if (entry->type == AE_IFLNK)
			archive_entry_set_symlink(ae, "/etc/passwd");
		g_assert_cmpint(archive_write_header(a, ae), ==, ARCHIVE_OK);
		if (entry->type == AE_IFREG && entry->data->len > 0)
			g_assert_cmpint(archive_write_data(a, entry->data->data, entry->data->len), ==,
					entry->data->len);
		archive_entry_free(ae);
	}
	g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
	archive_write_free(a);
	utf8_leave(previous);
}

static void
entries_save(GPtrArray *entries, const char *path)
{
	entries_save_as(entries, path, TRUE);
}

static Entry *
entries_find(GPtrArray *entries, const char *name)
{
	for (guint i = 0; i < entries->len; i++) {
		Entry *entry = g_ptr_array_index(entries, i);

		if (strcmp(entry->name, name) == 0)
			return entry;
	}
	g_error("no entry %s", name);
	return NULL;
}

static guint
entries_index(GPtrArray *entries, const char *name)
{
	guint index;

	g_assert_true(g_ptr_array_find(entries, entries_find(entries, name), &index));
	return index;
}

/* Replaces the one occurrence of @from in @entry's text by @to. */
static void
entry_replace_text(Entry *entry, const char *from, const char *to)
{
	g_autofree char *text = g_strndup((const char *)entry->data->data, entry->data->len);
	char *at = strstr(text, from);
	g_autoptr(GString) result = g_string_new(NULL);

	g_assert_nonnull(at);
	g_assert_null(strstr(at + 1, from));
	g_string_append_len(result, text, at - text);
	g_string_append(result, to);
	g_string_append(result, at + strlen(from));
	g_byte_array_set_size(entry->data, 0);
	g_byte_array_append(entry->data, (const guint8 *)result->str, result->len);
}

/* The export of the fixture's files, as entries to alter. */
static GPtrArray *
exported_entries(Fixture *f)
{
	export(f, TRUE);
	return entries_load(f->archive);
}

/* ---- round trips ---- */

static void
assert_unpacked_equal(Fixture *f, const NbxSnapshotArchiveFile *file)
{
	g_autofree char *original = path_in(f->src, file->name);
	g_autofree char *unpacked = path_in(f->dest, file->name);
	g_autoptr(GBytes) a = read_file(original);
	g_autoptr(GBytes) b = read_file(unpacked);
	g_autofree char *sha256 = file_sha256(original);
	GStatBuf st;

	g_assert_cmpstr(file->path, ==, unpacked);
	g_assert_true(g_bytes_equal(a, b));
	g_assert_cmpint(file->size, ==, g_bytes_get_size(a));
	g_assert_cmpstr(file->sha256, ==, sha256);
	g_assert_cmpint(g_stat(unpacked, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0640 & ~umask(umask(0)));
}

static void
test_round_trip(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, TRUE);
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	gint64 before = g_get_real_time();

	g_assert_true(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_no_error(error);
	/* Writing fills in what it measured. */
	g_assert_cmpint(manifest->created_us, >=, before);
	g_assert_cmpint(manifest->created_us, <=, g_get_real_time());
	g_assert_cmpstr(manifest->nestbox_version, ==, NESTBOX_VERSION);
	for (guint i = 0; i < manifest->files->len; i++) {
		NbxSnapshotArchiveFile *file = g_ptr_array_index(manifest->files, i);
		g_autofree char *sha256 = file_sha256(file->path);
		GStatBuf st;

		g_assert_cmpint(g_stat(file->path, &st), ==, 0);
		g_assert_cmpint(file->size, ==, st.st_size);
		g_assert_cmpstr(file->sha256, ==, sha256);
	}
	/* Nothing but the archive beside it: no temporary file left. */
	g_assert_cmpuint(dir_count(f->dir), ==, 3);

	result = nbx_snapshot_archive_read(f->archive, f->dest, FALSE, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpstr(result->machine, ==, "win10");
	g_assert_cmpstr(result->machinery, ==, "qemu");
	g_assert_true(result->full);
	g_assert_cmpint(result->created_us, ==, manifest->created_us);
	g_assert_cmpstr(result->nestbox_version, ==, NESTBOX_VERSION);
	g_assert_cmpuint(result->fingerprint->len, ==, 8);
	for (guint i = 0; i < manifest->fingerprint->len; i++)
		g_assert_cmpstr(g_ptr_array_index(result->fingerprint, i), ==,
				g_ptr_array_index(manifest->fingerprint, i));
	g_assert_cmpstr(nbx_snapshot_manifest_fingerprint(result, "cpu_model"), ==, "host");
	g_assert_null(nbx_snapshot_manifest_fingerprint(result, "machine_type"));

	g_assert_cmpuint(result->files->len, ==, manifest->files->len);
	for (guint i = 0; i < result->files->len; i++) {
		NbxSnapshotArchiveFile *got = g_ptr_array_index(result->files, i);
		NbxSnapshotArchiveFile *want = g_ptr_array_index(manifest->files, i);

		g_assert_cmpstr(got->name, ==, want->name);
		g_assert_cmpint(got->role, ==, want->role);
		g_assert_cmpstr(got->sha256, ==, want->sha256);
		assert_unpacked_equal(f, got);
	}
	g_assert_cmpuint(dir_count(f->dest), ==, manifest->files->len);
}

/* A sparse disk is read, not mapped: its holes come back as zeros, hashed like any data. */
static void
test_round_trip_sparse(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = nbx_snapshot_manifest_new("win10", "qemu", FALSE);
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *sparse = path_in(f->src, "sparse.raw");
	int fd = open(sparse, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 16 * 1024 * 1024), ==, 0);
	g_assert_cmpint(pwrite(fd, "data in the middle", 18, 8 * 1024 * 1024 + 3), ==, 18);
	close(fd);
	nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_DISK, sparse);
	g_assert_true(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_no_error(error);
	result = nbx_snapshot_archive_read(f->archive, f->dest, FALSE, NULL, NULL, &error);
	g_assert_no_error(error);
	assert_unpacked_equal(f, find_file(result, "sparse.raw"));
}

/* What other tools see: the layout the header comment promises. */
static void
test_layout(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	locale_t previous = utf8_enter();
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	const char *expected[] = { "nestbox-snapshot.json", "files/machineinfo.json",
				   "files/disk.qcow2",	    "files/memory.zst",
				   "files/empty.bin",	    "files/nvram-é.fd",
				   "manifest.json" };
	int rc;

	export(f, TRUE);
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	g_assert_cmpint(archive_read_open_filename(a, f->archive, 65536), ==, ARCHIVE_OK);
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		g_ptr_array_add(names, g_strdup(archive_entry_pathname_utf8(ae)));
		g_assert_cmpint(archive_entry_filetype(ae), ==, AE_IFREG);
		g_assert_cmpint(archive_entry_perm(ae), ==, 0640);
		/* ustar has the fields: empty means no owner name. */
		g_assert_cmpstr(archive_entry_uname(ae) ? archive_entry_uname(ae) : "", ==, "");
		g_assert_cmpstr(archive_entry_gname(ae) ? archive_entry_gname(ae) : "", ==, "");
		g_assert_cmpint(archive_entry_uid(ae), ==, 0);
	}
	g_assert_cmpint(archive_filter_code(a, 0), ==, ARCHIVE_FILTER_ZSTD);
	g_assert_cmpint(rc, ==, ARCHIVE_EOF);
	g_assert_cmpint(archive_format(a) & ARCHIVE_FORMAT_BASE_MASK, ==, ARCHIVE_FORMAT_TAR);
	archive_read_free(a);
	utf8_leave(previous);

	g_assert_cmpuint(names->len, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < names->len; i++)
		g_assert_cmpstr(g_ptr_array_index(names, i), ==, expected[i]);
}

static void
test_header_json(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	Entry *header = entries_find(entries, "nestbox-snapshot.json");
	g_autofree char *text = g_strndup((const char *)header->data->data, header->data->len);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) created = NULL;
	JsonObject *root;
	JsonArray *files, *fingerprint;

	g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
	root = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(root, "format"), ==, "nestbox-snapshot");
	g_assert_cmpint(json_object_get_int_member(root, "version"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(root, "kind"), ==, "full");
	g_assert_cmpstr(json_object_get_string_member(root, "nestbox_version"), ==, NESTBOX_VERSION);
	created = g_date_time_new_from_iso8601(json_object_get_string_member(root, "created"),
					       NULL);
	g_assert_nonnull(created);
	g_assert_true(g_str_has_suffix(json_object_get_string_member(root, "created"), "Z"));
	fingerprint = json_object_get_array_member(root, "fingerprint");
	g_assert_cmpuint(json_array_get_length(fingerprint), ==, 4);
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(fingerprint, 3),
						      "key"),
			==, "hypervisor_version");
	files = json_object_get_array_member(root, "files");
	g_assert_cmpuint(json_array_get_length(files), ==, 5);
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(files, 1), "role"),
			==, "disk");
	g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(files, 1), "size"),
			==, DISK_SIZE);
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(files, 2), "role"),
			==, "memory");
}

static void
test_minimal(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, FALSE);
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *memory = path_in(f->dest, "memory.zst");

	g_assert_true(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_no_error(error);
	/* Left out, so not measured either. */
	g_assert_null(find_file(manifest, "memory.zst")->sha256);
	g_assert_nonnull(find_file(manifest, "disk.qcow2")->sha256);

	result = nbx_snapshot_archive_read(f->archive, f->dest, FALSE, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_false(result->full);
	g_assert_null(find_file(result, "memory.zst"));
	g_assert_cmpuint(result->files->len, ==, 4);
	g_assert_false(g_file_test(memory, G_FILE_TEST_EXISTS));
	assert_unpacked_equal(f, find_file(result, "disk.qcow2"));
}

static void
test_skip_memory(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *memory = path_in(f->dest, "memory.zst");
	g_autofree char *original = path_in(f->src, "memory.zst");
	g_autofree char *sha256 = file_sha256(original);
	NbxSnapshotArchiveFile *file;

	export(f, TRUE);
	result = nbx_snapshot_archive_read(f->archive, f->dest, TRUE, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(result->full);
	file = find_file(result, "memory.zst");
	g_assert_nonnull(file);
	g_assert_null(file->path);
	/* Read past, but still verified. */
	g_assert_cmpstr(file->sha256, ==, sha256);
	g_assert_false(g_file_test(memory, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(dir_count(f->dest), ==, 4);
	assert_unpacked_equal(f, find_file(result, "disk.qcow2"));
}

/* A skipped memory file is still checked against the manifest. */
static void
test_skip_memory_tampered(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entries_find(entries, "files/memory.zst")->data->data[4096] ^= 0x01;
	entries_save(entries, f->archive);
	assert_read_fails(f, TRUE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/memory.zst: SHA-256 differs from the manifest");
}

/* ---- the check callback ---- */

typedef struct {
	guint calls;
	gboolean accept;
} Check;

static gboolean
check_header(const NbxSnapshotManifest *header, gpointer user_data, GError **error)
{
	Check *check = user_data;
	NbxSnapshotArchiveFile *disk = find_file(header, "disk.qcow2");

	check->calls++;
	/* It sees the header's facts before any file. */
	g_assert_cmpstr(header->machine, ==, "win10");
	g_assert_cmpstr(nbx_snapshot_manifest_fingerprint(header, "hypervisor_version"), ==, "8.0.2");
	g_assert_nonnull(disk);
	g_assert_cmpint(disk->size, ==, DISK_SIZE);
	g_assert_cmpint(disk->role, ==, NBX_SNAPSHOT_FILE_DISK);
	g_assert_null(disk->sha256);
	if (check->accept)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
		    "fingerprint: hypervisor_version 8.0.2 differs from this host's 7.2.0");
	return FALSE;
}

static void
test_check_refuses(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	Check check = { .accept = FALSE };

	export(f, TRUE);
	result = nbx_snapshot_archive_read(f->archive, f->dest, FALSE, check_header, &check, &error);
	g_assert_null(result);
	g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED);
	g_assert_cmpstr(error->message, ==,
			"fingerprint: hypervisor_version 8.0.2 differs from this host's 7.2.0");
	g_assert_cmpuint(check.calls, ==, 1);
	g_assert_cmpuint(dir_count(f->dest), ==, 0);
}

static void
test_check_accepts(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) result = NULL;
	g_autoptr(GError) error = NULL;
	Check check = { .accept = TRUE };

	export(f, TRUE);
	result = nbx_snapshot_archive_read(f->archive, f->dest, FALSE, check_header, &check, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpuint(check.calls, ==, 1);
	g_assert_cmpuint(dir_count(f->dest), ==, 5);
}

/* ---- altered archives ---- */

static void
test_tampered_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	/* One bit, well inside the file: the manifest is the original one. */
	entries_find(entries, "files/disk.qcow2")->data->data[DISK_SIZE / 2] ^= 0x40;
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/disk.qcow2: SHA-256 differs from the manifest (the archive was "
			  "altered)");
}

static void
test_tampered_header(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entry_replace_text(entries_find(entries, "nestbox-snapshot.json"), "\"win10\"",
			   "\"win11\"");
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "nestbox-snapshot.json: SHA-256 differs from the manifest");
}

/* A size changed consistently in the header and the entry: only the header's hash tells. */
static void
test_tampered_header_size(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	g_autofree char *from = g_strdup_printf("%d", DISK_SIZE);
	g_autofree char *to = g_strdup_printf("%d", DISK_SIZE - 1);

	entry_replace_text(entries_find(entries, "nestbox-snapshot.json"), from, to);
	g_byte_array_set_size(entries_find(entries, "files/disk.qcow2")->data, DISK_SIZE - 1);
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "nestbox-snapshot.json: SHA-256 differs from the manifest");
}

/* The entry's size alone changed: caught at the entry, before its data is trusted. */
static void
test_tampered_entry_size(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	g_autofree char *words = g_strdup_printf("files/disk.qcow2 holds %d bytes, the header says %d",
						 DISK_SIZE + 10, DISK_SIZE);

	g_byte_array_set_size(entries_find(entries, "files/disk.qcow2")->data, DISK_SIZE + 10);
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, words);
}

static void
test_missing_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	g_ptr_array_remove_index(entries, entries_index(entries, "files/empty.bin"));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/empty.bin is missing");
}

static void
test_extra_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	g_ptr_array_insert(entries, 2, entry_new("files/extra.bin", "x", 1));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "unexpected entry files/extra.bin: the header does not list it");
}

static void
test_extra_outside_files(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	g_ptr_array_insert(entries, 2, entry_new("README", "x", 1));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED, "unexpected entry README");
}

static void
test_extra_after_manifest(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	g_ptr_array_add(entries, entry_new("files/late.bin", "x", 1));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "unexpected entry files/late.bin after manifest.json");
}

static void
test_duplicate_entry(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	Entry *disk = entries_find(entries, "files/disk.qcow2");

	g_ptr_array_insert(entries, 3, entry_new(disk->name, disk->data->data, disk->data->len));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/disk.qcow2 appears twice");
}

static void
test_symlink_entry(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entries_find(entries, "files/empty.bin")->type = AE_IFLNK;
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/empty.bin is not a regular file");
	g_assert_false(g_file_test(f->dest, G_FILE_TEST_EXISTS) &&
		       g_file_test(f->dest, G_FILE_TEST_IS_SYMLINK));
}

/*
 * A byte of the compressed stream flipped at 59 places past its start: the
 * decoder or the hash says so, never "truncated". The archive holds text only, so every
 * flip lands in entropy-coded data, where most flips trip the decoder
 * itself; with random files (stored raw) the flips landed there or not by
 * a few bytes of timestamps, and the "damaged" path went untested at times.
 */
static void
test_tampered_compressed(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = nbx_snapshot_manifest_new("win10", "qemu", FALSE);
	g_autofree char *description = path_in(f->src, "machineinfo.json");
	g_autoptr(GString) log = g_string_new(NULL);
	g_autoptr(GError) write_error = NULL;
	g_autoptr(GBytes) whole = NULL;
	g_autofree guchar *copy = NULL;
	g_autofree char *log_path = path_in(f->src, "install.log");
	guint damaged = 0;
	gsize size;

	/* Text compresses: flips in it reach the decoder's own checks, not only the hash. */
	for (guint i = 0; log->len < 16 * 1024 * 1024; i++)
		g_string_append_printf(log, "%08u: copied C:\\Windows\\System32\\f%u.dll\n", i,
				       i * 7919 % 100003);
	test_write(f->src, "install.log", log->str);
	nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_DESCRIPTION, description);
	nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_OTHER, log_path);
	g_assert_true(nbx_snapshot_archive_write(f->archive, manifest, &write_error));
	g_assert_no_error(write_error);
	whole = read_file(f->archive);
	copy = g_memdup2(g_bytes_get_data(whole, &size), size);
	/* About one flip in four trips the decoder: 59 make missing them all ~1e-7. */
	for (guint k = 1; k <= 59; k++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxSnapshotManifest) result = NULL;
		g_autofree char *dest = g_strdup_printf("%s/flip-%u", f->dir, k);
		/* Past the first quarter: a broken first block is not yet a snapshot (FORMAT). */
		gsize at = size / 4 + size * 3 / 4 / 60 * k;

		copy[at] ^= 0x10;
		g_file_set_contents(f->archive, (const char *)copy, size, &error);
		g_assert_no_error(error);
		copy[at] ^= 0x10;
		g_assert_cmpint(g_mkdir(dest, 0755), ==, 0);
		result = nbx_snapshot_archive_read(f->archive, dest, FALSE, NULL, NULL, &error);
		g_test_message("flip at %zu: %s", at, error != NULL ? error->message : "read");
		g_assert_null(result);
		g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED);
		damaged += strstr(error->message, "the archive is damaged") != NULL;
	}
	g_assert_cmpuint(damaged, >, 0);
}

/* The manifest lists a file the header does not: a forged manifest. */
static void
test_manifest_extra(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entry_replace_text(entries_find(entries, "manifest.json"), "\"empty.bin\"",
			   "\"other.bin\"");
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "manifest.json: files[3] (other.bin) is not in the header");
}

/* The manifest leaves out a file the header lists and the archive holds. */
static void
test_manifest_missing(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	Entry *manifest = entries_find(entries, "manifest.json");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	gsize length = 0;

	json_parser_load_from_data(parser, (const char *)manifest->data->data, manifest->data->len,
				   &error);
	g_assert_no_error(error);
	json_array_remove_element(
		json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)),
					     "files"),
		3);
	json_generator_set_root(generator, json_parser_get_root(parser));
	text = json_generator_to_data(generator, &length);
	g_byte_array_set_size(manifest->data, 0);
	g_byte_array_append(manifest->data, (const guint8 *)text, length);
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "manifest.json lists 4 files, the header 5");
}

/* ---- unsafe names ---- */

/* Renames disk.qcow2 to @name in the header and in its entry. */
static void
rename_disk(Fixture *f, const char *name, gint code, const char *words)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	g_autofree char *quoted = g_strdup_printf("\"%s\"", name);
	g_autofree char *entry = g_strconcat("files/", name, NULL);
	g_autofree char *escaped = path_in(f->dir, "x");
	Entry *disk;

	entry_replace_text(entries_find(entries, "nestbox-snapshot.json"), "\"disk.qcow2\"",
			   quoted);
	disk = entries_find(entries, "files/disk.qcow2");
	g_free(disk->name);
	disk->name = g_strdup(entry);
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, code, words);
	g_assert_cmpuint(dir_count(f->dest), ==, 0);
	g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
}

static void
test_unsafe_dotdot(Fixture *f, gconstpointer data)
{
	rename_disk(f, "../x", NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
		    "nestbox-snapshot.json: files[1]: unsafe name \"../x\" (contains '/')");
}

static void
test_unsafe_slash(Fixture *f, gconstpointer data)
{
	rename_disk(f, "a/b", NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
		    "nestbox-snapshot.json: files[1]: unsafe name \"a/b\" (contains '/')");
}

static void
test_unsafe_dots(Fixture *f, gconstpointer data)
{
	rename_disk(f, "..", NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, "unsafe name \"..\"");
}

static void
test_unsafe_duplicate(Fixture *f, gconstpointer data)
{
	rename_disk(f, "memory.zst", NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
		    "files[2]: \"memory.zst\" is listed twice");
}

/* The entry alone points elsewhere: it matches nothing in the header. */
static void
test_unsafe_entry(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	g_autofree char *escaped = path_in(f->dir, "disk.qcow2");

	Entry *disk = entries_find(entries, "files/disk.qcow2");

	g_free(disk->name);
	disk->name = g_strdup("files/../disk.qcow2");
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "unexpected entry files/../disk.qcow2");
	g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
}

/* An import never overwrites: the destination must be empty. */
static void
test_dest_not_empty(Fixture *f, gconstpointer data)
{
	export(f, TRUE);
	test_write(f->dest, "disk.qcow2", "mine");
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_IO, "disk.qcow2: File exists");
}

/* ---- not a snapshot ---- */

static void
test_not_snapshot_tar(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);

	g_ptr_array_add(entries, entry_new("hello.txt", "hello\n", 6));
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			  "not a nestbox snapshot (first entry is hello.txt)");
}

static void
test_not_snapshot_random(Fixture *f, gconstpointer data)
{
	write_pattern(f->archive, 100000, 0, 7);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, "not a nestbox snapshot");
}

/* A whole zstd stream of something else is foreign, not a snapshot cut short. */
static void
test_zstd_not_tar(Fixture *f, gconstpointer data)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	static const char text[] = "a zstd file, but no tar in it\n";

	archive_write_set_format_raw(a);
	archive_write_add_filter_zstd(a);
	g_assert_cmpint(archive_write_open_filename(a, f->archive), ==, ARCHIVE_OK);
	archive_entry_set_filetype(ae, AE_IFREG);
	g_assert_cmpint(archive_write_header(a, ae), ==, ARCHIVE_OK);
	g_assert_cmpint(archive_write_data(a, text, sizeof(text) - 1), ==, sizeof(text) - 1);
	g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
	archive_entry_free(ae);
	archive_write_free(a);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, "not a nestbox snapshot");
}

static void
test_not_snapshot_empty(Fixture *f, gconstpointer data)
{
	test_write(f->dir, "snap.tar.zst", "");
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, "not a nestbox snapshot");
}

static void
test_not_zstd(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entries_save_as(entries, f->archive, FALSE);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, "not zstd-compressed");
}

static void
test_newer_version(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entry_replace_text(entries_find(entries, "nestbox-snapshot.json"), "\"version\" : 1",
			   "\"version\" : 2");
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			  "snapshot format version 2; this nestbox reads version 1");
}

static void
test_bad_header_json(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	entry_replace_text(entries_find(entries, "nestbox-snapshot.json"), "\"role\" : \"disk\"",
			   "\"role\" : \"swap\"");
	entries_save(entries, f->archive);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			  "nestbox-snapshot.json: files[1] (disk.qcow2): unknown role \"swap\"");
}

/*
 * json-glib recurses once per nesting level: a small entry of nothing but
 * '[' (it compresses to a few bytes) would overflow the stack of the
 * thread that imports it. Each JSON entry is refused before it is parsed.
 */
static void
replace_with_deep_json(Fixture *f, const char *name)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	Entry *entry = entries_find(entries, name);

	g_byte_array_set_size(entry->data, 500000);
	memset(entry->data->data, '[', entry->data->len);
	entries_save(entries, f->archive);
}

static void
test_deep_header(Fixture *f, gconstpointer data)
{
	replace_with_deep_json(f, "nestbox-snapshot.json");
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			  "nestbox-snapshot.json: the JSON document nests more than");
}

static void
test_deep_manifest(Fixture *f, gconstpointer data)
{
	replace_with_deep_json(f, "manifest.json");
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
			  "manifest.json: the JSON document nests more than");
}

/* ---- truncated archives ---- */

static void
cut_archive(Fixture *f, goffset length)
{
	g_assert_cmpint(truncate(f->archive, length), ==, 0);
}

/* The tar stream cut at @length, then compressed whole: a cut at a known place in the entries. */
static void
cut_tar_stream(Fixture *f, gsize length)
{
	struct archive *in = archive_read_new();
	struct archive *out = archive_write_new();
	struct archive_entry *ae;
	g_autoptr(GByteArray) tar = g_byte_array_new();
	char buffer[65536];
	la_ssize_t n;

	archive_read_support_filter_zstd(in);
	archive_read_support_format_raw(in);
	g_assert_cmpint(archive_read_open_filename(in, f->archive, 65536), ==, ARCHIVE_OK);
	g_assert_cmpint(archive_read_next_header(in, &ae), ==, ARCHIVE_OK);
	while ((n = archive_read_data(in, buffer, sizeof buffer)) > 0)
		g_byte_array_append(tar, (const guint8 *)buffer, n);
	archive_read_free(in);
	g_assert_cmpuint(length, <, tar->len);

	archive_write_set_format_raw(out);
	archive_write_add_filter_zstd(out);
	g_assert_cmpint(archive_write_open_filename(out, f->archive), ==, ARCHIVE_OK);
	ae = archive_entry_new();
	archive_entry_set_filetype(ae, AE_IFREG);
	g_assert_cmpint(archive_write_header(out, ae), ==, ARCHIVE_OK);
	g_assert_cmpint(archive_write_data(out, tar->data, length), ==, length);
	archive_entry_free(ae);
	g_assert_cmpint(archive_write_close(out), ==, ARCHIVE_OK);
	archive_write_free(out);
}

static void
test_truncated_in_header(Fixture *f, gconstpointer data)
{
	export(f, TRUE);
	/* The tar header of the first entry is 512 bytes; its data follows. */
	cut_tar_stream(f, 512 + 100);
	/* Whole zstd frames holding a short tar stream: made so, not cut in transit. */
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "nestbox-snapshot.json: the archive is damaged (its compressed data is "
			  "whole but decodes to a short nestbox-snapshot.json)");
	/* The file itself cut that early (inside the first compressed block): truncated. */
	g_free(f->dest);
	f->dest = path_in(f->dir, "dest-cut");
	g_assert_cmpint(g_mkdir(f->dest, 0755), ==, 0);
	export(f, TRUE);
	cut_archive(f, 200);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED,
			  "the archive ends before its first entry (truncated)");
}

static void
test_truncated_mid_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);
	/* Header entry, then 512 bytes of tar header before each file. */
	gsize header = entries_find(entries, "nestbox-snapshot.json")->data->len;
	gsize disk_start = 512 + (header + 511) / 512 * 512 + 512 +
			   (entries_find(entries, "files/machineinfo.json")->data->len + 511) /
				   512 * 512 +
			   512;
	g_autoptr(GBytes) whole = NULL;

	cut_tar_stream(f, disk_start + 1048576);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "files/disk.qcow2: the archive is damaged (its compressed data is whole "
			  "but decodes to a short files/disk.qcow2)");
	/* The file itself cut halfway: in the disk, the bulk of it (into a fresh destination). */
	g_free(f->dest);
	f->dest = path_in(f->dir, "dest-cut");
	g_assert_cmpint(g_mkdir(f->dest, 0755), ==, 0);
	export(f, TRUE);
	whole = read_file(f->archive);
	cut_archive(f, g_bytes_get_size(whole) / 2);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED,
			  "the archive ends in files/disk.qcow2 (truncated: ");
}

static void
test_truncated_before_manifest(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) entries = exported_entries(f);

	g_ptr_array_remove_index(entries, entries_index(entries, "manifest.json"));
	entries_save(entries, f->archive);
	/* A whole archive without its manifest was made so: altered, not cut. */
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
			  "the archive is damaged after files/nvram-é.fd (its compressed data is "
			  "whole but decodes to a short tar stream)");
}

/*
 * The compressed file cut anywhere: always TRUNCATED, except in the first
 * bytes, where nothing says it is zstd at all (FORMAT), and never a success.
 */
static void
test_truncated_anywhere(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) whole = NULL;
	gsize size;

	export(f, TRUE);
	whole = read_file(f->archive);
	size = g_bytes_get_size(whole);
	for (gsize cut = 0; cut < size; cut += cut < 64 ? 7 : size / 23) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxSnapshotManifest) result = NULL;
		g_autofree char *dest = g_strdup_printf("%s/cut-%zu", f->dir, cut);

		g_assert_cmpint(g_mkdir(dest, 0755), ==, 0);
		g_file_set_contents(f->archive, g_bytes_get_data(whole, NULL), cut, &error);
		g_assert_no_error(error);
		result = nbx_snapshot_archive_read(f->archive, dest, FALSE, NULL, NULL, &error);
		g_test_message("cut at %zu of %zu: %s", cut, size, error ? error->message : "ok");
		g_assert_null(result);
		if (cut < 4)
			g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR,
				       NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT);
		else
			g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR,
				       NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED);
	}
	/* The last byte missing is enough. */
	cut_archive(f, size - 1);
	assert_read_fails(f, FALSE, NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED, "the archive ends");
}

/* ---- writing failures ---- */

static void
test_write_missing_source(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, TRUE);
	g_autoptr(GError) error = NULL;
	g_autofree char *gone = path_in(f->src, "disk.qcow2");

	g_assert_cmpint(g_unlink(gone), ==, 0);
	g_assert_false(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO);
	g_assert_nonnull(strstr(error->message, gone));
	g_assert_cmpuint(dir_count(f->dir), ==, 2);
	/* A failed export changes nothing in the manifest. */
	g_assert_null(find_file(manifest, "machineinfo.json")->sha256);
	g_assert_cmpint(find_file(manifest, "machineinfo.json")->size, ==, -1);
}

static void
test_write_same_base_name(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, TRUE);
	g_autoptr(GError) error = NULL;
	g_autofree char *other = g_build_filename(f->dir, "disk.qcow2", NULL);

	test_write(f->dir, "disk.qcow2", "another disk");
	nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_DISK, other);
	g_assert_false(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "have the same base name"));
	g_assert_false(g_file_test(f->archive, G_FILE_TEST_EXISTS));
}

/* A FIFO in the list is refused, not waited on for a writer that never comes. */
static void
test_write_not_regular(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, TRUE);
	g_autoptr(GError) error = NULL;
	g_autofree char *fifo = path_in(f->src, "fifo");

	g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
	nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_OTHER, fifo);
	g_assert_false(nbx_snapshot_archive_write(f->archive, manifest, &error));
	g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "fifo is not a regular file"));
	g_assert_false(g_file_test(f->archive, G_FILE_TEST_EXISTS));
}

/* Entries other than the fixture's (dir/src, dir/dest, dir/disk.qcow2...) in @dir. */
static void
assert_no_temp_file(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	g_assert_nonnull(handle);
	while ((name = g_dir_read_name(handle)) != NULL) {
		if (name[0] == '.')
			g_error("%s/%s left behind", dir, name);
	}
}

/*
 * Root writes anywhere: without CAP_DAC_OVERRIDE it obeys the modes like
 * anyone else. Asserted, so the test cannot pass by writing after all.
 */
static void
drop_dac_override(const char *dir)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

	if (geteuid() == 0) {
		guint32 mask = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) |
			       (1u << CAP_FOWNER);

		g_assert_cmpint(syscall(SYS_capget, &header, caps), ==, 0);
		/* Permitted too: access(2) as real root raises the permitted set. */
		caps[0].effective &= ~mask;
		caps[0].permitted &= ~mask;
		g_assert_cmpint(syscall(SYS_capset, &header, caps), ==, 0);
	}
	g_assert_cmpint(access(dir, W_OK), ==, -1);
}

#define SHARED_DIR_ENV "NBX_TEST_SNAPSHOT_ARCHIVE_DIR"

static void
test_write_unwritable_dir(Fixture *f, gconstpointer data)
{
	g_autofree char *out = NULL;

	if (g_test_subprocess()) {
		const char *dir = g_getenv(SHARED_DIR_ENV);
		g_autofree char *src = path_in(dir, "src");
		g_autofree char *target = g_build_filename(dir, "out", "snap.tar.zst", NULL);
		g_autofree char *parent = path_in(dir, "out");
		g_autoptr(NbxSnapshotManifest) manifest = nbx_snapshot_manifest_new("win10", "qemu",
										    TRUE);
		g_autofree char *disk = path_in(src, "disk.qcow2");
		g_autoptr(GError) error = NULL;

		nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_DISK, disk);
		drop_dac_override(parent);
		g_assert_false(nbx_snapshot_archive_write(target, manifest, &error));
		g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO);
		g_assert_nonnull(strstr(error->message, parent));
		g_assert_nonnull(strstr(error->message, "Permission denied"));
		return;
	}
	out = path_in(f->dir, "out");
	g_assert_cmpint(g_mkdir(out, 0555), ==, 0);
	g_setenv(SHARED_DIR_ENV, f->dir, TRUE);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	g_assert_cmpuint(dir_count(out), ==, 0);
	g_chmod(out, 0755);
}

/*
 * The disk fills after the temporary file exists (RLIMIT_FSIZE stands in
 * for a full disk): IO, naming the archive, and no temporary file left.
 */
static void
test_write_fails_midway(Fixture *f, gconstpointer data)
{
	if (g_test_subprocess()) {
		const char *dir = g_getenv(SHARED_DIR_ENV);
		g_autofree char *target = path_in(dir, "snap.tar.zst");
		g_autofree char *src = path_in(dir, "src");
		g_autofree char *disk = path_in(src, "disk.qcow2");
		g_autoptr(NbxSnapshotManifest) manifest = nbx_snapshot_manifest_new("win10", "qemu",
										    TRUE);
		g_autoptr(GError) error = NULL;
		struct rlimit limit = { 256 * 1024, 256 * 1024 };

		nbx_snapshot_manifest_add_file(manifest, NBX_SNAPSHOT_FILE_DISK, disk);
		signal(SIGXFSZ, SIG_IGN);
		g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &limit), ==, 0);
		g_assert_false(nbx_snapshot_archive_write(target, manifest, &error));
		g_assert_error(error, NBX_SNAPSHOT_ARCHIVE_ERROR, NBX_SNAPSHOT_ARCHIVE_ERROR_IO);
		g_assert_nonnull(strstr(error->message, target));
		g_assert_nonnull(strstr(error->message, g_strerror(EFBIG)));
		return;
	}
	g_setenv(SHARED_DIR_ENV, f->dir, TRUE);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	assert_no_temp_file(f->dir);
	g_assert_false(g_file_test(f->archive, G_FILE_TEST_EXISTS));
}

/* A failed export over an existing archive leaves the old one in place. */
static void
test_write_keeps_old_archive(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxSnapshotManifest) manifest = manifest_for(f, TRUE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) before = NULL;
	g_autoptr(GBytes) after = NULL;
	g_autofree char *gone = path_in(f->src, "nvram-é.fd");

	export(f, TRUE);
	before = read_file(f->archive);
	g_assert_cmpint(g_unlink(gone), ==, 0);
	g_assert_false(nbx_snapshot_archive_write(f->archive, manifest, &error));
	after = read_file(f->archive);
	g_assert_true(g_bytes_equal(before, after));
	assert_no_temp_file(f->dir);
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, set_up, fn, tear_down)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	ADD("/snapshot-archive/round-trip", test_round_trip);
	ADD("/snapshot-archive/round-trip-sparse", test_round_trip_sparse);
	ADD("/snapshot-archive/layout", test_layout);
	ADD("/snapshot-archive/header-json", test_header_json);
	ADD("/snapshot-archive/minimal", test_minimal);
	ADD("/snapshot-archive/skip-memory", test_skip_memory);
	ADD("/snapshot-archive/skip-memory-tampered", test_skip_memory_tampered);
	ADD("/snapshot-archive/check/refuses", test_check_refuses);
	ADD("/snapshot-archive/check/accepts", test_check_accepts);
	ADD("/snapshot-archive/tampered/file", test_tampered_file);
	ADD("/snapshot-archive/tampered/header", test_tampered_header);
	ADD("/snapshot-archive/tampered/header-size", test_tampered_header_size);
	ADD("/snapshot-archive/tampered/entry-size", test_tampered_entry_size);
	ADD("/snapshot-archive/tampered/missing-file", test_missing_file);
	ADD("/snapshot-archive/tampered/extra-file", test_extra_file);
	ADD("/snapshot-archive/tampered/extra-outside-files", test_extra_outside_files);
	ADD("/snapshot-archive/tampered/extra-after-manifest", test_extra_after_manifest);
	ADD("/snapshot-archive/tampered/duplicate-entry", test_duplicate_entry);
	ADD("/snapshot-archive/tampered/symlink-entry", test_symlink_entry);
	ADD("/snapshot-archive/tampered/compressed-byte", test_tampered_compressed);
	ADD("/snapshot-archive/tampered/manifest-extra", test_manifest_extra);
	ADD("/snapshot-archive/tampered/manifest-missing", test_manifest_missing);
	ADD("/snapshot-archive/unsafe/dotdot", test_unsafe_dotdot);
	ADD("/snapshot-archive/unsafe/slash", test_unsafe_slash);
	ADD("/snapshot-archive/unsafe/dots", test_unsafe_dots);
	ADD("/snapshot-archive/unsafe/duplicate", test_unsafe_duplicate);
	ADD("/snapshot-archive/unsafe/entry", test_unsafe_entry);
	ADD("/snapshot-archive/unsafe/dest-not-empty", test_dest_not_empty);
	ADD("/snapshot-archive/format/plain-tar", test_not_snapshot_tar);
	ADD("/snapshot-archive/format/random", test_not_snapshot_random);
	ADD("/snapshot-archive/format/empty", test_not_snapshot_empty);
	ADD("/snapshot-archive/format/zstd-not-tar", test_zstd_not_tar);
	ADD("/snapshot-archive/format/not-zstd", test_not_zstd);
	ADD("/snapshot-archive/format/newer-version", test_newer_version);
	ADD("/snapshot-archive/format/bad-header", test_bad_header_json);
	ADD("/snapshot-archive/format/deep-header", test_deep_header);
	ADD("/snapshot-archive/format/deep-manifest", test_deep_manifest);
	ADD("/snapshot-archive/truncated/in-header", test_truncated_in_header);
	ADD("/snapshot-archive/truncated/mid-file", test_truncated_mid_file);
	ADD("/snapshot-archive/truncated/before-manifest", test_truncated_before_manifest);
	ADD("/snapshot-archive/truncated/anywhere", test_truncated_anywhere);
	ADD("/snapshot-archive/write/missing-source", test_write_missing_source);
	ADD("/snapshot-archive/write/same-base-name", test_write_same_base_name);
	ADD("/snapshot-archive/write/not-regular", test_write_not_regular);
	ADD("/snapshot-archive/write/unwritable-dir", test_write_unwritable_dir);
	ADD("/snapshot-archive/write/fails-midway", test_write_fails_midway);
	ADD("/snapshot-archive/write/keeps-old-archive", test_write_keeps_old_archive);
	return g_test_run();
}
