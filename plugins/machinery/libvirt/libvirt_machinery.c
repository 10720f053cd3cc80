/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "libvirt": drives analysis machines through libvirt, so any hypervisor
 * libvirt speaks is one connection string away: `dsn = "qemu:///system"`
 * for KVM, "xen:///system", "test:///default", "qemu+ssh://host/system".
 *
 * Each machine's `label` is its libvirt domain; `snapshot` names the
 * domain snapshot restore_start reverts to (none: the domain's current
 * snapshot). A machine may carry its own `dsn`, which overrides the
 * plugin's: one configuration file then holds machines of several
 * hypervisors, and the plugin keeps one connection per distinct dsn
 * (connection.h: keepalive, reconnect, lifecycle events).
 *
 * Machine states come from libvirt's domain lifecycle events
 * (NBX_MACHINERY_CAP_STATE_EVENTS); domain_state.h says what each libvirt
 * state means. libvirt calls cannot be interrupted: an op checks its
 * deadline between them, not during one.
 *
 * Snapshot generations (ABI 1.1) are libvirt snapshots that a generation
 * directory names: snapshots.h.
 *
 * Memory templates (the qemu machinery's restore_method = "template") are
 * not possible through libvirt 9.0; plugins/machinery/libvirt/README.md
 * shows why, and the test libvirt-templates pins each reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <nestbox/plugin.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connection.h"
#include "domain_state.h"
#include "dsn.h"
#include "event_loop.h"
#include "libvirt_error.h"
#include "domain_op.h"
#include "libvirt_instance.h"
#include "snapshots.h"

static const char *const restore_methods[] = { "snapshot", "template", NULL };

static const struct nbx_config_field libvirt_fields[] = {
	{ .name = "dsn", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_NON_EMPTY,
	  .default_value = "qemu:///system",
	  .doc = "libvirt connection URI of the machines that name none themselves: "
		 "qemu:///system (KVM), xen:///system, qemu+ssh://root@host/system, ..." },
	{ .name = "keepalive_interval", .type = NBX_FIELD_INTEGER, .min = 0, .max = 3600,
	  .default_value = "5",
	  .doc = "Seconds between keepalive probes on remote connections; 0 turns keepalive off" },
	{ .name = "keepalive_count", .type = NBX_FIELD_INTEGER, .min = 1, .max = 100,
	  .default_value = "3",
	  .doc = "Keepalive probes that may go unanswered before a connection counts as lost" },
	{ .name = "reconnect_interval", .type = NBX_FIELD_INTEGER, .min = 1, .max = 3600,
	  .default_value = "2",
	  .doc = "Seconds between attempts to reopen a lost connection (a restarted libvirtd)" },
	{ .name = "restore_method", .type = NBX_FIELD_ENUM, .choices = restore_methods,
	  .default_value = "snapshot",
	  .doc = "How restore_start restores: \"snapshot\" reverts the machine's libvirt snapshot. "
		 "\"template\" (RAM mapped from a file, as the qemu machinery does) is refused: "
		 "libvirt 9.0 cannot express it (plugins/machinery/libvirt/README.md)" },
	{ 0 },
};
static const struct nbx_config_schema libvirt_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = libvirt_fields,
};

static const struct nbx_config_field libvirt_machine_fields[] = {
	{ .name = "dsn", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_NON_EMPTY,
	  .doc = "libvirt connection URI of this machine, instead of the plugin's dsn: machines "
		 "of two hypervisors in one file" },
	{ 0 },
};
static const struct nbx_config_schema libvirt_machine_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = libvirt_machine_fields,
};

/* ---- instance ----------------------------------------------------------- */

static bool
machine_enabled(Libvirt *lv, const struct nbx_config_node *node)
{
	bool enabled = true;

	lv->host->config_boolean(lv->host, node, "enabled", &enabled);
	return enabled;
}

