/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "segment.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtnl.h"
#include "segment_spec.h"

/* Guards `made` and every change of a segment. */
static GMutex lock;
/* Machine name -> GUINT_TO_POINTER(index + 1): the segments this process made. */
static GHashTable *made;

void
nbx_segment_free(NbxSegment *segment)
{
	if (segment == NULL)
		return;
	g_free(segment->name);
	g_free(segment->netns_path);
	g_free(segment->outer_link);
	g_free(segment->outer_address);
	g_free(segment->inner_address);
	g_free(segment);
}

static NbxSegment *
segment_new(const NbxSegmentPlan *plan, guint index)
{
	NbxSegment *segment = g_new0(NbxSegment, 1);

	segment->name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, plan->machine, NULL);
	segment->netns_path = nbx_netns_path(segment->name);
	segment->index = index;
	segment->outer_link = g_strdup_printf(NBX_SEGMENT_OUTER_PREFIX "%u", index);
	segment->outer_address = nbx_segment_plan_uplink_address(plan, index, 1, TRUE);
	segment->inner_address = nbx_segment_plan_uplink_address(plan, index, 2, TRUE);
	return segment;
}

/* ---- whose segment is it -------------------------------------------------- */

/*
 * The nbxu* link of this namespace whose veth peer lives in namespace
 * @netns_name, or NULL: then that namespace is not a segment of ours.
 */
static char *
outer_link_of(struct nl_sock *sock, const char *netns_name, GError **error)
{
	g_autofree char *path = nbx_netns_path(netns_name);
	g_autoptr(GPtrArray) links = NULL;
	gint32 nsid = -1;
	int fd;

	/* The dump first: it makes the kernel give peer namespaces their ids. */
	links = nbx_rtnl_links_with_prefix(sock, NBX_SEGMENT_OUTER_PREFIX, error);
	if (links == NULL)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED, "cannot open %s: %s",
			    path, g_strerror(errno));
		return NULL;
	}
	if (!nbx_rtnl_netnsid(sock, fd, &nsid, error)) {
		close(fd);
		return NULL;
	}
	close(fd);
	for (guint i = 0; nsid >= 0 && i < links->len; i++) {
		NbxRtnlLink *link = g_ptr_array_index(links, i);

		if (link->peer_netnsid == nsid)
			return g_strdup(link->name);
	}
	return NULL;
}

static guint
outer_link_index(const char *link)
{
	return (guint)strtoul(link + strlen(NBX_SEGMENT_OUTER_PREFIX), NULL, 10);
}

/* The lowest N whose nbxu<N> does not exist here and that fits the prefix. */
static gboolean
free_index(struct nl_sock *sock, const NbxSegmentPlan *plan, guint *index, GError **error)
{
	g_autoptr(GPtrArray) links = nbx_rtnl_links_with_prefix(sock, NBX_SEGMENT_OUTER_PREFIX,
								 error);
	g_autoptr(GHashTable) taken = g_hash_table_new(g_direct_hash, g_direct_equal);

	if (links == NULL)
		return FALSE;
	for (guint i = 0; i < links->len; i++) {
		NbxRtnlLink *link = g_ptr_array_index(links, i);

		g_hash_table_add(taken, GUINT_TO_POINTER(outer_link_index(link->name)));
	}
	for (guint n = 0; n < plan->capacity; n++) {
		if (!g_hash_table_contains(taken, GUINT_TO_POINTER(n))) {
			*index = n;
			return TRUE;
		}
	}
	g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_INVALID,
		    "network.uplink_prefix: %s has room for %u segments and all are in use: "
		    "give it a shorter prefix length",
		    plan->uplink_prefix, plan->capacity);
	return FALSE;
}

/* ---- making and removing ------------------------------------------------- */

typedef struct {
	const NbxSegment *segment;
	const NbxSegmentSpec *spec;
} Layout;

static gboolean
add_uplink(int outer_fd, gpointer data, GError **error)
{
	const NbxSegment *segment = data;
	g_autoptr(NbxNlSock) sock = nbx_rtnl_open(error);

	return sock != NULL && nbx_rtnl_add_veth(sock, NBX_SEGMENT_UPLINK, segment->outer_link,
						 outer_fd, error);
}

static gboolean
write_sysctl(const char *path, const char *value, GError **error)
{
	g_autoptr(GError) local = NULL;

	/* /proc/sys/net is the namespace of the thread that opens it. */
	if (!g_file_set_contents_full(path, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, &local)) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED, "cannot set %s: %s",
			    path, local->message);
		return FALSE;
	}
	return TRUE;
}

/*
 * br_netfilter, when the host loaded it, runs the inet hooks on frames as
 * they enter a bridge, before the bridge device sees them: a frame the
 * router drops would then be missing from the sniffer's capture on nbx0.
 * nbx0 has one port and bridges nothing, so the segment turns it off.
 */
