/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API in-process, built from the real pieces (setup with the
 * fake machinery, store, scheduler) and spoken to over its UNIX socket (and
 * TCP) with a SoupSession, on this thread's main loop. Every refusal is
 * checked for its status, its field, and that nothing was stored.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sys/stat.h>

#include "api_fixture.h"
#include "test_support.h"

/* ---- cases ---- */

static void
test_health(Fixture *f, gconstpointer data)
{
	g_auto(Reply) reply = { 0 };
	JsonObject *root;
	JsonObject *machines;

	request(f, "GET", "/api/v1/health", NULL, NULL, &reply);
	g_assert_cmpuint(reply.status, ==, 200);
	g_assert_cmpstr(soup_message_headers_get_content_type(reply.headers, NULL), ==,
			"application/json");
	root = object_of(&reply);
	g_assert_cmpstr(json_object_get_string_member(root, "status"), ==, "ok");
	g_assert_cmpstr(json_object_get_string_member(root, "version"), ==, NESTBOX_VERSION);
	g_assert_cmpint(json_object_get_int_member(root, "queued"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(root, "running"), ==, 0);
	g_assert_false(json_object_get_boolean_member(root, "shutting_down"));
	g_assert_true(json_object_has_member(root, "uptime"));
	machines = json_object_get_object_member(root, "machines");
	g_assert_cmpint(json_object_get_int_member(machines, "total"), ==, 2);
	g_assert_cmpint(json_object_get_int_member(machines, "disabled"), ==, 0);
}

static void
test_submit_json(Fixture *f, gconstpointer data)
{
	g_auto(Reply) reply = { 0 };
	g_autoptr(NbxTask) stored = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *location = NULL;
	JsonObject *task;

	request(f, "POST", "/api/v1/tasks", "application/json",
		"{\"priority\": 5, \"platform\": \"Windows\", \"os_version\": \"win10\", "
		"\"tags\": [\"Office\"], \"duration\": 30, \"memory_dump\": true, "
		"\"debug\": false, \"machine\": null, "
		"\"options\": {\"aux-alpha\": {\"note\": \"hello\"}}}",
		&reply);
	g_assert_cmpuint(reply.status, ==, 201);
	task = object_of(&reply);
	location = g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT,
				   json_object_get_int_member(task, "id"));
	g_assert_cmpstr(soup_message_headers_get_one(reply.headers, "Location"), ==, location);
	g_assert_cmpint(json_object_get_int_member(task, "priority"), ==, 5);
	/* Lower-cased, as the machine configuration stores them. */
	g_assert_cmpstr(json_object_get_string_member(task, "platform"), ==, "windows");
	g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(task, "tags"), 0),
			==, "office");
	g_assert_cmpint(json_object_get_int_member(task, "duration"), ==, 30);
	g_assert_true(json_object_get_boolean_member(task, "memory_dump"));
	g_assert_cmpstr(json_object_get_string_member(task, "state"), !=, "failed");

	stored = nbx_store_task_get(f->store, json_object_get_int_member(task, "id"), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(stored->options_json, ==, "{\"aux-alpha\":{\"note\":\"hello\"}}");
	g_assert_null(stored->target);
	g_assert_cmpuint(stored_task_count(f), ==, 1);
}

/* A task no machine could ever serve is stored, failed, and still a 201. */
static void
test_submit_unservable(Fixture *f, gconstpointer data)
{
	g_auto(Reply) reply = { 0 };
	JsonObject *task;

	request(f, "POST", "/api/v1/tasks", "application/json", "{\"platform\": \"macos\"}",
		&reply);
	g_assert_cmpuint(reply.status, ==, 201);
	task = object_of(&reply);
	g_assert_cmpstr(json_object_get_string_member(task, "state"), ==, "failed");
	g_assert_nonnull(json_object_get_string_member(task, "reason"));
}

