/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File system work the routes share, on paths already checked by
 * guest_path.h. Each returns 0 or an errno, and names in @where the path
 * that failed when it is not the one given.
 */
#ifndef NESTBOX_AGENT_GUEST_FS_H
#define NESTBOX_AGENT_GUEST_FS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* os.makedirs(path, mode, exist_ok=True): parents with 0777, @path with @mode (umask applies). */
int nba_make_dirs(const char *path, mode_t mode, char *where, size_t where_size);

/* The parent directories of the file @path, as nba_make_dirs makes them. */
int nba_make_parents(const char *path, char *where, size_t where_size);

/*
 * shutil.rmtree without its hazards: symbolic links are removed, never
 * followed; other file systems mounted below are not entered (their mount
 * point then fails with EBUSY); at most 128 levels (ELOOP beyond).
 */
int nba_remove_tree(const char *path, char *where, size_t where_size);

/*
 * Creates "@dir/@prefix XXXXXXXX @suffix" (8 random [a-z0-9_], like
 * Python's tempfile): a directory (0700) when @file_fd is NULL, else an
 * empty file (0600) left open read-write in *@file_fd. The path made goes
 * to @out (PATH_MAX bytes).
 */
int nba_make_temp(const char *dir, const char *prefix, const char *suffix, char *out,
		  int *file_fd);

/* The temporary directory Python's tempfile would use: $TMPDIR when acceptable, else /tmp. */
const char *nba_default_temp_dir(void);

#endif
