/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A QEMU command line that needs no path the QEMU user could not open and
 * no privilege (issue 18). The plugin opens what QEMU needs and passes the
 * descriptors; every other descriptor of the daemon is closed in the child
 * (the core's spawn):
 *
 *   -netdev tap,...     fd=N (qemu_tap.h) instead of ifname/script; with
 *                       vhost=on also vhostfd=N of /dev/vhost-net
 *   the run's overlay   fd set 1 (-add-fd, read-write and read-only), its
 *                       backing file fd set 2 named as backing.file.filename:
 *                       QEMU reopens neither by path. A deeper backing chain
 *                       (a base with a backing file of its own) is still
 *                       opened by path, so it must be readable by the user
 *   -kernel, -initrd,   /proc/self/fd/N of a descriptor the plugin opened:
 *   -dtb PATH           no directory on the way must be searchable by the user;
 *                       a file the user may not read itself (/proc reopens
 *                       it) goes in as a copy in memory (a memfd)
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
/* Closes the plugin's copies (after the spawn, or on failure). */
void qemu_fds_free(QemuFds *fds);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QemuFds, qemu_fds_free)

/*
 * Rewrites @args for QEMU running as @identity (QEMU's argv with QEMU_CONFINE_OVERLAY where the overlay
 * goes, no terminating NULL yet) as above, opening into @fds: @overlay (its
 * real path; NULL: start_args name it by path, and no fd set is made) and
 * its backing @base (qcow2), the machine's tap when a -netdev tap asks for
 * one, and the boot files. False with @err naming the
 * file or option that failed.
 */
bool qemu_confine_args(const struct nbx_host *host, const struct nbx_machine *machine,
		       const QemuIdentity *identity, GPtrArray *args, const char *overlay,
		       const char *base, QemuFds *fds, struct nbx_error *err);

/* An option that start_args must not carry because confinement sets it, or NULL. */
const char *qemu_confine_forbidden_arg(const char *arg);
