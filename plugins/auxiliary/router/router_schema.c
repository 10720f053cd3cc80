/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "router_schema.h"

#include "route_plan.h"

static const char *const protocols[] = { "tcp", "udp", NULL };

static const struct nbx_config_field service_fields[] = {
	{ .name = "name", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY,
	  .doc = "What it is, for people (\"dns-sinkhole\", \"http-sinkhole\")" },
	{ .name = "protocol", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = protocols, .default_value = "tcp", .doc = "tcp or udp" },
	{ .name = "port", .type = NBX_FIELD_INTEGER, .flags = NBX_FIELD_REQUIRED, .min = 1,
	  .max = 65535, .doc = "The port the guest may open connections to" },
	{ .name = "address", .type = NBX_FIELD_IP_ADDRESS,
	  .doc = "Its IPv4 address; absent: the host side's own address on the guest's subnet "
		 "(in the machine's segment when it has one)" },
	{ 0 },
};

static const struct nbx_config_field machine_route_fields[] = {
	{ .name = "machine", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY,
	  .doc = "A machine's name" },
	{ .name = "route", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_REQUIRED,
	  .choices = route_names, .doc = "Its route when a task names none" },
	{ 0 },
};

#define DNS_FIELDS(WHAT)                                                                           \
	{ .name = "dns", .type = NBX_FIELD_IP_ADDRESS,                                             \
	  .doc = "Resolver every DNS query of the guest (any address, port 53) is sent to " WHAT },\
	{ .name = "dns_port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,                   \
	  .default_value = "53", .doc = "Port of that resolver" }

static const struct nbx_config_field none_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Offer this route" },
	DNS_FIELDS("(a DNS sinkhole; absent: DNS is dropped like the rest)"),
	{ 0 },
};

static const struct nbx_config_field drop_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Offer this route" },
	{ 0 },
};

static const struct nbx_config_field internet_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Offer this route" },
	{ .name = "interface", .type = NBX_FIELD_INTERFACE,
	  .doc = "Required: interface of the daemon's namespace the guest's traffic leaves by, NATed to its "
		 "address (use one dedicated to analyses: whatever it reaches, the guest reaches)" },
	DNS_FIELDS("(absent: the guest's own choice, out of the interface)"),
	{ 0 },
};

static const struct nbx_config_field sinkhole_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Offer this route" },
	{ .name = "address", .type = NBX_FIELD_IP_ADDRESS,
	  .doc = "Required: IPv4 address of the service every TCP and UDP connection is redirected to (an "
		 "InetSim, say)" },
	{ .name = "tcp_port", .type = NBX_FIELD_INTEGER, .min = 0, .max = 65535,
	  .default_value = "0", .doc = "Port TCP goes to; 0 keeps the port the guest asked for" },
	{ .name = "udp_port", .type = NBX_FIELD_INTEGER, .min = 0, .max = 65535,
	  .default_value = "0", .doc = "Port UDP goes to; 0 keeps the port the guest asked for" },
	DNS_FIELDS("(absent: the sinkhole, like everything else)"),
	{ 0 },
};

static const struct nbx_config_field vpn_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Offer this route" },
	{ .name = "interface", .type = NBX_FIELD_INTERFACE,
	  .doc = "Required: the VPN's interface in the daemon's namespace: the only way out, NATed" },
	{ .name = "table", .type = NBX_FIELD_INTEGER, .min = 0, .max = 2147483647,
	  .default_value = "0",
	  .doc = "Routing table whose routes lead into the VPN; 0: the main table must already "
		 "route through interface (traffic it routes elsewhere is dropped)" },
	DNS_FIELDS("(absent: the guest's own choice, through the VPN)"),
	{ 0 },
};

static const struct nbx_config_field router_fields[] = {
	{ .name = "default_route", .type = NBX_FIELD_ENUM, .choices = route_names,
	  .default_value = "none", .doc = "Route of a task that names none and whose machine has none" },
	{ .name = "machine_routes", .type = NBX_FIELD_GROUP_LIST, .children = machine_route_fields,
	  .doc = "Per-machine default routes" },
	{ .name = "services", .type = NBX_FIELD_GROUP_LIST, .children = service_fields,
	  .doc = "Ports on the host side a guest may open connections to under every route but "
		 "drop; the result server is added by itself" },
	{ .name = "none", .type = NBX_FIELD_GROUP, .children = none_fields,
	  .doc = "Route none: the services, nothing else" },
	{ .name = "drop", .type = NBX_FIELD_GROUP, .children = drop_fields,
	  .doc = "Route drop: nothing; only replies to the host's connections to the agent" },
	{ .name = "internet", .type = NBX_FIELD_GROUP, .children = internet_fields,
	  .doc = "Route internet: out through a host interface, NATed" },
	{ .name = "sinkhole", .type = NBX_FIELD_GROUP, .children = sinkhole_fields,
	  .doc = "Route sinkhole: every TCP/UDP connection redirected to one service" },
	{ .name = "vpn", .type = NBX_FIELD_GROUP, .children = vpn_fields,
	  .doc = "Route vpn: out through a VPN's interface or routing table, NATed" },
	{ 0 },
};

const struct nbx_config_schema router_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = router_fields,
};

static const struct nbx_config_field task_fields[] = {
	{ .name = "route", .type = NBX_FIELD_ENUM, .choices = route_names,
	  .doc = "The task's network route (default: its machine's, else default_route)" },
	{ 0 },
};

const struct nbx_config_schema router_task_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = task_fields,
};
