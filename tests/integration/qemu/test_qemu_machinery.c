/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The qemu machinery against the real demo guest, through the core as the
 * daemon loads it: config dir -> nbx_setup_load -> plugin ops on worker
 * threads while the main thread runs the loop.
 *
 * Runs inside the network namespace that run-in-netns.sh creates, with two
 * tap devices ($NBX_QEMU_TEST_TAP0/1) and the demo guest built in
 * $NBX_QEMU_TEST_GUEST_DIR. Every guest restored from the demo snapshot has
 * the same IP and MAC (they live in the snapshot), so the taps are not
 * bridged: the host address sits on the tap of the guest being talked to.
 */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_ops.h"
#include "qemu_test_fixture.h"

/* ---- running ops as the daemon does: on a worker, main loop on main ---- */

typedef enum {
	OP_RESTORE,
	OP_NORESTORE,
	OP_STOP,
	OP_ACPI_STOP,
	OP_DUMP,
	OP_STATE,
	OP_HANDLE_PAUSED,
} Op;

typedef struct {
	Fixture *f;
	NbxMachine *machine;
	Op op;
	const char *path;
	/* Deadline from the op's start; 0: the hang guard (a busy host is slow, not wrong). */
	int64_t timeout_us;
	int32_t state;
	bool ok;
	struct nbx_error err;
	gint done;
} OpRun;

static gpointer
op_worker(gpointer data)
{
	OpRun *run = data;
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(run->f->qemu->plugin);
	void *instance = run->f->qemu->instance;
	struct nbx_machine *machine = &run->machine->machine;
	struct nbx_call call = {
		.struct_size = sizeof call,
		.deadline_us = g_get_monotonic_time() +
			       (run->timeout_us != 0 ? run->timeout_us
						     : TEST_HANG_GUARD_S * G_USEC_PER_SEC),
	};

	switch (run->op) {
	case OP_RESTORE:
		run->ok = ops->restore_start(instance, machine, &call, &run->err);
		break;
	case OP_NORESTORE:
		run->ok = ops->norestore_start(instance, machine, &call, &run->err);
		break;
	case OP_STOP:
		run->ok = ops->stop(instance, machine, &call, &run->err);
		break;
	case OP_ACPI_STOP:
		run->ok = ops->acpi_stop(instance, machine, &call, &run->err);
		break;
	case OP_DUMP:
		run->ok = ops->dump_memory(instance, machine, &call, run->path, &run->err);
		break;
	case OP_STATE:
		run->ok = ops->state(instance, machine, &call, &run->state, &run->err);
		break;
	case OP_HANDLE_PAUSED:
		run->ok = ops->handle_paused(instance, machine, &call, &run->err);
		break;
	}
	g_atomic_int_set(&run->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

/* Starts @kind on a worker thread; @path is for OP_DUMP. */
static OpRun *
op_start_by(Fixture *f, const char *machine, Op kind, const char *path, int64_t timeout_us)
{
	OpRun *run = g_new0(OpRun, 1);

	run->f = f;
	run->timeout_us = timeout_us;
	run->op = kind;
	run->path = path;
	run->machine = nbx_machine_pool_lookup(f->setup->pool, machine);
	g_assert_nonnull(run->machine);
	g_thread_unref(g_thread_new("op", op_worker, run));
	return run;
}

static OpRun *
op_start(Fixture *f, const char *machine, Op kind, const char *path)
{
	return op_start_by(f, machine, kind, path, 0);
}

static void
op_finish(OpRun *run)
{
	while (!g_atomic_int_get(&run->done))
		g_main_context_iteration(NULL, TRUE);
	drain_main_loop();
}

static OpRun *
op(Fixture *f, const char *machine, Op kind, const char *path)
{
	OpRun *run = op_start(f, machine, kind, path);

	op_finish(run);
	return run;
}

static void
op_ok(Fixture *f, const char *machine, Op kind, const char *path)
{
	g_autofree OpRun *run = op(f, machine, kind, path);

	if (!run->ok)
		g_printerr("op %d on %s failed: %s\n", kind, machine, run->err.message);
	g_assert_true(run->ok);
}

/* Where x86 firmware is mapped: the last 16 MiB below 4 GiB. */
#define FIRMWARE_WINDOW ((1ull << 32) - (16ull << 20))

/* ---- cases ----------------------------------------------------------- */

static void
load_one(Fixture *f)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *machine =
		machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);

	load(f, machine);
	assert_clean_load(f);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
}

static void
test_restore_dump_stop(Fixture *f, gconstpointer data)
{
	g_autofree char *dump = g_build_filename(f->dir, "memory.elf", NULL);
	g_autofree char *qmp_socket = NULL;
	g_autofree char *core = NULL;
	gsize len = 0;
	const Elf64_Ehdr *header;
	guint64 loaded = 0;
	pid_t pid;

	load_one(f);
	qmp_socket = g_build_filename(f->qemu->run_dir, "a.qmp", NULL);
	op_ok(f, "a", OP_RESTORE, NULL);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	g_assert_true(g_file_test(qmp_socket, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_files(f->overlays), ==, 1);
	assert_agent_answers(f);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);

	op_ok(f, "a", OP_DUMP, dump);
	g_assert_true(g_file_get_contents(dump, &core, &len, NULL));
	g_assert_cmpuint(len, >=, sizeof *header);
	header = (const Elf64_Ehdr *)core;
	g_assert_cmpmem(header->e_ident, SELFMAG, ELFMAG, SELFMAG);
	g_assert_cmpint(header->e_ident[EI_CLASS], ==, ELFCLASS64);
	g_assert_cmpint(header->e_type, ==, ET_CORE);
	for (guint i = 0; i < header->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(core + header->e_phoff +
							    (gsize)i * header->e_phentsize);

		if (ph->p_type != PT_LOAD)
			continue;
		g_test_message("PT_LOAD paddr 0x%" G_GINT64_MODIFIER "x size 0x%" G_GINT64_MODIFIER
			       "x", (guint64)ph->p_paddr, (guint64)ph->p_filesz);
		/*
		 * The firmware window below 4 GiB holds the BIOS ROM, which QEMU
		 * backs with RAM and so dumps too; it is not guest memory.
		 */
		if (ph->p_paddr >= FIRMWARE_WINDOW && ph->p_paddr + ph->p_filesz <= (1ull << 32))
			continue;
		loaded += ph->p_filesz;
	}
	g_test_message("PT_LOAD total %" G_GUINT64_FORMAT " bytes", loaded);
	g_assert_cmpuint(loaded, ==,
			 (guint64)json_object_get_int_member(f->info, "memory_mb") << 20);
	g_clear_pointer(&core, g_free);
	/* The guest keeps running after a dump. */
	assert_agent_answers(f);

	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	g_assert_false(g_file_test(qmp_socket, G_FILE_TEST_EXISTS));
	/* Stopping a stopped machine succeeds. */
	op_ok(f, "a", OP_STOP, NULL);
}

