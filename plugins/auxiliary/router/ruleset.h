/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The nftables rules of the router, as nft(8) text for libnftables.
 *
 * In every namespace the router works in (a segment's, the daemon's) it
 * keeps one `inet nestbox` table whose base chains only dispatch: traffic
 * from an interface with a running guest is looked up by (interface,
 * source address) in verdict maps that jump to the guest's own chains
 * (m-MACHINE-spoof, -dnat, -in, -fwd), and whatever no guest claims is
 * dropped. So an analysis's rules come and go as map elements and chains
 * (no rule handles), and a stale table is removed whole. `arp nestbox`
 * binds each guest's ARP to its address and MAC; in the daemon's namespace
 * `bridge nestbox` stops frames between guests that share a bridge.
 *
 * Anti-spoofing is in the inet and arp families, which see a frame after
 * it reached the bridge device: a capture on nbx0 still sees a spoofed
 * frame (evidence), and the frame goes no further.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "route_plan.h"

enum rules_side {
	/* Inside a segment: the guest on nbx0; leaving routes go out nbx-up. */
	SIDE_SEGMENT,
	/* The daemon's namespace, for a segment: its uplink and NATed source. */
	SIDE_UPLINK,
	/* The daemon's namespace, for a machine without a segment. */
	SIDE_DAEMON,
};

struct machine_rules {
	/* Its chains' common part (m-MACHINE): they are m-MACHINE-spoof, ... */
	const char *machine;
	enum rules_side side;
	/* Where its traffic comes in, and from which source address. */
	const char *ifname;
	const char *source;
	/* The guest's MAC, or NULL (then nothing is bound to it). */
	const char *mac;
	/* The interface traffic leaves by on SIDE_SEGMENT (nbx-up). */
	const char *segment_uplink;
	const struct route_plan *plan;
	/* The first (last) guest on @ifname: add (delete) it to (from) the interface sets. */
	bool first_on_interface;
};

/* Whether @text may go in nft text as an identifier or string (the names and addresses used). */
bool ruleset_safe_word(const char *text);

/*
 * The base tables: created if missing, their dispatch rules replaced
 * atomically, the guests' elements and chains kept. @fresh: delete the
 * tables first (a segment at the start of its analysis).
 */
void ruleset_write_base(FILE *out, bool daemon_namespace, bool fresh);

/* One machine's chains and elements. */
void ruleset_write_machine(FILE *out, const struct machine_rules *rules);

/* Their removal (SIDE_SEGMENT never needs it: its tables go whole). */
void ruleset_write_machine_removal(FILE *out, const struct machine_rules *rules);

/* Deleting every nestbox table of a namespace (tables absent are fine). */
void ruleset_write_remove_all(FILE *out);
