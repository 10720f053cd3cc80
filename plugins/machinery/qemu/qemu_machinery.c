/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "qemu": runs each analysis machine as a QEMU child process, restored from
 * the memory snapshot its machineinfo.json names, on a fresh qcow2 overlay
 * of its base disk, driven over QMP.
 *
 * Per machine, `machineinfo` points to a VMCloak-style machineinfo.json (as
 * tools/demo-guest/build-demo-guest writes it). Its start_args may use
 * %DISPOSABLE_DISK_PATH% (the run's overlay) and %TAP_INTERFACE%, which is
 * the machine's core key `interface`: the tap device QEMU attaches the
 * guest to (created beforehand, script=no). The accelerator named in
 * `-machine ...,accel=` is replaced by the `accelerator` setting.
 *
 * That file is the machine's generation 0. Snapshot sessions (ABI 1.1,
 * snapshot_session.h) write later generations into directories the core
 * keeps (generation.h), and restore_start takes the one the core names.
 * A machine without `machineinfo` has no generation 0: its first snapshot
 * comes from an import.
 *
 * While a machine runs, `<machine>.run` in the run directory records its
 * QEMU, overlay and socket (run_record.h), so that after a daemon killed
 * with -9 the next one's init stops the QEMU left behind and removes its
 * files. A session keeps the same record in its work_dir.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <nestbox/plugin.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fingerprint.h"
#include "generation.h"
#include "host_side.h"
#include "machine_info.h"
#include "qemu_args.h"
#include "qemu_binary.h"
#include "memory_template.h"
#include "qemu_confine.h"
#include "qemu_identity.h"
#include "qemu_vm.h"
#include "qmp_message.h"
#include "restore_plan.h"
#include "run_record.h"
#include "snapshot_session.h"
#include "tap_device.h"

typedef struct {
	QemuSettings settings;
	QemuBinary *binary;
	GMutex lock;
	/* QemuMachine *, every machine the plugin has seen; guarded by @lock. */
	GPtrArray *machines;
} Qemu;

/* A machine's plugin_data. Only its own ops touch it, and they never overlap. */
typedef struct {
	QemuVm *vm;
	/* The snapshot session that runs (or ran, until commit or rollback), or NULL. */
	SnapshotSession *session;
	/* A run prepare made and no restore_start has used yet: for which generation... */
	bool prepared;
	char *prepared_generation;
	/* ...and from which template (NULL: the stream). */
	MemoryTemplate *prepared_template;
} QemuMachine;

static const char *const accelerators[] = { "kvm", "tcg", NULL };
static const char *const restore_methods[] = { "template", "stream", NULL };

static const struct nbx_config_field qemu_fields[] = {
	{ .name = "qemu_binary", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_EXECUTABLE,
	  .default_value = "/usr/bin/qemu-system-x86_64",
	  .doc = "The QEMU system emulator (2.11 or newer); qemu-img is taken from its directory, "
		 "else from PATH" },
	{ .name = "accelerator", .type = NBX_FIELD_ENUM, .choices = accelerators,
	  .default_value = "kvm",
	  .doc = "kvm, or tcg (software emulation: slow, but works without /dev/kvm)" },
	{ .name = "overlay_dir", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_WRITABLE,
	  .doc = "Where each run's disk overlay is created (default: the plugin's state "
		 "directory, subdirectory overlays)" },
	{ .name = "stop_timeout", .type = NBX_FIELD_INTEGER, .min = 1, .max = 3600,
	  .default_value = "10", .doc = "Seconds stop waits for QEMU to quit before killing it" },
	{ .name = "restore_method", .type = NBX_FIELD_ENUM, .choices = restore_methods,
	  .default_value = "template",
	  .doc = "template: restore a guest's RAM by mapping a file made once from its memory "
		 "snapshot (milliseconds whatever its size; clones share unwritten pages), where "
		 "its start_args allow (--check says per machine); stream: load the whole "
		 "memory snapshot at every restore" },
	{ .name = "template_dir", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_WRITABLE,
	  .doc = "Where memory templates are kept, one directory per base, entered by the "
		 "daemon's user only (default: the plugin's state directory, subdirectory "
		 "templates); it needs room for each guest's RAM, sparse" },
	{ .name = "qemu_uid_base", .type = NBX_FIELD_INTEGER, .min = 0, .max = 4000000000,
	  .default_value = "850000",
	  .doc = "Each machine's QEMU runs as uid and gid qemu_uid_base + the machine's index in "
		 "`machines` (a range no user needs to be created for), unless the machine sets "
		 "qemu_user; 0: as the daemon's user, NOT contained" },
	{ 0 },
};
static const struct nbx_config_schema qemu_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = qemu_fields,
};

static const struct nbx_config_field qemu_machine_fields[] = {
	{ .name = "qemu_restore_method", .type = NBX_FIELD_ENUM, .choices = restore_methods,
	  .doc = "This machine's own restore_method (default: the plugin's)" },
	{ .name = "machineinfo", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_READABLE,
	  .doc = "machineinfo.json of the machine's first snapshot (flat, or VMCloak's with its "
		 "members in \"machine\"): disk, memory_snapshot and start_args, relative paths "
		 "meaning its own directory; %TAP_INTERFACE% in start_args becomes the machine's "
		 "interface (its tap device), and a -netdev type=bridge gets a tap the plugin "
		 "makes in that bridge. Leave it out for a machine whose snapshot comes from "
		 "`nestbox snapshot import`" },
	{ .name = "qemu_user", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_NON_EMPTY,
	  .doc = "The user this machine's QEMU runs as (with its primary group), instead of a uid "
		 "of qemu_uid_base's range; never root, and never one user for two machines" },
	{ 0 },
};
static const struct nbx_config_schema qemu_machine_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = qemu_machine_fields,
};

