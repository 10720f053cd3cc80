/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auxiliary_client.h"

#include <string.h>

#include "call_context.h"
#include "plugin_ops.h"

static const struct nbx_auxiliary_ops *
table(const NbxPluginInstance *auxiliary)
{
	return nbx_plugin_auxiliary_ops(auxiliary->plugin);
}

gboolean
nbx_auxiliary_start(NbxPluginInstance *auxiliary, const struct nbx_aux_context *context,
		    void **analysis_data, const NbxOpContext *call_context, GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	/* Required by the loader: never NULL here. */
	nbx_call_from_context(&call, call_context);
	return nbx_call_end(auxiliary, NULL, "start",
			    table(auxiliary)->start(auxiliary->instance, context, analysis_data,
						    &call, &err),
			    &err, error);
}

gboolean
nbx_auxiliary_stop(NbxPluginInstance *auxiliary, const struct nbx_aux_context *context,
		   void *analysis_data, const NbxOpContext *call_context, GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	nbx_call_from_context(&call, call_context);
	return nbx_call_end(auxiliary, NULL, "stop",
			    table(auxiliary)->stop(auxiliary->instance, context, analysis_data,
						   &call, &err),
			    &err, error);
}

gboolean
nbx_auxiliary_has_check_task(const NbxPluginInstance *auxiliary)
{
	return table(auxiliary)->check_task != NULL;
}

gboolean
nbx_auxiliary_check_task(NbxPluginInstance *auxiliary, const struct nbx_config_node *options,
			 struct nbx_check *check, GError **error)
{
	struct nbx_error err = { 0 };

	if (table(auxiliary)->check_task == NULL)
		return TRUE;
	return nbx_call_end(auxiliary, NULL, "check_task",
			    table(auxiliary)->check_task(auxiliary->instance, options, check, &err),
			    &err, error);
}
