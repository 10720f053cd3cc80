/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the writer and the reader of snapshot archives share: the layout
 * of format version 1 (snapshot_archive.h describes it), the names a file
 * may have in it, and the locale those names pass through.
 */
#pragma once

#include <glib.h>
#include <locale.h>

#include "snapshot_archive.h"

#define NBX_ARCHIVE_HEADER_ENTRY "nestbox-snapshot.json"
#define NBX_ARCHIVE_MANIFEST_ENTRY "manifest.json"
#define NBX_ARCHIVE_FILES_PREFIX "files/"
#define NBX_ARCHIVE_FORMAT_NAME "nestbox-snapshot"
#define NBX_ARCHIVE_FORMAT_VERSION 1

/*
 * One buffer for every read of a source file and of the archive: large
 * enough that the syscalls cost nothing next to compression and hashing,
 * small enough to be irrelevant to the daemon's footprint.
 */
#define NBX_ARCHIVE_IO_BLOCK_SIZE (1 << 20)

#define NBX_ARCHIVE_ENTRY_MODE 0640

/* "description", "disk", ... for an `enum nbx_snapshot_file_role`; NULL for another value. */
const char *nbx_archive_role_name(gint32 role);
/* The role named @name, or 0 when @name (maybe NULL) names none. */
gint32 nbx_archive_role_from_name(const char *name);

/*
 * Why @name cannot be a file of the archive, or NULL when it can: files
 * are unpacked by base name into the destination directory, so anything
 * that could name another place (or nothing) is refused, on both sides.
 */
const char *nbx_archive_name_unsafe_reason(const char *name);

/*
 * Names are UTF-8, and libarchive converts them through the charset of the
 * locale: under the C locale its pax writer even crashes on a non-ASCII
 * name (3.6.2). So the archive work runs with a UTF-8 LC_CTYPE on the
 * calling thread, whatever the daemon's locale; other threads are not
 * affected. Without C.UTF-8, names still round-trip, as raw bytes.
 * Start from { 0 }.
 */
typedef struct {
	locale_t utf8;
	locale_t previous;
} NbxArchiveLocale;

void nbx_archive_locale_enter(NbxArchiveLocale *locale);
void nbx_archive_locale_leave(NbxArchiveLocale *locale);

/*
 * Sets @error to NBX_SNAPSHOT_ARCHIVE_ERROR_IO "PATH: <message>: <errno's
 * words>", errno as it was on entry; always FALSE.
 */
gboolean nbx_archive_io_error(const char *path, GError **error, const char *format, ...)
	G_GNUC_PRINTF(3, 4);

/* Appends a file with no path to @manifest (what reading the header does). */
NbxSnapshotArchiveFile *nbx_archive_manifest_append(NbxSnapshotManifest *manifest, gint32 role,
						    const char *name, gint64 size);