static void
test_submit_multipart(Fixture *f, gconstpointer data)
{
	static const char sample_data[] = "MZ\x90\0\3\0\0\0 not really a PE, but binary \xff\xfe";
	g_autoptr(GBytes) sample = g_bytes_new(sample_data, sizeof sample_data);
	g_autofree char *contents = NULL;
	gsize length = 0;
	JsonObject *task;

	{
		g_auto(Reply) reply = { 0 };

		post_multipart(f, "{\"platform\": \"windows\", \"duration\": 5}", "file",
			       "invoice.exe", sample, &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		task = object_of(&reply);
		g_assert_cmpstr(json_object_get_string_member(task, "target_name"), ==,
				"invoice.exe");
		g_assert_true(g_file_get_contents(json_object_get_string_member(task, "target"),
						  &contents, &length, NULL));
		g_assert_cmpmem(contents, length, sample_data, sizeof sample_data);
	}
	{
		g_auto(Reply) reply = { 0 };

		/* file_name names the sample instead of the part's (temporary) filename. */
		post_multipart(f, "{\"file_name\": \"report.docm\"}", "file", "tmpXYZ", sample,
			       &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "target_name"),
				==, "report.docm");
	}
	{
		g_auto(Reply) reply = { 0 };

		/* The task part is optional. */
		post_multipart(f, NULL, "file", "a.bin", sample, &reply);
		g_assert_cmpuint(reply.status, ==, 201);
	}
	g_assert_cmpuint(stored_task_count(f), ==, 3);
	/* Stored once, by content. */
	g_assert_cmpuint(stored_sample_count(f), ==, 1);
}

typedef struct {
	const char *body;
	guint status;
	const char *code;
	const char *field;
} BadJson;

static const BadJson bad_json[] = {
	{ "{\"priority\": \"high\"}", 400, "invalid", "priority" },
	{ "{\"priority\": 1.5}", 400, "invalid", "priority" },
	{ "{\"duration\": true}", 400, "invalid", "duration" },
	{ "{\"duration\": 0}", 400, "invalid", "duration" },
	{ "{\"duration\": -5}", 400, "invalid", "duration" },
	{ "{\"duration\": 999999}", 400, "invalid", "duration" }, /* the scheduler's maximum */
	{ "{\"memory_dump\": \"yes\"}", 400, "invalid", "memory_dump" },
	{ "{\"debug\": 1}", 400, "invalid", "debug" },
	{ "{\"platform\": 7}", 400, "invalid", "platform" },
	{ "{\"os_version\": [\"win10\"]}", 400, "invalid", "os_version" },
	{ "{\"architecture\": {}}", 400, "invalid", "architecture" },
	{ "{\"tags\": \"office\"}", 400, "invalid", "tags" },
	{ "{\"tags\": [\"office\", 3]}", 400, "invalid", "tags[1]" },
	{ "{\"tags\": [\"\"]}", 400, "invalid", "tags[0]" },
	{ "{\"options\": [\"a\"]}", 400, "invalid", "options" },
	{ "{\"options\": {\"aux-alpha\": \"x\"}}", 400, "invalid", "options.aux-alpha" },
	{ "{\"options\": {\"aux-alpha\": {\"note\": 1}}}", 400, "invalid", "options.aux-alpha.note" },
	{ "{\"options\": {\"no-such-aux\": {}}}", 400, "invalid", "options.no-such-aux" },
	{ "{\"colour\": \"red\"}", 400, "unknown_field", "colour" },
	{ "{\"platform\": \"linux\", \"Priority\": 1}", 400, "unknown_field", "Priority" },
	{ "{\"machine\": \"../../etc/passwd\"}", 400, "invalid", "machine" },
	{ "{\"machine\": \"..\"}", 400, "invalid", "machine" },
	{ "{\"machine\": \"a\\\\b\"}", 400, "invalid", "machine" },
	{ "{\"machine\": \"win\\u000a10\"}", 400, "invalid", "machine" },
	{ "{\"platform\": \"win\\u0007\"}", 400, "invalid", "platform" },
	{ "{\"file_name\": \"x.exe\"}", 400, "invalid", "file_name" },
	{ "{\"platform\": ", 400, "malformed_json", "body" },
	{ "not json at all", 400, "malformed_json", "body" },
	{ "[1, 2]", 400, "invalid", "body" },
	{ "\"a string\"", 400, "invalid", "body" },
	/* No body is not "every default": an empty request is refused. */
	{ "", 400, "invalid", "body" },
	/* One object, not two, and nothing after it. */
	{ "{}{}", 400, "malformed_json", "body" },
	{ "{\"platform\": \"linux\"} {\"platform\": \"windows\"}", 400, "malformed_json",
	  "body" },
	{ "{\"platform\": \"linux\"} x", 400, "malformed_json", "body" },
	/* A NUL would cut the string: "f1\u0000x" would run on f1. */
	{ "{\"machine\": \"f1\\u0000x\"}", 400, "invalid", "machine" },
	{ "{\"tags\": [\"a\\u0000b\"]}", 400, "invalid", "tags" },
	{ "{\"platform\": \"\xff\xfe\"}", 400, "malformed_json", "body" },
};

