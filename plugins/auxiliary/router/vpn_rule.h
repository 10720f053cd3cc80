/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `vpn` route's routing table: an IPv4 policy rule "from the guest's
 * interface (and source), look up TABLE" in the daemon's namespace, made
 * with libnl-route-3 (nftables marks packets but cannot pick a table).
 * Rules are tagged with a protocol number of nestbox's own, so those a
 * killed daemon left are found and removed.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>
#include <stdint.h>

/* @source: NULL for any. */
bool vpn_rule_add(const struct nbx_host *host, const char *iif, const char *source,
		  uint32_t table, struct nbx_error *err);
bool vpn_rule_delete(const struct nbx_host *host, const char *iif, const char *source,
		     uint32_t table, struct nbx_error *err);

/* Removes every rule with nestbox's tag in this namespace. */
bool vpn_rules_remove_all(const struct nbx_host *host, struct nbx_error *err);