static char *
find_qemu_img(const char *qemu_binary)
{
	g_autofree char *dir = g_path_get_dirname(qemu_binary);
	g_autofree char *beside = g_build_filename(dir, "qemu-img", NULL);

	if (g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE))
		return g_steal_pointer(&beside);
	return g_strdup("qemu-img");
}

static void
qemu_machine_free(QemuMachine *m)
{
	snapshot_session_free(m->session);
	qemu_vm_free(m->vm);
	g_free(m->prepared_generation);
	memory_template_free(m->prepared_template);
	g_free(m);
}

/* @path under the plugin's state directory unless @configured names one; created. */
static char *
state_subdir(const struct nbx_host *host, const char *configured, const char *name, int mode,
	     struct nbx_error *err)
{
	char *dir = configured != NULL
			    ? g_strdup(configured)
			    : g_build_filename(host->path(host, NBX_PATH_STATE_DIR), name, NULL);

	if (g_mkdir_with_parents(dir, mode) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", dir,
				g_strerror(errno));
		g_free(dir);
		return NULL;
	}
	return dir;
}

static void
settings_clear(QemuSettings *settings)
{
	g_free(settings->qemu_binary);
	g_free(settings->qemu_img);
	g_free(settings->accelerator);
	g_free(settings->overlay_dir);
	g_free(settings->template_dir);
	g_free(settings->blank_dir);
}

static bool
qemu_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	Qemu *q = g_new0(Qemu, 1);
	const char *method = host->config_string(host, NULL, "restore_method");

	q->settings.host = host;
	q->settings.qemu_binary = g_strdup(host->config_string(host, NULL, "qemu_binary"));
	q->settings.accelerator = g_strdup(host->config_string(host, NULL, "accelerator"));
	q->settings.qemu_img = find_qemu_img(q->settings.qemu_binary);
	/* The core validated the section: a key with a default has its value (the schema's). */
	q->settings.templates = method != NULL && strcmp(method, "template") == 0;
	host->config_integer(host, NULL, "stop_timeout", &q->settings.stop_timeout_s);
	host->config_integer(host, NULL, "qemu_uid_base", &q->settings.uid_base);
	q->settings.overlay_dir = state_subdir(host, host->config_string(host, NULL, "overlay_dir"),
					       "overlays", 0750, err);
	q->settings.template_dir = state_subdir(
		host, host->config_string(host, NULL, "template_dir"), "templates", 0700, err);
	q->settings.blank_dir = state_subdir(host, NULL, "blank-overlays", 0700, err);
	if (q->settings.overlay_dir == NULL || q->settings.template_dir == NULL ||
	    q->settings.blank_dir == NULL) {
		settings_clear(&q->settings);
		g_free(q);
		return false;
	}
	/*
	 * What a daemon killed with -9 left running: its QEMUs (prepared or
	 * not, or making a template) and overlays; then a template's leftovers.
	 */
	run_record_recover_all(host, host->path(host, NBX_PATH_RUN_DIR));
	memory_template_clean(host, q->settings.template_dir);
	g_mutex_init(&q->lock);
	q->machines = g_ptr_array_new_with_free_func((GDestroyNotify)qemu_machine_free);
	q->binary = qemu_binary_new(host, q->settings.qemu_binary,
				    host->path(host, NBX_PATH_RUN_DIR));
	*instance = q;
	return true;
}

static void
qemu_shutdown(void *instance)
{
	Qemu *q = instance;

	g_ptr_array_unref(q->machines);
	qemu_binary_free(q->binary);
	g_mutex_clear(&q->lock);
	settings_clear(&q->settings);
	g_free(q);
}

static QemuMachine *
machine_of(Qemu *q, struct nbx_machine *machine)
{
	QemuMachine *m;

	g_mutex_lock(&q->lock);
	m = machine->plugin_data;
	if (m == NULL) {
		m = g_new0(QemuMachine, 1);
		m->vm = qemu_vm_new(&q->settings, machine);
		g_ptr_array_add(q->machines, m);
		machine->plugin_data = m;
	}
	g_mutex_unlock(&q->lock);
	return m;
}

/* The base whose generations @machine restores: its base_machine, else itself. */
static const char *
base_of(Qemu *q, struct nbx_machine *machine)
{
	const char *base = machine->config != NULL
				   ? q->settings.host->config_string(q->settings.host, machine->config,
								     "base_machine")
				   : NULL;

	return base != NULL ? base : machine->name;
}

/* The machine's qemu_restore_method, or NULL for the plugin's restore_method. */
static const char *
method_of(Qemu *q, struct nbx_machine *machine)
{
	return machine->config != NULL ? q->settings.host->config_string(
						 q->settings.host, machine->config,
						 "qemu_restore_method")
				       : NULL;
}

static QemuVm *
vm_of(Qemu *q, struct nbx_machine *machine)
{
	return machine_of(q, machine)->vm;
}

/* False with @err when @call has a flag outside @known. */
static bool
check_flags(Qemu *q, const struct nbx_call *call, uint32_t known, struct nbx_error *err)
{
	if ((call->flags & ~known) == 0)
		return true;
	q->settings.host->error_set(q->settings.host, err, NBX_ERROR_NOT_SUPPORTED,
				    "unknown flags 0x%x", call->flags & ~known);
	return false;
}

/* The machine's QemuVm, for ops that take no flags; NULL with @err set. */
static QemuVm *
plain_vm(Qemu *q, struct nbx_machine *machine, const struct nbx_call *call,
	 struct nbx_error *err)
{
	return check_flags(q, call, 0, err) ? vm_of(q, machine) : NULL;
}

/*
 * The description of generation @dir, or of generation 0 (the machine's
 * `machineinfo`) when @dir is NULL: a new reference, or NULL with @err set.
 */
static MachineInfo *
generation_info(Qemu *q, struct nbx_machine *machine, const char *dir, struct nbx_error *err)
{
	const struct nbx_host *host = q->settings.host;
	MachineInfo *info;

	if (dir != NULL)
		return generation_load(host, dir, err);
	info = qemu_vm_info(vm_of(q, machine),
			    host->config_string(host, machine->config, "machineinfo"), err);
	return info != NULL ? machine_info_ref(info) : NULL;
}

