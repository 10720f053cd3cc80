/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "file_glob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct walk {
	char *components[NBA_GLOB_MAX_COMPONENTS];
	size_t ncomponents;
	size_t limit, max_entries;
	struct nba_glob_result *out;
	size_t cap;
	int error;
	char path[PATH_MAX];
};

static bool
is_magic(const char *component)
{
	return strpbrk(component, "*?[\\") != NULL;
}

static bool
stopped(const struct walk *w)
{
	return w->error != 0 || w->out->truncated;
}

static void
add_file(struct walk *w, uint64_t size)
{
	struct nba_glob_result *out = w->out;

	if (out->count == w->limit) {
		out->truncated = true;
		return;
	}
	if (out->count == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct nba_glob_file *grown = realloc(out->files, cap * sizeof *grown);

		if (grown == NULL) {
			w->error = ENOMEM;
			return;
		}
		out->files = grown;
		w->cap = cap;
	}
	out->files[out->count].path = strdup(w->path);
	if (out->files[out->count].path == NULL) {
		w->error = ENOMEM;
		return;
	}
	out->files[out->count++].size = size;
}

/* w->path names a candidate for component @i; go on from it. */
static void walk_from(struct walk *w, size_t i);

static void
candidate(struct walk *w, size_t i)
{
	struct stat st;

	if (i + 1 < w->ncomponents) {
		walk_from(w, i + 1);
	} else if (lstat(w->path, &st) == 0 && S_ISREG(st.st_mode)) {
		add_file(w, (uint64_t)st.st_size);
	}
}

/* Appends "/" and @name to w->path; false (nothing appended) if it would not fit. */
static bool
push(struct walk *w, size_t base, const char *name)
{
	size_t len = strlen(name);

	if (base + 1 + len >= sizeof w->path)
		return false;
	w->path[base] = '/';
	memcpy(w->path + base + 1, name, len + 1);
	return true;
}

static void
walk_magic(struct walk *w, size_t i, size_t base)
{
	DIR *dir = opendir(base == 0 ? "/" : w->path);
	struct dirent *entry;

	if (dir == NULL)
		return;
	while (!stopped(w) && (entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if (++w->out->entries_read > w->max_entries) {
			w->out->truncated = true;
			break;
		}
		if (fnmatch(w->components[i], entry->d_name, FNM_PERIOD) == 0 &&
		    push(w, base, entry->d_name)) {
			candidate(w, i);
			w->path[base] = '\0';
		}
	}
	closedir(dir);
}

static void
walk_from(struct walk *w, size_t i)
{
	size_t base = strlen(w->path);

	if (stopped(w))
		return;
	if (is_magic(w->components[i])) {
		walk_magic(w, i, base);
	} else if (push(w, base, w->components[i])) {
		candidate(w, i);
	}
	w->path[base] = '\0';
}

static int
by_path(const void *a, const void *b)
{
	return strcmp(((const struct nba_glob_file *)a)->path, ((const struct nba_glob_file *)b)->path);
}

int
nba_glob(const char *pattern, size_t limit, size_t max_entries, struct nba_glob_result *out)
{
	struct walk *w = calloc(1, sizeof *w);
	char *copy = strdup(pattern);
	int rc;

	memset(out, 0, sizeof *out);
	if (w == NULL || copy == NULL) {
		free(w);
		free(copy);
		return ENOMEM;
	}
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c != NULL;
	     c = strtok_r(NULL, "/", &save)) {
		if (w->ncomponents == NBA_GLOB_MAX_COMPONENTS) {
			free(w);
			free(copy);
			return E2BIG;
		}
		w->components[w->ncomponents++] = c;
	}
	w->limit = limit;
	w->max_entries = max_entries;
	w->out = out;
	if (w->ncomponents > 0)
		walk_from(w, 0);
	rc = w->error;
	free(w);
	free(copy);
	if (rc != 0)
		nba_glob_free(out);
	else if (out->count > 0)
		qsort(out->files, out->count, sizeof *out->files, by_path);
	return rc;
}

void
nba_glob_free(struct nba_glob_result *result)
{
	for (size_t i = 0; i < result->count; i++)
		free(result->files[i].path);
	free(result->files);
	memset(result, 0, sizeof *result);
}
