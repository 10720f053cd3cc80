/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Client connections: how many are open against api.max_connections (and
 * streams against their own cap), and the deadline for each request's
 * headers (api.header_timeout).
 */
#include "api_server_private.h"

#include <sys/socket.h>

Connection *
nbx_api_connection_of(struct MHD_Connection *mhd)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

void
nbx_api_connection_stop_deadline(Connection *connection)
{
	if (connection != NULL && connection->header_deadline != 0) {
		g_source_remove(connection->header_deadline);
		connection->header_deadline = 0;
	}
}

static gboolean on_header_deadline(gpointer data);

void
nbx_api_connection_start_deadline(Connection *connection)
{
	nbx_api_connection_stop_deadline(connection);
	connection->header_deadline = g_timeout_add_seconds(
		connection->server->limits.header_timeout_s, on_header_deadline, connection);
}

/*
 * A connection whose request headers have not come in time (one byte a
 * second is enough to defeat an idle timeout): shut down, so that
 * libmicrohttpd sees the end of it and closes it.
 */
static gboolean
on_header_deadline(gpointer data)
{
	Connection *connection = data;

	connection->header_deadline = 0;
	g_debug("api: closing a connection whose request headers did not come within %u s "
		"(api.header_timeout)",
		connection->server->limits.header_timeout_s);
	shutdown(connection->fd, SHUT_RDWR);
	return G_SOURCE_REMOVE;
}

void
nbx_api_connection_notify(void *cls, struct MHD_Connection *mhd, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	Listener *listener = cls;
	NbxApiServer *server = listener->server;
	Connection *connection = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CONNECTION_FD);

		connection = g_new0(Connection, 1);
		connection->server = server;
		connection->fd = info != NULL ? info->connect_fd : -1;
		connection->ordinary = TRUE;
		connection->over_cap = server->connections >= server->limits.max_connections;
		server->connections++;
		nbx_api_connection_start_deadline(connection);
		*socket_context = connection;
		return;
	}
	listener->closed_one = TRUE;
	if (connection == NULL)
		return;
	nbx_api_connection_stop_deadline(connection);
	if (connection->ordinary)
		server->connections--;
	else
		server->streams--;
	g_free(connection);
	*socket_context = NULL;
}

guint
nbx_api_server_connection_count(NbxApiServer *server)
{
	return server->connections;
}

void
nbx_api_connection_become_stream(NbxApiServer *server, struct MHD_Connection *mhd)
{
	Connection *connection = nbx_api_connection_of(mhd);

	if (connection == NULL || !connection->ordinary)
		return;
	connection->ordinary = FALSE;
	server->connections--;
	server->streams++;
	MHD_set_connection_option(mhd, MHD_CONNECTION_OPTION_TIMEOUT, 0U);
}

