/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The server and its listeners: one libmicrohttpd daemon per listening
 * socket, run from the GLib main loop (its epoll fd and its next timeout).
 * What happens to a connection and a request is in the files
 * api_server_private.h names.
 */
#include "api_server_private.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * libmicrohttpd keeps a connection's request line, headers, read buffer and
 * answer headers in one pool of this size. Beyond max_header_bytes a head
 * is refused here, in JSON; one that does not fit in the pool at all is
 * answered 414 or 431 by libmicrohttpd itself, with its own short body.
 */
#define POOL_SLACK_BYTES (64 * 1024)
/* File descriptors the rest of the daemon may want besides the API's connections. */
#define OTHER_FILES 256

/* ---- the main loop ---- */

/*
 * Lets libmicrohttpd do what is due, then wakes it again when it says. At
 * the connection cap it takes its listening socket out of its epoll set,
 * and puts it back only at the start of a run: after a connection closed,
 * run again at once, or the connections waiting in the backlog would wait
 * for the next timeout.
 */
static void
listener_run(Listener *listener)
{
	MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
	gboolean due;

	listener->closed_one = FALSE;
	MHD_run(listener->daemon);
	due = MHD_get_timeout(listener->daemon, &timeout_ms) == MHD_YES;
	if (listener->closed_one)
		timeout_ms = 0;
	if (due || listener->closed_one)
		g_source_set_ready_time(listener->timer,
					g_get_monotonic_time() +
						(gint64)MIN(timeout_ms, G_MAXINT32) * 1000);
	else
		g_source_set_ready_time(listener->timer, -1);
}

static gboolean
on_timer(GSource *source, GSourceFunc callback, gpointer data)
{
	g_source_set_ready_time(source, -1);
	return callback(data);
}

static gboolean
on_timer_callback(gpointer data)
{
	listener_run(data);
	return G_SOURCE_CONTINUE;
}

static GSource *
timer_new(Listener *listener)
{
	static GSourceFuncs funcs = { .dispatch = on_timer };
	GSource *source = g_source_new(&funcs, sizeof(GSource));

	g_source_set_callback(source, on_timer_callback, listener, NULL);
	g_source_set_ready_time(source, -1);
	g_source_attach(source, NULL);
	return source;
}

static gboolean
on_ready(gint fd, GIOCondition condition, gpointer data)
{
	listener_run(data);
	return G_SOURCE_CONTINUE;
}

G_GNUC_PRINTF(2, 0)
static void
on_log(void *cls, const char *format, va_list args)
{
	g_autofree char *message = g_strdup_vprintf(format, args);

	g_debug("api: libmicrohttpd: %s", g_strchomp(message));
}

static void
listener_free(gpointer data)
{
	Listener *listener = data;

	if (listener->watch != 0)
		g_source_remove(listener->watch);
	if (listener->timer != NULL) {
		g_source_destroy(listener->timer);
		g_source_unref(listener->timer);
	}
	if (listener->daemon != NULL)
		MHD_stop_daemon(listener->daemon);
	g_free(listener->token);
	g_free(listener);
}

static struct MHD_Daemon *
start_daemon(Listener *listener, int fd)
{
	const NbxApiServerLimits *limits = &listener->server->limits;

	return MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		nbx_api_request_on_access, listener, MHD_OPTION_EXTERNAL_LOGGER, on_log, listener,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)(limits->max_connections + limits->max_streams),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)limits->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(limits->max_header_bytes + POOL_SLACK_BYTES), MHD_OPTION_NOTIFY_CONNECTION,
		nbx_api_connection_notify, listener, MHD_OPTION_NOTIFY_COMPLETED, nbx_api_request_on_completed, listener,
		MHD_OPTION_URI_LOG_CALLBACK, nbx_api_request_on_uri, listener, MHD_OPTION_END);
}

gboolean
nbx_api_server_add_listener(NbxApiServer *server, int fd, const char *token, GError **error)
{
	Listener *listener = g_new0(Listener, 1);
	const union MHD_DaemonInfo *info;

	listener->server = server;
	listener->token = g_strdup(token);
	listener->daemon = start_daemon(listener, fd);
	if (listener->daemon == NULL) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "api: libmicrohttpd cannot serve the socket: %s", g_strerror(saved));
		close(fd);
		listener_free(listener);
		return FALSE;
	}
	info = MHD_get_daemon_info(listener->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	listener->watch = g_unix_fd_add(info->epoll_fd, G_IO_IN, on_ready, listener);
	listener->timer = timer_new(listener);
	g_ptr_array_add(server->listeners, listener);
	listener_run(listener);
	return TRUE;
}

/*
 * Every connection is a file descriptor: when the soft limit (often 1024)
 * cannot hold the connections the API serves at once, raise it towards the
 * hard one, or say so; a connection the kernel refuses with EMFILE would
 * otherwise hang its client without a word in the log.
 */
static void
ensure_file_limit(guint max_connections)
{
	rlim_t needed = (rlim_t)max_connections + OTHER_FILES;
	struct rlimit limit;
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed)
		return;
	raised.rlim_cur = MIN(needed, limit.rlim_max);
	raised.rlim_max = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		limit = raised;
	if (limit.rlim_cur < needed)
		g_warning("api.max_connections is %u, but this process may open only %lu files "
			  "(ulimit -n, hard limit %lu): raise the limit or lower the setting",
			  max_connections, (unsigned long)limit.rlim_cur,
			  (unsigned long)limit.rlim_max);
}

NbxApiServer *
nbx_api_server_new(const NbxApiServerLimits *limits, const NbxApiServerHandlers *handlers,
		   gpointer user_data)
{
	NbxApiServer *server = g_new0(NbxApiServer, 1);

	ensure_file_limit(limits->max_connections + limits->max_streams);
	server->limits = *limits;
	server->handlers = *handlers;
	server->user_data = user_data;
	server->listeners = g_ptr_array_new_with_free_func(listener_free);
	return server;
}

void
nbx_api_server_free(NbxApiServer *server)
{
	g_auto(NbxApiProblem) problem = { 0 };

	if (server == NULL)
		return;
	/* libmicrohttpd refuses to stop with a connection suspended. */
	nbx_api_problem_set(&problem, 503, "shutting_down", NULL,
			    "nestboxd is shutting down; the operation may still complete: look "
			    "at its state after the next start");
	while (server->suspended != NULL) {
		NbxApiRequest *request = server->suspended->data;

		nbx_api_request_respond_problem(request, &problem);
		nbx_api_pending_resume(request);
	}
	for (GList *l = server->open_streams; l != NULL; l = l->next)
		nbx_api_stream_drop(l->data);
	g_ptr_array_unref(server->listeners);
	g_free(server);
}
