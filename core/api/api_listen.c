/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_listen.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * A socket file left by a daemon that died is replaced; one that answers
 * belongs to a live daemon, and taking it over would cut that daemon off.
 */
static gboolean
clear_stale_socket(const char *path, GError **error)
{
	g_autoptr(GSocket) probe = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) connect_error = NULL;
	struct stat st;

	if (g_lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return TRUE;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot inspect %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			"api.socket: %s exists and is not a socket; remove it or choose another "
			"path",
			path);
		return FALSE;
	}
	probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
			     error);
	if (probe == NULL)
		return FALSE;
	address = g_unix_socket_address_new(path);
	if (g_socket_connect(probe, address, NULL, &connect_error)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
			    "another nestboxd is listening on %s; stop it first, or give this one "
			    "another api.socket",
			    path);
		return FALSE;
	}
	if (!g_error_matches(connect_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "api.socket: cannot tell whether %s is in use: %s", path,
			    connect_error->message);
		return FALSE;
	}
	if (g_unlink(path) != 0 && errno != ENOENT) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot remove the stale socket %s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
set_socket_access(const char *path, const char *group, GError **error)
{
	struct group *entry;

	if (g_chmod(path, 0660) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot chmod 0660 %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (group == NULL || *group == '\0')
		return TRUE;
	errno = 0;
	entry = getgrnam(group);
	if (entry == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "api.socket_group: no group named \"%s\"%s%s", group,
			    errno != 0 ? ": " : "", errno != 0 ? g_strerror(errno) : "");
		return FALSE;
	}
	if (chown(path, (uid_t)-1, entry->gr_gid) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket_group: cannot give %s to group \"%s\": %s (the daemon must "
			    "be root or a member of the group)",
			    path, group, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static int
new_socket(int family, const char *setting, GError **error)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "%s: cannot make a socket: %s", setting, g_strerror(errno));
	return fd;
}

int
nbx_api_listen_unix(const char *path, const char *group, int backlog, dev_t *dev, ino_t *ino,
		    GError **error)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "api.socket: %s is %zu bytes long; a UNIX socket path has at most %zu",
			    path, strlen(path), sizeof sun.sun_path - 1);
		return -1;
	}
	if (!clear_stale_socket(path, error))
		return -1;
	fd = new_socket(AF_UNIX, "api.socket", error);
	if (fd < 0)
		return -1;
	strcpy(sun.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot bind %s: %s", path, g_strerror(errno));
		close(fd);
		return -1;
	}
	/* Until listen() nobody can connect, so the mode is right before anyone can. */
	if (g_lstat(path, &st) == 0) {
		*dev = st.st_dev;
		*ino = st.st_ino;
	}
	if (!set_socket_access(path, group, error) || listen(fd, backlog) != 0) {
		if (error != NULL && *error == NULL)
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "api.socket: cannot listen on %s: %s", path, g_strerror(errno));
		close(fd);
		nbx_api_unlink_unix(path, *dev, *ino);
		return -1;
	}
	return fd;
}

/* "ADDRESS:PORT" or "[IPV6]:PORT", an IP literal: a name could resolve to anything. */
static GSocketAddress *
parse_tcp_address(const char *text, GError **error)
{
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) inet = NULL;
	const char *colon = strrchr(text, ':');
	guint64 port = 0;

	if (colon != NULL && text[0] == '[' && colon > text && colon[-1] == ']')
		host = g_strndup(text + 1, colon - text - 2);
	else if (colon != NULL && strchr(text, ':') == colon)
		host = g_strndup(text, colon - text);
	if (host == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL) ||
	    (inet = g_inet_address_new_from_string(host)) == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.tcp: expected ADDRESS:PORT with an IP address and a port from 1 "
			    "to 65535 (e.g. 127.0.0.1:8090 or [::1]:8090), found \"%s\"",
			    text);
		return NULL;
	}
	return g_inet_socket_address_new(inet, (guint16)port);
}

int
nbx_api_listen_tcp(const char *text, int backlog, GError **error)
{
	g_autoptr(GSocketAddress) address = parse_tcp_address(text, error);
	struct sockaddr_storage native;
	gssize size;
	int one = 1;
	int fd;

	if (address == NULL)
		return -1;
	size = g_socket_address_get_native_size(address);
	if (!g_socket_address_to_native(address, &native, sizeof native, error))
		return -1;
	fd = new_socket(native.ss_family, "api.tcp", error);
	if (fd < 0)
		return -1;
	/* A restarted daemon must not wait for the old connections' TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&native, (socklen_t)size) != 0 ||
	    listen(fd, backlog) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.tcp: cannot listen on %s: %s", text, g_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void
nbx_api_unlink_unix(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (path != NULL && g_lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		g_unlink(path);
}
