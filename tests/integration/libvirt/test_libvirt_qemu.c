/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt machinery on libvirt's real QEMU driver with the demo guest
 * under TCG, loaded through the core as nestboxd loads it.
 *
 * Runs inside run-libvirt-qemu.sh's network namespace (the guest's tap and
 * the host address are there) and scratch directory. Two ways to reach
 * QEMU, both real:
 *  - qemu:///embed?root=SCRATCH/embed: libvirt's QEMU driver inside this
 *    process. This test runs libvirt's event loop itself, as an embedding
 *    application does, and the plugin uses that loop.
 *  - a libvirtd this test starts (run-libvirtd.sh), stops and starts again
 *    under a running machine: the reconnect.
 * The guest boots once, to take the running snapshot "booted" in its
 * qcow2 overlay; every restore afterwards reverts to it.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "generation.h"
#include "lv_guest.h"
#include "lv_test.h"

static LvGuest guest;
static virConnectPtr hv;
static virDomainPtr demo;
/* When this process's libvirt last said "stopped", as another client hears it. */
static gint64 libvirt_stopped_at;

static int
on_libvirt_event(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	if (event == VIR_DOMAIN_EVENT_STOPPED)
		__atomic_store_n(&libvirt_stopped_at, g_get_monotonic_time(), __ATOMIC_SEQ_CST);
	return 0;
}

/*
 * Waits for the core to hold POWEROFF once libvirt's own event came, with
 * no op called: the plugin heard it by itself. How soon after libvirt's
 * event is reported, not asserted: on a busy host that is the scheduler's.
 */
static void
assert_poweroff_seen_at_once(LvTest *t, const char *what)
{
	gint64 seen, stopped;

	g_assert_true(lv_test_wait_state(t, "demo", NBX_MACHINE_POWEROFF));
	seen = g_get_monotonic_time();
	stopped = __atomic_load_n(&libvirt_stopped_at, __ATOMIC_SEQ_CST);
	g_assert_cmpint(stopped, >, 0);
	g_test_message("%s: libvirt's event to the core's POWEROFF: %.1f ms", what,
		       (double)(seen - stopped) / 1000.0);
}

static char *
conf(const char *dsn, const char *machines)
{
	return g_strdup_printf("dsn = \"%s\";\nreconnect_interval = 1;\nkeepalive_interval = 1;\n"
			       "machines = ( %s );\n",
			       dsn, machines);
}

static char *
machine(const char *name, const char *label, const char *snapshot)
{
	return g_strdup_printf("{ name = \"%s\"; label = \"%s\"; ip = \"%s\"; platform = \"linux\"; "
			       "agent_port = %d; snapshot = \"%s\"; }",
			       name, label, guest.ip, guest.agent_port, snapshot);
}

static void
load_demo(LvTest *t, const char *dsn)
{
	g_autofree char *m = machine("demo", "nbx-demo", "booted");
	g_autofree char *text = conf(dsn, m);

	lv_test_load(t, text);
	lv_test_assert_clean(t);
}

static void
set_up(LvTest *t, gconstpointer data)
{
	lv_test_init(t, g_getenv("NBX_LIBVIRT_TEST_PLUGIN_DIR"));
}

static void
tear_down(LvTest *t, gconstpointer data)
{
	lv_test_clear(t);
	/* Whatever a failed case left running. */
	if (virDomainIsActive(demo) == 1)
		virDomainDestroy(demo);
}

static char *
embed_run_dir(void)
{
	return g_build_filename(guest.scratch, "embed", "run", NULL);
}

static void
restore_to_agent(LvTest *t)
{
	LvOpResult r = lv_test_op_ok(t, "demo", LV_OP_RESTORE, NULL);
	double agent = lv_guest_agent_wait(&guest);

	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpfloat(agent, >=, 0);
	g_test_message("restore_start took %.3f s, the agent answered %.3f s later", r.seconds,
		       agent);
}

/* ---- cases ----------------------------------------------------------- */