/* One connection per distinct dsn of the enabled machines; the plugin's when there are none. */
static void
make_connections(Libvirt *lv)
{
	size_t n = lv->host->config_list_length(lv->host, NULL, "machines");
	size_t made = 0;

	g_mutex_lock(&lv->lock);
	for (size_t i = 0; i < n; i++) {
		const struct nbx_config_node *node =
			lv->host->config_list_group(lv->host, NULL, "machines", i);
		const char *own = node != NULL ? lv->host->config_string(lv->host, node, "dsn") : NULL;

		if (node == NULL || !machine_enabled(lv, node))
			continue;
		lv_connection_for_locked(lv, lv_dsn_of_node(lv, node), own != NULL ? node : NULL);
		made++;
	}
	if (made == 0)
		lv_connection_for_locked(lv, lv->dsn, NULL);
	g_mutex_unlock(&lv->lock);
}

/* The core validated the section: a key with a default has its value (the schema's). */
static int64_t
integer_setting(const struct nbx_host *host, const char *key)
{
	int64_t value = 0;

	host->config_integer(host, NULL, key, &value);
	return value;
}

static bool
libvirt_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	const char *reason = NULL;
	Libvirt *lv;

	if (!lv_event_loop_ensure(&reason)) {
		host->error_set(host, err, NBX_ERROR_HYPERVISOR, "cannot start libvirt's event loop: %s",
				reason);
		return false;
	}
	lv = g_new0(Libvirt, 1);
	lv->host = host;
	lv->dsn = host->config_string(host, NULL, "dsn");
	if (lv->dsn == NULL)
		lv->dsn = "qemu:///system";
	lv->settings.host = host;
	lv->settings.keepalive_interval = (int)integer_setting(host, "keepalive_interval");
	lv->settings.keepalive_count = (unsigned)integer_setting(host, "keepalive_count");
	lv->settings.reconnect_interval_ms =
		(unsigned)integer_setting(host, "reconnect_interval") * 1000;
	g_mutex_init(&lv->lock);
	lv->connections = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)lv_connection_free);
	lv->dsn_nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	lv->machines = g_ptr_array_new_with_free_func(lv_machine_free);
	/* Opened by check, right after: init must not block on a slow hypervisor. */
	make_connections(lv);
	*instance = lv;
	return true;
}

static void
libvirt_shutdown(void *instance)
{
	Libvirt *lv = instance;

	/* Connections first: after that no callback reaches a machine or the host. */
	g_hash_table_unref(lv->connections);
	g_hash_table_unref(lv->dsn_nodes);
	g_ptr_array_unref(lv->machines);
	g_mutex_clear(&lv->lock);
	g_free(lv);
}

/* ---- checks ------------------------------------------------------------- */

static char *
version_text(unsigned long version)
{
	return g_strdup_printf("%lu.%lu.%lu", version / 1000000, version / 1000 % 1000,
			       version % 1000);
}

/* What --check prints for each connection: the hypervisor, its version, libvirt's. */
static void
log_versions(Libvirt *lv, const char *dsn, virConnectPtr conn)
{
	const char *type = virConnectGetType(conn);
	unsigned long hv = 0, lib = 0;
	g_autofree char *hv_text = NULL;
	g_autofree char *lib_text = NULL;

	if (virConnectGetVersion(conn, &hv) < 0)
		hv = 0;
	if (virConnectGetLibVersion(conn, &lib) < 0)
		lib = 0;
	virResetLastError();
	hv_text = hv != 0 ? version_text(hv) : g_strdup("(version unknown)");
	lib_text = lib != 0 ? version_text(lib) : g_strdup("(unknown)");
	lv->host->log(lv->host, NBX_LOG_INFO, "connection %s: hypervisor %s %s, libvirt %s", dsn,
		      type != NULL ? type : "(type unknown)", hv_text, lib_text);
}

/*
 * Memory templates need two things libvirt lacks (plugins/machinery/libvirt/README.md
 * shows each by running it): refused here, before any machine runs.
 */
