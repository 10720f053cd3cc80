/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "task.h"

/* Indexed by NbxTaskState: the names are what the API and the CLI show. */
static const char *const state_names[] = {
	[NBX_TASK_QUEUED] = "queued",
	[NBX_TASK_RUNNING] = "running",
	[NBX_TASK_REPORTED] = "reported",
	[NBX_TASK_FAILED] = "failed",
	[NBX_TASK_CANCELLED] = "cancelled",
};

G_STATIC_ASSERT(G_N_ELEMENTS(state_names) == NBX_TASK_STATE_LAST + 1);

NbxTask *
nbx_task_new(void)
{
	NbxTask *task = g_new0(NbxTask, 1);

	task->state = NBX_TASK_QUEUED;
	task->tags = g_new0(char *, 1);
	return task;
}

NbxTask *
nbx_task_copy(const NbxTask *task)
{
	NbxTask *copy;

	g_return_val_if_fail(task != NULL, NULL);

	copy = g_new0(NbxTask, 1);
	*copy = *task;
	copy->target = g_strdup(task->target);
	copy->target_name = g_strdup(task->target_name);
	copy->machine = g_strdup(task->machine);
	copy->platform = g_strdup(task->platform);
	copy->os_version = g_strdup(task->os_version);
	copy->architecture = g_strdup(task->architecture);
	/* Keep the "never NULL" promise even for a hand-built task that broke it. */
	copy->tags = task->tags != NULL ? g_strdupv(task->tags) : g_new0(char *, 1);
	copy->options_json = g_strdup(task->options_json);
	copy->assigned_machine = g_strdup(task->assigned_machine);
	copy->analysis_dir = g_strdup(task->analysis_dir);
	copy->step = g_strdup(task->step);
	copy->reason = g_strdup(task->reason);
	return copy;
}

void
nbx_task_free(NbxTask *task)
{
	if (task == NULL)
		return;
	g_free(task->target);
	g_free(task->target_name);
	g_free(task->machine);
	g_free(task->platform);
	g_free(task->os_version);
	g_free(task->architecture);
	g_strfreev(task->tags);
	g_free(task->options_json);
	g_free(task->assigned_machine);
	g_free(task->analysis_dir);
	g_free(task->step);
	g_free(task->reason);
	g_free(task);
}

const char *
nbx_task_state_name(NbxTaskState state)
{
	/* The enum may be a signed or an unsigned type: compare as unsigned. */
	if ((guint)state > NBX_TASK_STATE_LAST)
		return "unknown";
	return state_names[state];
}

int
nbx_task_state_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (guint i = 0; i < G_N_ELEMENTS(state_names); i++) {
		if (g_str_equal(name, state_names[i]))
			return (int)i;
	}
	return -1;
}

gboolean
nbx_task_state_is_final(NbxTaskState state)
{
	return state == NBX_TASK_REPORTED || state == NBX_TASK_FAILED ||
	       state == NBX_TASK_CANCELLED;
}

/*
 * Always with six digits of microseconds, so every timestamp the API shows
 * has the same shape and sorts as text; g_date_time_format_iso8601() drops
 * the fraction when it is zero. The fields are printed as
 * g_date_time_format("%Y-%m-%dT%H:%M:%S.%fZ") would (the year unpadded),
 * without its format parser: a task's steps format a dozen of these
 * (issue 17).
 */
char *
nbx_format_time_us(gint64 us)
{
	gint64 seconds = us / G_USEC_PER_SEC;
	gint64 rest = us % G_USEC_PER_SEC;
	g_autoptr(GDateTime) whole = NULL;
	int year, month, day;

	if (rest < 0) {
		seconds--;
		rest += G_USEC_PER_SEC;
	}
	/* NULL outside the years 1 to 9999, as before. */
	whole = g_date_time_new_from_unix_utc(seconds);
	if (whole == NULL)
		return NULL;
	g_date_time_get_ymd(whole, &year, &month, &day);
	return g_strdup_printf("%d-%02d-%02dT%02d:%02d:%02d.%06" G_GINT64_FORMAT "Z", year, month,
			       day, g_date_time_get_hour(whole), g_date_time_get_minute(whole),
			       g_date_time_get_second(whole), rest);
}

static void
add_time(JsonBuilder *builder, const char *name, gint64 us)
{
	g_autofree char *text = us != 0 ? nbx_format_time_us(us) : NULL;

	json_builder_set_member_name(builder, name);
	/* 0 means "not yet"; a time GDateTime cannot hold is shown as unknown. */
	if (text == NULL)
		json_builder_add_null_value(builder);
	else
		json_builder_add_string_value(builder, text);
}

static void
add_string(JsonBuilder *builder, const char *name, const char *value)
{
	json_builder_set_member_name(builder, name);
	if (value == NULL)
		json_builder_add_null_value(builder);
	else
		json_builder_add_string_value(builder, value);
}

static void
add_options(JsonBuilder *builder, const NbxTask *task)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) options = NULL;

	json_builder_set_member_name(builder, "options");
	if (task->options_json != NULL)
		options = json_from_string(task->options_json, &error);
	if (options == NULL || !JSON_NODE_HOLDS_OBJECT(options)) {
		/*
		 * The submitter's options were checked when the task was
		 * accepted; anything else here means the stored row was
		 * edited or damaged, which the operator should hear about.
		 */
		if (task->options_json != NULL)
			g_warning("task %" G_GINT64_FORMAT ": stored options are not a JSON object: %s",
				  task->id, error != NULL ? error->message : task->options_json);
		json_builder_add_null_value(builder);
		return;
	}
	json_builder_add_value(builder, g_steal_pointer(&options));
}

JsonNode *
nbx_task_to_json(const NbxTask *task)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	g_return_val_if_fail(task != NULL, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_int_value(builder, task->id);
	add_string(builder, "state", nbx_task_state_name(task->state));
	json_builder_set_member_name(builder, "priority");
	json_builder_add_int_value(builder, task->priority);
	add_time(builder, "created", task->created_us);
	add_time(builder, "started", task->started_us);
	add_time(builder, "ended", task->ended_us);
	add_string(builder, "target", task->target);
	add_string(builder, "target_name", task->target_name);
	add_string(builder, "machine", task->machine);
	add_string(builder, "platform", task->platform);
	add_string(builder, "os_version", task->os_version);
	add_string(builder, "architecture", task->architecture);
	json_builder_set_member_name(builder, "tags");
	json_builder_begin_array(builder);
	for (char **tag = task->tags; tag != NULL && *tag != NULL; tag++)
		json_builder_add_string_value(builder, *tag);
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "duration");
	json_builder_add_int_value(builder, task->duration_s);
	json_builder_set_member_name(builder, "memory_dump");
	json_builder_add_boolean_value(builder, task->memory_dump);
	json_builder_set_member_name(builder, "debug");
	json_builder_add_boolean_value(builder, task->debug);
	add_options(builder, task);
	add_string(builder, "assigned_machine", task->assigned_machine);
	add_string(builder, "analysis_dir", task->analysis_dir);
	add_string(builder, "step", task->step);
	add_string(builder, "reason", task->reason);
	json_builder_set_member_name(builder, "attempts");
	json_builder_add_int_value(builder, task->attempts);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}
