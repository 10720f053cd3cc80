/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every route follows: a small JSON body holding only the fields it
 * knows, a query holding only the parameters it knows, and the scheduler's
 * (or the store's) errors answered with the status they mean.
 */
#include <string.h>

#include "api_json.h"
#include "control_api_routes.h"

/*
 * The scheduler's INVALID messages begin with the field ("tags: ..."); any
 * other prefix (a path, a sentence) is not a field name.
 */
static char *
field_of_message(const char *message)
{
	const char *colon = strstr(message, ": ");

	if (colon == NULL || colon == message)
		return NULL;
	for (const char *p = message; p < colon; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return NULL;
	}
	return g_strndup(message, colon - message);
}

void
nbx_api_respond_scheduler_error(NbxApiRequest *request, const GError *error,
				const char *conflict_code, guint conflict_status)
{
	g_autofree char *field = NULL;

	if (error->domain == NBX_STORE_ERROR && error->code == NBX_STORE_ERROR_NOT_FOUND) {
		nbx_api_request_respond_error(request, 404, "not_found", NULL, "%s",
					      error->message);
		return;
	}
	if (error->domain != NBX_SCHEDULER_ERROR) {
		nbx_api_request_respond_error(request, 500, "internal", NULL, "%s", error->message);
		return;
	}
	switch ((NbxSchedulerError)error->code) {
	case NBX_SCHEDULER_ERROR_INVALID:
		field = field_of_message(error->message);
		nbx_api_request_respond_error(request, 400, "invalid", field, "%s", error->message);
		return;
	case NBX_SCHEDULER_ERROR_NOT_FOUND:
		nbx_api_request_respond_error(request, 404, "not_found", NULL, "%s",
					      error->message);
		return;
	case NBX_SCHEDULER_ERROR_CONFLICT:
		nbx_api_request_respond_error(request, conflict_status, conflict_code, NULL, "%s",
					      error->message);
		return;
	case NBX_SCHEDULER_ERROR_FAILED:
	default:
		nbx_api_request_respond_error(request, 500, "internal", NULL, "%s", error->message);
		return;
	}
}

static gboolean
check_members(JsonObject *object, const char *allowed, NbxApiProblem *problem)
{
	g_autoptr(GList) members = json_object_get_members(object);
	g_auto(GStrv) names = allowed != NULL ? g_strsplit(allowed, ", ", -1) : NULL;

	for (GList *l = members; l != NULL; l = l->next) {
		const char *name = l->data;

		if (names != NULL && g_strv_contains((const char *const *)names, name))
			continue;
		if (allowed != NULL)
			return nbx_api_problem_set(problem, 400, "unknown_field", name,
						   "%s: unknown field (known: %s)", name, allowed);
		return nbx_api_problem_set(problem, 400, "unknown_field", name,
					   "%s: unknown field (this request takes none)", name);
	}
	return TRUE;
}

JsonObject *
nbx_api_read_small_object(NbxApiRequest *request, const char *allowed, NbxApiProblem *problem)
{
	g_autoptr(GBytes) body = nbx_api_request_body(request);
	g_autoptr(JsonObject) object = NULL;
	gsize length;
	const char *data = g_bytes_get_data(body, &length);

	if (length == 0)
		return json_object_new();
	object = nbx_api_json_parse_object("body", data, length, problem);
	if (object == NULL || !check_members(object, allowed, problem))
		return NULL;
	return g_steal_pointer(&object);
}

gboolean
nbx_api_check_query(GHashTable *query, const char *const *known, NbxApiProblem *problem)
{
	GHashTableIter iter;
	gpointer key;

	if (query == NULL)
		return TRUE;
	g_hash_table_iter_init(&iter, query);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		if (!g_strv_contains(known, key)) {
			g_autofree char *names = g_strjoinv(", ", (char **)known);

			return nbx_api_problem_set(problem, 400, "unknown_field", key,
						   "%s: unknown query parameter (known: %s)",
						   (const char *)key, names);
		}
	}
	return TRUE;
}
