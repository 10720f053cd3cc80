/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SEEK_DATA, SEEK_HOLE */
#define _GNU_SOURCE
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child_process.h"

/* ".blank-PATHKEY-" of @base: what every blank of that path starts with. */
static char *
blank_prefix(const char *base)
{
	g_autofree char *key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, base, -1);

	key[16] = '\0';
	return g_strdup_printf(".blank-%s-", key);
}

/*
 * The blank overlay of @base as it is now: the overlay qemu-img makes,
 * named after the base's path and identity, so a changed base gets a new
 * one. NULL with @err when it cannot be had.
 */
static char *
blank_path(const struct nbx_host *host, const char *dir, const char *base, struct nbx_error *err)
{
	g_autofree char *prefix = blank_prefix(base);
	g_autofree char *identity = NULL;
	g_autofree char *key = NULL;
	struct stat st;

	if (g_stat(base, &st) != 0) {
		host->error_set(host, err, errno == ENOENT ? NBX_ERROR_NOT_FOUND : NBX_ERROR_IO,
				"disk %s: %s", base, g_strerror(errno));
		return NULL;
	}
	identity = g_strdup_printf("%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st.st_dev,
				   (uintmax_t)st.st_ino, (intmax_t)st.st_size,
				   (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity, -1);
	key[16] = '\0';
	return g_strdup_printf("%s/%s%s.qcow2", dir, prefix, key);
}

/*
 * Removes the blanks of @base's path but @keep: made for what the base was
 * before. Only finished ones (NAME.qcow2): a temporary beside them is
 * another machine of the same disk making its blank right now.
 */
static void
remove_stale_blanks(const char *dir, const char *base, const char *keep)
{
	g_autofree char *prefix = blank_prefix(base);
	g_autofree char *keep_name = g_path_get_basename(keep);
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = NULL;

		if (!g_str_has_prefix(name, prefix) || !g_str_has_suffix(name, ".qcow2") ||
		    g_strcmp0(name, keep_name) == 0)
			continue;
		path = g_build_filename(dir, name, NULL);
		g_unlink(path);
	}
}

/* qemu-img's overlay of @base at @path (made under a temporary name, then renamed). */
static bool
make_blank(const struct nbx_host *host, const char *qemu_img, const char *path, const char *base,
	   int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *temporary = g_strconcat(path, ".XXXXXX", NULL);
	g_autofree char *log = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
			       "-o", "lazy_refcounts=on,cluster_size=2M", NULL, NULL };
	/* mkstemp reserves a unique name; qemu-img then writes over the empty file. */
	int fd = g_mkstemp_full(temporary, O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create a blank overlay in %s: %s",
				dir, g_strerror(errno));
		return false;
	}
	close(fd);
	argv[11] = temporary;
	log = g_strconcat(temporary, ".log", NULL);
	if (!child_process_run(host, "creating the disk overlay", argv, log, deadline_us, err) ||
	    g_rename(temporary, path) != 0) {
		if (err->code == NBX_ERROR_NONE)
			host->error_set(host, err, NBX_ERROR_IO, "cannot rename %s: %s", temporary,
					g_strerror(errno));
		g_unlink(log);
		g_unlink(temporary);
		return false;
	}
	g_unlink(log);
	remove_stale_blanks(dir, base, path);
	return true;
}

/* Copies the data of @in into @out, leaving holes as holes: a blank overlay is mostly holes. */
static bool
copy_sparse(int in, int out)
{
	struct stat st;
	char buffer[1 << 16];
	off_t data = 0;

	if (fstat(in, &st) != 0)
		return false;
	while ((data = lseek(in, data, SEEK_DATA)) >= 0) {
		off_t hole = lseek(in, data, SEEK_HOLE);

		if (hole < 0)
			return false;
		while (data < hole) {
			ssize_t got = pread(in, buffer, MIN((off_t)sizeof buffer, hole - data), data);

			if (got <= 0 || pwrite(out, buffer, (size_t)got, data) != got)
				return false;
			data += got;
		}
	}
	/* ENXIO: no data after the offset. */
	return errno == ENXIO && ftruncate(out, st.st_size) == 0;
}

char *
overlay_create(const struct nbx_host *host, const char *qemu_img, const char *blank_dir,
	       const char *dir, const char *machine, const char *base, int64_t deadline_us,
	       struct nbx_error *err)
{
	g_autofree char *blank = blank_path(host, blank_dir, base, err);
	g_autofree char *path = g_strdup_printf("%s/%s-XXXXXX.qcow2", dir, machine);
	int in, out;
	bool ok;

	if (blank == NULL ||
	    (!g_file_test(blank, G_FILE_TEST_IS_REGULAR) &&
	     !make_blank(host, qemu_img, blank, base, deadline_us, err)))
		return NULL;
	out = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
	if (out < 0) {
		host->error_set(host, err, NBX_ERROR_IO,
				"cannot create an overlay in %s: %s (check overlay_dir)", dir,
				g_strerror(errno));
		return NULL;
	}
	in = open(blank, O_RDONLY | O_CLOEXEC);
	ok = in >= 0 && copy_sparse(in, out);
	if (!ok)
		host->error_set(host, err, NBX_ERROR_IO, "cannot copy %s into %s: %s", blank, path,
				g_strerror(errno));
	if (in >= 0)
		close(in);
	close(out);
	if (!ok) {
		g_unlink(path);
		return NULL;
	}
	return g_steal_pointer(&path);
}

void
overlay_remove(const struct nbx_host *host, const char *path)
{
	if (path != NULL && g_unlink(path) != 0 && errno != ENOENT)
		host->log(host, NBX_LOG_WARNING, "cannot remove overlay %s: %s", path,
			  g_strerror(errno));
}
