/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A machine's machineinfo.json: the base disk, the memory snapshot and the
 * QEMU arguments that restore it, with two placeholders the plugin fills in
 * per run:
 *   %DISPOSABLE_DISK_PATH%  the run's qcow2 overlay of "disk"
 *   %TAP_INTERFACE%         the machine's `interface` key (a tap device)
 * Both sit inside QEMU option strings, so a ',' in them is written ',,'.
 *
 * Two shapes are read. The flat one (tools/demo-guest writes it, and every
 * generation the plugin writes) has the members at the top. VMCloak's
 * (its machineconf.py) wraps them:
 *   {"vmcloak_version": ..., "machinery": "qemu", "machinery_version": ...,
 *    "machine": {"name", "ip", "agent_port", "os_name", "os_version",
 *                "architecture", "tags", "bridge", "mac", "gateway",
 *                "netmask", "disk", "memory_snapshot", "start_args"}}
 * where "mac" is the guest's MAC and "machinery" must be "qemu". Messages
 * name a member as the file has it ("machine.disk" in VMCloak's shape).
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
	/* "machine." in VMCloak's shape, "" in the flat one: the members' place, for messages. */
	const char *prefix;
	/* Absolute. */
	char *disk;
	/* Absolute, or NULL: a generation imported without memory (cold boot only). */
	char *memory_snapshot;
	/* As written in the file, for messages; the snapshot's magic decides. */
	char *memory_snapshot_format;
	int64_t memory_mb;
	/* Lower case, or NULL; it lives in the snapshot, so it cannot be changed. */
	char *mac_address;
	/*
	 * The MAC of the host side of the guest's network (the bridge or tap
	 * holding the host's address) when the memory was saved: what the
	 * guest's ARP cache holds. Lower case, or NULL when not recorded.
	 */
	char *host_mac;
	/* With the files of MachineInfoFile made absolute. */
	char **start_args;
	/* MachineInfoFile, in the order of start_args. */
	GArray *files;
	/* The machine's members (VMCloak's "machine", or the flat document). */
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

/* "-machine" for "--machine" and "-M"; the name QEMU gives option @arg. */
const char *machine_info_option_name(const char *arg);

/*
 * The value of option @option ("-machine", "-cpu", "-m"; "--x" counts as
 * "-x", and "-M" as "-machine") in start_args, the last one if repeated,
 * or NULL.
 */
const char *machine_info_option(const MachineInfo *info, const char *option);

/*
 * The guest's RAM in MiB: memory_mb of the description, else its `-m`
 * ("256", "1G", "size=4G"). 0 when there is no `-m` (QEMU's default then)
 * or it says something else (a unit this does not know).
 */
int64_t machine_info_memory_mb(const MachineInfo *info);