static void
test_submit_bad_json(Fixture *f, gconstpointer data)
{
	for (guint i = 0; i < G_N_ELEMENTS(bad_json); i++) {
		g_auto(Reply) reply = { 0 };

		/* Escaped: a raw invalid UTF-8 byte breaks meson's TAP reader. */
		g_autofree char *shown = g_strescape(bad_json[i].body, NULL);

		g_test_message("body: %s", shown);
		request(f, "POST", "/api/v1/tasks", "application/json", bad_json[i].body, &reply);
		assert_error(&reply, bad_json[i].status, bad_json[i].code, bad_json[i].field);
	}
	g_assert_cmpuint(stored_task_count(f), ==, 0);
}

static void
test_submit_bad_multipart(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) sample = g_bytes_new_static("sample", 6);
	g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
	static const struct {
		const char *task;
		const char *part;
		const char *filename;
		gboolean empty;
		const char *code;
		const char *field;
	} cases[] = {
		{ NULL, "file", "../../evil.exe", FALSE, "invalid", "file" },
		{ NULL, "file", "..", FALSE, "invalid", "file" },
		{ NULL, "file", "dir/evil.exe", FALSE, "invalid", "file" },
		{ NULL, "file", NULL, FALSE, "invalid", "file" },
		{ NULL, "file", "empty.bin", TRUE, "invalid", "file" },
		{ NULL, "files", "a.exe", FALSE, "unknown_field", "files" },
		{ "{\"file_name\": \"a/b.exe\"}", "file", "a.exe", FALSE, "invalid", "file_name" },
		{ "{\"duration\": \"long\"}", "file", "a.exe", FALSE, "invalid", "duration" },
		{ "{\"bogus\": 1}", "file", "a.exe", FALSE, "unknown_field", "bogus" },
		{ "{broken", "file", "a.exe", FALSE, "malformed_json", "task" },
		{ "{\"file_name\": \"a.exe\"}", NULL, NULL, FALSE, "invalid", "file_name" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(Reply) reply = { 0 };

		g_test_message("case %u", i);
		post_multipart(f, cases[i].task, cases[i].part, cases[i].filename,
			       cases[i].part == NULL ? NULL : cases[i].empty ? empty : sample,
			       &reply);
		assert_error(&reply, 400, cases[i].code, cases[i].field);
	}
	{
		g_auto(Reply) reply = { 0 };

		/* A multipart body without its boundary. */
		request(f, "POST", "/api/v1/tasks", "multipart/form-data", "--x\r\n\r\n", &reply);
		assert_error(&reply, 400, "invalid", "body");
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/tasks", "text/plain", "{}", &reply);
		assert_error(&reply, 415, "unsupported_media_type", "body");
	}
	g_assert_cmpuint(stored_task_count(f), ==, 0);
	g_assert_cmpuint(stored_sample_count(f), ==, 0);
}

static void
test_submit_too_large(Fixture *f, gconstpointer data)
{
	g_autofree char *big = g_malloc(MAX_BODY * 4);
	g_autoptr(GBytes) bytes = NULL;

	memset(big, 'A', MAX_BODY * 4);
	bytes = g_bytes_new_take(g_steal_pointer(&big), MAX_BODY * 4);
	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg = soup_message_new("POST", "http://localhost/api/v1/tasks");

		/* Content-Length says it all: refused from the headers. */
		soup_message_set_request_body_from_bytes(msg, "application/octet-stream", bytes);
		exchange(f->session, msg, &reply);
		assert_error(&reply, 413, "too_large", "body");
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autoptr(SoupMessage) msg = soup_message_new("POST", "http://localhost/api/v1/tasks");
		g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_bytes(bytes);

		/* Chunked: no length up front, counted as it arrives. */
		soup_message_set_request_body(msg, "application/json", stream, -1);
		exchange(f->session, msg, &reply);
		assert_error(&reply, 413, "too_large", "body");
	}
	{
		g_auto(Reply) reply = { 0 };

		/* The limit is on bytes, not on the connection: a normal request still works. */
		request(f, "GET", "/api/v1/health", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
	}
	g_assert_cmpuint(stored_task_count(f), ==, 0);
	g_assert_cmpuint(stored_sample_count(f), ==, 0);
}

