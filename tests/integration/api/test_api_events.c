/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /events against the control API in-process (real setup with the fake
 * machinery, store and scheduler): a task followed from queued to reported
 * with its steps and its machine, a stream that does not take an ordinary
 * connection's room, the streams' own cap, and a client that stops reading
 * dropped while one that reads goes on. Nothing sleeps: every wait is for
 * bytes on a socket or a count, with a deadline only a hang reaches.
 */
#include <string.h>

#include "api_fixture.h"
#include "test_support.h"

/* HTTP/1.0: the body comes as it is, not in chunks. */
static RawClient *
subscribe(Fixture *f, const char *path)
{
	RawClient *client = raw_connect(f);
	g_autofree char *head = g_strdup_printf("GET %s HTTP/1.0\r\n\r\n", path);

	g_assert_true(raw_send_text(client, head));
	g_assert_true(raw_wait_for_text(client, ": nestboxd events"));
	return client;
}

typedef struct {
	char *kind;
	JsonObject *data;
} Event;

static void
event_free(gpointer data)
{
	Event *event = data;

	g_free(event->kind);
	json_object_unref(event->data);
	g_free(event);
}

/* The events in what @client received so far (comments skipped). */
static GPtrArray *
events_of(RawClient *client)
{
	GPtrArray *events = g_ptr_array_new_with_free_func(event_free);
	const char *body = strstr(client->received->str, "\r\n\r\n");
	g_auto(GStrv) blocks = g_strsplit(body != NULL ? body + 4 : "", "\n\n", -1);

	for (guint i = 0; blocks[i] != NULL; i++) {
		g_auto(GStrv) lines = g_strsplit(blocks[i], "\n", -1);
		const char *kind = NULL, *data = NULL;
		g_autoptr(JsonParser) parser = json_parser_new();
		Event *event;

		for (guint l = 0; lines[l] != NULL; l++) {
			if (g_str_has_prefix(lines[l], "event: "))
				kind = lines[l] + 7;
			else if (g_str_has_prefix(lines[l], "data: "))
				data = lines[l] + 6;
		}
		if (kind == NULL || data == NULL || !json_parser_load_from_data(parser, data, -1, NULL))
			continue;
		event = g_new0(Event, 1);
		event->kind = g_strdup(kind);
		event->data = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
		g_ptr_array_add(events, event);
	}
	return events;
}

static const char *
member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	return node != NULL && JSON_NODE_HOLDS_VALUE(node) ? json_node_get_string(node) : NULL;
}

/* The task's states in order, with its steps: "queued running:restore_start ... reported". */
static char *
task_story(GPtrArray *events, gint64 id)
{
	g_autoptr(GString) story = g_string_new(NULL);
	g_autofree char *last = NULL;

	for (guint i = 0; i < events->len; i++) {
		Event *event = g_ptr_array_index(events, i);
		g_autofree char *word = NULL;
		const char *step;

		if (strcmp(event->kind, "task") != 0 ||
		    json_object_get_int_member(event->data, "id") != id)
			continue;
		step = member(event->data, "step");
		word = g_strdup_printf("%s%s%s", member(event->data, "state"),
				       step != NULL && strcmp(member(event->data, "state"), "running") == 0
					       ? ":"
					       : "",
				       step != NULL && strcmp(member(event->data, "state"), "running") == 0
					       ? step
					       : "");
		if (g_strcmp0(word, last) == 0)
			continue;
		g_string_append_printf(story, "%s%s", story->len > 0 ? " " : "", word);
		g_free(last);
		last = g_steal_pointer(&word);
	}
	return g_string_free(g_steal_pointer(&story), FALSE);
}

static gboolean
machine_had_task(GPtrArray *events, const char *name, gint64 id)
{
	for (guint i = 0; i < events->len; i++) {
		Event *event = g_ptr_array_index(events, i);

		if (strcmp(event->kind, "machine") == 0 &&
		    g_strcmp0(member(event->data, "name"), name) == 0 &&
		    !json_object_get_null_member(event->data, "task_id") &&
		    json_object_get_int_member(event->data, "task_id") == id)
			return TRUE;
	}
	return FALSE;
}

