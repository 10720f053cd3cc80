/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot ops of the qemu machinery (ABI 1.1) against the real demo
 * guest under TCG: sessions that begin, take files, commit or roll back;
 * generations that restore; export lists, fingerprints and imports.
 *
 * Runs inside the network namespace run-in-netns.sh creates (which also
 * gives it a mount namespace of its own, for the full-disk tmpfs). Every
 * machine here is "a" on the first tap device.
 */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu_test_call.h"
#include "qemu_test_fixture.h"

static void
assert_ok(Call *c)
{
	if (!c->ok)
		g_printerr("op %d failed: %s\n", c->op, c->err.message);
	g_assert_true(c->ok);
}

static void
assert_fails(Call *c, int32_t code, const char *expect)
{
	g_assert_false(c->ok);
	g_assert_cmpint(c->err.code, ==, code);
	if (strstr(c->err.message, expect) == NULL)
		g_printerr("\"%s\" is not in: %s\n", expect, c->err.message);
	g_assert_nonnull(strstr(c->err.message, expect));
}

/* ---- operations the cases repeat ---------------------------------------- */

static void
restore(Fixture *f, const char *generation)
{
	g_autoptr(Call) c = call_new(f, RESTORE);

	c->generation = generation;
	assert_ok(run(c));
}

static void
stop(Fixture *f)
{
	g_autoptr(Call) c = call_new(f, STOP);

	assert_ok(run(c));
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
}

/* Restores @generation, waits for the agent, stops. */
static void
assert_restores(Fixture *f, const char *generation)
{
	restore(f, generation);
	assert_agent_answers(f);
	stop(f);
}

/* Begins a session in @work (from @from, NULL: generation 0); returns its console. */
static char *
begin(Fixture *f, const char *from, const char *work, uint32_t flags)
{
	g_autoptr(Call) c = call_new(f, BEGIN);

	c->flags = flags;
	c->session.from_dir = from;
	c->session.work_dir = work;
	assert_ok(run(c));
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	return g_strdup(c->session.console);
}

/* A session op on @work, to run(). */
static Call *
session_call(Fixture *f, Op op, const char *work, const char *new_dir)
{
	Call *c = call_new(f, op);

	c->session.work_dir = work;
	c->session.new_dir = new_dir;
	return c;
}

static void
commit(Fixture *f, const char *work, const char *new_dir)
{
	g_autoptr(Call) c = session_call(f, COMMIT, work, new_dir);

	assert_ok(run(c));
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
}

/* The session's QEMU: the one whose overlay is in @work. */
static pid_t
session_qemu(const char *work)
{
	g_autofree char *needle = g_strconcat(work, "/a-", NULL);

	return find_qemu_with(needle);
}

static void
assert_gone(pid_t pid)
{
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
}

/* "name sha256" of each file, in order: equal digests, equal bytes. */
static char *
digest(const char *const *paths)
{
	GString *out = g_string_new(NULL);

	for (size_t i = 0; paths[i] != NULL; i++) {
		g_autoptr(GMappedFile) file = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *sum = NULL;

		file = g_mapped_file_new(paths[i], FALSE, &error);
		g_assert_no_error(error);
		sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
						  (const guchar *)g_mapped_file_get_contents(file),
						  g_mapped_file_get_length(file));
		g_string_append_printf(out, "%s %s\n", paths[i], sum);
	}
	return g_string_free(out, FALSE);
}

/* Every file of directory @dir (sorted), for digest(). */
static GStrv
dir_files(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) paths = g_ptr_array_new();
	const char *name;

	g_assert_nonnull(handle);
	while ((name = g_dir_read_name(handle)) != NULL)
		g_ptr_array_add(paths, g_build_filename(dir, name, NULL));
	g_ptr_array_sort(paths, (GCompareFunc)g_strcmp0);
	g_ptr_array_add(paths, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&paths), FALSE);
}

/* The files of generation 0 as snapshot_files lists them, for digest(). */
static GStrv
generation_files(Fixture *f, const char *generation)
{
	g_autoptr(Call) c = call_new(f, FILES);
	GPtrArray *paths = g_ptr_array_new();

	c->generation = generation;
	assert_ok(run(c));
	for (guint i = 0; i < c->files->len; i++)
		g_ptr_array_add(paths, g_strdup(strchr(g_ptr_array_index(c->files, i), ' ') + 1));
	g_ptr_array_add(paths, NULL);
	return (GStrv)g_ptr_array_free(paths, FALSE);
}

static JsonObject *
read_json(const char *path)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static JsonObject *
read_in(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	return read_json(path);
}

static bool
exists_in(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
assert_same_digest(const char *const *paths, const char *before)
{
	g_autofree char *now = digest(paths);

	g_assert_cmpstr(now, ==, before);
}

/* The value after @option in a description's start_args. */
static const char *
start_arg(JsonObject *info, const char *option)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");

	for (guint i = 0; i + 1 < json_array_get_length(args); i++)
		if (strcmp(json_array_get_string_element(args, i), option) == 0)
			return json_array_get_string_element(args, i + 1);
	return NULL;
}