/* The generation @call names (ABI 1.1), else NULL: generation 0. */
static const char *
call_generation(const struct nbx_call *call)
{
	return NBX_CALL_HAS(call, generation_dir) ? call->generation_dir : NULL;
}

/* "QEMU emulator version 7.2.22 (...)" -> 7, 2; false when it says something else. */
static bool
parse_version(const char *text, int *major, int *minor)
{
	const char *at = strstr(text, "version ");

	return at != NULL && sscanf(at, "version %d.%d", major, minor) == 2;
}

/* QEMU parses -sandbox before it acts on -version: one without seccomp fails here. */
static void
check_sandbox(Qemu *q, struct nbx_check *check)
{
	const struct nbx_host *host = q->settings.host;
	const char *argv[] = { q->settings.qemu_binary, "-sandbox", QEMU_CONFINE_SANDBOX,
			       "-version", NULL };
	g_autofree char *errors = NULL;
	g_autoptr(GError) error = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
			  &errors, &status, &error) ||
	    !g_spawn_check_wait_status(status, NULL))
		host->check_report(host, check, NULL, "qemu_binary",
				   "%s does not take -sandbox %s (built without seccomp?): %s; the "
				   "qemu machinery runs QEMU only under its seccomp filter",
				   q->settings.qemu_binary, QEMU_CONFINE_SANDBOX,
				   error != NULL ? error->message : g_strstrip(errors));
}

/* `QEMU -version`'s output on a core without host->run (ABI 1.1); NULL with @why. */
static char *
version_output_1_1(Qemu *q, char **why)
{
	const char *argv[] = { q->settings.qemu_binary, "-version", NULL };
	g_autoptr(GError) error = NULL;
	char *out = NULL;
	int status = 0;

	/*
	 * check runs on the main thread, where waiting for a spawn's exit
	 * callback would deadlock: a synchronous spawn of our own is the way.
	 */
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
			  NULL, &status, &error)) {
		*why = g_strdup(error->message);
		return NULL;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_free(out);
		*why = g_strdup("it failed");
		return NULL;
	}
	return out;
}

static bool
qemu_check(void *instance, struct nbx_check *check, struct nbx_error *err)
{
	Qemu *q = instance;
	const struct nbx_host *host = q->settings.host;
	g_autofree char *out = NULL;
	g_autofree char *why = NULL;
	g_autofree char *qemu_img = NULL;
	struct nbx_error cause = { 0 };
	int major = 0, minor = 0;

	/* The core's run (ABI 1.2) tracks the child like every other. */
	if (NBX_HOST_HAS(host, run)) {
		const char *version = qemu_binary_version(q->binary, 0, &cause);

		out = version != NULL ? g_strconcat("QEMU emulator version ", version, NULL) : NULL;
		if (out == NULL)
			why = g_strdup(cause.message);
	} else {
		out = version_output_1_1(q, &why);
	}
	if (out == NULL) {
		host->check_report(host, check, NULL, "qemu_binary", "cannot run %s -version: %s",
				   q->settings.qemu_binary, why);
		return true;
	}
	if (!parse_version(out, &major, &minor)) {
		host->check_report(host, check, NULL, "qemu_binary",
				   "%s -version did not print a QEMU version; is it QEMU?",
				   q->settings.qemu_binary);
		return true;
	}
	if (major < 2 || (major == 2 && minor < 11))
		host->check_report(host, check, NULL, "qemu_binary",
				   "%s is QEMU %d.%d; nestbox needs 2.11 or newer",
				   q->settings.qemu_binary, major, minor);
	check_sandbox(q, check);
	if (q->settings.uid_base == 0)
		host->log(host, NBX_LOG_WARNING,
			  "%s: qemu_uid_base = 0: machines without qemu_user run QEMU as the "
			  "daemon's user, not contained",
			  host->config_location(host, NULL, "qemu_uid_base"));
	qemu_img = g_find_program_in_path(q->settings.qemu_img);
	if (qemu_img == NULL)
		host->check_report(host, check, NULL, "qemu_binary",
				   "no qemu-img beside %s or in PATH; install qemu-utils",
				   q->settings.qemu_binary);
	return true;
}

/*
 * The guest's memory knows the host side by the MAC recorded as host_mac:
 * a host side with another one costs a gratuitous ARP per restore (and
 * seconds without it), so --check tells the operator to pin it.
 */
static void
check_host_mac(Qemu *q, struct nbx_machine *machine, const MachineInfo *info)
{
	const struct nbx_host *host = q->settings.host;
	const char *netns = NBX_MACHINE_HAS(machine, network_namespace)
				    ? machine->network_namespace
				    : NULL;
	g_autoptr(GArray) sides = NULL;
	g_autoptr(GError) error = NULL;

	if (info->host_mac == NULL || info->memory_snapshot == NULL)
		return;
	sides = host_side_find(netns, machine->ip, &error);
	for (guint i = 0; sides != NULL && i < sides->len; i++) {
		const HostSide *side = &g_array_index(sides, HostSide, i);
		g_autofree char *mac = host_side_mac(side);

		if (strcmp(mac, info->host_mac) == 0)
			continue;
		host->log(host, NBX_LOG_INFO,
			  "machine %s: its guest knows the host side (%s) as %s (host_mac in %s), "
			  "but %s has %s now: every restore announces it to the guest (a gratuitous "
			  "ARP); `ip link set %s address %s` spares that",
			  machine->name, inet_ntoa(side->address), info->host_mac, info->path,
			  side->name, mac, side->name, info->host_mac);
	}
}

