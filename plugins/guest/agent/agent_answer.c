/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_answer.h"

#include <string.h>

/* Characters of the agent's words kept in a message. */
#define MESSAGE_CHARS 300

/* Past the string whose opening quote precedes @p; NULL when it never ends. */
static const char *
skip_string(const char *p, const char *end)
{
	while (p < end) {
		if (*p == '\\')
			p += 2;
		else if (*p++ == '"')
			return p;
	}
	return NULL;
}

/* Whether @text nests at most @max_depth arrays and objects deep. */
static gboolean
depth_within(const char *text, gsize length, guint max_depth)
{
	const char *p = text, *end = text + length;
	guint depth = 0;

	while (p != NULL && p < end) {
		switch (*p++) {
		case '"':
			p = skip_string(p, end);
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return FALSE;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return TRUE;
}

JsonObject *
agent_answer_parse(GBytes *body, char **problem)
{
	gsize length = 0;
	const char *text = g_bytes_get_data(body, &length);
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	if (length == 0) {
		*problem = g_strdup("an empty answer");
		return NULL;
	}
	if (!depth_within(text, length, AGENT_ANSWER_MAX_DEPTH)) {
		*problem = g_strdup_printf("JSON nested more than %d levels deep",
					   AGENT_ANSWER_MAX_DEPTH);
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, (gssize)length, &error)) {
		g_autofree char *start = agent_text_printable(text, (gssize)length, 60);

		*problem = g_strdup_printf("not JSON (%s): %s", error->message, start);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		*problem = g_strdup("JSON that is not an object");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

const char *
agent_answer_string(JsonObject *answer, const char *key)
{
	JsonNode *node = json_object_get_member(answer, key);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

gboolean
agent_answer_integer(JsonObject *answer, const char *key, gint64 *value)
{
	JsonNode *node = json_object_get_member(answer, key);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

gboolean
agent_answer_boolean(JsonObject *answer, const char *key, gboolean fallback)
{
	JsonNode *node = json_object_get_member(answer, key);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_BOOLEAN)
		return fallback;
	return json_node_get_boolean(node);
}

static void
append_char(GString *out, gunichar c)
{
	if (c == '\n')
		g_string_append(out, "\\n");
	else if (c == '\t')
		g_string_append(out, "\\t");
	else if (g_unichar_iscntrl(c) || !g_unichar_validate(c))
		g_string_append_printf(out, "\\u%04x", c);
	else
		g_string_append_unichar(out, c);
}

char *
agent_text_printable(const char *text, gssize length, gsize max_chars)
{
	const char *p = text;
	const char *end = text + (length < 0 ? (gssize)strlen(text) : length);
	GString *out = g_string_new(NULL);
	gsize chars = 0;

	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);

		if (chars++ == max_chars) {
			g_string_append(out, "...");
			break;
		}
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_printf(out, "\\x%02x", (guchar)*p++);
			continue;
		}
		append_char(out, c);
		p = g_utf8_next_char(p);
	}
	return g_string_free(out, FALSE);
}

char *
agent_answer_message(JsonObject *answer)
{
	const char *message = answer != NULL ? agent_answer_string(answer, "message") : NULL;

	return message != NULL ? agent_text_printable(message, -1, MESSAGE_CHARS) : NULL;
}