/* What `sh -c` prints. */
static char *
output_of(const char *script)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	g_autoptr(GError) error = NULL;
	char *out = NULL;
	int status = 0;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   &out, NULL, &status, &error));
	g_assert_no_error(error);
	return out;
}

/* "7.2.22" of this host's QEMU. */
static char *
qemu_version(void)
{
	g_autofree char *out = output_of("qemu-system-x86_64 --version");
	const char *at = strstr(out, "version ");

	g_assert_nonnull(at);
	at += strlen("version ");
	return g_strndup(at, strspn(at, "0123456789."));
}

/* ---- a monitor of the test's own on the guest's QEMU --------------------- */

static void
add_monitor(JsonObject *info, Fixture *f)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");
	/* A run's QEMU is machine a's uid, not root: it makes the socket in a directory of its. */
	g_autofree char *dir = qemu_owned_dir(f);
	g_autofree char *chardev =
		g_strdup_printf("socket,id=outside,path=%s/outside.qmp,server=on,wait=off", dir);

	json_array_add_string_element(args, "-chardev");
	json_array_add_string_element(args, chardev);
	json_array_add_string_element(args, "-mon");
	json_array_add_string_element(args, "chardev=outside,mode=control");
}

static char *
read_reply(GDataInputStream *in)
{
	for (;;) {
		g_autoptr(GError) error = NULL;
		char *line = g_data_input_stream_read_line(in, NULL, NULL, &error);

		g_assert_no_error(error);
		g_assert_nonnull(line);
		/* QMP ends its lines with CRLF. */
		g_strchomp(line);
		if (strstr(line, "\"event\"") == NULL)
			return line;
		g_free(line);
	}
}

/* Runs one QMP command (a JSON line) on the test's monitor; the reply line. */
static char *
monitor(Fixture *f, const char *command)
{
	g_autofree char *path = g_build_filename(f->dir, "outside", "outside.qmp", NULL);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *greeting = NULL;
	g_autofree char *negotiated = NULL;
	g_autofree char *line = g_strconcat(command, "\n", NULL);
	static const char capabilities[] = "{\"execute\": \"qmp_capabilities\"}\n";
	GOutputStream *out;
	char *reply;

	g_socket_client_set_enable_proxy(client, FALSE);
	connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
	g_assert_no_error(error);
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	greeting = read_reply(in);
	g_assert_nonnull(strstr(greeting, "\"QMP\""));
	g_assert_true(g_output_stream_write_all(out, capabilities, strlen(capabilities), NULL, NULL,
						&error));
	negotiated = read_reply(in);
	g_assert_nonnull(strstr(negotiated, "\"return\""));
	g_assert_true(g_output_stream_write_all(out, line, strlen(line), NULL, NULL, &error));
	g_assert_no_error(error);
	reply = read_reply(in);
	g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
	return reply;
}

/* Until the guest's driver has set up transfer disk @device (virtio DRIVER_OK). */
static void
assert_guest_uses(Fixture *f, const char *device)
{
	g_autofree char *command = g_strdup_printf(
		"{\"execute\": \"x-query-virtio-status\", \"arguments\": "
		"{\"path\": \"/machine/peripheral/%s/virtio-backend\"}}",
		device);
	gint64 until = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < until) {
		g_autofree char *reply = monitor(f, command);

		if (strstr(reply, "VIRTIO_CONFIG_S_DRIVER_OK") != NULL) {
			g_test_message("%s: %s", device, reply);
			return;
		}
		g_usleep(200000);
	}
	g_error("the guest's driver never took transfer disk %s", device);
}

/* ---- cases --------------------------------------------------------------- */

static void
load_a(Fixture *f, const char *info)
{
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);

	load(f, machine);
	assert_clean_load(f);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
}