static void
check_restore_method(Libvirt *lv, struct nbx_check *check)
{
	const char *method = lv->host->config_string(lv->host, NULL, "restore_method");

	if (g_strcmp0(method, "template") != 0)
		return;
	lv->host->check_report(
		lv->host, check, NULL, "restore_method",
		"libvirt (seen with 9.0) cannot restore a domain from a memory template: it never "
		"sets QEMU's x-ignore-shared migration capability, so every save image holds the "
		"guest's RAM and a restore of one without it is refused, and it places the RAM "
		"file itself, new at each start (memory_backing_dir/ID-NAME/pc.ram); use "
		"restore_method = \"snapshot\", or the qemu machinery for templates");
}

static bool
libvirt_check(void *instance, struct nbx_check *check, struct nbx_error *err)
{
	Libvirt *lv = instance;
	const struct nbx_host *host = lv->host;
	g_autoptr(GPtrArray) dsns = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer key, value;

	g_mutex_lock(&lv->lock);
	g_hash_table_iter_init(&iter, lv->connections);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(dsns, g_strdup(key));
	g_mutex_unlock(&lv->lock);
	g_ptr_array_sort(dsns, (GCompareFunc)g_strcmp0);
	check_restore_method(lv, check);

	for (guint i = 0; i < dsns->len; i++) {
		const char *dsn = g_ptr_array_index(dsns, i);
		struct nbx_error open_err = { 0 };
		LvConnection *c;
		const struct nbx_config_node *node;
		virConnectPtr conn;

		g_mutex_lock(&lv->lock);
		c = g_hash_table_lookup(lv->connections, dsn);
		g_hash_table_lookup_extended(lv->dsn_nodes, dsn, NULL, &value);
		node = value;
		g_mutex_unlock(&lv->lock);
		conn = lv_connection_get(c, &open_err);
		if (conn == NULL) {
			host->check_report(host, check, node, "dsn", "%s", open_err.message);
			continue;
		}
		log_versions(lv, dsn, conn);
		virConnectClose(conn);
	}
	return true;
}

static char *
snapshot_names(virDomainPtr dom)
{
	virDomainSnapshotPtr *snapshots = NULL;
	int n = virDomainListAllSnapshots(dom, &snapshots, 0);
	GString *names = g_string_new(NULL);

	for (int i = 0; i < n; i++) {
		g_string_append_printf(names, "%s%s", i > 0 ? ", " : "",
				       virDomainSnapshotGetName(snapshots[i]));
		virDomainSnapshotFree(snapshots[i]);
	}
	free(snapshots);
	virResetLastError();
	if (names->len == 0)
		g_string_append(names, "none");
	return g_string_free(names, FALSE);
}

static void
check_snapshot(Libvirt *lv, struct nbx_machine *machine, virDomainPtr dom,
	       struct nbx_check *check)
{
	const struct nbx_host *host = lv->host;
	virDomainSnapshotPtr snapshot;
	g_autofree char *names = NULL;

	if (machine->snapshot == NULL) {
		struct nbx_error resolve = { 0 };

		if (virDomainHasCurrentSnapshot(dom, 0) != 1) {
			names = snapshot_names(dom);
			host->check_report(host, check, machine->config, "snapshot",
					   "machine %s: domain %s has no current snapshot to "
					   "restore; name one with snapshot = \"...\" (it has: %s)",
					   machine->name, machine->label, names);
			return;
		}
		/* The current one may be a commit's: generation 0 is the one before. */
		snapshot = lv_generation0_snapshot(lv, machine, dom, lv_dsn_of(lv, machine),
						   &resolve);
		if (snapshot != NULL)
			virDomainSnapshotFree(snapshot);
		else
			host->check_report(host, check, machine->config, "snapshot", "machine %s: %s",
					   machine->name, resolve.message);
		return;
	}
	snapshot = virDomainSnapshotLookupByName(dom, machine->snapshot, 0);
	if (snapshot != NULL) {
		virDomainSnapshotFree(snapshot);
		return;
	}
	names = snapshot_names(dom);
	host->check_report(host, check, machine->config, "snapshot",
			   "machine %s: domain %s has no snapshot named \"%s\" (it has: %s)",
			   machine->name, machine->label, machine->snapshot, names);
}

