/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_task_fields.h"

#include <string.h>

#include "api_json.h"
#include "api_task_guest_fields.h"
#include "guest_task_options.h"

#define TAGS_MAX 64

typedef enum {
	FIELD_INTEGER,
	FIELD_STRING,
	FIELD_LOWER_STRING,
	FIELD_NAME,
	FIELD_BOOLEAN,
	FIELD_TAGS,
	FIELD_OPTIONS,
} FieldKind;

typedef struct {
	const char *name;
	FieldKind kind;
	gsize offset;
} TaskField;

static const TaskField task_fields[] = {
	{ "priority", FIELD_INTEGER, G_STRUCT_OFFSET(NbxTask, priority) },
	{ "machine", FIELD_NAME, G_STRUCT_OFFSET(NbxTask, machine) },
	{ "platform", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, platform) },
	{ "os_version", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, os_version) },
	{ "architecture", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, architecture) },
	{ "tags", FIELD_TAGS, G_STRUCT_OFFSET(NbxTask, tags) },
	{ "duration", FIELD_INTEGER, G_STRUCT_OFFSET(NbxTask, duration_s) },
	{ "memory_dump", FIELD_BOOLEAN, G_STRUCT_OFFSET(NbxTask, memory_dump) },
	{ "debug", FIELD_BOOLEAN, G_STRUCT_OFFSET(NbxTask, debug) },
	{ "options", FIELD_OPTIONS, G_STRUCT_OFFSET(NbxTask, options_json) },
	{ "file_name", FIELD_NAME, G_STRUCT_OFFSET(NbxTask, target_name) },
};

static const TaskField *
task_field_lookup(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(task_fields); i++) {
		if (strcmp(task_fields[i].name, name) == 0)
			return &task_fields[i];
	}
	return NULL;
}

static char *
known_task_fields(void)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(task_fields); i++)
		g_string_append_printf(names, "%s%s", i > 0 ? ", " : "", task_fields[i].name);
	g_string_append(names, ", package, command, arguments, until_exit, files");
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
read_tags(JsonNode *node, char ***out, NbxApiProblem *problem)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	JsonArray *array;

	if (!JSON_NODE_HOLDS_ARRAY(node))
		return nbx_api_json_wrong_type("tags", "an array of strings", node, problem);
	array = json_node_get_array(node);
	if (json_array_get_length(array) > TAGS_MAX)
		return nbx_api_problem_set(problem, 400, "invalid", "tags",
					   "tags: more than %d tags", TAGS_MAX);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);
		g_autofree char *field = g_strdup_printf("tags[%u]", i);
		g_autofree char *lower = NULL;
		const char *tag;

		if (!nbx_api_json_is(element, G_TYPE_STRING))
			return nbx_api_json_wrong_type(field, "a string", element, problem);
		tag = json_node_get_string(element);
		if (*tag == '\0' || strchr(tag, ',') != NULL)
			return nbx_api_problem_set(problem, 400, "invalid", field,
						   "%s: a tag must be non-empty and without ','",
						   field);
		if (!nbx_api_check_text(field, tag, problem))
			return FALSE;
		lower = g_utf8_strdown(tag, -1);
		g_strv_builder_add(builder, lower);
	}
	g_strfreev(*out);
	*out = g_strv_builder_end(builder);
	return TRUE;
}

static gboolean
read_option_group(const char *aux, JsonNode *group, NbxApiProblem *problem)
{
	g_autofree char *group_field = g_strdup_printf("options.%s", aux);
	JsonObjectIter inner;
	const char *key;
	JsonNode *value;

	if (!JSON_NODE_HOLDS_OBJECT(group))
		return nbx_api_json_wrong_type(group_field, "an object of strings", group, problem);
	json_object_iter_init(&inner, json_node_get_object(group));
	while (json_object_iter_next(&inner, &key, &value)) {
		g_autofree char *field = g_strdup_printf("options.%s.%s", aux, key);

		if (*key == '\0' || nbx_api_has_control_character(key))
			return nbx_api_problem_set(problem, 400, "invalid", group_field,
						   "%s: an option's name must be non-empty and "
						   "printable",
						   group_field);
		if (!nbx_api_json_is(value, G_TYPE_STRING))
			return nbx_api_json_wrong_type(field, "a string", value, problem);
	}
	return TRUE;
}

