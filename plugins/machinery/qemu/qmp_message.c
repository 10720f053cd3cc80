/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qmp_message.h"

#include <string.h>

/*
 * json-glib's *_member_with_default accessors return NULL for a JSON null
 * and warn (g_return_val_if_fail) for an object or array: neither may
 * reach code that trusts the peer's types.
 */
static JsonNode *
value_member(JsonObject *object, const char *name, GType type)
{
	JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != type)
		return NULL;
	return node;
}

const char *
qmp_string_member(JsonObject *object, const char *name)
{
	JsonNode *node = value_member(object, name, G_TYPE_STRING);

	return node != NULL ? json_node_get_string(node) : NULL;
}

bool
qmp_boolean_member(JsonObject *object, const char *name, bool fallback)
{
	JsonNode *node = value_member(object, name, G_TYPE_BOOLEAN);

	return node != NULL ? json_node_get_boolean(node) : fallback;
}

static JsonObject *
object_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

void
qmp_message_classify(JsonObject *object, QmpMessage *message)
{
	JsonNode *id;

	memset(message, 0, sizeof *message);
	if (json_object_has_member(object, "QMP")) {
		message->kind = QMP_MESSAGE_GREETING;
		return;
	}
	message->event = qmp_string_member(object, "event");
	if (message->event != NULL) {
		message->kind = QMP_MESSAGE_EVENT;
		message->data = object_member(object, "data");
		return;
	}
	id = value_member(object, "id", G_TYPE_INT64);
	if (id == NULL || json_node_get_int(id) < 0)
		return;
	if (json_object_has_member(object, "error")) {
		const char *desc = qmp_string_member(object_member(object, "error"), "desc");

		message->is_error = true;
		message->error_desc = desc != NULL ? desc : "?";
	} else if (!json_object_has_member(object, "return")) {
		/* Neither return nor error: not a reply QMP knows. */
		return;
	}
	message->kind = QMP_MESSAGE_REPLY;
	message->id = (uint64_t)json_node_get_int(id);
	message->result = json_object_get_member(object, "return");
}
