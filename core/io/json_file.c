/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json_file.h"

char *
nbx_json_to_text(JsonNode *node, gsize *length)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();

	json_generator_set_pretty(generator, TRUE);
	json_generator_set_root(generator, node);
	return json_generator_to_data(generator, length);
}

gboolean
nbx_json_write_object_file(const char *path, JsonObject *object, GError **error)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;

	json_node_set_object(node, object);
	text = nbx_json_to_text(node, NULL);
	return g_file_set_contents_full(path, text, -1,
					G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
					0640, error);
}

JsonObject *
nbx_json_read_object_file(const char *path)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;

	if (!json_parser_load_from_file(parser, path, NULL))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	return json_object_ref(json_node_get_object(root));
}