/* The console is a VNC server on loopback: it greets with "RFB 003.008". */
static void
assert_vnc(const char *console)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GError) error = NULL;
	char banner[13] = { 0 };
	gsize got = 0;
	guint64 port = 0;

	g_test_message("console: %s", console);
	g_assert_true(g_str_has_prefix(console, "vnc://127.0.0.1:"));
	g_assert_true(g_ascii_string_to_unsigned(console + strlen("vnc://127.0.0.1:"), 10, 5900,
						 5999, &port, &error));
	g_assert_no_error(error);
	/* No proxy lookup (libproxy) for a loopback port. */
	g_socket_client_set_enable_proxy(client, FALSE);
	connection = g_socket_client_connect_to_host(client, "127.0.0.1", (guint16)port, NULL,
						     &error);
	g_assert_no_error(error);
	g_assert_true(g_input_stream_read_all(g_io_stream_get_input_stream(G_IO_STREAM(connection)),
					      banner, 12, &got, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(banner, ==, "RFB 003.008\n");
}

/* Sessions from generation 0 and from a committed one; both old ones stay as they were. */
static void
test_session_commit_restore(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", add_monitor);
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *gen1 = new_dir(f, "gens/1");
	g_autofree char *moved = g_build_filename(f->dir, "gens", "1-renamed", NULL);
	g_autofree char *work2 = new_dir(f, "s2");
	g_autofree char *gen2 = new_dir(f, "gens/2");
	g_autofree char *hello = g_build_filename(f->dir, "hello.txt", NULL);
	g_autofree char *other_dir = new_dir(f, "other");
	g_autofree char *other_hello = g_build_filename(other_dir, "hello.txt", NULL);
	g_autofree char *console = NULL;
	g_autofree char *console2 = NULL;
	g_autofree char *block = NULL;
	g_autofree char *wrote = NULL;
	g_autofree char *virtio = NULL;
	g_autofree char *before0 = NULL;
	g_autofree char *before1 = NULL;
	g_autofree char *version = qemu_version();
	g_autofree char *disk = NULL;
	g_autofree char *info_cmd = NULL;
	g_autofree char *read_cmd = NULL;
	g_autofree char *disk_info = NULL;
	g_autofree char *pattern = NULL;
	g_autoptr(JsonObject) description = NULL;
	g_autoptr(JsonObject) print = NULL;
	g_auto(GStrv) gen0_files = NULL;
	g_auto(GStrv) gen1_files = NULL;
	g_autoptr(Call) twins = NULL;
	g_autoptr(Call) copy = NULL;
	const char *twin_paths[3] = { hello, other_hello, NULL };
	const char *paths[2] = { hello, NULL };
	pid_t pid;

	load_a(f, info);
	gen0_files = generation_files(f, NULL);
	before0 = digest((const char *const *)gen0_files);
	g_assert_true(g_file_set_contents(hello, "hello from the host\n", -1, NULL));
	g_assert_true(g_file_set_contents(other_hello, "another\n", -1, NULL));

	console = begin(f, NULL, work, 0);
	assert_vnc(console);
	assert_agent_answers(f);
	pid = session_qemu(work);
	g_assert_cmpint(pid, >, 0);

	/* One directory on the guest's disk: two files of one name cannot both be in it. */
	twins = session_call(f, COPY_IN, work, NULL);
	twins->paths = twin_paths;
	assert_fails(run(twins), NBX_ERROR_INVALID, "two files to copy in are named hello.txt");
	copy = session_call(f, COPY_IN, work, NULL);
	copy->paths = paths;
	assert_ok(run(copy));
	/* The guest's virtio driver took the disk (DRIVER_OK is the guest's doing, not QEMU's). */
	assert_guest_uses(f, "nbx-transfer1");
	block = monitor(f, "{\"execute\": \"query-block\"}");
	g_assert_nonnull(strstr(block, "nbx-transfer1-node"));
	g_assert_nonnull(strstr(block, "\"vvfat\""));
	/*
	 * A change of the session's disk, to find in the committed generation
	 * (qemu-io prints to QEMU's output, not into the reply).
	 */
	wrote = monitor(f, "{\"execute\": \"human-monitor-command\", \"arguments\": "
			   "{\"command-line\": \"qemu-io disk0 \\\"write -P 0x5a 0 64k\\\"\"}}");
	g_assert_cmpstr(wrote, ==, "{\"return\": \"\"}");

	/* Commit unplugs the transfer disk (the guest ejects it), saves, flattens, stops. */
	commit(f, work, gen1);
	assert_gone(pid);
	g_assert_false(exists_in(work, "qmp.sock"));
	g_assert_false(exists_in(work, "qemu.run"));

	/* The new generation: four files, named relatively, a standalone disk. */
	g_assert_cmpuint(count_files(gen1), ==, 4);
	description = read_in(gen1, "machineinfo.json");
	g_assert_cmpstr(json_object_get_string_member(description, "disk"), ==, "disk.qcow2");
	g_assert_cmpstr(json_object_get_string_member(description, "memory_snapshot"), ==,
			"memory.zst");
	/* Generation 0's kernel lives outside it, named absolutely: it stays there. */
	g_assert_cmpstr(start_arg(description, "-kernel"), ==,
			json_object_get_string_member(f->info, "kernel"));
	disk = g_build_filename(gen1, "disk.qcow2", NULL);
	info_cmd = g_strdup_printf("qemu-img info --output=json '%s'", disk);
	disk_info = output_of(info_cmd);
	g_assert_nonnull(strstr(disk_info, "\"qcow2\""));
	g_assert_null(strstr(disk_info, "backing-filename"));
	read_cmd = g_strdup_printf("qemu-io -r -f qcow2 -c 'read -P 0x5a 0 64k' '%s'", disk);
	pattern = output_of(read_cmd);
	g_test_message("%s", pattern);
	g_assert_nonnull(strstr(pattern, "read 65536/65536 bytes"));
	g_assert_null(strstr(pattern, "Pattern verification failed"));
	print = read_in(gen1, "fingerprint.json");
	g_assert_cmpstr(json_object_get_string_member(print, "hypervisor"), ==, "qemu");
	g_assert_cmpstr(json_object_get_string_member(print, "hypervisor_version"), ==, version);
	g_assert_cmpstr(json_object_get_string_member(print, "machine_type"), ==, "pc-i440fx-7.2");
	g_assert_cmpstr(json_object_get_string_member(print, "cpu_model"), ==, "qemu64");
	g_assert_cmpint(json_object_get_int_member(print, "memory_mb"), ==, 256);
	assert_same_digest((const char *const *)gen0_files, before0);

	/* Renamed, it still restores: everything in it is relative. No transfer disk comes back. */
	g_assert_cmpint(g_rename(gen1, moved), ==, 0);
	restore(f, moved);
	assert_agent_answers(f);
	virtio = monitor(f, "{\"execute\": \"x-query-virtio\"}");
	g_assert_nonnull(strstr(virtio, "virtio-net"));
	g_assert_null(strstr(virtio, "nbx-transfer"));
	stop(f);

	/* A session from the committed generation leaves that one as it was too. */
	gen1_files = dir_files(moved);
	before1 = digest((const char *const *)gen1_files);
	console2 = begin(f, moved, work2, 0);
	assert_agent_answers(f);
	commit(f, work2, gen2);
	assert_same_digest((const char *const *)gen1_files, before1);
	assert_same_digest((const char *const *)gen0_files, before0);
	assert_restores(f, gen2);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

/*
 * Rollback ends the session's QEMU, by pid, and touches no generation. The
 * work_dir is deeper than a socket address holds: the QMP socket in it
 * must work all the same.
 */
static void
test_rollback(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *work = new_dir(f, "sessions/a-work-directory-deeper-than-a-unix-"
					   "socket-address-can-hold/and-then-some-more");
	g_autofree char *gen = new_dir(f, "gens/1");
	g_autofree char *console = NULL;
	g_autofree char *before = NULL;
	g_auto(GStrv) gen0_files = NULL;
	g_autoptr(Call) rollback = NULL;
	g_autoptr(Call) again = NULL;
	g_autoptr(Call) late = NULL;
	g_autoptr(Call) busy = NULL;
	pid_t pid;

	load_a(f, info);
	gen0_files = generation_files(f, NULL);
	before = digest((const char *const *)gen0_files);
	console = begin(f, NULL, work, 0);
	pid = session_qemu(work);
	g_assert_cmpint(pid, >, 0);
	g_assert_cmpuint(strlen(work) + strlen("/qmp.sock"), >, 107);
	g_assert_true(exists_in(work, "qmp.sock"));
	/* The machine serves no run while its session lasts. */
	busy = call_new(f, RESTORE);
	assert_fails(run(busy), NBX_ERROR_BUSY, "snapshot session");

	rollback = session_call(f, ROLLBACK, work, NULL);
	assert_ok(run(rollback));
	assert_gone(pid);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
	g_assert_false(exists_in(work, "qemu.run"));
	g_assert_false(exists_in(work, "qmp.sock"));
	g_assert_cmpint(session_qemu(work), ==, 0);
	assert_same_digest((const char *const *)gen0_files, before);
	/* Twice is fine; a commit now has nothing to commit. */
	again = session_call(f, ROLLBACK, work, NULL);
	assert_ok(run(again));
	late = session_call(f, COMMIT, work, gen);
	assert_fails(run(late), NBX_ERROR_INVALID, "has no snapshot session running in");
	g_assert_cmpuint(count_files(gen), ==, 0);
	/* And the machine restores as ever. */
	assert_restores(f, NULL);
}

/* Mounts a tmpfs of @options on @dir (in this test's own mount namespace). */
static void
mount_tmpfs(const char *dir, unsigned long flags, const char *options)
{
	if (mount("tmpfs", dir, "tmpfs", flags, options) != 0)
		g_error("cannot mount a tmpfs on %s: %s", dir, g_strerror(errno));
}

/* A commit that cannot write says why, and the session runs on. */
static void
test_commit_failure(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *full = new_dir(f, "full");
	g_autofree char *readonly = new_dir(f, "readonly");
	g_autofree char *full_gen = g_build_filename(full, "gen", NULL);
	g_autofree char *good = new_dir(f, "gens/1");
	g_autofree char *blocked = new_dir(f, "gens/blocked");
	g_autofree char *console = NULL;
	g_autoptr(Call) no_space = NULL;
	g_autoptr(Call) no_write = NULL;
	g_autoptr(Call) no_disk = NULL;
	pid_t pid;

	load_a(f, info);
	console = begin(f, NULL, work, 0);
	pid = session_qemu(work);
	g_assert_cmpint(pid, >, 0);

	/* 1 MiB: the memory state (some 15 MB compressed) does not fit. */
	mount_tmpfs(full, 0, "size=1m");
	g_assert_cmpint(g_mkdir(full_gen, 0750), ==, 0);
	no_space = session_call(f, COMMIT, work, full_gen);
	run(no_space);
	g_assert_cmpint(umount2(full, MNT_DETACH), ==, 0);
	assert_fails(no_space, NBX_ERROR_IO, "No space left on device");
	g_assert_nonnull(strstr(no_space->err.message, "the session runs on"));
	g_assert_cmpint(session_qemu(work), ==, pid);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	assert_agent_answers(f);

	mount_tmpfs(readonly, MS_RDONLY, "size=1m");
	no_write = session_call(f, COMMIT, work, readonly);
	run(no_write);
	g_assert_cmpint(umount2(readonly, MNT_DETACH), ==, 0);
	assert_fails(no_write, NBX_ERROR_IO, "Read-only file system");
	g_assert_cmpint(session_qemu(work), ==, pid);
	assert_agent_answers(f);

	/* The memory is saved, then the disk cannot be written: QEMU takes its disk back, runs on. */
	g_free(new_dir(f, "gens/blocked/disk.qcow2"));
	no_disk = session_call(f, COMMIT, work, blocked);
	run(no_disk);
	assert_fails(no_disk, NBX_ERROR_FAILED, "qemu-img) failed with status 1");
	g_assert_nonnull(strstr(no_disk->err.message, "Is a directory"));
	g_assert_nonnull(strstr(no_disk->err.message, "the session runs on"));
	g_assert_true(exists_in(blocked, "memory.zst"));
	g_assert_cmpint(session_qemu(work), ==, pid);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	assert_agent_answers(f);

	/* Where there is room, the same session commits, and its generation restores. */
	commit(f, work, good);
	assert_gone(pid);
	assert_restores(f, good);
}

/* Copies each file a generation lists into @dir under its base name, as the core unpacks. */
static void
unpack(Fixture *f, const char *generation, const char *dir, bool with_memory)
{
	g_autoptr(Call) files = call_new(f, FILES);

	files->generation = generation;
	assert_ok(run(files));
	for (guint i = 0; i < files->files->len; i++) {
		const char *entry = g_ptr_array_index(files->files, i);
		const char *path = strchr(entry, ' ') + 1;
		g_autofree char *base = g_path_get_basename(path);
		g_autofree char *script = NULL;

		if (!with_memory && atoi(entry) == NBX_SNAPSHOT_FILE_MEMORY)
			continue;
		script = g_strdup_printf("cp '%s' '%s/%s'", path, dir, base);
		shell(script);
	}
}

static Call *
import(Fixture *f, const char *dir, uint32_t flags)
{
	Call *c = call_new(f, IMPORT);

	c->generation = dir;
	c->flags = flags;
	return run(c);
}

static Call *
fingerprint(Fixture *f, const char *generation, uint32_t flags)
{
	Call *c = call_new(f, FINGERPRINT);

	c->generation = generation;
	c->flags = flags;
	return run(c);
}

static void
assert_property(Call *c, const char *key, const char *value)
{
	g_assert_cmpstr(g_hash_table_lookup(c->fingerprint, key), ==, value);
}

/* Sets the value after @option in start_args. */
static void
set_start_arg(JsonObject *info, const char *option, const char *value)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");

	for (guint i = 0; i + 1 < json_array_get_length(args); i++)
		if (strcmp(json_array_get_string_element(args, i), option) == 0)
			json_node_set_string(json_array_get_element(args, i + 1), value);
}

static void
set_future_machine(JsonObject *info, Fixture *f)
{
	set_start_arg(info, "-machine", "pc-i440fx-9.9,accel=tcg");
}

/* What export lists and says, and import adopting it: full, and minimal with a cold boot. */
static void
test_files_fingerprint_import(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *full = new_dir(f, "imports/full");
	g_autofree char *minimal = new_dir(f, "imports/minimal");
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *gen = new_dir(f, "gens/1");
	g_autofree char *future = new_dir(f, "gens/future");
	g_autofree char *future_info = NULL;
	g_autofree char *version = qemu_version();
	g_autofree char *kernel = NULL;
	g_autofree char *console = NULL;
	g_autofree char *before = NULL;
	g_autoptr(Call) files = call_new(f, FILES);
	g_autoptr(Call) made = NULL;
	g_autoptr(Call) host = NULL;
	g_autoptr(Call) unknown = NULL;
	g_autoptr(Call) full_import = NULL;
	g_autoptr(Call) minimal_import = NULL;
	g_autoptr(Call) refused = NULL;
	g_autoptr(Call) gen_files = call_new(f, FILES);
	g_autoptr(Call) future_made = NULL;
	g_autoptr(Call) future_host = NULL;
	g_autoptr(JsonObject) description = NULL;
	g_autoptr(JsonObject) minimal_description = NULL;
	g_autoptr(JsonObject) gen_description = NULL;
	g_auto(GStrv) minimal_files = NULL;
	const char *keys[] = { "hypervisor", "hypervisor_version", "machine_type", "cpu_model",
			       "memory_mb" };
	int roles[5] = { 0 };

	load_a(f, info);
	/* Generation 0: the description, the disk, the memory, and the kernel and initrd it names. */
	assert_ok(run(files));
	g_assert_cmpuint(files->files->len, ==, 5);
	for (guint i = 0; i < files->files->len; i++) {
		const char *entry = g_ptr_array_index(files->files, i);

		g_test_message("file %s", entry);
		g_assert_true(g_path_is_absolute(strchr(entry, ' ') + 1));
		roles[atoi(entry)]++;
	}
	g_assert_cmpint(roles[NBX_SNAPSHOT_FILE_DESCRIPTION], ==, 1);
	g_assert_cmpint(roles[NBX_SNAPSHOT_FILE_DISK], ==, 1);
	g_assert_cmpint(roles[NBX_SNAPSHOT_FILE_MEMORY], ==, 1);
	g_assert_cmpint(roles[NBX_SNAPSHOT_FILE_OTHER], ==, 2);
	g_assert_cmpstr(strchr(g_ptr_array_index(files->files, 0), ' ') + 1, ==, info);

	/* What made it (from its qemu_version member) and what this host has: the same. */
	made = fingerprint(f, NULL, 0);
	assert_ok(made);
	host = fingerprint(f, NULL, NBX_SNAPSHOT_FINGERPRINT_HOST);
	assert_ok(host);
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_test_message("%s: %s / %s", keys[i],
			       (char *)g_hash_table_lookup(made->fingerprint, keys[i]),
			       (char *)g_hash_table_lookup(host->fingerprint, keys[i]));
		g_assert_cmpstr(g_hash_table_lookup(made->fingerprint, keys[i]), ==,
				g_hash_table_lookup(host->fingerprint, keys[i]));
	}
	assert_property(made, "hypervisor", "qemu");
	assert_property(made, "hypervisor_version", version);
	assert_property(made, "machine_type", "pc-i440fx-7.2");
	assert_property(made, "cpu_model", "qemu64");
	assert_property(made, "memory_mb", "256");
	unknown = fingerprint(f, NULL, 1u << 7);
	assert_fails(unknown, NBX_ERROR_NOT_SUPPORTED, "unknown flags");

	/* A machine type this QEMU does not have: the host's fingerprint says so, and differs. */
	future_info = g_build_filename(future, "machineinfo.json", NULL);
	{
		g_autofree char *written = write_info(f, "future.json", set_future_machine);

		g_assert_cmpint(g_rename(written, future_info), ==, 0);
	}
	future_made = fingerprint(f, future, 0);
	assert_ok(future_made);
	assert_property(future_made, "machine_type", "pc-i440fx-9.9");
	future_host = fingerprint(f, future, NBX_SNAPSHOT_FINGERPRINT_HOST);
	assert_ok(future_host);
	assert_property(future_host, "machine_type", "pc-i440fx-9.9 (not supported by this QEMU)");
	assert_property(future_host, "cpu_model", "qemu64");

	/* Full import: the files by base name, the description rewritten to name them so. */
	unpack(f, NULL, full, true);
	full_import = import(f, full, 0);
	assert_ok(full_import);
	description = read_in(full, "machineinfo.json");
	g_assert_cmpstr(json_object_get_string_member(description, "disk"), ==, "disk.qcow2");
	g_assert_cmpstr(json_object_get_string_member(description, "memory_snapshot"), ==,
			"memory.bin.zst");
	g_assert_cmpstr(start_arg(description, "-kernel"), ==, "vmlinuz");
	g_assert_cmpstr(start_arg(description, "-initrd"), ==, "initrd.img");
	g_assert_cmpstr(json_object_get_string_member(description, "kernel"), ==, "vmlinuz");
	assert_restores(f, full);

	/* Minimal import: no memory; restore refuses it until a cold boot and a commit. */
	unpack(f, NULL, minimal, false);
	minimal_import = import(f, minimal, NBX_SNAPSHOT_IMPORT_MINIMAL);
	assert_ok(minimal_import);
	minimal_description = read_in(minimal, "machineinfo.json");
	g_assert_false(json_object_has_member(minimal_description, "memory_snapshot"));
	refused = call_new(f, RESTORE);
	refused->generation = minimal;
	assert_fails(run(refused), NBX_ERROR_INVALID, "needs a cold boot and a commit");
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	minimal_files = dir_files(minimal);
	before = digest((const char *const *)minimal_files);
	console = begin(f, minimal, work, NBX_SNAPSHOT_COLD_BOOT);
	assert_agent_answers(f);
	commit(f, work, gen);
	assert_same_digest((const char *const *)minimal_files, before);
	/* Full again; the kernel it named relatively moved along with it. */
	gen_description = read_in(gen, "machineinfo.json");
	g_assert_cmpstr(json_object_get_string_member(gen_description, "memory_snapshot"), ==,
			"memory.zst");
	g_assert_cmpstr(start_arg(gen_description, "-kernel"), ==, "vmlinuz");
	kernel = g_build_filename(gen, "vmlinuz", NULL);
	g_assert_true(g_file_test(kernel, G_FILE_TEST_IS_REGULAR));
	gen_files->generation = gen;
	assert_ok(run(gen_files));
	g_assert_cmpuint(gen_files->files->len, ==, 6);
	for (guint i = 0; i < gen_files->files->len; i++)
		g_assert_true(g_str_has_prefix(strchr(g_ptr_array_index(gen_files->files, i), ' ') + 1,
					       gen));
	assert_restores(f, gen);
}