/* --check says how the machine restores its generation 0, and why. */
static void
check_restore_method(Qemu *q, struct nbx_machine *machine, const MachineInfo *info)
{
	const struct nbx_host *host = q->settings.host;
	const char *why = restore_plan_stream_reason(&q->settings, method_of(q, machine), info);
	g_autofree char *dir = NULL;

	if (info->memory_snapshot == NULL)
		return;
	if (why != NULL) {
		host->log(host, NBX_LOG_INFO, "machine %s: restores from its memory stream: %s",
			  machine->name, why);
		return;
	}
	dir = memory_template_dir(q->settings.template_dir, base_of(q, machine), info, NULL);
	host->log(host, NBX_LOG_INFO,
		  "machine %s: restores from a memory template (%s, made from %s at its first "
		  "restore or prepare)",
		  machine->name, dir != NULL ? dir : "?", info->memory_snapshot);
}

/* Bridges of start_args' bridge netdevs must exist; the notes say what runs instead. */
static void
check_network(Qemu *q, struct nbx_machine *machine, const MachineInfo *info,
	      struct nbx_check *check)
{
	const struct nbx_host *host = q->settings.host;
	g_autoptr(GPtrArray) netdevs = qemu_netdevs(info);
	g_autofree char *unsupported = qemu_args_unsupported(info);

	if (unsupported != NULL)
		host->check_report(host, check, machine->config, "machineinfo", "machine %s: %s: %s",
				   machine->name, info->path, unsupported);
	for (guint n = 0; n < netdevs->len; n++) {
		const QemuNetdev *netdev = g_ptr_array_index(netdevs, n);
		g_autoptr(GError) error = NULL;

		if (!netdev->bridge)
			continue;
		/* In a namespace of its own, the bridge is looked for when QEMU starts. */
		if ((!NBX_MACHINE_HAS(machine, network_namespace) ||
		     machine->network_namespace == NULL) &&
		    !tap_device_bridge_exists(netdev->bridge_name, &error)) {
			host->check_report(host, check, machine->config, "machineinfo",
					   "machine %s: start_args in %s attach the guest to %s: %s",
					   machine->name, info->path, netdev->bridge_name,
					   error->message);
			continue;
		}
		host->log(host, NBX_LOG_INFO,
			  "machine %s: -netdev %s: the plugin makes a tap in bridge %s and hands "
			  "it to QEMU (no setuid bridge helper)",
			  machine->name, netdev->id != NULL ? netdev->id : "?", netdev->bridge_name);
	}
}

static void
check_info(Qemu *q, struct nbx_machine *machine, const MachineInfo *info,
	   struct nbx_check *check)
{
	const struct nbx_host *host = q->settings.host;
	g_autofree char *override = NULL;
	bool uses_tap = false;

	if (g_access(info->disk, R_OK) != 0)
		host->check_report(host, check, machine->config, "machineinfo",
				   "machine %s: disk %s (from %s): %s", machine->name, info->disk,
				   info->path, g_strerror(errno));
	if (info->memory_snapshot != NULL && g_access(info->memory_snapshot, R_OK) != 0)
		host->check_report(host, check, machine->config, "machineinfo",
				   "machine %s: memory_snapshot %s (from %s): %s", machine->name,
				   info->memory_snapshot, info->path, g_strerror(errno));
	for (size_t i = 0; info->start_args[i] != NULL; i++) {
		const char *forbidden = machine_info_forbidden_arg(info->start_args[i]);

		if (forbidden == NULL)
			forbidden = qemu_confine_forbidden_arg(info->start_args[i]);
		if (forbidden != NULL)
			host->check_report(host, check, machine->config, "machineinfo",
					   "machine %s: start_args in %s contain %s, which conflicts with "
					   "how the qemu machinery runs QEMU; remove it",
					   machine->name, info->path, forbidden);
		if (strstr(info->start_args[i], "%TAP_INTERFACE%") != NULL)
			uses_tap = true;
	}
	if (machine->mac_address != NULL && info->mac_address != NULL &&
	    strcmp(machine->mac_address, info->mac_address) != 0)
		host->check_report(host, check, machine->config, "mac_address",
				   "machine %s: mac_address %s differs from %s in %s, which the "
				   "snapshot was taken with; use that one",
				   machine->name, machine->mac_address, info->mac_address, info->path);
	if (machine->snapshot != NULL)
		host->check_report(host, check, machine->config, "snapshot",
				   "machine %s: the qemu machinery restores the memory_snapshot of "
				   "its machineinfo; remove snapshot or point machineinfo elsewhere",
				   machine->name);
	if (uses_tap && machine->interface == NULL)
		host->check_report(host, check, machine->config, "interface",
				   "machine %s: start_args in %s use %%TAP_INTERFACE%%; set interface "
				   "to the machine's tap device",
				   machine->name, info->path);
	check_network(q, machine, info, check);
	check_host_mac(q, machine, info);
	check_restore_method(q, machine, info);
	override = qemu_args_accelerator_override(info, q->settings.accelerator);
	host->log(host, NBX_LOG_INFO, "machine %s: accelerator %s%s%s%s", machine->name,
		  q->settings.accelerator, override != NULL ? " (the setting wins over " : "",
		  override != NULL ? override : "", override != NULL ? " of start_args)" : "");
}

/* Who the machine's QEMU runs as: a user that exists, not root, not another machine's. */
static void
check_identity(Qemu *q, struct nbx_machine *machine, struct nbx_check *check)
{
	const struct nbx_host *host = q->settings.host;
	const char *user = host->config_string(host, machine->config, "qemu_user");
	QemuIdentity identity;
	struct nbx_error err = { 0 };
	size_t n = host->config_list_length(host, NULL, "machines");

	if (!qemu_identity_of(host, q->settings.uid_base, q->settings.accelerator, machine,
			      &identity, &err)) {
		host->check_report(host, check, machine->config,
				   user != NULL ? "qemu_user" : NULL, "%s", err.message);
		return;
	}
	for (size_t i = 0; user != NULL && i < n; i++) {
		const struct nbx_config_node *other = host->config_list_group(host, NULL,
									      "machines", i);
		const char *other_user = host->config_string(host, other, "qemu_user");

		if (other == machine->config)
			break;
		if (g_strcmp0(other_user, user) == 0)
			host->check_report(host, check, machine->config, "qemu_user",
					   "machine %s: qemu_user %s is another machine's (%s) too; "
					   "QEMUs of one user can ptrace each other: give each its own",
					   machine->name, user, host->config_location(host, other,
					   "qemu_user"));
	}
}

