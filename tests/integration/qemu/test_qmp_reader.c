/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP reader of the qemu machinery against what a socket may deliver:
 * messages split at every byte, garbage, NULs, overlong lines, events
 * between replies. It must hand over exactly the well-formed objects.
 */
#include <glib.h>
#include <string.h>

#include "qmp_reader.h"

static void
collect(void *user_data, JsonObject *message)
{
	GPtrArray *seen = user_data;
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	json_node_set_object(node, message);
	g_ptr_array_add(seen, json_to_string(node, FALSE));
}

static void
test_split_everywhere(void)
{
	static const char stream[] = "{\"QMP\": {}}\r\n{\"event\": \"STOP\"}\r\n"
				     "{\"return\": {}, \"id\": 1}\r\n";
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	QmpReader reader;

	qmp_reader_init(&reader, 1024);
	/* One byte at a time: the worst split a socket can produce. */
	for (size_t i = 0; i < sizeof stream - 1; i++)
		qmp_reader_feed(&reader, stream + i, 1, collect, seen);
	g_assert_cmpuint(seen->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(seen, 0), ==, "{\"QMP\":{}}");
	g_assert_cmpstr(g_ptr_array_index(seen, 1), ==, "{\"event\":\"STOP\"}");
	g_assert_cmpstr(g_ptr_array_index(seen, 2), ==, "{\"return\":{},\"id\":1}");
	g_assert_cmpuint(reader.rejected, ==, 0);
	qmp_reader_clear(&reader);
}

static void
test_garbage(void)
{
	static const char stream[] = "not json\n[1,2]\n\"str\"\n{\"a\":\n\r\n\n"
				     "{\"ok\":1}\n{\"x\":1}\0{\"y\":2}\n\xff\xfe{}\n{\"ok\":2}\n";
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	QmpReader reader;

	qmp_reader_init(&reader, 1024);
	qmp_reader_feed(&reader, stream, sizeof stream - 1, collect, seen);
	g_assert_cmpuint(seen->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(seen, 0), ==, "{\"ok\":1}");
	g_assert_cmpstr(g_ptr_array_index(seen, 1), ==, "{\"ok\":2}");
	/* not json, array, string, truncated object, NUL line, invalid UTF-8 */
	g_assert_cmpuint(reader.rejected, ==, 6);
	qmp_reader_clear(&reader);
}

static void
test_overlong_line(void)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *huge = g_strnfill(100000, 'x');
	QmpReader reader;

	qmp_reader_init(&reader, 4096);
	qmp_reader_feed(&reader, "{\"big\":\"", 8, collect, seen);
	/* Fed in pieces, so the cap is hit across reads, and memory stays bounded. */
	for (int i = 0; i < 10; i++) {
		qmp_reader_feed(&reader, huge, 10000, collect, seen);
		g_assert_cmpuint(reader.line->len, <=, 4096);
	}
	qmp_reader_feed(&reader, "\"}\n{\"after\":true}\n", 18, collect, seen);
	g_assert_cmpuint(seen->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(seen, 0), ==, "{\"after\":true}");
	g_assert_cmpuint(reader.rejected, ==, 1);
	qmp_reader_clear(&reader);
}

static void
test_random_bytes(void)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GRand) rand = g_rand_new_with_seed(1234);
	char buf[4096];
	QmpReader reader;

	qmp_reader_init(&reader, 512);
	for (int round = 0; round < 2000; round++) {
		size_t len = g_rand_int_range(rand, 1, sizeof buf);

		for (size_t i = 0; i < len; i++)
			buf[i] = (char)g_rand_int_range(rand, 0, 256);
		qmp_reader_feed(&reader, buf, len, collect, seen);
		g_assert_cmpuint(reader.line->len, <=, 512);
	}
	/* After any noise, a clean line still gets through. */
	qmp_reader_feed(&reader, "\n{\"id\":7}\n", 10, collect, seen);
	g_assert_cmpstr(g_ptr_array_index(seen, seen->len - 1), ==, "{\"id\":7}");
	qmp_reader_clear(&reader);
}

/* A line of a few MB of '[' would overflow json-glib's recursive parser: it is dropped unparsed. */
static void
test_deep_nesting(void)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) line = g_string_new(NULL);
	QmpReader reader;

	qmp_reader_init(&reader, 64u * 1024 * 1024);
	for (guint depth = QMP_MAX_DEPTH; depth <= QMP_MAX_DEPTH + 1; depth++) {
		g_string_assign(line, "{\"a\":");
		for (guint i = 1; i < depth; i++)
			g_string_append_c(line, '[');
		for (guint i = 1; i < depth; i++)
			g_string_append_c(line, ']');
		/* Brackets inside a string do not count. */
		g_string_append(line, ",\"s\":\"[[[[\\\"[[[\"}\n");
		qmp_reader_feed(&reader, line->str, line->len, collect, seen);
	}
	g_assert_cmpuint(seen->len, ==, 1);
	g_assert_cmpuint(reader.rejected, ==, 1);
	/* Deep enough to crash the parser, if it got there. */
	g_string_truncate(line, 0);
	for (guint i = 0; i < 8u * 1024 * 1024; i++)
		g_string_append_c(line, '[');
	g_string_append_c(line, '\n');
	qmp_reader_feed(&reader, line->str, line->len, collect, seen);
	g_assert_cmpuint(reader.rejected, ==, 2);
	qmp_reader_clear(&reader);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qemu/qmp-reader/split-everywhere", test_split_everywhere);
	g_test_add_func("/qemu/qmp-reader/garbage", test_garbage);
	g_test_add_func("/qemu/qmp-reader/overlong-line", test_overlong_line);
	g_test_add_func("/qemu/qmp-reader/random-bytes", test_random_bytes);
	g_test_add_func("/qemu/qmp-reader/deep-nesting", test_deep_nesting);
	return g_test_run();
}
