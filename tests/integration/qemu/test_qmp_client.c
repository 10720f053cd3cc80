/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client of the qemu machinery against a scripted peer: a reply
 * buried among garbage, events, a stale reply and an overlong line; a peer
 * that hangs up mid-command; one that answers once and then never again.
 * The host table is the GLib-backed stand-in of glib_host.c.
 *
 * The peer writes with MSG_NOSIGNAL, and SIGPIPE is ignored: a client that
 * closes first is an error the test sees, never the end of the process.
 */
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "glib_host.h"
#include "qmp_client.h"

static struct nbx_host fake_host;

/* ---- the scripted peer, on its own thread ------------------------------- */

typedef enum { PEER_NOISY, PEER_HANGS_UP, PEER_SILENT } PeerMode;

typedef struct {
	int fd;
	PeerMode mode;
} Peer;

/* FALSE when the client has closed its end (a client past its deadline may). */
static gboolean
peer_write(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t sent = send(fd, text, len, MSG_NOSIGNAL);

		if (sent < 0 && errno == EPIPE)
			return FALSE;
		g_assert_cmpint(sent, >, 0);
		text += sent;
		len -= (size_t)sent;
	}
	return TRUE;
}

static void
peer_puts(int fd, const char *text)
{
	g_assert_true(peer_write(fd, text, strlen(text)));
}

/*
 * Until the client has read everything written so far (SIOCOUTQ: what is
 * queued on the socket, unread), so that the next write reaches it in a
 * read of its own: a line split across reads for sure, not if the host
 * happens to be slow enough.
 */
static void
peer_wait_read(int fd)
{
	int queued;

	while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
		g_usleep(1000);
}

/* Reads up to and including the next newline; FALSE at end of stream. */
static gboolean
peer_read_line(int fd, GString *line)
{
	char c;

	g_string_truncate(line, 0);
	while (read(fd, &c, 1) == 1) {
		if (c == '\n')
			return TRUE;
		g_string_append_c(line, c);
	}
	return FALSE;
}

static gpointer
peer_main(gpointer data)
{
	Peer *peer = data;
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree char *huge = g_strnfill(20u * 1024 * 1024, 'z');
	static const char greeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";

	/* A busy machine may start this thread after a short deadline has passed. */
	if (!peer_write(peer->fd, greeting, sizeof greeting - 1) ||
	    !peer_read_line(peer->fd, line)) {
		g_assert_cmpint(peer->mode, ==, PEER_SILENT);
		close(peer->fd);
		return NULL;
	}
	g_assert_nonnull(strstr(line->str, "qmp_capabilities"));
	peer_puts(peer->fd, "{\"return\": {}, \"id\": 0}\r\n");
	if (!peer_read_line(peer->fd, line))
		return NULL;
	g_assert_nonnull(strstr(line->str, "\"execute\":\"query-status\""));
	g_assert_nonnull(strstr(line->str, "\"id\":1"));
	if (peer->mode == PEER_HANGS_UP) {
		close(peer->fd);
		return NULL;
	}
	if (peer->mode == PEER_SILENT) {
		/* One answer, so the handshake is over before the deadline starts... */
		peer_puts(peer->fd, "{\"return\": {\"status\": \"running\"}, \"id\": 1}\r\n");
		g_assert_true(peer_read_line(peer->fd, line));
		g_assert_nonnull(strstr(line->str, "\"id\":2"));
		/* ...then none: holds the line open until the client gives up and closes. */
		while (peer_read_line(peer->fd, line))
			;
		close(peer->fd);
		return NULL;
	}
	peer_puts(peer->fd, "garbage\r\n{\"event\": \"STOP\"}\r\n");
	/* A reply to a command nobody waits for any more. */
	peer_puts(peer->fd, "{\"return\": {\"status\": \"stale\"}, \"id\": 99}\r\n");
	peer_puts(peer->fd, "{\"x\":\"");
	g_assert_true(peer_write(peer->fd, huge, strlen(huge)));
	peer_puts(peer->fd, "\"}\r\n{\"return\": {\"status\": ");
	peer_wait_read(peer->fd);
	peer_puts(peer->fd, "\"running\"}, \"id\": 1}\r\n{\"event\": \"RESUME\"}\r\n");
	while (peer_read_line(peer->fd, line))
		;
	close(peer->fd);
	return NULL;
}

/* ---- the client side ---------------------------------------------------- */

typedef struct {
	QmpClient *client;
	/* 0: none. Else a first call without one, then this one's, from then on. */
	int64_t timeout_us;
	bool ok;
	char *status;
	struct nbx_error err;
	gint done;
} Call;

