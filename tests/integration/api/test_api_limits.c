/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API against clients that misbehave, in-process (real setup,
 * store and scheduler, the fake machinery): requests cut short, slow or
 * silent connections, heads and bodies over the limits, JSON that would
 * crash the parser, too many connections, a retried submission. Each case
 * also checks that nothing was stored and nothing was left behind.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "api_fixture.h"
#include "test_support.h"

#define RAW_TASK "?task=%7B%22file_name%22%3A%22a.exe%22%7D"

static char *
samples_dir(Fixture *f)
{
	return g_build_filename(f->setup->config->state_dir, "samples", NULL);
}

/* Nothing stored: no task, no sample, no partial upload. */
static void
assert_nothing_stored(Fixture *f)
{
	g_autofree char *dir = samples_dir(f);

	g_assert_cmpuint(stored_task_count(f), ==, 0);
	g_assert_cmpuint(count_files(dir), ==, 0);
}

static gboolean
machine_is_disabled(Fixture *f, const char *name)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(f->scheduler);

	for (guint i = 0; i < machines->len; i++) {
		NbxMachineStatus *machine = g_ptr_array_index(machines, i);

		if (g_strcmp0(machine->name, name) == 0)
			return machine->disabled_reason != NULL;
	}
	g_error("no machine %s", name);
}

/* ---- item 3: a request is executed only when received whole ---- */

static char *
cut_multipart(void)
{
	g_autofree char *content_type = NULL;
	g_autofree char *file = g_strnfill(20000, 'M');
	g_autoptr(GBytes) sample = g_bytes_new(file, strlen(file));
	g_autoptr(GBytes) body =
		multipart_body("{\"platform\": \"linux\"}", "file", "a.exe", sample, &content_type);
	gsize length;
	const char *data = g_bytes_get_data(body, &length);

	/* Announces all of it, sends the task part and half of the file. */
	return g_strdup_printf("POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
			       "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n%.*s",
			       content_type, length, (int)(length / 2), data);
}

