/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json_bounds.h"

#include <string.h>

G_DEFINE_QUARK(nbx-json-bounds-error-quark, nbx_json_bounds_error)

/* Past the string that starts at @p (after its opening quote); NULL when it never ends. */
static const char *
skip_string(const char *p, const char *end)
{
	while (p < end) {
		if (*p == '\\')
			p += 2;
		else if (*p == '"')
			return p + 1;
		else
			p++;
	}
	return NULL;
}

gboolean
nbx_json_check_bounds(const char *text, gssize length, gsize max_bytes, guint max_depth,
		      GError **error)
{
	gsize size = length < 0 ? strlen(text) : (gsize)length;
	const char *p = text, *end = text + size;
	guint depth = 0;

	if (size > max_bytes) {
		g_set_error(error, NBX_JSON_BOUNDS_ERROR, NBX_JSON_BOUNDS_ERROR_TOO_LARGE,
			    "the JSON document is %" G_GSIZE_FORMAT " bytes, more than the %" G_GSIZE_FORMAT
			    " allowed",
			    size, max_bytes);
		return FALSE;
	}
	while (p < end) {
		switch (*p) {
		case '"':
			p = skip_string(p + 1, end);
			if (p == NULL)
				return TRUE; /* unterminated: the parser says so */
			continue;
		case '[':
		case '{':
			if (++depth > max_depth) {
				g_set_error(error, NBX_JSON_BOUNDS_ERROR,
					    NBX_JSON_BOUNDS_ERROR_TOO_DEEP,
					    "the JSON document nests more than %u levels deep",
					    max_depth);
				return FALSE;
			}
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		p++;
	}
	return TRUE;
}

JsonNode *
nbx_json_parse_bounded(const char *text, gssize length, gsize max_bytes, guint max_depth,
		       GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) parse_error = NULL;
	JsonNode *root;

	if (!nbx_json_check_bounds(text, length, max_bytes, max_depth, error))
		return NULL;
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, length, &parse_error)) {
		g_set_error(error, NBX_JSON_BOUNDS_ERROR, NBX_JSON_BOUNDS_ERROR_SYNTAX,
			    "not valid JSON: %s", parse_error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL) {
		g_set_error(error, NBX_JSON_BOUNDS_ERROR, NBX_JSON_BOUNDS_ERROR_SYNTAX,
			    "not valid JSON: the document is empty");
		return NULL;
	}
	return json_node_copy(root);
}
