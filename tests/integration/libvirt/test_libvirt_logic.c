/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt machinery's logic on libvirt's own fake hypervisor,
 * test:///default: no daemon, no QEMU, milliseconds per case. Loaded
 * through the core as nestboxd loads it, so the plugin starts libvirt's
 * event loop itself, as it does in the daemon.
 *
 * test:///default is one state per process, shared by every connection to
 * it: the test's own connection (`hv`) defines domains and snapshots and
 * plays "someone outside nestbox" (destroy, suspend), and the plugin sees
 * it all through its connection, events included.
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain_state.h"
#include "dsn.h"
#include "lv_test.h"
#include "test_support.h"

static virConnectPtr hv;

/* ---- the fake hypervisor's side -------------------------------------- */

static virDomainPtr
define(const char *name, bool start)
{
	g_autofree char *xml = g_strdup_printf(
		"<domain type='test'><name>%s</name><memory>65536</memory>"
		"<os><type>hvm</type></os></domain>",
		name);
	virDomainPtr dom = virDomainDefineXML(hv, xml);

	g_assert_nonnull(dom);
	if (start)
		g_assert_cmpint(virDomainCreate(dom), ==, 0);
	return dom;
}

static void
snapshot(virDomainPtr dom, const char *name)
{
	g_autofree char *xml =
		g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>", name);
	virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom, xml, 0);

	g_assert_nonnull(snap);
	virDomainSnapshotFree(snap);
}

static void
undefine(virDomainPtr dom)
{
	if (virDomainIsActive(dom) == 1)
		virDomainDestroy(dom);
	virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
	virDomainFree(dom);
}

static int
hv_state(virDomainPtr dom, int *reason)
{
	int state = -1;

	g_assert_cmpint(virDomainGetState(dom, &state, reason, 0), ==, 0);
	return state;
}

/* ---- configuration ---------------------------------------------------- */

static char *
machine(const char *name, const char *label, const char *snapshot_name, const char *extra)
{
	static int ip;

	return g_strdup_printf("{ name = \"%s\"; label = \"%s\"; ip = \"10.0.0.%d\"; "
			       "platform = \"linux\"; %s%s%s %s }",
			       name, label, ++ip % 250 + 1, snapshot_name ? "snapshot = \"" : "",
			       snapshot_name ? snapshot_name : "", snapshot_name ? "\";" : "",
			       extra ? extra : "");
}

static void
load(LvTest *t, const char *dsn, const char *machines)
{
	g_autofree char *conf = g_strdup_printf("dsn = \"%s\";\nreconnect_interval = 1;\n"
						"machines = ( %s );\n",
						dsn, machines);

	lv_test_load(t, conf);
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
}

/* ---- pure pieces ------------------------------------------------------ */

static void
assert_map(int state, int reason, int32_t expect, const char *words)
{
	g_autofree char *description = NULL;

	g_assert_cmpint(lv_domain_state_map(state, reason, &description), ==, expect);
	g_assert_nonnull(description);
	if (strstr(description, words) == NULL)
		g_error("state %d reason %d: \"%s\" lacks \"%s\"", state, reason, description,
			words);
}