static char *collide_initrd;

/* An initrd from another directory, named like the kernel. */
static void
set_colliding_initrd(JsonObject *info, Fixture *f)
{
	set_start_arg(info, "-initrd", collide_initrd);
}

/* Import refuses what it cannot use, and then leaves the description as it was. */
static void
test_import_refusals(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *incomplete = new_dir(f, "imports/incomplete");
	g_autofree char *twins = new_dir(f, "gens/twins");
	g_autofree char *description = g_build_filename(incomplete, "machineinfo.json", NULL);
	g_autofree char *twins_info = g_build_filename(twins, "machineinfo.json", NULL);
	g_autofree char *written = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *elsewhere = new_dir(f, "elsewhere");
	g_autofree char *other = g_build_filename(elsewhere, "vmlinuz", NULL);
	g_autoptr(Call) missing = NULL;
	g_autoptr(Call) collide = call_new(f, FILES);

	load_a(f, info);
	/* No memory file although the description names one, and it is no minimal import. */
	unpack(f, NULL, incomplete, false);
	g_assert_true(g_file_get_contents(description, &before, NULL, NULL));
	missing = import(f, incomplete, 0);
	assert_fails(missing, NBX_ERROR_NOT_FOUND, "memory.bin.zst");
	g_assert_true(g_file_get_contents(description, &after, NULL, NULL));
	g_assert_cmpstr(after, ==, before);

	/* Two files of one base name cannot go into one archive. */
	g_assert_true(g_file_set_contents(other, "not a kernel", -1, NULL));
	collide_initrd = other;
	written = write_info(f, "twins.json", set_colliding_initrd);
	g_assert_cmpint(g_rename(written, twins_info), ==, 0);
	collide->generation = twins;
	assert_fails(run(collide), NBX_ERROR_INVALID, "two files called vmlinuz");
}