static void
test_cut_short(Fixture *f, gconstpointer data)
{
	g_autofree char *multipart = cut_multipart();
	g_autofree char *raw_sample = g_strnfill(30000, 'Z');
	g_autofree char *raw = g_strdup_printf(
		"POST /api/v1/tasks%s HTTP/1.1\r\nHost: x\r\n"
		"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n%s",
		RAW_TASK, raw_sample);
	const char *const requests[] = {
		"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		"Content-Length: 40\r\n\r\n{\"platform\": \"linux\"",
		"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		"Content-Length: 2\r\n\r\n",
		"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
		"POST /api/v1/machines/win10/disable HTTP/1.1\r\nHost: x\r\n"
		"Content-Type: application/json\r\nContent-Length: 30\r\n\r\n{\"reason\": ",
		"POST /api/v1/machines/deb/disable HTTP/1.1\r\nHost: x\r\nContent-Length: "
		"10\r\n\r\n",
		multipart,
		raw,
	};

	for (guint i = 0; i < G_N_ELEMENTS(requests); i++) {
		RawClient *client = raw_connect(f);

		g_test_message("request %u", i);
		raw_send_text(client, requests[i]);
		run_until_idle();
		/* The server has it all and waits for the rest; the client goes away. */
		g_assert_cmpuint(client->received->len, ==, 0);
		raw_free(client);
		g_assert_true(wait_for_connections(f, 0));
	}
	assert_nothing_stored(f);
	g_assert_false(machine_is_disabled(f, "win10"));
	g_assert_false(machine_is_disabled(f, "deb"));
	{
		g_auto(Reply) reply = { 0 };

		/* The same requests, whole, are executed. */
		request(f, "POST", "/api/v1/machines/deb/disable", "application/json",
			"{\"reason\": \"x\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_true(machine_is_disabled(f, "deb"));
	}
}

/* ---- item 5: deadlines, limits, the connection cap ---- */

static const ApiFixtureConfig short_header_deadline = {
	.options = { .header_timeout_s = 1, .idle_timeout_s = 600 },
};

static void
test_header_deadline(Fixture *f, gconstpointer data)
{
	{
		g_autoptr(RawClient) silent = raw_connect(f);

		g_assert_true(raw_wait_closed(silent));
		g_assert_cmpuint(silent->received->len, ==, 0);
	}
	{
		/* One byte every 200 ms resets any idle timer: only a deadline ends it. */
		g_autoptr(RawClient) drip = raw_connect(f);
		g_autofree char *pad = g_strnfill(200, 'a');
		g_autofree char *head = g_strdup_printf(
			"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n", pad);
		guint sent = 0;

		for (; head[sent] != '\0' && !drip->closed; sent++) {
			g_autoptr(GMainLoop) pause = g_main_loop_new(NULL, FALSE);

			if (!raw_send(drip, head + sent, 1))
				break;
			g_timeout_add_once(200, (GSourceOnceFunc)g_main_loop_quit, pause);
			g_main_loop_run(pause);
			run_until_idle();
		}
		g_assert_true(raw_wait_closed(drip));
		g_assert_cmpuint(sent, <, strlen(head));
		g_assert_cmpuint(drip->received->len, ==, 0);
	}
	{
		/* Between two requests on a kept-alive connection too. */
		g_autoptr(RawClient) kept = raw_connect(f);

		raw_send_text(kept, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
		g_assert_cmpuint(raw_read_answer(kept, NULL), ==, 200);
		g_assert_true(raw_wait_closed(kept));
	}
	g_assert_true(wait_for_connections(f, 0));
}

static const ApiFixtureConfig short_idle_timeout = {
	.options = { .header_timeout_s = 600, .idle_timeout_s = 1 },
};

static void
test_idle_timeout(Fixture *f, gconstpointer data)
{
	g_autoptr(RawClient) stalled = raw_connect(f);

	/* The headers are in, the body stops coming. */
	raw_send_text(stalled, "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\n"
			       "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
			       "{\"platform\":");
	g_assert_true(raw_wait_closed(stalled));
	g_assert_cmpuint(stalled->received->len, ==, 0);
	g_assert_true(wait_for_connections(f, 0));
	assert_nothing_stored(f);
}

/* @status for a request line or a header of @size bytes; @json: the answer is the API's. */
static void
assert_head_refused(Fixture *f, gboolean in_url, gsize size, guint status, gboolean json)
{
	g_autoptr(RawClient) client = raw_connect(f);
	g_autofree char *filler = g_strnfill(size, 'a');
	g_autofree char *head =
		in_url ? g_strdup_printf("GET /api/v1/health?x=%s HTTP/1.1\r\nHost: x\r\n\r\n",
					 filler)
		       : g_strdup_printf(
				 "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n",
				 filler);
	g_autofree char *body = NULL;

	g_test_message("%s of %" G_GSIZE_FORMAT " bytes", in_url ? "URL" : "header", size);
	/* The server may answer and close before all of it is sent. */
	raw_send_text(client, head);
	g_assert_cmpuint(raw_read_answer(client, &body), ==, status);
	if (json) {
		g_autoptr(JsonNode) root = json_from_string(body, NULL);
		JsonObject *error;

		g_assert_nonnull(root);
		error = json_object_get_object_member(json_node_get_object(root), "error");
		g_assert_cmpstr(json_object_get_string_member(error, "code"), ==, "too_large");
		g_assert_cmpstr(json_object_get_string_member(error, "field"), ==,
				in_url ? "url" : "headers");
		g_assert_nonnull(strstr(json_object_get_string_member(error, "message"),
					"api.max_header_kb"));
	}
}

static void
test_oversized_head(Fixture *f, gconstpointer data)
{
	/* Over api.max_header_kb (16 KiB): the API's own answer. */
	assert_head_refused(f, TRUE, 20 * 1024, 414, TRUE);
	assert_head_refused(f, FALSE, 20 * 1024, 431, TRUE);
	/* Far over: refused by libmicrohttpd before the head is even whole. */
	assert_head_refused(f, TRUE, 100 * 1024, 414, FALSE);
	assert_head_refused(f, FALSE, 100 * 1024, 431, FALSE);
	assert_head_refused(f, FALSE, 1024 * 1024, 431, FALSE);
	{
		/* Under it, a request goes through. */
		g_autoptr(RawClient) client = raw_connect(f);
		g_autofree char *filler = g_strnfill(12 * 1024, 'a');
		g_autofree char *head = g_strdup_printf(
			"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", filler);

		raw_send_text(client, head);
		g_assert_cmpuint(raw_read_answer(client, NULL), ==, 200);
	}
}

static const ApiFixtureConfig three_connections = {
	.options = { .max_connections = 3, .header_timeout_s = 600 },
};

static void
test_connection_cap(Fixture *f, gconstpointer data)
{
	RawClient *idle[3];
	g_autoptr(RawClient) waiting = NULL;
	g_autoptr(RawClient) next = NULL;
	g_autofree char *body = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(idle); i++)
		idle[i] = raw_connect(f);
	g_assert_true(wait_for_connections(f, 3));
	/*
	 * A fourth is accepted (libmicrohttpd keeps room for the event
	 * streams besides) but not served: told the daemon is busy, and
	 * closed.
	 */
	waiting = raw_connect(f);
	raw_send_text(waiting, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
	g_assert_cmpuint(raw_read_answer(waiting, &body), ==, 503);
	g_assert_nonnull(strstr(body, "\"busy\""));
	g_assert_true(raw_wait_closed(waiting));
	g_assert_true(wait_for_connections(f, 3));
	/* One goes: the next is served. */
	raw_free(idle[0]);
	g_assert_true(wait_for_connections(f, 2));
	next = raw_connect(f);
	raw_send_text(next, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
	g_assert_cmpuint(raw_read_answer(next, NULL), ==, 200);
	raw_free(idle[1]);
	raw_free(idle[2]);
}

static const ApiFixtureConfig two_connections_tcp = {
	.tcp = TRUE,
	.options = { .max_connections = 2, .header_timeout_s = 600 },
};

/* The cap is over both sockets: past it, a TCP client is told the daemon is busy. */
static void
test_connection_cap_shared(Fixture *f, gconstpointer data)
{
	g_autoptr(SoupSession) session =
		soup_session_new_with_options("proxy-resolver", NULL, NULL);
	g_autofree char *url = g_strdup_printf("http://%s/api/v1/health", f->tcp_address);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(RawClient) first = raw_connect(f);
	g_autoptr(RawClient) second = raw_connect(f);
	g_auto(Reply) reply = { 0 };

	g_assert_true(wait_for_connections(f, 2));
	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
				     "Bearer " TEST_TOKEN);
	exchange(session, msg, &reply);
	assert_error(&reply, 503, "busy", NULL);
	g_assert_cmpuint(first->received->len + second->received->len, ==, 0);
	g_assert_nonnull(strstr(
		json_object_get_string_member(
			json_object_get_object_member(object_of(&reply), "error"), "message"),
		"api.max_connections"));
}

/* ---- item 1: a connection the client closes leaves nothing open ---- */

static guint
open_fds(void)
{
	return count_files("/proc/self/fd");
}

static void
test_connections_closed(Fixture *f, gconstpointer data)
{
	guint before;

	{
		g_auto(Reply) warm = { 0 };

		/* Whatever opens once (the store's files, the client session) is open now. */
		request(f, "GET", "/api/v1/health", NULL, NULL, &warm);
		g_assert_cmpuint(warm.status, ==, 200);
	}
	g_clear_object(&f->session);
	g_assert_true(wait_for_connections(f, 0));
	before = open_fds();
	for (guint i = 0; i < 1000; i++) {
		RawClient *client = raw_connect(f);

		/* HTTP/1.1 keeps the connection alive; the client hangs up after the answer. */
		raw_send_text(client, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
		g_assert_cmpuint(raw_read_answer(client, NULL), ==, 200);
		raw_free(client);
	}
	g_assert_true(wait_for_connections(f, 0));
	g_assert_cmpuint(open_fds(), ==, before);
}

/* ---- item 2 and item 6: JSON the parser must never see ---- */

static const ApiFixtureConfig big_bodies = {
	.options = { .max_body_bytes = 4 * 1024 * 1024, .max_json_bytes = 1024 * 1024 },
};

static char *
nested(const char *prefix, guint depth, const char *suffix)
{
	g_autofree char *open = g_strnfill(depth, '[');
	g_autofree char *close = g_strnfill(depth, ']');

	return g_strconcat(prefix, open, close, suffix, NULL);
}

static void
test_json_depth(Fixture *f, gconstpointer data)
{
	g_autofree char *deep = nested("{\"options\": ", 100000, "}");
	g_autofree char *reason = nested("{\"reason\": ", 100000, "}");
	const char *ok = "{\"options\": {\"aux-alpha\": {\"note\": \"x\"}}}";

	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/tasks", "application/json", deep, &reply);
		assert_error(&reply, 400, "invalid", "body");
		g_assert_nonnull(
			strstr(json_object_get_string_member(
				       json_object_get_object_member(object_of(&reply), "error"),
				       "message"),
			       "nested deeper than 32 levels"));
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/disable", "application/json", reason,
			&reply);
		assert_error(&reply, 400, "invalid", "body");
		g_assert_false(machine_is_disabled(f, "win10"));
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(GBytes) sample = g_bytes_new_static("MZ", 2);

		post_multipart(f, deep, "file", "a.exe", sample, &reply);
		assert_error(&reply, 400, "invalid", "task");
	}
	{
		g_auto(Reply) reply = { 0 };

		/* A document within the depth passes (this one is 3 deep). */
		request(f, "POST", "/api/v1/tasks", "application/json", ok, &reply);
		g_assert_cmpuint(reply.status, ==, 201);
	}
	g_assert_cmpuint(stored_task_count(f), ==, 1);
}

/* ---- item 4: uploads stream to disk, within their limit ---- */

static void
test_raw_upload(Fixture *f, gconstpointer data)
{
	static const char sample_data[] = "MZ\x90\0 raw body upload \xff";
	g_autoptr(GBytes) sample = g_bytes_new_static(sample_data, sizeof sample_data);
	g_autofree char *contents = NULL;
	gsize length = 0;

	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg = soup_message_new(
			"POST", "http://localhost/api/v1/tasks?task=%7B%22file_name%22%3A%22b.exe"
				"%22%2C%22platform%22%3A%22Linux%22%7D");

		soup_message_set_request_body_from_bytes(msg, "application/octet-stream", sample);
		exchange(f->session, msg, &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "target_name"), ==,
				"b.exe");
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "platform"), ==,
				"linux");
		g_assert_true(g_file_get_contents(
			json_object_get_string_member(object_of(&reply), "target"), &contents,
			&length, NULL));
		g_assert_cmpmem(contents, length, sample_data, sizeof sample_data);
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg =
			soup_message_new("POST", "http://localhost/api/v1/tasks");

		/* A raw body needs its name. */
		soup_message_set_request_body_from_bytes(msg, "application/octet-stream", sample);
		exchange(f->session, msg, &reply);
		assert_error(&reply, 400, "invalid", "file_name");
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg = soup_message_new(
			"POST", "http://localhost/api/v1/tasks" RAW_TASK "&colour=red");

		soup_message_set_request_body_from_bytes(msg, "application/octet-stream", sample);
		exchange(f->session, msg, &reply);
		assert_error(&reply, 400, "unknown_field", "colour");
	}
	g_assert_cmpuint(stored_task_count(f), ==, 1);
	g_assert_cmpuint(stored_sample_count(f), ==, 1);
}

