/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Records the calling thread as the daemon's main thread: host->spawn()
 * called from any other thread forks from this one (see host_services.c).
 */
void nbx_host_services_set_main_thread(void);
