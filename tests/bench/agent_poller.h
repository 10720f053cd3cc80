/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent poller the restore benchmarks time the guest's first HTTP
 * answer with, the same for every side they compare. A new non-blocking
 * connect every AGENT_PROBE_EVERY_US, each left pending up to a second: a
 * SYN that reaches a guest not yet running is lost, and waiting for its
 * retransmission (1 s) or closing it early (the guest's late SYN-ACK then
 * meets a RST) would both put the poller's timers, not the restore, into
 * the numbers.
 */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>

#define AGENT_PROBE_EVERY_US 10000
#define AGENT_PROBE_MAX 128

typedef struct {
	int fd[AGENT_PROBE_MAX];
	int64_t started[AGENT_PROBE_MAX];
	guint n;
	int64_t last;
	struct sockaddr_in address;
	const char *expect;
} AgentPoller;

void agent_poller_init(AgentPoller *p, const char *ip, int port, const char *expect);

/* Waits up to ~AGENT_PROBE_EVERY_US; TRUE once the agent has answered with @expect. */
gboolean agent_poller_step(AgentPoller *p);

/* Closes every probe still pending. */
void agent_poller_clear(AgentPoller *p);
