/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tap devices the plugin makes for QEMU and hands it as descriptors
 * (`-netdev tap,fd=N`), instead of QEMU's setuid bridge helper making them:
 * a QEMU that runs unprivileged can use a descriptor, not the helper.
 *
 * A tap is not persistent: it exists while a descriptor of it is open, so
 * it disappears with the QEMU holding it (and with a daemon killed with -9)
 * and nothing is left to clean up. It is made like QEMU makes its own
 * (IFF_VNET_HDR, which decides the virtio-net features the guest saw, so a
 * saved guest's device state loads), with a MAC starting fe: so that a
 * bridge it joins never takes its address from it (a bridge takes the
 * lowest of its ports' unless one was set), and up.
 */
#pragma once

#include <glib.h>
#include <net/if.h>
#include <stdbool.h>

/*
 * Makes a tap named after "nbxt%d" (the kernel picks the number) in
 * network namespace @netns (NULL: this process's), joins it to @bridge
 * when that is not NULL, and brings it up. Returns its descriptor and
 * stores its name in @name; -1 with @error naming the bridge and the
 * reason on failure (nothing is left then).
 */
int tap_device_open(const char *netns, const char *bridge, char name[IFNAMSIZ], GError **error);

/*
 * Whether @bridge is a bridge in this process's namespace; false with
 * @error saying what it is instead.
 */
bool tap_device_bridge_exists(const char *bridge, GError **error);