static void
test_acpi_stop(Fixture *f, gconstpointer data)
{
	g_autofree OpRun *state = NULL;

	pid_t pid;

	load_one(f);
	op_ok(f, "a", OP_RESTORE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	/* The demo guest has no ACPI daemon: the request is delivered, nothing more. */
	op_ok(f, "a", OP_ACPI_STOP, NULL);
	state = op(f, "a", OP_STATE, NULL);
	g_assert_true(state->ok);
	g_assert_cmpint(state->state, ==, NBX_MACHINE_RUNNING);
	/* Nothing to resume on a running guest: handle_paused just says so. */
	op_ok(f, "a", OP_HANDLE_PAUSED, NULL);
	/* What the core does when its ACPI timeout passes: stop leaves nothing. */
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

static void
test_norestore_start(Fixture *f, gconstpointer data)
{
	load_one(f);
	/* A cold boot of the demo guest from its kernel: seconds under TCG. */
	op_ok(f, "a", OP_NORESTORE, NULL);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	assert_agent_answers(f);
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

static void
set_snapshot_from_env(JsonObject *info, Fixture *f)
{
	json_object_set_string_member(info, "memory_snapshot", g_getenv("NBX_QEMU_TEST_SNAPSHOT"));
}

/* The format is told by magic bytes: raw, gzip and lz4 copies of the zstd snapshot all restore. */
static void
test_snapshot_formats(Fixture *f, gconstpointer data)
{
	const char *snapshot = json_object_get_string_member(f->info, "memory_snapshot");
	g_autofree char *raw = g_build_filename(f->dir, "memory.bin", NULL);
	g_autofree char *script = NULL;
	g_autofree char *info = NULL;
	g_autofree char *machine = NULL;
	const char *suffixes[] = { "", ".gz", ".lz4" };
	NbxMachine *a;

	if (!g_str_has_suffix(snapshot, ".zst")) {
		g_test_skip("the demo snapshot is not zstd-compressed here");
		return;
	}
	script = g_strdup_printf("zstd -qdc '%s' > '%s'; gzip -1 -c '%s' > '%s.gz'; "
				 "lz4 -q -1 '%s' '%s.lz4'",
				 snapshot, raw, raw, raw, raw, raw);
	shell(script);
	g_setenv("NBX_QEMU_TEST_SNAPSHOT", raw, TRUE);
	info = write_info(f, "formats.json", set_snapshot_from_env);
	machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	load(f, machine);
	assert_clean_load(f);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
	a = nbx_machine_pool_lookup(f->setup->pool, "a");
	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *path = g_strconcat(raw, suffixes[i], NULL);
		g_autofree char *written = NULL;

		g_setenv("NBX_QEMU_TEST_SNAPSHOT", path, TRUE);
		written = write_info(f, "formats.json", set_snapshot_from_env);
		/* check_machine re-reads machineinfo. */
		g_assert_true(nbx_plugin_machinery_ops(f->qemu->plugin)->check_machine(
			f->qemu->instance, &a->machine, NULL, &(struct nbx_error){ 0 }));
		op_ok(f, "a", OP_RESTORE, NULL);
		assert_agent_answers(f);
		op_ok(f, "a", OP_STOP, NULL);
		g_assert_cmpuint(count_files(f->overlays), ==, 0);
	}
	g_unsetenv("NBX_QEMU_TEST_SNAPSHOT");
}

/* ---- VMCloak's machines ------------------------------------------------ */

static void assert_restore_fails(Fixture *f, const char *expect, gint32 code);

static const char *vmcloak_bridge;

/*
 * The demo guest's start_args as VMCloak's qemu platform writes them: the
 * guest on QEMU's bridge helper (-netdev type=bridge), -enable-kvm, no
 * accelerator in -machine, -display none.
 */
static JsonArray *
vmcloak_start_args(JsonObject *demo)
{
	JsonArray *from = json_object_get_array_member(demo, "start_args");
	JsonArray *args = json_array_new();

	for (guint i = 0; i < json_array_get_length(from); i++) {
		const char *arg = json_array_get_string_element(from, i);
		const char *previous = i > 0 ? json_array_get_string_element(from, i - 1) : "";
		g_autofree char *value = NULL;

		if (strcmp(previous, "-netdev") == 0)
			value = g_strdup_printf("type=bridge,br=%s,id=net0", vmcloak_bridge);
		else if (strcmp(previous, "-machine") == 0)
			value = g_strndup(arg, strcspn(arg, ","));
		json_array_add_string_element(args, value != NULL ? value : arg);
	}
	json_array_add_string_element(args, "-enable-kvm");
	return args;
}

/* machineinfo.json of VMCloak's exact shape, members inside "machine". */
static void
to_vmcloak_shape(JsonObject *info, Fixture *f)
{
	JsonObject *machine = json_object_new();
	g_autoptr(GList) members = json_object_get_members(info);

	json_object_set_string_member(machine, "name", "v");
	json_object_set_string_member(machine, "ip", json_object_get_string_member(info, "ip"));
	json_object_set_int_member(machine, "agent_port", 8000);
	json_object_set_string_member(machine, "os_name", "linux");
	json_object_set_string_member(machine, "os_version", "12");
	json_object_set_string_member(machine, "architecture", "amd64");
	json_object_set_array_member(machine, "tags", json_array_new());
	json_object_set_string_member(machine, "bridge", vmcloak_bridge);
	json_object_set_string_member(machine, "mac",
				      json_object_get_string_member(info, "mac_address"));
	json_object_set_string_member(machine, "gateway",
				      json_object_get_string_member(info, "host_ip"));
	json_object_set_string_member(machine, "netmask", "255.255.255.0");
	json_object_set_string_member(machine, "disk", "disk.qcow2");
	json_object_set_array_member(machine, "start_args", vmcloak_start_args(info));
	json_object_set_string_member(machine, "memory_snapshot", "memory.snapshot");
	for (GList *l = members; l != NULL; l = l->next)
		json_object_remove_member(info, l->data);
	json_object_set_null_member(info, "vmcloak_version");
	json_object_set_string_member(info, "machinery", "qemu");
	json_object_set_string_member(info, "machinery_version", "7.2.22");
	json_object_set_object_member(info, "machine", machine);
}

/* A VMCloak machine directory of the demo guest: its machineinfo.json's path. */
static char *
write_vmcloak_dir(Fixture *f)
{
	g_autofree char *dir = g_build_filename(f->dir, "vmcloak", NULL);
	g_autofree char *written = NULL;
	g_autofree char *script = NULL;
	char *path = g_build_filename(dir, "machineinfo.json", NULL);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0750), ==, 0);
	script = g_strdup_printf("cp '%s' '%s/disk.qcow2' && zstd -qdc '%s' > '%s/memory.raw'",
				 json_object_get_string_member(f->info, "disk"), dir,
				 json_object_get_string_member(f->info, "memory_snapshot"), dir);
	shell(script);
	written = write_info(f, "vmcloak.json", to_vmcloak_shape);
	g_assert_cmpint(g_rename(written, path), ==, 0);
	return path;
}

