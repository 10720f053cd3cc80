/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The archive's two JSON entries, the header and the manifest: read whole, parsed, typed. */
#include <string.h>

#include "archive_import.h"
#include "json_bounds.h"

static gboolean
copy_block(NbxArchiveImport *im, const void *block, gsize length, gpointer data, GError **error)
{
	memcpy((char *)data + im->entry_done, block, length);
	return TRUE;
}

char *
nbx_archive_import_json_entry(NbxArchiveImport *im, struct archive_entry *entry,
			      const char *name, NbxSnapshotArchiveError bad, gsize *length,
			      GError **error)
{
	g_autofree char *data = NULL;
	gint64 size = archive_entry_size(entry);

	if (!nbx_archive_entry_is_plain_file(entry) || size < 0 ||
	    size > NBX_ARCHIVE_JSON_ENTRY_MAX) {
		nbx_archive_import_error(im, bad, error,
					 "%s is not a regular file of at most %d bytes", name,
					 NBX_ARCHIVE_JSON_ENTRY_MAX);
		return NULL;
	}
	data = g_malloc(size + 1);
	if (!nbx_archive_import_data(im, name, size, bad, copy_block, data, error))
		return NULL;
	data[size] = '\0';
	*length = size;
	nbx_archive_import_entry_done(im, name);
	return g_steal_pointer(&data);
}

JsonObject *
nbx_archive_import_parse_object(NbxArchiveImport *im, const char *name, const char *data,
				gsize length, JsonParser *parser, GError **error)
{
	g_autoptr(GError) json_error = NULL;
	JsonNode *root;

	if (!nbx_json_check_bounds(data, length, NBX_ARCHIVE_JSON_ENTRY_MAX,
				   NBX_ARCHIVE_JSON_DEPTH_MAX, &json_error)) {
		nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error, "%s: %s", name,
					 json_error->message);
		return NULL;
	}
	if (!json_parser_load_from_data(parser, data, length, &json_error)) {
		nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					 "%s: not valid JSON: %s", name, json_error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		nbx_archive_import_error(im, NBX_SNAPSHOT_ARCHIVE_ERROR_FORMAT, error,
					 "%s: not a JSON object", name);
		return NULL;
	}
	return json_node_get_object(root);
}

const char *
nbx_archive_json_string(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

gboolean
nbx_archive_json_int(JsonObject *object, const char *name, gint64 *value)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

JsonArray *
nbx_archive_json_array(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

JsonObject *
nbx_archive_json_array_object(JsonArray *array, guint index)
{
	JsonNode *node = json_array_get_element(array, index);

	return JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}
