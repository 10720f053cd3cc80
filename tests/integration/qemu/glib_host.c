/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "glib_host.h"

#include <glib-unix.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>

static void G_GNUC_PRINTF(4, 5)
glib_error_set(const struct nbx_host *host, struct nbx_error *err, int32_t code, const char *fmt,
	       ...)
{
	va_list args;

	if (err == NULL || err->code != NBX_ERROR_NONE)
		return;
	err->code = code;
	va_start(args, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, args);
	va_end(args);
}

typedef struct {
	nbx_fd_fn fd_fn;
	nbx_timeout_fn timeout_fn;
	void *user_data;
} Closure;

static gboolean
fd_ready(gint fd, GIOCondition condition, gpointer data)
{
	Closure *closure = data;
	uint32_t events = 0;

	if (condition & G_IO_IN)
		events |= NBX_FD_IN;
	if (condition & G_IO_HUP)
		events |= NBX_FD_HUP;
	if (condition & G_IO_ERR)
		events |= NBX_FD_ERR;
	return closure->fd_fn(closure->user_data, fd, events);
}

static uint64_t
glib_watch_fd(const struct nbx_host *host, int fd, uint32_t events, nbx_fd_fn fn, void *user_data)
{
	Closure *closure = g_new0(Closure, 1);

	closure->fd_fn = fn;
	closure->user_data = user_data;
	return g_unix_fd_add_full(G_PRIORITY_DEFAULT, fd, G_IO_IN | G_IO_HUP | G_IO_ERR, fd_ready,
				  closure, g_free);
}

static gboolean
timeout_fired(gpointer data)
{
	Closure *closure = data;

	return closure->timeout_fn(closure->user_data);
}

static uint64_t
glib_add_timeout(const struct nbx_host *host, uint32_t ms, nbx_timeout_fn fn, void *user_data)
{
	Closure *closure = g_new0(Closure, 1);

	closure->timeout_fn = fn;
	closure->user_data = user_data;
	return g_timeout_add_full(G_PRIORITY_DEFAULT, ms, timeout_fired, closure, g_free);
}

static void
glib_remove_source(const struct nbx_host *host, uint64_t id)
{
	GSource *source = g_main_context_find_source_by_id(NULL, (guint)id);

	if (source != NULL)
		g_source_destroy(source);
}

static int64_t
glib_monotonic_us(const struct nbx_host *host)
{
	return g_get_monotonic_time();
}

void
glib_host_fill(struct nbx_host *host)
{
	host->struct_size = sizeof *host;
	host->error_set = glib_error_set;
	host->watch_fd = glib_watch_fd;
	host->add_timeout = glib_add_timeout;
	host->remove_source = glib_remove_source;
	host->monotonic_us = glib_monotonic_us;
}
