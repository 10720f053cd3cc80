/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the parts of QemuVm share: what it is while it runs (qemu_vm_state.c),
 * the process's life (qemu_vm.c) and its migrations (qemu_vm_migration.c),
 * each calling only those before it. Nothing else includes this.
 */
#pragma once

#include <glib.h>

#include "child_process.h"
#include "qemu_vm.h"
#include "qmp_client.h"

struct QemuVm {
	const QemuSettings *settings;
	const struct nbx_host *host;
	struct nbx_machine *machine;
	/* Only touched by machine ops, which never overlap for one machine. */
	MachineInfo *info;
	/* Where an analysis run keeps its socket, log and record (the run dir). */
	char *run_qmp_path;
	char *run_log_path;
	char *run_record_path;
	/* The current (or last) launch, until tear_down: what it started from... */
	MachineInfo *launched;
	/* ...the work_dir of a snapshot session, or NULL for an analysis run... */
	char *session_dir;
	/* ...and its files: in the run dir for a run, in session_dir for a session. */
	char *overlay;
	char *qmp_path;
	char *log_path;
	char *record_path;
	/* What a decompressor feeding the launch says. */
	char *feeder_log;
	/* The launch's record exists: tear_down removes it. */
	bool record_written;
	/* False for a QEMU of the plugin's own (a template's): the core hears nothing of it. */
	bool report;
	/* QEMU runs and waits for its memory (qemu_vm_resume); the core still sees POWEROFF. */
	bool prepared;
	/* The launch's memory: how, and from where (copies of QemuLaunch's). */
	QemuMemory memory;
	char *memory_file;
	char *state_file;
	/* How long the launch's overlay took, for the log. */
	int64_t overlay_us;

	GMutex lock;
	GCond cond;
	/* Guarded by @lock: written by main-thread callbacks, read by ops. */
	int64_t pid;
	bool alive;
	/* The exit callback has seen QEMU go and is still at work. */
	bool exiting;
	int exit_status;
	int32_t state;
	/* Why the machine is in ERROR (or PAUSED); NULL otherwise. */
	char *state_reason;
	/* A STOP arrived while the guest ran and the plugin had not asked for it. */
	bool stopped_while_running;
	/* The guest was paused by someone else (another monitor, a debugger). */
	bool foreign_pause;
	/* The last BLOCK_IO_ERROR that stopped the guest, for the ERROR reason. */
	char *io_error;
	char *migration_status;
	/* Ids of the devices QEMU reported DEVICE_DELETED for since the launch. */
	GPtrArray *deleted_devices;
	/* The decompressor feeding the incoming migration, while it does. */
	ChildProcess *feeder;
	QmpClient *qmp;
};

/* A JSON object of string members: key, value, ..., NULL. */
JsonObject *qemu_vm_arguments(const char *first_key, ...) G_GNUC_NULL_TERMINATED;

/*
 * Turns on MIGRATION events (so nothing polls query-migrate) and sets
 * x-ignore-shared to @ignore_shared: on, a RAM block QEMU maps shared is
 * left out of the stream, and one mapped private (a template's restore)
 * keeps what the file holds.
 */
bool qemu_vm_migration_setup(QemuVm *vm, bool ignore_shared, int64_t deadline_us,
			     struct nbx_error *err);

/*
 * Loads the incoming migration from @fd (taken: closed here), fed by
 * @feeder (a decompressor, or NULL), @what naming its source in messages;
 * false with @err unless it completed by @deadline_us.
 */
bool qemu_vm_migration_load(QemuVm *vm, int fd, ChildProcess *feeder, const char *what,
			    int64_t deadline_us, struct nbx_error *err);
