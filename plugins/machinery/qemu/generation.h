/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A snapshot generation directory as the qemu machinery writes it:
 *   machineinfo.json  the description, naming the files below relatively
 *   disk.qcow2        the disk, flattened (no backing file)
 *   memory.zst        the guest's state, a QEMU migration stream, zstd
 *   fingerprint.json  what made it (fingerprint.h)
 * plus the files a relative -kernel/-initrd/-bios/-dtb of the description
 * named (an imported generation's kernel, say), which move along with it.
 * Files named by absolute paths (generation 0's kernel in its builder's
 * directory) stay where they are.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

#include "machine_info.h"

#define GENERATION_DESCRIPTION "machineinfo.json"
#define GENERATION_DISK "disk.qcow2"
#define GENERATION_MEMORY "memory.zst"

/* @dir/machineinfo.json loaded: NOT_FOUND when it is missing, INVALID when unusable. */
MachineInfo *generation_load(const struct nbx_host *host, const char *dir, struct nbx_error *err);

/*
 * Completes generation @dir, which holds GENERATION_DISK and
 * GENERATION_MEMORY already: the files @from names relatively (linked or
 * copied), and a description derived from @from naming them, with
 * @qemu_version (`--version`'s first line, or NULL) as what made it and
 * @host_mac (or NULL: @from's) as the host side the guest knows. All
 * fsynced, but not the directory (the caller syncs it last).
 */
bool generation_write(const struct nbx_host *host, const MachineInfo *from, const char *dir,
		      const char *qemu_version, const char *host_mac, struct nbx_error *err);

/*
 * Adopts @dir, into which an exported generation's files were unpacked by
 * base name: rewrites its description to name them so. @minimal: there is
 * no memory state; then @mac (or NULL) replaces the guest's MAC address,
 * which a full generation cannot change (it lives in the memory state).
 */
bool generation_import(const struct nbx_host *host, const char *machine, const char *dir,
		       bool minimal, const char *mac, struct nbx_error *err);
