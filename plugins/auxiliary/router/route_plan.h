/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one analysis's route allows, read from the router's configuration
 * and the analysis's context: the route, the host-side services, where DNS
 * goes, where a sinkhole is, which interface traffic leaves by.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>
#include <stdint.h>

enum route_kind {
	ROUTE_NONE,
	ROUTE_DROP,
	ROUTE_INTERNET,
	ROUTE_SINKHOLE,
	ROUTE_VPN,
	ROUTE_COUNT,
};

extern const char *const route_names[ROUTE_COUNT + 1];

#define ROUTE_MAX_SERVICES 32
#define ROUTE_ADDRESS_SIZE 64
#define ROUTE_IFNAME_SIZE 16

/* A port the guest may open connections to; address "" = any address of the host side. */
struct route_service {
	char protocol[4]; /* "tcp" or "udp" */
	char address[ROUTE_ADDRESS_SIZE];
	uint16_t port;
};

struct route_plan {
	enum route_kind route;
	struct route_service services[ROUTE_MAX_SERVICES];
	unsigned n_services;
	/* Where the guest's DNS (any address, port 53) is sent; "" = not redirected. */
	char dns_address[ROUTE_ADDRESS_SIZE];
	uint16_t dns_port;
	/* ROUTE_SINKHOLE: every TCP/UDP connection goes here; port 0 keeps the port. */
	char sinkhole_address[ROUTE_ADDRESS_SIZE];
	uint16_t sinkhole_tcp_port, sinkhole_udp_port;
	/* ROUTE_INTERNET, ROUTE_VPN: the daemon-side interface traffic leaves by. */
	char out_interface[ROUTE_IFNAME_SIZE];
	/* ROUTE_VPN: routing table the guest's traffic is looked up in; 0 = main. */
	uint32_t vpn_table;
};

/* The route named @name, or -1. */
int route_from_name(const char *name);

/* Whether @route is enabled in the configuration (`none` and `drop` unless disabled). */
bool route_enabled(const struct nbx_host *host, enum route_kind route);

/*
 * The route for @context: the task's option `route`, else the machine's
 * entry in `machine_routes`, else `default_route`. Fails (with the reason)
 * when that route is not enabled.
 */
bool route_choose(const struct nbx_host *host, const struct nbx_aux_context *context,
		  enum route_kind *route, struct nbx_error *err);

/* Fills @plan for @route, with the result server of @context (when not NULL) as a service. */
bool route_plan_fill(const struct nbx_host *host, enum route_kind route,
		     const char *result_server, struct route_plan *plan, struct nbx_error *err);
