/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "host_side.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns_call.h"

typedef struct {
	struct in_addr guest;
	GArray *sides;
	guint sent;
} Lookup;

/* The MAC of @name from getifaddrs' AF_PACKET entries; false when it has none. */
static bool
mac_of(struct ifaddrs *all, const char *name, HostSide *side)
{
	for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
		const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;

		if (ll == NULL || ll->sll_family != AF_PACKET || strcmp(i->ifa_name, name) != 0 ||
		    ll->sll_halen != sizeof side->mac)
			continue;
		memcpy(side->mac, ll->sll_addr, sizeof side->mac);
		side->ifindex = ll->sll_ifindex;
		return true;
	}
	return false;
}

static bool
find_sides(void *data, GError **error)
{
	Lookup *lookup = data;
	struct ifaddrs *all = NULL;

	if (getifaddrs(&all) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot list the host's interfaces: %s", g_strerror(errno));
		return false;
	}
	for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
		const struct sockaddr_in *address = (const struct sockaddr_in *)i->ifa_addr;
		const struct sockaddr_in *mask = (const struct sockaddr_in *)i->ifa_netmask;
		HostSide side = { 0 };

		if (address == NULL || mask == NULL || address->sin_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) != 0 ||
		    ((address->sin_addr.s_addr ^ lookup->guest.s_addr) & mask->sin_addr.s_addr) != 0 ||
		    address->sin_addr.s_addr == lookup->guest.s_addr)
			continue;
		g_strlcpy(side.name, i->ifa_name, sizeof side.name);
		side.address = address->sin_addr;
		if (mac_of(all, i->ifa_name, &side))
			g_array_append_val(lookup->sides, side);
	}
	freeifaddrs(all);
	return true;
}

static bool
parse_guest(const char *guest_ip, Lookup *lookup, GError **error)
{
	if (inet_pton(AF_INET, guest_ip, &lookup->guest) == 1)
		return true;
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		    "%s is no IPv4 address: the host side cannot be announced", guest_ip);
	return false;
}

GArray *
host_side_find(const char *netns, const char *guest_ip, GError **error)
{
	Lookup lookup = { .sides = g_array_new(FALSE, TRUE, sizeof(HostSide)) };

	if (!parse_guest(guest_ip, &lookup, error) || !netns_call(netns, find_sides, &lookup, error))
		g_clear_pointer(&lookup.sides, g_array_unref);
	return lookup.sides;
}

/* An ARP request whose sender and target are @side's own address: RFC 5227's announcement. */
static bool
announce_one(int sock, const HostSide *side)
{
	struct {
		struct ether_header eth;
		struct arphdr arp;
		unsigned char sender_mac[6];
		unsigned char sender_ip[4];
		unsigned char target_mac[6];
		unsigned char target_ip[4];
	} __attribute__((packed)) frame = { 0 };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				  .sll_ifindex = side->ifindex, .sll_halen = 6 };

	memset(frame.eth.ether_dhost, 0xff, sizeof frame.eth.ether_dhost);
	memcpy(frame.eth.ether_shost, side->mac, 6);
	frame.eth.ether_type = htons(ETHERTYPE_ARP);
	frame.arp.ar_hrd = htons(ARPHRD_ETHER);
	frame.arp.ar_pro = htons(ETHERTYPE_IP);
	frame.arp.ar_hln = 6;
	frame.arp.ar_pln = 4;
	frame.arp.ar_op = htons(ARPOP_REQUEST);
	memcpy(frame.sender_mac, side->mac, 6);
	memcpy(frame.sender_ip, &side->address, 4);
	memcpy(frame.target_ip, &side->address, 4);
	memset(to.sll_addr, 0xff, 6);
	return sendto(sock, &frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) ==
	       (ssize_t)sizeof frame;
}

static bool
announce(void *data, GError **error)
{
	Lookup *lookup = data;
	int sock;
	int code = 0;

	if (!find_sides(lookup, error))
		return false;
	if (lookup->sides->len == 0)
		return true;
	sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (sock < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot open a packet socket to announce the host side: %s",
			    g_strerror(errno));
		return false;
	}
	for (guint i = 0; i < lookup->sides->len; i++) {
		if (announce_one(sock, &g_array_index(lookup->sides, HostSide, i)))
			lookup->sent++;
		else
			code = errno;
	}
	close(sock);
	if (lookup->sent == 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(code),
			    "cannot send the gratuitous ARP of %s: %s",
			    g_array_index(lookup->sides, HostSide, 0).name, g_strerror(code));
		return false;
	}
	return true;
}

bool
host_side_announce(const char *netns, const char *guest_ip, guint *sent, GError **error)
{
	Lookup lookup = { .sides = g_array_new(FALSE, TRUE, sizeof(HostSide)) };
	bool ok = parse_guest(guest_ip, &lookup, error) &&
		  netns_call(netns, announce, &lookup, error);

	*sent = lookup.sent;
	g_array_unref(lookup.sides);
	return ok;
}

char *
host_side_mac(const HostSide *side)
{
	return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", side->mac[0], side->mac[1],
			       side->mac[2], side->mac[3], side->mac[4], side->mac[5]);
}
