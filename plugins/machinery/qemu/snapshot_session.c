/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pipe2 */
#define _GNU_SOURCE
#include "snapshot_session.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.h"
#include "durable_file.h"
#include "fingerprint.h"
#include "generation.h"
#include "host_side.h"
#include "qmp_message.h"
#include "run_record.h"

/* How long commit waits for the guest to give a transfer disk back. */
#define TRANSFER_RELEASE_S 10
/* How long a failed commit may take to resume the guest, its deadline being past. */
#define RESUME_GRACE_US (10 * G_USEC_PER_SEC)

/* A read-only disk of files handed to the guest: a vvfat view of @dir. */
typedef struct {
	char *device;
	char *node;
	char *dir;
} TransferDisk;

struct SnapshotSession {
	char *work_dir;
	/* The generation the session started from: the commit's description derives from it. */
	MachineInfo *from;
	/* TransferDisk, still attached to the guest. */
	GPtrArray *transfers;
	guint transfers_made;
};

static void
transfer_disk_free(TransferDisk *disk)
{
	g_free(disk->device);
	g_free(disk->node);
	g_free(disk->dir);
	g_free(disk);
}

void
snapshot_session_free(SnapshotSession *session)
{
	if (session == NULL)
		return;
	g_free(session->work_dir);
	machine_info_free(session->from);
	g_ptr_array_unref(session->transfers);
	g_free(session);
}

bool
snapshot_session_is(const SnapshotSession *session, const char *work_dir)
{
	return session != NULL && strcmp(session->work_dir, work_dir) == 0;
}

/* "vnc://127.0.0.1:5901" from query-vnc; false when QEMU has no VNC server. */
static bool
query_console(QemuVm *vm, char *console, size_t size, int64_t deadline_us,
	      struct nbx_error *err)
{
	g_autoptr(JsonNode) result = NULL;
	JsonObject *vnc;
	const char *host, *port;

	if (!qemu_vm_execute(vm, "query-vnc", NULL, deadline_us, &result, err))
		return false;
	vnc = result != NULL && JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;
	host = qmp_string_member(vnc, "host");
	port = qmp_string_member(vnc, "service");
	if (!qmp_boolean_member(vnc, "enabled", false) || host == NULL || port == NULL)
		return false;
	return (size_t)g_snprintf(console, size, "vnc://%s:%s", host, port) < size;
}

SnapshotSession *
snapshot_session_begin(QemuVm *vm, MachineInfo *from, const char *work_dir, bool cold_boot,
		       char *console, size_t console_size, int64_t deadline_us,
		       struct nbx_error *err)
{
	const QemuSettings *settings = qemu_vm_settings(vm);
	/* The first free display from :0 on, on loopback only: operators tunnel to it. */
	const char *const vnc[] = { "-vnc", "127.0.0.1:0,to=99", NULL };
	QemuLaunch launch = {
		.info = from,
		.memory = cold_boot ? QEMU_MEMORY_BOOT : QEMU_MEMORY_STREAM,
		.session_dir = work_dir,
		.extra_args = vnc,
	};
	struct nbx_error cause = { 0 };
	SnapshotSession *session;

	if (!qemu_vm_launch(vm, &launch, deadline_us, err))
		return NULL;
	console[0] = '\0';
	/* The session is usable without a console: say so, and go on. */
	if (!query_console(vm, console, console_size, deadline_us, &cause)) {
		console[0] = '\0';
		settings->host->log(settings->host, NBX_LOG_WARNING,
				    "machine %s: the snapshot session has no VNC console: %s",
				    qemu_vm_machine(vm)->name,
				    cause.message[0] != '\0' ? cause.message : "query-vnc says none");
	}
	session = g_new0(SnapshotSession, 1);
	session->work_dir = g_strdup(work_dir);
	session->from = machine_info_ref(from);
	session->transfers = g_ptr_array_new_with_free_func((GDestroyNotify)transfer_disk_free);
	return session;
}

