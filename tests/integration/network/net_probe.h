/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real traffic between network namespaces for the segment and router
 * tests: servers that answer with a banner naming themselves (so a test
 * knows WHO answered: the world, a sinkhole, the host side), and probes
 * that report what answered or that nothing did. Everything runs on
 * threads that entered the namespace in question (nbx_netns_run); the
 * caller's thread never changes namespace.
 *
 * A probe that gets no answer waits for its whole timeout: that is how a
 * dropped packet looks. Tests run their probes in batches, concurrently, so
 * a batch costs one timeout, and the timeout is generous (it only bounds a
 * probe that is blocked, never an answer that comes).
 */
#pragma once

#include <glib.h>
#include <netinet/in.h>

#include "segment.h"

#define NET_PROBE_TIMEOUT_MS 4000

typedef struct _NetServer NetServer;

/*
 * Serves @banner on TCP and UDP port @port of @address (IPv4, "0.0.0.0" for
 * all) inside @ns_path: a TCP client gets @banner and the connection
 * closed; a UDP datagram is answered with @banner. Every UDP payload
 * received is remembered with its source address.
 */
NetServer *net_server_start(const char *ns_path, const char *address, guint16 port,
			    const char *banner);
void net_server_stop(NetServer *server);

/* Waits (NET_PROBE_TIMEOUT_MS at most) until a UDP datagram with @payload arrived. */
gboolean net_server_wait_payload(NetServer *server, const char *payload);
/* Whether a UDP datagram with @payload arrived; with @source, from that source. */
gboolean net_server_saw_payload(NetServer *server, const char *payload, const char *source);

typedef enum {
	NET_PROBE_TCP,
	NET_PROBE_UDP,
	NET_PROBE_ICMP,
} NetProbeKind;

typedef struct {
	NetProbeKind kind;
	const char *address;
	guint16 port;
	/* Set by net_probe_run: the banner (or "pong" for ICMP), NULL when nothing answered. */
	char *answer;
} NetProbe;

#define NET_PROBE(KIND, ADDRESS, PORT)                                                         \
	{ .kind = NET_PROBE_##KIND, .address = (ADDRESS), .port = (PORT) }

/* Runs @n probes from inside @ns_path (NULL: here) at the same time and fills their answers. */
void net_probe_run(const char *ns_path, NetProbe *probes, gsize n);
void net_probe_clear(NetProbe *probes, gsize n);

/*
 * A stand-in for a guest: namespace @name with a veth "eth0" (@ip/@length,
 * @mac, default route via @gateway) whose other end, "nbxtap0", sits on
 * the bridge of machine @machine's segment.
 */
void net_guest_create(const char *name, const char *machine, const char *ip, guint length,
		      const char *mac, const char *gateway);
void net_guest_delete(const char *name);

/*
 * Sends, from inside @ns_path on @ifname, one Ethernet/IPv4/UDP frame
 * @source_mac/@source_ip:@source_port -> @destination_mac/@destination_ip:
 * @destination_port carrying @payload: a frame the kernel would not let a
 * normal socket write (a spoofed source). Frames sent one after the other by
 * this call and net_raw_udp_send are written from one thread pinned to one
 * CPU, so they arrive in the order they were sent.
 */
typedef struct {
	const char *source_mac, *source_ip;
	guint16 source_port;
	const char *destination_mac, *destination_ip;
	guint16 destination_port;
	const char *payload;
} NetRawUdp;
void net_raw_udp_send(const char *ns_path, const char *ifname, const NetRawUdp *frames, gsize n);

/* Runs argv and returns its stdout; fails the test when it fails. */
char *net_command(const char *const *argv);

/*
 * A packet socket on @ifname inside @ns_path, opened now: what a libpcap
 * capture there (the sniffer's) receives from then on.
 */
typedef struct _NetCapture NetCapture;
NetCapture *net_capture_start(const char *ns_path, const char *ifname);
/* Whether a frame received so far contains @payload. */
gboolean net_capture_saw(NetCapture *capture, const char *payload);
void net_capture_stop(NetCapture *capture);
