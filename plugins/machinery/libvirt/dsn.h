/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a libvirt connection URI (a "dsn") says about where its hypervisor is. */
#pragma once

#include <stdbool.h>

/*
 * True when @dsn names another host ("qemu+ssh://root@kvm1/system"), whose
 * daemon would write files there, not here. No host, "localhost" and
 * loopback addresses are local; so is a dsn that does not parse (it cannot
 * be opened either, and opening it is what reports that).
 */
bool lv_dsn_is_remote(const char *dsn);

/* The host of a remote @dsn (g_free it), or NULL when lv_dsn_is_remote() is false. */
char *lv_dsn_remote_host(const char *dsn);
