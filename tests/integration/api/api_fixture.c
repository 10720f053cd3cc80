/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_fixture.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

/* A port that was free a moment ago; the race with other processes is tiny. */
guint16
free_port(void)
{
	g_autoptr(GSocket) socket =
		g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_true(g_socket_bind(socket, any, TRUE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

void
setup_fixture(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autofree char *store_path = NULL;
	const ApiFixtureConfig *config = data;
	NbxControlApiOptions options = { .max_body_bytes = MAX_BODY };
	gboolean with_tcp = config != NULL && config->tcp;

	if (config != NULL)
		options = config->options;
	if (options.max_body_bytes == 0)
		options.max_body_bytes = MAX_BODY;
	f->dir = test_config_dir_new(g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR"), "\"fake\"");
	test_write(f->dir, "machinery/fake.conf",
		   "machines = (\n"
		   "  { name = \"win10\"; label = \"w10\"; ip = \"192.0.2.10\"; platform = "
		   "\"windows\"; os_version = \"win10\"; tags = [ \"office\" ]; },\n"
		   "  { name = \"deb\"; label = \"deb12\"; ip = \"192.0.2.11\"; platform = "
		   "\"linux\"; }\n"
		   ");\n");
	test_write(f->dir, "auxiliary.conf", "aux-alpha = { };\n");
	f->setup = nbx_setup_load(f->dir, NULL, diagnostics);
	g_assert_nonnull(f->setup);
	if (nbx_diagnostics_count(diagnostics) > 0)
		g_error("config: %s", nbx_diagnostics_get(diagnostics, 0));
	g_assert_cmpint(g_mkdir_with_parents(f->setup->config->state_dir, 0750), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(f->setup->config->run_dir, 0750), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(f->setup->config->analyses_dir, 0750), ==, 0);
	store_path = g_build_filename(f->setup->config->state_dir, "nestbox.sqlite", NULL);
	f->store = nbx_store_open(store_path, &error);
	g_assert_no_error(error);
	f->scheduler = nbx_scheduler_new(f->setup, f->store, &error);
	g_assert_no_error(error);

	f->socket_path = g_build_filename(f->dir, "api.sock", NULL);
	options.socket_path = f->socket_path;
	if (with_tcp) {
		f->tcp_address = g_strdup_printf("127.0.0.1:%u", free_port());
		options.tcp_address = f->tcp_address;
		options.token = TEST_TOKEN "\n";
	}
	f->api = nbx_control_api_new(f->scheduler, &options, &error);
	g_assert_no_error(error);
	address = g_unix_socket_address_new(f->socket_path);
	f->session = soup_session_new_with_options("remote-connectable", address, NULL);
}

static void
on_shutdown_done(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
}

void
teardown_fixture(Fixture *f, gconstpointer data)
{
	gboolean done = FALSE;

	g_clear_object(&f->session);
	nbx_control_api_free(f->api);
	nbx_scheduler_shutdown(f->scheduler, 10, on_shutdown_done, &done);
	/* Recovery runs on a thread of its own and may outlive the shutdown. */
	while (!done || !nbx_scheduler_is_idle(f->scheduler))
		g_main_context_iteration(NULL, TRUE);
	nbx_scheduler_free(f->scheduler);
	nbx_store_close(f->store);
	nbx_setup_free(f->setup);
	test_dir_remove(f->dir);
	g_free(f->dir);
	g_free(f->socket_path);
	g_free(f->tcp_address);
}

/* ---- talking to it ---- */

void
reply_clear(Reply *reply)
{
	g_clear_pointer(&reply->root, json_node_unref);
	g_clear_pointer(&reply->headers, soup_message_headers_unref);
}
typedef struct {
	GBytes *body;
	GError *error;
	gboolean done;
} Pending;

static void
on_sent(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Pending *pending = user_data;

	pending->body =
		soup_session_send_and_read_finish(SOUP_SESSION(source), result, &pending->error);
	pending->done = TRUE;
}

/* Sends @msg and runs the main loop (the server lives on it too) until the answer. */
void
exchange(SoupSession *session, SoupMessage *msg, Reply *reply)
{
	Pending pending = { 0 };
	gsize length;
	const char *data;

	soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, on_sent, &pending);
	while (!pending.done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_no_error(pending.error);
	reply->status = soup_message_get_status(msg);
	reply->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
	data = g_bytes_get_data(pending.body, &length);
	if (length > 0) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) error = NULL;

		json_parser_load_from_data(parser, data, length, &error);
		g_assert_no_error(error);
		reply->root = json_node_copy(json_parser_get_root(parser));
	}
	g_bytes_unref(pending.body);
}

void
request(Fixture *f, const char *method, const char *path, const char *content_type,
	const char *body, Reply *reply)
{
	g_autofree char *url = g_strconcat("http://localhost", path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);

	g_assert_nonnull(msg);
	if (body != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

		soup_message_set_request_body_from_bytes(msg, content_type, bytes);
	}
	exchange(f->session, msg, reply);
}

JsonObject *
object_of(const Reply *reply)
{
	g_assert_nonnull(reply->root);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(reply->root));
	return json_node_get_object(reply->root);
}

