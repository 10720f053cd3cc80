/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* O_PATH */
#define _GNU_SOURCE
#include "qemu_vm_state.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.h"
#include "host_side.h"
#include "memory_snapshot.h"
#include "overlay.h"
#include "qemu_args.h"
#include "qemu_confine.h"
#include "qemu_identity.h"
#include "qemu_tap.h"
#include "qmp_client.h"
#include "run_record.h"
#include "tap_device.h"

#define QMP_CHILD_FD 3
/* Tap or bridge netdevs a description may have (each gets descriptor 4, 5, ...). */
#define MAX_NETDEVS 8


QemuVm *
qemu_vm_new(const QemuSettings *settings, struct nbx_machine *machine)
{
	QemuVm *vm = g_new0(QemuVm, 1);
	const char *run_dir = settings->host->path(settings->host, NBX_PATH_RUN_DIR);

	vm->settings = settings;
	vm->host = settings->host;
	vm->machine = machine;
	vm->state = NBX_MACHINE_POWEROFF;
	vm->run_qmp_path = g_strdup_printf("%s/%s.qmp", run_dir, machine->name);
	vm->run_log_path = g_strdup_printf("%s/%s.log", run_dir, machine->name);
	vm->run_record_path = run_record_path(run_dir, machine->name);
	vm->deleted_devices = g_ptr_array_new_with_free_func(g_free);
	vm->report = true;
	g_mutex_init(&vm->lock);
	g_cond_init(&vm->cond);
	return vm;
}

QemuVm *
qemu_vm_new_private(const QemuSettings *settings, struct nbx_machine *machine)
{
	QemuVm *vm = qemu_vm_new(settings, machine);

	vm->report = false;
	return vm;
}

void
qemu_vm_free(QemuVm *vm)
{
	bool alive;

	if (vm == NULL)
		return;
	g_mutex_lock(&vm->lock);
	alive = vm->alive;
	if (alive)
		vm->host->child_signal(vm->host, vm->pid, SIGKILL, NULL);
	g_mutex_unlock(&vm->lock);
	if (alive) {
		/*
		 * The core promises stopped machines at shutdown; if one still
		 * runs, its exit callback is yet to come and will touch @vm, so
		 * @vm is left allocated rather than freed under that callback.
		 */
		vm->host->log(vm->host, NBX_LOG_WARNING,
			      "machine %s still ran at shutdown; QEMU (pid %" G_GINT64_FORMAT
			      ") killed",
			      vm->machine->name, vm->pid);
		return;
	}
	if (vm->qmp != NULL)
		qmp_client_close(vm->qmp);
	machine_info_free(vm->info);
	machine_info_free(vm->launched);
	g_free(vm->run_qmp_path);
	g_free(vm->run_log_path);
	g_free(vm->run_record_path);
	g_free(vm->session_dir);
	g_free(vm->overlay);
	g_free(vm->qmp_path);
	g_free(vm->log_path);
	g_free(vm->record_path);
	g_free(vm->feeder_log);
	g_free(vm->memory_file);
	g_free(vm->state_file);
	g_ptr_array_unref(vm->deleted_devices);
	g_free(vm->migration_status);
	g_free(vm->state_reason);
	g_free(vm->io_error);
	g_mutex_clear(&vm->lock);
	g_cond_clear(&vm->cond);
	g_free(vm);
}

void
qemu_vm_set_info(QemuVm *vm, MachineInfo *info)
{
	machine_info_free(vm->info);
	vm->info = info;
}

MachineInfo *
qemu_vm_info(QemuVm *vm, const char *path, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;

	if (vm->info != NULL)
		return vm->info;
	if (path == NULL) {
		vm->host->error_set(vm->host, err, NBX_ERROR_NOT_FOUND,
				    "machine %s has no snapshot: import one with "
				    "`nestbox snapshot import`",
				    vm->machine->name);
		return NULL;
	}
	vm->info = machine_info_load(path, &error);
	if (vm->info == NULL)
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID, "%s", error->message);
	return vm->info;
}

/*
 * Records @state and tells the core, outside the lock (the core takes its
 * own). What QEMU reports after a crash (SHUTDOWN, its exit) must not
 * hide the crash: unless @force, an ERROR state stays until the next
 * start or stop.
 */
static void
change_state(QemuVm *vm, int32_t state, const char *reason, bool force)
{
	bool changed;

	g_mutex_lock(&vm->lock);
	if (!force && vm->state == NBX_MACHINE_ERROR) {
		g_mutex_unlock(&vm->lock);
		return;
	}
	changed = vm->state != state;
	vm->state = state;
	g_free(vm->state_reason);
	vm->state_reason = g_strdup(reason);
	if (state != NBX_MACHINE_PAUSED)
		vm->foreign_pause = false;
	g_cond_broadcast(&vm->cond);
	g_mutex_unlock(&vm->lock);
	if (changed && vm->report)
		vm->host->machine_state_changed(vm->host, vm->machine, state, reason);
}

static void
set_state(QemuVm *vm, int32_t state, const char *reason)
{
	change_state(vm, state, reason, true);
}

/* A change QEMU reported by itself. */
static void
note_state(QemuVm *vm, int32_t state, const char *reason)
{
	change_state(vm, state, reason, false);
}

