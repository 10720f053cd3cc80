/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_json.h"

#include <string.h>

#define NAME_MAX_BYTES 255

/*
 * One pass over the text, as a JSON lexer sees it (strings, escapes,
 * brackets): json-glib is only given a document that passed.
 */
typedef struct {
	const char *field;
	const char *data;
	gsize length;
	guint depth;
	gboolean in_string;
	/* At depth 1 of an object, the next string is a member's name. */
	gboolean expect_key;
	gboolean string_is_key;
	gsize string_start;
	/* The top-level member being read, for naming a "\u0000". */
	char *member;
} Scan;

static gboolean
scan_string_byte(Scan *scan, gsize *i, NbxApiProblem *problem)
{
	guchar c = (guchar)scan->data[*i];

	if (c == '\\') {
		if (*i + 1 >= scan->length)
			return TRUE; /* the parser says the document is cut short */
		if (scan->data[*i + 1] == 'u' && *i + 6 <= scan->length &&
		    memcmp(scan->data + *i + 2, "0000", 4) == 0) {
			const char *field = scan->member != NULL && !scan->string_is_key
						    ? scan->member
						    : scan->field;

			return nbx_api_problem_set(problem, 400, "invalid", field,
						   "%s: contains a NUL character (\\u0000)", field);
		}
		(*i)++;
		return TRUE;
	}
	if (c < 0x20)
		return nbx_api_problem_set(problem, 400, "malformed_json", scan->field,
					   "%s: not valid JSON: a raw control character (0x%02x) "
					   "in a string at byte %" G_GSIZE_FORMAT,
					   scan->field, c, *i);
	if (c != '"')
		return TRUE;
	scan->in_string = FALSE;
	if (scan->string_is_key) {
		g_free(scan->member);
		scan->member = g_strndup(scan->data + scan->string_start, *i - scan->string_start);
		scan->expect_key = FALSE;
	}
	return TRUE;
}

/* Only whitespace may follow the value that ends at @end. */
static gboolean
scan_trailing(Scan *scan, gsize end, NbxApiProblem *problem)
{
	for (gsize i = end; i < scan->length; i++) {
		if (!g_ascii_isspace(scan->data[i]))
			return nbx_api_problem_set(
				problem, 400, "malformed_json", scan->field,
				"%s: not valid JSON: more after the first value, "
				"at byte %" G_GSIZE_FORMAT " (send one object)",
				scan->field, i);
	}
	return TRUE;
}

static gboolean
scan_structure_byte(Scan *scan, gsize i, NbxApiProblem *problem)
{
	switch (scan->data[i]) {
	case '{':
	case '[':
		if (++scan->depth > NBX_API_JSON_MAX_DEPTH)
			return nbx_api_problem_set(problem, 400, "invalid", scan->field,
						   "%s: JSON nested deeper than %d levels",
						   scan->field, NBX_API_JSON_MAX_DEPTH);
		scan->expect_key = scan->depth == 1 && scan->data[i] == '{';
		return TRUE;
	case '}':
	case ']':
		if (scan->depth == 0)
			return TRUE; /* unbalanced: the parser says where */
		if (--scan->depth == 0)
			return scan_trailing(scan, i + 1, problem);
		return TRUE;
	case ',':
		if (scan->depth == 1 && scan->member != NULL)
			scan->expect_key = TRUE;
		return TRUE;
	case '"':
		scan->in_string = TRUE;
		scan->string_is_key = scan->depth == 1 && scan->expect_key;
		scan->string_start = i + 1;
		return TRUE;
	default:
		return TRUE;
	}
}

static gboolean
scan_document(Scan *scan, NbxApiProblem *problem)
{
	const char *bad = NULL;

	if (!g_utf8_validate_len(scan->data, scan->length, &bad))
		return nbx_api_problem_set(
			problem, 400, "malformed_json", scan->field,
			"%s: not valid JSON: %s at byte %" G_GSIZE_FORMAT, scan->field,
			*bad == '\0' ? "a NUL byte" : "invalid UTF-8", (gsize)(bad - scan->data));
	for (gsize i = 0; i < scan->length; i++) {
		gboolean ok = scan->in_string ? scan_string_byte(scan, &i, problem)
					      : scan_structure_byte(scan, i, problem);

		if (!ok)
			return FALSE;
	}
	return TRUE;
}

JsonObject *
nbx_api_json_parse_object(const char *field, const char *data, gsize length, NbxApiProblem *problem)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	Scan scan = { .field = field, .data = data, .length = length };
	gboolean scanned = scan_document(&scan, problem);
	JsonNode *root;

	g_free(scan.member);
	if (!scanned)
		return NULL;
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, data, (gssize)length, &error)) {
		nbx_api_problem_set(problem, 400, "malformed_json", field, "%s: not valid JSON: %s",
				    field, error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		nbx_api_problem_set(problem, 400, "invalid", field,
				    "%s: expected a JSON object, found %s", field,
				    root != NULL ? nbx_api_json_type_name(root) : "nothing");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

gboolean
nbx_api_json_is(JsonNode *node, GType type)
{
	return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

const char *
nbx_api_json_type_name(JsonNode *node)
{
	if (JSON_NODE_HOLDS_OBJECT(node))
		return "an object";
	if (JSON_NODE_HOLDS_ARRAY(node))
		return "an array";
	if (JSON_NODE_HOLDS_NULL(node))
		return "null";
	switch (json_node_get_value_type(node)) {
	case G_TYPE_INT64:
		return "an integer";
	case G_TYPE_DOUBLE:
		return "a number with a fraction";
	case G_TYPE_BOOLEAN:
		return "a boolean";
	case G_TYPE_STRING:
		return "a string";
	default:
		return "an unknown JSON value";
	}
}

gboolean
nbx_api_json_wrong_type(const char *field, const char *expected, JsonNode *node,
			NbxApiProblem *problem)
{
	return nbx_api_problem_set(problem, 400, "invalid", field, "%s: expected %s, found %s",
				   field, expected, nbx_api_json_type_name(node));
}

gboolean
nbx_api_has_control_character(const char *text)
{
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return TRUE;
	}
	return FALSE;
}

gboolean
nbx_api_check_text(const char *field, const char *text, NbxApiProblem *problem)
{
	if (nbx_api_has_control_character(text))
		return nbx_api_problem_set(problem, 400, "invalid", field,
					   "%s: contains a control character", field);
	return TRUE;
}

gboolean
nbx_api_check_name(const char *field, const char *name, NbxApiProblem *problem)
{
	if (*name == '\0')
		return nbx_api_problem_set(problem, 400, "invalid", field, "%s: must not be empty",
					   field);
	if (strlen(name) > NAME_MAX_BYTES)
		return nbx_api_problem_set(problem, 400, "invalid", field,
					   "%s: is longer than %d bytes", field, NAME_MAX_BYTES);
	if (!g_utf8_validate(name, -1, NULL))
		return nbx_api_problem_set(problem, 400, "invalid", field, "%s: is not valid UTF-8",
					   field);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/') != NULL ||
	    strchr(name, '\\') != NULL)
		return nbx_api_problem_set(problem, 400, "invalid", field,
					   "%s: must be a plain name, without '/', '\\' or \"..\": "
					   "\"%s\"",
					   field, name);
	return nbx_api_check_text(field, name, problem);
}

void
nbx_api_json_set_nullable_string(JsonObject *object, const char *name, const char *value)
{
	if (value != NULL)
		json_object_set_string_member(object, name, value);
	else
		json_object_set_null_member(object, name);
}
