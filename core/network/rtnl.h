/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The route-netlink requests segments need, on libnl-route-3. A socket
 * works in the namespace of the thread that opened it: open one per
 * namespace, on a thread inside it (nbx_netns_run).
 *
 * Every call fills @error with a message naming the link or address.
 */
#pragma once

#include <glib.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

typedef struct nl_sock NbxNlSock;
struct nl_sock *nbx_rtnl_open(GError **error);
void nbx_rtnl_close(struct nl_sock *sock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxNlSock, nbx_rtnl_close)

/* A veth @name here whose peer @peer_name is created in the namespace open as @peer_ns_fd. */
gboolean nbx_rtnl_add_veth(struct nl_sock *sock, const char *name, const char *peer_name,
			   int peer_ns_fd, GError **error);

/* A bridge @name with MAC @mac (NULL: the kernel's), made if missing, set to @mac if not. */
gboolean nbx_rtnl_ensure_bridge(struct nl_sock *sock, const char *name, const char *mac,
				GError **error);

/* Sets @name up, enslaved to @master when not NULL. */
gboolean nbx_rtnl_set_up(struct nl_sock *sock, const char *name, const char *master,
			 GError **error);

/* Deletes @name; a missing link is not an error. */
gboolean nbx_rtnl_delete_link(struct nl_sock *sock, const char *name, GError **error);

/* Adds "ADDRESS/LENGTH" (IPv4) to @name, or leaves it when it is there. */
gboolean nbx_rtnl_replace_address(struct nl_sock *sock, const char *name, const char *address,
				  GError **error);

/* The default IPv4 route of the main table: through @gateway on @name. */
gboolean nbx_rtnl_replace_default_route(struct nl_sock *sock, const char *name,
					const char *gateway, GError **error);

typedef struct {
	char *name;
	/* The namespace id (here) of the peer's namespace, -1 if none or not a veth. */
	gint32 peer_netnsid;
} NbxRtnlLink;

void nbx_rtnl_link_free(NbxRtnlLink *link);

/* Every link whose name starts with @prefix, NbxRtnlLink *. */
GPtrArray *nbx_rtnl_links_with_prefix(struct nl_sock *sock, const char *prefix, GError **error);

/* The id this namespace gives the namespace open as @ns_fd, -1 when it gives none. */
gboolean nbx_rtnl_netnsid(struct nl_sock *sock, int ns_fd, gint32 *nsid, GError **error);