/* The running QEMU is this session's; else @err tells the operator what to do. */
static bool
session_runs(SnapshotSession *session, QemuVm *vm, struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	const char *dir = qemu_vm_session_dir(vm);

	if (dir != NULL && strcmp(dir, session->work_dir) == 0 && qemu_vm_running(vm))
		return true;
	host->error_set(host, err, NBX_ERROR_INVALID,
			"the snapshot session of machine %s (%s) no longer runs: its QEMU ended "
			"(see %s/%s); roll it back and begin again",
			qemu_vm_machine(vm)->name, session->work_dir, session->work_dir,
			QEMU_VM_SESSION_LOG);
	return false;
}

/* Copies @paths into @dir by base name; the names must differ (the disk is one directory). */
static bool
fill_transfer_dir(const struct nbx_host *host, const char *dir, const char *const *paths,
		  struct nbx_error *err)
{
	for (size_t i = 0; paths[i] != NULL; i++) {
		g_autofree char *base = g_path_get_basename(paths[i]);
		g_autofree char *dest = g_build_filename(dir, base, NULL);
		g_autoptr(GError) error = NULL;

		if (!g_file_test(paths[i], G_FILE_TEST_IS_REGULAR)) {
			host->error_set(host, err, NBX_ERROR_NOT_FOUND,
					"%s is not a regular file; only files can be copied in",
					paths[i]);
			return false;
		}
		if (g_file_test(dest, G_FILE_TEST_EXISTS)) {
			host->error_set(host, err, NBX_ERROR_INVALID,
					"two files to copy in are named %s; the guest sees them in "
					"one directory: rename one",
					base);
			return false;
		}
		if (!durable_file_copy(paths[i], dest, &error)) {
			host->error_set(host, err, NBX_ERROR_IO, "%s", error->message);
			return false;
		}
	}
	return true;
}

/* Removes a transfer directory the guest never saw. */
static void
remove_transfer_dir(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		g_unlink(path);
	}
	g_rmdir(dir);
}

static bool
attach(QemuVm *vm, const TransferDisk *disk, int64_t deadline_us, struct nbx_error *err)
{
	g_autoptr(JsonObject) node = json_object_new();
	g_autoptr(JsonObject) device = json_object_new();
	struct nbx_error cause = { 0 };
	const struct nbx_host *host = qemu_vm_settings(vm)->host;

	/* vvfat shows a directory as a FAT disk; read-only, so the guest cannot change it. */
	json_object_set_string_member(node, "driver", "vvfat");
	json_object_set_string_member(node, "node-name", disk->node);
	json_object_set_string_member(node, "dir", disk->dir);
	json_object_set_int_member(node, "fat-type", 16);
	json_object_set_string_member(node, "label", "NESTBOX");
	json_object_set_boolean_member(node, "read-only", TRUE);
	json_object_set_string_member(device, "driver", "virtio-blk-pci");
	json_object_set_string_member(device, "drive", disk->node);
	json_object_set_string_member(device, "id", disk->device);
	if (!qemu_vm_execute(vm, "blockdev-add", node, deadline_us, NULL, &cause)) {
		host->error_set(host, err, cause.code, "machine %s: the transfer disk of %s: %s",
				qemu_vm_machine(vm)->name, disk->dir, cause.message);
		return false;
	}
	if (!qemu_vm_execute(vm, "device_add", device, deadline_us, NULL, &cause)) {
		g_autoptr(JsonObject) del = json_object_new();

		json_object_set_string_member(del, "node-name", disk->node);
		qemu_vm_execute(vm, "blockdev-del", del, deadline_us, NULL, NULL);
		host->error_set(host, err, cause.code,
				"machine %s: cannot hot-plug the transfer disk (its machine type "
				"needs a free hot-pluggable PCI slot): %s",
				qemu_vm_machine(vm)->name, cause.message);
		return false;
	}
	return true;
}

bool
snapshot_session_copy_in(SnapshotSession *session, QemuVm *vm, const char *const *paths,
			 int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	TransferDisk *disk;
	guint n;

	if (!session_runs(session, vm, err))
		return false;
	/* Numbered by the disks the guest got: a failed copy_in takes no number. */
	n = session->transfers_made + 1;
	disk = g_new0(TransferDisk, 1);
	disk->device = g_strdup_printf("nbx-transfer%u", n);
	disk->node = g_strdup_printf("nbx-transfer%u-node", n);
	disk->dir = g_strdup_printf("%s/transfer%u", session->work_dir, n);
	if (g_mkdir(disk->dir, 0700) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", disk->dir,
				g_strerror(errno));
		transfer_disk_free(disk);
		return false;
	}
	if (!fill_transfer_dir(host, disk->dir, paths, err) ||
	    !attach(vm, disk, deadline_us, err)) {
		remove_transfer_dir(disk->dir);
		transfer_disk_free(disk);
		return false;
	}
	g_ptr_array_add(session->transfers, disk);
	session->transfers_made = n;
	return true;
}

