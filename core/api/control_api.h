/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API: HTTP + JSON on a UNIX socket, and optionally on TCP with
 * a bearer token (api_server.c serves it with libmicrohttpd on the main
 * loop). Every handler runs on the main thread and calls the scheduler;
 * what it answers is documented in control_api.c.
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "scheduler.h"
#include "snapshot_manager.h"

typedef struct {
	/* Path of the UNIX socket; a stale socket there is replaced. */
	const char *socket_path;
	/* Group given the socket (mode 0660), or NULL / "" for the daemon's own. */
	const char *socket_group;
	/* "ADDRESS:PORT" to listen on over TCP too, or NULL / "". */
	const char *tcp_address;
	/* The bearer token TCP clients must send; required with @tcp_address. */
	const char *token;
	/* Largest request body accepted (an upload), in bytes. */
	gsize max_body_bytes;
	/*
	 * The limits below are api.* settings; 0 takes the schema's default
	 * (nbx_settings_defaults(); for max_json_bytes, at most max_body_bytes).
	 */
	/* Largest JSON document (a task, a small request body), in bytes. */
	gsize max_json_bytes;
	/* Request line and headers, in bytes. */
	gsize max_header_bytes;
	/* Ordinary connections served at once. */
	guint max_connections;
	/* Seconds to receive a request's headers. */
	guint header_timeout_s;
	/* Seconds a connection may go without a byte moving. */
	guint idle_timeout_s;
	/* Connections the kernel queues for each listening socket. */
	guint listen_backlog;
	/* Event streams (GET /events) at once, besides max_connections (0: 64). */
	guint max_event_streams;
	/* Bytes of events waiting for one client before it is dropped (0: 256 KiB). */
	gsize event_queue_bytes;
} NbxControlApiOptions;

typedef struct _NbxControlApi NbxControlApi;

NbxControlApi *nbx_control_api_new(NbxScheduler *scheduler, const NbxControlApiOptions *options,
				   GError **error);
void nbx_control_api_free(NbxControlApi *api);

/* Serves the snapshot routes from @snapshots (borrowed; must outlive the API). */
void nbx_control_api_set_snapshots(NbxControlApi *api, NbxSnapshotManager *snapshots);

/* Ordinary client connections open now. */
guint nbx_control_api_connection_count(NbxControlApi *api);
/* Event streams open now. */
guint nbx_control_api_stream_count(NbxControlApi *api);
