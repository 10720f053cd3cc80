/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qmp_client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp_message.h"
#include "qmp_reader.h"

/* QEMU's largest replies (query-qmp-schema) stay far below this. */
#define QMP_MAX_LINE (16u * 1024 * 1024)

struct QmpClient {
	const struct nbx_host *host;
	int fd;
	char *what;
	QmpEventFn on_event;
	void *user_data;
	QmpReader reader;

	GMutex lock;
	GCond cond;
	/* Guarded by @lock. */
	uint64_t watch;
	bool ready;
	bool closed;
	char *close_reason;
	uint64_t next_id;
	uint64_t waiting_id;
	JsonObject *reply;
	/* Commands sent with qmp_client_send_async: id -> AsyncCall. */
	GHashTable *async_calls;
	/* Serialises writers, so two commands never interleave on the socket. */
	GMutex write_lock;
};

static bool
send_all(QmpClient *client, const char *data, size_t len, int pass_fd, struct nbx_error *err)
{
	bool first = true;

	g_mutex_lock(&client->write_lock);
	while (len > 0) {
		struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} control;
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t sent;

		if (first && pass_fd >= 0) {
			struct cmsghdr *cmsg;

			memset(&control, 0, sizeof control);
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof control.buf;
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
		}
		sent = sendmsg(client->fd, &msg, MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0) {
			int saved = errno;

			g_mutex_unlock(&client->write_lock);
			client->host->error_set(client->host, err, NBX_ERROR_IO,
						"writing to the QMP socket of %s: %s", client->what,
						g_strerror(saved));
			return false;
		}
		first = false;
		data += sent;
		len -= (size_t)sent;
	}
	g_mutex_unlock(&client->write_lock);
	return true;
}

typedef struct {
	uint64_t id;
	QmpReplyFn fn;
	void *user_data;
} AsyncCall;

/* Called with @lock held. */
static void
mark_closed(QmpClient *client, const char *reason)
{
	if (client->closed)
		return;
	client->closed = true;
	client->close_reason = g_strdup(reason);
	g_cond_broadcast(&client->cond);
}

/* A reply: to the waiting op, to an asynchronous caller, or to nobody any more. */
static void
on_reply(QmpClient *client, JsonObject *object, const QmpMessage *message)
{
	AsyncCall *async = NULL;

	g_mutex_lock(&client->lock);
	if (message->id == 0) {
		client->ready = true;
		g_cond_broadcast(&client->cond);
	} else if (message->id == client->waiting_id && client->reply == NULL) {
		client->reply = json_object_ref(object);
		g_cond_broadcast(&client->cond);
	} else if (!client->closed) {
		/* Called below, without the lock: it may send another command. */
		g_hash_table_steal_extended(client->async_calls, &message->id, NULL,
					    (gpointer *)&async);
	}
	/* Anything else answers a command whose caller gave up: dropped. */
	g_mutex_unlock(&client->lock);
	if (async != NULL) {
		async->fn(async->user_data, message);
		g_free(async);
	}
}

static void
on_message(void *user_data, JsonObject *object)
{
	QmpClient *client = user_data;
	QmpMessage message;

	qmp_message_classify(object, &message);
	switch (message.kind) {
	case QMP_MESSAGE_GREETING: {
		/* Capabilities negotiation is the only command allowed now. */
		static const char negotiate[] = "{\"execute\":\"qmp_capabilities\",\"id\":0}\n";

		send_all(client, negotiate, sizeof negotiate - 1, -1, NULL);
		break;
	}
	case QMP_MESSAGE_EVENT:
		if (client->on_event != NULL)
			client->on_event(client->user_data, message.event, message.data);
		break;
	case QMP_MESSAGE_REPLY:
		on_reply(client, object, &message);
		break;
	case QMP_MESSAGE_OTHER:
		break;
	}
}

void
qmp_client_receive(QmpClient *client, const char *data, size_t len)
{
	qmp_reader_feed(&client->reader, data, len, on_message, client);
}

static bool
on_readable(void *user_data, int fd, uint32_t events)
{
	QmpClient *client = user_data;
	char buf[65536];
	ssize_t got;
	bool closed;

	g_mutex_lock(&client->lock);
	closed = client->closed;
	g_mutex_unlock(&client->lock);
	/* Closed by the plugin from a worker: no event of a finished run may leak out. */
	if (closed)
		return true;
	got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (got > 0) {
		qmp_client_receive(client, buf, (size_t)got);
		return true;
	}
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	g_mutex_lock(&client->lock);
	mark_closed(client, got == 0 ? "QEMU closed its QMP socket" : g_strerror(errno));
	/* Returning false removes the watch: its id must not be removed again. */
	client->watch = 0;
	g_mutex_unlock(&client->lock);
	return false;
}

QmpClient *
qmp_client_new(const struct nbx_host *host, int fd, const char *what, QmpEventFn on_event,
	       void *user_data)
{
	QmpClient *client = g_new0(QmpClient, 1);

	client->host = host;
	client->fd = fd;
	client->what = g_strdup(what);
	client->on_event = on_event;
	client->user_data = user_data;
	client->next_id = 1;
	client->async_calls = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
	qmp_reader_init(&client->reader, QMP_MAX_LINE);
	g_mutex_init(&client->lock);
	g_cond_init(&client->cond);
	g_mutex_init(&client->write_lock);
	g_mutex_lock(&client->lock);
	client->watch = host->watch_fd(host, fd, NBX_FD_IN, on_readable, client);
	g_mutex_unlock(&client->lock);
	return client;
}

