/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "route_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const route_names[ROUTE_COUNT + 1] = {
	[ROUTE_NONE] = "none",		 [ROUTE_DROP] = "drop", [ROUTE_INTERNET] = "internet",
	[ROUTE_SINKHOLE] = "sinkhole", [ROUTE_VPN] = "vpn",	[ROUTE_COUNT] = NULL,
};

int
route_from_name(const char *name)
{
	for (int route = 0; name != NULL && route < ROUTE_COUNT; route++)
		if (strcmp(route_names[route], name) == 0)
			return route;
	return -1;
}

bool
route_enabled(const struct nbx_host *host, enum route_kind route)
{
	const struct nbx_config_node *group = host->config_group(host, NULL, route_names[route]);
	bool enabled = false;

	return group != NULL && host->config_boolean(host, group, "enabled", &enabled) && enabled;
}

static const char *
machine_route(const struct nbx_host *host, const char *machine)
{
	size_t n = host->config_list_length(host, NULL, "machine_routes");

	for (size_t i = 0; i < n; i++) {
		const struct nbx_config_node *entry =
			host->config_list_group(host, NULL, "machine_routes", i);
		const char *name = host->config_string(host, entry, "machine");

		if (name != NULL && strcmp(name, machine) == 0)
			return host->config_string(host, entry, "route");
	}
	return NULL;
}

bool
route_choose(const struct nbx_host *host, const struct nbx_aux_context *context,
	     enum route_kind *route, struct nbx_error *err)
{
	const struct nbx_task *task = context->task;
	const char *name = task->options != NULL ? host->config_string(host, task->options, "route")
						 : NULL;
	const char *from = "the task's option route";
	int chosen;

	if (name == NULL) {
		name = machine_route(host, context->machine->name);
		from = "machine_routes";
	}
	if (name == NULL) {
		name = host->config_string(host, NULL, "default_route");
		from = "default_route";
	}
	chosen = route_from_name(name);
	if (chosen < 0 || !route_enabled(host, (enum route_kind)chosen)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"task %lld: route \"%s\" (from %s) is not configured on this host: "
				"enable it in the router's group %s, or pick another route",
				(long long)task->id, name != NULL ? name : "", from,
				name != NULL ? name : "");
		return false;
	}
	*route = (enum route_kind)chosen;
	return true;
}

static void
copy(char *to, size_t size, const char *from)
{
	snprintf(to, size, "%s", from != NULL ? from : "");
}

static uint16_t
integer(const struct nbx_host *host, const struct nbx_config_node *node, const char *key)
{
	int64_t value = 0;

	host->config_integer(host, node, key, &value);
	return (uint16_t)value;
}

static bool
add_service(const struct nbx_host *host, struct route_plan *plan, const char *protocol,
	    const char *address, uint16_t port, struct nbx_error *err)
{
	struct route_service *service;

	if (plan->n_services == ROUTE_MAX_SERVICES) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"more than %d services: the router handles at most that many",
				ROUTE_MAX_SERVICES);
		return false;
	}
	service = &plan->services[plan->n_services++];
	copy(service->protocol, sizeof service->protocol, protocol);
	copy(service->address, sizeof service->address, address);
	service->port = port;
	return true;
}

/* "ADDRESS:PORT" (IPv4) of the result server, as the ABI gives it. */
static bool
add_result_server(const struct nbx_host *host, struct route_plan *plan, const char *result_server,
		  struct nbx_error *err)
{
	const char *colon = strrchr(result_server, ':');
	char address[ROUTE_ADDRESS_SIZE];
	char *end;
	long port;

	port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
	if (colon == NULL || colon == result_server || *end != '\0' || port < 1 || port > 65535 ||
	    (size_t)(colon - result_server) >= sizeof address) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"result server \"%s\" is not ADDRESS:PORT", result_server);
		return false;
	}
	snprintf(address, sizeof address, "%.*s", (int)(colon - result_server), result_server);
	return add_service(host, plan, "tcp", address, (uint16_t)port, err);
}

static bool
add_services(const struct nbx_host *host, struct route_plan *plan, const char *result_server,
	     struct nbx_error *err)
{
	size_t n = host->config_list_length(host, NULL, "services");

	for (size_t i = 0; i < n; i++) {
		const struct nbx_config_node *service =
			host->config_list_group(host, NULL, "services", i);

		if (!add_service(host, plan, host->config_string(host, service, "protocol"),
				 host->config_string(host, service, "address"),
				 integer(host, service, "port"), err))
			return false;
	}
	return result_server == NULL || add_result_server(host, plan, result_server, err);
}

bool
route_plan_fill(const struct nbx_host *host, enum route_kind route, const char *result_server,
		struct route_plan *plan, struct nbx_error *err)
{
	const struct nbx_config_node *group = host->config_group(host, NULL, route_names[route]);

	memset(plan, 0, sizeof *plan);
	plan->route = route;
	/* `drop`: nothing at all, not even the services. */
	if (route == ROUTE_DROP)
		return true;
	if (!add_services(host, plan, result_server, err))
		return false;
	copy(plan->dns_address, sizeof plan->dns_address, host->config_string(host, group, "dns"));
	plan->dns_port = integer(host, group, "dns_port");
	if (route == ROUTE_SINKHOLE) {
		copy(plan->sinkhole_address, sizeof plan->sinkhole_address,
		     host->config_string(host, group, "address"));
		plan->sinkhole_tcp_port = integer(host, group, "tcp_port");
		plan->sinkhole_udp_port = integer(host, group, "udp_port");
	}
	if (route == ROUTE_INTERNET || route == ROUTE_VPN)
		copy(plan->out_interface, sizeof plan->out_interface,
		     host->config_string(host, group, "interface"));
	if (route == ROUTE_VPN) {
		int64_t table = 0;

		host->config_integer(host, group, "table", &table);
		plan->vpn_table = (uint32_t)table;
	}
	return true;
}
