/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "plugin_instance_state.h"

/*
 * Records the calling thread as the daemon's main thread: host->spawn()
 * called from any other thread forks from this one (see host_services.c).
 */
void nbx_host_services_set_main_thread(void);

/* Fills @host with the core's services, bound to @instance (host_services.c). */
void nbx_host_services_fill(struct nbx_host *host, NbxPluginInstance *instance);

/*
 * After `shutdown`, on the main thread: kills (SIGKILL) every child the
 * plugin left running and removes its remaining watches and timeouts, so no
 * process outlives the plugin and no callback runs into its freed memory.
 */
void nbx_host_services_release(NbxPluginInstance *instance);
