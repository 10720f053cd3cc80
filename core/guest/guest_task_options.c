/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_task_options.h"

char *
nbx_guest_task_merge(const char *options_json, JsonObject *run)
{
	g_autoptr(JsonNode) root = options_json != NULL ? json_from_string(options_json, NULL) : NULL;
	JsonObject *object;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_clear_pointer(&root, json_node_unref);
		root = json_node_init_object(json_node_alloc(), json_object_new());
	}
	object = json_node_get_object(root);
	json_object_set_object_member(object, NBX_GUEST_RUN_OPTIONS, json_object_ref(run));
	return json_to_string(root, FALSE);
}

static char **
string_array(JsonObject *run, const char *name)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	JsonNode *node = json_object_get_member(run, name);

	if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);

		for (guint i = 0; i < json_array_get_length(array); i++) {
			const char *text = json_array_get_string_element(array, i);

			if (text != NULL)
				g_strv_builder_add(builder, text);
		}
	}
	return g_strv_builder_end(builder);
}

NbxGuestTaskOptions *
nbx_guest_task_options_read(const char *options_json)
{
	NbxGuestTaskOptions *options = g_new0(NbxGuestTaskOptions, 1);
	g_autoptr(JsonNode) root = options_json != NULL ? json_from_string(options_json, NULL) : NULL;
	JsonNode *member = NULL;
	JsonObject *run;

	if (root != NULL && JSON_NODE_HOLDS_OBJECT(root))
		member = json_object_get_member(json_node_get_object(root), NBX_GUEST_RUN_OPTIONS);
	if (member == NULL || !JSON_NODE_HOLDS_OBJECT(member)) {
		options->arguments = g_new0(char *, 1);
		options->files = g_new0(char *, 1);
		return options;
	}
	run = json_node_get_object(member);
	options->package = g_strdup(json_object_get_string_member_with_default(run, "package", NULL));
	options->command = g_strdup(json_object_get_string_member_with_default(run, "command", NULL));
	options->until_exit = json_object_get_boolean_member_with_default(run, "until_exit", FALSE);
	options->arguments = string_array(run, "arguments");
	options->files = string_array(run, "files");
	return options;
}

void
nbx_guest_task_options_free(NbxGuestTaskOptions *options)
{
	if (options == NULL)
		return;
	g_free(options->package);
	g_free(options->command);
	g_strfreev(options->arguments);
	g_strfreev(options->files);
	g_free(options);
}
