/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /events: task and machine changes as Server-Sent Events, so that
 * clients (nestbox submit --wait, nestbox watch, the status page) stop
 * polling. The store tells us of every task it writes, on whatever thread
 * wrote it; the events go out on the main thread, to every open stream, in
 * the order the store made the writes:
 *
 *   id: N
 *   event: task       data: the task, as GET /api/v1/tasks/ID shows it (no events)
 *   event: machine    data: a machine, as GET /api/v1/machines lists it, when it changed
 *
 * and a comment line now and then, so that a client that went away is
 * noticed. Each client has a bounded queue: one that does not keep up is
 * dropped (it may reconnect and read the state again).
 */
#pragma once

#include "api_server.h"
#include "scheduler.h"

typedef struct _NbxApiEvents NbxApiEvents;

/* Follows @scheduler's store from now on; a client with more than @queue_bytes waiting is dropped. */
NbxApiEvents *nbx_api_events_new(NbxScheduler *scheduler, gsize queue_bytes);
/* Call after the server that served its streams is freed (so they are all closed). */
void nbx_api_events_free(NbxApiEvents *events);

/* GET /events[?task=ID]: turns @request into a stream (ID: only that task's events). */
void nbx_api_events_serve(NbxApiEvents *events, NbxApiRequest *request, GHashTable *query);

/* Machines may have changed without a task write (disabled, enabled): look at them. */
void nbx_api_events_machines_changed(NbxApiEvents *events);
