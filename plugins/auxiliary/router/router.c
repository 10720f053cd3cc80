/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router auxiliary (issue 18): applies each analysis's network route
 * with nftables, before the machine is restored, and takes it away (and the
 * guest's conntrack entries) after the machine is down.
 *
 * A machine with a segment (struct nbx_machine.network_namespace) gets its
 * guest-side rules inside the segment, made on a thread of the router's
 * own that entered it, and its uplink's rules in the daemon's namespace; a
 * machine without one gets the guest-side rules in the daemon's namespace,
 * on machine->interface. See ruleset.h for the tables.
 */
#include <arpa/inet.h>
#include <nestbox/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack_flush.h"
#include "daemon_tables.h"
#include "netns_thread.h"
#include "nft_apply.h"
#include "route_plan.h"
#include "router_schema.h"
#include "ruleset.h"
#include "uplink.h"
#include "vpn_rule.h"

#define SEGMENT_BRIDGE "nbx0"
#define SEGMENT_UPLINK "nbx-up"

struct router {
	const struct nbx_host *host;
};

/* One analysis: what start made, for stop to take away. */
struct router_run {
	struct route_plan plan;
	char machine[256];
	/* "m-MACHINE": chain names (an nft identifier cannot start with a digit). */
	char chains[260];
	char guest_ip[INET_ADDRSTRLEN];
	char mac[18];
	bool has_mac;
	char interface[ROUTE_IFNAME_SIZE];
	/* A segment's namespace, NULL for none; its uplink when there is one. */
	char *netns_path;
	char inner[INET_ADDRSTRLEN];
	char outer_link[ROUTE_IFNAME_SIZE];
	bool vpn_rule;
};

static bool
router_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	struct router *router = calloc(1, sizeof *router);

	if (router == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return false;
	}
	router->host = host;
	/* A daemon killed with -9 left its table: take it before anything runs. */
	if (!daemon_tables_remove_stale(host, err)) {
		free(router);
		return false;
	}
	*instance = router;
	return true;
}

static void
router_shutdown(void *instance)
{
	free(instance);
}

/* The rules of @run on @side. */
static struct machine_rules
rules_of(const struct router_run *run, enum rules_side side)
{
	struct machine_rules rules = {
		.machine = run->chains,
		.side = side,
		.ifname = side == SIDE_UPLINK ? run->outer_link : run->interface,
		.source = side == SIDE_UPLINK ? run->inner : run->guest_ip,
		.mac = side != SIDE_UPLINK && run->has_mac ? run->mac : NULL,
		.segment_uplink = SEGMENT_UPLINK,
		.plan = &run->plan,
		/* A segment's tables are the machine's alone. */
		.first_on_interface = side == SIDE_SEGMENT,
	};

	return rules;
}

static void
write_segment(FILE *out, const void *data)
{
	struct machine_rules rules = rules_of(data, SIDE_SEGMENT);

	ruleset_write_base(out, false, true);
	ruleset_write_machine(out, &rules);
}

static void
write_remove_all(FILE *out, const void *data)
{
	ruleset_write_remove_all(out);
}

struct segment_job {
	const struct nbx_host *host;
	struct router_run *run;
	batch_fn batch;
};

/* Inside the segment: its rules in (or out), its connections forgotten. */
static bool
segment_apply(void *data, struct nbx_error *err)
{
	struct segment_job *job = data;
	char *batch;
	bool ok;

	if (job->batch == write_segment &&
	    !uplink_ipv4_of(SEGMENT_UPLINK, job->run->inner, sizeof job->run->inner)) {
		job->host->error_set(job->host, err, NBX_ERROR_INVALID,
				     "namespace %s has no %s with an IPv4 address: not a nestbox "
				     "segment",
				     job->run->netns_path, SEGMENT_UPLINK);
		return false;
	}
	batch = batch_build(job->batch, job->run);
	if (batch == NULL) {
		job->host->error_set(job->host, err, NBX_ERROR_FAILED, "out of memory");
		return false;
	}
	ok = nft_apply(job->host, batch, err);
	free(batch);
	/* Flushed on the way in too: entries of an earlier run must not pass as "established". */
	return conntrack_flush_all(job->host, err) && ok;
}

static bool
in_segment(const struct nbx_host *host, struct router_run *run, batch_fn batch,
	   struct nbx_error *err)
{
	struct segment_job job = { .host = host, .run = run, .batch = batch };

	return netns_thread_run(host, run->netns_path, segment_apply, &job, err);
}

