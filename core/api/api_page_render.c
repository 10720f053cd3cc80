/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The status page's HTML: every table filled on the server, so the page
 * says everything without JavaScript; page.js then keeps it live. Every
 * string from the store or a client is escaped.
 */
#include <string.h>

#include "control_api_routes.h"

#define RECENT_TASKS 25
#define QUEUE_SHOWN 100

/* Appends @text escaped for HTML (NULL as nothing). */
static void
put(GString *html, const char *text)
{
	g_autofree char *escaped = g_markup_escape_text(text != NULL ? text : "", -1);

	g_string_append(html, escaped);
}

static void
put_cell(GString *html, const char *field, const char *text)
{
	g_string_append_printf(html, "<td data-field=\"%s\">", field);
	put(html, text);
	g_string_append(html, "</td>");
}

static void
put_head(GString *html, const char *id, const char *title, const char *const *columns)
{
	g_string_append_printf(html, "<section><h2>%s</h2><table id=\"%s\"><thead><tr>", title, id);
	for (guint i = 0; columns[i] != NULL; i++)
		g_string_append_printf(html, "<th>%s</th>", columns[i]);
	g_string_append(html, "</tr></thead><tbody>");
}

static void
put_machines(NbxControlApi *api, GString *html)
{
	static const char *const columns[] = { "Machine", "Activity", "State", "Task",
					       "Disabled", NULL };
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);

	put_head(html, "machines", "Machines", columns);
	for (guint i = 0; i < machines->len; i++) {
		const NbxMachineStatus *machine = g_ptr_array_index(machines, i);
		g_autofree char *task = machine->task_id > 0
						? g_strdup_printf("%" G_GINT64_FORMAT, machine->task_id)
						: NULL;

		g_string_append(html, "<tr id=\"machine-");
		put(html, machine->name);
		g_string_append(html, "\">");
		put_cell(html, "name", machine->name);
		put_cell(html, "activity", machine->activity);
		put_cell(html, "state", machine->state);
		put_cell(html, "task", task);
		put_cell(html, "disabled", machine->disabled_reason);
		g_string_append(html, "</tr>");
	}
	g_string_append(html, "</tbody></table></section>");
}

static void
put_queue(NbxControlApi *api, GString *html, const char *csrf)
{
	static const char *const columns[] = { "Task", "Platform", "Tags", "Priority", "Waiting",
					       "", NULL };
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(GPtrArray) tasks = nbx_store_task_list(store, NBX_TASK_QUEUED, QUEUE_SHOWN, 0,
							 NULL);

	put_head(html, "queue", "Queue", columns);
	for (guint i = 0; tasks != NULL && i < tasks->len; i++) {
		const NbxTask *task = g_ptr_array_index(tasks, i);
		g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, task->id);
		g_autofree char *priority = g_strdup_printf("%" G_GINT64_FORMAT, task->priority);
		g_autofree char *tags = g_strjoinv(", ", task->tags);

		g_string_append_printf(html, "<tr id=\"queued-%s\">", id);
		put_cell(html, "id", id);
		put_cell(html, "platform", task->platform != NULL ? task->platform : "any");
		put_cell(html, "tags", tags);
		put_cell(html, "priority", priority);
		put_cell(html, "reason", task->reason);
		g_string_append_printf(html,
				       "<td><form method=\"post\" action=\"/ui/tasks/%s/cancel\">",
				       id);
		if (csrf != NULL)
			g_string_append_printf(html,
					       "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
					       csrf);
		g_string_append(html, "<button type=\"submit\">Cancel</button></form></td></tr>");
	}
	g_string_append(html, "</tbody></table></section>");
}