/* Checks an error reply: status, code, and the field it names (NULL: none). */
void
assert_error(const Reply *reply, guint status, const char *code, const char *field)
{
	JsonObject *error;

	if (reply->status != status) {
		g_autofree char *text =
			reply->root != NULL ? json_to_string(reply->root, FALSE) : NULL;

		g_error("status %u, wanted %u: %s", reply->status, status, text);
	}
	error = json_object_get_object_member(object_of(reply), "error");
	g_assert_nonnull(error);
	g_assert_cmpstr(json_object_get_string_member(error, "code"), ==, code);
	g_assert_true(strlen(json_object_get_string_member(error, "message")) > 0);
	if (field == NULL)
		g_assert_true(json_object_get_null_member(error, "field"));
	else
		g_assert_cmpstr(json_object_get_string_member(error, "field"), ==, field);
}

guint
stored_task_count(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) tasks = nbx_store_task_list(f->store, -1, 0, 0, &error);

	g_assert_no_error(error);
	return tasks->len;
}

guint
stored_sample_count(Fixture *f)
{
	g_autofree char *dir = g_build_filename(f->setup->config->state_dir, "samples", NULL);
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	guint count = 0;

	while (handle != NULL && g_dir_read_name(handle) != NULL)
		count++;
	return count;
}

gint64
submit_json(Fixture *f, const char *body)
{
	g_auto(Reply) reply = { 0 };

	request(f, "POST", "/api/v1/tasks", "application/json", body, &reply);
	g_assert_cmpuint(reply.status, ==, 201);
	return json_object_get_int_member(object_of(&reply), "id");
}

GBytes *
multipart_body(const char *task_json, const char *part_name, const char *filename, GBytes *file,
	       char **content_type)
{
	g_autoptr(SoupMultipart) multipart = soup_multipart_new(SOUP_FORM_MIME_TYPE_MULTIPART);
	g_autoptr(SoupMessageHeaders) headers =
		soup_message_headers_new(SOUP_MESSAGE_HEADERS_REQUEST);
	GBytes *body = NULL;

	if (task_json != NULL) {
		g_autoptr(GBytes) task = g_bytes_new(task_json, strlen(task_json));

		soup_multipart_append_form_file(multipart, "task", NULL, "application/json", task);
	}
	if (file != NULL)
		soup_multipart_append_form_file(multipart, part_name, filename,
						"application/octet-stream", file);
	soup_multipart_to_message(multipart, headers, &body);
	*content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
	return body;
}

void
post_multipart(Fixture *f, const char *task_json, const char *part_name, const char *filename,
	       GBytes *file, Reply *reply)
{
	g_autofree char *content_type = NULL;
	g_autoptr(GBytes) body =
		multipart_body(task_json, part_name, filename, file, &content_type);
	g_autoptr(SoupMessage) msg = soup_message_new("POST", "http://localhost/api/v1/tasks");

	soup_message_set_request_body_from_bytes(msg, content_type, body);
	exchange(f->session, msg, reply);
}

/* ---- raw clients ---- */

RawClient *
raw_connect(Fixture *f)
{
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(f->socket_path);
	g_autoptr(GError) error = NULL;
	RawClient *client = g_new0(RawClient, 1);

	client->socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
	g_assert_no_error(error);
	g_socket_set_blocking(client->socket, FALSE);
	/* A UNIX connect completes at once or queues in the backlog: never EINPROGRESS. */
	g_assert_true(g_socket_connect(client->socket, address, NULL, &error));
	g_assert_no_error(error);
	client->received = g_string_new(NULL);
	return client;
}

void
raw_free(RawClient *client)
{
	g_socket_close(client->socket, NULL);
	g_object_unref(client->socket);
	g_string_free(client->received, TRUE);
	g_free(client);
}

