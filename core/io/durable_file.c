/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* sync_file_range */
#include "durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* See NbxSyncedFile. */
#define WRITEBACK_CHUNK (8 << 20)

gboolean
nbx_write_all(int fd, const void *data, gsize length)
{
	const guchar *p = data;

	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		p += n;
		length -= (gsize)n;
	}
	return TRUE;
}

ssize_t
nbx_read_retry(int fd, void *buffer, gsize length)
{
	ssize_t n;

	do
		n = read(fd, buffer, length);
	while (n < 0 && errno == EINTR);
	return n;
}

gboolean
nbx_synced_write(NbxSyncedFile *file, const void *data, gsize length)
{
	if (!nbx_write_all(file->fd, data, length))
		return FALSE;
	file->written += (gint64)length;
	if (file->written - file->kicked >= WRITEBACK_CHUNK) {
		/* Only a hint: a failure shows at fsync. */
		sync_file_range(file->fd, file->kicked, file->written - file->kicked,
				SYNC_FILE_RANGE_WRITE);
		file->kicked = file->written;
	}
	return TRUE;
}

gboolean
nbx_fsync_path(const char *path, gboolean directory)
{
	int fd = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int saved;

	if (fd < 0)
		return FALSE;
	if (fsync(fd) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/*
 * The steps of nbx_fsync_tree() return 0 or an errno, so no cleanup runs
 * between a failure and the errno it reports.
 */
static int
fsync_one(const char *path, gboolean directory, char **failed)
{
	int saved;

	if (nbx_fsync_path(path, directory))
		return 0;
	saved = errno;
	*failed = g_strdup(path);
	return saved;
}

static int fsync_below(const char *path, char **failed);

static int
fsync_entry(const char *path, char **failed)
{
	if (g_file_test(path, G_FILE_TEST_IS_SYMLINK))
		return 0;
	if (g_file_test(path, G_FILE_TEST_IS_DIR))
		return fsync_below(path, failed);
	return fsync_one(path, FALSE, failed);
}

static int
fsync_below(const char *path, char **failed)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;
	int status = 0;

	while (status == 0 && dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		char *child = g_build_filename(path, name, NULL);

		status = fsync_entry(child, failed);
		g_free(child);
	}
	if (dir != NULL)
		g_dir_close(dir);
	return status != 0 ? status : fsync_one(path, TRUE, failed);
}

gboolean
nbx_fsync_tree(const char *path, char **failed)
{
	int status = fsync_below(path, failed);

	errno = status;
	return status == 0;
}

gboolean
nbx_remove_tree(const char *path)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return g_unlink(path) == 0;
	dir = g_dir_open(path, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		nbx_remove_tree(child);
	}
	return g_rmdir(path) == 0;
}

guint64
nbx_tree_bytes(const char *path)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;
	struct stat st;
	guint64 total;

	if (lstat(path, &st) != 0)
		return 0;
	total = (guint64)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || (dir = g_dir_open(path, 0, NULL)) == NULL)
		return total;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		total += nbx_tree_bytes(child);
	}
	return total;
}
