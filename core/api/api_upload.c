/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_upload.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "sha256.h"

#define UPLOAD_PREFIX ".upload-"

struct _NbxApiUpload {
	char *path;
	int fd;
	guint64 size;
	NbxSha256 *sum;
	char *sha256;
	gboolean adopted;
};

static gboolean
set_errno_error(GError **error, const char *what, const char *path)
{
	int saved = errno;

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot %s %s: %s", what, path,
		    g_strerror(saved));
	return FALSE;
}

NbxApiUpload *
nbx_api_upload_new(const char *dir, GError **error)
{
	g_autoptr(NbxApiUpload) upload = g_new0(NbxApiUpload, 1);

	upload->fd = -1;
	if (g_mkdir_with_parents(dir, 0750) != 0) {
		set_errno_error(error, "create", dir);
		return NULL;
	}
	upload->path = g_build_filename(dir, UPLOAD_PREFIX "XXXXXX", NULL);
	upload->fd = g_mkstemp_full(upload->path, O_RDWR | O_CLOEXEC, 0640);
	if (upload->fd < 0) {
		set_errno_error(error, "create a file in", dir);
		g_clear_pointer(&upload->path, g_free);
		return NULL;
	}
	upload->sum = nbx_sha256_new();
	return g_steal_pointer(&upload);
}

gboolean
nbx_api_upload_write(NbxApiUpload *upload, const void *data, gsize length, GError **error)
{
	const char *p = data;

	g_return_val_if_fail(upload->sum != NULL, FALSE);
	nbx_sha256_update(upload->sum, data, length);
	while (length > 0) {
		ssize_t n = write(upload->fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return set_errno_error(error, "write", upload->path);
		p += n;
		length -= (gsize)n;
		upload->size += (guint64)n;
	}
	return TRUE;
}

gboolean
nbx_api_upload_finish(NbxApiUpload *upload, GError **error)
{
	g_return_val_if_fail(upload->sum != NULL, FALSE);
	if (fsync(upload->fd) != 0)
		return set_errno_error(error, "sync", upload->path);
	upload->sha256 = nbx_sha256_finish(g_steal_pointer(&upload->sum));
	return TRUE;
}

const char *
nbx_api_upload_path(NbxApiUpload *upload)
{
	return upload->path;
}

guint64
nbx_api_upload_size(NbxApiUpload *upload)
{
	return upload->size;
}

const char *
nbx_api_upload_sha256(NbxApiUpload *upload)
{
	return upload->sha256;
}

void
nbx_api_upload_adopt(NbxApiUpload *upload)
{
	upload->adopted = TRUE;
}

void
nbx_api_upload_free(NbxApiUpload *upload)
{
	if (upload == NULL)
		return;
	if (upload->fd >= 0)
		close(upload->fd);
	if (upload->path != NULL && !upload->adopted && g_unlink(upload->path) != 0 &&
	    errno != ENOENT)
		g_warning("cannot remove the partial upload %s: %s", upload->path,
			  g_strerror(errno));
	nbx_sha256_free(upload->sum);
	g_free(upload->sha256);
	g_free(upload->path);
	g_free(upload);
}

void
nbx_api_upload_clean_dir(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = NULL;

		if (!g_str_has_prefix(name, UPLOAD_PREFIX))
			continue;
		path = g_build_filename(dir, name, NULL);
		if (g_unlink(path) == 0)
			g_message("removed %s, an upload a previous nestboxd did not finish", path);
	}
}
