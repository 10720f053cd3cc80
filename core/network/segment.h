/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network segments (issue 18, /work/wt/SEGMENTS.md): a network namespace per
 * machine, so machines restored from one base, with the same IP and MAC,
 * run at the same time. Inside /run/netns/nbx-NAME:
 *
 *   lo       up
 *   nbx0     bridge; the guest's host side: host_address, host_mac; the
 *            machinery's tap (nbxtap0) is enslaved to it
 *   nbx-up   veth to nbxu<N> in the daemon's namespace; a /30 of the
 *            uplink prefix (segment N: .4N+1 outside, .4N+2 inside);
 *            the default route goes through it; IPv4 forwarding on;
 *            br_netfilter off (so nothing is filtered before nbx0 sees it)
 *
 * Links, addresses and routes are made with libnl-route-3, never `ip`.
 *
 * Whose segment is whose: a namespace named nbx-* belongs to THIS daemon's
 * network namespace when its nbx-up's peer is an nbxu* link here. That is
 * checked, not assumed from the name, so a start-up never removes the
 * segments of a daemon in another namespace, nor a namespace someone else
 * named nbx-something. A segment this process did not make itself was left
 * by a daemon that died: it is stale.
 *
 * Thread-safe: every call takes one process-wide lock.
 */
#pragma once

#include <glib.h>

#include "netns.h"

#define NBX_SEGMENT_NETNS_PREFIX "nbx-"
#define NBX_SEGMENT_BRIDGE "nbx0"
#define NBX_SEGMENT_TAP "nbxtap0"
#define NBX_SEGMENT_UPLINK "nbx-up"
#define NBX_SEGMENT_OUTER_PREFIX "nbxu"
#define NBX_SEGMENT_DEFAULT_UPLINK_PREFIX "100.64.0.0/16"

typedef struct {
	/* The machine's name: the namespace is nbx-NAME. [A-Za-z0-9_.-] only. */
	const char *name;
	/* The guest subnet's host side, "ADDRESS/LENGTH" (IPv4), e.g. "10.213.0.1/24". */
	const char *host_address;
	/* The bridge's MAC (the one the guest was saved with), or NULL: the kernel's. */
	const char *host_mac;
	/* nestbox.conf network.uplink_prefix, or NULL for 100.64.0.0/16. */
	const char *uplink_prefix;
} NbxSegmentSpec;

typedef struct {
	char *name;           /* nbx-NAME */
	char *netns_path;     /* /run/netns/nbx-NAME: struct nbx_machine.network_namespace */
	guint index;          /* N */
	char *outer_link;     /* nbxu<N>, in the daemon's namespace */
	char *outer_address;  /* "100.64.0.(4N+1)/30" */
	char *inner_address;  /* "100.64.0.(4N+2)/30" */
} NbxSegment;

void nbx_segment_free(NbxSegment *segment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSegment, nbx_segment_free)

/*
 * Checks @spec without touching anything; the message names the key
 * (`host_address`, `host_mac`, `network.uplink_prefix`) so a config check
 * can report it at the right line.
 */
gboolean nbx_segment_spec_check(const NbxSegmentSpec *spec, GError **error);

/*
 * Makes the segment of @spec->name as described above, in the calling
 * thread's namespace (the daemon's). A segment this process made already is
 * brought back to the layout (addresses, routes, forwarding) and kept with
 * what runs in it; one left by a dead daemon is removed and made anew; a
 * namespace of that name that is not a segment of this namespace is refused
 * (NBX_NETWORK_ERROR_EXISTS). On failure nothing of it is left.
 */
NbxSegment *nbx_segment_ensure(const NbxSegmentSpec *spec, GError **error);

/* Removes the segment of machine @name (namespace, uplink). Absent: success. */
gboolean nbx_segment_remove(const char *name, GError **error);

/*
 * Removes every segment of this namespace that is stale: made by another
 * (dead) process, or made by this one for a machine not in @keep_names
 * (NULL-terminated machine names; NULL for none), and every nbxu* link here
 * that belongs to no segment kept. All are tried; the first error is
 * returned.
 */
gboolean nbx_segments_remove_stale(const char *const *keep_names, GError **error);

/*
 * Enslaves @ifname, a link inside machine @name's segment, to its bridge
 * and sets it up (for a tap or veth the caller made in the namespace).
 */
gboolean nbx_segment_attach(const char *name, const char *ifname, GError **error);
