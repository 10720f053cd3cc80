/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* setns, unshare */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

G_DEFINE_QUARK(nbx-network-error-quark, nbx_network_error)

/*
 * The namespaces this process made: name -> a descriptor of the file under
 * the mount, holding a flock for as long as the namespace is ours. Two
 * daemons whose mount namespaces do not share their mounts (one started
 * under `ip netns exec`, say) each see only an empty file at
 * /run/netns/NAME where the other's namespace is mounted. Without the lock
 * the second would mount its own namespace on the same file, and the
 * first one's delete, which unlinks the file, would detach it. The kernel
 * drops the lock when its holder dies, so the file of a daemon killed with
 * -9 can be taken by the next one.
 */
static GMutex held_lock;
static GHashTable *held;

static void
hold(const char *name, int fd)
{
	g_mutex_lock(&held_lock);
	if (held == NULL)
		held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_hash_table_insert(held, g_strdup(name), GINT_TO_POINTER(fd));
	g_mutex_unlock(&held_lock);
}

static void
release(const char *name)
{
	gpointer fd;

	g_mutex_lock(&held_lock);
	if (held != NULL && g_hash_table_lookup_extended(held, name, NULL, &fd)) {
		close(GPOINTER_TO_INT(fd));
		g_hash_table_remove(held, name);
	}
	g_mutex_unlock(&held_lock);
}

char *
nbx_netns_path(const char *name)
{
	return g_build_filename(NBX_NETNS_DIR, name, NULL);
}

gboolean
nbx_netns_exists(const char *name)
{
	g_autofree char *path = nbx_netns_path(name);
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

typedef struct {
	const char *ns_path;
	NbxNetnsFunc func;
	gpointer data;
	GError *error;
} RunRequest;

static gpointer
run_inside(gpointer data)
{
	RunRequest *request = data;
	int fd = open(request->ns_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		int saved = errno;

		g_set_error(&request->error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot enter network namespace %s: %s", request->ns_path,
			    g_strerror(saved));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	request->func(request->data, &request->error);
	return NULL;
}

gboolean
nbx_netns_run(const char *ns_path, NbxNetnsFunc func, gpointer data, GError **error)
{
	RunRequest request = { .ns_path = ns_path, .func = func, .data = data };
	GThread *thread;

	g_return_val_if_fail(ns_path != NULL && func != NULL, FALSE);
	/* A new thread each time: it leaves with the namespace it entered, so
	 * no pooled thread is ever handed back in someone else's namespace. */
	thread = g_thread_new("nbx-netns", run_inside, &request);
	g_thread_join(thread);
	if (request.error != NULL) {
		g_propagate_error(error, request.error);
		return FALSE;
	}
	return TRUE;
}

/*
 * /run/netns must be a shared mount so the namespaces mounted under it are
 * seen by every mount namespace that shares it (what iproute2 does).
 */
static gboolean
prepare_netns_dir(GError **error)
{
	if (g_mkdir_with_parents(NBX_NETNS_DIR, 0755) != 0)
		goto failed;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (mount("", NBX_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
			return TRUE;
		if (errno != EINVAL || attempt > 0)
			goto failed;
		/* Not a mount point yet: make it one, then share it. */
		if (mount(NBX_NETNS_DIR, NBX_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) != 0)
			goto failed;
	}
failed:
	g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
		    "cannot prepare %s for network namespaces: %s", NBX_NETNS_DIR,
		    g_strerror(errno));
	return FALSE;
}

typedef struct {
	const char *path;
	NbxNetnsSetupFunc setup;
	gpointer data;
	int outer_fd;
	GError *error;
} CreateRequest;

static gpointer
create_inside(gpointer data)
{
	CreateRequest *request = data;

	if (unshare(CLONE_NEWNET) != 0) {
		g_set_error(&request->error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot create a network namespace for %s: %s", request->path,
			    g_strerror(errno));
		return NULL;
	}
	if (request->setup != NULL &&
	    !request->setup(request->outer_fd, request->data, &request->error))
		return NULL;
	/* /proc/self is the thread group leader: this thread's own namespace
	 * is under thread-self. */
	if (mount("/proc/thread-self/ns/net", request->path, "none", MS_BIND, NULL) != 0)
		g_set_error(&request->error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot mount the network namespace at %s: %s", request->path,
			    g_strerror(errno));
	return NULL;
}

gboolean
nbx_netns_create(const char *name, NbxNetnsSetupFunc setup, gpointer data, GError **error)
{
	g_autofree char *path = nbx_netns_path(name);
	CreateRequest request = { .path = path, .setup = setup, .data = data, .outer_fd = -1 };
	int fd;

	if (nbx_netns_exists(name)) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS,
			    "network namespace %s exists already", path);
		return FALSE;
	}
	if (!prepare_netns_dir(error))
		return FALSE;
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot create %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;

		/* Not unlinked: the file is the other holder's. */
		close(fd);
		if (saved == EWOULDBLOCK)
			g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_EXISTS,
				    "network namespace %s is held by another process whose mount "
				    "namespace this one does not see (another nestboxd?): give the "
				    "machine another name",
				    path);
		else
			g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
				    "cannot lock %s: %s", path, g_strerror(saved));
		return FALSE;
	}
	request.outer_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (request.outer_fd < 0) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot open this thread's network namespace: %s", g_strerror(errno));
	} else {
		g_thread_join(g_thread_new("nbx-netns-add", create_inside, &request));
		close(request.outer_fd);
	}
	if (request.outer_fd < 0 || request.error != NULL) {
		unlink(path);
		close(fd);
		if (request.error != NULL)
			g_propagate_error(error, request.error);
		return FALSE;
	}
	hold(name, fd);
	return TRUE;
}

gboolean
nbx_netns_delete(const char *name, GError **error)
{
	g_autofree char *path = nbx_netns_path(name);

	/* MNT_DETACH: a process that still holds the namespace keeps it; the
	 * name goes now, like `ip netns delete`. */
	if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot unmount network namespace %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED,
			    "cannot remove %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	/* Only now: until the name is gone, no one else may take the file. */
	release(name);
	return TRUE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
nbx_netns_list(const char *prefix, GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) local = NULL;
	g_autoptr(GDir) dir = g_dir_open(NBX_NETNS_DIR, 0, &local);
	const char *entry;

	if (dir == NULL) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&names);
		g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_FAILED, "%s",
			    local->message);
		return NULL;
	}
	while ((entry = g_dir_read_name(dir)) != NULL)
		if (g_str_has_prefix(entry, prefix) && nbx_netns_exists(entry))
			g_ptr_array_add(names, g_strdup(entry));
	g_ptr_array_sort(names, compare_names);
	return g_steal_pointer(&names);
}
