/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plugin_instance_state.h"

G_DEFINE_QUARK(nbx-plugin-error-quark, nbx_plugin_error)

const char *
nbx_plugin_instance_name(const NbxPluginInstance *instance)
{
	return instance->plugin->descriptor.name;
}

void
nbx_plugin_error_propagate(GError **error, const NbxPluginInstance *instance, const char *machine,
			   const char *op, const struct nbx_error *err)
{
	const char *message = err->message[0] != '\0' ? err->message
						      : "failed without saying why (plugin bug)";
	int code = err->code != NBX_ERROR_NONE ? err->code : NBX_ERROR_FAILED;

	if (machine != NULL)
		g_set_error(error, NBX_PLUGIN_ERROR, code, "%s: machine %s: %s: %s",
			    nbx_plugin_instance_name(instance), machine, op, message);
	else
		g_set_error(error, NBX_PLUGIN_ERROR, code, "%s: %s: %s",
			    nbx_plugin_instance_name(instance), op, message);
}