static void
test_validation(LvTest *t, gconstpointer data)
{
	g_autofree char *a = machine("a", "nbx-demo", "no-such-snapshot");
	/* Another IP: the same one twice is a core error of its own. */
	const char *b = "{ name = \"b\"; label = \"nbx-no-such-domain\"; ip = \"10.213.0.99\"; "
			"platform = \"linux\"; snapshot = \"booted\"; }";
	g_autofree char *both = g_strdup_printf("%s, %s", a, b);
	g_autofree char *text = conf(guest.embed_uri, both);

	lv_test_load(t, text);
	g_test_message("%s", lv_test_diagnostic(t, "machines.a.snapshot", "no-such-snapshot",
						"it has: booted", NULL));
	g_test_message("%s", lv_test_diagnostic(t, "machines.b.label", "nbx-no-such-domain", NULL));
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 2);
}

/* Sums the guest RAM in an ELF core's PT_LOAD segments, firmware window excluded. */
static guint64
elf_core_ram(const char *path)
{
	/* x86 firmware is mapped in the last 16 MiB below 4 GiB: ROM, not guest RAM. */
	const guint64 firmware = (1ull << 32) - (16ull << 20);
	Elf64_Ehdr header;
	guint64 total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, &header, sizeof header, 0), ==, sizeof header);
	g_assert_cmpmem(header.e_ident, SELFMAG, ELFMAG, SELFMAG);
	g_assert_cmpint(header.e_ident[EI_CLASS], ==, ELFCLASS64);
	g_assert_cmpint(header.e_type, ==, ET_CORE);
	for (guint i = 0; i < header.e_phnum; i++) {
		Elf64_Phdr ph;

		g_assert_cmpint(pread(fd, &ph, sizeof ph,
				      (off_t)(header.e_phoff + (guint64)i * header.e_phentsize)),
				==, sizeof ph);
		if (ph.p_type != PT_LOAD ||
		    (ph.p_paddr >= firmware && ph.p_paddr + ph.p_filesz <= (1ull << 32)))
			continue;
		total += ph.p_filesz;
	}
	close(fd);
	return total;
}

static void
test_restore_dump_stop(LvTest *t, gconstpointer data)
{
	g_autofree char *run_dir = embed_run_dir();
	g_autofree char *dump = g_build_filename(t->dir, "memory.elf", NULL);
	struct stat st;
	pid_t pid;

	load_demo(t, guest.embed_uri);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
	restore_to_agent(t);
	pid = lv_guest_qemu_pid(run_dir, "nbx-demo");
	g_assert_cmpint(pid, >, 0);

	umask(0077);
	lv_test_op_ok(t, "demo", LV_OP_DUMP, dump);
	umask(0022);
	g_assert_cmpint(stat(dump, &st), ==, 0);
	g_assert_cmpuint(st.st_uid, ==, geteuid());
	g_assert_cmpuint(st.st_gid, ==, getegid());
	g_assert_cmpint(st.st_mode & 07777, ==, 0640);
	g_assert_cmpuint(elf_core_ram(dump), ==, (guint64)guest.memory_mb << 20);
	/* The guest runs on after a dump, and the core was told so. */
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	g_assert_true(lv_test_wait_state(t, "demo", NBX_MACHINE_RUNNING));

	/* Restoring a running machine reverts it in place. */
	restore_to_agent(t);

	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
}

static void
test_acpi_stop(LvTest *t, gconstpointer data)
{
	LvOpResult state;

	load_demo(t, guest.embed_uri);
	restore_to_agent(t);
	/* The demo guest has no ACPI daemon: the request is delivered, nothing more. */
	lv_test_op_ok(t, "demo", LV_OP_ACPI_STOP, NULL);
	state = lv_test_op_ok(t, "demo", LV_OP_STATE, NULL);
	g_assert_cmpint(state.state, ==, NBX_MACHINE_RUNNING);
	/* Nothing to resume on a running guest. */
	lv_test_op_ok(t, "demo", LV_OP_HANDLE_PAUSED, NULL);
	/* What the core does when its ACPI timeout passes. */
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
}