static void
test_state_map(void)
{
	assert_map(VIR_DOMAIN_NOSTATE, 0, NBX_MACHINE_ERROR, "no state");
	assert_map(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT, NBX_MACHINE_RUNNING,
		   "running (from snapshot)");
	assert_map(VIR_DOMAIN_BLOCKED, 0, NBX_MACHINE_RUNNING, "blocked");
	assert_map(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_FROM_SNAPSHOT, NBX_MACHINE_PAUSED,
		   "paused (from snapshot)");
	assert_map(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, NBX_MACHINE_PAUSED, "by a user");
	assert_map(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR, NBX_MACHINE_ERROR, "I/O error");
	assert_map(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_CRASHED, NBX_MACHINE_ERROR,
		   "guest crashed");
	assert_map(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED, NBX_MACHINE_ERROR,
		   "post-copy");
	assert_map(VIR_DOMAIN_PAUSED, 99, NBX_MACHINE_PAUSED, "reason 99");
	assert_map(VIR_DOMAIN_SHUTDOWN, 0, NBX_MACHINE_RUNNING, "shutting down");
	assert_map(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED, NBX_MACHINE_POWEROFF,
		   "destroyed");
	assert_map(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED, NBX_MACHINE_POWEROFF,
		   "crashed");
	assert_map(VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, NBX_MACHINE_ERROR,
		   "guest panicked");
	assert_map(VIR_DOMAIN_CRASHED, 7, NBX_MACHINE_ERROR, "reason 7");
	assert_map(VIR_DOMAIN_PMSUSPENDED, 0, NBX_MACHINE_ERROR, "power management");
	assert_map(42, 3, NBX_MACHINE_ERROR, "state 42 (reason 3)");

	g_assert_true(lv_domain_pause_resumable(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_FROM_SNAPSHOT));
	g_assert_true(lv_domain_pause_resumable(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_SNAPSHOT));
	g_assert_true(lv_domain_pause_resumable(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_DUMP));
	for (int reason = 0; reason < 20; reason++) {
		if (reason == VIR_DOMAIN_PAUSED_FROM_SNAPSHOT || reason == VIR_DOMAIN_PAUSED_SNAPSHOT ||
		    reason == VIR_DOMAIN_PAUSED_DUMP)
			continue;
		g_assert_false(lv_domain_pause_resumable(VIR_DOMAIN_PAUSED, reason));
	}
	g_assert_false(lv_domain_pause_resumable(VIR_DOMAIN_RUNNING, VIR_DOMAIN_PAUSED_DUMP));
}

static void
test_dsn_remote(void)
{
	g_assert_false(lv_dsn_is_remote("qemu:///system"));
	g_assert_false(lv_dsn_is_remote("qemu:///embed?root=/tmp/x"));
	g_assert_false(lv_dsn_is_remote("test:///default"));
	g_assert_false(lv_dsn_is_remote("qemu+unix:///system?socket=/run/x/libvirt-sock"));
	g_assert_false(lv_dsn_is_remote("qemu+tcp://localhost/system"));
	g_assert_false(lv_dsn_is_remote("qemu+tcp://127.0.0.1/system"));
	g_assert_false(lv_dsn_is_remote("qemu+ssh://root@[::1]/system"));
	g_assert_true(lv_dsn_is_remote("qemu+ssh://root@kvm1.example.org/system"));
	g_assert_true(lv_dsn_is_remote("xen+tls://10.1.2.3/system"));
	g_assert_true(lv_dsn_is_remote("esx://esx1/?no_verify=1"));
}

/* ---- validation ------------------------------------------------------- */

static void
test_validation(LvTest *t, gconstpointer data)
{
	virDomainPtr with = define("nbx-val", false);
	virDomainPtr without = define("nbx-val-bare", false);
	virDomainPtr ok = define("nbx-val-ok", false);
	g_autofree char *a = machine("a", "nbx-val", "no-such-snapshot", NULL);
	g_autofree char *b = machine("b", "nbx-no-such-domain", NULL, NULL);
	g_autofree char *c = machine("c", "nbx-val-bare", NULL, NULL);
	g_autofree char *d = machine("d", "nbx-val-ok", "s1", NULL);
	g_autofree char *all = g_strjoin(", ", a, b, c, d, NULL);

	snapshot(with, "s1");
	snapshot(ok, "s1");
	load(t, "test:///default", all);
	/* The snapshot that does not exist is an error, never another snapshot. */
	g_test_message("%s", lv_test_diagnostic(t, "machines.a.snapshot", "no-such-snapshot",
						"it has: s1", NULL));
	g_test_message("%s", lv_test_diagnostic(t, "machines.b.label", "nbx-no-such-domain",
						"test:///default", NULL));
	g_test_message("%s", lv_test_diagnostic(t, "machines.c", "nbx-val-bare",
						"no current snapshot", NULL));
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 3);
	lv_test_unload(t);
	undefine(with);
	undefine(without);
	undefine(ok);
}