const char *
qemu_vm_error_status_reason(const char *status)
{
	if (status == NULL)
		return NULL;
	if (strcmp(status, "guest-panicked") == 0)
		return "guest panicked";
	if (strcmp(status, "io-error") == 0)
		return "io-error";
	if (strcmp(status, "internal-error") == 0)
		return "internal-error";
	return NULL;
}

/* Main thread: the answer to the query-status a STOP event sent. */
static void
on_stop_status(void *user_data, const QmpMessage *reply)
{
	QemuVm *vm = user_data;
	const char *status = reply->result != NULL && JSON_NODE_HOLDS_OBJECT(reply->result)
				     ? qmp_string_member(json_node_get_object(reply->result), "status")
				     : NULL;
	const char *error = qemu_vm_error_status_reason(status);
	g_autofree char *reason = NULL;
	g_autofree char *io_error = NULL;
	bool was_running;

	g_mutex_lock(&vm->lock);
	was_running = vm->stopped_while_running;
	vm->stopped_while_running = false;
	io_error = g_steal_pointer(&vm->io_error);
	g_mutex_unlock(&vm->lock);
	if (status == NULL) {
		reason = g_strdup_printf("QEMU stopped the guest's CPUs; query-status: %s",
					 reply->is_error ? reply->error_desc : "no status");
		note_state(vm, NBX_MACHINE_PAUSED, reason);
		return;
	}
	if (error != NULL) {
		if (io_error != NULL && strcmp(status, "io-error") == 0)
			reason = g_strdup_printf("io-error: %s", io_error);
		note_state(vm, NBX_MACHINE_ERROR, reason != NULL ? reason : error);
		return;
	}
	/* Stopped and resumed again before QEMU answered (a memory dump does that). */
	if (strcmp(status, "running") == 0)
		return;
	reason = g_strdup_printf("QEMU says the guest is %s", status);
	note_state(vm, NBX_MACHINE_PAUSED, reason);
	if (was_running && strcmp(status, "paused") == 0) {
		g_mutex_lock(&vm->lock);
		if (vm->state == NBX_MACHINE_PAUSED)
			vm->foreign_pause = true;
		g_mutex_unlock(&vm->lock);
	}
}

/* "disk0 (write): No space left on device", from BLOCK_IO_ERROR's data. */
static char *
describe_io_error(JsonObject *data)
{
	const char *device = qmp_string_member(data, "device");
	const char *node = qmp_string_member(data, "node-name");
	const char *operation = qmp_string_member(data, "operation");
	const char *reason = qmp_string_member(data, "reason");

	if (device == NULL || *device == '\0')
		device = node != NULL ? node : "?";
	return g_strdup_printf("%s (%s): %s", device, operation != NULL ? operation : "?",
			       reason != NULL ? reason : "?");
}

/* Main thread: QMP events are how the plugin learns of every change, without polling. */
static void
on_event(void *user_data, const char *event, JsonObject *data)
{
	QemuVm *vm = user_data;

	if (strcmp(event, "STOP") == 0) {
		QmpClient *qmp;

		/*
		 * STOP carries no reason: only query-status tells a pause from a
		 * panic or an I/O error. The state changes once QEMU answers.
		 */
		g_mutex_lock(&vm->lock);
		vm->stopped_while_running = vm->state == NBX_MACHINE_RUNNING;
		qmp = vm->qmp;
		g_mutex_unlock(&vm->lock);
		if (qmp == NULL || !qmp_client_send_async(qmp, "query-status", on_stop_status, vm))
			note_state(vm, NBX_MACHINE_PAUSED, "QEMU stopped the guest's CPUs");
	} else if (strcmp(event, "RESUME") == 0) {
		note_state(vm, NBX_MACHINE_RUNNING, NULL);
	} else if (strcmp(event, "GUEST_PANICKED") == 0) {
		note_state(vm, NBX_MACHINE_ERROR, "guest panicked");
	} else if (strcmp(event, "GUEST_CRASHLOADED") == 0) {
		note_state(vm, NBX_MACHINE_ERROR, "guest panicked (its crash kernel took over)");
	} else if (strcmp(event, "BLOCK_IO_ERROR") == 0 && data != NULL) {
		const char *action = qmp_string_member(data, "action");

		if (action != NULL && strcmp(action, "stop") == 0) {
			g_autofree char *detail = describe_io_error(data);

			g_mutex_lock(&vm->lock);
			g_free(vm->io_error);
			vm->io_error = g_steal_pointer(&detail);
			g_mutex_unlock(&vm->lock);
		}
	} else if (strcmp(event, "SHUTDOWN") == 0) {
		bool guest = qmp_boolean_member(data, "guest", false);
		const char *why = qmp_string_member(data, "reason");
		g_autofree char *reason = g_strdup_printf(
			"%s (%s)", guest ? "the guest shut down" : "QEMU shut down",
			why != NULL ? why : "?");

		note_state(vm, NBX_MACHINE_POWEROFF, reason);
	} else if (strcmp(event, "DEVICE_DELETED") == 0 && data != NULL) {
		const char *device = qmp_string_member(data, "device");

		/* Devices without an id (their backends) are none the plugin added. */
		if (device == NULL)
			return;
		g_mutex_lock(&vm->lock);
		g_ptr_array_add(vm->deleted_devices, g_strdup(device));
		g_cond_broadcast(&vm->cond);
		g_mutex_unlock(&vm->lock);
	} else if (strcmp(event, "MIGRATION") == 0 && data != NULL) {
		const char *status = qmp_string_member(data, "status");

		g_mutex_lock(&vm->lock);
		g_free(vm->migration_status);
		vm->migration_status = g_strdup(status != NULL ? status : "");
		g_cond_broadcast(&vm->cond);
		g_mutex_unlock(&vm->lock);
	}
}

