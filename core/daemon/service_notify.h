/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the service manager is told (sd_notify(3)), for nestboxd.service's
 * Type=notify: READY=1 once the API answers, RELOADING=1 then READY=1
 * around a reload, STOPPING=1 at SIGTERM, each with a STATUS= line that
 * `systemctl status` shows. Outside a service (no NOTIFY_SOCKET) nothing is
 * sent; built without libsystemd these do nothing and the unit is
 * Type=exec.
 */
#pragma once

/* Start-up is over, or a reload: the API answers; @status says how it runs. */
void nbx_service_notify_ready(const char *status);

/* A reload began reading the configuration; READY=1 follows when it is done. */
void nbx_service_notify_reloading(void);

/* SIGTERM: the daemon is stopping its analyses. */
void nbx_service_notify_stopping(void);
