/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* memfd_create */
#include "qemu_confine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKING_FDSET "/dev/fdset/2"

QemuFds *
qemu_fds_new(int first_child_fd)
{
	QemuFds *fds = g_new0(QemuFds, 1);

	fds->maps = g_array_new(FALSE, TRUE, sizeof(struct nbx_fd_map));
	fds->next_child_fd = first_child_fd;
	return fds;
}

void
qemu_fds_free(QemuFds *fds)
{
	if (fds == NULL)
		return;
	for (guint i = 0; i < fds->maps->len; i++)
		close(g_array_index(fds->maps, struct nbx_fd_map, i).parent_fd);
	g_array_unref(fds->maps);
	g_free(fds);
}

int
qemu_fds_pass(QemuFds *fds, int fd)
{
	struct nbx_fd_map map = { .parent_fd = fd, .child_fd = fds->next_child_fd++ };

	g_array_append_val(fds->maps, map);
	return map.child_fd;
}

static int
open_file(const struct nbx_host *host, const char *path, int flags, const char *what,
	  struct nbx_error *err)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		host->error_set(host, err, errno == ENOENT ? NBX_ERROR_NOT_FOUND : NBX_ERROR_IO,
				"%s %s: %s", what, path, g_strerror(errno));
	return fd;
}

/* A copy of @fd's file in memory (a memfd: anyone may reopen it); takes @fd. */
static int
copy_to_memory(const struct nbx_host *host, int fd, const char *path, struct nbx_error *err)
{
	int copy = memfd_create("nbx-boot-file", MFD_CLOEXEC);
	ssize_t n = 0;

	if (copy >= 0)
		/* sendfile, not copy_file_range: that one refuses a memfd (EXDEV). */
		while ((n = sendfile(copy, fd, NULL, 1 << 24)) > 0)
			;
	if (copy < 0 || n < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot copy %s for QEMU: %s", path,
				g_strerror(errno));
		if (copy >= 0)
			close(copy);
		copy = -1;
	}
	close(fd);
	return copy;
}

/*
 * A boot file QEMU reopens through /proc/self/fd/N: the reopen checks the
 * file's own mode against QEMU's user (not the directories on the way). One
 * that user may not read (a generation's files, kept 0600 by the core) goes
 * in as a copy in memory, which dies with QEMU.
 */
static char *
boot_file(const struct nbx_host *host, const QemuIdentity *identity, const char *option,
	  const char *path, QemuFds *fds, struct nbx_error *err)
{
	int fd = open_file(host, path, O_RDONLY, option, err);
	struct stat st;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !qemu_identity_can_read(identity, &st))
		fd = copy_to_memory(host, fd, path, err);
	return fd < 0 ? NULL : g_strdup_printf("/proc/self/fd/%d", qemu_fds_pass(fds, fd));
}

/* The value of the option after @i, for an option that opens something; else NULL. */
static char *
confine_value(const struct nbx_host *host, const QemuIdentity *identity, const char *option, const char *value, QemuFds *fds,
	      struct nbx_error *err, bool *failed)
{
	const char *name = option[0] == '-' && option[1] == '-' ? option + 1 : option;

	*failed = false;
	if ((strcmp(name, "-nic") == 0 || strcmp(name, "-net") == 0) &&
	    g_str_has_prefix(value, "tap")) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"%s %s: give the tap as -netdev tap,id=...,ifname=%%TAP_INTERFACE%% "
				"and a -device: the plugin hands it to QEMU as a descriptor",
				option, value);
		*failed = true;
		return NULL;
	}
	if (strcmp(name, "-kernel") == 0 || strcmp(name, "-initrd") == 0 ||
	    strcmp(name, "-dtb") == 0) {
		char *file = boot_file(host, identity, option, value, fds, err);

		*failed = file == NULL;
		return file;
	}
	if (strcmp(name, "-drive") == 0 && strstr(value, "file=" QEMU_CONFINE_OVERLAY) != NULL)
		/* Named, so QEMU does not reopen the backing file by its path. */
		return g_strconcat(value, ",backing.file.filename=" BACKING_FDSET, NULL);
	return NULL;
}

/* A path as a QEMU option value: "," doubled. */
static char *
escape_commas(const char *value)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", -1);

	return g_strjoinv(",,", parts);
}

/*
 * -add-fd for the overlay (read-write and read-only: a reopen may want
 * either) and its base; the opaque string is the file's path, so `ps` and
 * query-fdsets still say which file QEMU has.
 */
static bool
add_disk_fds(const struct nbx_host *host, GPtrArray *args, const char *overlay,
	     const char *base, QemuFds *fds, struct nbx_error *err)
{
	const struct {
		const char *path;
		int flags;
		int set;
		const char *what;
	} files[] = {
		{ overlay, O_RDWR, 1, "overlay" },
		{ overlay, O_RDONLY, 1, "overlay" },
		{ base, O_RDONLY, 2, "disk" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		int fd = open_file(host, files[i].path, files[i].flags, files[i].what, err);
		g_autofree char *opaque = NULL;

		if (fd < 0)
			return false;
		opaque = escape_commas(files[i].path);
		g_ptr_array_insert(args, 1, g_strdup("-add-fd"));
		g_ptr_array_insert(args, 2, g_strdup_printf("fd=%d,set=%d,opaque=%s",
							     qemu_fds_pass(fds, fd), files[i].set, opaque));
	}
	return true;
}

bool
qemu_confine_args(const struct nbx_host *host, const QemuIdentity *identity, GPtrArray *args, const char *overlay,
		  const char *base, QemuFds *fds, struct nbx_error *err)
{
	for (guint i = 1; i + 1 < args->len; i++) {
		const char *option = g_ptr_array_index(args, i);
		bool failed;
		char *value;

		/* Not stepping over values: an option without one would hide the next. */
		if (option[0] != '-')
			continue;
		value = confine_value(host, identity, option,
				      g_ptr_array_index(args, i + 1), fds, err, &failed);
		if (failed)
			return false;
		if (value != NULL) {
			g_free(g_ptr_array_index(args, i + 1));
			g_ptr_array_index(args, i + 1) = value;
			i++;
		}
	}
	if (overlay != NULL && !add_disk_fds(host, args, overlay, base, fds, err))
		return false;
	g_ptr_array_add(args, g_strdup("-sandbox"));
	g_ptr_array_add(args, g_strdup(QEMU_CONFINE_SANDBOX));
	return true;
}

char *
qemu_confine_memory_file(const struct nbx_host *host, const char *path, QemuFds *fds,
			 struct nbx_error *err)
{
	/* Read-write: QEMU 7.2 reopens a share=off RAM file so (memory_template.h). */
	int fd = open_file(host, path, O_RDWR, "memory template", err);

	return fd < 0 ? NULL : g_strdup_printf("/proc/self/fd/%d", qemu_fds_pass(fds, fd));
}

const char *
qemu_confine_forbidden_arg(const char *arg)
{
	static const char *const forbidden[] = { "-sandbox", "-runas", "-chroot", "-add-fd",
						 NULL };
	const char *name = arg[0] == '-' && arg[1] == '-' ? arg + 1 : arg;

	for (size_t i = 0; forbidden[i] != NULL; i++)
		if (strcmp(name, forbidden[i]) == 0)
			return forbidden[i];
	return NULL;
}