/*
 * Unplugs every transfer disk: the committed generation's device set must
 * be the one restore_start recreates. Unplugging is a request the guest
 * answers (ACPI eject); one that never answers keeps the disk, and then
 * the commit cannot go on.
 */
static bool
detach_transfers(SnapshotSession *session, QemuVm *vm, int64_t deadline_us,
		 struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	int64_t until = host->monotonic_us(host) + TRANSFER_RELEASE_S * G_USEC_PER_SEC;

	if (deadline_us != 0 && deadline_us < until)
		until = deadline_us;
	/* All requests first, so the guest releases them together. */
	for (guint i = 0; i < session->transfers->len; i++) {
		TransferDisk *disk = g_ptr_array_index(session->transfers, i);
		g_autoptr(JsonObject) args = json_object_new();

		json_object_set_string_member(args, "id", disk->device);
		/* A repeated request ("already in the process of unplug") is fine. */
		qemu_vm_execute(vm, "device_del", args, until, NULL, NULL);
	}
	while (session->transfers->len > 0) {
		TransferDisk *disk = g_ptr_array_index(session->transfers, 0);
		g_autoptr(JsonObject) args = json_object_new();
		bool released = qemu_vm_wait_device_deleted(vm, disk->device, until);

		if (!released && !qemu_vm_running(vm)) {
			g_autofree char *words = qemu_vm_last_words(vm);

			host->error_set(host, err, NBX_ERROR_HYPERVISOR,
					"the QEMU of machine %s's snapshot session ended while its "
					"transfer disks were unplugged: %s; roll the session back",
					qemu_vm_machine(vm)->name, words);
			return false;
		}
		if (!released) {
			host->error_set(host, err,
					until == deadline_us ? NBX_ERROR_TIMEOUT : NBX_ERROR_BUSY,
					"the guest of machine %s has not released the transfer disk "
					"%s (%s) within %d s, so it would be part of the snapshot: "
					"eject it in the guest (its OS must support PCI hot-unplug), "
					"then commit again, or roll back",
					qemu_vm_machine(vm)->name, disk->device, disk->dir,
					TRANSFER_RELEASE_S);
			return false;
		}
		json_object_set_string_member(args, "node-name", disk->node);
		if (!qemu_vm_execute(vm, "blockdev-del", args, until, NULL, NULL))
			host->log(host, NBX_LOG_WARNING,
				  "machine %s: the block node of transfer disk %s stays in QEMU",
				  qemu_vm_machine(vm)->name, disk->device);
		g_ptr_array_remove_index(session->transfers, 0);
	}
	return true;
}

static char *
last_line_of(const char *path)
{
	g_autofree char *text = NULL;
	const char *last;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return g_strdup("(no output)");
	g_strstrip(text);
	last = strrchr(text, '\n');
	return g_strdup(*text == '\0' ? "(no output)" : last != NULL ? last + 1 : text);
}

/*
 * Migrates the paused guest through zstd into @memory_fd (file @path).
 * The plugin opens the file itself, so that a read-only or missing
 * directory is said plainly before anything starts; zstd's own errors
 * ("No space left on device" above all) go to a log in work_dir, apart
 * from the stream.
 */
