/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is a client the guest itself? agent.py refuses /execute to 127.0.0.1 and
 * to the guest's address, so a process in the guest cannot run commands
 * through the agent. nestbox-agent runs as root and refuses more (see
 * router.c): here is only the test, against loopback and every address of
 * every interface (getifaddrs reads them over netlink: no NSS, fine in a
 * static binary).
 */
#include <ifaddrs.h>
#include <string.h>
#include <sys/socket.h>

#include "agent.h"

static bool
same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* An IPv4-mapped IPv6 address as the IPv4 address it is. */
static void
unmap(const struct sockaddr_storage *in, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)in;

	*out = *in;
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)out;

		memset(out, 0, sizeof *out);
		v4->sin_family = AF_INET;
		memcpy(&v4->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
	}
}

bool
nba_address_is_local(const struct sockaddr_storage *addr)
{
	struct sockaddr_storage peer;
	struct ifaddrs *list = NULL;
	bool local = false;

	unmap(addr, &peer);
	if (peer.ss_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)&peer)->sin_addr.s_addr) >> 24) == 127)
		return true;
	if (peer.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&peer)->sin6_addr))
		return true;
	if (getifaddrs(&list) != 0)
		return true; /* cannot tell: refuse rather than guess */
	for (struct ifaddrs *i = list; i != NULL && !local; i = i->ifa_next) {
		if (i->ifa_addr != NULL &&
		    (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			local = same_address(i->ifa_addr, (struct sockaddr *)&peer);
	}
	freeifaddrs(list);
	return local;
}
