/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_problem.h"

void
nbx_api_problem_clear(NbxApiProblem *problem)
{
	g_clear_pointer(&problem->field, g_free);
	g_clear_pointer(&problem->message, g_free);
	problem->status = 0;
	problem->code = NULL;
}

gboolean
nbx_api_problem_set(NbxApiProblem *problem, guint status, const char *code, const char *field,
		    const char *format, ...)
{
	va_list args;

	nbx_api_problem_clear(problem);
	problem->status = status;
	problem->code = code;
	problem->field = g_strdup(field);
	va_start(args, format);
	problem->message = g_strdup_vprintf(format, args);
	va_end(args);
	return FALSE;
}

JsonNode *
nbx_api_problem_to_json(const NbxApiProblem *problem)
{
	JsonObject *error = json_object_new();
	JsonObject *root = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(error, "code", problem->code);
	json_object_set_string_member(error, "message", problem->message);
	if (problem->field != NULL)
		json_object_set_string_member(error, "field", problem->field);
	else
		json_object_set_null_member(error, "field");
	json_object_set_object_member(root, "error", error);
	json_node_take_object(node, root);
	return node;
}