static void
test_upload_over_limit(Fixture *f, gconstpointer data)
{
	g_autofree char *big = g_strnfill(MAX_BODY * 4, 'B');
	g_autoptr(GBytes) bytes = g_bytes_new(big, MAX_BODY * 4);

	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg =
			soup_message_new("POST", "http://localhost/api/v1/tasks" RAW_TASK);
		g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_bytes(bytes);

		/* Chunked: refused once past the limit, the rest read and dropped. */
		soup_message_set_request_body(msg, "application/octet-stream", stream, -1);
		exchange(f->session, msg, &reply);
		assert_error(&reply, 413, "too_large", "body");
	}
	{
		g_auto(Reply) reply = { 0 };

		post_multipart(f, NULL, "file", "big.exe", bytes, &reply);
		assert_error(&reply, 413, "too_large", "body");
	}
	{
		g_autoptr(RawClient) client = raw_connect(f);

		/* A client that asks first is refused before it sends anything. */
		raw_send_text(client, "POST /api/v1/tasks" RAW_TASK " HTTP/1.1\r\nHost: x\r\n"
				      "Content-Type: application/octet-stream\r\n"
				      "Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n");
		g_assert_cmpuint(raw_read_answer(client, NULL), ==, 413);
	}
	assert_nothing_stored(f);
}