/* "analysis_dir, restore_start, run, stop (failed: ...)": the steps the task's events record. */
static char *
steps_of(NbxStore *store, gint64 id)
{
	g_autoptr(GPtrArray) events = nbx_store_event_list(store, id, NULL);
	g_autoptr(GString) steps = g_string_new(NULL);

	for (guint i = 0; events != NULL && i < events->len; i++) {
		const NbxStoredEvent *event = g_ptr_array_index(events, i);

		if (g_strcmp0(event->kind, "step.end") != 0 &&
		    g_strcmp0(event->kind, "step.failed") != 0)
			continue;
		g_string_append_printf(steps, "%s%s%s", steps->len > 0 ? ", " : "",
				       g_strcmp0(event->kind, "step.failed") == 0 ? "failed: " : "",
				       event->message != NULL ? event->message : "");
	}
	return g_string_free(g_steal_pointer(&steps), FALSE);
}

static void
put_tasks(NbxControlApi *api, GString *html)
{
	static const char *const columns[] = { "Task", "State", "Machine", "Step", "File",
					       "Reason", "Steps", NULL };
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(GPtrArray) tasks = nbx_store_task_list(store, -1, RECENT_TASKS, 0, NULL);

	put_head(html, "tasks", "Recent tasks", columns);
	for (guint i = 0; tasks != NULL && i < tasks->len; i++) {
		const NbxTask *task = g_ptr_array_index(tasks, i);
		const char *state = nbx_task_state_name(task->state);
		g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, task->id);
		g_autofree char *steps = steps_of(store, task->id);

		g_string_append_printf(html, "<tr id=\"task-%s\">", id);
		put_cell(html, "id", id);
		g_string_append_printf(html, "<td data-field=\"state\" class=\"state state-%s\">%s</td>",
				       state, state);
		put_cell(html, "machine", task->assigned_machine);
		put_cell(html, "step", task->step);
		put_cell(html, "target", task->target_name);
		put_cell(html, "reason", task->reason);
		put_cell(html, "steps", steps);
		g_string_append(html, "</tr>");
	}
	g_string_append(html, "</tbody></table></section>");
}

static void
put_snapshots(NbxControlApi *api, GString *html)
{
	static const char *const columns[] = { "Base", "Current generation", "Generations", NULL };
	g_autoptr(JsonNode) status = NULL;
	JsonArray *bases;

	put_head(html, "snapshots", "Snapshot generations", columns);
	status = api->snapshots != NULL ? nbx_snapshot_manager_status(api->snapshots) : NULL;
	bases = status != NULL
			? json_object_get_array_member(json_node_get_object(status), "bases")
			: NULL;
	for (guint i = 0; bases != NULL && i < json_array_get_length(bases); i++) {
		JsonObject *base = json_array_get_object_element(bases, i);
		JsonArray *generations = json_object_get_array_member(base, "generations");
		g_autofree char *current = g_strdup_printf(
			"%" G_GINT64_FORMAT,
			json_object_get_int_member_with_default(base, "current", 0));
		g_autofree char *count = g_strdup_printf(
			"%u", generations != NULL ? json_array_get_length(generations) : 0);

		g_string_append(html, "<tr>");
		put_cell(html, "base", json_object_get_string_member_with_default(base, "base", ""));
		put_cell(html, "current", current);
		put_cell(html, "generations", count);
		g_string_append(html, "</tr>");
	}
	g_string_append(html, "</tbody></table></section>");
}

GString *
nbx_api_page_render(NbxControlApi *api, const char *csrf)
{
	GString *html = g_string_new(
		"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		"<title>nestbox</title><link rel=\"stylesheet\" href=\"/static/page.css\">"
		"<script src=\"/static/page.js\" defer></script></head><body>"
		"<header><h1>nestbox " NESTBOX_VERSION "</h1><span id=\"live\">static</span>");

	if (csrf != NULL)
		g_string_append_printf(html,
				       "<form method=\"post\" action=\"/logout\">"
				       "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
				       "<button type=\"submit\">Sign out</button></form>",
				       csrf);
	g_string_append(html, "</header><main>");
	put_machines(api, html);
	put_queue(api, html, csrf);
	put_tasks(api, html);
	put_snapshots(api, html);
	g_string_append(html, "</main></body></html>\n");
	return html;
}
