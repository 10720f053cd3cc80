/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A snapshot session: the machine's QEMU started from a generation on a
 * writable overlay in the session's work_dir, with a VNC console, files
 * handed to the guest on hot-plugged read-only disks, and in the end either
 * committed (memory and flattened disk written as a new generation) or
 * rolled back.
 *
 * The QEMU is an ordinary launch of the machine's QemuVm (qemu_vm.h) whose
 * files all live in work_dir, with its run record there too: after a
 * daemon restart, rollback finds the QEMU (if it outlived the daemon) by
 * that record and ends it.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

#include "machine_info.h"
#include "qemu_binary.h"
#include "qemu_vm.h"

typedef struct SnapshotSession SnapshotSession;

/*
 * Starts @vm from @from (restored, or booted when @cold_boot) as a session
 * in @work_dir, and writes its console's address into @console. NULL with
 * @err set and nothing running on failure.
 */
SnapshotSession *snapshot_session_begin(QemuVm *vm, MachineInfo *from, const char *work_dir,
					bool cold_boot, char *console, size_t console_size,
					int64_t deadline_us, struct nbx_error *err);

void snapshot_session_free(SnapshotSession *session);

/* Whether @session is the one running in @work_dir. */
bool snapshot_session_is(const SnapshotSession *session, const char *work_dir);

/* Hands @paths to the guest on a new read-only disk. */
bool snapshot_session_copy_in(SnapshotSession *session, QemuVm *vm, const char *const *paths,
			      int64_t deadline_us, struct nbx_error *err);

/*
 * Writes the session as a generation into @new_dir and stops QEMU. On
 * failure the guest runs on (when it still can) and @err says why.
 */
bool snapshot_session_commit(SnapshotSession *session, QemuVm *vm, QemuBinary *binary,
			     const char *new_dir, int64_t deadline_us, struct nbx_error *err);

/*
 * Ends whatever runs of the session in @work_dir: @vm's QEMU when it is
 * that session's, else a QEMU its record in @work_dir names (one a dead
 * daemon left). Removes nothing outside @work_dir.
 */
bool snapshot_session_rollback(QemuVm *vm, const struct nbx_host *host, const char *machine,
			       const char *work_dir, struct nbx_error *err);