/* The configured machine group named @name, or NULL. */
static const struct nbx_config_node *
machine_node_named(Libvirt *lv, const char *name)
{
	size_t n = lv->host->config_list_length(lv->host, NULL, "machines");

	for (size_t i = 0; i < n; i++) {
		const struct nbx_config_node *node =
			lv->host->config_list_group(lv->host, NULL, "machines", i);

		if (node != NULL &&
		    g_strcmp0(lv->host->config_string(lv->host, node, "name"), name) == 0)
			return node;
	}
	return NULL;
}

/*
 * A libvirt snapshot belongs to the domain it was taken of, and no two
 * machines have one domain (labels are unique): so no libvirt machine can
 * restore another's generations. A base the core cannot find, or of
 * another machinery, is the core's to report.
 */
static void
check_base(Libvirt *lv, struct nbx_machine *machine, struct nbx_check *check)
{
	const struct nbx_host *host = lv->host;
	const char *base_name = host->config_string(host, machine->config, "base_machine");
	const struct nbx_config_node *base;
	const char *base_label;

	if (base_name == NULL || (base = machine_node_named(lv, base_name)) == NULL)
		return;
	base_label = host->config_string(host, base, "label");
	host->check_report(host, check, machine->config, "base_machine",
			   "machine %s is domain %s, its base %s is domain %s: a libvirt "
			   "snapshot restores only the domain it was taken of, so libvirt "
			   "machines cannot share a base; remove base_machine",
			   machine->name, machine->label, base_name,
			   base_label != NULL ? base_label : "(none)");
}

static bool
libvirt_check_machine(void *instance, struct nbx_machine *machine, struct nbx_check *check,
		      struct nbx_error *err)
{
	Libvirt *lv = instance;
	const struct nbx_host *host = lv->host;
	LvMachine *m = lv_machine_of(lv, machine);
	struct nbx_error open_err = { 0 };
	LvDomainState state = { 0 };
	virConnectPtr conn;
	virDomainPtr dom;

	check_base(lv, machine, check);
	conn = lv_connection_get(m->connection, &open_err);
	/* check has reported it, once for all the machines of that dsn. */
	if (conn == NULL)
		return true;
	dom = virDomainLookupByName(conn, machine->label);
	if (dom == NULL) {
		struct nbx_error lookup = { 0 };

		if (lv_error_last_code() == VIR_ERR_NO_DOMAIN)
			host->check_report(host, check, machine->config, "label",
					   "machine %s: no domain %s on %s", machine->name,
					   machine->label, lv_connection_dsn(m->connection));
		else {
			lv_error_set(host, &lookup, "machine %s: domain %s on %s", machine->name,
				     machine->label, lv_connection_dsn(m->connection));
			host->check_report(host, check, machine->config, "label", "%s",
					   lookup.message);
		}
		virConnectClose(conn);
		return true;
	}
	check_snapshot(lv, machine, dom, check);
	host->log(host, NBX_LOG_INFO,
		  "machine %s: restore_start reverts domain %s to %s%s%s (restore_method "
		  "\"snapshot\": libvirt cannot restore from a memory template)",
		  machine->name, machine->label, machine->snapshot != NULL ? "snapshot \"" : "",
		  machine->snapshot != NULL ? machine->snapshot : "its generation 0 snapshot",
		  machine->snapshot != NULL ? "\"" : "");
	/* The core learns where each machine stands before anything runs. */
	lv_connection_report(m->connection, m, dom, &state, NULL);
	lv_domain_state_clear(&state);
	virDomainFree(dom);
	virConnectClose(conn);
	return true;
}

/* ---- machine ops -------------------------------------------------------- */

static bool
op_begin(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call, Op *op,
	 struct nbx_error *err)
{
	return lv_op_begin(lv, machine, call, 0, op, err);
}