static char *
describe_exit(int status)
{
	if (WIFEXITED(status))
		return g_strdup_printf("QEMU exited with status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return g_strdup_printf("QEMU was killed by signal %d", WTERMSIG(status));
	return g_strdup("QEMU ended");
}

/* Main thread, once the core has reaped QEMU. */
static void
on_qemu_exit(void *user_data, int64_t pid, int32_t wait_status)
{
	QemuVm *vm = user_data;
	g_autofree char *reason = describe_exit(wait_status);
	bool ours;

	g_mutex_lock(&vm->lock);
	ours = vm->alive && vm->pid == pid;
	if (ours) {
		vm->alive = false;
		vm->exiting = true;
		vm->exit_status = wait_status;
		g_cond_broadcast(&vm->cond);
	}
	g_mutex_unlock(&vm->lock);
	if (!ours)
		return;
	note_state(vm, NBX_MACHINE_POWEROFF, reason);
	/* Last touch of @vm: tear_down waits for it, so a VM freed after it is not in use. */
	g_mutex_lock(&vm->lock);
	vm->exiting = false;
	g_cond_broadcast(&vm->cond);
	g_mutex_unlock(&vm->lock);
}

/*
 * Where bind() and connect() reach @path: itself, or, when it is longer
 * than a socket address holds (a session's work_dir may be deep), the same
 * file through /proc/self/fd of its directory, opened into *@dir_fd.
 */
static bool
socket_address(const char *path, struct sockaddr_un *address, int *dir_fd)
{
	g_autofree char *dir = NULL;
	g_autofree char *base = NULL;
	int written;

	*dir_fd = -1;
	*address = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) < sizeof address->sun_path) {
		strcpy(address->sun_path, path);
		return true;
	}
	dir = g_path_get_dirname(path);
	base = g_path_get_basename(path);
	*dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dir_fd < 0)
		return false;
	written = snprintf(address->sun_path, sizeof address->sun_path, "/proc/self/fd/%d/%s",
			   *dir_fd, base);
	if (written < 0 || (size_t)written >= sizeof address->sun_path) {
		close(*dir_fd);
		*dir_fd = -1;
		errno = ENAMETOOLONG;
		return false;
	}
	return true;
}

/*
 * The plugin listens on the QMP socket itself and hands the listening
 * descriptor to QEMU: the plugin's connection is queued before QEMU even
 * starts, so there is no waiting for QEMU to create the socket.
 */
static bool
open_qmp_socket(QemuVm *vm, int *listener, int *connection, struct nbx_error *err)
{
	struct sockaddr_un address;
	int dir_fd = -1;

	*listener = *connection = -1;
	g_unlink(vm->qmp_path);
	if (!socket_address(vm->qmp_path, &address, &dir_fd))
		goto fail;
	*listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*listener < 0 || bind(*listener, (struct sockaddr *)&address, sizeof address) != 0 ||
	    listen(*listener, 1) != 0)
		goto fail;
	*connection = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*connection < 0 ||
	    connect(*connection, (struct sockaddr *)&address, sizeof address) != 0)
		goto fail;
	if (dir_fd >= 0)
		close(dir_fd);
	return true;
fail:
	vm->host->error_set(vm->host, err, NBX_ERROR_IO, "QMP socket %s: %s", vm->qmp_path,
			    g_strerror(errno));
	if (dir_fd >= 0)
		close(dir_fd);
	if (*listener >= 0)
		close(*listener);
	if (*connection >= 0)
		close(*connection);
	*listener = *connection = -1;
	g_unlink(vm->qmp_path);
	return false;
}

/*
 * QEMU's argv, confined (qemu_confine.h): for an analysis run the overlay
 * and its base, a template's RAM and the boot files go in as descriptors
 * of @fds, each tap as @netdev_fds says; QMP's listener is descriptor
 * QMP_CHILD_FD.
 */
