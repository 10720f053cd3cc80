/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A snapshot generation of the libvirt machinery, as its directory holds
 * it: libvirt keeps the snapshot itself (disk and memory, inside the
 * domain's qcow2 images on the hypervisor's host); the directory only names
 * it, in LV_GENERATION_FILE:
 *
 *   { "dsn": "qemu:///system", "domain": "win10", "memory": true,
 *     "snapshot": "nestbox-gen-win10-20250101T120000Z-1a2b3c4d" }
 *
 * Pure: no connection behind it, so it is tested without a hypervisor.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define LV_GENERATION_FILE "libvirt-generation.json"

/*
 * Names of the snapshots snapshot_commit makes begin with this, so that a
 * domain's "current snapshot" (generation 0 of a machine without a
 * `snapshot` key) can be told from the generations made on top of it.
 */
#define LV_GENERATION_PREFIX "nestbox-gen-"

typedef struct {
	char *dsn;
	char *domain;
	char *snapshot;
	/* Whether the snapshot holds the guest's memory (false: it boots from disk). */
	bool memory;
} LvGeneration;

void lv_generation_clear(LvGeneration *gen);

/*
 * Reads @dir/LV_GENERATION_FILE into @gen. G_FILE_ERROR_NOENT when there
 * is none; G_FILE_ERROR_INVAL, naming the file and the member, when it is
 * not what lv_generation_write writes.
 */
bool lv_generation_read(const char *dir, LvGeneration *gen, GError **error);

/*
 * Writes @gen to @dir/LV_GENERATION_FILE: through a temporary file that is
 * synced and renamed, then the directory is synced, so the file is either
 * absent or complete, even after a crash.
 */
bool lv_generation_write(const char *dir, const LvGeneration *gen, GError **error);

/* A new snapshot name for a generation of @machine: prefix, machine, UTC time, random. */
char *lv_generation_snapshot_name(const char *machine);