static bool
qemu_check_machine(void *instance, struct nbx_machine *machine, struct nbx_check *check,
		   struct nbx_error *err)
{
	Qemu *q = instance;
	const struct nbx_host *host = q->settings.host;
	const char *path = host->config_string(host, machine->config, "machineinfo");
	g_autoptr(GError) error = NULL;
	MachineInfo *info;

	/* No generation 0: the machine's snapshot comes from an import. */
	if (path == NULL)
		return true;
	info = machine_info_load(path, &error);
	if (info == NULL) {
		host->check_report(host, check, machine->config, "machineinfo", "machine %s: %s",
				   machine->name, error->message);
		return true;
	}
	check_info(q, machine, info, check);
	check_identity(q, machine, check);
	qemu_vm_set_info(vm_of(q, machine), info);
	return true;
}

/*
 * What makes @machine's templates: among it, @readers (uint32_t, the
 * caller's) gets the QEMU user of every machine the plugin has of its base,
 * the only ones its templates' RAM may be opened by (template_access.h).
 */
static TemplateMaker
template_maker(Qemu *q, struct nbx_machine *machine, GArray *readers)
{
	const char *base = base_of(q, machine);

	g_mutex_lock(&q->lock);
	for (guint i = 0; i < q->machines->len; i++) {
		QemuMachine *m = g_ptr_array_index(q->machines, i);
		struct nbx_machine *other = qemu_vm_machine(m->vm);
		QemuIdentity identity;
		struct nbx_error ignored = { 0 };

		/* One without a user of its own has its QEMU refused at launch anyway. */
		if (strcmp(base_of(q, other), base) == 0 &&
		    qemu_identity_of(q->settings.host, q->settings.uid_base,
				     q->settings.accelerator, other, &identity, &ignored) &&
		    qemu_identity_contained(&identity))
			g_array_append_val(readers, identity.uid);
	}
	g_mutex_unlock(&q->lock);
	return (TemplateMaker){ .settings = &q->settings, .binary = q->binary,
				.readers = (const uint32_t *)(void *)readers->data,
				.n_readers = readers->len };
}

/* Forgets the prepared run; its QEMU, if any, is the caller's to end. */
static void
forget_prepared(QemuMachine *m)
{
	m->prepared = false;
	g_clear_pointer(&m->prepared_generation, g_free);
	g_clear_pointer(&m->prepared_template, memory_template_free);
}

/* Throws the prepared run away, QEMU, overlay and all. */
static void
discard_prepared(QemuMachine *m)
{
	if (!m->prepared)
		return;
	qemu_vm_kill(m->vm);
	forget_prepared(m);
}

/* Why the prepared run cannot serve a restore of @generation (g_free), or NULL when it can. */
static char *
prepared_unusable(QemuMachine *m, const char *generation)
{
	char *why = NULL;

	if (!qemu_vm_prepared(m->vm))
		return g_strdup("its QEMU has ended");
	if (g_strcmp0(m->prepared_generation, generation) != 0)
		return g_strdup("another generation is to be restored");
	if (m->prepared_template != NULL && !memory_template_intact(m->prepared_template, &why))
		return why;
	return NULL;
}

/*
 * Restores from the prepared run when it is there and fits; *@used says
 * whether it was (a prepared run that does not fit is thrown away).
 */
static bool
use_prepared(Qemu *q, QemuMachine *m, struct nbx_machine *machine, const char *generation,
	     int64_t deadline_us, bool *used, struct nbx_error *err)
{
	g_autofree char *why = NULL;
	struct nbx_error cause = { 0 };

	*used = false;
	if (!m->prepared)
		return true;
	why = prepared_unusable(m, generation);
	if (why != NULL) {
		q->settings.host->log(q->settings.host, NBX_LOG_WARNING,
				      "machine %s: its prepared run is thrown away: %s", machine->name,
				      why);
		discard_prepared(m);
		return true;
	}
	forget_prepared(m);
	if (qemu_vm_resume(m->vm, deadline_us, &cause)) {
		*used = true;
		return true;
	}
	/* Out of time: no slow way fits either. Else the slow way: a prepared run is only a bet. */
	if (cause.code == NBX_ERROR_TIMEOUT) {
		*used = true;
		q->settings.host->error_set(q->settings.host, err, cause.code, "%s", cause.message);
		return false;
	}
	q->settings.host->log(q->settings.host, NBX_LOG_WARNING,
			      "machine %s: its prepared run failed (%s); restoring anew",
			      machine->name, cause.message);
	return true;
}

/* Starts @machine from @generation: restored (the prepared run, or a new one), or booted. */
static bool
launch(Qemu *q, struct nbx_machine *machine, const char *generation, bool restore,
       bool prepare_only, int64_t deadline_us, struct nbx_error *err)
{
	QemuMachine *m = machine_of(q, machine);
	g_autoptr(GArray) readers = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	TemplateMaker maker = template_maker(q, machine, readers);
	g_autoptr(MachineInfo) info = generation_info(q, machine, generation, err);
	g_autoptr(MemoryTemplate) template = NULL;
	QemuLaunch launch = { .info = info, .prepare_only = prepare_only };

	if (info == NULL)
		return false;
	if (restore && !restore_plan_fill(&maker, machine, method_of(q, machine), base_of(q, machine),
					  info, &launch, &template, deadline_us, err))
		return false;
	if (!qemu_vm_launch(m->vm, &launch, deadline_us, err))
		return false;
	if (prepare_only) {
		m->prepared = true;
		m->prepared_generation = g_strdup(generation);
		m->prepared_template = g_steal_pointer(&template);
	}
	return true;
}