/* VMCloak's memory.snapshot as its platform writes it: `lz4 -z`, `gzip -c -3`, or `cat`. */
static void
write_vmcloak_memory(const char *info, const char *format)
{
	g_autofree char *dir = g_path_get_dirname(info);
	g_autofree char *script = NULL;

	if (strcmp(format, "lz4") == 0)
		script = g_strdup_printf("lz4 -q -z -c '%s/memory.raw' > '%s/memory.snapshot'", dir,
					 dir);
	else if (strcmp(format, "gzip") == 0)
		script = g_strdup_printf("gzip -c -3 '%s/memory.raw' > '%s/memory.snapshot'", dir,
					 dir);
	else
		script = g_strdup_printf("cat '%s/memory.raw' > '%s/memory.snapshot'", dir, dir);
	shell(script);
}

/* How many of the plugin's taps (nbxt*) are ports of @bridge now. */
static guint
taps_in(const char *bridge)
{
	g_autofree char *command = g_strdup_printf("ip -o link show master %s", bridge);
	g_autofree char *out = NULL;
	guint n = 0;

	g_assert_true(g_spawn_command_line_sync(command, &out, NULL, NULL, NULL));
	for (const char *at = out; (at = strstr(at, ": nbxt")) != NULL; at++)
		n++;
	return n;
}

/*
 * VMCloak's machineinfo.json, as its qemu platform writes it, restores:
 * its members from "machine", relative disk and memory.snapshot (lz4, gzip
 * or raw), the bridge netdev on a tap the plugin makes in that bridge (no
 * setuid helper), -enable-kvm dropped for the accelerator setting.
 */
static void
test_vmcloak_machine(Fixture *f, gconstpointer data)
{
	static const char *const formats[] = { "lz4", "gzip", "raw" };
	g_autofree char *info = NULL;
	g_autofree char *machine = NULL;
	g_autoptr(GPtrArray) notes = NULL;
	NbxMachine *v;

	vmcloak_bridge = env("NBX_QEMU_TEST_BRIDGE");
	info = write_vmcloak_dir(f);
	write_vmcloak_memory(info, "lz4");
	machine = g_strdup_printf("{ name = \"v\"; label = \"v\"; ip = \"10.213.0.10\";\n"
				  "  platform = \"linux\"; interface = \"%s\"; agent_port = 8000;\n"
				  "  machineinfo = \"%s\"; }",
				  vmcloak_bridge, info);
	notes = load_collecting_notes(f, machine);
	assert_clean_load(f);
	g_assert_nonnull(find_note(notes, "machine v: accelerator tcg (the setting wins over "
					  "-enable-kvm of start_args)"));
	g_assert_nonnull(find_note(notes, "machine v: -netdev net0: the plugin makes a tap in "
					  "bridge nbxqbr0"));
	route_to(f, vmcloak_bridge);
	v = nbx_machine_pool_lookup(f->setup->pool, "v");
	for (guint i = 0; i < G_N_ELEMENTS(formats); i++) {
		g_autofree char *cmdline = NULL;
		pid_t pid;

		g_test_message("memory.snapshot: %s", formats[i]);
		write_vmcloak_memory(info, formats[i]);
		g_assert_true(nbx_plugin_machinery_ops(f->qemu->plugin)->check_machine(
			f->qemu->instance, &v->machine, NULL, &(struct nbx_error){ 0 }));
		op_ok(f, "v", OP_RESTORE, NULL);
		pid = find_qemu(f, "v");
		g_assert_cmpint(pid, >, 0);
		cmdline = cmdline_of(pid);
		g_test_message("%s", cmdline);
		g_assert_nonnull(strstr(cmdline, "-netdev tap,id=net0,fd=4 "));
		g_assert_null(strstr(cmdline, "bridge"));
		g_assert_null(strstr(cmdline, "-enable-kvm"));
		g_assert_nonnull(strstr(cmdline, "-accel tcg"));
		g_assert_nonnull(strstr(cmdline, "-display none"));
		g_assert_cmpuint(taps_in(vmcloak_bridge), ==, 1);
		assert_agent_answers(f);
		op_ok(f, "v", OP_STOP, NULL);
		/* The tap was QEMU's alone: it went with it. */
		g_assert_cmpuint(taps_in(vmcloak_bridge), ==, 0);
		g_assert_cmpuint(count_files(f->overlays), ==, 0);
	}
}

/* A bridge that is not there: --check names it, and a restore leaves nothing. */
static void
test_vmcloak_missing_bridge(Fixture *f, gconstpointer data)
{
	g_autofree char *info = NULL;
	g_autofree char *machine = NULL;
	const char *problem;

	vmcloak_bridge = "nbxnobr0";
	info = write_vmcloak_dir(f);
	write_vmcloak_memory(info, "raw");
	machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);

	load(f, machine);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), >=, 1);
	problem = nbx_diagnostics_get(f->diagnostics, 0);
	g_test_message("%s", problem);
	g_assert_nonnull(strstr(problem, "machines.a.machineinfo"));
	g_assert_nonnull(strstr(problem, "attach the guest to nbxnobr0: bridge nbxnobr0 does not "
					 "exist"));
	assert_restore_fails(f, "bridge nbxnobr0", NBX_ERROR_HYPERVISOR);
}

/* ---- the host side the guest knows ---------------------------------------- */

/* Not the MAC any demo guest was saved with: build-demo-guest pins 02:6e:62:... */
#define OTHER_HOST_MAC "02:00:5e:10:20:30"

/*
 * Every frame that crosses @iface, both ways, from a packet socket of the
 * test's own (bound before the restore, so nothing is missed), until
 * capture_stop().
 */
typedef struct {
	int fd;
	GThread *thread;
	GPtrArray *frames;
	gint stop;
} Capture;

static gpointer
capture_main(gpointer data)
{
	Capture *capture = data;
	unsigned char frame[2048];

	while (!g_atomic_int_get(&capture->stop)) {
		struct pollfd pfd = { .fd = capture->fd, .events = POLLIN };
		ssize_t got;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		got = recv(capture->fd, frame, sizeof frame, 0);
		if (got >= 14)
			g_ptr_array_add(capture->frames, g_bytes_new(frame, (gsize)got));
	}
	return NULL;
}

