/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The record a run leaves in the plugin's run directory while QEMU runs,
 * so that a daemon killed with -9 can be cleaned up after by the next one:
 * `<machine>.run` names the QEMU process (pid and start time, so a
 * recycled pid is never taken for it), its overlay and QMP socket, and the
 * daemon process that started it.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	char *machine;
	/* 0 while QEMU has not been started yet (the overlay exists already). */
	int64_t pid;
	/* Field 22 of /proc/PID/stat: clock ticks after boot. */
	uint64_t pid_start_time;
	char *overlay;
	char *qmp_socket;
	int64_t owner_pid;
	uint64_t owner_start_time;
} RunRecord;

char *run_record_path(const char *run_dir, const char *machine);

/* Writes @record to @path atomically (a crash leaves the old one or the new one). */
bool run_record_write(const char *path, const RunRecord *record, GError **error);

/* NULL with @error set when @path is missing or unreadable. */
RunRecord *run_record_load(const char *path, GError **error);

void run_record_free(RunRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RunRecord, run_record_free)

/* The start time of process @pid; false when it does not exist (or is a zombie). */
bool process_start_time(int64_t pid, uint64_t *start_time);

/* True when process @pid lives and started at @start_time: the same process. */
bool process_is(int64_t pid, uint64_t start_time);

/* A record of this process, for the run of @machine. */
void run_record_init_owner(RunRecord *record);

/* True when the daemon that wrote @record still runs (this one included). */
bool run_record_owner_alive(const RunRecord *record);

/*
 * Cleans up after the run @record describes, whose daemon is gone: kills
 * its QEMU if that still runs (SIGTERM, SIGKILL after 2 s), removes the
 * overlay and socket, then the record at @path, and logs what it did.
 * False when QEMU could not be killed: then the record stays.
 */
bool run_record_recover(const struct nbx_host *host, const char *path, const RunRecord *record);

/* Recovers every record in @run_dir whose daemon is gone. Main thread, at init. */
void run_record_recover_all(const struct nbx_host *host, const char *run_dir);
