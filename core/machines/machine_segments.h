/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network segments of the pool's machines (issue 18, segment.h): each
 * machine with `segment = true` gets its namespace when the daemon starts,
 * before any analysis can run, and loses it when the daemon exits. What a
 * daemon killed with -9 left is removed at the next start, before anything
 * new is made; segment.h decides what is provably ours.
 */
#pragma once

#include <glib.h>

#include "diagnostics.h"
#include "machine_pool.h"

/*
 * Checks every segmented machine's keys against @uplink_prefix (NULL: the
 * default) and that the prefix holds a /30 for each, touching nothing: what
 * `--check` and a reload report, at the machine's line.
 */
void nbx_machine_segments_check(NbxMachinePool *pool, const char *uplink_prefix,
				NbxDiagnostics *diagnostics);

/*
 * Removes every stale segment of this namespace (left by a dead daemon, or
 * of a machine no longer configured for one; @keep_extra, NULL-terminated
 * or NULL, names further machines to keep: those a reload still runs),
 * then makes (or re-lays) the segment of each machine of @pool that has
 * one. On failure the segments made by this call are removed again.
 */
gboolean nbx_machine_segments_bring_up(NbxMachinePool *pool, const char *uplink_prefix,
				       const char *const *keep_extra, GError **error);

/*
 * Removes every segment of this namespace: those of the current machines,
 * of machines a reload dropped, and any a dead daemon left. Failures are
 * logged; what stays is removed by the next start.
 */
void nbx_machine_segments_tear_down(void);

/* The NULL-terminated names of @pool's machines that have a segment (g_strfreev). */
char **nbx_machine_segments_names(NbxMachinePool *pool);