static GPtrArray *
build_argv(QemuVm *vm, const QemuLaunch *launch, const QemuIdentity *identity,
	   const int *netdev_fds, QemuFds *fds, struct nbx_error *err)
{
	/*
	 * A session's QEMU (and a template's) keeps opening its files by path:
	 * a session's commit hands the image to qemu-img after the migration,
	 * and the image locks of descriptors in an fd set are not let go of then.
	 */
	bool by_fd = launch->session_dir == NULL;
	g_autofree char *memory_file = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) args = NULL;
	QemuArgsSpec spec = {
		.overlay = by_fd ? QEMU_CONFINE_OVERLAY : vm->overlay,
		.tap = vm->machine->interface,
		.accelerator = vm->settings->accelerator,
		.netdev_fds = netdev_fds,
		.memory_file = launch->memory_file,
		.memory_shared = launch->memory == QEMU_MEMORY_CONVERT,
		.memory_mb = launch->memory_mb,
	};

	if (by_fd && launch->memory_file != NULL) {
		memory_file = qemu_confine_memory_file(vm->host, launch->memory_file, fds, err);
		if (memory_file == NULL)
			return NULL;
		spec.memory_file = memory_file;
	}
	args = qemu_args_build(vm->launched, &spec, &error);
	if (args == NULL) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID, "%s", error->message);
		return NULL;
	}
	g_ptr_array_insert(args, 0, g_strdup(vm->settings->qemu_binary));
	if (!qemu_confine_args(vm->host, identity, args, by_fd ? vm->overlay : NULL,
			       vm->launched->disk, fds, err))
		return NULL;
	g_ptr_array_add(args, g_strdup("-chardev"));
	g_ptr_array_add(args,
			g_strdup_printf("socket,id=nbx-qmp,fd=%d,server=on,wait=off", QMP_CHILD_FD));
	g_ptr_array_add(args, g_strdup("-mon"));
	g_ptr_array_add(args, g_strdup("chardev=nbx-qmp,mode=control"));
	for (size_t i = 0; launch->extra_args != NULL && launch->extra_args[i] != NULL; i++)
		g_ptr_array_add(args, g_strdup(launch->extra_args[i]));
	/* A template is made of a guest that never runs again. */
	if (launch->memory == QEMU_MEMORY_CONVERT)
		g_ptr_array_add(args, g_strdup("-S"));
	if (launch->memory != QEMU_MEMORY_BOOT) {
		g_ptr_array_add(args, g_strdup("-incoming"));
		g_ptr_array_add(args, g_strdup("defer"));
	}
	g_ptr_array_add(args, NULL);
	return g_steal_pointer(&args);
}

static const char *
machine_netns(QemuVm *vm)
{
	return NBX_MACHINE_HAS(vm->machine, network_namespace) ? vm->machine->network_namespace
							       : NULL;
}

const char *
qemu_vm_network_namespace(QemuVm *vm)
{
	return machine_netns(vm);
}

/* One netdev's tap, opened by the plugin (qemu_tap.h, tap_device.h); -1 with @err. */
static int
open_tap(QemuVm *vm, const QemuLaunch *launch, const QemuNetdev *netdev, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;
	char name[IFNAMSIZ];
	int fd;

	/* A tap netdev: the machine's own (a QEMU that is not root could not open it). */
	if (!netdev->bridge && launch->memory != QEMU_MEMORY_CONVERT)
		return qemu_tap_open(vm->host, vm->machine, err);
	/* A template's QEMU: taps like the guest's, in no bridge, in the daemon's namespace. */
	fd = launch->memory == QEMU_MEMORY_CONVERT
		     ? tap_device_open(NULL, NULL, name, &error)
		     : tap_device_open(machine_netns(vm), netdev->bridge_name, name, &error);
	if (fd < 0)
		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "machine %s: -netdev %s (start_args of %s): %s",
				    vm->machine->name, netdev->id != NULL ? netdev->id : "",
				    vm->launched->path, error->message);
	return fd;
}

/*
 * A tap of the plugin's for every tap or bridge netdev of the launch (QEMU
 * would need root or its setuid helper for them): @child_fds gets what
 * QEMU calls each, and @fds the plugin's copies.
 */
static bool
open_taps(QemuVm *vm, const QemuLaunch *launch, GPtrArray *netdevs, int *child_fds,
	  QemuFds *fds, struct nbx_error *err)
{
	if (netdevs->len > MAX_NETDEVS) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "%s: start_args have %u tap or bridge netdevs; at most %d work",
				    vm->launched->path, netdevs->len, MAX_NETDEVS);
		return false;
	}
	for (guint n = 0; n < netdevs->len; n++) {
		int fd = open_tap(vm, launch, g_ptr_array_index(netdevs, n), err);

		if (fd < 0)
			return false;
		child_fds[n] = qemu_fds_pass(fds, fd);
	}
	return true;
}

/*
 * Who QEMU runs as: an analysis run's QEMU (prepared or not) under the
 * machine's own uid (qemu_identity.h), which then owns the run's overlay,
 * alone. A snapshot session's QEMU and a template's (the operator's,
 * reading a work_dir by path) stay the daemon's user; they are sandboxed
 * all the same.
 */
static bool
run_identity(QemuVm *vm, const QemuLaunch *launch, QemuIdentity *identity,
	     struct nbx_error *err)
{
	*identity = (QemuIdentity){ 0 };
	if (launch->session_dir != NULL || !NBX_HOST_HAS(vm->host, run))
		return true;
	if (!qemu_identity_of(vm->host, vm->settings->uid_base, vm->settings->accelerator,
			      vm->machine, identity, err))
		return false;
	if (!qemu_identity_contained(identity))
		return true;
	if (chown(vm->overlay, identity->uid, identity->gid) != 0 || chmod(vm->overlay, 0600) != 0) {
		vm->host->error_set(vm->host, err, NBX_ERROR_IO,
				    "cannot give overlay %s to %s: %s", vm->overlay,
				    identity->description, g_strerror(errno));
		return false;
	}
	return true;
}

/* The spawn's ABI 1.2 part: the user and the machine's segment. */
static void
contain_spawn(QemuVm *vm, const QemuLaunch *launch, const QemuIdentity *identity,
	      struct nbx_spawn *spawn)
{
	if (!NBX_HOST_HAS(vm->host, run))
		return;
	spawn->uid = identity->uid;
	spawn->gid = identity->gid;
	spawn->groups = identity->n_groups > 0 ? identity->groups : NULL;
	spawn->n_groups = identity->n_groups;
	if (launch->memory != QEMU_MEMORY_CONVERT)
		spawn->network_namespace = machine_netns(vm);
}

