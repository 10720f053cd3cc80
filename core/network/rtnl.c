/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rtnl.h"

#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "netns.h"

typedef struct rtnl_link NbxRtnlObject;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxRtnlObject, rtnl_link_put)
typedef struct nl_addr NbxNlAddr;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxNlAddr, nl_addr_put)

static gboolean
failed(GError **error, int nl_error, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
failed(GError **error, int nl_error, const char *format, ...)
{
	g_autofree char *what = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED, "%s: %s", what,
		    nl_geterror(nl_error));
	return FALSE;
}

struct nl_sock *
nbx_rtnl_open(GError **error)
{
	struct nl_sock *sock = nl_socket_alloc();
	int err;

	if (sock == NULL) {
		failed(error, -NLE_NOMEM, "cannot open a netlink socket");
		return NULL;
	}
	err = nl_connect(sock, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sock);
		failed(error, err, "cannot connect a route netlink socket");
		return NULL;
	}
	return sock;
}

void
nbx_rtnl_close(struct nl_sock *sock)
{
	if (sock != NULL)
		nl_socket_free(sock);
}

/* The link @name as the kernel has it now, or NULL (with @error only on a real failure). */
static struct rtnl_link *
get_link(struct nl_sock *sock, const char *name, GError **error)
{
	struct rtnl_link *link = NULL;
	int err = rtnl_link_get_kernel(sock, 0, name, &link);

	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
		return NULL;
	if (err < 0)
		failed(error, err, "cannot look up link %s", name);
	return link;
}

/* The ifindex of @name, 0 when there is none (not an error). */
static int
link_ifindex(struct nl_sock *sock, const char *name, GError **error)
{
	g_autoptr(NbxRtnlObject) link = get_link(sock, name, error);

	return link != NULL ? rtnl_link_get_ifindex(link) : 0;
}

/* The ifindex of @name, or 0 with @error set, a missing link included. */
static int
existing_ifindex(struct nl_sock *sock, const char *name, GError **error)
{
	GError *local = NULL;
	int ifindex = link_ifindex(sock, name, &local);

	if (local != NULL)
		g_propagate_error(error, local);
	else if (ifindex == 0)
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "link %s does not exist", name);
	return ifindex;
}

gboolean
nbx_rtnl_add_veth(struct nl_sock *sock, const char *name, const char *peer_name, int peer_ns_fd,
		  GError **error)
{
	g_autoptr(NbxRtnlObject) link = rtnl_link_veth_alloc();
	g_autoptr(NbxRtnlObject) peer = NULL;
	int err;

	if (link == NULL)
		return failed(error, -NLE_NOMEM, "cannot make veth %s", name);
	rtnl_link_set_name(link, name);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, peer_name);
	rtnl_link_set_ns_fd(peer, peer_ns_fd);
	err = rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0)
		return failed(error, err, "cannot create veth pair %s/%s", name, peer_name);
	return TRUE;
}

static gboolean
parse_mac(const char *mac, struct nl_addr **out, GError **error)
{
	int err = nl_addr_parse(mac, AF_LLC, out);

	if (err < 0 || nl_addr_get_len(*out) != 6) {
		g_clear_pointer(out, nl_addr_put);
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_INVALID,
			    "\"%s\" is not a MAC address", mac);
		return FALSE;
	}
	return TRUE;
}

gboolean
nbx_rtnl_ensure_bridge(struct nl_sock *sock, const char *name, const char *mac, GError **error)
{
	g_autoptr(NbxNlAddr) address = NULL;
	g_autoptr(NbxRtnlObject) existing = NULL;
	g_autoptr(NbxRtnlObject) bridge = NULL;
	GError *local = NULL;
	int err;

	if (mac != NULL && !parse_mac(mac, &address, error))
		return FALSE;
	existing = get_link(sock, name, &local);
	if (local != NULL) {
		g_propagate_error(error, local);
		return FALSE;
	}
	bridge = existing != NULL ? rtnl_link_alloc() : rtnl_link_bridge_alloc();
	rtnl_link_set_name(bridge, name);
	if (address != NULL)
		rtnl_link_set_addr(bridge, address);
	if (existing == NULL)
		err = rtnl_link_add(sock, bridge, NLM_F_CREATE | NLM_F_EXCL);
	else if (address != NULL && nl_addr_cmp(rtnl_link_get_addr(existing), address) != 0)
		err = rtnl_link_change(sock, existing, bridge, 0);
	else
		return TRUE;
	if (err < 0)
		return failed(error, err, "cannot %s bridge %s", existing ? "change" : "create",
			      name);
	return TRUE;
}

gboolean
nbx_rtnl_set_up(struct nl_sock *sock, const char *name, const char *master, GError **error)
{
	g_autoptr(NbxRtnlObject) link = NULL;
	g_autoptr(NbxRtnlObject) changes = rtnl_link_alloc();
	GError *local = NULL;
	int master_index = 0;
	int err;

	link = get_link(sock, name, &local);
	if (link == NULL) {
		if (local == NULL)
			local = g_error_new(NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
					    "link %s does not exist", name);
		g_propagate_error(error, local);
		return FALSE;
	}
	if (master != NULL) {
		master_index = existing_ifindex(sock, master, error);
		if (master_index == 0)
			return FALSE;
		rtnl_link_set_master(changes, master_index);
	}
	rtnl_link_set_flags(changes, IFF_UP);
	err = rtnl_link_change(sock, link, changes, 0);
	if (err < 0)
		return failed(error, err, "cannot set %s up%s%s", name, master ? " in " : "",
			      master ? master : "");
	return TRUE;
}

