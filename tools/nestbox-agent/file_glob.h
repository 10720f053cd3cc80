/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded glob(3): the regular files whose absolute paths match a
 * pattern, component by component with fnmatch(3) (FNM_PERIOD: a leading
 * "." must be matched by a "."; "**" is just "*"). Bounded in the files it
 * returns and in the directory entries it reads, so a pattern of many "*"
 * components ends quickly with "truncated" instead of walking the disk.
 * Symbolic links are followed for directories on the way (as glob does)
 * but not listed as files: a file is a regular file by lstat().
 */
#ifndef NESTBOX_AGENT_FILE_GLOB_H
#define NESTBOX_AGENT_FILE_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBA_GLOB_MAX_COMPONENTS 64

struct nba_glob_file {
	char *path;
	uint64_t size;
};

struct nba_glob_result {
	struct nba_glob_file *files; /* sorted by path */
	size_t count;
	bool truncated;     /* @limit files, or @max_entries directory entries, were reached */
	size_t entries_read;
};

/* 0 or an errno (ENOMEM); @pattern was checked by nba_guest_path_problem. */
int nba_glob(const char *pattern, size_t limit, size_t max_entries, struct nba_glob_result *out);

void nba_glob_free(struct nba_glob_result *result);

#endif
