/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "snapshots.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "generation.h"
#include "libvirt_error.h"
#include "vnc_console.h"

/* ---- which snapshot a generation is --------------------------------------- */

static const char *
dsn_of_op(const Op *op)
{
	return lv_connection_dsn(op->m->connection);
}

/* Reads @dir's generation file, or fails naming it: NOT_FOUND without one, INVALID when bad. */
static bool
read_generation(Libvirt *lv, const char *dir, LvGeneration *gen, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;

	if (lv_generation_read(dir, gen, &error))
		return true;
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		lv->host->error_set(lv->host, err, NBX_ERROR_NOT_FOUND,
				    "generation %s has no %s: it was not made by the libvirt "
				    "machinery",
				    dir, LV_GENERATION_FILE);
	else
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID, "generation %s: %s", dir,
				    error->message);
	return false;
}

static virDomainSnapshotPtr
generation_snapshot(Libvirt *lv, Op *op, const char *dir, struct nbx_error *err)
{
	const struct nbx_machine *machine = op->m->machine;
	const char *dsn = dsn_of_op(op);
	virDomainSnapshotPtr snapshot = NULL;
	LvGeneration gen;

	if (!read_generation(lv, dir, &gen, err))
		return NULL;
	if (strcmp(gen.domain, machine->label) != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID,
				    "generation %s is snapshot \"%s\" of domain %s, but machine %s "
				    "is domain %s: a libvirt snapshot restores only the domain it "
				    "was taken of",
				    dir, gen.snapshot, gen.domain, machine->name, machine->label);
		lv_generation_clear(&gen);
		return NULL;
	}
	/*
	 * By name on the machine's own connection: a dsn spelled another way
	 * ("qemu+unix:///system") reaches the same libvirt and finds it there.
	 */
	snapshot = virDomainSnapshotLookupByName(op->dom, gen.snapshot, 0);
	if (snapshot == NULL && lv_error_last_code() == VIR_ERR_NO_DOMAIN_SNAPSHOT)
		lv->host->error_set(lv->host, err, NBX_ERROR_NOT_FOUND,
				    "snapshot \"%s\" of domain %s on %s is gone (generation %s%s%s): "
				    "libvirt no longer has it, so this generation cannot be "
				    "restored; was it deleted outside nestbox?",
				    gen.snapshot, gen.domain, dsn, dir,
				    strcmp(gen.dsn, dsn) != 0 ? ", made on " : "",
				    strcmp(gen.dsn, dsn) != 0 ? gen.dsn : "");
	else if (snapshot == NULL)
		lv_error_set(lv->host, err, "snapshot \"%s\" of domain %s on %s (generation %s)",
			     gen.snapshot, gen.domain, dsn, dir);
	lv_generation_clear(&gen);
	return snapshot;
}

virDomainSnapshotPtr
lv_generation0_snapshot(Libvirt *lv, const struct nbx_machine *machine, virDomainPtr dom,
			const char *dsn, struct nbx_error *err)
{
	virDomainSnapshotPtr snapshot;

	if (machine->snapshot != NULL) {
		snapshot = virDomainSnapshotLookupByName(dom, machine->snapshot, 0);
		if (snapshot == NULL)
			lv_error_set(lv->host, err, "snapshot \"%s\" of domain %s on %s",
				     machine->snapshot, machine->label, dsn);
		return snapshot;
	}
	snapshot = virDomainSnapshotCurrent(dom, 0);
	if (snapshot == NULL) {
		lv_error_set(lv->host, err, "current snapshot of domain %s on %s", machine->label,
			     dsn);
		return NULL;
	}
	while (g_str_has_prefix(virDomainSnapshotGetName(snapshot), LV_GENERATION_PREFIX)) {
		virDomainSnapshotPtr parent = virDomainSnapshotGetParent(snapshot, 0);

		if (parent == NULL && lv_error_last_code() == VIR_ERR_NO_DOMAIN_SNAPSHOT)
			lv->host->error_set(lv->host, err, NBX_ERROR_NOT_FOUND,
					    "domain %s on %s: its current snapshot \"%s\" and all "
					    "its parents were made by snapshot commits; the "
					    "snapshot before them (generation 0) is gone. Name one "
					    "with snapshot = \"...\"",
					    machine->label, dsn, virDomainSnapshotGetName(snapshot));
		else if (parent == NULL)
			lv_error_set(lv->host, err, "parent of snapshot \"%s\" of domain %s on %s",
				     virDomainSnapshotGetName(snapshot), machine->label, dsn);
		virDomainSnapshotFree(snapshot);
		snapshot = parent;
		if (snapshot == NULL)
			return NULL;
	}
	return snapshot;
}

