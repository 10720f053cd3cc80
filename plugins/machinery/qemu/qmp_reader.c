/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qmp_reader.h"

#include <string.h>

void
qmp_reader_init(QmpReader *reader, size_t max_line)
{
	reader->line = g_string_new(NULL);
	reader->max_line = max_line;
	reader->discarding = false;
	reader->rejected = 0;
}

void
qmp_reader_clear(QmpReader *reader)
{
	if (reader->line != NULL)
		g_string_free(reader->line, TRUE);
	reader->line = NULL;
}

/*
 * json-glib's parser recurses once per level of nesting, so a line of a few
 * megabytes of '[' overflows the stack of the process reading it. QEMU's
 * own JSON parser stops at the same depth.
 */
static bool
nesting_within(const char *text, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_string = false, escaped = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

static void
parse_line(QmpReader *reader, QmpMessageFn fn, void *user_data)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonNode *root;
	const char *text = reader->line->str;
	size_t len = reader->line->len;

	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	/* json-glib stops at a NUL; such a line, or one that is not UTF-8, is garbage. */
	if (memchr(text, '\0', len) != NULL || !g_utf8_validate_len(text, len, NULL) ||
	    !nesting_within(text, len, QMP_MAX_DEPTH)) {
		reader->rejected++;
		return;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, (gssize)len, NULL)) {
		reader->rejected++;
		return;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		reader->rejected++;
		return;
	}
	fn(user_data, json_node_get_object(root));
}

void
qmp_reader_feed(QmpReader *reader, const char *data, size_t len, QmpMessageFn fn,
		void *user_data)
{
	while (len > 0) {
		const char *newline = memchr(data, '\n', len);
		size_t chunk = newline != NULL ? (size_t)(newline - data) : len;

		if (!reader->discarding) {
			if (reader->line->len + chunk > reader->max_line) {
				/* Counted once, however many reads the rest of it takes. */
				reader->discarding = true;
				reader->rejected++;
				g_string_truncate(reader->line, 0);
			} else {
				g_string_append_len(reader->line, data, (gssize)chunk);
			}
		}
		if (newline == NULL)
			return;
		if (!reader->discarding)
			parse_line(reader, fn, user_data);
		reader->discarding = false;
		g_string_truncate(reader->line, 0);
		data = newline + 1;
		len -= chunk + 1;
	}
}
