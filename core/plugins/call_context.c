/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "call_context.h"

#include "metrics.h"

void
nbx_call_from_context(struct nbx_call *call, const NbxOpContext *context)
{
	*call = (struct nbx_call){
		.struct_size = sizeof *call,
		.flags = context->flags,
		.deadline_us = context->deadline_us,
		.analysis_dir = context->analysis_dir,
		.task_id = context->task_id,
		.generation_dir = context->generation_dir,
	};
}

gboolean
nbx_call_end(const NbxPluginInstance *instance, const char *machine, const char *op, bool ok,
	     struct nbx_error *err, GError **error)
{
	if (ok)
		return TRUE;
	err->message[sizeof err->message - 1] = '\0';
	nbx_metrics_count_op_failure(nbx_plugin_instance_name(instance), op);
	nbx_plugin_error_propagate(error, instance, machine, op, err);
	return FALSE;
}