virDomainSnapshotPtr
lv_snapshot_of(Libvirt *lv, Op *op, const char *generation_dir, struct nbx_error *err)
{
	if (generation_dir != NULL)
		return generation_snapshot(lv, op, generation_dir, err);
	return lv_generation0_snapshot(lv, op->m->machine, op->dom, dsn_of_op(op), err);
}

bool
lv_revert_and_run(Libvirt *lv, Op *op, virDomainSnapshotPtr snapshot, unsigned int revert_flags,
		  const struct nbx_call *call, struct nbx_error *err)
{
	const char *label = op->m->machine->label;
	int state = 0, reason = 0;

	if (virDomainRevertToSnapshot(snapshot, revert_flags) < 0) {
		lv_error_set(lv->host, err, "revert of domain %s on %s to snapshot \"%s\"", label,
			     dsn_of_op(op), virDomainSnapshotGetName(snapshot));
		return false;
	}
	if (lv_past_deadline(lv, call, "after the revert", err))
		return false;
	/* A snapshot taken powered off comes back off: boot it from there. */
	if (virDomainGetState(op->dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_SHUTOFF &&
	    virDomainCreate(op->dom) < 0) {
		lv_error_set(lv->host, err, "start of domain %s on %s after the revert", label,
			     dsn_of_op(op));
		return false;
	}
	return true;
}

/* ---- sessions ------------------------------------------------------------- */

/* A session's domain must run: a paused one cannot be worked in. Tells the core. */
static bool
session_running(Libvirt *lv, Op *op, const char *how, struct nbx_error *err)
{
	LvDomainState state = { 0 };
	bool ok;

	if (!lv_connection_report(op->m->connection, op->m, op->dom, &state, err))
		return false;
	ok = state.state == NBX_MACHINE_RUNNING;
	if (!ok)
		lv->host->error_set(lv->host, err, NBX_ERROR_HYPERVISOR,
				    "domain %s on %s is %s after %s, not running",
				    op->m->machine->label, dsn_of_op(op), state.description, how);
	lv_domain_state_clear(&state);
	return ok;
}

/*
 * NBX_SNAPSHOT_COLD_BOOT. An internal snapshot keeps its disk inside the
 * domain's qcow2 images, and libvirt reverts disk and memory together: the
 * disk as it stands holds whatever the last run (an analysis) wrote to it.
 * So the generation's disk is reached by a revert that leaves the CPUs
 * paused (the memory is loaded, never run), then the plug is pulled and
 * the domain boots from that disk, as after a power cut. When libvirt
 * cannot load the memory at all, there is no way to the generation's disk
 * through libvirt, and booting the disk as it stands would boot the last
 * analysis: that fails, saying so.
 */
static bool
cold_boot(Libvirt *lv, Op *op, virDomainSnapshotPtr snapshot, const struct nbx_call *call,
	  struct nbx_error *err)
{
	const char *label = op->m->machine->label;
	const char *name = virDomainSnapshotGetName(snapshot);

	if (!lv_power_off(lv, op, err))
		return false;
	if (virDomainRevertToSnapshot(snapshot, VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED) < 0) {
		lv_error_set(lv->host, err,
			     "cold boot of domain %s on %s: libvirt reverts the disk of snapshot "
			     "\"%s\" only together with its memory, and that revert failed (the "
			     "disk as it stands holds the last run's changes and is not booted)",
			     label, dsn_of_op(op), name);
		return false;
	}
	if (!lv_power_off(lv, op, err) || lv_past_deadline(lv, call, "before the cold boot", err))
		return false;
	if (virDomainCreate(op->dom) < 0) {
		lv_error_set(lv->host, err, "cold boot of domain %s on %s from the disk of \"%s\"",
			     label, dsn_of_op(op), name);
		return false;
	}
	return true;
}

static void
log_no_console(Libvirt *lv, Op *op, const LvVnc *vnc)
{
	const char *label = op->m->machine->label;
	const char *dsn = dsn_of_op(op);

	if (vnc->socket != NULL)
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "domain %s on %s: VNC listens on the unix socket %s, not a port: "
			      "the session has no vnc:// console",
			      label, dsn, vnc->socket);
	else if (vnc->found)
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "domain %s on %s: VNC has no port allocated: the session has no "
			      "console",
			      label, dsn);
	else if (vnc->other != NULL)
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "domain %s on %s has %s graphics and no VNC: the session has no "
			      "console",
			      label, dsn, vnc->other);
	else
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "domain %s on %s has no VNC graphics: the session has no console "
			      "(add <graphics type='vnc'/> to the domain for one)",
			      label, dsn);
}