static Capture *
capture_start(const char *iface)
{
	Capture *capture = g_new0(Capture, 1);
	struct sockaddr_ll address = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				       .sll_ifindex = (int)if_nametoindex(iface) };

	capture->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	g_assert_cmpint(capture->fd, >=, 0);
	g_assert_cmpint(address.sll_ifindex, >, 0);
	g_assert_cmpint(bind(capture->fd, (struct sockaddr *)&address, sizeof address), ==, 0);
	capture->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	capture->thread = g_thread_new("capture", capture_main, capture);
	return capture;
}

static GPtrArray *
capture_stop(Capture *capture)
{
	GPtrArray *frames = capture->frames;

	g_atomic_int_set(&capture->stop, 1);
	g_thread_join(capture->thread);
	close(capture->fd);
	g_free(capture);
	return frames;
}

static char *
mac_text(const unsigned char *mac)
{
	return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			       mac[4], mac[5]);
}

/* A gratuitous ARP request from @sender for @ip: sender and target address both @ip. */
static gboolean
is_announcement(const unsigned char *f, gsize len, const char *sender, const char *ip)
{
	g_autofree char *src = mac_text(f + 6);
	g_autofree char *sha = NULL;
	struct in_addr spa, tpa, want;

	if (len < 42 || f[12] != 0x08 || f[13] != 0x06 || memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) != 0 ||
	    f[20] != 0 || f[21] != 1 || inet_pton(AF_INET, ip, &want) != 1)
		return FALSE;
	sha = mac_text(f + 22);
	memcpy(&spa, f + 28, 4);
	memcpy(&tpa, f + 38, 4);
	return strcmp(src, sender) == 0 && strcmp(sha, sender) == 0 &&
	       spa.s_addr == want.s_addr && tpa.s_addr == want.s_addr;
}

/*
 * A host side whose MAC is not the one in the guest's memory: --check says
 * so, and after a restore the guest relearns it from the plugin's
 * gratuitous ARP before its first answer, so no answer goes to the old MAC
 * (which made the guest unreachable for 5 s until its ARP entry expired).
 */
static void
test_host_side_announced(Fixture *f, gconstpointer data)
{
	const char *tap = env("NBX_QEMU_TEST_TAP0");
	const char *guest_mac = json_object_get_string_member(f->info, "mac_address");
	const char *host_mac = json_object_get_string_member_with_default(f->info, "host_mac", NULL);
	g_autofree char *set_mac = g_strdup_printf("ip link set %s address " OTHER_HOST_MAC, tap);
	g_autofree char *pin = NULL;
	g_autofree char *neighbour = NULL;
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", tap, info);
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(GPtrArray) frames = NULL;
	g_autofree char *expected = NULL;
	guint answers = 0, announcements = 0;
	Capture *capture;

	g_assert_nonnull(host_mac);
	shell(set_mac);
	route_to(f, tap);
	/*
	 * The host knows the guest already (as after an earlier run), so it
	 * sends no ARP request that would teach the guest the new MAC too: only
	 * the plugin's announcement can.
	 */
	neighbour = g_strdup_printf("ip neigh replace 10.213.0.10 lladdr %s dev %s nud permanent",
				    guest_mac, tap);
	shell(neighbour);
	notes = load_collecting_notes(f, machine);
	assert_clean_load(f);
	expected = g_strdup_printf("machine a: its guest knows the host side (10.213.0.1) as %s "
				   "(host_mac in %s), but %s has " OTHER_HOST_MAC " now",
				   host_mac, info, tap);
	g_assert_nonnull(find_note(notes, expected));

	capture = capture_start(tap);
	op_ok(f, "a", OP_RESTORE, NULL);
	assert_agent_answers(f);
	op_ok(f, "a", OP_STOP, NULL);
	frames = capture_stop(capture);
	for (guint i = 0; i < frames->len; i++) {
		gsize len = 0;
		const unsigned char *frame = g_bytes_get_data(g_ptr_array_index(frames, i), &len);
		g_autofree char *dst = mac_text(frame);
		g_autofree char *src = mac_text(frame + 6);

		if (is_announcement(frame, len, OTHER_HOST_MAC, "10.213.0.1"))
			announcements++;
		/* The guest's IPv4 frames: every one must go to the host side's MAC of now. */
		if (strcmp(src, guest_mac) != 0 || frame[12] != 0x08 || frame[13] != 0x00)
			continue;
		if (strcmp(dst, OTHER_HOST_MAC) != 0)
			g_error("frame %u of %u: the guest sent to %s, the host side's old MAC", i,
				frames->len, dst);
		answers++;
	}
	g_test_message("%u frames, %u announcements, %u from the guest", frames->len,
		       announcements, answers);
	g_assert_cmpuint(announcements, ==, 1);
	g_assert_cmpuint(answers, >, 0);

	/* With the MAC pinned, --check has nothing to say. */
	unload(f);
	pin = g_strdup_printf("ip link set %s address %s", tap, host_mac);
	shell(pin);
	g_clear_pointer(&notes, g_ptr_array_unref);
	notes = load_collecting_notes(f, machine);
	for (guint i = 0; i < notes->len; i++)
		g_assert_null(strstr(g_ptr_array_index(notes, i), "knows the host side"));
}

/* A restore that cannot finish by its deadline says so and leaves nothing behind. */
static void
test_deadline(Fixture *f, gconstpointer data)
{
	/* Ends in qemu-img, in QEMU's start or in the snapshot load, as the machine allows. */
	static const int64_t timeouts_ms[] = { 1, 150, 300, 450 };
	OpRun *run;

	load_one(f);
	for (guint i = 0; i < G_N_ELEMENTS(timeouts_ms); i++) {
		int64_t timeout_ms = timeouts_ms[i];

		run = op_start_by(f, "a", OP_RESTORE, NULL, timeout_ms * 1000);
		op_finish(run);
		g_test_message("deadline %" G_GINT64_FORMAT " ms: %s", timeout_ms,
			       run->ok ? "restored" : run->err.message);
		if (!run->ok) {
			g_assert_cmpint(run->err.code, ==, NBX_ERROR_TIMEOUT);
			g_assert_cmpint(find_qemu(f, "a"), ==, 0);
			g_assert_cmpuint(count_files(f->overlays), ==, 0);
			g_assert_cmpint(pool_state(f, "a"), !=, NBX_MACHINE_RUNNING);
		}
		g_free(run);
		op_ok(f, "a", OP_STOP, NULL);
	}
	/* And the machine is usable afterwards. */
	op_ok(f, "a", OP_RESTORE, NULL);
	assert_agent_answers(f);
	op_ok(f, "a", OP_STOP, NULL);
}