static void
disable_all(Fixture *f)
{
	const char *names[] = { "win10", "deb" };

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_auto(Reply) reply = { 0 };
		g_autofree char *path = g_strdup_printf("/api/v1/machines/%s/disable", names[i]);

		request(f, "POST", path, NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
	}
}

static void
test_list_get_cancel(Fixture *f, gconstpointer data)
{
	gint64 first, second;
	JsonArray *tasks;

	/* No free machine: the tasks stay queued for as long as the test needs. */
	disable_all(f);
	first = submit_json(f, "{\"platform\": \"linux\"}");
	second = submit_json(f, "{\"platform\": \"windows\", \"priority\": 3}");
	{
		g_auto(Reply) reply = { 0 };

		request(f, "GET", "/api/v1/tasks", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		tasks = json_object_get_array_member(object_of(&reply), "tasks");
		g_assert_cmpuint(json_array_get_length(tasks), ==, 2);
		/* Newest first. */
		g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(tasks, 0),
							   "id"), ==, second);
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "GET", "/api/v1/tasks?limit=1", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		tasks = json_object_get_array_member(object_of(&reply), "tasks");
		g_assert_cmpuint(json_array_get_length(tasks), ==, 1);
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autofree char *path = g_strdup_printf("/api/v1/tasks?before=%" G_GINT64_FORMAT,
							second);

		request(f, "GET", path, NULL, NULL, &reply);
		tasks = json_object_get_array_member(object_of(&reply), "tasks");
		g_assert_cmpuint(json_array_get_length(tasks), ==, 1);
		g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(tasks, 0),
							   "id"), ==, first);
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autofree char *path = g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT, first);
		JsonArray *events;

		request(f, "GET", path, NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "state"), ==,
				"queued");
		events = json_object_get_array_member(object_of(&reply), "events");
		g_assert_cmpuint(json_array_get_length(events), >=, 1);
		g_assert_cmpstr(json_object_get_string_member(
					json_array_get_object_element(events, 0), "kind"),
				==, "task.submitted");
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autofree char *path =
			g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT "/cancel", first);

		request(f, "POST", path, NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "state"), ==,
				"cancelled");
	}
	{
		g_auto(Reply) reply = { 0 };
		g_autofree char *path =
			g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT "/cancel", first);

		request(f, "POST", path, NULL, NULL, &reply);
		assert_error(&reply, 409, "conflict", NULL);
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "GET", "/api/v1/tasks?state=cancelled", NULL, NULL, &reply);
		tasks = json_object_get_array_member(object_of(&reply), "tasks");
		g_assert_cmpuint(json_array_get_length(tasks), ==, 1);
		g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(tasks, 0),
							   "id"), ==, first);
	}
}

