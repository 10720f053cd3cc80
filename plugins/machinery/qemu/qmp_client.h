/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An asynchronous QMP client driven by the core's main loop (host->watch_fd),
 * with a blocking `execute` for machine ops on worker threads: the op waits
 * on a condition variable until the main thread has read the matching reply.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "qmp_message.h"

typedef struct QmpClient QmpClient;

/* Main thread. @data may be NULL. Must not block. */
typedef void (*QmpEventFn)(void *user_data, const char *event, JsonObject *data);

/*
 * Takes ownership of @fd, a connected stream socket. @what names the peer
 * in messages ("QEMU of machine win10").
 */
QmpClient *qmp_client_new(const struct nbx_host *host, int fd, const char *what,
			  QmpEventFn on_event, void *user_data);

/*
 * Sends @command with @arguments (borrowed, may be NULL) and, when
 * @pass_fd >= 0, that descriptor with SCM_RIGHTS; waits for the reply until
 * @deadline_us (0: none). On success *@result (may be NULL) gets the
 * "return" member, to unref. Worker threads only.
 */
bool qmp_client_execute(QmpClient *client, const char *command, JsonObject *arguments,
			int pass_fd, int64_t deadline_us, JsonNode **result,
			struct nbx_error *err);

/*
 * Called on the main thread with the reply to a command sent with
 * qmp_client_send_async; never called once the client is closed.
 */
typedef void (*QmpReplyFn)(void *user_data, const QmpMessage *reply);

/*
 * Sends @command without arguments and returns at once: for the main
 * thread, which must not wait for a reply it alone can read. False when
 * the client is closed or the command could not be written.
 */
bool qmp_client_send_async(QmpClient *client, const char *command, QmpReplyFn fn,
			   void *user_data);

/*
 * Handles @len bytes as if read from the socket (the main loop does this
 * itself; exposed for the fuzzer). Main thread.
 */
void qmp_client_receive(QmpClient *client, const char *data, size_t len);

/* True once the peer hung up or the stream failed. */
bool qmp_client_is_closed(QmpClient *client);

/*
 * Stops reading and frees the client from the main thread, so a callback
 * running at that moment finishes first. Any thread; @client is gone after.
 */
void qmp_client_close(QmpClient *client);