/* A QEMU that does not answer quit is killed after stop_timeout (5 s in these tests). */
static void
test_stop_hung_qemu(Fixture *f, gconstpointer data)
{
	gint64 started;
	pid_t pid;

	load_one(f);
	op_ok(f, "a", OP_RESTORE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	/* Our own child, frozen: it reads no QMP until it is killed. */
	g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
	started = g_get_monotonic_time();
	op_ok(f, "a", OP_STOP, NULL);
	g_test_message("stop took %" G_GINT64_FORMAT " ms", (g_get_monotonic_time() - started) / 1000);
	g_assert_cmpint(g_get_monotonic_time() - started, >=, 5 * G_USEC_PER_SEC - 100000);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
}

/* check runs `qemu_binary -version` and refuses anything older than 2.11. */
static void
test_old_qemu(Fixture *f, gconstpointer data)
{
	g_autofree char *fake = g_build_filename(f->dir, "old-qemu", NULL);
	g_autofree char *conf = NULL;

	g_assert_true(g_file_set_contents(
		fake, "#!/bin/sh\necho 'QEMU emulator version 2.10.1'\n", -1, NULL));
	g_assert_cmpint(g_chmod(fake, 0755), ==, 0);
	conf = g_strdup_printf("qemu_binary = \"%s\";\naccelerator = \"tcg\";\n"
			       "overlay_dir = \"%s\";\nmachines = ( );\n",
			       fake, f->overlays);
	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_test_message("%s", nbx_diagnostics_get(f->diagnostics, 0));
	g_assert_nonnull(strstr(nbx_diagnostics_get(f->diagnostics, 0), "qemu_binary"));
	g_assert_nonnull(strstr(nbx_diagnostics_get(f->diagnostics, 0),
				"is QEMU 2.10; nestbox needs 2.11 or newer"));
}

static gint32 wait_for_state(Fixture *f, const char *name, gint32 state, char **reason);

static void
test_killed_from_outside(Fixture *f, gconstpointer data)
{
	g_autofree OpRun *state = NULL;
	gint64 killed, seen;
	pid_t pid;

	load_one(f);
	op_ok(f, "a", OP_RESTORE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	killed = g_get_monotonic_time();
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	/*
	 * Only the main loop runs: the plugin must learn of the death by
	 * itself. How soon is reported, not asserted: a busy host decides that.
	 */
	g_assert_cmpint(wait_for_state(f, "a", NBX_MACHINE_POWEROFF, NULL), ==,
			NBX_MACHINE_POWEROFF);
	seen = g_get_monotonic_time();
	g_test_message("POWEROFF seen %" G_GINT64_FORMAT " us after the kill", seen - killed);
	state = op(f, "a", OP_STATE, NULL);
	g_assert_cmpint(state->state, ==, NBX_MACHINE_POWEROFF);
	/* The overlay is the run's until stop, which cleans up after the dead QEMU. */
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

static void
set_missing_snapshot(JsonObject *info, Fixture *f)
{
	g_autofree char *path = g_build_filename(f->dir, "no-such-memory.bin", NULL);

	json_object_set_string_member(info, "memory_snapshot", path);
}

static void
set_corrupt_snapshot(JsonObject *info, Fixture *f)
{
	g_autofree char *path = g_build_filename(f->dir, "corrupt-memory.bin.zst", NULL);
	/* A zstd header followed by noise: the decompressor fails midway. */
	static const char corrupt[] = "\x28\xb5\x2f\xfd garbage garbage garbage garbage";

	g_assert_true(g_file_set_contents(path, corrupt, sizeof corrupt - 1, NULL));
	json_object_set_string_member(info, "memory_snapshot", path);
}

static void
set_raw_garbage_snapshot(JsonObject *info, Fixture *f)
{
	g_autofree char *path = g_build_filename(f->dir, "garbage-memory.bin", NULL);
	g_autofree char *noise = g_strnfill(65536, 'Q');

	g_assert_true(g_file_set_contents(path, noise, 65536, NULL));
	json_object_set_string_member(info, "memory_snapshot", path);
}

static void
assert_restore_fails(Fixture *f, const char *expect, gint32 code)
{
	g_autofree OpRun *run = op(f, "a", OP_RESTORE, NULL);

	g_test_message("restore failed: %s", run->err.message);
	g_assert_false(run->ok);
	g_assert_cmpint(run->err.code, ==, code);
	g_assert_nonnull(strstr(run->err.message, expect));
	g_assert_cmpint(find_qemu(f, "a"), ==, 0);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	g_assert_cmpint(pool_state(f, "a"), !=, NBX_MACHINE_RUNNING);
}

static void
test_bad_snapshots(Fixture *f, gconstpointer data)
{
	g_autofree char *missing = write_info(f, "missing.json", set_missing_snapshot);
	g_autofree char *corrupt = write_info(f, "corrupt.json", set_corrupt_snapshot);
	g_autofree char *garbage = write_info(f, "garbage.json", set_raw_garbage_snapshot);
	g_autofree char *machines =
		machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), missing);
	NbxMachine *a;

	load(f, machines);
	/* check_machine reports it... */
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 1);
	g_assert_nonnull(strstr(nbx_diagnostics_get(f->diagnostics, 0), "no-such-memory.bin"));
	/* ...and restore_start refuses it without starting anything. */
	assert_restore_fails(f, "no-such-memory.bin", NBX_ERROR_NOT_FOUND);

	/*
	 * The same machine, its machineinfo swapped for ones with corrupt
	 * snapshots: a decompressor that fails says why (QEMU alone would wait
	 * for ever on a stream that ends before its first byte); a file that is
	 * no stream at all is refused before anything starts.
	 */
	a = nbx_machine_pool_lookup(f->setup->pool, "a");
	for (int i = 0; i < 2; i++) {
		const char *path = i == 0 ? corrupt : garbage;
		g_autofree char *contents = NULL;

		g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
		g_assert_true(g_file_set_contents(missing, contents, -1, NULL));
		/* check_machine re-reads machineinfo: use it to load the new one. */
		g_assert_true(nbx_plugin_machinery_ops(f->qemu->plugin)->check_machine(f->qemu->instance,
								       &a->machine, NULL,
								       &(struct nbx_error){ 0 }));
		if (i == 0)
			assert_restore_fails(f, "decompressing it failed with status 1: ",
					     NBX_ERROR_INVALID);
		else
			assert_restore_fails(f, "not a QEMU migration stream", NBX_ERROR_INVALID);
	}
}