/* Waits with @lock held for the negotiated session or the end of the stream; false on timeout. */
static bool
wait_ready(QmpClient *client, int64_t deadline_us)
{
	while (!client->ready && !client->closed) {
		if (deadline_us == 0)
			g_cond_wait(&client->cond, &client->lock);
		/* The host's clock and GLib's monotonic clock are both CLOCK_MONOTONIC. */
		else if (!g_cond_wait_until(&client->cond, &client->lock, deadline_us))
			return client->ready || client->closed;
	}
	return true;
}

static char *
format_command(const char *command, JsonObject *arguments, uint64_t id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree char *text = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "execute");
	json_builder_add_string_value(builder, command);
	if (arguments != NULL) {
		JsonNode *args = json_node_new(JSON_NODE_OBJECT);

		json_node_set_object(args, arguments);
		json_builder_set_member_name(builder, "arguments");
		json_builder_add_value(builder, args);
	}
	json_builder_set_member_name(builder, "id");
	json_builder_add_int_value(builder, (gint64)id);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	text = json_generator_to_data(generator, NULL);
	return g_strconcat(text, "\n", NULL);
}

static bool
take_reply(QmpClient *client, const char *command, JsonObject *reply, JsonNode **result,
	   struct nbx_error *err)
{
	QmpMessage message;

	qmp_message_classify(reply, &message);
	if (message.is_error) {
		client->host->error_set(client->host, err, NBX_ERROR_HYPERVISOR, "%s refused %s: %s",
					client->what, command, message.error_desc);
		return false;
	}
	if (result != NULL)
		*result = message.result != NULL ? json_node_copy(message.result) : NULL;
	return true;
}

bool
qmp_client_execute(QmpClient *client, const char *command, JsonObject *arguments, int pass_fd,
		   int64_t deadline_us, JsonNode **result, struct nbx_error *err)
{
	g_autofree char *text = NULL;
	g_autoptr(JsonObject) reply = NULL;
	bool answered;
	uint64_t id;

	if (result != NULL)
		*result = NULL;
	g_mutex_lock(&client->lock);
	if (!wait_ready(client, deadline_us) || client->closed) {
		bool closed = client->closed;

		g_mutex_unlock(&client->lock);
		client->host->error_set(client->host, err,
					closed ? NBX_ERROR_HYPERVISOR : NBX_ERROR_TIMEOUT,
					"%s: no QMP session for %s (%s)", client->what, command,
					closed ? "QEMU closed its QMP socket" : "deadline passed");
		return false;
	}
	id = client->next_id++;
	client->waiting_id = id;
	g_clear_pointer(&client->reply, json_object_unref);
	g_mutex_unlock(&client->lock);

	text = format_command(command, arguments, id);
	if (!send_all(client, text, strlen(text), pass_fd, err))
		return false;

	g_mutex_lock(&client->lock);
	while (client->reply == NULL && !client->closed) {
		if (deadline_us == 0)
			g_cond_wait(&client->cond, &client->lock);
		else if (!g_cond_wait_until(&client->cond, &client->lock, deadline_us))
			break;
	}
	answered = client->reply != NULL;
	reply = g_steal_pointer(&client->reply);
	client->waiting_id = 0;
	if (!answered) {
		bool closed = client->closed;

		g_mutex_unlock(&client->lock);
		client->host->error_set(client->host, err,
					closed ? NBX_ERROR_HYPERVISOR : NBX_ERROR_TIMEOUT,
					"%s did not answer %s: %s", client->what, command,
					closed ? "it closed its QMP socket" : "deadline passed");
		return false;
	}
	g_mutex_unlock(&client->lock);
	return take_reply(client, command, reply, result, err);
}

bool
qmp_client_send_async(QmpClient *client, const char *command, QmpReplyFn fn, void *user_data)
{
	g_autofree char *text = NULL;
	AsyncCall *async = g_new0(AsyncCall, 1);

	async->fn = fn;
	async->user_data = user_data;
	g_mutex_lock(&client->lock);
	if (client->closed) {
		g_mutex_unlock(&client->lock);
		g_free(async);
		return false;
	}
	async->id = client->next_id++;
	g_hash_table_insert(client->async_calls, &async->id, async);
	g_mutex_unlock(&client->lock);
	text = format_command(command, NULL, async->id);
	if (!send_all(client, text, strlen(text), -1, NULL)) {
		g_mutex_lock(&client->lock);
		g_hash_table_remove(client->async_calls, &async->id);
		g_mutex_unlock(&client->lock);
		return false;
	}
	return true;
}

bool
qmp_client_is_closed(QmpClient *client)
{
	bool closed;

	g_mutex_lock(&client->lock);
	closed = client->closed;
	g_mutex_unlock(&client->lock);
	return closed;
}

static bool
free_on_main_thread(void *user_data)
{
	QmpClient *client = user_data;

	close(client->fd);
	qmp_reader_clear(&client->reader);
	g_clear_pointer(&client->reply, json_object_unref);
	g_hash_table_unref(client->async_calls);
	g_mutex_clear(&client->lock);
	g_cond_clear(&client->cond);
	g_mutex_clear(&client->write_lock);
	g_free(client->close_reason);
	g_free(client->what);
	g_free(client);
	return false;
}

void
qmp_client_close(QmpClient *client)
{
	uint64_t watch;

	g_mutex_lock(&client->lock);
	mark_closed(client, "closed by the plugin");
	watch = client->watch;
	client->watch = 0;
	g_mutex_unlock(&client->lock);
	if (watch != 0)
		client->host->remove_source(client->host, watch);
	client->host->add_timeout(client->host, 0, free_on_main_thread, client);
}
