/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU command line of a run, from a description's start_args:
 *  - the placeholders filled in (machine_info.h);
 *  - the accelerator: the plugin's `accelerator` setting wins. The accel=
 *    of `-machine` is replaced; `-enable-kvm` and `-accel X` are dropped
 *    (several accelerators are tried in turn by QEMU, so a kept one would
 *    quietly run the guest elsewhere), and `-accel SETTING` is appended;
 *  - the network: every `-netdev` QEMU would make a tap for (`tap` with an
 *    ifname, `bridge`) can be given a descriptor instead (`tap,fd=N`). A
 *    bridge netdev must be: it needs QEMU's setuid bridge helper, which a
 *    QEMU that runs unprivileged cannot use, so the plugin makes the tap and
 *    attaches it to the bridge itself (tap_device.h);
 *  - the RAM: for a memory template (memory_template.h), a
 *    `memory-backend-file` named like the block plain `-m` makes (pc.ram),
 *    so a stream saved without it loads into it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "machine_info.h"

/* A `-netdev` of start_args that asks for a tap device. */
typedef struct {
	/* Index of the option's value in start_args. */
	guint index;
	/* Its id=, or NULL. */
	char *id;
	/* type=bridge: QEMU's bridge helper would make the tap and add it to @bridge. */
	bool bridge;
	/* br= of a bridge netdev (QEMU's default: br0); NULL for a tap. */
	char *bridge_name;
	/* Options kept when the netdev is given a descriptor (vnet_hdr=, vhost=, ...), or "". */
	char *kept;
} QemuNetdev;

/* The tap and bridge netdevs of start_args, in order (QemuNetdev *, freed with the array). */
GPtrArray *qemu_netdevs(const MachineInfo *info);

/* How to build the command line. */
typedef struct {
	/* The run's overlay, for %DISPOSABLE_DISK_PATH%. */
	const char *overlay;
	/* The machine's interface, for %TAP_INTERFACE%; NULL when it has none. */
	const char *tap;
	const char *accelerator;
	/*
	 * One per qemu_netdevs() entry: the descriptor number QEMU gets for
	 * its tap, or -1 to keep the netdev as written (a bridge netdev must
	 * get one). NULL: every entry -1.
	 */
	const int *netdev_fds;
	/* The guest RAM as this file (a template), or NULL for anonymous memory. */
	const char *memory_file;
	/* @memory_file mapped shared (QEMU writes into it) rather than private. */
	bool memory_shared;
	/* RAM size for @memory_file, in MiB. */
	int64_t memory_mb;
} QemuArgsSpec;

/* The arguments (without the QEMU binary), or NULL with @error naming the file and the problem. */
GPtrArray *qemu_args_build(const MachineInfo *info, const QemuArgsSpec *spec, GError **error);

/*
 * What start_args ask of the accelerator that the `accelerator` setting
 * overrides ("-enable-kvm", "-accel kvm", "accel=kvm"), comma-separated,
 * or NULL when they ask for none or for @accelerator only.
 */
char *qemu_args_accelerator_override(const MachineInfo *info, const char *accelerator);

/*
 * Why @info's guest cannot restore from a memory template (a balloon or
 * virtio-mem device would punch holes into the file, its RAM has a backend
 * of its own, memory hot-plug), or NULL when it can.
 */
const char *qemu_args_template_obstacle(const MachineInfo *info);

/* A start argument the plugin cannot run (`-nic bridge`, `-net bridge`), said why; else NULL. */
char *qemu_args_unsupported(const MachineInfo *info);