static void
add_bad_option(JsonObject *info, Fixture *f)
{
	json_array_add_string_element(json_object_get_array_member(info, "start_args"),
				      "-no-such-option");
}

/* A QEMU that refuses its arguments: the error carries QEMU's own words. */
static void
test_qemu_refuses_args(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "bad-option.json", add_bad_option);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);

	load(f, machine);
	assert_clean_load(f);
	assert_restore_fails(f, "-no-such-option: invalid option", NBX_ERROR_HYPERVISOR);
}

static void
add_forbidden_arg(JsonObject *info, Fixture *f)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");

	json_array_add_string_element(args, "-snapshot");
	json_array_add_string_element(args, "--daemonize");
}

static void
test_forbidden_arg(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "forbidden.json", add_forbidden_arg);
	g_autofree char *machine =
		machine_conf("bad", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *with_extras = NULL;

	/* Two more things the schema cannot see: a MAC other than the snapshot's, a snapshot name. */
	machine[strlen(machine) - 1] = '\0';
	with_extras = g_strconcat(machine,
				  "  mac_address = \"52:54:00:00:00:01\"; snapshot = \"s1\"; }", NULL);
	load(f, with_extras);
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 4);
	g_test_message("%s", nbx_diagnostics_get(f->diagnostics, 2));
	g_test_message("%s", nbx_diagnostics_get(f->diagnostics, 3));
	g_assert_nonnull(strstr(nbx_diagnostics_get(f->diagnostics, 2),
				"machines.bad.mac_address: machine bad: mac_address 52:54:00:00:00:01 "
				"differs from 52:54:00:d5:00:0a"));
	g_assert_nonnull(strstr(nbx_diagnostics_get(f->diagnostics, 3), "machines.bad.snapshot"));
	for (guint i = 0; i < 2; i++) {
		const char *message = nbx_diagnostics_get(f->diagnostics, i);

		g_test_message("%s", message);
		g_assert_nonnull(strstr(message, "machine bad"));
		g_assert_nonnull(strstr(message, "machineinfo"));
		g_assert_nonnull(strstr(message, i == 0 ? "-snapshot" : "-daemonize"));
	}
}

static void
test_two_at_once(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	/* The core wants distinct IPs; both guests really are the snapshot's. */
	g_autofree char *a = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *b = machine_conf("b", "10.213.0.12", env("NBX_QEMU_TEST_TAP1"), info);
	g_autofree char *machines = g_strconcat(a, ",\n", b, NULL);
	OpRun *ra, *rb;
	pid_t pid_b;

	load(f, machines);
	assert_clean_load(f);
	/* Both restores run at the same time, on two workers. */
	ra = op_start(f, "a", OP_RESTORE, NULL);
	rb = op_start(f, "b", OP_RESTORE, NULL);
	op_finish(ra);
	op_finish(rb);
	if (!ra->ok || !rb->ok)
		g_printerr("a: %s\nb: %s\n", ra->err.message, rb->err.message);
	g_assert_true(ra->ok && rb->ok);
	g_free(ra);
	g_free(rb);
	g_assert_cmpuint(count_files(f->overlays), ==, 2);
	pid_b = find_qemu(f, "b");
	g_assert_cmpint(pid_b, >, 0);
	g_assert_cmpint(find_qemu(f, "a"), !=, pid_b);

	route_to(f, env("NBX_QEMU_TEST_TAP0"));
	assert_agent_answers(f);
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
	/* Stopping a left b running, on its own overlay. */
	g_assert_cmpint(pool_state(f, "b"), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpint(kill(pid_b, 0), ==, 0);
	g_assert_cmpuint(count_files(f->overlays), ==, 1);
	route_to(f, env("NBX_QEMU_TEST_TAP1"));
	assert_agent_answers(f);
	op_ok(f, "b", OP_STOP, NULL);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

/* ---- what QEMU reports about a crash ------------------------------------ */

static gint32
wait_for_state(Fixture *f, const char *name, gint32 state, char **reason)
{
	NbxMachine *machine = nbx_machine_pool_lookup(f->setup->pool, name);
	gint64 until = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;
	gint32 now;

	/* Only the main loop runs: the plugin hears of it by itself. */
	while ((now = nbx_machine_get_hypervisor_state(machine, NULL)) != state &&
	       g_get_monotonic_time() < until) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(10000);
	}
	return nbx_machine_get_hypervisor_state(machine, reason);
}

static void
set_fake_scenario(JsonObject *info, Fixture *f)
{
	g_autofree char *memory = g_build_filename(f->dir, "fake-memory.bin", NULL);
	JsonArray *args = json_array_new();
	const char *const list[] = { "-machine", "pc,accel=tcg", "-drive",
				     "file=%DISPOSABLE_DISK_PATH%,format=qcow2,if=none,id=disk0",
				     "-nbx-scenario", f->scenario };

	g_assert_true(g_file_set_contents(memory, "QEVM raw memory", -1, NULL));
	json_object_set_string_member(info, "memory_snapshot", memory);
	for (guint i = 0; i < G_N_ELEMENTS(list); i++)
		json_array_add_string_element(args, list[i]);
	json_object_set_array_member(info, "start_args", args);
}

/* fake-qemu.py plays its scenario now: the restore has returned, whatever it took. */
static void
play_scenario(pid_t fake_qemu)
{
	g_assert_cmpint(kill(fake_qemu, SIGUSR1), ==, 0);
}

/* Machine "a" run by fake-qemu.py, which plays @scenario once restored and told to. */
static void
load_fake(Fixture *f, const char *scenario)
{
	g_autofree char *info = NULL;
	g_autofree char *machine = NULL;
	g_autofree char *conf = NULL;

	f->scenario = scenario;
	info = write_info(f, "fake.json", set_fake_scenario);
	machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	/* A scripted QEMU makes no memory template: it plays a restore, not a migration. */
	conf = g_strdup_printf("qemu_binary = \"%s\";\naccelerator = \"tcg\";\n"
			       "overlay_dir = \"%s\";\nstop_timeout = 5;\n"
			       "restore_method = \"stream\";\nmachines = ( %s );\n",
			       env("NBX_QEMU_TEST_FAKE_QEMU"), f->overlays, machine);
	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->setup);
	assert_clean_load(f);
	f->qemu = g_ptr_array_index(f->setup->machineries, 0);
}

/*
 * A crash QEMU reports makes the machine ERROR at once, with the reason;
 * `state` says ERROR too, handle_paused refuses to resume it, and stop
 * still leaves nothing behind.
 */
