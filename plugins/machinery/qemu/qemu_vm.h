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
	/* restore_method = "template": restore from memory templates where a guest can. */
	bool templates;
	/* Where memory templates live (memory_template.h). */
	char *template_dir;
	/* Where the blank overlays of base disks live (overlay.h). */
	char *blank_dir;
	/* qemu_uid_base: each machine's QEMU user (qemu_identity.h); 0: the daemon's. */
	int64_t uid_base;
} QemuSettings;

typedef struct QemuVm QemuVm;

QemuVm *qemu_vm_new(const QemuSettings *settings, struct nbx_machine *machine);
/* Main thread, with the machine stopped (the core stops machines before shutdown). */
void qemu_vm_free(QemuVm *vm);

/* Replaces the parsed machineinfo (check_machine re-reads it each time). */
void qemu_vm_set_info(QemuVm *vm, MachineInfo *info);
/*
 * The machine's generation 0: @path (its `machineinfo` key) loaded once.
 * NULL with @err set: NOT_FOUND when @path is NULL (the machine takes its
 * snapshot from an import), INVALID when the file is unusable. Borrowed.
 */
MachineInfo *qemu_vm_info(QemuVm *vm, const char *path, struct nbx_error *err);

/* A session keeps these in its work_dir: */
#define QEMU_VM_SESSION_QMP "qmp.sock"
#define QEMU_VM_SESSION_LOG "qemu.log"
#define QEMU_VM_SESSION_RECORD "qemu.run"

/* What a launch does with the guest's memory. */
typedef enum {
	/* None: a cold boot from the disk. */
	QEMU_MEMORY_BOOT = 0,
	/* Load the description's memory_snapshot, a classic stream (decompressed). */
	QEMU_MEMORY_STREAM,
	/*
	 * Map @memory_file private (memory-backend-file share=off) and load the
	 * device state of @state_file with x-ignore-shared: a memory template.
	 */
	QEMU_MEMORY_TEMPLATE,
	/*
	 * Load memory_snapshot into @memory_file mapped shared, so QEMU writes
	 * the RAM into it, and keep the guest paused (-S): making a template.
	 * The guest's network devices get taps of their own, attached nowhere.
	 */
	QEMU_MEMORY_CONVERT,
} QemuMemory;

/* How to start QEMU. */
typedef struct {
	/* The description to start from; the VM keeps a reference until stopped. */
	MachineInfo *info;
	QemuMemory memory;
	/* QEMU_MEMORY_TEMPLATE and _CONVERT: the RAM file, and its size in MiB. */
	const char *memory_file;
	int64_t memory_mb;
	/* QEMU_MEMORY_TEMPLATE: the device state stream. */
	const char *state_file;
	/*
	 * NULL for an analysis run: overlay in overlay_dir, socket, log and
	 * record in the run dir. Else a directory of its own (a snapshot
	 * session's work_dir, a template's scratch dir), which gets them all
	 * (QEMU_VM_SESSION_*).
	 */
	const char *session_dir;
	/* NULL-terminated, or NULL: more QEMU arguments (a session's console). */
	const char *const *extra_args;
	/*
	 * Start QEMU waiting for its memory and return (a prepared run):
	 * qemu_vm_resume() loads it later. The machine stays POWEROFF to the
	 * core meanwhile.
	 */
	bool prepare_only;
} QemuLaunch;

/* Starts QEMU on a fresh overlay; on failure nothing of it is left. */
bool qemu_vm_launch(QemuVm *vm, const QemuLaunch *launch, int64_t deadline_us,
		    struct nbx_error *err);

/* A prepared launch waits for its memory: qemu_vm_resume() may follow. */
bool qemu_vm_prepared(QemuVm *vm);

/*
 * Loads the memory of a prepared launch and runs the guest. On failure
 * nothing of the launch is left.
 */
bool qemu_vm_resume(QemuVm *vm, int64_t deadline_us, struct nbx_error *err);

/*
 * A VM of the plugin's own for @machine's description (a template's
 * conversion): named @name in messages, and the core never hears of its
 * state. @machine must outlive it.
 */
QemuVm *qemu_vm_new_private(const QemuSettings *settings, struct nbx_machine *machine);

/* quit, SIGKILL after stop_timeout, then removes what the launch made. */
bool qemu_vm_stop(QemuVm *vm, int64_t deadline_us, struct nbx_error *err);

/* SIGKILLs QEMU if it runs and removes what the launch made; no grace, nothing asked. */
void qemu_vm_kill(QemuVm *vm);

const QemuSettings *qemu_vm_settings(QemuVm *vm);
/* The machine's network namespace (ABI 1.2), or NULL: the daemon's. */
const char *qemu_vm_network_namespace(QemuVm *vm);
struct nbx_machine *qemu_vm_machine(QemuVm *vm);

/* QEMU runs and its QMP connection is up. */
bool qemu_vm_running(QemuVm *vm);
/* The work_dir of the launch until it is stopped, when it is a session; else NULL. */
const char *qemu_vm_session_dir(QemuVm *vm);
/* The launch's overlay, or NULL. */
const char *qemu_vm_overlay(QemuVm *vm);
/* The last line QEMU wrote (g_free). */
char *qemu_vm_last_words(QemuVm *vm);

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
/* The same, passing descriptor @pass_fd (getfd, add-fd). */
bool qemu_vm_execute_fd(QemuVm *vm, const char *command, JsonObject *arguments, int pass_fd,
			int64_t deadline_us, JsonNode **result, struct nbx_error *err);

/* Waits for DEVICE_DELETED of device @id (since the launch); false on timeout or QEMU's exit. */
bool qemu_vm_wait_device_deleted(QemuVm *vm, const char *id, int64_t deadline_us);

/*
 * Writes the paused guest's state as a migration stream into @fd (taken:
 * closed here, so the reader sees the end of the stream when QEMU is
 * done), waiting for the end by @deadline_us; a migration still running
 * then is cancelled. Afterwards QEMU is "postmigrate": `cont` resumes it.
 * With @ignore_shared, RAM mapped shared stays out (a template's state).
 */
bool qemu_vm_save_memory(QemuVm *vm, int fd, bool ignore_shared, int64_t deadline_us,
			 struct nbx_error *err);
