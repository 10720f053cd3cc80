/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "child_process.h"

char *
overlay_create(const struct nbx_host *host, const char *qemu_img, const char *dir,
	       const char *machine, const char *base, int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *path = g_strdup_printf("%s/%s-XXXXXX.qcow2", dir, machine);
	g_autofree char *log = NULL;
	const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
			       "-o", "lazy_refcounts=on,cluster_size=2M", NULL, NULL };
	/* mkstemp reserves a unique name; qemu-img then writes over the empty file. */
	int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0) {
		host->error_set(host, err, NBX_ERROR_IO,
				"cannot create an overlay in %s: %s (check overlay_dir)", dir,
				g_strerror(errno));
		return NULL;
	}
	close(fd);
	argv[11] = path;
	log = g_strconcat(path, ".log", NULL);
	ok = child_process_run(host, "creating the disk overlay", argv, log, deadline_us, err);
	g_unlink(log);
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
