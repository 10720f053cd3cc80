/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API: HTTP + JSON (libsoup-3) on a UNIX socket, and optionally
 * on TCP with a bearer token. Every handler runs on the main thread and
 * calls the scheduler; what it answers is documented in control_api.c.
 */
#pragma once

#include <glib.h>

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
	/* Largest request body accepted, in bytes. */
	gsize max_body_bytes;
} NbxControlApiOptions;

typedef struct _NbxControlApi NbxControlApi;

NbxControlApi *nbx_control_api_new(NbxScheduler *scheduler, const NbxControlApiOptions *options,
				   GError **error);
void nbx_control_api_free(NbxControlApi *api);

/* Serves the snapshot routes from @snapshots (borrowed; must outlive the API). */
void nbx_control_api_set_snapshots(NbxControlApi *api, NbxSnapshotManager *snapshots);