/* ---- item 5b: Idempotency-Key ---- */

static void
post_keyed(Fixture *f, const char *key, const char *body, Reply *reply)
{
	g_autoptr(SoupMessage) msg = soup_message_new("POST", "http://localhost/api/v1/tasks");
	g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Idempotency-Key", key);
	soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	exchange(f->session, msg, reply);
}

static gint64
id_of(const Reply *reply)
{
	return json_object_get_int_member(object_of(reply), "id");
}

static void
test_idempotency_key(Fixture *f, gconstpointer data)
{
	gint64 first;

	{
		g_auto(Reply) reply = { 0 };

		post_keyed(f, "5f0c-retry-me", "{\"platform\": \"linux\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_null(soup_message_headers_get_one(reply.headers, "Idempotent-Replayed"));
		first = id_of(&reply);
	}
	{
		g_auto(Reply) reply = { 0 };

		/* The client lost the answer and sends it again: the same task. */
		post_keyed(f, "5f0c-retry-me", "{\"platform\": \"linux\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_cmpint(id_of(&reply), ==, first);
		g_assert_cmpstr(soup_message_headers_get_one(reply.headers, "Idempotent-Replayed"),
				==, "true");
	}
	{
		g_auto(Reply) reply = { 0 };

		post_keyed(f, "5f0c-retry-me", "{\"platform\": \"windows\"}", &reply);
		assert_error(&reply, 422, "conflict", "Idempotency-Key");
	}
	{
		g_auto(Reply) reply = { 0 };

		post_keyed(f, "has space", "{}", &reply);
		assert_error(&reply, 400, "invalid", "Idempotency-Key");
	}
	g_assert_cmpuint(stored_task_count(f), ==, 1);
	{
		g_auto(Reply) reply = { 0 };

		/* Another key is another task. */
		post_keyed(f, "another-key", "{\"platform\": \"linux\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_cmpint(id_of(&reply), !=, first);
	}
}

/* A key is remembered for a day: older, it makes a new task. */
static void
test_idempotency_key_expires(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxTask) old = nbx_task_new();
	g_autoptr(GError) error = NULL;
	g_auto(Reply) reply = { 0 };

	old->created_us = g_get_real_time() - 25 * G_TIME_SPAN_HOUR;
	g_assert_true(nbx_store_task_insert_keyed(f->store, old, "yesterday", "digest", 0, &error));
	g_assert_no_error(error);
	post_keyed(f, "yesterday", "{\"platform\": \"linux\"}", &reply);
	g_assert_cmpuint(reply.status, ==, 201);
	g_assert_cmpint(id_of(&reply), !=, old->id);
	g_assert_cmpuint(stored_task_count(f), ==, 2);
}

static void
test_idempotency_key_upload(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) sample = g_bytes_new_static("MZ same sample", 14);
	gint64 ids[2];

	for (guint i = 0; i < 2; i++) {
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg =
			soup_message_new("POST", "http://localhost/api/v1/tasks" RAW_TASK);

		soup_message_headers_replace(soup_message_get_request_headers(msg),
					     "Idempotency-Key", "upload-key");
		soup_message_set_request_body_from_bytes(msg, "application/octet-stream", sample);
		exchange(f->session, msg, &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		ids[i] = id_of(&reply);
	}
	g_assert_cmpint(ids[0], ==, ids[1]);
	g_assert_cmpuint(stored_task_count(f), ==, 1);
	/* One sample, and no upload left behind by the second. */
	g_assert_cmpuint(stored_sample_count(f), ==, 1);
}

/* ---- answers that come later: the snapshot routes ---- */

static NbxSetup *
snapshots_get_setup(gpointer data)
{
	return nbx_scheduler_get_setup(data);
}

static NbxMachine *
snapshots_hold(gpointer data, const char *name, GError **error)
{
	return nbx_scheduler_hold_machine(data, name, error);
}

static void
snapshots_release(gpointer data, NbxMachine *machine)
{
	nbx_scheduler_unhold_machine(data, machine);
}

/*
 * A snapshot call runs on a worker thread while its request is suspended;
 * the main loop serves other requests meanwhile, and the answer comes when
 * the call is done.
 */
static void
test_suspended_answers(Fixture *f, gconstpointer data)
{
	NbxSnapshotHost host = { .get_setup = snapshots_get_setup,
				 .hold_machine = snapshots_hold,
				 .release_machine = snapshots_release,
				 .user_data = f->scheduler };
	g_autoptr(GError) error = NULL;
	NbxSnapshotManager *snapshots =
		nbx_snapshot_manager_new(f->setup->config->state_dir, f->store, &host, &error);
	static const char *const calls[] = { "begin", "rollback", "begin", "rollback",
					     "begin", "commit" };

	g_assert_no_error(error);
	nbx_scheduler_set_snapshots(f->scheduler, snapshots);
	nbx_control_api_set_snapshots(f->api, snapshots);
	for (guint i = 0; i < G_N_ELEMENTS(calls); i++) {
		g_autoptr(RawClient) client = raw_connect(f);
		g_autofree char *head = g_strdup_printf(
			"POST /api/v1/snapshots/win10/%s HTTP/1.1\r\nHost: x\r\n"
			"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
			calls[i]);
		g_autofree char *body = NULL;

		raw_send_text(client, head);
		if (i % 2 == 1) {
			/* Another client meanwhile (on the first calls, none: nothing else
			 * wakes the server when the answer is ready). */
			g_autoptr(RawClient) other = raw_connect(f);

			raw_send_text(other, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
			g_assert_cmpuint(raw_read_answer(other, NULL), ==, 200);
		}
		g_assert_cmpuint(raw_read_answer(client, &body), ==, 200);
		g_test_message("%s: %s", calls[i], body);
	}
	nbx_control_api_set_snapshots(f->api, NULL);
	nbx_scheduler_set_snapshots(f->scheduler, NULL);
	/*
	 * A prepared run (the machine is idle after the commit) may still be
	 * reading the manager on its thread, as nestboxd waits for at exit.
	 */
	while (!nbx_scheduler_is_idle(f->scheduler))
		g_main_context_iteration(NULL, TRUE);
	nbx_snapshot_manager_free(snapshots);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* Disabling a machine warns, as an operator should see; criticals stay fatal. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_nonnull(g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR"));

#define ADD(name, config, func)                                                                    \
	g_test_add(name, Fixture, config, setup_fixture, func, teardown_fixture)
	ADD("/api-limits/cut-short", NULL, test_cut_short);
	ADD("/api-limits/header-deadline", &short_header_deadline, test_header_deadline);
	ADD("/api-limits/idle-timeout", &short_idle_timeout, test_idle_timeout);
	ADD("/api-limits/oversized-head", NULL, test_oversized_head);
	ADD("/api-limits/connection-cap", &three_connections, test_connection_cap);
	ADD("/api-limits/connection-cap-shared", &two_connections_tcp, test_connection_cap_shared);
	ADD("/api-limits/connections-closed", NULL, test_connections_closed);
	ADD("/api-limits/json-depth", &big_bodies, test_json_depth);
	ADD("/api-limits/raw-upload", NULL, test_raw_upload);
	ADD("/api-limits/upload-over-limit", NULL, test_upload_over_limit);
	ADD("/api-limits/idempotency-key", NULL, test_idempotency_key);
	ADD("/api-limits/idempotency-key-expires", NULL, test_idempotency_key_expires);
	ADD("/api-limits/idempotency-key-upload", NULL, test_idempotency_key_upload);
	ADD("/api-limits/suspended-answers", NULL, test_suspended_answers);
#undef ADD
	return g_test_run();
}
