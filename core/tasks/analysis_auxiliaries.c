/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The auxiliaries' part of an analysis: each gets its own task view (its
 * own options) and report, starts in configuration order before the
 * machine and stops in reverse order after it. A required one that does
 * not start fails the task before the machine is touched.
 */
#include "analysis_private.h"

#include "report.h"

void
nbx_aux_run_free(NbxAuxRun *run)
{
	nbx_report_free(run->report);
	if (run->summary != NULL)
		json_object_unref(run->summary);
	g_free(run);
}

void
nbx_analysis_auxiliaries_prepare(NbxAnalysis *analysis)
{
	GPtrArray *auxiliaries = analysis->setup->auxiliaries;
	config_setting_t *root = config_root_setting(&analysis->options);

	for (guint i = 0; i < auxiliaries->len; i++) {
		NbxAuxRun *run = g_new0(NbxAuxRun, 1);
		const char *name;

		run->instance = g_ptr_array_index(auxiliaries, i);
		name = nbx_plugin_instance_name(run->instance);
		run->report = nbx_report_new();
		run->task = (struct nbx_task){
			.struct_size = sizeof run->task,
			.id = analysis->task->id,
			.target = analysis->task->target,
			.duration_s = analysis->task->duration_s,
			.debug = analysis->task->debug,
			.options = NBX_NODE(config_setting_get_member(root, name)),
		};
		run->context = (struct nbx_aux_context){
			.struct_size = sizeof run->context,
			.analysis_dir = analysis->task->analysis_dir,
			.task = &run->task,
			.machine = &analysis->machine->machine,
			.report = run->report,
		};
		run->summary = json_object_new();
		json_object_set_int_member(run->summary, "order", run->instance->section->order);
		g_ptr_array_add(analysis->aux_runs, run);
	}
}

static gboolean
aux_required(NbxAuxRun *run)
{
	int required = 0;

	config_setting_lookup_bool(run->instance->section->root, "required", &required);
	return required != 0;
}

gboolean
nbx_analysis_auxiliaries_start(NbxAnalysis *analysis)
{
	for (guint i = 0; i < analysis->aux_runs->len; i++) {
		NbxAuxRun *run = g_ptr_array_index(analysis->aux_runs, i);
		const char *name = nbx_plugin_instance_name(run->instance);
		g_autofree char *step_name = g_strdup_printf("auxiliary.%s.start", name);
		NbxAnalysisStep step = nbx_analysis_step_begin(analysis, step_name);
		g_autofree char *message = NULL;

		run->started = nbx_analysis_aux_start(analysis, run, &message);
		nbx_analysis_step_end(analysis, &step, message);
		json_object_set_boolean_member(run->summary, "started", run->started);
		if (run->started)
			continue;
		json_object_set_string_member(run->summary, "error", message);
		if (aux_required(run)) {
			g_autofree char *reason = g_strdup_printf(
				"required auxiliary %s did not start: %s", name, message);

			nbx_analysis_fail(analysis, reason);
			return FALSE;
		}
	}
	return TRUE;
}

void
nbx_analysis_auxiliaries_stop(NbxAnalysis *analysis)
{
	for (guint i = analysis->aux_runs->len; i-- > 0;) {
		NbxAuxRun *run = g_ptr_array_index(analysis->aux_runs, i);
		const char *name = nbx_plugin_instance_name(run->instance);
		g_autofree char *step_name = NULL;
		g_autofree char *message = NULL;
		g_autoptr(JsonObject) result = NULL;
		NbxAnalysisStep step;
		gboolean ok;

		if (!run->started || run->wedged)
			continue;
		step_name = g_strdup_printf("auxiliary.%s.stop", name);
		step = nbx_analysis_step_begin(analysis, step_name);
		ok = nbx_analysis_aux_stop(analysis, run, &message);
		nbx_analysis_step_end(analysis, &step, message);
		json_object_set_boolean_member(run->summary, "stopped", ok);
		if (!ok)
			json_object_set_string_member(run->summary, "error", message);
		/* A wedged stop may still write into its report: leave it alone. */
		if (run->wedged)
			continue;
		result = nbx_report_ref_object(run->report);
		json_object_set_object_member(run->summary, "result", json_object_ref(result));
	}
}

