/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-run disk: a qcow2 overlay of the machine's base disk, so every run
 * starts from the same disk and the base is never written.
 *
 * qemu-img takes about 0.1 s to write one (more on a busy machine), which
 * was most of a restore's fixed cost: it makes one blank overlay per base
 * disk (in a directory of blanks, named after the base's path and
 * identity, so a changed base gets a new one), and each run's overlay is a
 * copy of it (a few kilobytes of data; the rest are holes). A qcow2 image
 * holds nothing unique to itself, so a copy is what qemu-img would write.
 */
#pragma once

#include <nestbox/plugin.h>

/*
 * Creates a fresh overlay of @base in @dir, named after @machine with a
 * unique suffix: a copy of @base's blank in @blank_dir, which qemu-img
 * (@qemu_img) makes the first time. Returns its path (g_free) or NULL
 * with @err set and nothing left behind.
 */
char *overlay_create(const struct nbx_host *host, const char *qemu_img, const char *blank_dir,
		     const char *dir, const char *machine, const char *base, int64_t deadline_us,
		     struct nbx_error *err);

/* Removes @path; a missing file is fine. Logs, never fails: a leftover is not worth a failed stop. */
void overlay_remove(const struct nbx_host *host, const char *path);
