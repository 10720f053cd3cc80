/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may open a memory template's RAM file (memory_template.h) besides the
 * daemon's user: the QEMU user of each machine that restores from its base
 * (qemu_identity.h), each by a POSIX ACL entry of its own (user:UID:rw-).
 * Never the group's or other's bits (the file stays 0600 in its mode), so
 * the QEMU of a machine of another base cannot open it, and no shared group
 * makes every QEMU a reader of every template.
 *
 * Read-write, not read: QEMU 7.2 opens a share=off RAM file O_RDWR (its
 * `readonly` maps the guest RAM read-only as well), and it reopens the
 * descriptor the plugin hands it (/proc/self/fd/N) with its own uid. Its
 * mapping is private, so only a QEMU taken over by its guest could write
 * the file; the template's record (inode, size, ctime) then no longer
 * matches and it is rebuilt before any later restore.
 *
 * The entries are set on the new RAM file before the template's record
 * takes its ctime, so granting never looks like tampering; a machine of the
 * base whose uid is not among them (one added since) makes the template be
 * rebuilt for the machines there are now.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Gives each of @uids (@n of them) read-write access to @path through its ACL, and no one else. */
bool template_access_grant(const char *path, const uint32_t *uids, guint n, GError **error);

/* The first of @uids that @path's ACL does not give read-write access, or -1 when all have it. */
int64_t template_access_missing(const char *path, const uint32_t *uids, guint n);