static bool
spawn_qemu(QemuVm *vm, const QemuLaunch *launch, struct nbx_error *err)
{
	g_autoptr(QemuFds) fds = qemu_fds_new(QMP_CHILD_FD + 1);
	g_autoptr(GPtrArray) netdevs = qemu_netdevs(vm->launched);
	int child_fds[MAX_NETDEVS];
	g_autoptr(GPtrArray) argv = NULL;
	QemuIdentity identity;
	int listener, connection;
	struct nbx_fd_map qmp_map;
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn,
		.stdin_fd = -1,
		.output_path = vm->log_path,
		.on_exit = on_qemu_exit,
		.user_data = vm,
	};
	g_autofree char *what = g_strdup_printf("QEMU of machine %s", vm->machine->name);
	bool ok;

	if (!run_identity(vm, launch, &identity, err) ||
	    !open_taps(vm, launch, netdevs, child_fds, fds, err))
		return false;
	argv = build_argv(vm, launch, &identity, child_fds, fds, err);
	if (argv == NULL || !open_qmp_socket(vm, &listener, &connection, err))
		return false;
	/* First: the core's spawn keeps the descriptors it is given in order. */
	qmp_map = (struct nbx_fd_map){ .parent_fd = listener, .child_fd = QMP_CHILD_FD };
	g_array_prepend_val(fds->maps, qmp_map);
	spawn.fds = (const struct nbx_fd_map *)(void *)fds->maps->data;
	spawn.n_fds = fds->maps->len;
	contain_spawn(vm, launch, &identity, &spawn);
	spawn.argv = (const char *const *)argv->pdata;
	g_unlink(vm->log_path);
	g_mutex_lock(&vm->lock);
	vm->alive = true;
	vm->pid = 0;
	g_free(vm->migration_status);
	vm->migration_status = NULL;
	g_ptr_array_set_size(vm->deleted_devices, 0);
	g_mutex_unlock(&vm->lock);
	/*
	 * The core stores the pid on the main thread before it can run the
	 * exit callback there, so a QEMU that dies at once is still seen as
	 * ours; no lock may be held here, the main thread does the spawning.
	 */
	ok = vm->host->spawn(vm->host, &spawn, &vm->pid, err);
	if (!ok) {
		g_mutex_lock(&vm->lock);
		vm->alive = false;
		g_mutex_unlock(&vm->lock);
	}
	/* The listener goes with the other descriptors QEMU got: @fds closes them all. */
	if (!ok) {
		close(connection);
		g_unlink(vm->qmp_path);
		return false;
	}
	vm->qmp = qmp_client_new(vm->host, connection, what, on_event, vm);
	return true;
}

static char *
query_status(QemuVm *vm, int64_t deadline_us, struct nbx_error *err)
{
	g_autoptr(JsonNode) result = NULL;
	const char *status;

	if (!qmp_client_execute(vm->qmp, "query-status", NULL, -1, deadline_us, &result, err))
		return NULL;
	if (result == NULL || !JSON_NODE_HOLDS_OBJECT(result)) {
		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "QEMU answered query-status without a status");
		return NULL;
	}
	status = qmp_string_member(json_node_get_object(result), "status");
	return g_strdup(status != NULL ? status : "unknown");
}

/* After loading, QEMU may have resumed the guest itself or left it paused. */
static bool
ensure_running(QemuVm *vm, int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *status = query_status(vm, deadline_us, err);

	if (status == NULL)
		return false;
	if (strcmp(status, "paused") == 0 || strcmp(status, "postmigrate") == 0 ||
	    strcmp(status, "prelaunch") == 0) {
		g_free(status);
		if (!qmp_client_execute(vm->qmp, "cont", NULL, -1, deadline_us, NULL, err))
			return false;
		status = query_status(vm, deadline_us, err);
		if (status == NULL)
			return false;
	}
	if (strcmp(status, "running") != 0) {
		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "QEMU says the guest is %s, not running", status);
		return false;
	}
	return true;
}

/* Kills QEMU if it runs, waits until it is reaped, removes the launch's files. */
static void
tear_down(QemuVm *vm)
{
	QmpClient *qmp;

	g_mutex_lock(&vm->lock);
	if (vm->alive)
		/* Fails only if the core reaped it meanwhile: then alive is about to drop. */
		vm->host->child_signal(vm->host, vm->pid, SIGKILL, NULL);
	/* SIGKILL cannot be refused, so the exit callback comes, and ends. */
	while (vm->alive || vm->exiting)
		g_cond_wait(&vm->cond, &vm->lock);
	qmp = vm->qmp;
	vm->qmp = NULL;
	g_mutex_unlock(&vm->lock);
	if (qmp != NULL)
		qmp_client_close(qmp);
	if (vm->qmp_path != NULL)
		g_unlink(vm->qmp_path);
	overlay_remove(vm->host, vm->overlay);
	g_clear_pointer(&vm->overlay, g_free);
	/* Last: until everything it names is gone, the record must stay. */
	if (vm->record_written && g_unlink(vm->record_path) != 0 && errno != ENOENT)
		vm->host->log(vm->host, NBX_LOG_WARNING, "cannot remove run record %s: %s",
			      vm->record_path, g_strerror(errno));
	vm->record_written = false;
	vm->prepared = false;
	g_clear_pointer(&vm->launched, machine_info_free);
	g_clear_pointer(&vm->session_dir, g_free);
	g_clear_pointer(&vm->memory_file, g_free);
	g_clear_pointer(&vm->state_file, g_free);
	set_state(vm, NBX_MACHINE_POWEROFF, "stopped");
}

