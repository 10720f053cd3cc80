/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshot generations on libvirt (nestbox/machinery.h, "DOC: snapshots").
 *
 * libvirt keeps the snapshots; a generation directory only names one
 * (generation.h). A commit takes a libvirt snapshot of the running domain
 * WITH its memory: on the QEMU driver with qcow2 disks an internal
 * snapshot, stored inside the domain's qcow2 images on the hypervisor's
 * host. Generation 0 is the snapshot the machine's configuration names
 * (`snapshot`, else the domain's current snapshot).
 *
 * A session is nothing but the running domain: begin reverts it and runs
 * it, commit snapshots and destroys it, rollback destroys it. Its changes
 * go to the qcow2's active state, never into a snapshot, so the previous
 * generation is untouched whatever the session did; the next restore
 * reverts to a snapshot and throws the session's writes away. Nothing of a
 * session lives in the plugin's memory, so every op works after a restart
 * of the daemon, and on a remote dsn (libvirt does it all on that host; the
 * generation file is the only thing written here).
 *
 * An old generation's snapshot is deleted only while its domain is off
 * (snapshot_remove answers NBX_ERROR_BUSY meanwhile): see
 * delete_generation() in snapshots.c.
 *
 * Export and import (snapshot_files, _fingerprint, _import) are not
 * offered: the snapshot lives inside disk images libvirt manages, which
 * this plugin does not own and, on a remote dsn, cannot read.
 * snapshot_copy_in is not offered either.
 */
#pragma once

#include <libvirt/libvirt.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "domain_op.h"

/*
 * The libvirt snapshot generation @generation_dir names, NULL for generation
 * 0 (virDomainSnapshotFree it). NBX_ERROR_NOT_FOUND, naming the snapshot,
 * domain and dsn, when libvirt no longer has it.
 */
virDomainSnapshotPtr lv_snapshot_of(Libvirt *lv, Op *op, const char *generation_dir,
				    struct nbx_error *err);

/*
 * Generation 0 of @machine on @dom: its `snapshot`, else the domain's
 * current snapshot, or, when that one was made by a commit, its first
 * ancestor that was not (commits and restores of generations move
 * libvirt's "current" pointer; generation 0 must not move with it).
 */
virDomainSnapshotPtr lv_generation0_snapshot(Libvirt *lv, const struct nbx_machine *machine,
					     virDomainPtr dom, const char *dsn,
					     struct nbx_error *err);

/*
 * Reverts @op's domain to @snapshot with virDomainRevertToSnapshot's
 * @revert_flags and boots it when it comes back off (a snapshot taken
 * powered off). Does not check the state it ends in: the caller does.
 */
bool lv_revert_and_run(Libvirt *lv, Op *op, virDomainSnapshotPtr snapshot,
		       unsigned int revert_flags, const struct nbx_call *call,
		       struct nbx_error *err);

bool lv_snapshot_begin(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		       struct nbx_snapshot_session *session, struct nbx_error *err);
bool lv_snapshot_commit(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
			struct nbx_snapshot_session *session, struct nbx_error *err);
bool lv_snapshot_rollback(void *instance, struct nbx_machine *machine,
			  const struct nbx_call *call, struct nbx_snapshot_session *session,
			  struct nbx_error *err);
bool lv_snapshot_remove(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
			const char *generation_dir, struct nbx_error *err);