/* session->console from the running domain's live XML; empty, with a log line, when none. */
static void
fill_console(Libvirt *lv, Op *op, struct nbx_snapshot_session *session)
{
	const char *dsn = dsn_of_op(op);
	g_autofree char *remote_host = lv_dsn_remote_host(dsn);
	g_autoptr(GError) error = NULL;
	g_autofree char *console = NULL;
	LvVnc vnc = { 0 };
	char *xml = virDomainGetXMLDesc(op->dom, 0);

	session->console[0] = '\0';
	if (xml == NULL) {
		lv->host->log(lv->host, NBX_LOG_WARNING,
			      "domain %s on %s: no XML to find its console in: %s",
			      op->m->machine->label, dsn, virGetLastErrorMessage());
		virResetLastError();
		return;
	}
	if (!lv_vnc_parse(xml, &vnc, &error)) {
		lv->host->log(lv->host, NBX_LOG_WARNING,
			      "domain %s on %s: cannot read its XML for the console: %s",
			      op->m->machine->label, dsn, error->message);
		free(xml);
		return;
	}
	free(xml);
	console = lv_vnc_console(&vnc, remote_host);
	if (console == NULL)
		log_no_console(lv, op, &vnc);
	else if (strlen(console) >= sizeof session->console)
		lv->host->log(lv->host, NBX_LOG_WARNING,
			      "domain %s on %s: console address too long to hand over: %s",
			      op->m->machine->label, dsn, console);
	else
		g_strlcpy(session->console, console, sizeof session->console);
	if (console != NULL && remote_host != NULL && vnc.address != NULL &&
	    (g_str_has_prefix(vnc.address, "127.") || strcmp(vnc.address, "::1") == 0))
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "domain %s: VNC listens on the loopback of %s's host: reach %s "
			      "through an SSH tunnel to that host",
			      op->m->machine->label, dsn, console);
	lv_vnc_clear(&vnc);
}

static bool
begin_locked(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_snapshot_session *session, struct nbx_error *err)
{
	bool cold = (call->flags & NBX_SNAPSHOT_COLD_BOOT) != 0;
	virDomainSnapshotPtr snapshot = NULL;
	g_autofree char *name = NULL;
	Op op = { 0 };
	bool ok = lv_op_begin(lv, machine, call, NBX_SNAPSHOT_COLD_BOOT, &op, err);

	session->console[0] = '\0';
	if (ok)
		snapshot = lv_snapshot_of(lv, &op, session->from_dir, err);
	ok = snapshot != NULL;
	if (ok) {
		name = g_strdup(virDomainSnapshotGetName(snapshot));
		ok = !lv_past_deadline(lv, call, "before the session's start", err);
	}
	/* A snapshot taken paused comes back running too: an operator works in the session. */
	if (ok)
		ok = cold ? cold_boot(lv, &op, snapshot, call, err)
			  : lv_revert_and_run(lv, &op, snapshot, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
					      call, err);
	ok = ok && session_running(lv, &op, cold ? "the cold boot" : "the revert", err);
	if (!ok && op.dom != NULL)
		lv_undo_start(&op);
	if (ok) {
		fill_console(lv, &op, session);
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "machine %s: session runs on domain %s on %s, %s snapshot \"%s\" "
			      "(%s)%s%s",
			      machine->name, machine->label, dsn_of_op(&op),
			      cold ? "booted from the disk of" : "reverted to", name,
			      session->from_dir != NULL ? session->from_dir : "generation 0",
			      session->console[0] != '\0' ? "; console " : "", session->console);
	}
	if (snapshot != NULL)
		virDomainSnapshotFree(snapshot);
	lv_op_end(&op);
	return ok;
}

bool
lv_snapshot_begin(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		  struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Libvirt *lv = instance;
	LvMachine *m = lv_machine_of(lv, machine);
	bool ok;

	g_mutex_lock(&m->start_lock);
	ok = begin_locked(lv, machine, call, session, err);
	g_mutex_unlock(&m->start_lock);
	return ok;
}