static gpointer
call_main(gpointer data)
{
	Call *call = data;
	g_autoptr(JsonNode) result = NULL;
	int64_t deadline_us = 0;

	if (call->timeout_us != 0) {
		g_assert_true(qmp_client_execute(call->client, "query-status", NULL, -1, 0, &result,
						 &call->err));
		g_clear_pointer(&result, json_node_unref);
		deadline_us = g_get_monotonic_time() + call->timeout_us;
	}
	call->ok = qmp_client_execute(call->client, "query-status", NULL, -1, deadline_us, &result,
				      &call->err);
	if (call->ok)
		call->status = g_strdup(json_object_get_string_member(json_node_get_object(result),
								      "status"));
	g_atomic_int_set(&call->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static void
on_event(void *user_data, const char *event, JsonObject *data)
{
	g_ptr_array_add(user_data, g_strdup(event));
}

static void
run(PeerMode mode, int64_t timeout_us, Call *call, GPtrArray *events)
{
	int fds[2];
	Peer peer = { .mode = mode };
	GThread *peer_thread, *call_thread;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	peer.fd = fds[1];
	call->client = qmp_client_new(&fake_host, fds[0], "fake QEMU", on_event, events);
	call->timeout_us = timeout_us;
	peer_thread = g_thread_new("peer", peer_main, &peer);
	call_thread = g_thread_new("call", call_main, call);
	while (!g_atomic_int_get(&call->done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(call_thread);
	/* Closing makes a silent peer see the end of the stream. */
	qmp_client_close(call->client);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_thread_join(peer_thread);
}

static void
test_reply_among_noise(void)
{
	Call call = { 0 };
	g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

	run(PEER_NOISY, 0, &call, events);
	g_assert_true(call.ok);
	g_assert_cmpstr(call.status, ==, "running");
	g_assert_cmpuint(events->len, >=, 1);
	g_assert_cmpstr(g_ptr_array_index(events, 0), ==, "STOP");
	g_free(call.status);
}

static void
test_peer_hangs_up(void)
{
	Call call = { 0 };
	g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

	run(PEER_HANGS_UP, 0, &call, events);
	g_assert_false(call.ok);
	g_assert_cmpint(call.err.code, ==, NBX_ERROR_HYPERVISOR);
	g_assert_cmpstr(call.err.message, ==,
			"fake QEMU did not answer query-status: it closed its QMP socket");
}

/* A command nobody answers ends at its deadline (a hang would reach the test's timeout). */
static void
test_deadline(void)
{
	Call call = { 0 };
	g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);

	run(PEER_SILENT, 200000, &call, events);
	g_assert_false(call.ok);
	g_assert_cmpint(call.err.code, ==, NBX_ERROR_TIMEOUT);
	g_assert_cmpstr(call.err.message, ==,
			"fake QEMU did not answer query-status: deadline passed");
}

/* ---- an asynchronous command from the main thread -------------------------- */

static gpointer
async_peer_main(gpointer data)
{
	int fd = GPOINTER_TO_INT(data);
	g_autoptr(GString) line = g_string_new(NULL);

	peer_puts(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
	g_assert_true(peer_read_line(fd, line));
	peer_puts(fd, "{\"return\": {}, \"id\": 0}\r\n");
	/* STOP carries no reason: the client asks, without blocking the loop. */
	peer_puts(fd, "{\"event\": \"STOP\"}\r\n");
	g_assert_true(peer_read_line(fd, line));
	g_assert_nonnull(strstr(line->str, "\"execute\":\"query-status\""));
	g_assert_nonnull(strstr(line->str, "\"id\":1"));
	/* A stale id, an error for nobody, then the answer, split mid-line. */
	peer_puts(fd, "{\"return\": {\"status\": \"stale\"}, \"id\": 7}\r\n{\"return\": {\"sta");
	peer_wait_read(fd);
	peer_puts(fd, "tus\": \"io-error\"}, \"id\": 1}\r\n");
	while (peer_read_line(fd, line))
		;
	close(fd);
	return NULL;
}

typedef struct {
	QmpClient *client;
	char *status;
	guint replies;
} AsyncRun;

static void
on_async_status(void *user_data, const QmpMessage *reply)
{
	AsyncRun *run = user_data;
	JsonObject *result = reply->result != NULL && JSON_NODE_HOLDS_OBJECT(reply->result)
				     ? json_node_get_object(reply->result)
				     : NULL;

	g_assert_cmpuint(reply->id, ==, 1);
	run->replies++;
	run->status = g_strdup(qmp_string_member(result, "status"));
}

static void
on_stop_ask(void *user_data, const char *event, JsonObject *data)
{
	AsyncRun *run = user_data;

	if (strcmp(event, "STOP") == 0)
		g_assert_true(qmp_client_send_async(run->client, "query-status", on_async_status, run));
}

static void
test_async_from_event(void)
{
	AsyncRun run = { 0 };
	GThread *peer;
	int fds[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	run.client = qmp_client_new(&fake_host, fds[0], "fake QEMU", on_stop_ask, &run);
	peer = g_thread_new("peer", async_peer_main, GINT_TO_POINTER(fds[1]));
	while (run.status == NULL)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpstr(run.status, ==, "io-error");
	g_assert_cmpuint(run.replies, ==, 1);
	qmp_client_close(run.client);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_thread_join(peer);
	g_free(run.status);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	glib_host_fill(&fake_host);
	g_test_add_func("/qemu/qmp-client/reply-among-noise", test_reply_among_noise);
	g_test_add_func("/qemu/qmp-client/peer-hangs-up", test_peer_hangs_up);
	g_test_add_func("/qemu/qmp-client/deadline", test_deadline);
	g_test_add_func("/qemu/qmp-client/async-from-event", test_async_from_event);
	return g_test_run();
}
