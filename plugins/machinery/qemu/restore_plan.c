/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "restore_plan.h"

#include <string.h>

#include "qemu_args.h"

const char *
restore_plan_stream_reason(const QemuSettings *settings, const char *method,
			   const MachineInfo *info)
{
	if (method != NULL && strcmp(method, "stream") == 0)
		return "its qemu_restore_method = \"stream\"";
	if (method == NULL && !settings->templates)
		return "restore_method = \"stream\"";
	if (info->memory_snapshot == NULL)
		return "it has no memory state";
	if (machine_info_option(info, "-m") != NULL && machine_info_memory_mb(info) == 0)
		return "its -m gives the RAM size in a form the plugin does not read";
	return qemu_args_template_obstacle(info);
}

bool
restore_plan_fill(const TemplateMaker *maker, struct nbx_machine *machine, const char *method,
		  const char *base, MachineInfo *info, QemuLaunch *launch,
		  MemoryTemplate **template, int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = maker->settings->host;
	struct nbx_error cause = { 0 };

	*template = NULL;
	launch->memory = QEMU_MEMORY_STREAM;
	if (restore_plan_stream_reason(maker->settings, method, info) != NULL)
		return true;
	*template = memory_template_ensure(maker, machine, base, info, deadline_us, &cause);
	if (*template == NULL && cause.code == NBX_ERROR_TIMEOUT) {
		/* The stream would not make it either. */
		host->error_set(host, err, cause.code, "%s", cause.message);
		return false;
	}
	if (*template == NULL) {
		/*
		 * Said, not warned: when the stream itself is broken, its own
		 * restore fails next with the same cause, and says so.
		 */
		host->log(host, NBX_LOG_INFO,
			  "machine %s: restoring from the memory stream %s, not a template: %s",
			  machine->name, info->memory_snapshot, cause.message);
		return true;
	}
	launch->memory = QEMU_MEMORY_TEMPLATE;
	launch->memory_file = (*template)->ram;
	launch->state_file = (*template)->state;
	launch->memory_mb = (*template)->memory_mb;
	return true;
}