/*
 * When QEMU died, what it printed last is the real reason ("invalid
 * option", "could not open disk"); the QMP error alone would only say the
 * socket closed.
 */
static void
explain_failure(QemuVm *vm, const struct nbx_error *cause, struct nbx_error *err)
{
	int64_t until = vm->host->monotonic_us(vm->host) + G_USEC_PER_SEC;
	g_autofree char *words = NULL;
	bool exited;

	g_mutex_lock(&vm->lock);
	/* The socket closes a moment before the core reaps QEMU. */
	if (vm->qmp != NULL && qmp_client_is_closed(vm->qmp))
		while (vm->alive && g_cond_wait_until(&vm->cond, &vm->lock, until))
			;
	exited = vm->qmp != NULL && !vm->alive;
	g_mutex_unlock(&vm->lock);
	words = exited ? qemu_vm_last_words(vm) : NULL;
	if (words != NULL && strstr(cause->message, words) == NULL)
		vm->host->error_set(vm->host, err,
				    cause->code == NBX_ERROR_TIMEOUT ? NBX_ERROR_TIMEOUT
								     : NBX_ERROR_HYPERVISOR,
				    "%s; QEMU exited: %s", cause->message, words);
	else
		vm->host->error_set(vm->host, err, cause->code, "%s", cause->message);
}

/*
 * Records the launch before anything of it can outlive the daemon: first
 * the overlay (pid 0), then QEMU's pid once it is spawned.
 */
static bool
write_record(QemuVm *vm, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;
	RunRecord record = {
		/* Borrowed: this record is never freed. */
		.machine = (char *)vm->machine->name,
		.pid = vm->qmp != NULL ? vm->pid : 0,
		.overlay = vm->overlay,
		.qmp_socket = vm->qmp_path,
	};

	run_record_init_owner(&record);
	if (record.pid > 0 && !process_start_time(record.pid, &record.pid_start_time))
		/* Gone already: 0 never matches, so the pid is never signalled later. */
		record.pid_start_time = 0;
	if (!run_record_write(vm->record_path, &record, &error)) {
		vm->host->error_set(vm->host, err, NBX_ERROR_IO,
				    "cannot write the run record of machine %s: %s",
				    vm->machine->name, error->message);
		return false;
	}
	vm->record_written = true;
	return true;
}

/* A record in the run dir this VM did not write, of a daemon that is gone; NULL when none. */
static RunRecord *
leftover_record(QemuVm *vm, bool *owner_alive)
{
	g_autoptr(GError) error = NULL;
	RunRecord *record;

	*owner_alive = false;
	if ((vm->record_written && vm->session_dir == NULL) ||
	    !g_file_test(vm->run_record_path, G_FILE_TEST_EXISTS))
		return NULL;
	record = run_record_load(vm->run_record_path, &error);
	if (record == NULL) {
		vm->host->log(vm->host, NBX_LOG_WARNING, "removing unreadable run record: %s",
			      error->message);
		g_unlink(vm->run_record_path);
		return NULL;
	}
	*owner_alive = run_record_owner_alive(record);
	return record;
}

/*
 * Cleans up after a run of this machine that a dead daemon left (its QEMU
 * killed, its files removed). False with @err when another live daemon or
 * instance runs the machine, or its QEMU could not be killed.
 */
static bool
recover_leftover(QemuVm *vm, struct nbx_error *err)
{
	bool owner_alive;
	g_autoptr(RunRecord) record = leftover_record(vm, &owner_alive);

	if (record == NULL)
		return true;
	if (owner_alive) {
		vm->host->error_set(vm->host, err, NBX_ERROR_BUSY,
				    "machine %s is run by process %" G_GINT64_FORMAT
				    " (QEMU pid %" G_GINT64_FORMAT ", record %s)",
				    vm->machine->name, record->owner_pid, record->pid,
				    vm->run_record_path);
		return false;
	}
	if (!run_record_recover(vm->host, vm->run_record_path, record)) {
		vm->host->error_set(vm->host, err, NBX_ERROR_HYPERVISOR,
				    "machine %s: QEMU pid %" G_GINT64_FORMAT
				    " left by an earlier daemon could not be killed",
				    vm->machine->name, record->pid);
		return false;
	}
	return true;
}

bool
qemu_vm_leftover_running(QemuVm *vm)
{
	bool owner_alive, running;
	g_autoptr(RunRecord) record = NULL;

	g_mutex_lock(&vm->lock);
	running = vm->alive;
	g_mutex_unlock(&vm->lock);
	if (running)
		return false;
	record = leftover_record(vm, &owner_alive);
	if (record == NULL || owner_alive)
		return false;
	if (record->pid > 0 && process_is(record->pid, record->pid_start_time))
		return true;
	/* Its QEMU is gone: only files are left, and removing them kills nothing. */
	run_record_recover(vm->host, vm->run_record_path, record);
	return false;
}

