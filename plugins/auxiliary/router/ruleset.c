/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ruleset.h"

#include <string.h>

#define T "inet nestbox"

bool
ruleset_safe_word(const char *text)
{
	if (text == NULL || text[0] == '\0' || strlen(text) > 200)
		return false;
	for (const char *c = text; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("_.-:", *c) != NULL))
			return false;
	return true;
}

/*
 * Dispatch chains. Priorities: spoofing is judged at raw (-300), before
 * conntrack makes an entry for a spoofed packet; NAT at dstnat/srcnat;
 * filtering at filter.
 */
static void
write_inet_base(FILE *out)
{
	static const char *const maps[] = { "spoof_from", "dnat_from", "input_from", "forward_from" };

	fprintf(out, "add table " T "\n"
		     "add set " T " guest_ifaces { type ifname; }\n"
		     "add set " T " masquerade_from { type ipv4_addr; }\n");
	for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
		fprintf(out, "add map " T " %s { type ifname . ipv4_addr : verdict; }\n", maps[i]);
	fprintf(out,
		"add chain " T " prerouting_filter { type filter hook prerouting priority raw; policy accept; }\n"
		"add chain " T " prerouting_nat { type nat hook prerouting priority dstnat; policy accept; }\n"
		"add chain " T " input { type filter hook input priority filter; policy accept; }\n"
		"add chain " T " forward { type filter hook forward priority filter; policy accept; }\n"
		"add chain " T " postrouting_nat { type nat hook postrouting priority srcnat; policy accept; }\n"
		"flush chain " T " prerouting_filter\n"
		"add rule " T " prerouting_filter iifname != @guest_ifaces accept\n"
		/* Guests get no IPv6 at all: no address, no route, nothing. */
		"add rule " T " prerouting_filter meta nfproto ipv6 drop\n"
		"add rule " T " prerouting_filter meta nfproto ipv4 iifname . ip saddr vmap @spoof_from\n"
		"add rule " T " prerouting_filter drop\n"
		"flush chain " T " prerouting_nat\n"
		"add rule " T " prerouting_nat iifname @guest_ifaces iifname . ip saddr vmap @dnat_from\n"
		"flush chain " T " input\n"
		"add rule " T " input iifname != @guest_ifaces accept\n"
		/* Replies to what the host side opened (the agent) and to what was allowed. */
		"add rule " T " input ct state established,related accept\n"
		"add rule " T " input iifname . ip saddr vmap @input_from\n"
		"add rule " T " input drop\n"
		"flush chain " T " forward\n"
		"add rule " T " forward oifname @guest_ifaces ct state established,related accept\n"
		/* Nothing opens a connection TO a guest through this namespace. */
		"add rule " T " forward oifname @guest_ifaces drop\n"
		"add rule " T " forward iifname != @guest_ifaces accept\n"
		"add rule " T " forward ct state established,related accept\n"
		"add rule " T " forward iifname . ip saddr vmap @forward_from\n"
		"add rule " T " forward drop\n"
		"flush chain " T " postrouting_nat\n"
		"add rule " T " postrouting_nat ip saddr @masquerade_from masquerade\n");
}

static void
write_arp_base(FILE *out)
{
	fprintf(out,
		"add table arp nestbox\n"
		"add set arp nestbox guest_ifaces { type ifname; }\n"
		"add map arp nestbox arp_from { type ifname . ipv4_addr : verdict; }\n"
		"add chain arp nestbox input { type filter hook input priority filter; policy accept; }\n"
		"flush chain arp nestbox input\n"
		"add rule arp nestbox input iifname != @guest_ifaces accept\n"
		"add rule arp nestbox input iifname . arp saddr ip vmap @arp_from\n"
		"add rule arp nestbox input drop\n");
}

/* Frames bridged between two ports of a shared bridge (machines without a segment). */
static void
write_bridge_base(FILE *out)
{
	fprintf(out,
		"add table bridge nestbox\n"
		"add set bridge nestbox guest_macs { type ether_addr; }\n"
		"add chain bridge nestbox forward { type filter hook forward priority filter; policy accept; }\n"
		"flush chain bridge nestbox forward\n"
		"add rule bridge nestbox forward ether saddr @guest_macs drop\n"
		"add rule bridge nestbox forward ether daddr @guest_macs drop\n");
}