static void
test_norestore(LvTest *t, gconstpointer data)
{
	load_demo(t, guest.embed_uri);
	/* A cold boot from the kernel: seconds under TCG. */
	lv_test_op_ok(t, "demo", LV_OP_NORESTORE, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
}

static void
test_destroyed_outside(LvTest *t, gconstpointer data)
{
	g_autofree char *run_dir = embed_run_dir();
	g_autofree char *reason = NULL;
	gint64 start;
	pid_t pid;

	load_demo(t, guest.embed_uri);
	restore_to_agent(t);
	/* Another libvirt client destroys it: seen at once, without polling. */
	__atomic_store_n(&libvirt_stopped_at, 0, __ATOMIC_SEQ_CST);
	start = g_get_monotonic_time();
	g_assert_cmpint(virDomainDestroy(demo), ==, 0);
	g_test_message("virDomainDestroy took %.1f ms",
		       (double)(g_get_monotonic_time() - start) / 1000.0);
	assert_poweroff_seen_at_once(t, "destroyed by another client");
	lv_test_pool_state(t, "demo", &reason);
	g_assert_nonnull(strstr(reason, "destroyed"));

	/* QEMU killed under libvirt's feet: seen as soon as libvirt sees it. */
	restore_to_agent(t);
	pid = lv_guest_qemu_pid(run_dir, "nbx-demo");
	g_assert_cmpint(pid, >, 0);
	__atomic_store_n(&libvirt_stopped_at, 0, __ATOMIC_SEQ_CST);
	start = g_get_monotonic_time();
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	assert_poweroff_seen_at_once(t, "QEMU killed");
	g_test_message("QEMU killed: the core knew %.1f ms later",
		       (double)(g_get_monotonic_time() - start) / 1000.0);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
}

static void
test_daemon_restart(LvTest *t, gconstpointer data)
{
	virConnectPtr outside;
	virDomainPtr dom;
	pid_t daemon;
	gint64 start;

	daemon = lv_daemon_start(&guest);
	outside = lv_open_retrying(guest.daemon_uri);
	g_assert_nonnull(outside);
	/* The embedded domain's snapshot, recorded on the daemon: same disk, no second boot. */
	dom = lv_guest_copy(&guest, outside, "nbx-demo", demo);
	virConnectClose(outside);

	load_demo(t, guest.daemon_uri);
	restore_to_agent(t);

	/* libvirtd goes away under the running machine: the core learns it cannot tell. */
	lv_daemon_stop(daemon);
	g_assert_true(lv_test_wait_state(t, "demo", NBX_MACHINE_UNKNOWN));
	/* The guest does not care. */
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);

	/* Back: the plugin reconnects by itself and asks again. */
	start = g_get_monotonic_time();
	daemon = lv_daemon_start(&guest);
	g_assert_true(lv_test_wait_state(t, "demo", NBX_MACHINE_RUNNING));
	g_test_message("state known again %.2f s after libvirtd was started again",
		       (double)(g_get_monotonic_time() - start) / 1000000.0);

	/* Events flow on the new connection: a destroy from outside is seen at once. */
	outside = lv_open_retrying(guest.daemon_uri);
	virDomainFree(dom);
	dom = virDomainLookupByName(outside, "nbx-demo");
	g_assert_nonnull(dom);
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "demo", NBX_MACHINE_POWEROFF));

	/* And ops work on it. */
	restore_to_agent(t);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
	lv_test_unload(t);

	virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
	virDomainFree(dom);
	virConnectClose(outside);
	lv_daemon_stop(daemon);
}

/* ---- snapshot generations -------------------------------------------- */

static LvOpResult
session_op(LvTest *t, LvOp op, uint32_t flags, LvSession *s)
{
	LvCall call = { .op = op, .flags = flags, .session = &s->args };

	return lv_test_call(t, "demo", &call);
}

static void
restore_generation_to_agent(LvTest *t, const char *generation_dir)
{
	LvCall call = { .op = LV_OP_RESTORE, .generation_dir = generation_dir };
	LvOpResult r = lv_test_call_ok(t, "demo", &call);
	double agent = lv_guest_agent_wait(&guest);

	g_assert_cmpfloat(agent, >=, 0);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_RUNNING);
	g_test_message("restore_start from %s took %.3f s, the agent answered %.3f s later",
		       generation_dir != NULL ? generation_dir : "generation 0", r.seconds, agent);
}

