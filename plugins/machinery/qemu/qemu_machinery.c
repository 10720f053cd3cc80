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
 * While a machine runs, `<machine>.run` in the run directory records its
 * QEMU, overlay and socket (run_record.h), so that after a daemon killed
 * with -9 the next one's init stops the QEMU left behind and removes its
 * files.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <nestbox/plugin.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "machine_info.h"
#include "qemu_vm.h"
#include "qmp_message.h"
#include "run_record.h"

typedef struct {
	QemuSettings settings;
	GMutex lock;
	/* QemuVm *, every machine the plugin has seen; guarded by @lock. */
	GPtrArray *vms;
} Qemu;

static const char *const accelerators[] = { "kvm", "tcg", NULL };

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
	{ 0 },
};
static const struct nbx_config_schema qemu_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = qemu_fields,
};

static const struct nbx_config_field qemu_machine_fields[] = {
	{ .name = "machineinfo", .type = NBX_FIELD_FILE,
	  .flags = NBX_FIELD_REQUIRED | NBX_FIELD_READABLE,
	  .doc = "machineinfo.json of the machine: disk, memory_snapshot and start_args; "
		 "%TAP_INTERFACE% in start_args becomes the machine's interface (its tap device)" },
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

static bool
qemu_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	Qemu *q = g_new0(Qemu, 1);
	const char *overlay_dir = host->config_string(host, NULL, "overlay_dir");

	q->settings.host = host;
	q->settings.qemu_binary = g_strdup(host->config_string(host, NULL, "qemu_binary"));
	q->settings.accelerator = g_strdup(host->config_string(host, NULL, "accelerator"));
	q->settings.qemu_img = find_qemu_img(q->settings.qemu_binary);
	if (!host->config_integer(host, NULL, "stop_timeout", &q->settings.stop_timeout_s))
		q->settings.stop_timeout_s = 10;
	if (overlay_dir != NULL) {
		q->settings.overlay_dir = g_strdup(overlay_dir);
	} else {
		q->settings.overlay_dir =
			g_build_filename(host->path(host, NBX_PATH_STATE_DIR), "overlays", NULL);
		if (g_mkdir_with_parents(q->settings.overlay_dir, 0750) != 0) {
			host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s",
					q->settings.overlay_dir, g_strerror(errno));
			g_free(q->settings.overlay_dir);
			g_free(q->settings.qemu_binary);
			g_free(q->settings.accelerator);
			g_free(q->settings.qemu_img);
			g_free(q);
			return false;
		}
	}
	/* What a daemon killed with -9 left running: its QEMUs and overlays. */
	run_record_recover_all(host, host->path(host, NBX_PATH_RUN_DIR));
	g_mutex_init(&q->lock);
	q->vms = g_ptr_array_new_with_free_func((GDestroyNotify)qemu_vm_free);
	*instance = q;
	return true;
}

static void
qemu_shutdown(void *instance)
{
	Qemu *q = instance;

	g_ptr_array_unref(q->vms);
	g_mutex_clear(&q->lock);
	g_free(q->settings.qemu_binary);
	g_free(q->settings.qemu_img);
	g_free(q->settings.accelerator);
	g_free(q->settings.overlay_dir);
	g_free(q);
}

static QemuVm *
vm_of(Qemu *q, struct nbx_machine *machine)
{
	QemuVm *vm;

	g_mutex_lock(&q->lock);
	vm = machine->plugin_data;
	if (vm == NULL) {
		vm = qemu_vm_new(&q->settings, machine);
		g_ptr_array_add(q->vms, vm);
		machine->plugin_data = vm;
	}
	g_mutex_unlock(&q->lock);
	return vm;
}

/* The machine's QemuVm with its machineinfo loaded; NULL with @err set. */
static QemuVm *
loaded_vm(Qemu *q, struct nbx_machine *machine, const struct nbx_call *call,
	  struct nbx_error *err)
{
	const struct nbx_host *host = q->settings.host;
	QemuVm *vm;

	if (call->flags != 0) {
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				call->flags);
		return NULL;
	}
	vm = vm_of(q, machine);
	if (!qemu_vm_ensure_info(vm, host->config_string(host, machine->config, "machineinfo"),
				 err))
		return NULL;
	return vm;
}

/* "QEMU emulator version 7.2.22 (...)" -> 7, 2; false when it says something else. */
static bool
parse_version(const char *text, int *major, int *minor)
{
	const char *at = strstr(text, "version ");

	return at != NULL && sscanf(at, "version %d.%d", major, minor) == 2;
}

