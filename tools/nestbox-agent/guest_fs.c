/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest_path.h"

#define MAX_TREE_DEPTH 128

static void
note(char *where, size_t size, const char *path)
{
	if (where != NULL && size > 0)
		snprintf(where, size, "%s", path);
}

int
nba_make_dirs(const char *path, mode_t mode, char *where, size_t where_size)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;
	int saved;

	if (len >= sizeof buf)
		return ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	for (char *slash = strchr(buf + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		if (slash[-1] == '/')
			continue;
		*slash = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
			saved = errno;
			note(where, where_size, buf);
			return saved;
		}
		*slash = '/';
	}
	if (mkdir(buf, mode) == 0)
		return 0;
	saved = errno;
	if (saved == EEXIST && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	note(where, where_size, buf);
	return saved;
}

int
nba_make_parents(const char *path, char *where, size_t where_size)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL || slash == path)
		return 0;
	len = (size_t)(slash - path);
	if (len >= sizeof parent)
		return ENAMETOOLONG;
	memcpy(parent, path, len);
	parent[len] = '\0';
	return nba_make_dirs(parent, 0777, where, where_size);
}

/* Empties the directory open at @fd (which it closes), then the caller removes it. */
static int
empty_directory(int fd, dev_t dev, int depth, char *where, size_t where_size)
{
	DIR *dir;
	struct dirent *entry;
	int rc = 0;

	if (depth > MAX_TREE_DEPTH) {
		close(fd);
		return ELOOP;
	}
	dir = fdopendir(fd);
	if (dir == NULL) {
		rc = errno;
		close(fd);
		return rc;
	}
	while (rc == 0 && (errno = 0, entry = readdir(dir)) != NULL) {
		struct stat st;
		const char *name = entry->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = errno == ENOENT ? 0 : errno;
		} else if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			int sub = openat(dirfd(dir), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = sub < 0 ? errno : empty_directory(sub, dev, depth + 1, where, where_size);
			if (rc == 0 && unlinkat(dirfd(dir), name, AT_REMOVEDIR) != 0)
				rc = errno;
		} else if (unlinkat(dirfd(dir), name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) {
			rc = errno;
		}
		if (rc != 0)
			note(where, where_size, name);
	}
	if (rc == 0 && errno != 0)
		rc = errno;
	closedir(dir);
	return rc;
}

int
nba_remove_tree(const char *path, char *where, size_t where_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		rc = errno;
		close(fd);
		return rc;
	}
	rc = empty_directory(fd, st.st_dev, 1, where, where_size);
	if (rc == 0 && rmdir(path) != 0)
		rc = errno;
	return rc;
}

/* Linux 5.6's never-blocking flag, for C libraries older than it. */
#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

/*
 * Random bytes for a temporary name, never waiting for the kernel's CRNG: a
 * guest restored from a snapshot taken soon after boot may not have it
 * ready, and getrandom() without flags then blocks until it is (seconds
 * per /mkdtemp and /store in the demo guest under TCG). A name needs
 * variety, not secrecy: O_EXCL and mkdir() refuse one that exists.
 */
static void
name_bytes(unsigned char *bytes, size_t size)
{
	static unsigned long counter;
	struct timespec now;
	uint64_t mix;

	if (getrandom(bytes, size, GRND_INSECURE) == (ssize_t)size ||
	    getrandom(bytes, size, GRND_NONBLOCK) == (ssize_t)size)
		return;
	/* An old kernel whose pool is not ready yet: the time, the pid and a
	 * counter, stirred (splitmix64). */
	clock_gettime(CLOCK_REALTIME, &now);
	mix = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	mix ^= (uint64_t)getpid() << 32 ^ __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < size; i++) {
		uint64_t z = (mix += 0x9e3779b97f4a7c15u);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		bytes[i] = (unsigned char)(z ^ (z >> 31));
	}
}

static void
random_name_part(char out[9])
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
	unsigned char bytes[8];

	name_bytes(bytes, sizeof bytes);
	for (size_t i = 0; i < 8; i++)
		out[i] = chars[bytes[i] % (sizeof chars - 1)];
	out[8] = '\0';
}

int
nba_make_temp(const char *dir, const char *prefix, const char *suffix, char *out, int *file_fd)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		char random[9];
		int fd;

		random_name_part(random);
		if (snprintf(out, PATH_MAX, "%s%s%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/", prefix, random, suffix) >=
		    PATH_MAX)
			return ENAMETOOLONG;
		if (file_fd == NULL) {
			if (mkdir(out, 0700) == 0)
				return 0;
		} else {
			fd = open(out, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd >= 0) {
				*file_fd = fd;
				return 0;
			}
		}
		if (errno != EEXIST)
			return errno;
	}
	return EEXIST;
}

const char *
nba_default_temp_dir(void)
{
	const char *tmpdir = getenv("TMPDIR");

	if (tmpdir != NULL && nba_guest_path_problem(tmpdir, strlen(tmpdir)) == NULL)
		return tmpdir;
	return "/tmp";
}
