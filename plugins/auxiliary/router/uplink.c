/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uplink.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool
uplink_ipv4_of(const char *ifname, char *out, size_t size)
{
	struct ifaddrs *all, *entry;
	bool found = false;

	/* getifaddrs asks netlink, opened on this thread: this namespace. */
	if (getifaddrs(&all) != 0)
		return false;
	for (entry = all; entry != NULL && !found; entry = entry->ifa_next) {
		if (entry->ifa_addr == NULL || entry->ifa_addr->sa_family != AF_INET ||
		    strcmp(entry->ifa_name, ifname) != 0)
			continue;
		found = inet_ntop(AF_INET, &((struct sockaddr_in *)entry->ifa_addr)->sin_addr, out,
				  (socklen_t)size) != NULL;
	}
	freeifaddrs(all);
	return found;
}

bool
uplink_outer_link(const char *inner, char *ifname, size_t size)
{
	struct ifaddrs *all, *entry;
	struct in_addr wanted;
	bool found = false;

	if (inet_pton(AF_INET, inner, &wanted) != 1 || getifaddrs(&all) != 0)
		return false;
	wanted.s_addr = htonl(ntohl(wanted.s_addr) - 1);
	for (entry = all; entry != NULL && !found; entry = entry->ifa_next) {
		if (entry->ifa_addr == NULL || entry->ifa_addr->sa_family != AF_INET ||
		    ((struct sockaddr_in *)entry->ifa_addr)->sin_addr.s_addr != wanted.s_addr)
			continue;
		found = (size_t)snprintf(ifname, size, "%s", entry->ifa_name) < size;
	}
	freeifaddrs(all);
	return found;
}
