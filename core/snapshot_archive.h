/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One snapshot generation as a single archive file (libarchive, pax tar,
 * zstd), written and read in one streaming pass: memory use stays flat
 * whatever the size of the disk or memory files.
 *
 * Layout, in this order:
 *   nestbox-snapshot.json   the header: format, machine, machinery, kind
 *                           (minimal | full), fingerprint, and every file
 *                           with its role and size. Read first, so an
 *                           import can refuse a snapshot before it unpacks
 *                           gigabytes.
 *   files/NAME ...          the files, by base name.
 *   manifest.json           every file's size and SHA-256, and the SHA-256
 *                           of the header: written last because the hashes
 *                           are computed while the files stream through.
 *
 * Reading verifies everything: the header's syntax, that file names are
 * plain base names (no '/', no "..", no duplicates), that every file the
 * header lists arrives with its size and no other does, each hash, the
 * header's hash, and that the archive does not end early (a truncated
 * archive is named as such). Nothing is written outside the destination
 * directory, and on failure the caller removes that directory.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define NBX_SNAPSHOT_ARCHIVE_ERROR (nbx_snapshot_archive_error_quark())
GQuark nbx_snapshot_archive_error_quark(void);

typedef enum {
	/* The file is not a nestbox snapshot, or not one this version reads. */
	NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
	/* A hash or size does not match, a file is missing or unexpected. */
	NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
	/* The archive ends before its manifest. */
	NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED,
	/* The check callback refused the header (its message is kept). */
	NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED,
	/* Reading or writing a file failed. */
	NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
} NbxSnapshotArchiveError;

typedef struct {
	/* An `enum nbx_snapshot_file_role` (nestbox/machinery.h). */
	gint32 role;
	/* Base name in the archive. */
	char *name;
	/* Writing: the file to read. Reading: where it was unpacked (NULL if skipped). */
	char *path;
	gint64 size;
	/* Lower-case hex; filled by writing and by reading. */
	char *sha256;
} NbxSnapshotArchiveFile;

typedef struct {
	/* The machine the generation belongs to, and its machinery. */
	char *machine;
	char *machinery;
	/* TRUE: the memory file is in it (and the fingerprint counts). */
	gboolean full;
	/* NBX_SNAPSHOT_FILE_* of the generation, in order; owned. */
	GPtrArray *files; /* NbxSnapshotArchiveFile * */
	/* Fingerprint: key, value, key, value, ..., in the plugin's order; owned strings. */
	GPtrArray *fingerprint; /* char * */
	/* When and by what it was written (filled in by writing). */
	gint64 created_us;
	char *nestbox_version;
} NbxSnapshotManifest;

NbxSnapshotManifest *nbx_snapshot_manifest_new(const char *machine, const char *machinery,
					       gboolean full);
void nbx_snapshot_manifest_add_file(NbxSnapshotManifest *manifest, gint32 role, const char *path);
void nbx_snapshot_manifest_add_fingerprint(NbxSnapshotManifest *manifest, const char *key,
					   const char *value);
/* The value of fingerprint @key, or NULL. */
const char *nbx_snapshot_manifest_fingerprint(const NbxSnapshotManifest *manifest,
					      const char *key);
void nbx_snapshot_manifest_free(NbxSnapshotManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSnapshotManifest, nbx_snapshot_manifest_free)

/*
 * Writes @manifest's files (minus NBX_SNAPSHOT_FILE_MEMORY ones when not
 * full) to @path: a temporary file beside it, renamed over @path only when
 * complete and synced, so a failed export leaves no half archive. Fills in
 * sizes and hashes. False with @error naming the file that failed.
 */
gboolean nbx_snapshot_archive_write(const char *path, NbxSnapshotManifest *manifest,
				    GError **error);

/*
 * Called once the header is read, before any file is unpacked: return
 * FALSE with @error set to refuse the archive (the import then fails with
 * NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED and that message).
 */
typedef gboolean (*NbxSnapshotArchiveCheck)(const NbxSnapshotManifest *header, gpointer user_data,
					    GError **error);

/*
 * Reads @path into @dest_dir (an existing, empty directory): @check sees
 * the header first; files are unpacked under their base names, except
 * memory files when @skip_memory. Returns the verified manifest (paths
 * filled in), or NULL with @error (a NbxSnapshotArchiveError) saying what
 * is wrong and where.
 */
NbxSnapshotManifest *nbx_snapshot_archive_read(const char *path, const char *dest_dir,
					       gboolean skip_memory, NbxSnapshotArchiveCheck check,
					       gpointer user_data, GError **error);
