/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* copy_file_range */
#define _GNU_SOURCE
#include "durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
fail(GError **error, int code, const char *what, const char *path)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(code), "%s %s: %s", what, path,
		    g_strerror(code));
	return false;
}

/* Closes @fd; its errors count (NFS reports a failed write at close). */
static bool
close_checked(int fd, const char *path, GError **error)
{
	if (close(fd) != 0 && errno != EINTR)
		return fail(error, errno, "cannot close", path);
	return true;
}

static bool
write_all(int fd, const char *path, const char *data, gsize len, GError **error)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(error, errno, "cannot write", path);
		data += n;
		len -= (gsize)n;
	}
	return true;
}

bool
durable_file_write(const char *path, const char *contents, gsize len, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	bool ok;

	if (fd < 0)
		return fail(error, errno, "cannot create", path);
	ok = write_all(fd, path, contents, len, error);
	if (ok && fsync(fd) != 0)
		ok = fail(error, errno, "cannot sync", path);
	if (!close_checked(fd, path, ok ? error : NULL))
		ok = false;
	return ok;
}

bool
durable_file_replace(const char *path, const char *contents, gsize len, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *temp = g_strconcat(path, ".XXXXXX", NULL);
	int fd = g_mkstemp_full(temp, O_WRONLY | O_CLOEXEC, 0640);
	bool ok;

	if (fd < 0)
		return fail(error, errno, "cannot create a temporary file beside", path);
	ok = write_all(fd, temp, contents, len, error);
	if (ok && fsync(fd) != 0)
		ok = fail(error, errno, "cannot sync", temp);
	if (!close_checked(fd, temp, ok ? error : NULL))
		ok = false;
	if (ok && rename(temp, path) != 0)
		ok = fail(error, errno, "cannot rename a temporary file to", path);
	if (!ok) {
		g_unlink(temp);
		return false;
	}
	return durable_file_sync_dir(dir, error);
}

static bool
sync_path(const char *path, int flags, GError **error)
{
	int fd = open(path, flags | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return fail(error, errno, "cannot open", path);
	ok = fsync(fd) == 0 || fail(error, errno, "cannot sync", path);
	close(fd);
	return ok;
}

bool
durable_file_sync(const char *path, GError **error)
{
	return sync_path(path, O_RDONLY, error);
}

bool
durable_file_sync_dir(const char *path, GError **error)
{
	return sync_path(path, O_RDONLY | O_DIRECTORY, error);
}

/* copy_file_range lets the filesystem share or copy extents itself; read/write where it cannot. */
static bool
copy_bytes(int in, int out, const char *source, const char *dest, GError **error)
{
	char buffer[1 << 16];
	bool plain = false;

	for (;;) {
		ssize_t n = plain ? read(in, buffer, sizeof buffer)
				  : copy_file_range(in, NULL, out, NULL, 1 << 30, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && !plain && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
					errno == EOPNOTSUPP)) {
			plain = true;
			continue;
		}
		if (n < 0)
			return fail(error, errno, plain ? "cannot read" : "cannot copy to",
				    plain ? source : dest);
		if (n == 0)
			return true;
		if (plain && !write_all(out, dest, buffer, (gsize)n, error))
			return false;
	}
}

bool
durable_file_copy(const char *source, const char *dest, GError **error)
{
	int in = open(source, O_RDONLY | O_CLOEXEC);
	int out;
	bool ok;

	if (in < 0)
		return fail(error, errno, "cannot open", source);
	out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0) {
		int code = errno;

		close(in);
		return fail(error, code, "cannot create", dest);
	}
	ok = copy_bytes(in, out, source, dest, error);
	if (ok && fsync(out) != 0)
		ok = fail(error, errno, "cannot sync", dest);
	close(in);
	if (!close_checked(out, dest, ok ? error : NULL))
		ok = false;
	if (!ok)
		g_unlink(dest);
	return ok;
}

bool
durable_file_link_or_copy(const char *source, const char *dest, GError **error)
{
	if (link(source, dest) == 0)
		return true;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return fail(error, errno, "cannot link to", dest);
	return durable_file_copy(source, dest, error);
}
