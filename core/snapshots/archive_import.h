/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state of one nbx_snapshot_archive_read() and the steps below the
 * reader, each file calling only those above it in this list:
 *   archive_import.c       the state's errors and bookkeeping
 *   archive_truncation.c   what a failure means: truncated, damaged, not ours
 *   archive_entries.c      walking the entries, streaming their data
 *   archive_json_entry.c   reading the two JSON entries (header, manifest)
 * The steps on top of them, and the reader that drives all, are in
 * archive_read.h.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <json-glib/json-glib.h>

#include "archive_format.h"

/* The header and the manifest are a few KiB; anything far larger is not ours. */
#define NBX_ARCHIVE_JSON_ENTRY_MAX (1 << 20)
/* They nest three levels deep (object, array, object); json-glib recurses once per level. */
#define NBX_ARCHIVE_JSON_DEPTH_MAX 16

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
} NbxArchiveImport;

/* ---- archive_import.c ---- */

/* "PATH: <message>" with @code; always FALSE, for `return nbx_archive_import_error(...)`. */
gboolean nbx_archive_import_error(NbxArchiveImport *im, NbxSnapshotArchiveError code,
				  GError **error, const char *format, ...) G_GNUC_PRINTF(4, 5);

/* @name was read whole: messages now say "after @name". */
void nbx_archive_import_entry_done(NbxArchiveImport *im, const char *name);
/* A regular file with a size: no link, no holes. */
gboolean nbx_archive_entry_is_plain_file(struct archive_entry *entry);

/* ---- archive_truncation.c ---- */

/* The error for data that ran out: truncated, or damaged when the zstd frames are whole. */
gboolean nbx_archive_import_truncated(NbxArchiveImport *im, GError **error);
/* Turns a failed libarchive call into the error that says what is wrong. */
gboolean nbx_archive_import_failed(NbxArchiveImport *im, GError **error);
/* Whether the zstd stream in @path stops before its frame ends (see the definition). */
gboolean nbx_archive_zstd_stream_is_cut(const char *path);
/* ---- archive_entries.c ---- */

/*
 * The next entry and its UTF-8 name; *@entry NULL at the end of the
 * archive.
 */
gboolean nbx_archive_import_next(NbxArchiveImport *im, struct archive_entry **entry,
				 const char **name, GError **error);
/* Takes each block of an entry's data, in order; FALSE with @error stops the read. */
typedef gboolean (*NbxArchiveDataSink)(NbxArchiveImport *im, const void *block, gsize length,
				       gpointer user_data, GError **error);
/*
 * Streams the data of entry @name (@size bytes, as its header says) to
 * @sink: data at another offset or beyond @size fails with @bad, data that
 * ends early is truncation (nbx_archive_import_truncated()).
 */
gboolean nbx_archive_import_data(NbxArchiveImport *im, const char *name, gint64 size,
				 NbxSnapshotArchiveError bad, NbxArchiveDataSink sink,
				 gpointer user_data, GError **error);

/* ---- archive_json_entry.c ---- */

/*
 * The whole of a small entry (the header, the manifest), NUL-terminated;
 * NULL with @error (@bad when it is not a plain file within bounds).
 */
char *nbx_archive_import_json_entry(NbxArchiveImport *im, struct archive_entry *entry,
				    const char *name, NbxSnapshotArchiveError bad, gsize *length,
				    GError **error);
/*
 * The root object of entry @name's @data, kept alive by @parser; NULL with
 * @error (FORMAT). The depth is checked before json-glib parses it.
 */
JsonObject *nbx_archive_import_parse_object(NbxArchiveImport *im, const char *name,
					    const char *data, gsize length, JsonParser *parser,
					    GError **error);
/* The string member @name of @object, or NULL when it is absent or not a string. */
const char *nbx_archive_json_string(JsonObject *object, const char *name);
/* The integer member @name of @object in *@value; FALSE when absent or not an integer. */
gboolean nbx_archive_json_int(JsonObject *object, const char *name, gint64 *value);
/* The array member @name of @object, or NULL. */
JsonArray *nbx_archive_json_array(JsonObject *object, const char *name);
/* Element @index of @array when it is an object, or NULL. */
JsonObject *nbx_archive_json_array_object(JsonArray *array, guint index);
