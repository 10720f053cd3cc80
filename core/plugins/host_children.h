/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes of plugins, for the host-services table (host_services.c):
 * host->spawn, host->run and host->child_signal.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "host_services.h"

typedef struct _NbxPluginInstance NbxPluginInstance;

bool nbx_host_spawn(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t *pid,
		    struct nbx_error *err);
bool nbx_host_run(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t deadline_us,
		  struct nbx_output *out, struct nbx_output *errout, int32_t *wait_status,
		  struct nbx_error *err);
bool nbx_host_child_signal(const struct nbx_host *host, int64_t pid, int32_t signal,
			   struct nbx_error *err);

/* Kills every child @instance left running; they are reported to nobody. */
void nbx_host_children_release(NbxPluginInstance *instance);
