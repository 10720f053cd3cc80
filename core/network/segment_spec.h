/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A segment's settings checked and turned into numbers: the uplink /30s
 * cut from network.uplink_prefix, and what each segment gets of them.
 */
#pragma once

#include <glib.h>

#include "segment.h"

typedef struct {
	const char *machine;
	const char *host_address;
	const char *uplink_prefix;
	/* The uplink prefix's first address and length, host byte order. */
	guint32 uplink_base;
	guint uplink_length;
	/* How many /30s it holds. */
	guint capacity;
} NbxSegmentPlan;

/* Checks @spec and fills @plan (which points into @spec). */
gboolean nbx_segment_plan(const NbxSegmentSpec *spec, NbxSegmentPlan *plan, GError **error);

/* Address @host (1: outside, 2: inside) of segment @index's /30, "A.B.C.D[/30]". */
char *nbx_segment_plan_uplink_address(const NbxSegmentPlan *plan, guint index, guint host,
				      gboolean with_length);