/* A machine configured without machineinfo: no generation 0 until an import. */
static void
test_no_machineinfo(Fixture *f, gconstpointer data)
{
	g_autofree char *demo_info = write_info(f, "demo.json", NULL);
	g_autofree char *imported = new_dir(f, "imports/1");
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *script = NULL;
	g_autoptr(Call) restore_none = call_new(f, RESTORE);
	g_autoptr(Call) files = call_new(f, FILES);
	g_autoptr(Call) print = NULL;
	g_autoptr(Call) begin_none = call_new(f, BEGIN);
	g_autoptr(Call) adopted = NULL;
	const char *names[] = { "disk", "memory_snapshot", "kernel", "initrd" };

	load_a(f, NULL);
	assert_fails(run(restore_none), NBX_ERROR_NOT_FOUND,
		     "machine a has no snapshot: import one with `nestbox snapshot import`");
	assert_fails(run(files), NBX_ERROR_NOT_FOUND, "machine a has no snapshot");
	print = fingerprint(f, NULL, 0);
	assert_fails(print, NBX_ERROR_NOT_FOUND, "machine a has no snapshot");
	begin_none->session.work_dir = work;
	assert_fails(run(begin_none), NBX_ERROR_NOT_FOUND, "machine a has no snapshot");
	g_assert_cmpuint(count_files(work), ==, 0);
	g_assert_cmpint(pool_state(f, "a"), !=, NBX_MACHINE_RUNNING);

	/* What the core unpacks from another host's export. */
	script = g_strdup_printf("cp '%s' '%s/machineinfo.json'", demo_info, imported);
	shell(script);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *copy = g_strdup_printf(
			"cp '%s' '%s/'", json_object_get_string_member(f->info, names[i]), imported);

		shell(copy);
	}
	adopted = import(f, imported, 0);
	assert_ok(adopted);
	assert_restores(f, imported);
}