void
ruleset_write_remove_all(FILE *out)
{
	/* `add` then `delete`: deleting a table that is not there would fail the batch. */
	static const char *const families[] = { "inet", "arp", "bridge" };

	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		fprintf(out, "add table %s nestbox\ndelete table %s nestbox\n", families[i],
			families[i]);
}

void
ruleset_write_base(FILE *out, bool daemon_namespace, bool fresh)
{
	if (fresh)
		ruleset_write_remove_all(out);
	write_inet_base(out);
	write_arp_base(out);
	if (daemon_namespace)
		write_bridge_base(out);
}

/*
 * A machine's chain, empty: a start after a stop that failed half-way finds
 * its chains and must not stack a second copy of its rules in them.
 */
static void
open_chain(FILE *out, const char *table, const char *machine, const char *suffix)
{
	fprintf(out, "add chain %s %s-%s\nflush chain %s %s-%s\n", table, machine, suffix, table,
		machine, suffix);
}

/* "ip daddr A tcp dport P" or, with no address, "tcp dport P". */
static void
write_service_match(FILE *out, const struct route_service *service)
{
	if (service->address[0] != '\0')
		fprintf(out, "ip daddr %s ", service->address);
	fprintf(out, "%s dport %u", service->protocol, service->port);
}

static void
write_dnat_chain(FILE *out, const struct machine_rules *r)
{
	const struct route_plan *plan = r->plan;

	open_chain(out, T, r->machine, "dnat");
	/* The services are reached as they are, whatever the route redirects. */
	for (unsigned i = 0; i < plan->n_services; i++) {
		fprintf(out, "add rule " T " %s-dnat %s", r->machine,
			plan->services[i].address[0] == '\0' ? "fib daddr type local " : "");
		write_service_match(out, &plan->services[i]);
		fprintf(out, " return\n");
	}
	if (plan->dns_address[0] != '\0')
		fprintf(out, "add rule " T " %s-dnat meta l4proto { tcp, udp } th dport 53 dnat ip to %s:%u\n",
			r->machine, plan->dns_address, plan->dns_port);
	if (plan->route == ROUTE_SINKHOLE) {
		static const char *const protocols[] = { "tcp", "udp" };
		const uint16_t ports[] = { plan->sinkhole_tcp_port, plan->sinkhole_udp_port };

		for (int i = 0; i < 2; i++) {
			fprintf(out, "add rule " T " %s-dnat meta l4proto %s dnat ip to %s", r->machine,
				protocols[i], plan->sinkhole_address);
			if (ports[i] != 0)
				fprintf(out, ":%u", ports[i]);
			fprintf(out, "\n");
		}
	}
}

/*
 * What the guest may reach by address: where it lives (this namespace, the
 * daemon's, beyond) decides whether input or forward sees it, so both
 * chains allow it. A service without an address is the host side itself:
 * input only, and not the uplink's business.
 */
static void
write_destination_rules(FILE *out, const struct machine_rules *r, const char *chain)
{
	const struct route_plan *plan = r->plan;
	bool input = strcmp(chain, "in") == 0;

	for (unsigned i = 0; i < plan->n_services; i++) {
		const struct route_service *service = &plan->services[i];

		if (service->address[0] == '\0' && (!input || r->side == SIDE_UPLINK))
			continue;
		fprintf(out, "add rule " T " %s-%s ", r->machine, chain);
		write_service_match(out, service);
		fprintf(out, " accept\n");
	}
	if (plan->dns_address[0] != '\0')
		fprintf(out, "add rule " T " %s-%s ip daddr %s meta l4proto { tcp, udp } th dport %u accept\n",
			r->machine, chain, plan->dns_address, plan->dns_port);
	if (plan->route == ROUTE_SINKHOLE)
		fprintf(out, "add rule " T " %s-%s ip daddr %s meta l4proto { tcp, udp } accept\n",
			r->machine, chain, plan->sinkhole_address);
}