/* A session's change an analysis would not make: a disk only that generation has. */
static void
attach_disk(const char *format, const char *target)
{
	g_autofree char *file = g_strdup_printf("%s/%s.%s", guest.scratch, target, format);
	g_autofree char *xml = g_strdup_printf(
		"<disk type='file' device='disk'><driver name='qemu' type='%s'/>"
		"<source file='%s'/><target dev='%s' bus='virtio'/></disk>",
		format, file, target);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", format, file, "16M", NULL };
	g_autoptr(GError) error = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
			  &status, &error) ||
	    !g_spawn_check_wait_status(status, &error))
		g_error("qemu-img create %s: %s", file, error->message);
	if (virDomainAttachDeviceFlags(demo, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
		g_error("attach of %s: %s", file, virGetLastErrorMessage());
}

/* Whether the running domain has a disk image named @name (e.g. "vdb.qcow2"). */
static bool
has_disk(const char *name)
{
	g_autofree char *xml = virDomainGetXMLDesc(demo, 0);

	g_assert_nonnull(xml);
	return strstr(xml, name) != NULL;
}

static char *
current_snapshot(void)
{
	virDomainSnapshotPtr snap = virDomainSnapshotCurrent(demo, 0);
	char *name;

	g_assert_nonnull(snap);
	name = g_strdup(virDomainSnapshotGetName(snap));
	virDomainSnapshotFree(snap);
	return name;
}

/* The internal snapshots QEMU's own tool lists in the guest's qcow2, in use or not. */
static char *
qcow2_snapshots(void)
{
	const char *argv[] = { "qemu-img", "snapshot", "-U", "-l", guest.disk, NULL };
	g_autoptr(GError) error = NULL;
	char *out = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
			  &status, &error) ||
	    !g_spawn_check_wait_status(status, &error))
		g_error("qemu-img snapshot -l: %s", error->message);
	return out;
}

/* The console is a real VNC server: it greets with its protocol version. */
static void
assert_vnc_answers(const char *console)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GError) error = NULL;
	char banner[13] = { 0 };
	gsize got = 0;

	g_assert_true(g_str_has_prefix(console, "vnc://127.0.0.1:"));
	g_socket_client_set_timeout(client, 5);
	connection = g_socket_client_connect_to_host(client, console + strlen("vnc://"), 0, NULL,
						     &error);
	g_assert_no_error(error);
	g_input_stream_read_all(g_io_stream_get_input_stream(G_IO_STREAM(connection)), banner, 12,
				&got, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(banner, 4, "RFB ", 4);
}

