/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files that are whole on disk when a call says so: reads and writes that
 * a signal does not cut short, writes that start their own writeback,
 * fsync(2) of a file, a directory or a tree, and the removal of a tree.
 *
 * These report as the system calls under them do (FALSE or -1, errno set),
 * so that each caller words the error in its own domain and names what the
 * user knows (an archive, a snapshot base), not only the file that failed.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Writes all @length bytes to @fd; FALSE with errno set. */
gboolean nbx_write_all(int fd, const void *data, gsize length);

/* read(2), retried on EINTR. */
ssize_t nbx_read_retry(int fd, void *buffer, gsize length);

/*
 * A file written through nbx_synced_write() starts its own writeback every
 * few MiB: the final fsync then waits for little, the disk works while the
 * CPU compresses or hashes, and a file of many GiB never piles up as dirty
 * pages that stall every other writer on the host. Start with
 * { .fd = FD }; the caller still fsyncs and closes @fd.
 */
typedef struct {
	int fd;
	gint64 written;
	gint64 kicked; /* writeback started up to here */
} NbxSyncedFile;

/* nbx_write_all(), then writeback of what is due; FALSE with errno set. */
gboolean nbx_synced_write(NbxSyncedFile *file, const void *data, gsize length);

/* Opens @path (a directory when @directory) and fsyncs it; FALSE with errno set. */
gboolean nbx_fsync_path(const char *path, gboolean directory);

/*
 * Every file below @path and @path itself reach the disk (symbolic links
 * are not followed): a rename of @path then publishes whole files. FALSE
 * with errno set and *@failed (g_free) naming what did not sync.
 */
gboolean nbx_fsync_tree(const char *path, char **failed);

/*
 * Removes @path and, when it is a directory, everything below it (symbolic
 * links are removed, never followed). TRUE when @path did not exist; FALSE
 * with errno set when @path itself is still there.
 */
gboolean nbx_remove_tree(const char *path);

/*
 * The space @path takes on disk (allocated blocks), everything below it
 * included, symbolic links not followed; 0 for what is not there.
 */
guint64 nbx_tree_bytes(const char *path);