static bool
save_memory(SnapshotSession *session, QemuVm *vm, int memory_fd, const char *path,
	    int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	g_autofree char *log = g_build_filename(session->work_dir, "zstd.log", NULL);
	const char *argv[] = { "zstd", "-q", "-3", "-c", NULL };
	struct nbx_error cause = { 0 };
	ChildProcess *zstd;
	int pipe_fds[2], status = 0;
	bool saved;

	if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "pipe: %s", g_strerror(errno));
		return false;
	}
	g_unlink(log);
	zstd = child_process_spawn_to(host, argv, pipe_fds[0], memory_fd, log, err);
	close(pipe_fds[0]);
	if (zstd == NULL) {
		close(pipe_fds[1]);
		return false;
	}
	saved = qemu_vm_save_memory(vm, pipe_fds[1], false, deadline_us, &cause);
	/* zstd ends once QEMU closes the stream; it has ended already when it failed. */
	if (!child_process_wait(zstd, saved ? deadline_us
					    : host->monotonic_us(host) + G_USEC_PER_SEC,
				&status)) {
		child_process_kill_and_free(zstd);
		if (saved)
			host->error_set(host, err, NBX_ERROR_TIMEOUT,
					"compressing the memory of machine %s into %s (zstd) did "
					"not finish by the deadline",
					qemu_vm_machine(vm)->name, path);
		host->error_set(host, err, cause.code, "%s", cause.message);
		return false;
	}
	child_process_free(zstd);
	/* A failed compressor is the cause; QEMU's broken pipe only follows from it. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_autofree char *words = last_line_of(log);

		host->error_set(host, err, NBX_ERROR_IO,
				"compressing the memory of machine %s into %s (zstd) failed: %s",
				qemu_vm_machine(vm)->name, path, words);
		return false;
	}
	if (!saved)
		host->error_set(host, err, cause.code, "%s", cause.message);
	return saved;
}

/* The overlay and its backing chain as one standalone qcow2 image. */
static bool
flatten_disk(SnapshotSession *session, QemuVm *vm, const char *path, int64_t deadline_us,
	     struct nbx_error *err)
{
	const QemuSettings *settings = qemu_vm_settings(vm);
	g_autofree char *log = g_build_filename(session->work_dir, "qemu-img.log", NULL);
	g_autofree char *what = g_strdup_printf("flattening the disk of machine %s into %s",
						qemu_vm_machine(vm)->name, path);
	/* QEMU let go of the overlay when the migration completed: it is consistent and unlocked. */
	const char *argv[] = { settings->qemu_img, "convert", "-O", "qcow2",
			       qemu_vm_overlay(vm), path, NULL };

	g_unlink(log);
	return child_process_run(settings->host, what, argv, log, deadline_us, err);
}

static bool
sync_files(const struct nbx_host *host, const char *new_dir, struct nbx_error *err)
{
	const char *const names[] = { GENERATION_MEMORY, GENERATION_DISK };
	g_autoptr(GError) error = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *path = g_build_filename(new_dir, names[i], NULL);

		if (!durable_file_sync(path, &error))
			break;
	}
	if (error == NULL)
		durable_file_sync_dir(new_dir, &error);
	if (error != NULL) {
		host->error_set(host, err, NBX_ERROR_IO, "%s", error->message);
		return false;
	}
	return true;
}

/* The MAC of the host side the session's guest talks to now, or NULL. */
static char *
current_host_mac(QemuVm *vm)
{
	g_autoptr(GArray) sides =
		host_side_find(qemu_vm_network_namespace(vm), qemu_vm_machine(vm)->ip, NULL);

	return sides != NULL && sides->len > 0 ? host_side_mac(&g_array_index(sides, HostSide, 0))
					       : NULL;
}

/* Everything of the generation, into @new_dir, with the guest paused. */
static bool
write_generation(SnapshotSession *session, QemuVm *vm, const char *version, int memory_fd,
		 const char *new_dir, int64_t deadline_us, struct nbx_error *err)
{
	const QemuSettings *settings = qemu_vm_settings(vm);
	g_autofree char *memory = g_build_filename(new_dir, GENERATION_MEMORY, NULL);
	g_autofree char *disk = g_build_filename(new_dir, GENERATION_DISK, NULL);
	g_autofree char *print_path = g_build_filename(new_dir, FINGERPRINT_FILE, NULL);
	g_autoptr(JsonObject) print =
		fingerprint_compute(session->from, version, settings->accelerator);
	g_autofree char *host_mac = current_host_mac(vm);
	g_autoptr(GError) error = NULL;

	if (!save_memory(session, vm, memory_fd, memory, deadline_us, err) ||
	    !flatten_disk(session, vm, disk, deadline_us, err) ||
	    !generation_write(settings->host, session->from, new_dir, version, host_mac, err))
		return false;
	if (!fingerprint_write(print, print_path, &error)) {
		settings->host->error_set(settings->host, err, NBX_ERROR_IO, "%s", error->message);
		return false;
	}
	return sync_files(settings->host, new_dir, err);
}

