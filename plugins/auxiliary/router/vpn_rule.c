/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vpn_rule.h"

#include <linux/fib_rules.h>
#include <netlink/route/rule.h>

/* RTPROT_* numbers from 5 up are free for daemons; none is registered to this one. */
#define VPN_RULE_PROTOCOL 241
/* Before the main table's rule (32766). */
#define VPN_RULE_PRIORITY 1000

static struct nl_sock *
connect_route(const struct nbx_host *host, struct nbx_error *err)
{
	struct nl_sock *sock = nl_socket_alloc();
	int rc = sock != NULL ? nl_connect(sock, NETLINK_ROUTE) : -NLE_NOMEM;

	if (rc < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot open a route netlink socket: %s",
				nl_geterror(rc));
		nl_socket_free(sock);
		return NULL;
	}
	return sock;
}

static struct rtnl_rule *
make_rule(const char *iif, const char *source, uint32_t table)
{
	struct rtnl_rule *rule = rtnl_rule_alloc();
	struct nl_addr *address = NULL;

	rtnl_rule_set_family(rule, AF_INET);
	rtnl_rule_set_iif(rule, iif);
	if (source != NULL && nl_addr_parse(source, AF_INET, &address) == 0) {
		rtnl_rule_set_src(rule, address);
		nl_addr_put(address);
	}
	rtnl_rule_set_table(rule, table);
	rtnl_rule_set_action(rule, FR_ACT_TO_TBL);
	rtnl_rule_set_prio(rule, VPN_RULE_PRIORITY);
	rtnl_rule_set_protocol(rule, VPN_RULE_PROTOCOL);
	return rule;
}

static bool
change(const struct nbx_host *host, bool add, const char *iif, const char *source,
       uint32_t table, struct nbx_error *err)
{
	struct nl_sock *sock = connect_route(host, err);
	struct rtnl_rule *rule;
	int rc;

	if (sock == NULL)
		return false;
	rule = make_rule(iif, source, table);
	rc = add ? rtnl_rule_add(sock, rule, NLM_F_CREATE) : rtnl_rule_delete(sock, rule, 0);
	rtnl_rule_put(rule);
	nl_socket_free(sock);
	if (rc < 0 && !(add == false && rc == -NLE_OBJ_NOTFOUND)) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot %s the rule \"iif %s lookup %u\": %s",
				add ? "add" : "delete", iif, table, nl_geterror(rc));
		return false;
	}
	return true;
}

bool
vpn_rule_add(const struct nbx_host *host, const char *iif, const char *source, uint32_t table,
	     struct nbx_error *err)
{
	return change(host, true, iif, source, table, err);
}

bool
vpn_rule_delete(const struct nbx_host *host, const char *iif, const char *source, uint32_t table,
		struct nbx_error *err)
{
	return change(host, false, iif, source, table, err);
}

bool
vpn_rules_remove_all(const struct nbx_host *host, struct nbx_error *err)
{
	struct nl_sock *sock = connect_route(host, err);
	struct nl_cache *cache = NULL;
	bool ok = true;
	int rc;

	if (sock == NULL)
		return false;
	rc = rtnl_rule_alloc_cache(sock, AF_INET, &cache);
	for (struct nl_object *object = rc == 0 ? nl_cache_get_first(cache) : NULL; object != NULL;
	     object = nl_cache_get_next(object)) {
		struct rtnl_rule *rule = (struct rtnl_rule *)object;
		uint8_t protocol = 0;

		if (rtnl_rule_get_protocol(rule, &protocol) == 0 && protocol == VPN_RULE_PROTOCOL &&
		    (rc = rtnl_rule_delete(sock, rule, 0)) < 0)
			ok = false;
	}
	if (rc < 0 || !ok)
		host->error_set(host, err, NBX_ERROR_IO, "cannot remove nestbox's routing rules: %s",
				nl_geterror(rc));
	nl_cache_free(cache);
	nl_socket_free(sock);
	return rc >= 0 && ok;
}
