/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side of a guest's network: the host interface (a bridge, or a
 * bare tap) that holds an IPv4 address in the guest's subnet, and its MAC.
 *
 * A guest restored from a memory state has the ARP cache it was saved
 * with: it knows the host side by the MAC that interface had then. A host
 * side made again with another MAC (a bridge or tap created per run takes
 * a random one) is not reached until the guest's entry times out, seconds
 * later. So each restore announces the host side to the guest (a
 * gratuitous ARP request: sender and target are the host's own address),
 * which makes the guest's existing entry take the current MAC, and a
 * generation records the MAC its guest knows (machineinfo's host_mac), so
 * --check can tell an operator to pin it.
 */
#pragma once

#include <glib.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>

typedef struct {
	char name[IFNAMSIZ];
	int ifindex;
	unsigned char mac[6];
	struct in_addr address;
} HostSide;

/*
 * The interfaces of network namespace @netns (NULL: this process's) with
 * an IPv4 address whose subnet holds @guest_ip, one entry per address
 * (HostSide), in the kernel's order. Empty when there is none.
 */
GArray *host_side_find(const char *netns, const char *guest_ip, GError **error);

/*
 * Sends a gratuitous ARP request for every host side of @guest_ip out of
 * that interface itself (a bridge floods it to its ports). Stores in
 * *@sent how many went out. False with @error when none could be sent.
 */
bool host_side_announce(const char *netns, const char *guest_ip, guint *sent, GError **error);

/* "aa:bb:cc:dd:ee:ff" (g_free). */
char *host_side_mac(const HostSide *side);