/* A domain the core may commit: running, or paused by the operator (it restores paused). */
static bool
session_alive(Libvirt *lv, Op *op, struct nbx_error *err)
{
	LvDomainState state = { 0 };
	bool ok;

	if (!lv_connection_report(op->m->connection, op->m, op->dom, &state, err))
		return false;
	ok = state.state == NBX_MACHINE_RUNNING || state.state == NBX_MACHINE_PAUSED;
	if (!ok)
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID,
				    "domain %s on %s is %s: there is no running session to commit; "
				    "the current generation stays as it is",
				    op->m->machine->label, dsn_of_op(op), state.description);
	lv_domain_state_clear(&state);
	return ok;
}

/*
 * Deletes a snapshot a failed commit made; false when it could not be,
 * which is only logged: the commit's own error is what the operator sees.
 */
static bool
forget_snapshot(Libvirt *lv, Op *op, virDomainSnapshotPtr snapshot)
{
	if (virDomainSnapshotDelete(snapshot, 0) == 0)
		return true;
	lv->host->log(lv->host, NBX_LOG_WARNING,
		      "snapshot \"%s\" of domain %s on %s, made by a commit that failed, cannot "
		      "be deleted: %s; delete it with virsh snapshot-delete",
		      virDomainSnapshotGetName(snapshot), op->m->machine->label, dsn_of_op(op),
		      virGetLastErrorMessage());
	virResetLastError();
	return false;
}

static virDomainSnapshotPtr
create_snapshot(Libvirt *lv, Op *op, const char *name, struct nbx_error *err)
{
	const struct nbx_machine *machine = op->m->machine;
	/*
	 * Memory explicitly internal: never a disk-only snapshot, nor an
	 * external one (libvirt cannot revert those before 9.7). The disks
	 * follow the memory: internal, in their qcow2 images.
	 */
	g_autofree char *xml = g_markup_printf_escaped(
		"<domainsnapshot><name>%s</name>"
		"<description>nestbox snapshot generation of machine %s</description>"
		"<memory snapshot='internal'/></domainsnapshot>",
		name, machine->name);
	virDomainSnapshotPtr snapshot = virDomainSnapshotCreateXML(op->dom, xml, 0);

	if (snapshot == NULL)
		lv_error_set(lv->host, err, "snapshot \"%s\" of domain %s on %s (disk and memory)",
			     name, machine->label, dsn_of_op(op));
	return snapshot;
}

bool
lv_snapshot_commit(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Libvirt *lv = instance;
	gint64 start = g_get_monotonic_time();
	g_autofree char *name = lv_generation_snapshot_name(machine->name);
	g_autofree char *file = NULL;
	virDomainSnapshotPtr snapshot = NULL;
	g_autoptr(GError) error = NULL;
	bool written = false, leaked = false;
	Op op = { 0 };
	bool ok = lv_op_begin(lv, machine, call, 0, &op, err);

	if (ok && session->new_dir == NULL) {
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID,
				    "no directory for the new generation");
		ok = false;
	}
	ok = ok && session_alive(lv, &op, err) &&
	     !lv_past_deadline(lv, call, "before the snapshot", err);
	/*
	 * The file first: a directory whose commit was cut short names the
	 * snapshot it may have left in libvirt, so snapshot_remove finds it.
	 */
	if (ok) {
		LvGeneration gen = { .dsn = (char *)dsn_of_op(&op), .domain = (char *)machine->label,
				     .snapshot = name, .memory = true };

		file = g_build_filename(session->new_dir, LV_GENERATION_FILE, NULL);
		written = ok = lv_generation_write(session->new_dir, &gen, &error);
		if (!ok)
			lv->host->error_set(lv->host, err, NBX_ERROR_IO,
					    "generation file of domain %s: %s", machine->label,
					    error->message);
	}
	if (ok) {
		snapshot = create_snapshot(lv, &op, name, err);
		ok = snapshot != NULL;
	}
	/* On failure the session runs on: the operator may retry or roll back. */
	if (ok && !lv_power_off(lv, &op, err)) {
		leaked = !forget_snapshot(lv, &op, snapshot);
		ok = false;
	}
	/* Kept while it names a snapshot that could not be deleted. */
	if (!ok && written && !leaked)
		g_unlink(file);
	if (ok)
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "machine %s: committed domain %s on %s as snapshot \"%s\" in %.1f s",
			      machine->name, machine->label, dsn_of_op(&op), name,
			      (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
	if (snapshot != NULL)
		virDomainSnapshotFree(snapshot);
	lv_op_end(&op);
	return ok;
}