static void
assert_crash_reported(Fixture *f, const char *scenario, const char *expect)
{
	g_autofree char *reason = NULL;
	g_autofree OpRun *state = NULL;
	g_autofree OpRun *resume = NULL;
	pid_t pid;

	load_fake(f, scenario);
	op_ok(f, "a", OP_RESTORE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	play_scenario(pid);
	g_assert_cmpint(wait_for_state(f, "a", NBX_MACHINE_ERROR, &reason), ==, NBX_MACHINE_ERROR);
	g_test_message("%s: %s", scenario, reason);
	g_assert_cmpstr(reason, ==, expect);

	state = op(f, "a", OP_STATE, NULL);
	g_assert_true(state->ok);
	g_assert_cmpint(state->state, ==, NBX_MACHINE_ERROR);
	g_assert_nonnull(strstr(state->err.message, expect));

	resume = op(f, "a", OP_HANDLE_PAUSED, NULL);
	g_test_message("handle_paused: %s", resume->err.message);
	g_assert_false(resume->ok);
	g_assert_cmpint(resume->err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(resume->err.message, expect));

	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_POWEROFF);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

static void
test_guest_panicked(Fixture *f, gconstpointer data)
{
	assert_crash_reported(f, "panic", "guest panicked");
}

static void
test_io_error(Fixture *f, gconstpointer data)
{
	assert_crash_reported(f, "io-error", "io-error: disk0 (write): No space left on device");
}

static void
test_internal_error(Fixture *f, gconstpointer data)
{
	assert_crash_reported(f, "internal", "internal-error");
}

/* A pause nobody in nestbox asked for is reported, and not undone. */
static void
test_foreign_pause_fake(Fixture *f, gconstpointer data)
{
	g_autofree char *reason = NULL;
	g_autofree OpRun *resume = NULL;

	load_fake(f, "pause");
	op_ok(f, "a", OP_RESTORE, NULL);
	play_scenario(find_qemu(f, "a"));
	g_assert_cmpint(wait_for_state(f, "a", NBX_MACHINE_PAUSED, &reason), ==,
			NBX_MACHINE_PAUSED);
	g_assert_cmpstr(reason, ==, "QEMU says the guest is paused");
	resume = op(f, "a", OP_HANDLE_PAUSED, NULL);
	g_assert_false(resume->ok);
	g_assert_cmpint(resume->err.code, ==, NBX_ERROR_INVALID);
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

/* Sends @line on a QMP connection and returns the next reply line (events skipped). */
static char *
outside_command(GDataInputStream *in, GOutputStream *out, const char *line)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(g_output_stream_write_all(out, line, strlen(line), NULL, NULL, &error));
	g_assert_no_error(error);
	for (;;) {
		char *reply = g_data_input_stream_read_line(in, NULL, NULL, &error);

		g_assert_no_error(error);
		g_assert_nonnull(reply);
		if (strstr(reply, "\"event\"") == NULL)
			return reply;
		g_free(reply);
	}
}

static void
add_outside_monitor(JsonObject *info, Fixture *f)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");
	/* QEMU runs as machine a's own uid: it makes the socket, in a directory of its. */
	g_autofree char *dir = qemu_owned_dir(f);
	g_autofree char *chardev = g_strdup_printf(
		"socket,id=outside,path=%s/outside.qmp,server=on,wait=off", dir);

	/* A second monitor, as a user's tool would have: only in this test's machineinfo. */
	json_array_add_string_element(args, "-chardev");
	json_array_add_string_element(args, chardev);
	json_array_add_string_element(args, "-mon");
	json_array_add_string_element(args, "chardev=outside,mode=control");
}

/* The real demo guest, stopped through a monitor of someone else's. */
static void
test_paused_from_outside(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "outside.json", add_outside_monitor);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *path = g_build_filename(f->dir, "outside", "outside.qmp", NULL);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *greeting = NULL;
	g_autofree char *negotiated = NULL;
	g_autofree char *stopped = NULL;
	g_autofree char *reason = NULL;
	g_autofree OpRun *state = NULL;
	g_autofree OpRun *resume = NULL;
	GOutputStream *out;
	pid_t pid;

	load(f, machine);
	assert_clean_load(f);
	op_ok(f, "a", OP_RESTORE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
	g_assert_no_error(error);
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	greeting = g_data_input_stream_read_line(in, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(strstr(greeting, "\"QMP\""));
	negotiated = outside_command(in, out, "{\"execute\": \"qmp_capabilities\"}\n");
	g_assert_nonnull(strstr(negotiated, "\"return\""));
	stopped = outside_command(in, out, "{\"execute\": \"stop\"}\n");
	g_assert_nonnull(strstr(stopped, "\"return\""));

	g_assert_cmpint(wait_for_state(f, "a", NBX_MACHINE_PAUSED, &reason), ==,
			NBX_MACHINE_PAUSED);
	g_test_message("paused: %s", reason);
	state = op(f, "a", OP_STATE, NULL);
	g_assert_cmpint(state->state, ==, NBX_MACHINE_PAUSED);
	/* Someone paused it on purpose: handle_paused does not undo that. */
	resume = op(f, "a", OP_HANDLE_PAUSED, NULL);
	g_test_message("handle_paused: %s", resume->err.message);
	g_assert_false(resume->ok);
	g_assert_cmpint(resume->err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(resume->err.message, "paused from outside"));

	g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

/* ---- a daemon killed with -9 -------------------------------------------- */

/* The plugin warns when it cleans up after a dead daemon, saying what it found. */
static void
expect_cleanup(const char *what)
{
	g_autofree char *pattern = g_strdup_printf(
		"qemu: machine a: cleaned up after dead daemon pid *: its QEMU pid * %s; removed "
		"overlay *",
		what);

	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING, pattern);
}

typedef struct {
	pid_t qemu;
	char *record;
	char *overlay;
	char *socket;
} Orphan;

static void
orphan_clear(Orphan *orphan)
{
	g_free(orphan->record);
	g_free(orphan->overlay);
	g_free(orphan->socket);
}

/* Reaps @pid, which the plugin has just killed: orphans are reparented to this test. */
static void
reap(pid_t pid)
{
	int status;

	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_false(process_lives(pid));
}

/*
 * Runs orphan-maker, which restores machine "a" with the plugin into
 * @run_dir, and kills it with SIGKILL once "a" runs: its QEMU lives on.
 */
static void
make_orphan(Fixture *f, const char *run_dir, Orphan *orphan)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) record = g_key_file_new();
	int out;
	GPid maker = orphan_maker_start(f, run_dir, info, NULL, NULL, &out);

	orphan_maker_wait_ready(out);
	orphan->record = g_build_filename(run_dir, "a.run", NULL);
	g_assert_true(g_key_file_load_from_file(record, orphan->record, G_KEY_FILE_NONE, &error));
	g_assert_no_error(error);
	orphan->qemu = (pid_t)g_key_file_get_int64(record, "run", "pid", NULL);
	orphan->overlay = g_key_file_get_string(record, "run", "overlay", NULL);
	orphan->socket = g_key_file_get_string(record, "run", "qmp_socket", NULL);
	g_assert_cmpint(orphan->qemu, >, 0);
	g_assert_true(g_file_test(orphan->overlay, G_FILE_TEST_EXISTS));
	orphan_maker_kill(maker);
	/* The daemon is dead; its QEMU is not. */
	g_assert_true(process_lives(orphan->qemu));
}