/* Where this launch keeps its files: the run dir for a run, work_dir for a session. */
static void
set_launch_paths(QemuVm *vm, const QemuLaunch *launch)
{
	g_free(vm->qmp_path);
	g_free(vm->log_path);
	g_free(vm->record_path);
	g_free(vm->session_dir);
	g_free(vm->feeder_log);
	vm->session_dir = g_strdup(launch->session_dir);
	if (launch->session_dir == NULL) {
		vm->qmp_path = g_strdup(vm->run_qmp_path);
		vm->log_path = g_strdup(vm->run_log_path);
		vm->record_path = g_strdup(vm->run_record_path);
	} else {
		vm->qmp_path = g_build_filename(launch->session_dir, QEMU_VM_SESSION_QMP, NULL);
		vm->log_path = g_build_filename(launch->session_dir, QEMU_VM_SESSION_LOG, NULL);
		vm->record_path =
			g_build_filename(launch->session_dir, QEMU_VM_SESSION_RECORD, NULL);
	}
	vm->feeder_log = g_strconcat(vm->log_path, ".decompressor", NULL);
	/*
	 * A QEMU of the plugin's own (a template's) is recorded in the run dir
	 * like a run, so the orphan clean-up at init finds it too.
	 */
	if (!vm->report) {
		g_free(vm->record_path);
		vm->record_path = g_strdup(vm->run_record_path);
	}
}

/*
 * The restored guest knows the host side by the MAC it had when the memory
 * was saved: make it learn the current one now rather than after its ARP
 * entry times out (host_side.h).
 */
static void
announce_host_side(QemuVm *vm)
{
	g_autoptr(GError) error = NULL;
	guint sent = 0;

	if (!host_side_announce(machine_netns(vm), vm->machine->ip, &sent, &error))
		vm->host->log(vm->host, NBX_LOG_WARNING,
			      "machine %s: %s; the guest reaches the host only once its ARP entry "
			      "expires",
			      vm->machine->name, error->message);
	else
		vm->host->log(vm->host, NBX_LOG_DEBUG,
			      "machine %s: host side announced to the guest (%u gratuitous ARP)",
			      vm->machine->name, sent);
}

/* False with @err when this VM runs a QEMU already. */
static bool
idle(QemuVm *vm, struct nbx_error *err)
{
	bool alive;

	g_mutex_lock(&vm->lock);
	alive = vm->alive;
	g_mutex_unlock(&vm->lock);
	if (!alive)
		return true;
	if (vm->session_dir != NULL)
		vm->host->error_set(vm->host, err, NBX_ERROR_BUSY,
				    "machine %s is in a snapshot session (%s); commit or roll it "
				    "back first",
				    vm->machine->name, vm->session_dir);
	else
		vm->host->error_set(vm->host, err, NBX_ERROR_BUSY,
				    "QEMU (pid %" G_GINT64_FORMAT ") still runs; stop it first", vm->pid);
	return false;
}

/* The memory the launch loads, opened: a stream through its decompressor, or a template's state. */
static bool
open_memory(QemuVm *vm, MemorySnapshot *snapshot, const char **what, struct nbx_error *err)
{
	*snapshot = (MemorySnapshot){ .fd = -1 };
	if (vm->memory != QEMU_MEMORY_TEMPLATE) {
		*what = vm->launched->memory_snapshot;
		return memory_snapshot_open(vm->host, vm->launched->memory_snapshot, vm->feeder_log,
					    snapshot, err);
	}
	*what = vm->state_file;
	snapshot->fd = open(vm->state_file, O_RDONLY | O_CLOEXEC);
	if (snapshot->fd >= 0)
		return true;
	vm->host->error_set(vm->host, err, NBX_ERROR_IO, "memory template %s: %s", vm->state_file,
			    g_strerror(errno));
	return false;
}

/* Loads the launch's memory and, but for a template being made, runs the guest. */
static bool
load_and_run(QemuVm *vm, int64_t deadline_us, struct nbx_error *err)
{
	MemorySnapshot snapshot;
	const char *what = NULL;
	bool ok;

	if (!open_memory(vm, &snapshot, &what, err))
		return false;
	ok = qemu_vm_migration_load(vm, snapshot.fd, snapshot.decompressor, what, deadline_us, err);
	snapshot.fd = -1;
	memory_snapshot_close(&snapshot);
	return ok && (vm->memory == QEMU_MEMORY_CONVERT || ensure_running(vm, deadline_us, err));
}

/* The launch's overlay, record and QEMU, waiting for its memory unless it boots. */
static bool
start(QemuVm *vm, const QemuLaunch *launch, int64_t deadline_us, struct nbx_error *err)
{
	const char *overlay_dir =
		launch->session_dir != NULL ? launch->session_dir : vm->settings->overlay_dir;
	int64_t started = vm->host->monotonic_us(vm->host);

	vm->overlay = overlay_create(vm->host, vm->settings->qemu_img, vm->settings->blank_dir,
				     overlay_dir, vm->machine->name, launch->info->disk,
				     deadline_us, err);
	if (vm->overlay == NULL)
		return false;
	vm->overlay_us = vm->host->monotonic_us(vm->host) - started;
	vm->launched = machine_info_ref(launch->info);
	vm->memory = launch->memory;
	vm->memory_file = g_strdup(launch->memory_file);
	vm->state_file = g_strdup(launch->state_file);
	return write_record(vm, err) && spawn_qemu(vm, launch, err) && write_record(vm, err) &&
	       (launch->memory == QEMU_MEMORY_BOOT ||
		qemu_vm_migration_setup(vm, launch->memory == QEMU_MEMORY_TEMPLATE, deadline_us,
					err));
}

