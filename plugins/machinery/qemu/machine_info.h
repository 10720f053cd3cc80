/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A machine's machineinfo.json (VMCloak style, as tools/demo-guest writes
 * it): the base disk, the memory snapshot and the QEMU arguments that
 * restore it, with two placeholders the plugin fills in per run:
 *   %DISPOSABLE_DISK_PATH%  the run's qcow2 overlay of "disk"
 *   %TAP_INTERFACE%         the machine's `interface` key (a tap device)
 * Both sit inside QEMU option strings, so a ',' in them is written ',,'.
 *
 * Relative paths ("disk", "memory_snapshot" and the files of -kernel,
 * -initrd, -bios and -dtb) are relative to the directory of the
 * machineinfo.json itself, never to the daemon's working directory: a
 * snapshot generation written that way keeps working when its directory is
 * renamed or moved to another host. Loading resolves them all.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

/* A start argument whose value is a file QEMU reads (-kernel FILE ...). */
typedef struct {
	/* Index of the value (not of the option) in start_args. */
	guint index;
	/* The option as QEMU knows it: "-kernel", "-initrd", "-bios", "-dtb". */
	const char *option;
	/* The file was named relative to the description's directory. */
	bool relative;
} MachineInfoFile;

typedef struct {
	/* As given to machine_info_load, for messages. */
	char *path;
	/* Absolute directory of @path: where relative paths point. */
	char *dir;
	/* Absolute. */
	char *disk;
	/* Absolute, or NULL: a generation imported without memory (cold boot only). */
	char *memory_snapshot;
	/* As written in the file, for messages; the snapshot's magic decides. */
	char *memory_snapshot_format;
	int64_t memory_mb;
	/* Lower case, or NULL; it lives in the snapshot, so it cannot be changed. */
	char *mac_address;
	/* With the files of MachineInfoFile made absolute. */
	char **start_args;
	/* MachineInfoFile, in the order of start_args. */
	GArray *files;
	/* The whole document, for writing descriptions derived from it. */
	JsonObject *object;
} MachineInfo;

/* Parses @path; NULL with a message naming the file and the member on failure. */
MachineInfo *machine_info_load(const char *path, GError **error);
/* MachineInfo is reference counted: a run keeps the description it started from. */
MachineInfo *machine_info_ref(MachineInfo *info);
/* Drops a reference; NULL is fine. */
void machine_info_free(MachineInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MachineInfo, machine_info_free)

/* The start arguments QEMU must not get from machineinfo, because the plugin owns them. */
const char *machine_info_forbidden_arg(const char *arg);

/* "-kernel" for "-kernel" or "--kernel" when its value names a file QEMU reads, else NULL. */
const char *machine_info_file_option(const char *arg);

/*
 * The value of option @option ("-machine", "-cpu", "-m"; "--x" counts as
 * "-x", and "-M" as "-machine") in start_args, the last one if repeated,
 * or NULL.
 */
const char *machine_info_option(const MachineInfo *info, const char *option);

/*
 * start_args with the placeholders filled in and the accelerator of
 * `-machine ...,accel=X` replaced by @accelerator (or `-accel` appended
 * when none is named). @tap may be NULL when no argument needs it; else
 * an error names the placeholder.
 */
GPtrArray *machine_info_start_args(const MachineInfo *info, const char *overlay, const char *tap,
				   const char *accelerator, GError **error);
