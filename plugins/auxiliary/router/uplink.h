/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How a segment meets the daemon's namespace, found from the segment's
 * layout (SEGMENTS.md): nbx-up inside holds the /30's second address, and
 * the daemon-side link holding the first is the segment's uplink. Each
 * call looks in the namespace of the calling thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The IPv4 address of @ifname here, "A.B.C.D", in @out. */
bool uplink_ipv4_of(const char *ifname, char *out, size_t size);

/* The link here that holds the address one below @inner ("A.B.C.D"), in @ifname. */
bool uplink_outer_link(const char *inner, char *ifname, size_t size);
