/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One nft(8) batch through libnftables, in the namespace of the calling
 * thread (the context's netlink socket is opened here, on this thread).
 * The batch is one transaction: all of it applies, or none.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

bool nft_apply(const struct nbx_host *host, const char *commands, struct nbx_error *err);

/* Whether table @family nestbox exists here (false also when asking failed). */
bool nft_table_exists(const char *family);
