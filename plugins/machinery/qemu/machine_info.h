/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A machine's machineinfo.json (VMCloak style, as tools/demo-guest writes
 * it): the base disk, the memory snapshot and the QEMU arguments that
 * restore it, with two placeholders the plugin fills in per run:
 *   %DISPOSABLE_DISK_PATH%  the run's qcow2 overlay of "disk"
 *   %TAP_INTERFACE%         the machine's `interface` key (a tap device)
 * Both sit inside QEMU option strings, so a ',' in them is written ',,'.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
	char *path;
	char *disk;
	char *memory_snapshot;
	/* As written in the file, for messages; the snapshot's magic decides. */
	char *memory_snapshot_format;
	int64_t memory_mb;
	/* Lower case, or NULL; it lives in the snapshot, so it cannot be changed. */
	char *mac_address;
	char **start_args;
} MachineInfo;

/* Parses @path; NULL with a message naming the file and the member on failure. */
MachineInfo *machine_info_load(const char *path, GError **error);
void machine_info_free(MachineInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MachineInfo, machine_info_free)

/* The start arguments QEMU must not get from machineinfo, because the plugin owns them. */
const char *machine_info_forbidden_arg(const char *arg);

/*
 * start_args with the placeholders filled in and the accelerator of
 * `-machine ...,accel=X` replaced by @accelerator (or `-accel` appended
 * when none is named). @tap may be NULL when no argument needs it; else
 * an error names the placeholder.
 */
GPtrArray *machine_info_start_args(const MachineInfo *info, const char *overlay, const char *tap,
				   const char *accelerator, GError **error);