static void
test_bad_ids_and_queries(Fixture *f, gconstpointer data)
{
	static const struct {
		const char *method;
		const char *path;
		guint status;
		const char *code;
		const char *field;
	} cases[] = {
		{ "GET", "/api/v1/tasks/abc", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks/0", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks/-1", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks/1x", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks/99999999999999999999", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks/999", 404, "not_found", "id" },
		{ "POST", "/api/v1/tasks/999/cancel", 404, "not_found", "id" },
		{ "POST", "/api/v1/tasks/x/cancel", 400, "invalid", "id" },
		{ "GET", "/api/v1/tasks?state=bogus", 400, "invalid", "state" },
		{ "GET", "/api/v1/tasks?limit=0", 400, "invalid", "limit" },
		{ "GET", "/api/v1/tasks?limit=ten", 400, "invalid", "limit" },
		{ "GET", "/api/v1/tasks?before=x", 400, "invalid", "before" },
		{ "GET", "/api/v1/tasks?sort=asc", 400, "unknown_field", "sort" },
		{ "POST", "/api/v1/machines/nope/disable", 404, "not_found", "name" },
		{ "POST", "/api/v1/machines/nope/enable", 404, "not_found", "name" },
		{ "GET", "/api/v1/nothing", 404, "not_found", NULL },
		{ "GET", "/api/v2/health", 404, "not_found", NULL },
		/* "/" is the status page (api_page.c). */
		{ "GET", "/nowhere", 404, "not_found", NULL },
		{ "GET", "/api/v1/tasks/1/cancel/more", 404, "not_found", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(Reply) reply = { 0 };

		g_test_message("%s %s", cases[i].method, cases[i].path);
		request(f, cases[i].method, cases[i].path, NULL, NULL, &reply);
		assert_error(&reply, cases[i].status, cases[i].code, cases[i].field);
	}
	g_assert_cmpuint(stored_task_count(f), ==, 0);
}

static void
test_method_not_allowed(Fixture *f, gconstpointer data)
{
	static const struct {
		const char *method;
		const char *path;
		const char *allow;
	} cases[] = {
		{ "DELETE", "/api/v1/tasks", "GET, POST" },
		{ "PUT", "/api/v1/health", "GET" },
		{ "GET", "/api/v1/tasks/1/cancel", "POST" },
		{ "POST", "/api/v1/machines", "GET" },
		{ "GET", "/api/v1/machines/win10/disable", "POST" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(Reply) reply = { 0 };

		request(f, cases[i].method, cases[i].path, NULL, NULL, &reply);
		assert_error(&reply, 405, "method_not_allowed", NULL);
		g_assert_cmpstr(soup_message_headers_get_one(reply.headers, "Allow"), ==,
				cases[i].allow);
	}
}

static JsonObject *
find_by_name(JsonArray *array, const char *name)
{
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *object = json_array_get_object_element(array, i);

		if (g_strcmp0(json_object_get_string_member(object, "name"), name) == 0)
			return object;
	}
	g_error("no \"%s\" in the list", name);
}

static void
test_machines(Fixture *f, gconstpointer data)
{
	static const char *const fields[] = { "name",	  "machinery",	      "label",	  "ip",
					      "platform", "os_version",	      "architecture",
					      "tags",	  "state",	      "activity", "task_id",
					      "disabled", "disabled_reason", "failures" };
	JsonObject *machine;

	{
		g_auto(Reply) reply = { 0 };

		request(f, "GET", "/api/v1/machines", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		machine = find_by_name(json_object_get_array_member(object_of(&reply), "machines"),
				       "win10");
		for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
			g_assert_true(json_object_has_member(machine, fields[i]));
		g_assert_cmpstr(json_object_get_string_member(machine, "machinery"), ==, "fake");
		g_assert_cmpstr(json_object_get_string_member(machine, "label"), ==, "w10");
		g_assert_cmpstr(json_object_get_string_member(machine, "os_version"), ==, "win10");
		g_assert_true(json_object_get_null_member(machine, "disabled_reason"));
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/disable", "application/json",
			"{\"reason\": \"reimaging\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "disabled_reason"),
				==, "reimaging");
		g_assert_true(json_object_get_boolean_member(object_of(&reply), "disabled"));
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/deb/disable", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "disabled_reason"),
				==, "disabled by the operator");
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "GET", "/api/v1/health", NULL, NULL, &reply);
		g_assert_cmpint(json_object_get_int_member(
					json_object_get_object_member(object_of(&reply), "machines"),
					"disabled"),
				==, 2);
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/enable", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_true(json_object_get_null_member(object_of(&reply), "disabled_reason"));
		g_assert_false(json_object_get_boolean_member(object_of(&reply), "disabled"));
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/disable", "application/json",
			"{\"why\": \"x\"}", &reply);
		assert_error(&reply, 400, "unknown_field", "why");
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/disable", "application/json",
			"{\"reason\": 5}", &reply);
		assert_error(&reply, 400, "invalid", "reason");
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/enable", "application/json",
			"{\"reason\": \"x\"}", &reply);
		assert_error(&reply, 400, "unknown_field", "reason");
	}
	{
		g_auto(Reply) reply = { 0 };

		request(f, "POST", "/api/v1/machines/win10/disable", "application/json", "{oops",
			&reply);
		assert_error(&reply, 400, "malformed_json", "body");
	}
	{
		g_auto(Reply) reply = { 0 };

		/* The refusals above left win10 as it was: enabled. */
		request(f, "GET", "/api/v1/machines", NULL, NULL, &reply);
		machine = find_by_name(json_object_get_array_member(object_of(&reply), "machines"),
				       "win10");
		g_assert_true(json_object_get_null_member(machine, "disabled_reason"));
	}
}

