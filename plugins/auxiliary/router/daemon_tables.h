/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router's tables in the daemon's own namespace, shared by every
 * analysis and every instance of the plugin in this process (a reload
 * makes a new instance while the old one's analyses finish): changes are
 * serialized process-wide, and an interface stays in the guest-interface
 * sets while any guest on it runs.
 *
 * Called on the core's threads: the daemon's namespace is theirs, so no
 * namespace is entered here.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

#include "ruleset.h"

/* Builds an nft batch in memory. */
typedef void (*batch_fn)(FILE *out, const void *data);
char *batch_build(batch_fn fn, const void *data);

/* Adds @rules (and the base tables). */
bool daemon_tables_add(const struct nbx_host *host, struct machine_rules *rules,
		       struct nbx_error *err);
/* Removes what daemon_tables_add added for @rules. */
bool daemon_tables_remove(const struct nbx_host *host, struct machine_rules *rules,
			  struct nbx_error *err);

/*
 * The first time in this process: removes the nestbox tables and routing
 * rules a dead process left in this namespace. Later calls do nothing (the
 * tables are this process's own, in use).
 */
bool daemon_tables_remove_stale(const struct nbx_host *host, struct nbx_error *err);