static void
write_forward_chain(FILE *out, const struct machine_rules *r)
{
	const struct route_plan *plan = r->plan;

	open_chain(out, T, r->machine, "fwd");
	write_destination_rules(out, r, "fwd");
	if (plan->route != ROUTE_INTERNET && plan->route != ROUTE_VPN)
		return;
	fprintf(out, "add rule " T " %s-fwd oifname \"%s\" accept\n", r->machine,
		r->side == SIDE_SEGMENT ? r->segment_uplink : plan->out_interface);
}

static void
write_spoof_chain(FILE *out, const struct machine_rules *r)
{
	open_chain(out, T, r->machine, "spoof");
	if (r->mac != NULL)
		fprintf(out, "add rule " T " %s-spoof ether saddr != %s drop\n", r->machine, r->mac);
	fprintf(out, "add rule " T " %s-spoof accept\n", r->machine);
}

static void
write_arp_rules(FILE *out, const struct machine_rules *r)
{
	if (r->first_on_interface)
		fprintf(out, "add element arp nestbox guest_ifaces { \"%s\" }\n", r->ifname);
	open_chain(out, "arp nestbox", r->machine, "arp");
	if (r->mac != NULL)
		fprintf(out, "add rule arp nestbox %s-arp arp saddr ether != %s drop\n", r->machine,
			r->mac);
	fprintf(out, "add rule arp nestbox %s-arp accept\n", r->machine);
	fprintf(out, "add element arp nestbox arp_from { \"%s\" . %s : jump %s-arp }\n", r->ifname,
		r->source, r->machine);
}

void
ruleset_write_machine(FILE *out, const struct machine_rules *r)
{
	static const char *const maps[] = { "spoof_from", "dnat_from", "input_from", "forward_from" };
	static const char *const chains[] = { "spoof", "dnat", "in", "fwd" };

	write_spoof_chain(out, r);
	if (r->side == SIDE_UPLINK) /* NATed in the segment already */
		open_chain(out, T, r->machine, "dnat");
	else
		write_dnat_chain(out, r);
	open_chain(out, T, r->machine, "in");
	write_destination_rules(out, r, "in");
	write_forward_chain(out, r);
	for (size_t i = 0; i < 4; i++)
		fprintf(out, "add element " T " %s { \"%s\" . %s : jump %s-%s }\n", maps[i],
			r->ifname, r->source, r->machine, chains[i]);
	fprintf(out, "add element " T " masquerade_from { %s }\n", r->source);
	if (r->first_on_interface)
		fprintf(out, "add element " T " guest_ifaces { \"%s\" }\n", r->ifname);
	if (r->side == SIDE_UPLINK)
		return;
	write_arp_rules(out, r);
	if (r->side == SIDE_DAEMON && r->mac != NULL)
		fprintf(out, "add element bridge nestbox guest_macs { %s }\n", r->mac);
}

void
ruleset_write_machine_removal(FILE *out, const struct machine_rules *r)
{
	static const char *const maps[] = { "spoof_from", "dnat_from", "input_from", "forward_from" };
	static const char *const chains[] = { "spoof", "dnat", "in", "fwd" };

	/* Elements first: a chain a verdict map still jumps to cannot go. */
	for (size_t i = 0; i < 4; i++)
		fprintf(out, "delete element " T " %s { \"%s\" . %s }\n", maps[i], r->ifname,
			r->source);
	fprintf(out, "delete element " T " masquerade_from { %s }\n", r->source);
	if (r->first_on_interface)
		fprintf(out, "delete element " T " guest_ifaces { \"%s\" }\n", r->ifname);
	for (size_t i = 0; i < 4; i++)
		fprintf(out, "delete chain " T " %s-%s\n", r->machine, chains[i]);
	if (r->side == SIDE_UPLINK)
		return;
	fprintf(out, "delete element arp nestbox arp_from { \"%s\" . %s }\n", r->ifname, r->source);
	if (r->first_on_interface)
		fprintf(out, "delete element arp nestbox guest_ifaces { \"%s\" }\n", r->ifname);
	fprintf(out, "delete chain arp nestbox %s-arp\n", r->machine);
	if (r->side == SIDE_DAEMON && r->mac != NULL)
		fprintf(out, "delete element bridge nestbox guest_macs { %s }\n", r->mac);
}
