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
 * directory, and on failure the caller removes that directory. An archive
 * is "truncated" only when its zstd frames are cut short (their headers are
 * walked); one whose data decodes to an early end is "damaged" (TAMPERED).
 *
 * Details of the format (version 1): pax tar (ustar headers, a pax header
 * only where ustar falls short: files of 8 GiB and more, non-ASCII names),
 * one zstd frame at level 3. Entries are regular files, mode 0640, uid and
 * gid 0, no owner names, no sparse entries. The header is JSON: format
 * "nestbox-snapshot", version 1, machine, machinery, kind ("full" or
 * "minimal"), created (ISO 8601, UTC), nestbox_version, fingerprint
 * [{key, value}] in order, files [{name, role, size}] with role one of
 * description, disk, memory, other. The manifest: files [{name, size,
 * sha256}] and header_sha256, the SHA-256 of the header entry's bytes.
 * `tar --zstd -xf` unpacks it.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define NBX_SNAPSHOT_ARCHIVE_ERROR (nbx_snapshot_archive_error_quark())
GQuark nbx_snapshot_archive_error_quark(void);

/*
 * Every message starts with the archive's path as given, then names the
 * entry or file concerned.
 */
typedef enum {
	/*
	 * The file is not a nestbox snapshot, or not one this version reads:
	 * not zstd, not tar, a first entry other than the header, a header or
	 * manifest that does not parse or lacks a field, a newer version, an
	 * unsafe or duplicate name in the header. A file cut within its first
	 * four bytes (nothing says it is zstd) is FORMAT too.
	 * Writing: the manifest cannot be stored (two files with one base name,
	 * an unsafe base name, an unknown role).
	 */
	NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT,
	/*
	 * A hash or size does not match, a file is missing or unexpected: an
	 * entry the header does not list (whatever its name, "files/../x"
	 * included), twice, not a regular file, with another size, after the
	 * manifest; a header whose SHA-256 is not the manifest's; compressed
	 * data that does not decode although the file goes on.
	 */
	NBX_SNAPSHOT_ARCHIVE_ERROR_TAMPERED,
	/*
	 * The archive ends before its manifest: the zstd or tar stream runs out
	 * anywhere after the zstd magic, in the header entry included. The
	 * message says where: "the archive ends in files/disk.qcow2 (truncated:
	 * 1048576 of 268435456 bytes)", "... ends after files/x (truncated: no
	 * manifest.json)", "... ends before its first entry".
	 */
	NBX_SNAPSHOT_ARCHIVE_ERROR_TRUNCATED,
	/* The check callback refused the header (its message is kept). */
	NBX_SNAPSHOT_ARCHIVE_ERROR_REFUSED,
	/*
	 * Reading or writing a file failed (the errno's words are in the
	 * message); also a source that is not a regular file or changed size
	 * while it was archived, and a destination file that already exists.
	 */
	NBX_SNAPSHOT_ARCHIVE_ERROR_IO,
} NbxSnapshotArchiveError;

typedef struct {
	/* An `enum nbx_snapshot_file_role` (nestbox/machinery.h). */
	gint32 role;
	/* Base name in the archive. */
	char *name;
	/* Writing: the file to read. Reading: where it was unpacked (NULL if skipped). */
	char *path;
	/* -1 until writing measured it (a memory file left out stays -1). */
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
 *
 * The temporary file is "DIR/.BASENAME.XXXXXX" (mkstemp); it is removed on
 * failure, so only a killed process leaves one. Sizes, hashes, created_us
 * and nestbox_version are set only when the export succeeds. Files are
 * read with read(2), never mapped; memory use does not grow with their
 * size. Blocks the calling thread for as long as it takes.
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
 *
 * Files are created with O_EXCL (mode 0640) and synced, then the directory
 * is. A skipped memory file is still read through, hashed and verified; its
 * path is NULL. Hashes can only be checked against the manifest, which
 * comes last: on any failure the files already unpacked are unverified,
 * which is why the caller removes @dest_dir.
 */
NbxSnapshotManifest *nbx_snapshot_archive_read(const char *path, const char *dest_dir,
					       gboolean skip_memory, NbxSnapshotArchiveCheck check,
					       gpointer user_data, GError **error);
