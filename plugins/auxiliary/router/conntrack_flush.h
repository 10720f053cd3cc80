/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Forgetting a guest's connections (libnftables cannot): a connection the
 * guest had open would otherwise outlive its analysis as "established"
 * and pass the next analysis's rules. Works in the namespace of the calling
 * thread.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

/* Every entry of this namespace (a segment belongs to one machine). */
bool conntrack_flush_all(const struct nbx_host *host, struct nbx_error *err);

/* Every entry whose original source is @ipv4 (a guest, or a segment's NATed uplink). */
bool conntrack_flush_source(const struct nbx_host *host, const char *ipv4, struct nbx_error *err);