static void
test_task_followed(Fixture *f, gconstpointer data)
{
	g_autoptr(RawClient) all = subscribe(f, "/events");
	g_autoptr(RawClient) one = subscribe(f, "/events?task=1");
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GPtrArray) filtered = NULL;
	g_autofree char *story = NULL;
	g_autofree char *filtered_story = NULL;
	gint64 id;

	/* Streams are not ordinary connections: they leave room for requests. */
	g_assert_true(wait_for_connections(f, 0));
	g_assert_cmpuint(nbx_control_api_stream_count(f->api), ==, 2);

	id = submit_json(f, "{\"platform\": \"linux\", \"duration\": 1}");
	g_assert_cmpint(id, ==, 1);
	g_assert_true(raw_wait_for_text(all, "\"state\":\"reported\""));
	g_assert_true(raw_wait_for_text(one, "\"state\":\"reported\""));

	events = events_of(all);
	story = task_story(events, id);
	g_test_message("task 1: %s", story);
	g_assert_true(g_str_has_prefix(story, "queued running"));
	g_assert_nonnull(strstr(story, "running:restore_start"));
	g_assert_nonnull(strstr(story, "running:run"));
	g_assert_true(g_str_has_suffix(story, " reported"));
	g_assert_true(machine_had_task(events, "deb", id));

	/* ?task=1: the same story, and nothing else. */
	filtered = events_of(one);
	filtered_story = task_story(filtered, id);
	g_assert_cmpstr(filtered_story, ==, story);
	for (guint i = 0; i < filtered->len; i++)
		g_assert_cmpstr(((Event *)g_ptr_array_index(filtered, i))->kind, ==, "task");
}

static void
test_stream_cap(Fixture *f, gconstpointer data)
{
	g_autoptr(RawClient) first = subscribe(f, "/events");
	g_autoptr(RawClient) second = raw_connect(f);
	g_autofree char *body = NULL;
	g_auto(Reply) reply = { 0 };

	g_assert_false(first->closed);
	g_assert_true(raw_send_text(second, "GET /events HTTP/1.0\r\n\r\n"));
	g_assert_cmpuint(raw_read_answer(second, &body), ==, 503);
	g_assert_nonnull(strstr(body, "\"busy\""));
	/* Ordinary requests still have their room. */
	request(f, "GET", "/api/v1/health", NULL, NULL, &reply);
	g_assert_cmpuint(reply.status, ==, 200);
	g_assert_cmpuint(nbx_control_api_stream_count(f->api), ==, 1);
}

/* Disables deb with a long reason (each change is one big machine event), then enables it. */
static void
toggle_machine(Fixture *f, guint round)
{
	g_autoptr(GString) body = g_string_new("{\"reason\": \"");
	g_auto(Reply) disabled = { 0 };
	g_auto(Reply) enabled = { 0 };

	g_string_append_printf(body, "round %u ", round);
	for (guint i = 0; i < 6000; i++)
		g_string_append(body, "slow down");
	g_string_append_printf(body, " end%u\"}", round);
	request(f, "POST", "/api/v1/machines/deb/disable", "application/json", body->str,
		&disabled);
	g_assert_cmpuint(disabled.status, ==, 200);
	request(f, "POST", "/api/v1/machines/deb/enable", NULL, NULL, &enabled);
	g_assert_cmpuint(enabled.status, ==, 200);
}

static void
test_slow_client_dropped(Fixture *f, gconstpointer data)
{
	g_autoptr(RawClient) slow = subscribe(f, "/events");
	g_autoptr(RawClient) reader = subscribe(f, "/events");

	/* Far more than the socket buffers hold: the slow client's queue must overflow. */
	for (guint round = 0; round < 40; round++) {
		g_autofree char *end = g_strdup_printf(" end%u\"", round);

		toggle_machine(f, round);
		if (!raw_wait_for_text(reader, end))
			g_error("round %u: reader got %zu bytes, ending %s", round, reader->received->len,
				reader->received->str + MAX(0, (gssize)reader->received->len - 300));
	}
	g_assert_true(wait_for_streams(f, 1));
	g_assert_true(raw_wait_closed(slow));
	g_assert_false(reader->closed);
}

static void
test_bad_query(Fixture *f, gconstpointer data)
{
	g_auto(Reply) word = { 0 };
	g_auto(Reply) unknown = { 0 };

	request(f, "GET", "/events?task=abc", NULL, NULL, &word);
	assert_error(&word, 400, "invalid", "task");
	request(f, "GET", "/events?machine=deb", NULL, NULL, &unknown);
	assert_error(&unknown, 400, "unknown_field", "machine");
	g_assert_cmpuint(nbx_control_api_stream_count(f->api), ==, 0);
}

int
main(int argc, char **argv)
{
	static ApiFixtureConfig one_stream = { .options = { .max_event_streams = 1 } };
	/* Smaller than one of toggle_machine()'s events plus what a full socket holds. */
	static ApiFixtureConfig small_queue = { .options = { .event_queue_bytes = 128 * 1024 } };

	g_test_init(&argc, &argv, NULL);
	/* Disabling a machine is warned about, as an operator should see; criticals stay fatal. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_nonnull(g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR"));
	g_test_add("/api/events/task-followed", Fixture, NULL, setup_fixture, test_task_followed,
		   teardown_fixture);
	g_test_add("/api/events/stream-cap", Fixture, &one_stream, setup_fixture, test_stream_cap,
		   teardown_fixture);
	g_test_add("/api/events/slow-client-dropped", Fixture, &small_queue, setup_fixture,
		   test_slow_client_dropped, teardown_fixture);
	g_test_add("/api/events/bad-query", Fixture, NULL, setup_fixture, test_bad_query,
		   teardown_fixture);
	return g_test_run();
}