/* ---- a guest that keeps its transfer disk (fake-qemu.py's never gives it back) */

static void
set_fake(JsonObject *info, Fixture *f)
{
	g_autofree char *memory = g_build_filename(f->dir, "fake-memory.bin", NULL);
	JsonArray *args = json_array_new();
	const char *const list[] = { "-machine", "pc,accel=tcg", "-drive",
				     "file=%DISPOSABLE_DISK_PATH%,format=qcow2,if=none,id=disk0" };

	g_assert_true(g_file_set_contents(memory, "QEVM raw memory", -1, NULL));
	json_object_set_string_member(info, "memory_snapshot", memory);
	for (guint i = 0; i < G_N_ELEMENTS(list); i++)
		json_array_add_string_element(args, list[i]);
	json_object_set_array_member(info, "start_args", args);
}

static void
test_guest_keeps_transfer_disk(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "fake.json", set_fake);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *conf = g_strdup_printf(
		"qemu_binary = \"%s\";\naccelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
		"stop_timeout = 5;\nmachines = ( %s );\n",
		env("NBX_QEMU_TEST_FAKE_QEMU"), f->overlays, machine);
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *gen = new_dir(f, "gens/1");
	g_autofree char *file = g_build_filename(f->dir, "tool.exe", NULL);
	g_autofree char *console = NULL;
	g_autoptr(Call) copy = NULL;
	g_autoptr(Call) stuck = NULL;
	g_autoptr(Call) rollback = NULL;
	const char *paths[] = { file, NULL };
	gint64 started, took;
	pid_t pid;

	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	assert_clean_load(f);
	f->qemu = g_ptr_array_index(f->setup->machineries, 0);
	g_assert_true(g_file_set_contents(file, "MZ", -1, NULL));

	console = begin(f, NULL, work, 0);
	g_assert_cmpstr(console, ==, "vnc://127.0.0.1:5999");
	pid = session_qemu(work);
	g_assert_cmpint(pid, >, 0);
	copy = session_call(f, COPY_IN, work, NULL);
	copy->paths = paths;
	assert_ok(run(copy));
	/* The wait for the guest to let go is bounded, and the message says what to do. */
	started = g_get_monotonic_time();
	stuck = session_call(f, COMMIT, work, gen);
	assert_fails(run(stuck), NBX_ERROR_BUSY,
		     "has not released the transfer disk nbx-transfer1");
	took = g_get_monotonic_time() - started;
	g_test_message("commit gave up after %" G_GINT64_FORMAT " ms", took / 1000);
	/* It waited its 10 s; how much longer a busy host made it is not the plugin's doing. */
	g_assert_cmpint(took, >=, 10 * G_USEC_PER_SEC - 100000);
	g_assert_nonnull(strstr(stuck->err.message, "eject it in the guest"));
	/* Nothing was paused or written; the session runs on. */
	g_assert_cmpuint(count_files(gen), ==, 0);
	g_assert_cmpint(session_qemu(work), ==, pid);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	rollback = session_call(f, ROLLBACK, work, NULL);
	assert_ok(run(rollback));
	assert_gone(pid);
}

