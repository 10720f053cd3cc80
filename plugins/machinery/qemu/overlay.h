/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-run disk: a qcow2 overlay of the machine's base disk, so every run
 * starts from the same disk and the base is never written.
 */
#pragma once

#include <nestbox/plugin.h>

/*
 * Creates a fresh overlay of @base in @dir, named after @machine with a
 * unique suffix, with qemu-img from @qemu_img. Returns its path (g_free)
 * or NULL with @err set and nothing left behind.
 */
char *overlay_create(const struct nbx_host *host, const char *qemu_img, const char *dir,
		     const char *machine, const char *base, int64_t deadline_us,
		     struct nbx_error *err);

/* Removes @path; a missing file is fine. Logs, never fails: a leftover is not worth a failed stop. */
void overlay_remove(const struct nbx_host *host, const char *path);