static bool
start(Qemu *q, struct nbx_machine *machine, const struct nbx_call *call, bool restore,
      struct nbx_error *err)
{
	QemuMachine *m = machine_of(q, machine);
	bool used = false, ok;

	if (!check_flags(q, call, 0, err))
		return false;
	if (restore) {
		ok = use_prepared(q, m, machine, call_generation(call), call->deadline_us, &used,
				  err);
		if (used)
			return ok;
	}
	discard_prepared(m);
	return launch(q, machine, call_generation(call), restore, false, call->deadline_us, err);
}

static bool
qemu_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	return start(instance, machine, call, true, err);
}

static bool
qemu_norestore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_error *err)
{
	return start(instance, machine, call, false, err);
}

static bool
qemu_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	  struct nbx_error *err)
{
	Qemu *q = instance;

	if (call->flags != 0) {
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_NOT_SUPPORTED,
					    "unknown flags 0x%x", call->flags);
		return false;
	}
	/* A prepared run goes with it (tear_down ends its QEMU). */
	forget_prepared(machine_of(q, machine));
	/* Stopping a machine that never ran needs no machineinfo. */
	return qemu_vm_stop(vm_of(q, machine), call->deadline_us, err);
}

/* ---- prepared runs (ABI 1.2) ---- */

static bool
qemu_prepare(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_error *err)
{
	Qemu *q = instance;
	QemuMachine *m = machine_of(q, machine);
	const char *generation = call_generation(call);
	g_autofree char *why = NULL;

	if (!check_flags(q, call, 0, err))
		return false;
	if (m->prepared && (why = prepared_unusable(m, generation)) == NULL)
		return true;
	discard_prepared(m);
	if (m->session != NULL || qemu_vm_running(m->vm)) {
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_BUSY,
					    "machine %s runs; only a machine that is off is prepared",
					    machine->name);
		return false;
	}
	return launch(q, machine, generation, true, true, call->deadline_us, err);
}

static bool
qemu_discard(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_error *err)
{
	Qemu *q = instance;

	if (!check_flags(q, call, 0, err))
		return false;
	discard_prepared(machine_of(q, machine));
	return true;
}

static bool
qemu_acpi_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	       struct nbx_error *err)
{
	QemuVm *vm = plain_vm(instance, machine, call, err);

	return vm != NULL &&
	       qemu_vm_execute(vm, "system_powerdown", NULL, call->deadline_us, NULL, err);
}

static bool
qemu_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	   int32_t *state, struct nbx_error *err)
{
	Qemu *q = instance;
	g_autofree char *reason = NULL;

	if (call->flags != 0) {
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_NOT_SUPPORTED,
					    "unknown flags 0x%x", call->flags);
		return false;
	}
	/* A QEMU left running by a dead daemon is still this machine, running. */
	if (qemu_vm_leftover_running(vm_of(q, machine))) {
		*state = NBX_MACHINE_RUNNING;
		return true;
	}
	/* Tracked from QMP events and QEMU's exit: nothing to ask. */
	*state = qemu_vm_state(vm_of(q, machine), &reason);
	if (*state == NBX_MACHINE_ERROR)
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_HYPERVISOR,
					    "machine %s: %s", machine->name,
					    reason != NULL ? reason : "QEMU reported an error");
	return true;
}

static bool
qemu_dump_memory(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		 const char *path, struct nbx_error *err)
{
	QemuVm *vm = plain_vm(instance, machine, call, err);
	g_autoptr(JsonObject) args = NULL;
	g_autoptr(JsonObject) getfd = NULL;
	bool ok;
	int fd;

	if (vm == NULL)
		return false;
	/* Opened here and passed: QEMU's user cannot reach the analysis directory. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		const struct nbx_host *host = ((Qemu *)instance)->settings.host;

		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", path,
				g_strerror(errno));
		return false;
	}
	getfd = json_object_new();
	json_object_set_string_member(getfd, "fdname", "nbx-dump");
	args = json_object_new();
	json_object_set_boolean_member(args, "paging", FALSE);
	json_object_set_string_member(args, "protocol", "fd:nbx-dump");
	ok = qemu_vm_execute_fd(vm, "getfd", getfd, fd, call->deadline_us, NULL, err);
	close(fd);
	if (ok && qemu_vm_execute(vm, "dump-guest-memory", args, call->deadline_us, NULL, err))
		return true;
	g_unlink(path);
	return false;
}

/* The statuses of query-status that `cont` may end: pauses with a known, harmless cause. */
static bool
resumable_status(const char *status)
{
	return strcmp(status, "paused") == 0 || strcmp(status, "postmigrate") == 0 ||
	       strcmp(status, "prelaunch") == 0;
}

static bool
qemu_handle_paused(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	Qemu *q = instance;
	const struct nbx_host *host = q->settings.host;
	QemuVm *vm = plain_vm(instance, machine, call, err);
	g_autoptr(JsonNode) result = NULL;
	g_autofree char *reason = NULL;
	const char *status = NULL;
	const char *crash;

	if (vm == NULL)
		return false;
	/* A panic or an I/O error seen in an event: no need to ask. */
	if (qemu_vm_state(vm, &reason) == NBX_MACHINE_ERROR) {
		host->error_set(host, err, NBX_ERROR_INVALID, "machine %s: %s; not resuming it",
				machine->name, reason != NULL ? reason : "QEMU reported an error");
		return false;
	}
	if (!qemu_vm_execute(vm, "query-status", NULL, call->deadline_us, &result, err))
		return false;
	if (result != NULL && JSON_NODE_HOLDS_OBJECT(result))
		status = qmp_string_member(json_node_get_object(result), "status");
	if (status == NULL)
		status = "unknown";
	if (strcmp(status, "running") == 0)
		return true;
	crash = qemu_vm_error_status_reason(status);
	if (crash != NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID, "machine %s: %s; not resuming it",
				machine->name, crash);
		return false;
	}
	if (!resumable_status(status)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"QEMU says the guest is %s; that pause may not be resumed", status);
		return false;
	}
	/* Someone stopped a running guest on purpose (a second monitor, a debugger). */
	if (qemu_vm_pause_is_foreign(vm)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s was paused from outside nestbox while it ran; not "
				"resuming it",
				machine->name);
		return false;
	}
	return qemu_vm_execute(vm, "cont", NULL, call->deadline_us, NULL, err);
}