/* The daemon-namespace half: the uplink of a segment, or the guest itself. */
static bool
daemon_side_start(const struct nbx_host *host, struct router_run *run, struct nbx_error *err)
{
	enum rules_side side = run->netns_path != NULL ? SIDE_UPLINK : SIDE_DAEMON;
	struct machine_rules rules;

	if (side == SIDE_UPLINK &&
	    !uplink_outer_link(run->inner, run->outer_link, sizeof run->outer_link)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"no link of the daemon's namespace holds the other end of %s's "
				"uplink (%s): the segment is not this daemon's",
				run->netns_path, run->inner);
		return false;
	}
	rules = rules_of(run, side);
	if (!daemon_tables_add(host, &rules, err) ||
	    !conntrack_flush_source(host, rules.source, err))
		return false;
	if (run->plan.route == ROUTE_VPN && run->plan.vpn_table != 0) {
		run->vpn_rule = vpn_rule_add(host, rules.ifname,
					     side == SIDE_DAEMON ? run->guest_ip : NULL,
					     run->plan.vpn_table, err);
		if (!run->vpn_rule) {
			daemon_tables_remove(host, &rules, NULL);
			return false;
		}
	}
	return true;
}

static bool
daemon_side_stop(const struct nbx_host *host, struct router_run *run, struct nbx_error *err)
{
	struct machine_rules rules = rules_of(run, run->netns_path ? SIDE_UPLINK : SIDE_DAEMON);
	bool ok = true;

	if (run->vpn_rule)
		ok = vpn_rule_delete(host, rules.ifname,
				     run->netns_path == NULL ? run->guest_ip : NULL,
				     run->plan.vpn_table, err);
	ok = daemon_tables_remove(host, &rules, err) && ok;
	return conntrack_flush_source(host, rules.source, err) && ok;
}

static void
run_free(struct router_run *run)
{
	free(run->netns_path);
	free(run);
}

static bool
copy_field(char *to, size_t size, const char *value)
{
	return value != NULL && (size_t)snprintf(to, size, "%s", value) < size &&
	       ruleset_safe_word(value);
}

/* What a run needs of @machine, checked: it ends up in nftables' text. */
static struct router_run *
run_new(const struct nbx_host *host, const struct nbx_machine *machine, struct nbx_error *err)
{
	struct router_run *run = calloc(1, sizeof *run);
	const char *netns = NBX_MACHINE_HAS(machine, network_namespace)
				    ? machine->network_namespace
				    : NULL;
	const char *interface = machine->interface;
	struct in_addr address;

	if (run == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return NULL;
	}
	if (netns != NULL && (interface == NULL || interface[0] == '\0'))
		interface = SEGMENT_BRIDGE;
	if (!copy_field(run->machine, sizeof run->machine, machine->name) ||
	    strchr(run->machine, ':') != NULL ||
	    !copy_field(run->guest_ip, sizeof run->guest_ip, machine->ip) ||
	    inet_pton(AF_INET, run->guest_ip, &address) != 1) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s: the router needs a name of [A-Za-z0-9_.-] and an IPv4 "
				"address (ip = \"%s\")",
				machine->name, machine->ip ? machine->ip : "");
	} else if (!copy_field(run->interface, sizeof run->interface, interface)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s has no interface (or an odd one): the router must know "
				"where its traffic comes in; set the machine's interface",
				machine->name);
	} else if (machine->mac_address != NULL &&
		   !(run->has_mac = copy_field(run->mac, sizeof run->mac, machine->mac_address))) {
		host->error_set(host, err, NBX_ERROR_INVALID, "machine %s: mac_address \"%s\"",
				machine->name, machine->mac_address);
	} else if (netns == NULL || (run->netns_path = strdup(netns)) != NULL) {
		snprintf(run->chains, sizeof run->chains, "m-%s", run->machine);
		return run;
	} else {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
	}
	run_free(run);
	return NULL;
}

static void
report_run(const struct nbx_host *host, const struct nbx_aux_context *context,
	   const struct router_run *run)
{
	host->report_set_string(host, context->report, "route", route_names[run->plan.route]);
	host->report_set_string(host, context->report, "namespace",
				run->netns_path != NULL ? run->netns_path : "daemon");
	host->report_set_string(host, context->report, "interface", run->interface);
}

static bool
router_start(void *instance, const struct nbx_aux_context *context, void **analysis_data,
	     const struct nbx_call *call, struct nbx_error *err)
{
	const struct nbx_host *host = ((struct router *)instance)->host;
	const char *result_server =
		NBX_STRUCT_HAS(context, struct nbx_aux_context, result_server)
			? context->result_server
			: NULL;
	struct router_run *run;
	enum route_kind route;

	if (call->flags != 0) {
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x", call->flags);
		return false;
	}
	if (!route_choose(host, context, &route, err))
		return false;
	run = run_new(host, context->machine, err);
	if (run == NULL)
		return false;
	if (!route_plan_fill(host, route, result_server, &run->plan, err) ||
	    (run->netns_path != NULL && !in_segment(host, run, write_segment, err))) {
		run_free(run);
		return false;
	}
	if (!daemon_side_start(host, run, err)) {
		if (run->netns_path != NULL)
			in_segment(host, run, write_remove_all, NULL);
		run_free(run);
		return false;
	}
	report_run(host, context, run);
	host->log(host, NBX_LOG_DEBUG, "task %lld: route %s for machine %s", (long long)context->task->id,
		  route_names[route], run->machine);
	*analysis_data = run;
	return true;
}