static void
test_bad_dsn(LvTest *t, gconstpointer data)
{
	g_autofree char *a = machine("a", "test", NULL, "dsn = \"nosuchdriver:///nowhere\";");

	load(t, "test:///default", a);
	g_test_message("%s", lv_test_diagnostic(t, "machines.a.dsn", "nosuchdriver:///nowhere", NULL));
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 1);
}

/* --check's line for each connection: the hypervisor and its version. */
static GPtrArray *log_lines;
static GMutex log_lock;

/* Installed once for the process (GLib allows no more): keeps every message. */
static GLogWriterOutput
capture(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	g_mutex_lock(&log_lock);
	for (gsize i = 0; i < n_fields; i++)
		if (strcmp(fields[i].key, "MESSAGE") == 0)
			g_ptr_array_add(log_lines, g_strdup(fields[i].value));
	g_mutex_unlock(&log_lock);
	return g_log_writer_default(level, fields, n_fields, NULL);
}

static bool
logged(const char *a, const char *b)
{
	bool found = false;

	g_mutex_lock(&log_lock);
	for (guint i = 0; i < log_lines->len && !found; i++) {
		const char *line = g_ptr_array_index(log_lines, i);

		found = strstr(line, a) != NULL && strstr(line, b) != NULL;
	}
	g_mutex_unlock(&log_lock);
	return found;
}

static void
test_two_connections(LvTest *t, gconstpointer data)
{
	virDomainPtr one = define("nbx-one", true);
	virDomainPtr two = define("nbx-two", true);
	g_autofree char *a = machine("a", "nbx-one", "s", NULL);
	/* Another dsn string is another connection, though the same fake hypervisor here. */
	g_autofree char *b = machine("b", "nbx-two", "s", "dsn = \"test:///default?second\";");
	g_autofree char *all = g_strjoin(", ", a, b, NULL);

	snapshot(one, "s");
	snapshot(two, "s");
	load(t, "test:///default", all);
	lv_test_assert_clean(t);
	g_assert_true(logged("connection test:///default:", "hypervisor TEST 0.0.2"));
	g_assert_true(logged("connection test:///default?second:", "hypervisor TEST"));
	g_assert_true(logged("test:///default?second", ", libvirt "));
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	lv_test_op_ok(t, "b", LV_OP_RESTORE, NULL);
	lv_test_op_ok(t, "b", LV_OP_STOP, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpint(lv_test_pool_state(t, "b", NULL), ==, NBX_MACHINE_POWEROFF);
	lv_test_unload(t);
	undefine(one);
	undefine(two);
}

/* ---- ops -------------------------------------------------------------- */

static void
test_restore_stop(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-r", true);
	g_autofree char *a = machine("a", "nbx-r", "live", NULL);
	int reason = 0;

	snapshot(dom, "live");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	/* Validation told the core where the machine stands. */
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	/* Stopping a machine that is off succeeds. */
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);

	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
	/* Restoring a running machine reverts it in place. */
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_poweroff_snapshot(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-cold", false);
	g_autofree char *a = machine("a", "nbx-cold", "cold", NULL);
	int reason = 0;

	snapshot(dom, "cold");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);
	/* Taken powered off: reverted, then started. */
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_BOOTED);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_current_snapshot(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-cur", true);
	g_autofree char *current = machine("current", "nbx-cur", NULL, NULL);
	g_autofree char *named = machine("named", "nbx-cur", "live", NULL);
	int reason = 0;

	/* "live" taken running, then "cold" taken off: "cold" is the current one. */
	snapshot(dom, "live");
	virDomainDestroy(dom);
	snapshot(dom, "cold");
	load(t, "test:///default", current);
	lv_test_assert_clean(t);
	lv_test_op_ok(t, "current", LV_OP_RESTORE, NULL);
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_BOOTED);
	lv_test_unload(t);

	load(t, "test:///default", named);
	lv_test_assert_clean(t);
	lv_test_op_ok(t, "named", LV_OP_RESTORE, NULL);
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
	lv_test_op_ok(t, "named", LV_OP_STOP, NULL);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_snapshot_gone(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-gone", true);
	g_autofree char *a = machine("a", "nbx-gone", "first", NULL);
	virDomainSnapshotPtr first;
	LvOpResult r;

	snapshot(dom, "first");
	snapshot(dom, "second");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	/* Deleted after validation: the restore fails; it does not take "second". */
	first = virDomainSnapshotLookupByName(dom, "first", 0);
	g_assert_cmpint(virDomainSnapshotDelete(first, 0), ==, 0);
	virDomainSnapshotFree(first);
	r = lv_test_op(t, "a", LV_OP_RESTORE, NULL);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, "\"first\""));
	/* Nothing of the failed start is left running. */
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_events(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-ev", true);
	g_autofree char *a = machine("a", "nbx-ev", "live", NULL);
	g_autofree char *reason = NULL;
	LvOpResult r;
	gint64 start;

	snapshot(dom, "live");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);

	/* Paused by someone else: seen, and not resumed by nestbox. */
	g_assert_cmpint(virDomainSuspend(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_PAUSED, 2000));
	r = lv_test_op(t, "a", LV_OP_HANDLE_PAUSED, NULL);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(r.err.message, "by a user"));
	g_assert_cmpint(virDomainResume(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_RUNNING, 2000));

	/* Destroyed from outside: the core knows at once, without asking. */
	start = g_get_monotonic_time();
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_POWEROFF, 2000));
	g_test_message("destroy seen after %.1f ms",
		       (double)(g_get_monotonic_time() - start) / 1000.0);
	lv_test_pool_state(t, "a", &reason);
	g_assert_nonnull(strstr(reason, "destroyed"));

	/* Undefined from outside: state says ERROR, with the reason. */
	virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
	r = lv_test_op(t, "a", LV_OP_STATE, NULL);
	g_assert_true(r.ok);
	g_assert_cmpint(r.state, ==, NBX_MACHINE_ERROR);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, "nbx-ev"));
	lv_test_unload(t);
	virDomainFree(dom);
}

