/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How a machine restores a generation: from its memory template where it
 * can (restore_method = "template", the default), else from the classic
 * stream, and why; --check says the same per machine.
 */
#pragma once

#include <nestbox/plugin.h>

#include "machine_info.h"
#include "memory_template.h"
#include "qemu_vm.h"

/*
 * Why @info restores from its stream rather than a template; NULL: from a
 * template. @method is the machine's own choice ("template", "stream"), or
 * NULL for the plugin's restore_method.
 */
const char *restore_plan_stream_reason(const QemuSettings *settings, const char *method,
				       const MachineInfo *info);

/*
 * Fills the memory part of @launch for restoring @info: its template (made
 * or rebuilt now when needed, returned in *@template for the caller to
 * keep) or its stream. A template that cannot be made is said (INFO) and
 * the stream used, so no restore depends on a template; false with @err
 * only when making it ran out of time (the stream would too).
 */
bool restore_plan_fill(const TemplateMaker *maker, struct nbx_machine *machine,
		       const char *method, const char *base, MachineInfo *info, QemuLaunch *launch,
		       MemoryTemplate **template, int64_t deadline_us, struct nbx_error *err);