static bool
router_stop(void *instance, const struct nbx_aux_context *context, void *analysis_data,
	    const struct nbx_call *call, struct nbx_error *err)
{
	const struct nbx_host *host = ((struct router *)instance)->host;
	struct router_run *run = analysis_data;
	bool ok = daemon_side_stop(host, run, err);

	/* The segment's tables are the machine's alone: they go whole. */
	if (run->netns_path != NULL)
		ok = in_segment(host, run, write_remove_all, err) && ok;
	host->report_set_boolean(host, context->report, "rules_removed", ok);
	run_free(run);
	if (ok && call->flags != 0) {
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x", call->flags);
		return false;
	}
	return ok;
}

static bool
forwarding_on(void)
{
	FILE *file = fopen("/proc/sys/net/ipv4/ip_forward", "re");
	int value = 0;

	if (file == NULL)
		return false;
	if (fscanf(file, "%d", &value) != 1)
		value = 0;
	fclose(file);
	return value == 1;
}

static void
check_route_name(const struct nbx_host *host, struct nbx_check *check,
		 const struct nbx_config_node *node, const char *key)
{
	const char *name = host->config_string(host, node, key);
	int route = route_from_name(name);

	if (route >= 0 && !route_enabled(host, (enum route_kind)route))
		host->check_report(host, check, node, key,
				   "route %s is not enabled: set %s.enabled = true, or name another "
				   "route",
				   name, name);
}

/*
 * Keys an enabled route cannot do without. Not REQUIRED in the schema: the
 * core validates a group left out of the file (created with its defaults,
 * enabled = false) and would demand them of a route nobody asked for.
 */
static void
check_required(const struct nbx_host *host, struct nbx_check *check, enum route_kind route,
	       const char *key)
{
	const struct nbx_config_node *group = host->config_group(host, NULL, route_names[route]);

	if (route_enabled(host, route) && host->config_string(host, group, key) == NULL)
		host->check_report(host, check, group, key, "route %s is enabled and needs %s",
				   route_names[route], key);
}

/* What the schema cannot say: nftables answers, routes named are offered, forwarding is on. */
static bool
router_check(void *instance, struct nbx_check *check, struct nbx_error *err)
{
	const struct nbx_host *host = ((struct router *)instance)->host;
	size_t n = host->config_list_length(host, NULL, "machine_routes");
	struct nbx_error nft_error = { 0 };

	if (!nft_apply(host, "list tables", &nft_error))
		host->check_report(host, check, NULL, NULL,
				   "libnftables cannot list this namespace's tables (the daemon "
				   "needs CAP_NET_ADMIN): %s",
				   nft_error.message);
	check_route_name(host, check, NULL, "default_route");
	for (size_t i = 0; i < n; i++)
		check_route_name(host, check, host->config_list_group(host, NULL, "machine_routes", i),
				 "route");
	check_required(host, check, ROUTE_INTERNET, "interface");
	check_required(host, check, ROUTE_SINKHOLE, "address");
	check_required(host, check, ROUTE_VPN, "interface");
	for (enum route_kind route = ROUTE_INTERNET; route <= ROUTE_VPN; route++) {
		if (route == ROUTE_SINKHOLE || !route_enabled(host, route) || forwarding_on())
			continue;
		host->check_report(host, check, host->config_group(host, NULL, route_names[route]),
				   "enabled",
				   "route %s needs IPv4 forwarding in the daemon's namespace, and "
				   "net.ipv4.ip_forward is 0: set it to 1 (sysctl -w "
				   "net.ipv4.ip_forward=1) or disable the route",
				   route_names[route]);
	}
	return true;
}

/* At submission: a route this host does not offer is refused, with the reason. */
static bool
router_check_task(void *instance, const struct nbx_config_node *options, struct nbx_check *check,
		  struct nbx_error *err)
{
	const struct nbx_host *host = ((struct router *)instance)->host;
	const char *name = host->config_string(host, options, "route");
	int route = route_from_name(name);

	if (name != NULL && route < 0)
		host->check_report(host, check, options, "route", "unknown route \"%s\"", name);
	else if (name != NULL && !route_enabled(host, (enum route_kind)route))
		host->check_report(host, check, options, "route",
				   "route %s is not configured on this host (its group %s in the "
				   "router's configuration is not enabled)",
				   name, name);
	return true;
}

static const struct nbx_auxiliary_ops router_ops = {
	.struct_size = sizeof(struct nbx_auxiliary_ops),
	.init = router_init,
	.shutdown = router_shutdown,
	.check = router_check,
	.start = router_start,
	.stop = router_stop,
	.check_task = router_check_task,
};

/*
 * Order 1, like the sniffer: every auxiliary starts before the restore, so
 * the rules are in before the guest runs whatever the order among them.
 */
NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_AUXILIARY, .name = "router", .version = "1.0.0",
		  .description = "Applies each analysis's network route with nftables and keeps "
				 "guests from each other and from the host",
		  .config_schema = &router_schema, .ops.auxiliary = &router_ops,
		  .task_schema = &router_task_schema, .order = 1);
