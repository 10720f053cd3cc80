/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A QEMU command line that needs no path the QEMU user could not open and
 * no privilege (issue 18). The plugin opens what QEMU needs and passes the
 * descriptors; every other descriptor of the daemon is closed in the child
 * (the core's spawn):
 *
 *   -netdev tap/bridge  fd=N of a tap the plugin opened (qemu_tap.h,
 *                       tap_device.h; qemu_args.h rewrites the option)
 *   the run's overlay   fd set 1 (-add-fd, read-write and read-only), its
 *                       backing file fd set 2 named as backing.file.filename:
 *                       QEMU reopens neither by path. A deeper backing chain
 *                       (a base with a backing file of its own) is still
 *                       opened by path, so it must be readable by the user
 *   -kernel, -initrd,   /proc/self/fd/N of a descriptor the plugin opened:
 *   -dtb PATH           no directory on the way must be searchable by the user;
 *                       a file the user may not read itself (/proc reopens
 *                       it) goes in as a copy in memory (a memfd)
 *   a template's RAM    mem-path=/proc/self/fd/N of a descriptor the plugin
 *                       opened (template_access.h says who may reopen it)
 *
 * and `-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
 * resourcecontrol=deny` (QEMU's seccomp filter: no setuid, no fork/exec,
 * no scheduler or affinity changes, no obsolete system calls).
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "qemu_identity.h"

#define QEMU_CONFINE_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
/* What the overlay's place in start_args becomes: the fd set's path. */
#define QEMU_CONFINE_OVERLAY "/dev/fdset/1"

/* The descriptors a confined launch hands QEMU; they are the plugin's until freed. */
typedef struct {
	/* struct nbx_fd_map, for struct nbx_spawn. */
	GArray *maps;
	/* The next child descriptor number to give. */
	int next_child_fd;
} QemuFds;

/* Child descriptors from @first_child_fd up (those below are taken: stdio, QMP). */
QemuFds *qemu_fds_new(int first_child_fd);
/* Takes @fd; returns the number QEMU will know it by. */
int qemu_fds_pass(QemuFds *fds, int fd);
/* Closes the plugin's copies (after the spawn, or on failure). */
void qemu_fds_free(QemuFds *fds);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QemuFds, qemu_fds_free)

/*
 * Rewrites @args for QEMU running as @identity (QEMU's argv with QEMU_CONFINE_OVERLAY where the overlay
 * goes, no terminating NULL yet) as above, opening into @fds: @overlay (its
 * real path; NULL: start_args name it by path, and no fd set is made) and
 * its backing @base (qcow2) and the boot files. False with @err naming the
 * file or option that failed.
 */
bool qemu_confine_args(const struct nbx_host *host, const QemuIdentity *identity, GPtrArray *args, const char *overlay,
		       const char *base, QemuFds *fds, struct nbx_error *err);

/*
 * A memory template's RAM file (@path) opened for QEMU into @fds: what its
 * mem-path becomes ("/proc/self/fd/N"), or NULL with @err.
 */
char *qemu_confine_memory_file(const struct nbx_host *host, const char *path, QemuFds *fds,
			       struct nbx_error *err);

/* An option that start_args must not carry because confinement sets it, or NULL. */
const char *qemu_confine_forbidden_arg(const char *arg);