static void
test_plugins(Fixture *f, gconstpointer data)
{
	g_auto(Reply) reply = { 0 };
	JsonArray *plugins;
	JsonObject *plugin;
	g_autofree char *abi = g_strdup_printf("%d.%d", NBX_ABI_MAJOR, NBX_ABI_MINOR);

	request(f, "GET", "/api/v1/plugins", NULL, NULL, &reply);
	g_assert_cmpuint(reply.status, ==, 200);
	plugins = json_object_get_array_member(object_of(&reply), "plugins");
	plugin = find_by_name(plugins, "fake");
	g_assert_cmpstr(json_object_get_string_member(plugin, "kind"), ==, "machinery");
	g_assert_cmpstr(json_object_get_string_member(plugin, "abi"), ==, abi);
	g_assert_true(json_object_get_boolean_member(plugin, "enabled"));
	g_assert_true(json_object_get_null_member(plugin, "order"));
	g_assert_true(g_str_has_suffix(json_object_get_string_member(plugin, "path"), "fake.so"));
	g_assert_true(json_object_has_member(plugin, "description"));
	g_assert_true(json_object_has_member(plugin, "version"));
	plugin = find_by_name(plugins, "aux-alpha");
	g_assert_cmpstr(json_object_get_string_member(plugin, "kind"), ==, "auxiliary");
	g_assert_cmpint(json_object_get_int_member(plugin, "order"), ==, 2);
	g_assert_true(json_object_get_boolean_member(plugin, "enabled"));
	plugin = find_by_name(plugins, "aux-beta");
	g_assert_false(json_object_get_boolean_member(plugin, "enabled"));
}