/* After a failed commit: the guest runs on, as it did before. */
static void
resume(QemuVm *vm, const struct nbx_error *cause, struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	struct nbx_error why = { 0 };

	if (qemu_vm_running(vm) &&
	    qemu_vm_execute(vm, "cont", NULL, host->monotonic_us(host) + RESUME_GRACE_US, NULL,
			    &why)) {
		host->error_set(host, err, cause->code, "%s; the session runs on: fix that and "
				"commit again, or roll back",
				cause->message);
		return;
	}
	host->error_set(host, err, cause->code, "%s; the session's guest could not be resumed "
			"(%s): roll it back",
			cause->message, why.message[0] != '\0' ? why.message : "QEMU has ended");
}

bool
snapshot_session_commit(SnapshotSession *session, QemuVm *vm, QemuBinary *binary,
			const char *new_dir, int64_t deadline_us, struct nbx_error *err)
{
	const struct nbx_host *host = qemu_vm_settings(vm)->host;
	g_autofree char *memory = g_build_filename(new_dir, GENERATION_MEMORY, NULL);
	struct nbx_error cause = { 0 };
	const char *version;
	bool ok;
	int memory_fd;

	if (!session_runs(session, vm, err))
		return false;
	/* Whatever may fail without harm is done before the guest is paused. */
	version = qemu_binary_version(binary, deadline_us, err);
	if (version == NULL || !detach_transfers(session, vm, deadline_us, err))
		return false;
	memory_fd = open(memory, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (memory_fd < 0) {
		host->error_set(host, err, NBX_ERROR_IO,
				"cannot create %s: %s; the session runs on: fix that and commit "
				"again, or roll back",
				memory, g_strerror(errno));
		return false;
	}
	if (!qemu_vm_execute(vm, "stop", NULL, deadline_us, NULL, err)) {
		close(memory_fd);
		return false;
	}
	ok = write_generation(session, vm, version, memory_fd, new_dir, deadline_us, &cause);
	close(memory_fd);
	if (!ok) {
		resume(vm, &cause, err);
		return false;
	}
	/* Its state is saved: QEMU may go. Nothing of the session runs once this returns. */
	return qemu_vm_stop(vm, deadline_us, err);
}

bool
snapshot_session_rollback(QemuVm *vm, const struct nbx_host *host, const char *machine,
			  const char *work_dir, struct nbx_error *err)
{
	const char *dir = qemu_vm_session_dir(vm);
	g_autofree char *record_path = g_build_filename(work_dir, QEMU_VM_SESSION_RECORD, NULL);
	g_autoptr(RunRecord) record = NULL;
	g_autoptr(GError) error = NULL;

	if (dir != NULL && strcmp(dir, work_dir) == 0) {
		qemu_vm_kill(vm);
		return true;
	}
	/* Not ours (any more): the daemon restarted, or a reload made a new instance. */
	if (!g_file_test(record_path, G_FILE_TEST_EXISTS))
		return true;
	record = run_record_load(record_path, &error);
	if (record == NULL) {
		host->log(host, NBX_LOG_WARNING, "machine %s: ignoring unreadable record: %s",
			  machine, error->message);
		return true;
	}
	if (run_record_owner_alive(record) && record->owner_pid != getpid()) {
		host->error_set(host, err, NBX_ERROR_BUSY,
				"the snapshot session of machine %s in %s is run by another "
				"daemon, process %" G_GINT64_FORMAT,
				machine, work_dir, record->owner_pid);
		return false;
	}
	if (!run_record_recover(host, record_path, record)) {
		host->error_set(host, err, NBX_ERROR_HYPERVISOR,
				"machine %s: the QEMU of the snapshot session in %s (pid %" G_GINT64_FORMAT
				") could not be killed",
				machine, work_dir, record->pid);
		return false;
	}
	return true;
}