static void
assert_cleaned(Fixture *f, const Orphan *orphan)
{
	g_assert_false(g_file_test(orphan->record, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(orphan->overlay, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(orphan->socket, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
}

/* The next daemon's init kills the QEMU a killed daemon left, and removes its files. */
static void
test_recover_at_init(Fixture *f, gconstpointer data)
{
	g_autofree char *run_dir = NULL;
	Orphan orphan = { 0 };

	load_one(f);
	run_dir = g_strdup(f->qemu->run_dir);
	unload(f);
	make_orphan(f, run_dir, &orphan);
	expect_cleanup("was killed with SIGTERM");
	load_one(f);
	g_test_assert_expected_messages();
	/* init has returned: the orphan is dead (a zombie of ours) and its files are gone. */
	g_assert_false(process_lives(orphan.qemu));
	reap(orphan.qemu);
	assert_cleaned(f, &orphan);
	/* The machine works as ever. */
	op_ok(f, "a", OP_RESTORE, NULL);
	assert_agent_answers(f);
	op_ok(f, "a", OP_STOP, NULL);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	orphan_clear(&orphan);
}

/*
 * A record that appears after init (another daemon's, dead since): state
 * says RUNNING while its QEMU lives, stop kills it; one whose QEMU died on
 * its own is only cleaned, and state says POWEROFF.
 */
static void
test_recover_at_state_and_stop(Fixture *f, gconstpointer data)
{
	g_autofree OpRun *running = NULL;
	g_autofree OpRun *off = NULL;
	Orphan orphan = { 0 };

	load_one(f);
	make_orphan(f, f->qemu->run_dir, &orphan);
	running = op(f, "a", OP_STATE, NULL);
	g_assert_true(running->ok);
	g_assert_cmpint(running->state, ==, NBX_MACHINE_RUNNING);
	/* state only looks. */
	g_assert_true(process_lives(orphan.qemu));
	g_assert_true(g_file_test(orphan.record, G_FILE_TEST_EXISTS));
	expect_cleanup("was killed with SIGTERM");
	op_ok(f, "a", OP_STOP, NULL);
	g_test_assert_expected_messages();
	g_assert_false(process_lives(orphan.qemu));
	reap(orphan.qemu);
	assert_cleaned(f, &orphan);
	orphan_clear(&orphan);

	/* Now QEMU dies on its own (as PR_SET_PDEATHSIG would have it): files only. */
	make_orphan(f, f->qemu->run_dir, &orphan);
	g_assert_cmpint(kill(orphan.qemu, SIGKILL), ==, 0);
	reap(orphan.qemu);
	expect_cleanup("had ended on its own");
	off = op(f, "a", OP_STATE, NULL);
	g_test_assert_expected_messages();
	g_assert_true(off->ok);
	g_assert_cmpint(off->state, ==, NBX_MACHINE_POWEROFF);
	assert_cleaned(f, &orphan);
	orphan_clear(&orphan);
}

/* A recorded pid now used by another process (its start time differs) is never signalled. */
static void
test_recycled_pid(Fixture *f, gconstpointer data)
{
	const char *argv[] = { "sleep", "600", NULL };
	g_autofree char *run_dir = NULL;
	g_autofree char *record = NULL;
	g_autofree char *text = NULL;
	g_autofree char *overlay = g_build_filename(f->overlays, "a-XXXXXX.qcow2", NULL);
	g_autoptr(GError) error = NULL;
	GPid sleeper;

	load_one(f);
	run_dir = g_strdup(f->qemu->run_dir);
	unload(f);
	g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
				    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL,
				    &sleeper, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(overlay, "", 0, NULL));
	record = g_build_filename(run_dir, "a.run", NULL);
	/* Start time 1: no process this young lives; owner pid beyond pid_max: long dead. */
	text = g_strdup_printf("[run]\nmachine=a\npid=%d\npid_start_time=1\noverlay=%s\n"
			       "qmp_socket=%s/a.qmp\nowner_pid=2147483000\nowner_start_time=1\n",
			       (int)sleeper, overlay, run_dir);
	g_assert_true(g_file_set_contents(record, text, -1, NULL));
	expect_cleanup("had ended on its own");
	load_one(f);
	g_test_assert_expected_messages();
	g_assert_true(process_lives(sleeper));
	g_assert_false(g_file_test(record, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(overlay, G_FILE_TEST_EXISTS));
	g_assert_cmpint(kill(sleeper, SIGKILL), ==, 0);
	reap(sleeper);
	g_spawn_close_pid(sleeper);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* A plugin host, like nestboxd (nestboxd.c): a peer gone is an EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
#define ADD(path, fn) g_test_add("/qemu/" path, Fixture, NULL, set_up, fn, tear_down)
	ADD("restore-dump-stop", test_restore_dump_stop);
	ADD("acpi-stop", test_acpi_stop);
	ADD("norestore-start", test_norestore_start);
	ADD("snapshot-formats", test_snapshot_formats);
	ADD("vmcloak-machine", test_vmcloak_machine);
	ADD("vmcloak-missing-bridge", test_vmcloak_missing_bridge);
	ADD("host-side-announced", test_host_side_announced);
	ADD("old-qemu", test_old_qemu);
	ADD("deadline", test_deadline);
	ADD("stop-hung-qemu", test_stop_hung_qemu);
	ADD("killed-from-outside", test_killed_from_outside);
	ADD("bad-snapshots", test_bad_snapshots);
	ADD("forbidden-start-arg", test_forbidden_arg);
	ADD("qemu-refuses-args", test_qemu_refuses_args);
	ADD("two-at-once", test_two_at_once);
	ADD("guest-panicked", test_guest_panicked);
	ADD("io-error", test_io_error);
	ADD("internal-error", test_internal_error);
	ADD("foreign-pause", test_foreign_pause_fake);
	ADD("paused-from-outside", test_paused_from_outside);
	ADD("recover-at-init", test_recover_at_init);
	ADD("recover-at-state-and-stop", test_recover_at_state_and_stop);
	ADD("recycled-pid", test_recycled_pid);
	return g_test_run();
}