static gboolean
turn_off_bridge_netfilter(GError **error)
{
	static const char *const keys[] = { "bridge-nf-call-iptables", "bridge-nf-call-ip6tables",
					    "bridge-nf-call-arptables" };

	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *path = g_build_filename("/proc/sys/net/bridge", keys[i], NULL);

		if (g_file_test(path, G_FILE_TEST_EXISTS) && !write_sysctl(path, "0", error))
			return FALSE;
	}
	return TRUE;
}

/* Runs inside the segment: everything but the veth, idempotently. */
static gboolean
lay_out_inside(gpointer data, GError **error)
{
	const Layout *layout = data;
	g_autoptr(NbxNlSock) sock = nbx_rtnl_open(error);
	g_autofree char *gateway = NULL;

	if (sock == NULL)
		return FALSE;
	gateway = g_strndup(layout->segment->outer_address,
			    strcspn(layout->segment->outer_address, "/"));
	return nbx_rtnl_set_up(sock, "lo", NULL, error) &&
	       nbx_rtnl_ensure_bridge(sock, NBX_SEGMENT_BRIDGE, layout->spec->host_mac, error) &&
	       nbx_rtnl_replace_address(sock, NBX_SEGMENT_BRIDGE, layout->spec->host_address,
					error) &&
	       nbx_rtnl_set_up(sock, NBX_SEGMENT_BRIDGE, NULL, error) &&
	       nbx_rtnl_replace_address(sock, NBX_SEGMENT_UPLINK, layout->segment->inner_address,
					error) &&
	       nbx_rtnl_set_up(sock, NBX_SEGMENT_UPLINK, NULL, error) &&
	       nbx_rtnl_replace_default_route(sock, NBX_SEGMENT_UPLINK, gateway, error) &&
	       write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", error) &&
	       turn_off_bridge_netfilter(error);
}

static gboolean
lay_out(struct nl_sock *sock, const NbxSegment *segment, const NbxSegmentSpec *spec,
	GError **error)
{
	Layout layout = { .segment = segment, .spec = spec };

	if (!nbx_netns_run(segment->netns_path, lay_out_inside, &layout, error))
		return FALSE;
	return nbx_rtnl_replace_address(sock, segment->outer_link, segment->outer_address,
					error) &&
	       nbx_rtnl_set_up(sock, segment->outer_link, NULL, error);
}

/* Removes namespace @netns_name and its uplink @outer_link (NULL: none known). */
static gboolean
remove_segment(struct nl_sock *sock, const char *netns_name, const char *outer_link,
	       GError **error)
{
	/* The link first: a namespace someone still holds would keep its end. */
	if (outer_link != NULL && !nbx_rtnl_delete_link(sock, outer_link, error))
		return FALSE;
	return nbx_netns_delete(netns_name, error);
}

static void
ensure_registry(void)
{
	if (made == NULL)
		made = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* A namespace of that name exists, not made by this process: take it away if ours. */
static gboolean
replace_stale(struct nl_sock *sock, const char *netns_name, GError **error)
{
	g_autofree char *outer = NULL;
	GError *local = NULL;

	if (!nbx_netns_exists(netns_name))
		return TRUE;
	outer = outer_link_of(sock, netns_name, &local);
	if (local != NULL) {
		g_propagate_error(error, local);
		return FALSE;
	}
	if (outer == NULL) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS,
			    "network namespace %s/%s exists and is not a segment of this daemon's "
			    "namespace: remove it (ip netns delete %s) or rename the machine",
			    NBX_NETNS_DIR, netns_name, netns_name);
		return FALSE;
	}
	return remove_segment(sock, netns_name, outer, error);
}

static NbxSegment *
create_segment(struct nl_sock *sock, const NbxSegmentPlan *plan, const NbxSegmentSpec *spec,
	       GError **error)
{
	g_autoptr(NbxSegment) segment = NULL;
	guint index;

	if (!free_index(sock, plan, &index, error))
		return NULL;
	segment = segment_new(plan, index);
	if (!nbx_netns_create(segment->name, add_uplink, segment, error))
		return NULL;
	if (!lay_out(sock, segment, spec, error)) {
		remove_segment(sock, segment->name, segment->outer_link, NULL);
		return NULL;
	}
	g_hash_table_insert(made, g_strdup(plan->machine), GUINT_TO_POINTER(index + 1));
	return g_steal_pointer(&segment);
}

NbxSegment *
nbx_segment_ensure(const NbxSegmentSpec *spec, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);
	g_autoptr(NbxNlSock) sock = NULL;
	g_autoptr(NbxSegment) segment = NULL;
	NbxSegmentPlan plan;
	gpointer index;

	if (!nbx_segment_plan(spec, &plan, error))
		return NULL;
	sock = nbx_rtnl_open(error);
	if (sock == NULL)
		return NULL;
	ensure_registry();
	index = g_hash_table_lookup(made, spec->name);
	if (index != NULL) {
		segment = segment_new(&plan, GPOINTER_TO_UINT(index) - 1);
		if (!nbx_netns_exists(segment->name)) {
			/* Someone deleted it under us: make it again. */
			g_hash_table_remove(made, spec->name);
			g_clear_pointer(&segment, nbx_segment_free);
		} else if (!lay_out(sock, segment, spec, error)) {
			return NULL;
		}
	}
	if (segment == NULL) {
		g_autofree char *netns_name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, spec->name, NULL);

		if (!replace_stale(sock, netns_name, error))
			return NULL;
		segment = create_segment(sock, &plan, spec, error);
	}
	if (segment == NULL)
		g_prefix_error(error, "machine %s: segment: ", spec->name);
	return g_steal_pointer(&segment);
}