/* {"AUXILIARY": {"KEY": "VALUE"}}; the scheduler checks the auxiliary names. */
static gboolean
read_options(JsonNode *node, char **out, NbxApiProblem *problem)
{
	JsonObjectIter outer;
	const char *aux;
	JsonNode *group;

	if (!JSON_NODE_HOLDS_OBJECT(node))
		return nbx_api_json_wrong_type("options", "an object of objects of strings", node,
					       problem);
	json_object_iter_init(&outer, json_node_get_object(node));
	while (json_object_iter_next(&outer, &aux, &group)) {
		if (*aux == '\0' || nbx_api_has_control_character(aux))
			return nbx_api_problem_set(problem, 400, "invalid", "options",
						   "options: an auxiliary's name must be non-empty "
						   "and printable");
		if (strcmp(aux, NBX_GUEST_RUN_OPTIONS) == 0)
			return nbx_api_problem_set(problem, 400, "invalid", "options.run",
						   "options.run: reserved; give package, command, "
						   "arguments, until_exit and files as fields of "
						   "the task");
		if (!read_option_group(aux, group, problem))
			return FALSE;
	}
	g_free(*out);
	*out = json_to_string(node, FALSE);
	return TRUE;
}

static gboolean
read_string_field(const TaskField *spec, JsonNode *node, char **slot, NbxApiProblem *problem)
{
	const char *text;

	if (!nbx_api_json_is(node, G_TYPE_STRING))
		return nbx_api_json_wrong_type(spec->name, "a string", node, problem);
	text = json_node_get_string(node);
	if (spec->kind == FIELD_NAME ? !nbx_api_check_name(spec->name, text, problem)
				     : !nbx_api_check_text(spec->name, text, problem))
		return FALSE;
	g_free(*slot);
	*slot = spec->kind == FIELD_LOWER_STRING ? g_utf8_strdown(text, -1) : g_strdup(text);
	return TRUE;
}

static gboolean
read_task_field(const TaskField *spec, JsonNode *node, NbxTask *request, NbxApiProblem *problem)
{
	gpointer slot = G_STRUCT_MEMBER_P(request, spec->offset);

	switch (spec->kind) {
	case FIELD_INTEGER:
		if (!nbx_api_json_is(node, G_TYPE_INT64))
			return nbx_api_json_wrong_type(spec->name, "an integer", node, problem);
		*(gint64 *)slot = json_node_get_int(node);
		return TRUE;
	case FIELD_BOOLEAN:
		if (!nbx_api_json_is(node, G_TYPE_BOOLEAN))
			return nbx_api_json_wrong_type(spec->name, "a boolean", node, problem);
		*(gboolean *)slot = json_node_get_boolean(node);
		return TRUE;
	case FIELD_STRING:
	case FIELD_LOWER_STRING:
	case FIELD_NAME:
		return read_string_field(spec, node, (char **)slot, problem);
	case FIELD_TAGS:
		return read_tags(node, (char ***)slot, problem);
	case FIELD_OPTIONS:
		return read_options(node, (char **)slot, problem);
	}
	g_assert_not_reached();
}

gboolean
nbx_api_read_task_object(JsonObject *object, NbxTask *request, NbxApiProblem *problem)
{
	g_autoptr(JsonObject) run = json_object_new();
	JsonObjectIter iter;
	const char *name;
	JsonNode *node;

	json_object_iter_init(&iter, object);
	while (json_object_iter_next(&iter, &name, &node)) {
		const TaskField *spec = task_field_lookup(name);
		gboolean guest_field = FALSE;

		/* What the guest runs: kept in the options, see guest_task_options.h. */
		if (!nbx_api_task_guest_field_read(name, node, run, &guest_field, problem))
			return FALSE;
		if (guest_field)
			continue;

		if (spec == NULL) {
			g_autofree char *known = known_task_fields();

			return nbx_api_problem_set(problem, 400, "unknown_field", name,
						   "%s: unknown field (known: %s)", name, known);
		}
		if (JSON_NODE_HOLDS_NULL(node))
			continue;
		if (!read_task_field(spec, node, request, problem))
			return FALSE;
	}
	if (json_object_has_member(object, "duration") && request->duration_s < 1)
		return nbx_api_problem_set(
			problem, 400, "invalid", "duration",
			"duration: must be at least 1 second, found %" G_GINT64_FORMAT,
			request->duration_s);
	if (!nbx_api_task_guest_fields_check(run, problem))
		return FALSE;
	if (json_object_get_size(run) > 0) {
		char *merged = nbx_guest_task_merge(request->options_json, run);

		g_free(request->options_json);
		request->options_json = merged;
	}
	return TRUE;
}