static bool
restore_start_locked(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_error *err)
{
	const char *generation_dir = NBX_CALL_HAS(call, generation_dir) ? call->generation_dir : NULL;
	virDomainSnapshotPtr snapshot = NULL;
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err);

	if (ok)
		snapshot = lv_snapshot_of(lv, &op, generation_dir, err);
	/* Revert as the snapshot was taken: running, paused (handle_paused) or off (booted). */
	if (snapshot == NULL || !lv_revert_and_run(lv, &op, snapshot, 0, call, err) ||
	    !lv_started(lv, &op, "the revert", err)) {
		if (op.dom != NULL)
			lv_undo_start(&op);
		ok = false;
	}
	if (snapshot != NULL)
		virDomainSnapshotFree(snapshot);
	lv_op_end(&op);
	return ok;
}

static bool
libvirt_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		      struct nbx_error *err)
{
	Libvirt *lv = instance;
	LvMachine *m = lv_machine_of(lv, machine);
	bool ok;

	g_mutex_lock(&m->start_lock);
	ok = restore_start_locked(lv, machine, call, err);
	g_mutex_unlock(&m->start_lock);
	return ok;
}

static bool
norestore_start_locked(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call,
		       struct nbx_error *err)
{
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err);

	/* Drivers word "already running" differently: one answer for all. */
	if (ok && virDomainIsActive(op.dom) == 1) {
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID,
				    "domain %s is already running; stop it first", machine->label);
		ok = false;
	} else if (ok && virDomainCreate(op.dom) < 0) {
		lv_error_set(lv->host, err, "start of domain %s", machine->label);
		ok = false;
	} else if (ok && !lv_started(lv, &op, "the start", err)) {
		lv_undo_start(&op);
		ok = false;
	}
	lv_op_end(&op);
	return ok;
}

static bool
libvirt_norestore_start(void *instance, struct nbx_machine *machine,
			const struct nbx_call *call, struct nbx_error *err)
{
	Libvirt *lv = instance;
	LvMachine *m = lv_machine_of(lv, machine);
	bool ok;

	g_mutex_lock(&m->start_lock);
	ok = norestore_start_locked(lv, machine, call, err);
	g_mutex_unlock(&m->start_lock);
	return ok;
}

static bool
libvirt_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_error *err)
{
	Libvirt *lv = instance;
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err) && lv_power_off(lv, &op, err);

	lv_op_end(&op);
	return ok;
}

static bool
libvirt_acpi_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		  struct nbx_error *err)
{
	Libvirt *lv = instance;
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err);

	/* The hypervisor's own way: the ACPI power button for QEMU without a guest agent. */
	if (ok && virDomainShutdown(op.dom) < 0) {
		lv_error_set(lv->host, err, "shutdown of domain %s", machine->label);
		ok = false;
	}
	lv_op_end(&op);
	return ok;
}

static bool
libvirt_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	      int32_t *state, struct nbx_error *err)
{
	Libvirt *lv = instance;
	LvDomainState now = { 0 };
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err);

	if (!ok && op.conn != NULL && err->code == NBX_ERROR_NOT_FOUND) {
		/* Asked, and the answer is that the domain is gone. */
		*state = NBX_MACHINE_ERROR;
		ok = true;
	} else if (ok && lv_connection_report(op.m->connection, op.m, op.dom, &now, err)) {
		*state = now.state;
		if (now.state == NBX_MACHINE_ERROR)
			lv->host->error_set(lv->host, err, NBX_ERROR_HYPERVISOR, "domain %s is %s",
					    machine->label, now.description);
	} else {
		ok = false;
	}
	lv_domain_state_clear(&now);
	lv_op_end(&op);
	return ok;
}

static bool
resume_if_allowed(Libvirt *lv, Op *op, struct nbx_error *err)
{
	const char *label = op->m->machine->label;
	LvDomainState now = { 0 };
	bool ok = false;

	if (!lv_connection_report(op->m->connection, op->m, op->dom, &now, err))
		return false;
	if (now.state == NBX_MACHINE_RUNNING)
		ok = true;
	else if (now.state == NBX_MACHINE_ERROR)
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID, "domain %s is %s; not resuming it",
				    label, now.description);
	else if (now.state != NBX_MACHINE_PAUSED)
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID, "domain %s is %s, not paused",
				    label, now.description);
	else if (!lv_domain_pause_resumable(now.libvirt_state, now.libvirt_reason))
		lv->host->error_set(lv->host, err, NBX_ERROR_INVALID,
				    "domain %s is %s; that pause may not be resumed", label,
				    now.description);
	else if (virDomainResume(op->dom) < 0)
		lv_error_set(lv->host, err, "resume of domain %s", label);
	else
		ok = lv_started(lv, op, "the resume", err);
	lv_domain_state_clear(&now);
	return ok;
}