gboolean
nbx_segment_remove(const char *name, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);
	g_autofree char *netns_name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, name, NULL);
	g_autoptr(NbxNlSock) sock = NULL;
	g_autofree char *outer = NULL;
	GError *local = NULL;

	ensure_registry();
	if (!nbx_netns_exists(netns_name)) {
		g_hash_table_remove(made, name);
		return TRUE;
	}
	sock = nbx_rtnl_open(error);
	if (sock == NULL)
		return FALSE;
	outer = outer_link_of(sock, netns_name, &local);
	if (local != NULL) {
		g_propagate_error(error, local);
		return FALSE;
	}
	if (outer == NULL && !g_hash_table_contains(made, name)) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS,
			    "network namespace %s is not a segment of this daemon's namespace: "
			    "left alone",
			    netns_name);
		return FALSE;
	}
	g_hash_table_remove(made, name);
	return remove_segment(sock, netns_name, outer, error);
}

static void
keep_first_error(GError **first, GError *error)
{
	if (*first == NULL)
		*first = error;
	else
		g_error_free(error);
}

/* Removes the stale segments among @names; adds the uplinks of those kept to @kept. */
static void
remove_stale_namespaces(struct nl_sock *sock, GPtrArray *names, const char *const *keep_names,
			GHashTable *kept, GError **first)
{
	for (guint i = 0; i < names->len; i++) {
		const char *netns_name = g_ptr_array_index(names, i);
		const char *machine = netns_name + strlen(NBX_SEGMENT_NETNS_PREFIX);
		gboolean ours = g_hash_table_contains(made, machine);
		g_autofree char *outer = NULL;
		GError *local = NULL;

		outer = outer_link_of(sock, netns_name, &local);
		if (local != NULL) {
			keep_first_error(first, local);
			continue;
		}
		if (outer == NULL && !ours)
			continue; /* not a segment of this namespace */
		if (ours && keep_names != NULL && g_strv_contains(keep_names, machine)) {
			if (outer != NULL)
				g_hash_table_add(kept, g_steal_pointer(&outer));
			continue;
		}
		g_hash_table_remove(made, machine);
		if (!remove_segment(sock, netns_name, outer, &local))
			keep_first_error(first, local);
	}
}

gboolean
nbx_segments_remove_stale(const char *const *keep_names, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);
	g_autoptr(GHashTable) kept = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(NbxNlSock) sock = nbx_rtnl_open(error);
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) links = NULL;
	GHashTableIter iter;
	gpointer machine;
	GError *first = NULL;
	GError *local = NULL;

	if (sock == NULL)
		return FALSE;
	ensure_registry();
	names = nbx_netns_list(NBX_SEGMENT_NETNS_PREFIX, error);
	if (names == NULL)
		return FALSE;
	remove_stale_namespaces(sock, names, keep_names, kept, &first);
	/* Uplinks whose namespace lost its name (or is held by a dead process's child). */
	links = nbx_rtnl_links_with_prefix(sock, NBX_SEGMENT_OUTER_PREFIX, &local);
	if (links == NULL)
		keep_first_error(&first, g_steal_pointer(&local));
	for (guint i = 0; links != NULL && i < links->len; i++) {
		NbxRtnlLink *link = g_ptr_array_index(links, i);

		if (!g_hash_table_contains(kept, link->name) &&
		    !nbx_rtnl_delete_link(sock, link->name, &local))
			keep_first_error(&first, local);
	}
	g_hash_table_iter_init(&iter, made);
	while (g_hash_table_iter_next(&iter, &machine, NULL))
		if (keep_names == NULL || !g_strv_contains(keep_names, machine))
			g_hash_table_iter_remove(&iter);
	if (first != NULL) {
		g_propagate_prefixed_error(error, first, "removing stale segments: ");
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	const char *ifname;
} Attach;

static gboolean
attach_inside(gpointer data, GError **error)
{
	const Attach *attach = data;
	g_autoptr(NbxNlSock) sock = nbx_rtnl_open(error);

	return sock != NULL && nbx_rtnl_set_up(sock, attach->ifname, NBX_SEGMENT_BRIDGE, error);
}

gboolean
nbx_segment_attach(const char *name, const char *ifname, GError **error)
{
	g_autofree char *netns_name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, name, NULL);
	g_autofree char *path = nbx_netns_path(netns_name);
	Attach attach = { .ifname = ifname };

	if (!nbx_netns_exists(netns_name)) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "machine %s has no segment (%s)", name, path);
		return FALSE;
	}
	if (!nbx_netns_run(path, attach_inside, &attach, error)) {
		g_prefix_error(error, "machine %s: segment: ", name);
		return FALSE;
	}
	return TRUE;
}
