/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an analysis leaves behind: its task row kept current, its events,
 * its steps with their timestamps (and the metrics and journal lines that
 * go with them), its directory, and report.json.
 */
#include "analysis_private.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "metrics.h"
#include "report.h"
#include "structured_log.h"

void
nbx_analysis_store_task(NbxAnalysis *analysis, const char *kind, const char *message)
{
	const NbxStoreNote note = { analysis->machine->machine.name, kind, message };
	g_autoptr(GError) error = NULL;

	if (!nbx_store_task_update_noting(analysis->store, analysis->task,
					  kind != NULL ? &note : NULL, &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

/* The task's step and analysis_dir, and the event @kind when set, in one progress commit. */
static void
store_step(NbxAnalysis *analysis, const char *kind, const char *message)
{
	const NbxStoreNote note = { analysis->machine->machine.name, kind, message };
	g_autoptr(GError) error = NULL;

	if (!nbx_store_task_set_step(analysis->store, analysis->task, kind != NULL ? &note : NULL,
				     &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

/* The task says why it waits, in its events (a restore slot is no step of its own). */
void
nbx_analysis_record_wait(NbxAnalysis *analysis, gint64 limit)
{
	nbx_analysis_event(analysis, "restore.waiting",
		     "waiting for a restore slot: %" G_GINT64_FORMAT
		     " restores at once (scheduler.max_concurrent_restores)",
		     limit);
}

NbxAnalysisStep
nbx_analysis_step_begin(NbxAnalysis *analysis, const char *name)
{
	NbxAnalysisStep step = { .object = json_object_new(), .start_us = g_get_real_time() };
	g_autofree char *started = nbx_format_time_us(step.start_us);

	json_object_set_string_member(step.object, "name", name);
	json_object_set_string_member(step.object, "started", started);
	g_free(analysis->task->step);
	analysis->task->step = g_strdup(name);
	store_step(analysis, "step.begin", name);
	return step;
}

void
nbx_analysis_step_end(NbxAnalysis *analysis, NbxAnalysisStep *step, const char *error)
{
	gint64 end_us = g_get_real_time();
	g_autofree char *ended = nbx_format_time_us(end_us);
	const char *kind = error == NULL ? "step.end" : "step.failed";
	g_autofree char *ending = NULL;
	const char *name = json_object_get_string_member(step->object, "name");

	json_object_set_string_member(step->object, "ended", ended);
	json_object_set_double_member(step->object, "duration_s",
				      (double)(end_us - step->start_us) / G_USEC_PER_SEC);
	nbx_metrics_observe_step(name, (double)(end_us - step->start_us) / G_USEC_PER_SEC);
	json_object_set_boolean_member(step->object, "ok", error == NULL);
	if (error != NULL)
		json_object_set_string_member(step->object, "error", error);
	ending = g_strdup_printf("%s%s%s", name, error != NULL ? ": " : "", error != NULL ? error : "");
	if (analysis->step_unstored)
		store_step(analysis, kind, ending);
	else
		nbx_analysis_event(analysis, kind, "%s", ending);
	analysis->step_unstored = FALSE;
	/* `journalctl TASK_ID=N` shows the analysis step by step. */
	nbx_log(error == NULL ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_WARNING,
		&(NbxLogFields){ .task_id = analysis->task->id,
				 .machine = analysis->machine->machine.name, .step = name },
		"task %" G_GINT64_FORMAT ": %s %s%s", analysis->task->id, name,
		error == NULL ? "done" : "failed: ", error != NULL ? error : "");
	json_array_add_object_element(analysis->steps, step->object);
	step->object = NULL;
}

/* The first failure is the task's reason; later ones only go in the steps. */
void
nbx_analysis_fail(NbxAnalysis *analysis, const char *message)
{
	if (analysis->failure == NULL)
		analysis->failure = g_strdup(message);
}

void
nbx_analysis_machine_failed(NbxAnalysis *analysis, const char *message)
{
	nbx_analysis_fail(analysis, message);
	if (analysis->outcome.machine_failure == NULL)
		analysis->outcome.machine_failure = g_strdup(message);
}


gboolean
nbx_analysis_make_dir(NbxAnalysis *analysis)
{
	NbxTask *task = analysis->task;
	g_autofree char *dir = g_strdup_printf("%s/%" G_GINT64_FORMAT,
					       analysis->setup->config->analyses_dir, task->id);
	NbxAnalysisStep step = nbx_analysis_step_begin(analysis, "analysis_dir");
	g_autofree char *message = NULL;

	/* A task run again keeps what its earlier attempt left, beside it. */
	if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
		g_autofree char *aside = NULL;

		for (gint64 n = 1;; n++) {
			g_free(aside);
			aside = g_strdup_printf("%s.attempt-%" G_GINT64_FORMAT, dir, n);
			if (!g_file_test(aside, G_FILE_TEST_EXISTS))
				break;
		}
		if (g_rename(dir, aside) != 0)
			message = g_strdup_printf("cannot move the earlier attempt's %s aside: %s",
						  dir, g_strerror(errno));
	}
	if (message == NULL && g_mkdir_with_parents(dir, 0750) != 0)
		message = g_strdup_printf("cannot create the analysis directory %s: %s", dir,
					  g_strerror(errno));
	if (message == NULL) {
		g_free(task->analysis_dir);
		task->analysis_dir = g_steal_pointer(&dir);
		/* Written with the step's end, in its commit. */
		analysis->step_unstored = TRUE;
	}
	nbx_analysis_step_end(analysis, &step, message);
	if (message != NULL)
		nbx_analysis_fail(analysis, message);
	return message == NULL;
}

void
nbx_analysis_write_report(NbxAnalysis *analysis)
{
	const struct nbx_machine *m = &analysis->machine->machine;
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonGenerator) generator = json_generator_new();
	JsonObject *object = json_object_new();
	JsonObject *machine = json_object_new();
	JsonObject *auxiliaries = json_object_new();
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (analysis->task->analysis_dir == NULL)
		return;
	json_object_set_member(object, "task", nbx_task_to_json(analysis->task));
	json_object_set_string_member(machine, "name", m->name);
	json_object_set_string_member(machine, "label", m->label);
	json_object_set_string_member(machine, "machinery",
				      nbx_plugin_instance_name(analysis->machine->machinery));
	json_object_set_string_member(machine, "platform", m->platform);
	json_object_set_string_member(machine, "ip", m->ip);
	json_object_set_object_member(object, "machine", machine);
	json_object_set_array_member(object, "steps", json_array_ref(analysis->steps));
	for (guint i = 0; i < analysis->aux_runs->len; i++) {
		NbxAuxRun *run = g_ptr_array_index(analysis->aux_runs, i);

		json_object_set_object_member(auxiliaries, nbx_plugin_instance_name(run->instance),
					      json_object_ref(run->summary));
	}
	json_object_set_object_member(object, "auxiliaries", auxiliaries);
	if (analysis->guest != NULL)
		json_object_set_object_member(object, "guest",
					      nbx_guest_run_summary(analysis->guest));
	json_object_set_string_member(object, "result", nbx_task_state_name(analysis->task->state));
	if (analysis->task->reason != NULL)
		json_object_set_string_member(object, "reason", analysis->task->reason);
	json_node_take_object(root, object);

	json_generator_set_root(generator, root);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);
	path = g_build_filename(analysis->task->analysis_dir, "report.json", NULL);
	/* Written to a temporary file, synced and renamed: never half a report. */
	if (!g_file_set_contents_full(path, text, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				      0640, &error))
		g_warning("task %" G_GINT64_FORMAT ": cannot write the report: %s",
			  analysis->task->id, error->message);
}


void
nbx_analysis_step_now(NbxAnalysis *analysis, const char *name, const char *error)
{
	NbxAnalysisStep step = nbx_analysis_step_begin(analysis, name);

	nbx_analysis_step_end(analysis, &step, error);
}
