/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One machine's QEMU: its process, QMP session, overlay and the state the
 * plugin tracks from QMP events and the process's exit, so `state` never
 * has to ask and the core hears of every change at once.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "machine_info.h"

/* The plugin-wide settings a run needs. */
typedef struct {
	const struct nbx_host *host;
	char *qemu_binary;
	char *qemu_img;
	char *accelerator;
	char *overlay_dir;
	int64_t stop_timeout_s;
} QemuSettings;

typedef struct QemuVm QemuVm;

QemuVm *qemu_vm_new(const QemuSettings *settings, struct nbx_machine *machine);
/* Main thread, with the machine stopped (the core stops machines before shutdown). */
void qemu_vm_free(QemuVm *vm);

/* Replaces the parsed machineinfo (check_machine re-reads it each time). */
void qemu_vm_set_info(QemuVm *vm, MachineInfo *info);
/* Loads machineinfo if it has not been yet. */
bool qemu_vm_ensure_info(QemuVm *vm, const char *path, struct nbx_error *err);

/* Starts QEMU on a fresh overlay; @restore: from the memory snapshot, else a cold boot. */
bool qemu_vm_start(QemuVm *vm, bool restore, int64_t deadline_us, struct nbx_error *err);
/* quit, SIGKILL after stop_timeout, then removes what the run made. */
bool qemu_vm_stop(QemuVm *vm, int64_t deadline_us, struct nbx_error *err);

/* The state tracked from QMP events and QEMU's exit; *@reason (may be NULL) to g_free. */
int32_t qemu_vm_state(QemuVm *vm, char **reason);

/* True when the guest is PAUSED because someone else stopped it while it ran. */
bool qemu_vm_pause_is_foreign(QemuVm *vm);

/* The ERROR reason for a query-status status that is a crash, else NULL. */
const char *qemu_vm_error_status_reason(const char *status);

/*
 * True when no QEMU of this process runs the machine but one that a dead
 * daemon started still does (`stop` kills it). A dead one's leftover files
 * are removed on the way.
 */
bool qemu_vm_leftover_running(QemuVm *vm);

/* Runs one QMP command against the running QEMU; *@result as in qmp_client_execute. */
bool qemu_vm_execute(QemuVm *vm, const char *command, JsonObject *arguments, int64_t deadline_us,
		     JsonNode **result, struct nbx_error *err);
