/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The descriptor of the "agent" guest plugin, its instance, and its ops
 * table. What each op does with the protocol is in its own file.
 */
#include "agent_plugin.h"

#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>

static bool
agent_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	struct agent_plugin *plugin = g_new0(struct agent_plugin, 1);

	plugin->host = host;
	if (!agent_settings_read(host, &plugin->settings, err)) {
		g_free(plugin);
		return false;
	}
	*instance = plugin;
	return true;
}

static void
agent_shutdown(void *instance)
{
	g_free(instance);
}

bool
agent_op_begin(struct agent_session *session, const struct nbx_call *call, struct nbx_error *err)
{
	if (call->flags != 0) {
		session->host->error_set(session->host, err, NBX_ERROR_NOT_SUPPORTED,
					 "unknown call flags 0x%" PRIx32, call->flags);
		return false;
	}
	session->deadline_us = call->deadline_us;
	return true;
}

static const struct nbx_guest_ops agent_ops = {
	.struct_size = sizeof(struct nbx_guest_ops),
	.capabilities = 0,
	.init = agent_init,
	.shutdown = agent_shutdown,
	.connect = agent_op_connect,
	.disconnect = agent_op_disconnect,
	.set_clock = agent_op_set_clock,
	.upload = agent_op_upload,
	.execute = agent_op_execute,
	.poll = agent_op_poll,
	.list_files = agent_op_list_files,
	.download = agent_op_download,
	.agent_log = agent_op_agent_log,
};

NBX_PLUGIN_DEFINE(
	.kind = NBX_PLUGIN_GUEST,
	.name = "agent",
	.version = "1.0.0",
	.description = "Speaks the Cuckoo/CAPE agent.py protocol (CAPE 0.22, Cuckoo 2 0.10, "
		       "nestbox-agent)",
	.config_schema = &agent_config_schema,
	.ops.guest = &agent_ops,
	.task_schema = &agent_task_schema,
);