/* ---- a daemon killed with -9 during a session ---------------------------- */

/* orphan-maker begins a session of "a" in @work and dies of SIGKILL; its QEMU's pid. */
static pid_t
orphan_session(Fixture *f, const char *run_dir, const char *info, const char *work)
{
	g_autofree char *record_path = g_build_filename(work, "qemu.run", NULL);
	g_autoptr(GKeyFile) record = g_key_file_new();
	g_autoptr(GError) error = NULL;
	int out;
	GPid maker = orphan_maker_start(f, run_dir, info, work, NULL, &out);
	pid_t qemu;

	orphan_maker_wait_ready(out);
	g_assert_true(g_key_file_load_from_file(record, record_path, G_KEY_FILE_NONE, &error));
	g_assert_no_error(error);
	qemu = (pid_t)g_key_file_get_int64(record, "run", "pid", NULL);
	g_assert_cmpint(qemu, >, 0);
	orphan_maker_kill(maker);
	g_assert_true(process_lives(qemu));
	return qemu;
}

/* After a restart only work_dir is left: rollback ends the QEMU its record names. */
static void
test_rollback_after_restart(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *gen = new_dir(f, "gens/1");
	g_autofree char *run_dir = NULL;
	g_autoptr(Call) late = NULL;
	g_autoptr(Call) rollback = NULL;
	int status;
	pid_t qemu;

	load_a(f, info);
	run_dir = g_strdup(f->qemu->run_dir);
	unload(f);
	qemu = orphan_session(f, run_dir, info, work);
	load_a(f, info);
	/* Its QEMU is no child of this instance: there is nothing to commit. */
	late = session_call(f, COMMIT, work, gen);
	assert_fails(run(late), NBX_ERROR_INVALID, "has no snapshot session running in");
	g_assert_true(process_lives(qemu));
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: cleaned up after dead daemon pid *: its QEMU pid * "
			      "was killed with SIGTERM; removed overlay *");
	rollback = session_call(f, ROLLBACK, work, NULL);
	assert_ok(run(rollback));
	g_test_assert_expected_messages();
	g_assert_false(process_lives(qemu));
	g_assert_cmpint(waitpid(qemu, &status, 0), ==, qemu);
	g_assert_false(exists_in(work, "qemu.run"));
	g_assert_false(exists_in(work, "qmp.sock"));
	g_assert_cmpint(session_qemu(work), ==, 0);
	/* The machine itself was never disturbed. */
	assert_restores(f, NULL);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* A plugin host, like nestboxd (nestboxd.c): a peer gone is an EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
#define ADD(path, fn) g_test_add("/qemu/snapshot/" path, Fixture, NULL, set_up, fn, tear_down)
	ADD("session-commit-restore", test_session_commit_restore);
	ADD("rollback", test_rollback);
	ADD("commit-failure", test_commit_failure);
	ADD("files-fingerprint-import", test_files_fingerprint_import);
	ADD("import-refusals", test_import_refusals);
	ADD("no-machineinfo", test_no_machineinfo);
	ADD("guest-keeps-transfer-disk", test_guest_keeps_transfer_disk);
	ADD("rollback-after-restart", test_rollback_after_restart);
	return g_test_run();
}