static void
test_paused_snapshot(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-paused", true);
	g_autofree char *a = machine("a", "nbx-paused", "paused", NULL);
	int reason = 0;

	g_assert_cmpint(virDomainSuspend(dom), ==, 0);
	snapshot(dom, "paused");
	g_assert_cmpint(virDomainResume(dom), ==, 0);
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	/* Comes back paused from the snapshot: the core then calls handle_paused. */
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_PAUSED);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_PAUSED_FROM_SNAPSHOT);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_PAUSED);
	lv_test_op_ok(t, "a", LV_OP_HANDLE_PAUSED, NULL);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	/* On a running machine there is nothing to resume, and that is fine. */
	lv_test_op_ok(t, "a", LV_OP_HANDLE_PAUSED, NULL);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	/* Off is not paused. */
	g_assert_cmpint(lv_test_op(t, "a", LV_OP_HANDLE_PAUSED, NULL).err.code, ==,
			NBX_ERROR_INVALID);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_acpi_norestore(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-acpi", false);
	g_autofree char *a = machine("a", "nbx-acpi", "cold", NULL);
	LvOpResult r;

	snapshot(dom, "cold");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	lv_test_op_ok(t, "a", LV_OP_NORESTORE, NULL);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	r = lv_test_op_ok(t, "a", LV_OP_STATE, NULL);
	g_assert_cmpint(r.state, ==, NBX_MACHINE_RUNNING);
	/* Already running: libvirt's refusal comes through, classed. */
	r = lv_test_op(t, "a", LV_OP_NORESTORE, NULL);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	/* The fake hypervisor shuts down at once; the event tells the core. */
	lv_test_op_ok(t, "a", LV_OP_ACPI_STOP, NULL);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_POWEROFF, 2000));
	lv_test_unload(t);
	undefine(dom);
}