/* ---- snapshots (ABI 1.1) ---- */

static bool
qemu_snapshot_begin(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		    struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Qemu *q = instance;
	QemuMachine *m = machine_of(q, machine);
	g_autoptr(MachineInfo) from = NULL;

	if (!check_flags(q, call, NBX_SNAPSHOT_COLD_BOOT, err))
		return false;
	from = generation_info(q, machine, session->from_dir, err);
	if (from == NULL)
		return false;
	discard_prepared(m);
	/* A session whose QEMU ended without commit or rollback: the new one replaces it. */
	if (m->session != NULL && !qemu_vm_running(m->vm))
		g_clear_pointer(&m->session, snapshot_session_free);
	if (m->session != NULL) {
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_BUSY,
					    "machine %s is in a snapshot session already; commit or "
					    "roll it back first",
					    machine->name);
		return false;
	}
	m->session = snapshot_session_begin(m->vm, from, session->work_dir,
					    (call->flags & NBX_SNAPSHOT_COLD_BOOT) != 0,
					    session->console, sizeof session->console,
					    call->deadline_us, err);
	return m->session != NULL;
}

/* The machine's session in @session->work_dir; NULL with @err when there is none. */
static SnapshotSession *
session_of(Qemu *q, QemuMachine *m, struct nbx_machine *machine,
	   const struct nbx_snapshot_session *session, struct nbx_error *err)
{
	if (snapshot_session_is(m->session, session->work_dir))
		return m->session;
	q->settings.host->error_set(q->settings.host, err, NBX_ERROR_INVALID,
				    "machine %s has no snapshot session running in %s (the daemon "
				    "restarted since it began, or it ended); roll it back and "
				    "begin again",
				    machine->name, session->work_dir);
	return NULL;
}

static bool
qemu_snapshot_copy_in(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		      struct nbx_snapshot_session *session, const char *const *paths,
		      struct nbx_error *err)
{
	Qemu *q = instance;
	QemuMachine *m = machine_of(q, machine);
	SnapshotSession *running;

	if (!check_flags(q, call, 0, err))
		return false;
	running = session_of(q, m, machine, session, err);
	return running != NULL &&
	       snapshot_session_copy_in(running, m->vm, paths, call->deadline_us, err);
}

/*
 * Makes the memory template of the new generation @dir where generations
 * are made, so no restore waits for it. A failure only costs the first
 * restore that time: it is logged, the generation stands.
 */
static void
make_template(Qemu *q, struct nbx_machine *machine, const char *dir, int64_t deadline_us)
{
	const struct nbx_host *host = q->settings.host;
	g_autoptr(GArray) readers = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	TemplateMaker maker = template_maker(q, machine, readers);
	struct nbx_error cause = { 0 };
	g_autoptr(MachineInfo) info = generation_load(host, dir, &cause);
	g_autoptr(MemoryTemplate) template = NULL;

	if (info == NULL || restore_plan_stream_reason(&q->settings, method_of(q, machine), info) !=
				    NULL)
		return;
	template = memory_template_ensure(&maker, machine, base_of(q, machine), info, deadline_us,
					  &cause);
	if (template == NULL)
		host->log(host, NBX_LOG_WARNING,
			  "machine %s: no memory template for generation %s yet (%s); its first "
			  "restore makes it",
			  machine->name, dir, cause.message);
}

static bool
qemu_snapshot_commit(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Qemu *q = instance;
	QemuMachine *m = machine_of(q, machine);
	SnapshotSession *running;

	if (!check_flags(q, call, 0, err))
		return false;
	if (session->new_dir == NULL) {
		q->settings.host->error_set(q->settings.host, err, NBX_ERROR_INVALID,
					    "snapshot_commit of machine %s without new_dir",
					    machine->name);
		return false;
	}
	running = session_of(q, m, machine, session, err);
	if (running == NULL || !snapshot_session_commit(running, m->vm, q->binary, session->new_dir,
							call->deadline_us, err))
		return false;
	g_clear_pointer(&m->session, snapshot_session_free);
	make_template(q, machine, session->new_dir, call->deadline_us);
	return true;
}

static bool
qemu_snapshot_rollback(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		       struct nbx_snapshot_session *session, struct nbx_error *err)
{
	Qemu *q = instance;
	QemuMachine *m = machine_of(q, machine);

	if (!check_flags(q, call, 0, err) ||
	    !snapshot_session_rollback(m->vm, q->settings.host, machine->name, session->work_dir,
				       err))
		return false;
	if (snapshot_session_is(m->session, session->work_dir))
		g_clear_pointer(&m->session, snapshot_session_free);
	return true;
}

/* Calls @emit for @path unless listed already; refuses a second file of the same base name. */
static bool
emit_file(Qemu *q, GHashTable *seen, const char *path, int32_t role, nbx_snapshot_file_fn emit,
	  void *emit_data, struct nbx_error *err)
{
	const struct nbx_host *host = q->settings.host;
	g_autofree char *base = g_path_get_basename(path);
	const char *other = g_hash_table_lookup(seen, base);

	if (other != NULL && strcmp(other, path) == 0)
		return true;
	if (other != NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"the snapshot names two files called %s (%s and %s), but an "
				"archive keeps files by base name: rename one",
				base, other, path);
		return false;
	}
	if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
		host->error_set(host, err, NBX_ERROR_NOT_FOUND,
				"%s, a file of the snapshot, is missing or not a regular file", path);
		return false;
	}
	g_hash_table_insert(seen, g_steal_pointer(&base), g_strdup(path));
	if (!emit(emit_data, role, path)) {
		host->error_set(host, err, NBX_ERROR_CANCELLED, "listing stopped at %s", path);
		return false;
	}
	return true;
}

