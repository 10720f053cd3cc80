/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A submission's fields for the guest (guest_task_options.h says what they
 * are), checked as the API reads them: strings bounded, guest paths
 * absolute, a package the guest knows, a command that parses.
 */
#include "api_task_guest_fields.h"

#include <string.h>

#include "api_json.h"
#include "guest_command.h"
#include "guest_task_options.h"

#define TEXT_MAX 4096
#define GUEST_PATH_MAX 1024

static gboolean
is_absolute_guest_path(const char *path)
{
	/* POSIX, or a Windows drive path (C:\... or C:/...). */
	return path[0] == '/' ||
	       (g_ascii_isalpha(path[0]) && path[1] == ':' && (path[2] == '\\' || path[2] == '/'));
}

static gboolean
read_text(const char *field, JsonNode *node, gsize max, NbxApiProblem *problem)
{
	const char *text;

	if (!nbx_api_json_is(node, G_TYPE_STRING))
		return nbx_api_json_wrong_type(field, "a string", node, problem);
	text = json_node_get_string(node);
	if (!nbx_api_check_text(field, text, problem))
		return FALSE;
	if (strlen(text) > max)
		return nbx_api_problem_set(problem, 400, "invalid", field,
					   "%s: longer than %zu bytes", field, max);
	return TRUE;
}

/* An array of at most @max strings; guest paths when @paths. */
static gboolean
read_strings(const char *field, JsonNode *node, guint max, gboolean paths, NbxApiProblem *problem)
{
	JsonArray *array;

	if (!JSON_NODE_HOLDS_ARRAY(node))
		return nbx_api_json_wrong_type(field, "an array of strings", node, problem);
	array = json_node_get_array(node);
	if (json_array_get_length(array) > max)
		return nbx_api_problem_set(problem, 400, "invalid", field, "%s: more than %u",
					   field, max);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		g_autofree char *element = g_strdup_printf("%s[%u]", field, i);
		JsonNode *item = json_array_get_element(array, i);
		const char *text;

		if (!read_text(element, item, paths ? GUEST_PATH_MAX : TEXT_MAX, problem))
			return FALSE;
		text = json_node_get_string(item);
		if (paths && !is_absolute_guest_path(text))
			return nbx_api_problem_set(problem, 400, "invalid", element,
						   "%s: not an absolute guest path (/... or C:\\...): "
						   "%s",
						   element, text);
	}
	return TRUE;
}

static gboolean
check_field(const char *name, JsonNode *node, NbxApiProblem *problem)
{
	g_autoptr(GError) error = NULL;

	if (strcmp(name, "until_exit") == 0)
		return nbx_api_json_is(node, G_TYPE_BOOLEAN) ||
		       nbx_api_json_wrong_type(name, "a boolean", node, problem);
	if (strcmp(name, "arguments") == 0)
		return read_strings(name, node, NBX_GUEST_MAX_ARGUMENTS, FALSE, problem);
	if (strcmp(name, "files") == 0)
		return read_strings(name, node, NBX_GUEST_MAX_FETCH_PATTERNS, TRUE, problem);
	if (!read_text(name, node, TEXT_MAX, problem))
		return FALSE;
	if (strcmp(name, "package") == 0 && !nbx_guest_package_is_known(json_node_get_string(node)))
		return nbx_api_problem_set(problem, 400, "invalid", name,
					   "package: \"%s\" is unknown (known: %s)",
					   json_node_get_string(node), nbx_guest_package_names());
	if (strcmp(name, "command") == 0 && !nbx_guest_command_check(json_node_get_string(node), &error))
		return nbx_api_problem_set(problem, 400, "invalid", name, "command: %s",
					   error->message);
	return TRUE;
}

gboolean
nbx_api_task_guest_field_read(const char *name, JsonNode *node, JsonObject *run,
			      gboolean *handled, NbxApiProblem *problem)
{
	static const char *const fields[] = { "package", "command", "arguments", "until_exit",
					      "files", NULL };

	*handled = g_strv_contains(fields, name);
	if (!*handled || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!check_field(name, node, problem))
		return FALSE;
	json_object_set_member(run, name, json_node_copy(node));
	return TRUE;
}

gboolean
nbx_api_task_guest_fields_check(JsonObject *run, NbxApiProblem *problem)
{
	if (json_object_has_member(run, "command") && json_object_has_member(run, "package"))
		return nbx_api_problem_set(problem, 400, "invalid", "command",
					   "command: give either command or package, not both");
	return TRUE;
}