static void
test_snapshot_generations(LvTest *t, gconstpointer data)
{
	g_autofree char *gen1_file = NULL, *gen1_name = NULL, *current = NULL, *qcow2 = NULL;
	g_autofree char *gen1 = NULL;
	LvGeneration gen;
	LvSession s;
	LvOpResult r;
	int state = 0, reason = 0;

	load_demo(t, guest.embed_uri);

	/* A session from generation 0 that cannot be committed: a raw disk has no internal snapshot. */
	lv_session_init(&s, t, NULL, "gen-failed");
	r = session_op(t, LV_OP_SNAPSHOT_BEGIN, 0, &s);
	g_assert_true(r.ok);
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	g_test_message("begin took %.3f s; console %s", r.seconds, s.args.console);
	assert_vnc_answers(s.args.console);
	attach_disk("raw", "vdb");
	r = session_op(t, LV_OP_SNAPSHOT_COMMIT, 0, &s);
	g_assert_false(r.ok);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, "nbx-demo"));
	g_assert_nonnull(strstr(r.err.message, "nestbox-gen-demo-"));
	/* It runs on, nothing is left in libvirt or in the directory. */
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	g_assert_cmpint(virDomainSnapshotNum(demo, 0), ==, 1);
	gen1_file = g_build_filename(s.new_dir, LV_GENERATION_FILE, NULL);
	g_assert_false(g_file_test(gen1_file, G_FILE_TEST_EXISTS));
	lv_test_call_ok(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
	lv_session_clear(&s);
	g_clear_pointer(&gen1_file, g_free);

	/* The one that is committed: generation 1 has a disk generation 0 has not. */
	lv_session_init(&s, t, NULL, "gen-1");
	lv_test_call_ok(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	g_assert_false(has_disk("vdb.raw"));
	attach_disk("qcow2", "vdb");
	r = lv_test_call_ok(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_COMMIT, .session = &s.args });
	g_test_message("commit took %.3f s", r.seconds);
	g_assert_cmpint(virDomainGetState(demo, &state, &reason, 0), ==, 0);
	g_assert_cmpint(state, ==, VIR_DOMAIN_SHUTOFF);
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
	gen1 = g_strdup(s.new_dir);
	g_assert_true(lv_generation_read(gen1, &gen, NULL));
	gen1_name = g_strdup(gen.snapshot);
	g_assert_cmpstr(gen.domain, ==, "nbx-demo");
	g_assert_true(gen.memory);
	lv_generation_clear(&gen);
	lv_session_clear(&s);
	/* QEMU's own record: the memory went into the guest's qcow2 (VM SIZE is not 0). */
	qcow2 = qcow2_snapshots();
	g_test_message("%s", qcow2);
	g_assert_nonnull(strstr(qcow2, gen1_name));

	/* Restored from generation 1: the guest answers, with generation 1's disk. */
	restore_generation_to_agent(t, gen1);
	g_assert_true(has_disk("vdb.qcow2"));
	current = current_snapshot();
	g_assert_cmpstr(current, ==, gen1_name);

	/*
	 * A cold-booted session from generation 1 whose change is rolled back:
	 * generation 1 restores as it was, generation 0 too.
	 */
	lv_session_init(&s, t, gen1, NULL);
	r = session_op(t, LV_OP_SNAPSHOT_BEGIN, NBX_SNAPSHOT_COLD_BOOT, &s);
	g_assert_true(r.ok);
	g_assert_cmpint(virDomainGetState(demo, &state, &reason, 0), ==, 0);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_BOOTED);
	/* That the guest boots from there is test_norestore's: not waited for again. */
	g_test_message("cold boot: begin took %.3f s", r.seconds);
	attach_disk("qcow2", "vdc");
	lv_test_call_ok(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	g_assert_cmpint(lv_test_pool_state(t, "demo", NULL), ==, NBX_MACHINE_POWEROFF);
	g_assert_cmpint(virDomainSnapshotNum(demo, 0), ==, 2);
	lv_session_clear(&s);
	restore_generation_to_agent(t, gen1);
	g_assert_true(has_disk("vdb.qcow2"));
	g_assert_false(has_disk("vdc.qcow2"));
	restore_to_agent(t);
	g_assert_false(has_disk("vdb.qcow2"));

	/*
	 * Not removed while generation 0 runs (here libvirt 9.0 would crash:
	 * generation 1 has a disk the running domain lacks); once it is off,
	 * gone from libvirt and from the qcow2.
	 */
	r = lv_test_call(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = gen1 });
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_BUSY);
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
	lv_test_call_ok(t, "demo", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = gen1 });
	g_assert_cmpint(virDomainSnapshotNum(demo, 0), ==, 1);
	g_free(qcow2);
	qcow2 = qcow2_snapshots();
	g_assert_null(strstr(qcow2, gen1_name));
	g_assert_nonnull(strstr(qcow2, "booted"));
	r = lv_test_call(t, "demo", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = gen1 });
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(r.err.message, gen1_name));
	/* Generation 0 is untouched by all of it. */
	restore_to_agent(t);
	lv_test_op_ok(t, "demo", LV_OP_STOP, NULL);
}

#define ADD(path, fn) g_test_add("/libvirt/qemu/" path, LvTest, NULL, set_up, fn, tear_down)

int
main(int argc, char **argv)
{
	int status;

	/* As nestboxd does: a dead ext/ssh transport is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	/* The plugin warns when it loses its connection: expected here, not fatal. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	if (g_getenv("NBX_LIBVIRT_TEST_PLUGIN_DIR") == NULL)
		g_error("NBX_LIBVIRT_TEST_PLUGIN_DIR is not set: run this test through meson");
	lv_guest_init(&guest);
	lv_guest_event_loop_start();
	hv = virConnectOpen(guest.embed_uri);
	if (hv == NULL)
		g_error("%s: %s", guest.embed_uri, virGetLastErrorMessage());
	demo = lv_guest_prepare(&guest, hv, "nbx-demo");
	g_assert_cmpint(virConnectDomainEventRegisterAny(hv, demo, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							  VIR_DOMAIN_EVENT_CALLBACK(on_libvirt_event),
							  NULL, NULL),
			>=, 0);

	ADD("validation", test_validation);
	ADD("restore-dump-stop", test_restore_dump_stop);
	ADD("acpi-stop", test_acpi_stop);
	ADD("norestore", test_norestore);
	ADD("destroyed-outside", test_destroyed_outside);
	ADD("daemon-restart", test_daemon_restart);
	ADD("snapshot-generations", test_snapshot_generations);
	status = g_test_run();

	lv_guest_undefine(demo);
	virConnectClose(hv);
	lv_guest_clear(&guest);
	return status;
}