/* What a launch or resume that failed leaves: nothing, and the reason. */
static bool
launch_failed(QemuVm *vm, const struct nbx_error *cause, struct nbx_error *err)
{
	explain_failure(vm, cause, err);
	tear_down(vm);
	return false;
}

static const char *
memory_name(QemuMemory memory)
{
	static const char *const names[] = { "booted", "restored from its stream",
					     "restored from its template", "loaded for a template" };

	return names[memory];
}

/* Where a launch's time went, for the log: the fixed costs are what a restore tries to cut. */
static void
log_timing(QemuVm *vm, int64_t started, int64_t qemu_up, bool prepared)
{
	int64_t now = vm->host->monotonic_us(vm->host);

	vm->host->log(vm->host, NBX_LOG_DEBUG,
		      "machine %s: %s in %.3f s%s (overlay %.3f s, QEMU up %.3f s, memory and "
		      "cont %.3f s)",
		      vm->machine->name, memory_name(vm->memory), (now - started) / 1e6,
		      prepared ? " from its prepared run" : "", vm->overlay_us / 1e6,
		      qemu_up != 0 ? (qemu_up - started) / 1e6 - vm->overlay_us / 1e6 : 0.0,
		      (now - (qemu_up != 0 ? qemu_up : started)) / 1e6);
}

/* The guest runs: tell the guest where the host is, and the core that it runs. */
static void
running(QemuVm *vm)
{
	if (vm->memory != QEMU_MEMORY_BOOT)
		announce_host_side(vm);
	/* A panic seen while starting stays: note_state, not set_state. */
	note_state(vm, NBX_MACHINE_RUNNING, NULL);
}

bool
qemu_vm_launch(QemuVm *vm, const QemuLaunch *launch, int64_t deadline_us, struct nbx_error *err)
{
	struct nbx_error cause = { 0 };
	int64_t started = vm->host->monotonic_us(vm->host), qemu_up;

	if (!idle(vm, err) || !recover_leftover(vm, err))
		return false;
	/* A leftover of a run whose stop failed would otherwise leak. */
	tear_down(vm);
	if ((launch->memory == QEMU_MEMORY_STREAM || launch->memory == QEMU_MEMORY_CONVERT) &&
	    launch->info->memory_snapshot == NULL) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "machine %s: %s has no memory_snapshot (a snapshot imported "
				    "without its memory): it needs a cold boot and a commit",
				    vm->machine->name, launch->info->path);
		return false;
	}
	set_launch_paths(vm, launch);
	if (!start(vm, launch, deadline_us, &cause))
		return launch_failed(vm, &cause, err);
	qemu_up = vm->host->monotonic_us(vm->host);
	if (launch->prepare_only && launch->memory != QEMU_MEMORY_BOOT) {
		vm->prepared = true;
		return true;
	}
	if (launch->memory == QEMU_MEMORY_BOOT ? !ensure_running(vm, deadline_us, &cause)
					      : !load_and_run(vm, deadline_us, &cause))
		return launch_failed(vm, &cause, err);
	log_timing(vm, started, qemu_up, false);
	if (launch->memory != QEMU_MEMORY_CONVERT)
		running(vm);
	return true;
}

bool
qemu_vm_prepared(QemuVm *vm)
{
	return vm->prepared && qemu_vm_running(vm);
}

bool
qemu_vm_resume(QemuVm *vm, int64_t deadline_us, struct nbx_error *err)
{
	struct nbx_error cause = { 0 };
	int64_t started = vm->host->monotonic_us(vm->host);

	if (!qemu_vm_prepared(vm)) {
		vm->host->error_set(vm->host, err, NBX_ERROR_INVALID,
				    "machine %s has no prepared run (its QEMU ended?)",
				    vm->machine->name);
		tear_down(vm);
		return false;
	}
	vm->prepared = false;
	vm->overlay_us = 0;
	if (!load_and_run(vm, deadline_us, &cause))
		return launch_failed(vm, &cause, err);
	log_timing(vm, started, 0, true);
	running(vm);
	return true;
}

bool
qemu_vm_stop(QemuVm *vm, int64_t deadline_us, struct nbx_error *err)
{
	int64_t grace = vm->host->monotonic_us(vm->host) + vm->settings->stop_timeout_s * G_USEC_PER_SEC;
	bool alive;

	if (deadline_us != 0 && deadline_us < grace)
		grace = deadline_us;
	/* Nothing of ours runs: perhaps a dead daemon's QEMU of this machine does. */
	if (!recover_leftover(vm, err))
		return false;
	g_mutex_lock(&vm->lock);
	alive = vm->alive && vm->qmp != NULL;
	g_mutex_unlock(&vm->lock);
	if (alive) {
		/* QEMU usually exits before answering quit; only the exit counts. */
		qmp_client_execute(vm->qmp, "quit", NULL, -1, grace, NULL, NULL);
		g_mutex_lock(&vm->lock);
		while (vm->alive && g_cond_wait_until(&vm->cond, &vm->lock, grace))
			;
		g_mutex_unlock(&vm->lock);
	}
	tear_down(vm);
	return true;
}

void
qemu_vm_kill(QemuVm *vm)
{
	tear_down(vm);
}