static bool
libvirt_handle_paused(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		      struct nbx_error *err)
{
	Libvirt *lv = instance;
	Op op = { 0 };
	bool ok = op_begin(lv, machine, call, &op, err) && resume_if_allowed(lv, &op, err);

	lv_op_end(&op);
	return ok;
}

/* The dump belongs to the daemon's user, mode 0640, whoever wrote it. */
static bool
own_dump(Libvirt *lv, const char *path, struct nbx_error *err)
{
	struct stat st;

	if (g_stat(path, &st) != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_IO, "memory dump %s: %s", path,
				    g_strerror(errno));
		return false;
	}
	if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    chown(path, geteuid(), getegid()) != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_PERMISSION,
				    "memory dump %s is owned by uid %u and cannot be given to the "
				    "daemon's user: %s",
				    path, (unsigned)st.st_uid, g_strerror(errno));
		return false;
	}
	if (g_chmod(path, 0640) != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_PERMISSION, "chmod of %s: %s", path,
				    g_strerror(errno));
		return false;
	}
	return true;
}

static bool
libvirt_dump_memory(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		    const char *path, struct nbx_error *err)
{
	Libvirt *lv = instance;
	const char *dsn = lv_dsn_of(lv, machine);
	Op op = { 0 };
	bool ok;
	int fd;

	if (lv_dsn_is_remote(dsn)) {
		lv->host->error_set(lv->host, err, NBX_ERROR_NOT_SUPPORTED,
				    "dump_memory is not supported for remote connections (%s): "
				    "libvirt would write the dump on that host, not this one",
				    dsn);
		return false;
	}
	if (!op_begin(lv, machine, call, &op, err)) {
		lv_op_end(&op);
		return false;
	}
	/* Created by us first, so it is ours even when a root libvirtd writes it. */
	fd = g_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_IO, "cannot create %s: %s", path,
				    g_strerror(errno));
		lv_op_end(&op);
		return false;
	}
	close(fd);
	ok = virDomainCoreDumpWithFormat(op.dom, path, VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
					 VIR_DUMP_MEMORY_ONLY) == 0;
	if (!ok)
		lv_error_set(lv->host, err, "memory dump of domain %s", machine->label);
	ok = ok && own_dump(lv, path, err);
	if (!ok)
		g_unlink(path);
	lv_op_end(&op);
	return ok;
}

static const struct nbx_machinery_ops libvirt_ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.capabilities = NBX_MACHINERY_CAP_STATE_EVENTS,
	.init = libvirt_init,
	.shutdown = libvirt_shutdown,
	.check = libvirt_check,
	.check_machine = libvirt_check_machine,
	.restore_start = libvirt_restore_start,
	.norestore_start = libvirt_norestore_start,
	.stop = libvirt_stop,
	.acpi_stop = libvirt_acpi_stop,
	.state = libvirt_state,
	.dump_memory = libvirt_dump_memory,
	.handle_paused = libvirt_handle_paused,
	/* copy_in, files, fingerprint and import stay NULL: snapshots.h says why. */
	.snapshot_begin = lv_snapshot_begin,
	.snapshot_commit = lv_snapshot_commit,
	.snapshot_rollback = lv_snapshot_rollback,
	.snapshot_remove = lv_snapshot_remove,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "libvirt", .version = "0.1.0",
		  .description = "Drives machines through libvirt: KVM, Xen, anything a dsn names",
		  .config_schema = &libvirt_schema, .machine_schema = &libvirt_machine_schema,
		  .ops.machinery = &libvirt_ops);