static void
test_socket_mode(Fixture *f, gconstpointer data)
{
	struct stat st;

	g_assert_cmpint(g_lstat(f->socket_path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 07777, ==, 0660);
}

/* A second API on the same path: refused while the first answers. */
static void
test_socket_in_use(Fixture *f, gconstpointer data)
{
	NbxControlApiOptions options = { .socket_path = f->socket_path, .max_body_bytes = 1024 };
	g_autoptr(GError) error = NULL;

	g_assert_null(nbx_control_api_new(f->scheduler, &options, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_assert_nonnull(strstr(error->message, "another nestboxd is listening on"));
	/* ... and the first one still has its socket. */
	test_socket_mode(f, data);
}

static void
test_socket_stale_and_wrong(Fixture *f, gconstpointer data)
{
	g_autofree char *stale = g_build_filename(f->dir, "stale.sock", NULL);
	g_autofree char *regular = g_build_filename(f->dir, "regular.sock", NULL);
	NbxControlApiOptions options = { .max_body_bytes = 1024 };
	g_autoptr(GError) error = NULL;
	NbxControlApi *api;

	{
		/* A socket file nobody listens on, as a killed daemon leaves it. */
		g_autoptr(GSocket) dead = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
						       0, NULL);
		g_autoptr(GSocketAddress) address = g_unix_socket_address_new(stale);

		g_assert_true(g_socket_bind(dead, address, FALSE, NULL));
	}
	options.socket_path = stale;
	api = nbx_control_api_new(f->scheduler, &options, &error);
	g_assert_no_error(error);
	nbx_control_api_free(api);
	g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));

	test_write(f->dir, "regular.sock", "not a socket");
	options.socket_path = regular;
	g_assert_null(nbx_control_api_new(f->scheduler, &options, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_assert_nonnull(strstr(error->message, "is not a socket"));
	g_assert_true(g_file_test(regular, G_FILE_TEST_IS_REGULAR));
	g_clear_error(&error);

	options.socket_path = stale;
	options.socket_group = "no-such-group-nestbox";
	g_assert_null(nbx_control_api_new(f->scheduler, &options, &error));
	g_assert_nonnull(strstr(error->message, "api.socket_group: no group named "
						"\"no-such-group-nestbox\""));
	g_clear_error(&error);

	options.socket_group = NULL;
	options.tcp_address = "127.0.0.1:0";
	options.token = "short";
	g_assert_null(nbx_control_api_new(f->scheduler, &options, &error));
	g_assert_nonnull(strstr(error->message, "api.token_file"));
	g_clear_error(&error);

	options.token = TEST_TOKEN;
	options.tcp_address = "localhost:8090";
	g_assert_null(nbx_control_api_new(f->scheduler, &options, &error));
	g_assert_nonnull(strstr(error->message, "api.tcp: expected ADDRESS:PORT"));
}

static void
tcp_request(Fixture *f, SoupSession *session, const char *authorization, const char *body,
	    Reply *reply)
{
	g_autofree char *url =
		g_strdup_printf("http://%s/api/v1/%s", f->tcp_address, body != NULL ? "tasks" : "health");
	g_autoptr(SoupMessage) msg = soup_message_new(body != NULL ? "POST" : "GET", url);

	if (authorization != NULL)
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
					     authorization);
	if (body != NULL) {
		g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

		soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
	}
	exchange(session, msg, reply);
}

static void
test_tcp_token(Fixture *f, gconstpointer data)
{
	/* No proxy: the test talks to its own loopback port (and libproxy trips ASan). */
	g_autoptr(SoupSession) session = soup_session_new_with_options("proxy-resolver", NULL, NULL);
	static const char *const refused[] = { NULL, "Bearer", "Bearer ", "Bearer wrong-token",
					       "Bearer " TEST_TOKEN "x", "Bearer 0123456789abcdef",
					       "Basic " TEST_TOKEN, TEST_TOKEN };

	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_auto(Reply) reply = { 0 };

		g_test_message("Authorization: %s", refused[i]);
		tcp_request(f, session, refused[i], NULL, &reply);
		assert_error(&reply, 401, "unauthorized", NULL);
		g_assert_nonnull(soup_message_headers_get_one(reply.headers, "WWW-Authenticate"));
	}
	{
		g_auto(Reply) reply = { 0 };

		/* A refused submission stores nothing. */
		tcp_request(f, session, "Bearer nope", "{\"platform\": \"linux\"}", &reply);
		assert_error(&reply, 401, "unauthorized", NULL);
		g_assert_cmpuint(stored_task_count(f), ==, 0);
	}
	{
		g_auto(Reply) reply = { 0 };

		tcp_request(f, session, "Bearer " TEST_TOKEN, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
		g_assert_cmpstr(json_object_get_string_member(object_of(&reply), "status"), ==,
				"ok");
	}
	{
		g_auto(Reply) reply = { 0 };

		tcp_request(f, session, "Bearer " TEST_TOKEN, "{\"platform\": \"linux\"}", &reply);
		g_assert_cmpuint(reply.status, ==, 201);
		g_assert_cmpuint(stored_task_count(f), ==, 1);
	}
	{
		g_auto(Reply) reply = { 0 };

		/* The UNIX socket needs no token, even with TCP on. */
		request(f, "GET", "/api/v1/health", NULL, NULL, &reply);
		g_assert_cmpuint(reply.status, ==, 200);
	}
}

int
main(int argc, char **argv)
{
	static const ApiFixtureConfig tcp_config = { .tcp = TRUE };

	g_test_init(&argc, &argv, NULL);
	/* The scheduler warns when a machine is disabled, as an operator should
	 * see; here that is the point of the test. Criticals stay fatal. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_nonnull(g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR"));

#define ADD(name, func) \
	g_test_add(name, Fixture, NULL, setup_fixture, func, teardown_fixture)
	ADD("/api/health", test_health);
	ADD("/api/submit/json", test_submit_json);
	ADD("/api/submit/unservable", test_submit_unservable);
	ADD("/api/submit/multipart", test_submit_multipart);
	ADD("/api/submit/bad-json", test_submit_bad_json);
	ADD("/api/submit/bad-multipart", test_submit_bad_multipart);
	ADD("/api/submit/too-large", test_submit_too_large);
	ADD("/api/tasks/list-get-cancel", test_list_get_cancel);
	ADD("/api/tasks/bad-ids-and-queries", test_bad_ids_and_queries);
	ADD("/api/routes/method-not-allowed", test_method_not_allowed);
	ADD("/api/machines", test_machines);
	ADD("/api/plugins", test_plugins);
	ADD("/api/socket/mode", test_socket_mode);
	ADD("/api/socket/in-use", test_socket_in_use);
	ADD("/api/socket/stale-and-wrong", test_socket_stale_and_wrong);
#undef ADD
	g_test_add("/api/tcp/token", Fixture, &tcp_config, setup_fixture, test_tcp_token,
		   teardown_fixture);
	return g_test_run();
}
