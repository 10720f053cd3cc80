/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which user each machine's QEMU runs as (issue 18). Never root, and never
 * one uid for two machines: QEMUs of one uid may ptrace each other and read
 * each other's /proc/PID/mem, and QEMU's seccomp filter does not stop that.
 *
 * A machine's `qemu_user` (a name in the passwd database, its uid and
 * primary group) wins; otherwise the machine gets uid and gid
 * `qemu_uid_base` + its index in the plugin's `machines` list: a numeric
 * range that needs no user created. qemu_uid_base = 0 turns containment off
 * (QEMU runs as the daemon's user; --check says so). With accelerator kvm,
 * the `kvm` group is added, for /dev/kvm.
 *
 * The core's spawn switches to the user between fork and exec (struct
 * nbx_spawn uid/gid/groups): QEMU's own -runas would come after its seccomp
 * filter, which forbids it.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	/* 0 and 0: the daemon's own user (containment off). */
	uint32_t uid;
	uint32_t gid;
	uint32_t groups[1];
	uint32_t n_groups;
	/* What it is, for messages: "uid 850001" or "user nbx-qemu-1 (uid 1001)". */
	char description[96];
} QemuIdentity;

/*
 * Fills @identity for @machine; false with @err (naming the key) when its
 * qemu_user does not exist or is root, or the range overflows.
 */
bool qemu_identity_of(const struct nbx_host *host, int64_t uid_base, const char *accelerator,
		      const struct nbx_machine *machine, QemuIdentity *identity,
		      struct nbx_error *err);

/* Whether @identity is a contained one (not the daemon's user). */
bool qemu_identity_contained(const QemuIdentity *identity);

/*
 * Whether a file of @st's mode and owner can be read by @identity (other
 * bits, or owner or group): for --check's "cannot reach" reports.
 */
struct stat;
bool qemu_identity_can_read(const QemuIdentity *identity, const struct stat *st);