gboolean
nbx_rtnl_delete_link(struct nl_sock *sock, const char *name, GError **error)
{
	g_autoptr(NbxRtnlObject) link = rtnl_link_alloc();
	int err;

	rtnl_link_set_name(link, name);
	err = rtnl_link_delete(sock, link);
	if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV)
		return failed(error, err, "cannot delete link %s", name);
	return TRUE;
}

gboolean
nbx_rtnl_replace_address(struct nl_sock *sock, const char *name, const char *address,
			 GError **error)
{
	g_autoptr(NbxNlAddr) local = NULL;
	struct rtnl_addr *request;
	int ifindex = existing_ifindex(sock, name, error);
	int err;

	if (ifindex == 0)
		return FALSE;
	err = nl_addr_parse(address, AF_INET, &local);
	if (err < 0)
		return failed(error, err, "\"%s\" is not an IPv4 address", address);
	request = rtnl_addr_alloc();
	rtnl_addr_set_ifindex(request, ifindex);
	rtnl_addr_set_local(request, local);
	err = rtnl_addr_add(sock, request, NLM_F_REPLACE);
	rtnl_addr_put(request);
	if (err < 0)
		return failed(error, err, "cannot add address %s to %s", address, name);
	return TRUE;
}

gboolean
nbx_rtnl_replace_default_route(struct nl_sock *sock, const char *name, const char *gateway,
			       GError **error)
{
	g_autoptr(NbxNlAddr) destination = NULL;
	g_autoptr(NbxNlAddr) via = NULL;
	struct rtnl_route *route;
	struct rtnl_nexthop *hop;
	int ifindex = existing_ifindex(sock, name, error);
	int err;

	if (ifindex == 0)
		return FALSE;
	err = nl_addr_parse("0.0.0.0/0", AF_INET, &destination);
	if (err >= 0)
		err = nl_addr_parse(gateway, AF_INET, &via);
	if (err < 0)
		return failed(error, err, "\"%s\" is not an IPv4 gateway", gateway);
	route = rtnl_route_alloc();
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	rtnl_route_set_dst(route, destination);
	hop = rtnl_route_nh_alloc();
	rtnl_route_nh_set_ifindex(hop, ifindex);
	rtnl_route_nh_set_gateway(hop, via);
	rtnl_route_add_nexthop(route, hop);
	err = rtnl_route_add(sock, route, NLM_F_REPLACE);
	rtnl_route_put(route);
	if (err < 0)
		return failed(error, err, "cannot route by default through %s on %s", gateway, name);
	return TRUE;
}

void
nbx_rtnl_link_free(NbxRtnlLink *link)
{
	g_free(link->name);
	g_free(link);
}

GPtrArray *
nbx_rtnl_links_with_prefix(struct nl_sock *sock, const char *prefix, GError **error)
{
	g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_rtnl_link_free);
	struct nl_cache *cache = NULL;
	int err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &cache);

	if (err < 0) {
		failed(error, err, "cannot list links");
		return NULL;
	}
	for (struct nl_object *object = nl_cache_get_first(cache); object != NULL;
	     object = nl_cache_get_next(object)) {
		struct rtnl_link *link = (struct rtnl_link *)object;
		const char *name = rtnl_link_get_name(link);
		NbxRtnlLink *found;

		if (name == NULL || !g_str_has_prefix(name, prefix))
			continue;
		found = g_new0(NbxRtnlLink, 1);
		found->name = g_strdup(name);
		if (rtnl_link_get_link_netnsid(link, &found->peer_netnsid) < 0)
			found->peer_netnsid = -1;
		g_ptr_array_add(links, found);
	}
	nl_cache_free(cache);
	return g_steal_pointer(&links);
}

static int
take_nsid(struct nl_msg *message, void *data)
{
	struct nlattr *attributes[NETNSA_MAX + 1];
	gint32 *nsid = data;

	if (nlmsg_parse(nlmsg_hdr(message), sizeof(struct rtgenmsg), attributes, NETNSA_MAX,
			NULL) >= 0 &&
	    attributes[NETNSA_NSID] != NULL)
		*nsid = (gint32)nla_get_u32(attributes[NETNSA_NSID]);
	return NL_OK;
}

/* RTM_GETNSID has no libnl-route helper: one request, its answer, its ack. */
gboolean
nbx_rtnl_netnsid(struct nl_sock *sock, int ns_fd, gint32 *nsid, GError **error)
{
	struct rtgenmsg header = { .rtgen_family = AF_UNSPEC };
	struct nl_msg *message = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	struct nl_cb *callbacks = nl_cb_alloc(NL_CB_DEFAULT);
	int err = -NLE_NOMEM;

	*nsid = -1;
	if (message != NULL && callbacks != NULL &&
	    nlmsg_append(message, &header, sizeof header, NLMSG_ALIGNTO) >= 0 &&
	    nla_put_u32(message, NETNSA_FD, (guint32)ns_fd) >= 0) {
		nl_cb_set(callbacks, NL_CB_VALID, NL_CB_CUSTOM, take_nsid, nsid);
		err = nl_send_auto(sock, message);
		if (err >= 0)
			err = nl_recvmsgs(sock, callbacks);
		/* libnl asked for an ack (auto-ack): take it, or it answers the next request. */
		if (err >= 0)
			err = nl_wait_for_ack(sock);
	}
	nlmsg_free(message);
	nl_cb_put(callbacks);
	if (err < 0)
		return failed(error, err, "cannot ask the id of a network namespace");
	return TRUE;
}