static bool
qemu_check(void *instance, struct nbx_check *check, struct nbx_error *err)
{
	Qemu *q = instance;
	const struct nbx_host *host = q->settings.host;
	const char *argv[] = { q->settings.qemu_binary, "-version", NULL };
	g_autofree char *out = NULL;
	g_autofree char *qemu_img = NULL;
	g_autoptr(GError) error = NULL;
	int status = 0, major = 0, minor = 0;

	/*
	 * check runs on the main thread, where waiting for a spawn's exit
	 * callback would deadlock: a synchronous spawn of our own is the way.
	 */
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
			  NULL, &status, &error)) {
		host->check_report(host, check, NULL, "qemu_binary", "cannot run %s: %s",
				   q->settings.qemu_binary, error->message);
		return true;
	}
	if (!g_spawn_check_wait_status(status, NULL) || !parse_version(out, &major, &minor)) {
		host->check_report(host, check, NULL, "qemu_binary",
				   "%s -version did not print a QEMU version; is it QEMU?",
				   q->settings.qemu_binary);
		return true;
	}
	if (major < 2 || (major == 2 && minor < 11))
		host->check_report(host, check, NULL, "qemu_binary",
				   "%s is QEMU %d.%d; nestbox needs 2.11 or newer",
				   q->settings.qemu_binary, major, minor);
	qemu_img = g_find_program_in_path(q->settings.qemu_img);
	if (qemu_img == NULL)
		host->check_report(host, check, NULL, "qemu_binary",
				   "no qemu-img beside %s or in PATH; install qemu-utils",
				   q->settings.qemu_binary);
	return true;
}

static void
check_info(Qemu *q, struct nbx_machine *machine, const MachineInfo *info,
	   struct nbx_check *check)
{
	const struct nbx_host *host = q->settings.host;
	bool uses_tap = false;

	if (g_access(info->disk, R_OK) != 0)
		host->check_report(host, check, machine->config, "machineinfo",
				   "machine %s: disk %s (from %s): %s", machine->name, info->disk,
				   info->path, g_strerror(errno));
	if (g_access(info->memory_snapshot, R_OK) != 0)
		host->check_report(host, check, machine->config, "machineinfo",
				   "machine %s: memory_snapshot %s (from %s): %s", machine->name,
				   info->memory_snapshot, info->path, g_strerror(errno));
	for (size_t i = 0; info->start_args[i] != NULL; i++) {
		const char *forbidden = machine_info_forbidden_arg(info->start_args[i]);

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

	if (path == NULL) {
		host->check_report(host, check, machine->config, "machineinfo",
				   "machine %s: machineinfo is required", machine->name);
		return true;
	}
	info = machine_info_load(path, &error);
	if (info == NULL) {
		host->check_report(host, check, machine->config, "machineinfo", "machine %s: %s",
				   machine->name, error->message);
		return true;
	}
	check_info(q, machine, info, check);
	qemu_vm_set_info(vm_of(q, machine), info);
	return true;
}

static bool
qemu_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	QemuVm *vm = loaded_vm(instance, machine, call, err);

	return vm != NULL && qemu_vm_start(vm, true, call->deadline_us, err);
}

static bool
qemu_norestore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_error *err)
{
	QemuVm *vm = loaded_vm(instance, machine, call, err);

	return vm != NULL && qemu_vm_start(vm, false, call->deadline_us, err);
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
	/* Stopping a machine that never ran needs no machineinfo. */
	return qemu_vm_stop(vm_of(q, machine), call->deadline_us, err);
}

static bool
qemu_acpi_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	       struct nbx_error *err)
{
	QemuVm *vm = loaded_vm(instance, machine, call, err);

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
	QemuVm *vm = loaded_vm(instance, machine, call, err);
	g_autoptr(JsonObject) args = NULL;
	g_autofree char *protocol = NULL;

	if (vm == NULL)
		return false;
	args = json_object_new();
	/* QEMU opens the file itself: no shell, no fd to pass. */
	protocol = g_strconcat("file:", path, NULL);
	json_object_set_boolean_member(args, "paging", FALSE);
	json_object_set_string_member(args, "protocol", protocol);
	if (qemu_vm_execute(vm, "dump-guest-memory", args, call->deadline_us, NULL, err))
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
	QemuVm *vm = loaded_vm(instance, machine, call, err);
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
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "qemu", .version = "0.1.0",
		  .description = "Runs machines as QEMU processes restored from memory snapshots",
		  .config_schema = &qemu_schema, .machine_schema = &qemu_machine_schema,
		  .ops.machinery = &qemu_ops);
