/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Named network namespaces, made the way `ip netns add` makes them: a
 * thread unshares CLONE_NEWNET and its namespace file is bind-mounted at
 * /run/netns/NAME, so `ip netns` tools see it and it outlives the thread.
 *
 * A network namespace is a property of a THREAD (setns and unshare act on
 * the calling thread only), and a socket belongs to the namespace its
 * thread was in when it was opened, for the socket's whole life. So code
 * that must talk to a namespace opens its sockets in a function run by
 * nbx_netns_run(), on a fresh thread that entered the namespace and exits
 * afterwards: no thread of the daemon ever changes namespace for good.
 */
#pragma once

#include <glib.h>

#define NBX_NETNS_DIR "/run/netns"

#define NBX_NETWORK_ERROR (nbx_network_error_quark())
GQuark nbx_network_error_quark(void);

typedef enum {
	/* A system call or netlink request failed; the message says which. */
	NBX_NETWORK_ERROR_FAILED,
	/* A setting or argument is not acceptable. */
	NBX_NETWORK_ERROR_INVALID,
	/* The name is taken by something that is not ours. */
	NBX_NETWORK_ERROR_EXISTS,
} NbxNetworkError;

/* Runs inside a namespace, on a thread of its own; fills @error on failure. */
typedef gboolean (*NbxNetnsFunc)(gpointer data, GError **error);

/* "/run/netns/NAME". */
char *nbx_netns_path(const char *name);

/*
 * Runs @func(@data) on a new thread that entered the network namespace
 * @ns_path (/run/netns/NAME, /proc/PID/ns/net) and waits for it. The
 * caller's thread keeps its namespace; sockets @func opens stay in @ns_path.
 */
gboolean nbx_netns_run(const char *ns_path, NbxNetnsFunc func, gpointer data, GError **error);

/*
 * Creates the namespace NAME. @setup (may be NULL) runs inside it BEFORE it
 * gets its name, with the caller's namespace open as @outer_fd, so whatever
 * must tie the new namespace to the caller's (a veth pair across) exists the
 * moment the name does: a process killed in between leaves nothing named.
 * An empty regular file of that name (left by a daemon killed between the
 * two steps, or by a mount namespace that is gone) is reused, unless another
 * live process holds it: the file stays locked (flock) by its maker until
 * nbx_netns_delete(), so a daemon in a mount namespace that cannot see the
 * mount gets NBX_NETWORK_ERROR_EXISTS instead of taking the name.
 */
typedef gboolean (*NbxNetnsSetupFunc)(int outer_fd, gpointer data, GError **error);
gboolean nbx_netns_create(const char *name, NbxNetnsSetupFunc setup, gpointer data,
			  GError **error);

/* Unmounts and unlinks /run/netns/NAME; a missing one is not an error. */
gboolean nbx_netns_delete(const char *name, GError **error);

/* Whether /run/netns/NAME is a mounted namespace in this mount namespace. */
gboolean nbx_netns_exists(const char *name);

/* Names under /run/netns that start with @prefix and are mounted namespaces, sorted. */
GPtrArray *nbx_netns_list(const char *prefix, GError **error);
