/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest run's state: made, shared with the ops the runner may keep after
 * they were abandoned, freed with the last of them. The steps that drive it
 * are in guest_steps.c, above the ops (guest_op.c) and the fetch
 * (guest_fetch.c) that hold it.
 */
#include "guest_run_private.h"

#include <unistd.h>

#include "report.h"

NbxGuestRun *
nbx_guest_run_new(NbxPluginInstance *guest, const NbxTask *task, const struct nbx_machine *machine,
		  const struct nbx_config_node *options, const NbxGuestLimits *limits,
		  const NbxGuestAnalysis *analysis, gpointer analysis_data)
{
	NbxGuestRun *run = g_new0(NbxGuestRun, 1);

	run->refs = 1;
	run->guest = guest;
	run->limits = *limits;
	run->analysis = analysis;
	run->analysis_data = analysis_data;
	run->task = nbx_task_copy(task);
	run->machine = machine;
	run->options = nbx_guest_task_options_read(task->options_json);
	run->report = nbx_report_new();
	run->plugin_task = (struct nbx_task){
		.struct_size = sizeof run->plugin_task,
		.id = run->task->id,
		.target = run->task->target,
		.duration_s = run->task->duration_s,
		.debug = run->task->debug,
		.options = options,
		.target_name = run->task->target_name,
	};
	run->context = (struct nbx_guest_context){
		.struct_size = sizeof run->context,
		.analysis_dir = run->task->analysis_dir,
		.task = &run->plugin_task,
		.machine = machine,
		.report = run->report,
	};
	run->session = (NbxGuestSession){ .guest = guest, .context = &run->context };
	run->process.struct_size = sizeof run->process;
	run->stdout_fd = run->stderr_fd = -1;
	run->summary = json_object_new();
	json_object_set_string_member(run->summary, "plugin", nbx_plugin_instance_name(guest));
	g_mutex_init(&run->lock);
	return run;
}

NbxGuestRun *
nbx_guest_run_ref(NbxGuestRun *run)
{
	g_atomic_int_inc(&run->refs);
	return run;
}

void
nbx_guest_run_unref(NbxGuestRun *run)
{
	if (run == NULL || !g_atomic_int_dec_and_test(&run->refs))
		return;
	if (run->stdout_fd >= 0)
		close(run->stdout_fd);
	if (run->stderr_fd >= 0)
		close(run->stderr_fd);
	g_strfreev(run->argv);
	g_free((char *)run->command.command);
	nbx_report_free(run->report);
	nbx_guest_task_options_free(run->options);
	nbx_task_free(run->task);
	json_object_unref(run->summary);
	g_mutex_clear(&run->lock);
	g_free(run);
}

JsonObject *
nbx_guest_run_summary(NbxGuestRun *run)
{
	gboolean pending;

	g_mutex_lock(&run->lock);
	pending = run->op_pending;
	g_mutex_unlock(&run->lock);
	/* An op still running may still write into the plugin's report: leave it out then. */
	if (!pending) {
		g_autoptr(JsonObject) result = nbx_report_ref_object(run->report);

		json_object_set_object_member(run->summary, "result", json_object_ref(result));
	}
	return json_object_ref(run->summary);
}