static void
test_dump(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-dump", true);
	g_autofree char *a = machine("a", "nbx-dump", "live", NULL);
	/* Another host's daemon, reached by a command that fails at once. */
	g_autofree char *far = machine("far", "nbx-far", "live",
				       "dsn = \"test+ext://elsewhere.example/default?command=/bin/false\";");
	g_autofree char *all = g_strjoin(", ", a, far, NULL);
	g_autofree char *path = g_build_filename(t->dir, "memory.dump", NULL);
	g_autofree char *far_path = g_build_filename(t->dir, "far.dump", NULL);
	LvOpResult r;

	snapshot(dom, "live");
	load(t, "test:///default", all);
	/* The unreachable one is reported at validation, at its own dsn. */
	lv_test_diagnostic(t, "machines.far.dsn", "elsewhere.example", NULL);
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 1);
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	/*
	 * The fake hypervisor has no memory-only dump: the plugin asks for
	 * nothing else, and leaves no file behind. (The real dump, its owner
	 * and mode are tested on QEMU: test_libvirt_qemu.c.)
	 */
	r = lv_test_op(t, "a", LV_OP_DUMP, path);
	g_assert_false(r.ok);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, "memory dump of domain nbx-dump"));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

	r = lv_test_op(t, "far", LV_OP_DUMP, far_path);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_nonnull(strstr(r.err.message, "not supported for remote connections"));
	g_assert_false(g_file_test(far_path, G_FILE_TEST_EXISTS));
	lv_test_unload(t);
	undefine(dom);
}

static void
test_flags(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-flags", true);
	g_autofree char *a = machine("a", "nbx-flags", "live", NULL);
	const struct nbx_machinery_ops *ops;
	struct nbx_call call = { .struct_size = sizeof call, .flags = 1u << 7 };
	struct nbx_error err = { 0 };
	NbxPoolMachine *entry;

	snapshot(dom, "live");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	ops = &t->libvirt->plugin->machinery;
	entry = nbx_machine_pool_lookup(t->setup->pool, "a");
	g_assert_false(ops->restore_start(t->libvirt->instance, &entry->machine, &call, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	lv_test_unload(t);
	undefine(dom);
}

#define ADD(path, fn) g_test_add("/libvirt/logic/" path, LvTest, NULL, set_up, fn, tear_down)

int
main(int argc, char **argv)
{
	int status;

	/* As nestboxd does: a dead ext/ssh transport is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	if (g_getenv("NBX_LIBVIRT_TEST_PLUGIN_DIR") == NULL)
		g_error("NBX_LIBVIRT_TEST_PLUGIN_DIR is not set: run this test through meson");
	log_lines = g_ptr_array_new_with_free_func(g_free);
	g_log_set_writer_func(capture, NULL, NULL);
	hv = virConnectOpen("test:///default");
	g_assert_nonnull(hv);
	g_test_add_func("/libvirt/logic/state-map", test_state_map);
	g_test_add_func("/libvirt/logic/dsn-remote", test_dsn_remote);
	ADD("validation", test_validation);
	ADD("bad-dsn", test_bad_dsn);
	ADD("two-connections", test_two_connections);
	ADD("restore-stop", test_restore_stop);
	ADD("poweroff-snapshot", test_poweroff_snapshot);
	ADD("current-snapshot", test_current_snapshot);
	ADD("snapshot-gone", test_snapshot_gone);
	ADD("events", test_events);
	ADD("paused-snapshot", test_paused_snapshot);
	ADD("acpi-norestore", test_acpi_norestore);
	ADD("dump", test_dump);
	ADD("flags", test_flags);
	status = g_test_run();
	virConnectClose(hv);
	g_ptr_array_unref(log_lines);
	return status;
}