static bool
qemu_snapshot_files(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		    const char *generation_dir, nbx_snapshot_file_fn emit, void *emit_data,
		    struct nbx_error *err)
{
	Qemu *q = instance;
	g_autoptr(MachineInfo) info = NULL;
	g_autoptr(GHashTable) seen = NULL;
	g_autofree char *description = NULL;
	g_autofree char *print = NULL;

	if (!check_flags(q, call, 0, err) ||
	    (info = generation_info(q, machine, generation_dir, err)) == NULL)
		return false;
	seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	description = g_canonicalize_filename(info->path, NULL);
	print = g_build_filename(info->dir, FINGERPRINT_FILE, NULL);
	if (!emit_file(q, seen, description, NBX_SNAPSHOT_FILE_DESCRIPTION, emit, emit_data, err) ||
	    !emit_file(q, seen, info->disk, NBX_SNAPSHOT_FILE_DISK, emit, emit_data, err) ||
	    (info->memory_snapshot != NULL &&
	     !emit_file(q, seen, info->memory_snapshot, NBX_SNAPSHOT_FILE_MEMORY, emit, emit_data,
			err)) ||
	    (g_file_test(print, G_FILE_TEST_EXISTS) &&
	     !emit_file(q, seen, print, NBX_SNAPSHOT_FILE_OTHER, emit, emit_data, err)))
		return false;
	for (guint f = 0; f < info->files->len; f++) {
		guint index = g_array_index(info->files, MachineInfoFile, f).index;

		if (!emit_file(q, seen, info->start_args[index], NBX_SNAPSHOT_FILE_OTHER, emit,
			       emit_data, err))
			return false;
	}
	return true;
}

static bool
qemu_snapshot_fingerprint(void *instance, struct nbx_machine *machine,
			  const struct nbx_call *call, const char *generation_dir,
			  nbx_snapshot_fingerprint_fn emit, void *emit_data, struct nbx_error *err)
{
	Qemu *q = instance;
	const struct nbx_host *host = q->settings.host;
	g_autoptr(MachineInfo) info = NULL;
	g_autoptr(JsonObject) print = NULL;

	if (!check_flags(q, call, NBX_SNAPSHOT_FINGERPRINT_HOST, err) ||
	    (info = generation_info(q, machine, generation_dir, err)) == NULL)
		return false;
	if (call->flags & NBX_SNAPSHOT_FINGERPRINT_HOST)
		print = fingerprint_for_host(host, info, q->binary, q->settings.accelerator,
					     call->deadline_us, err);
	else
		print = fingerprint_of(host, info, q->binary, q->settings.accelerator,
				       call->deadline_us, err);
	if (print == NULL)
		return false;
	if (!fingerprint_emit(print, emit, emit_data)) {
		host->error_set(host, err, NBX_ERROR_CANCELLED, "listing stopped by the caller");
		return false;
	}
	return true;
}

static bool
qemu_snapshot_import(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     const char *generation_dir, struct nbx_error *err)
{
	Qemu *q = instance;

	bool minimal = (call->flags & NBX_SNAPSHOT_IMPORT_MINIMAL) != 0;

	if (!check_flags(q, call, NBX_SNAPSHOT_IMPORT_MINIMAL, err) ||
	    !generation_import(q->settings.host, machine->name, generation_dir, minimal,
			       machine->mac_address, err))
		return false;
	if (!minimal)
		make_template(q, machine, generation_dir, call->deadline_us);
	return true;
}

static bool
qemu_snapshot_remove(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     const char *generation_dir, struct nbx_error *err)
{
	Qemu *q = instance;
	struct nbx_error cause = { 0 };
	g_autoptr(MachineInfo) info = NULL;

	if (!check_flags(q, call, 0, err))
		return false;
	/* A generation the plugin cannot read has no template of its to remove. */
	info = generation_load(q->settings.host, generation_dir, &cause);
	if (info != NULL)
		memory_template_remove(q->settings.host, q->settings.template_dir,
				       base_of(q, machine), info);
	return true;
}

static const struct nbx_machinery_ops qemu_ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.capabilities = NBX_MACHINERY_CAP_STATE_EVENTS,
	.init = qemu_init,
	.shutdown = qemu_shutdown,
	.check = qemu_check,
	.check_machine = qemu_check_machine,
	.restore_start = qemu_restore_start,
	.norestore_start = qemu_norestore_start,
	.stop = qemu_stop,
	.acpi_stop = qemu_acpi_stop,
	.state = qemu_state,
	.dump_memory = qemu_dump_memory,
	.handle_paused = qemu_handle_paused,
	.snapshot_begin = qemu_snapshot_begin,
	.snapshot_commit = qemu_snapshot_commit,
	.snapshot_rollback = qemu_snapshot_rollback,
	.snapshot_copy_in = qemu_snapshot_copy_in,
	.snapshot_files = qemu_snapshot_files,
	.snapshot_fingerprint = qemu_snapshot_fingerprint,
	.snapshot_import = qemu_snapshot_import,
	.snapshot_remove = qemu_snapshot_remove,
	.prepare = qemu_prepare,
	.discard = qemu_discard,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "qemu", .version = "0.1.0",
		  .description = "Runs machines as QEMU processes restored from memory snapshots",
		  .config_schema = &qemu_schema, .machine_schema = &qemu_machine_schema,
		  .ops.machinery = &qemu_ops);