static gboolean
on_socket_ready(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

static gboolean
on_deadline(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Runs the main loop until @condition on the client's socket; FALSE at @deadline_us. */
static gboolean
raw_wait(RawClient *client, GIOCondition condition, gint64 deadline_us)
{
	GSource *source =
		g_socket_create_source(client->socket, condition | G_IO_HUP | G_IO_ERR, NULL);
	gboolean ready = FALSE;
	gboolean late = FALSE;
	guint timer = g_timeout_add(MAX(1, (deadline_us - g_get_monotonic_time()) / 1000),
				    on_deadline, &late);

	g_source_set_callback(source, G_SOURCE_FUNC(on_socket_ready), &ready, NULL);
	g_source_attach(source, NULL);
	while (!ready && !late)
		g_main_context_iteration(NULL, TRUE);
	g_source_destroy(source);
	g_source_unref(source);
	if (!late)
		g_source_remove(timer);
	return ready;
}

gboolean
raw_send(RawClient *client, const char *data, gsize length)
{
	gint64 deadline = g_get_monotonic_time() + RAW_DEADLINE_S * G_USEC_PER_SEC;

	while (length > 0) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_send(client->socket, data, length, NULL, &error);

		if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			g_assert_true(raw_wait(client, G_IO_OUT, deadline));
			continue;
		}
		/* EPIPE and ECONNRESET alike. */
		if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
			return FALSE;
		g_assert_no_error(error);
		data += n;
		length -= (gsize)n;
	}
	return TRUE;
}

gboolean
raw_send_text(RawClient *client, const char *text)
{
	return raw_send(client, text, strlen(text));
}

/* Reads what is there; FALSE when nothing was (the caller waits). */
static gboolean
raw_receive(RawClient *client)
{
	g_autoptr(GError) error = NULL;
	char buffer[16384];
	gssize n = g_socket_receive(client->socket, buffer, sizeof buffer, NULL, &error);

	if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return FALSE;
	if (n <= 0) {
		/* EOF, or a reset: either way the server is done with it. */
		client->closed = TRUE;
		return TRUE;
	}
	g_string_append_len(client->received, buffer, n);
	return TRUE;
}

void
raw_read_available(RawClient *client)
{
	while (!client->closed && raw_receive(client))
		;
}

gboolean
raw_wait_closed(RawClient *client)
{
	gint64 deadline = g_get_monotonic_time() + RAW_DEADLINE_S * G_USEC_PER_SEC;

	while (!client->closed) {
		if (!raw_receive(client) && !raw_wait(client, G_IO_IN, deadline))
			return FALSE;
	}
	return TRUE;
}

gboolean
raw_wait_for_text(RawClient *client, const char *text)
{
	gint64 deadline = g_get_monotonic_time() + RAW_DEADLINE_S * G_USEC_PER_SEC;

	while (strstr(client->received->str, text) == NULL) {
		if (client->closed)
			return FALSE;
		if (!raw_receive(client) && !raw_wait(client, G_IO_IN, deadline))
			return FALSE;
	}
	return TRUE;
}

/* The answer's length when all of it is in @received, else -1. */
static gssize
whole_answer(GString *received, guint *status, gsize *body_start)
{
	const char *end = g_strstr_len(received->str, received->len, "\r\n\r\n");
	const char *length_header;
	guint64 length = 0;

	if (end == NULL || sscanf(received->str, "HTTP/1.%*d %u", status) != 1)
		return -1;
	*body_start = end + 4 - received->str;
	length_header = g_strstr_len(received->str, *body_start, "\r\nContent-Length: ");
	if (length_header != NULL)
		length = g_ascii_strtoull(length_header + 18, NULL, 10);
	if (received->len < *body_start + length)
		return -1;
	return (gssize)(*body_start + length);
}

guint
raw_read_answer(RawClient *client, char **body)
{
	gint64 deadline = g_get_monotonic_time() + RAW_DEADLINE_S * G_USEC_PER_SEC;
	guint status = 0;
	gsize body_start = 0;
	gssize length;

	while ((length = whole_answer(client->received, &status, &body_start)) < 0) {
		if (client->closed)
			return 0;
		if (!raw_receive(client) && !raw_wait(client, G_IO_IN, deadline))
			g_error("no answer within %d s", RAW_DEADLINE_S);
	}
	if (body != NULL)
		*body = g_strndup(client->received->str + body_start, length - body_start);
	g_string_erase(client->received, 0, length);
	return status;
}

void
run_until_idle(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* Runs the main loop until @counter(api) is @count; FALSE after RAW_DEADLINE_S. */
static gboolean
wait_for_count(Fixture *f, guint (*counter)(NbxControlApi *api), guint count)
{
	gboolean late = FALSE;
	guint timer = g_timeout_add_seconds(RAW_DEADLINE_S, on_deadline, &late);

	while (counter(f->api) != count && !late)
		g_main_context_iteration(NULL, TRUE);
	if (!late)
		g_source_remove(timer);
	return !late;
}

gboolean
wait_for_connections(Fixture *f, guint count)
{
	return wait_for_count(f, nbx_control_api_connection_count, count);
}

gboolean
wait_for_streams(Fixture *f, guint count)
{
	return wait_for_count(f, nbx_control_api_stream_count, count);
}

guint
count_files(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	guint count = 0;

	while (handle != NULL && g_dir_read_name(handle) != NULL)
		count++;
	return count;
}