bool
lv_snapshot_rollback(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Libvirt *lv = instance;
	struct nbx_error lookup = { 0 };
	Op op = { 0 };
	bool ok;

	if (lv_op_begin(lv, machine, call, 0, &op, &lookup)) {
		ok = lv_power_off(lv, &op, err);
	} else if (op.conn != NULL && lookup.code == NBX_ERROR_NOT_FOUND) {
		/* Nothing of a session runs on a domain that is gone. */
		lv->host->log(lv->host, NBX_LOG_INFO, "machine %s: rollback: %s; nothing to stop",
			      machine->name, lookup.message);
		ok = true;
	} else {
		*err = lookup;
		ok = false;
	}
	if (ok)
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "machine %s: session on domain %s rolled back; its changes are gone "
			      "with the next restore",
			      machine->name, machine->label);
	lv_op_end(&op);
	return ok;
}

/* ---- old generations ---------------------------------------------------- */

/*
 * Deletes @gen's snapshot on @conn; one that is gone already (or its
 * domain) is fine. Never from a running domain: deleting an internal
 * snapshot stalls the guest (an analysis) while QEMU frees its clusters,
 * and libvirt 9.0 crashes when the snapshot has a disk the running domain
 * lacks. That is NBX_ERROR_BUSY: the core keeps the generation and tries
 * again later (after a commit, a rollback, at start-up), when it is off.
 */
static bool
delete_generation(Libvirt *lv, virConnectPtr conn, const char *dsn, const LvGeneration *gen,
		  const char *dir, struct nbx_error *err)
{
	virDomainSnapshotPtr snapshot = NULL;
	virDomainPtr dom = virDomainLookupByName(conn, gen->domain);
	bool ok = true;
	int code;

	if (dom != NULL && virDomainIsActive(dom) == 1) {
		lv->host->error_set(lv->host, err, NBX_ERROR_BUSY,
				    "domain %s on %s is running: snapshot \"%s\" (generation %s) is "
				    "deleted once it is off",
				    gen->domain, dsn, gen->snapshot, dir);
		virDomainFree(dom);
		return false;
	}
	if (dom != NULL)
		snapshot = virDomainSnapshotLookupByName(dom, gen->snapshot, 0);
	if (snapshot != NULL && virDomainSnapshotDelete(snapshot, 0) == 0) {
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "deleted snapshot \"%s\" of domain %s on %s (generation %s)",
			      gen->snapshot, gen->domain, dsn, dir);
		goto out;
	}
	code = lv_error_last_code();
	if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
		lv->host->log(lv->host, NBX_LOG_INFO,
			      "snapshot \"%s\" of domain %s on %s (generation %s) is gone already%s%s",
			      gen->snapshot, gen->domain, dsn, dir,
			      strcmp(gen->dsn, dsn) != 0 ? "; it was made on " : "",
			      strcmp(gen->dsn, dsn) != 0 ? gen->dsn : "");
		virResetLastError();
		goto out;
	}
	lv_error_set(lv->host, err, "deletion of snapshot \"%s\" of domain %s on %s (generation %s)",
		     gen->snapshot, gen->domain, dsn, dir);
	ok = false;
out:
	if (snapshot != NULL)
		virDomainSnapshotFree(snapshot);
	if (dom != NULL)
		virDomainFree(dom);
	return ok;
}

/*
 * Runs without the core's machine lock, maybe while the machine runs an
 * analysis: it touches only the snapshot the generation names (of the
 * domain the file names), and holds the machine's start_lock so the domain
 * does not start between "it is off" and the deletion.
 */
bool
lv_snapshot_remove(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   const char *generation_dir, struct nbx_error *err)
{
	Libvirt *lv = instance;
	struct nbx_error read_err = { 0 };
	LvGeneration gen;
	LvMachine *m;
	virConnectPtr conn;
	bool ok;

	if (call->flags != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				    call->flags);
		return false;
	}
	if (!read_generation(lv, generation_dir, &gen, &read_err)) {
		if (read_err.code != NBX_ERROR_NOT_FOUND) {
			*err = read_err;
			return false;
		}
		/* Nothing names a snapshot, so nothing of it is in libvirt. */
		lv->host->log(lv->host, NBX_LOG_WARNING, "%s; nothing to delete in libvirt",
			      read_err.message);
		return true;
	}
	m = lv_machine_of(lv, machine);
	g_mutex_lock(&m->start_lock);
	conn = lv_connection_get(m->connection, err);
	ok = conn != NULL &&
	     delete_generation(lv, conn, lv_connection_dsn(m->connection), &gen, generation_dir, err);
	if (conn != NULL)
		virConnectClose(conn);
	g_mutex_unlock(&m->start_lock);
	lv_generation_clear(&gen);
	return ok;
}
