/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One live capture: a libpcap handle on an interface, a thread that writes
 * what it sees to a pcap file, and the counters reported when it ends.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <nestbox/error.h>
#include <nestbox/host.h>

struct capture_options {
	const char *interface;
	const char *filter;
	const char *path;          /* the pcap file, created or truncated */
	int snaplen;
	int buffer_size;           /* bytes; 0: libpcap's default */
	bool promiscuous;
	bool immediate_mode;
	int64_t max_capture_size;  /* bytes of file; 0: unlimited */
	/* The machine's segment (struct nbx_machine.network_namespace): the
	 * capture's socket is made inside it. NULL: the daemon's namespace. */
	const char *network_namespace;
};

struct capture_result {
	uint64_t packets_written;
	uint64_t packets_over_limit; /* seen but not written: max_capture_size reached */
	uint64_t bytes_written;      /* size of the valid pcap file */
	uint64_t packets_received;   /* pcap_stats */
	uint64_t dropped_by_kernel;
	uint64_t dropped_by_interface;
	struct timespec started;
	struct timespec ended;
	/* Set when the interface went down or away during the capture (a
	 * machine's tap device goes with its machine): the capture ended
	 * there, normally. */
	bool interface_lost;
};

struct capture;

/* Opens the interface and the file and starts the capture thread. */
struct capture *capture_start(const struct nbx_host *host, const struct capture_options *options,
			      struct nbx_error *err);

/*
 * Stops the thread after writing every packet already captured, closes the
 * file and frees @capture. Fills @result in any case; returns false (and
 * fills @err) when writing or capturing failed on the way, in which case
 * the file holds the valid pcap of everything written before the failure.
 */
bool capture_stop(struct capture *capture, struct capture_result *result, struct nbx_error *err);
