/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's tap, opened by the plugin and handed to QEMU as `fd=`: a
 * QEMU that is not root could not open it (TUNSETIFF needs CAP_NET_ADMIN
 * or the tap's owner), and under `-sandbox` it should open nothing.
 *
 * A machine on a network segment (struct nbx_machine.network_namespace)
 * gets a new tap, nbxtap0, made inside its namespace, enslaved to the
 * segment's bridge nbx0 and set up; it is not persistent, so it goes away
 * with QEMU's last descriptor. A tap belongs to the namespace of the thread
 * that opened /dev/net/tun, so that happens on a thread of its own that
 * entered the namespace (setns is per thread). Any other machine gets the
 * existing tap its `interface` names, in the daemon's namespace.
 */
#pragma once

#include <nestbox/plugin.h>

#define QEMU_TAP_SEGMENT_NAME "nbxtap0"
#define QEMU_TAP_SEGMENT_BRIDGE "nbx0"

/* The tap's descriptor (close-on-exec), or -1 with @err set. */
int qemu_tap_open(const struct nbx_host *host, const struct nbx_machine *machine,
		  struct nbx_error *err);
