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
#include "generation.h"
#include "lv_test.h"
#include "vnc_console.h"
#include "test_support.h"
#include "plugin_ops.h"

static virConnectPtr hv;

/* ---- the fake hypervisor's side -------------------------------------- */

static virDomainPtr
define_with(const char *name, bool start, const char *devices)
{
	g_autofree char *xml = g_strdup_printf(
		"<domain type='test'><name>%s</name><memory>65536</memory>"
		"<os><type>hvm</type></os><devices>%s</devices></domain>",
		name, devices);
	virDomainPtr dom = virDomainDefineXML(hv, xml);

	g_assert_nonnull(dom);
	if (start)
		g_assert_cmpint(virDomainCreate(dom), ==, 0);
	return dom;
}

static virDomainPtr
define(const char *name, bool start)
{
	return define_with(name, start, "");
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

/* lv_dsn_remote_host's answer, kept until the next call. */
static const char *
remote_host_of(const char *dsn)
{
	static char *last;

	g_free(last);
	last = lv_dsn_remote_host(dsn);
	return last;
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

	/* Where a remote domain's console is, when it listens on every address. */
	g_assert_null(lv_dsn_remote_host("qemu:///system"));
	g_assert_null(lv_dsn_remote_host("qemu+ssh://root@[::1]/system"));
	g_assert_cmpstr(remote_host_of("qemu+ssh://root@kvm1.example.org/system"), ==,
			"kvm1.example.org");
	g_assert_cmpstr(remote_host_of("qemu+tls://[fd00::1]:16514/system"), ==, "fd00::1");
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
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_PAUSED));
	r = lv_test_op(t, "a", LV_OP_HANDLE_PAUSED, NULL);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(r.err.message, "by a user"));
	g_assert_cmpint(virDomainResume(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_RUNNING));

	/* Destroyed from outside: the core knows at once, without asking. */
	start = g_get_monotonic_time();
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_POWEROFF));
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
	g_assert_true(lv_test_wait_state(t, "a", NBX_MACHINE_POWEROFF));
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
	NbxMachine *entry;

	snapshot(dom, "live");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	ops = nbx_plugin_machinery_ops(t->libvirt->plugin);
	entry = nbx_machine_pool_lookup(t->setup->pool, "a");
	g_assert_false(ops->restore_start(t->libvirt->instance, &entry->machine, &call, &err));
	g_assert_cmpint(err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	lv_test_unload(t);
	undefine(dom);
}

/* ---- snapshot generations --------------------------------------------- */

static void
test_generation_file(void)
{
	g_autofree char *dir = g_dir_make_tmp("nbx-lv-gen-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, LV_GENERATION_FILE, NULL);
	g_autofree char *name = lv_generation_snapshot_name("win10");
	LvGeneration in = { .dsn = "qemu+ssh://root@kvm1/system", .domain = "win\"10",
			    .snapshot = name, .memory = true };
	LvGeneration out = { 0 };
	g_autoptr(GError) error = NULL;
	struct stat st;

	g_assert_true(g_str_has_prefix(name, LV_GENERATION_PREFIX "win10-"));
	/* None yet: told apart from a bad one. */
	g_assert_false(lv_generation_read(dir, &out, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_clear_error(&error);

	g_assert_true(lv_generation_write(dir, &in, &error));
	g_assert_no_error(error);
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0640);
	g_assert_true(lv_generation_read(dir, &out, &error));
	g_assert_cmpstr(out.dsn, ==, in.dsn);
	g_assert_cmpstr(out.domain, ==, in.domain);
	g_assert_cmpstr(out.snapshot, ==, name);
	g_assert_true(out.memory);
	lv_generation_clear(&out);

	test_write(dir, LV_GENERATION_FILE, "{ \"dsn\": \"test:///default\", \"domain\": \"d\", "
					    "\"snapshot\": \"\", \"memory\": true }");
	g_assert_false(lv_generation_read(dir, &out, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
	g_assert_nonnull(strstr(error->message, "\"snapshot\""));
	g_clear_error(&error);
	test_write(dir, LV_GENERATION_FILE, "{ \"dsn\": \"test:///default\", \"domain\": \"d\", "
					    "\"snapshot\": \"s\", \"memory\": 1 }");
	g_assert_false(lv_generation_read(dir, &out, &error));
	g_assert_nonnull(strstr(error->message, "\"memory\""));
	g_clear_error(&error);
	test_write(dir, LV_GENERATION_FILE, "[ 1, 2");
	g_assert_false(lv_generation_read(dir, &out, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_null(out.snapshot);
	test_dir_remove(dir);
}

static char *
console_of(const char *xml, const char *remote_host)
{
	LvVnc vnc;
	char *console;

	g_assert_true(lv_vnc_parse(xml, &vnc, NULL));
	console = lv_vnc_console(&vnc, remote_host);
	lv_vnc_clear(&vnc);
	return console != NULL ? console : g_strdup("");
}

static void
assert_console(const char *devices, const char *remote_host, const char *expect)
{
	g_autofree char *xml = g_strdup_printf("<domain type='kvm'><name>d</name><devices>%s"
					       "</devices></domain>",
					       devices);
	g_autofree char *console = console_of(xml, remote_host);

	if (g_strcmp0(console, expect) != 0)
		g_error("%s (remote %s): console \"%s\", expected \"%s\"", devices,
			remote_host ? remote_host : "none", console, expect);
}

static void
test_vnc_console(void)
{
	LvVnc vnc;

	assert_console("<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"
		       "<listen type='address' address='127.0.0.1'/></graphics>",
		       NULL, "vnc://127.0.0.1:5901");
	/* The listen element alone, as newer domains have it. */
	assert_console("<graphics type='vnc' port='5902'><listen type='address' address='10.1.2.3'/>"
		       "</graphics>",
		       NULL, "vnc://10.1.2.3:5902");
	/* A wildcard is reached at the hypervisor's host: this one, or the remote dsn's. */
	assert_console("<graphics type='vnc' port='5903' listen='0.0.0.0'/>", NULL,
		       "vnc://127.0.0.1:5903");
	assert_console("<graphics type='vnc' port='5903' listen='0.0.0.0'/>", "kvm1.example.org",
		       "vnc://kvm1.example.org:5903");
	assert_console("<graphics type='vnc' port='5904'/>", "::1", "vnc://[::1]:5904");
	assert_console("<graphics type='vnc' port='5905' listen='fd00::5'/>", NULL,
		       "vnc://[fd00::5]:5905");
	/* Not running (-1), on a socket, or no VNC at all: no console. */
	assert_console("<graphics type='vnc' port='-1' autoport='yes'/>", NULL, "");
	assert_console("<graphics type='vnc' socket='/run/vnc.sock'><listen type='socket' "
		       "socket='/run/vnc.sock'/></graphics>",
		       NULL, "");
	assert_console("<graphics type='spice' port='5906'/>", NULL, "");
	assert_console("", NULL, "");
	/* The first VNC counts; SPICE before it is only noted. */
	assert_console("<graphics type='spice' port='5906'/><graphics type='vnc' port='5907'/>"
		       "<graphics type='vnc' port='5908'/>",
		       NULL, "vnc://127.0.0.1:5907");

	g_assert_true(lv_vnc_parse("<domain><devices><graphics type='rdp' port='3389'/>"
				   "</devices></domain>",
				   &vnc, NULL));
	g_assert_false(vnc.found);
	g_assert_cmpstr(vnc.other, ==, "rdp");
	lv_vnc_clear(&vnc);
	g_assert_false(lv_vnc_parse("<domain><devices>", &vnc, NULL));
}

static LvOpResult
session_op(LvTest *t, const char *name, LvOp op, uint32_t flags, LvSession *s)
{
	LvCall call = { .op = op, .flags = flags, .session = &s->args };

	return lv_test_call(t, name, &call);
}

static LvOpResult
restore_from(LvTest *t, const char *name, const char *generation_dir)
{
	LvCall call = { .op = LV_OP_RESTORE, .generation_dir = generation_dir };

	return lv_test_call(t, name, &call);
}

static LvOpResult
remove_generation(LvTest *t, const char *name, const char *generation_dir)
{
	LvCall call = { .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = generation_dir };

	return lv_test_call(t, name, &call);
}

static char *
current_snapshot(virDomainPtr dom)
{
	virDomainSnapshotPtr snap = virDomainSnapshotCurrent(dom, 0);
	char *name;

	g_assert_nonnull(snap);
	name = g_strdup(virDomainSnapshotGetName(snap));
	virDomainSnapshotFree(snap);
	return name;
}

static bool
has_snapshot(virDomainPtr dom, const char *name)
{
	virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);

	virResetLastError();
	if (snap != NULL)
		virDomainSnapshotFree(snap);
	return snap != NULL;
}

static char *
parent_of(virDomainPtr dom, const char *name)
{
	virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
	virDomainSnapshotPtr parent;
	char *parent_name = NULL;

	g_assert_nonnull(snap);
	parent = virDomainSnapshotGetParent(snap, 0);
	virResetLastError();
	if (parent != NULL) {
		parent_name = g_strdup(virDomainSnapshotGetName(parent));
		virDomainSnapshotFree(parent);
	}
	virDomainSnapshotFree(snap);
	return parent_name;
}

/* The memory the fake guest has now: what the tests change in a session to tell states apart. */
static unsigned long
memory_kib(virDomainPtr dom)
{
	virDomainInfo info;

	g_assert_cmpint(virDomainGetInfo(dom, &info), ==, 0);
	return info.memory;
}

static char *
snapshot_named_by(const char *generation_dir)
{
	LvGeneration gen;
	g_autoptr(GError) error = NULL;
	char *name;

	if (!lv_generation_read(generation_dir, &gen, &error))
		g_error("%s", error->message);
	name = g_strdup(gen.snapshot);
	lv_generation_clear(&gen);
	return name;
}

/*
 * A session from @from_dir in which the guest's memory is set to
 * @memory, committed as @new_name under the test's dir: that generation's
 * directory. The domain ends off.
 */
static char *
commit_generation(LvTest *t, virDomainPtr dom, const char *from_dir, const char *new_name,
		  unsigned long memory)
{
	LvSession s;
	char *dir;

	lv_session_init(&s, t, from_dir, new_name);
	session_op(t, "a", LV_OP_SNAPSHOT_BEGIN, 0, &s);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(virDomainSetMemory(dom, memory), ==, 0);
	if (!session_op(t, "a", LV_OP_SNAPSHOT_COMMIT, 0, &s).ok)
		g_error("commit of %s failed", new_name);
	dir = g_strdup(s.new_dir);
	lv_session_clear(&s);
	return dir;
}

static void
test_commit_restore(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-gen", true);
	/* No snapshot key: generation 0 is the domain's current snapshot. */
	g_autofree char *a = machine("a", "nbx-gen", NULL, NULL);
	g_autofree char *gen1_name = NULL;
	g_autofree char *parent = NULL;
	g_autofree char *current = NULL;
	g_autofree char *xml = NULL;
	virDomainSnapshotPtr snap;
	LvGeneration gen;
	LvSession s;
	int reason = 0;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);

	/* A session from generation 0: reverted and running, no console on this domain. */
	lv_session_init(&s, t, NULL, "gen-1");
	g_strlcpy(s.args.console, "stale", sizeof s.args.console);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpstr(s.args.console, ==, "");
	g_assert_true(logged("nbx-gen", "no VNC graphics"));
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpuint(memory_kib(dom), ==, 65536);
	/* The operator's change. */
	g_assert_cmpint(virDomainSetMemory(dom, 32768), ==, 0);

	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_COMMIT, .session = &s.args });
	/* Off, and the core was told. */
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);
	g_assert_true(lv_generation_read(s.new_dir, &gen, NULL));
	g_assert_cmpstr(gen.dsn, ==, "test:///default");
	g_assert_cmpstr(gen.domain, ==, "nbx-gen");
	g_assert_true(g_str_has_prefix(gen.snapshot, LV_GENERATION_PREFIX "a-"));
	g_assert_true(gen.memory);
	gen1_name = g_strdup(gen.snapshot);
	lv_generation_clear(&gen);
	/* A snapshot of the running domain, with its memory, made on top of generation 0. */
	snap = virDomainSnapshotLookupByName(dom, gen1_name, 0);
	g_assert_nonnull(snap);
	xml = virDomainSnapshotGetXMLDesc(snap, 0);
	virDomainSnapshotFree(snap);
	g_assert_nonnull(strstr(xml, "<state>running</state>"));
	g_assert_nonnull(strstr(xml, "<memory snapshot='internal'/>"));
	parent = parent_of(dom, gen1_name);
	g_assert_cmpstr(parent, ==, "base");
	g_assert_cmpint(virDomainSnapshotNum(dom, 0), ==, 2);

	/* Restored from generation 1: the session's change is there. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = s.new_dir });
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpuint(memory_kib(dom), ==, 32768);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, gen1_name);

	/*
	 * Generation 0 is still "base", though the commit and the restore made
	 * generation 1 libvirt's current snapshot.
	 */
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpuint(memory_kib(dom), ==, 65536);
	g_free(current);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, "base");
	/* And validation, which asks the same, finds it too. */
	lv_test_unload(t);
	load(t, "test:///default", a);
	lv_test_assert_clean(t);

	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	lv_session_clear(&s);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_rollback(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-rb", true);
	g_autofree char *a = machine("a", "nbx-rb", "base", NULL);
	g_autofree char *gen1 = NULL;
	g_autofree char *gen1_name = NULL;
	g_autofree char *current = NULL;
	LvSession s;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	gen1 = commit_generation(t, dom, NULL, "gen-1", 32768);
	gen1_name = snapshot_named_by(gen1);

	/* A session from generation 1 whose change is thrown away. */
	lv_session_init(&s, t, gen1, NULL);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpuint(memory_kib(dom), ==, 32768);
	g_assert_cmpint(virDomainSetMemory(dom, 16384), ==, 0);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);
	/* No snapshot made, none lost, generation 1's is still where the next restore goes. */
	g_assert_cmpint(virDomainSnapshotNum(dom, 0), ==, 2);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, gen1_name);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = gen1 });
	g_assert_cmpuint(memory_kib(dom), ==, 32768);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);

	/* A session whose machine died already, or whose daemon restarted: nothing to stop. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	lv_test_unload(t);
	load(t, "test:///default", a);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	lv_test_unload(t);
	load(t, "test:///default", a);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	lv_test_unload(t);
	lv_session_clear(&s);
	undefine(dom);

	/* Even its domain gone: nothing of the session can run. */
	load(t, "test:///default", a);
	lv_session_init(&s, t, gen1, NULL);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	g_assert_true(logged("rollback", "nbx-rb"));
	lv_session_clear(&s);
	lv_test_unload(t);
}

static void
test_remove(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-rm", true);
	g_autofree char *a = machine("a", "nbx-rm", NULL, NULL);
	g_autofree char *gen1 = NULL, *gen2 = NULL, *empty = NULL, *bad = NULL;
	g_autofree char *gen1_name = NULL, *gen2_name = NULL;
	g_autofree char *parent = NULL;
	GLogLevelFlags old_fatal;
	LvOpResult r;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	gen1 = commit_generation(t, dom, NULL, "gen-1", 32768);
	gen2 = commit_generation(t, dom, gen1, "gen-2", 24576);
	gen1_name = snapshot_named_by(gen1);
	gen2_name = snapshot_named_by(gen2);
	parent = parent_of(dom, gen2_name);
	g_assert_cmpstr(parent, ==, gen1_name);

	/* Not while generation 2 runs (an analysis): kept for later, and said so. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = gen2 });
	r = remove_generation(t, "a", gen1);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_BUSY);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, gen1_name));
	g_assert_nonnull(strstr(r.err.message, "is running"));
	g_assert_true(has_snapshot(dom, gen1_name));
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpuint(memory_kib(dom), ==, 24576);

	/* Off: its own snapshot goes, nothing else. */
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = gen1 });
	g_assert_false(has_snapshot(dom, gen1_name));
	g_assert_true(has_snapshot(dom, gen2_name));
	g_assert_true(has_snapshot(dom, "base"));
	g_free(parent);
	parent = parent_of(dom, gen2_name);
	g_assert_cmpstr(parent, ==, "base");
	/* Gone already: fine. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = gen1 });
	g_assert_true(logged(gen1_name, "gone already"));

	/* The rest restore as before; generation 0 through a parent that is a commit's. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = gen2 });
	g_assert_cmpuint(memory_kib(dom), ==, 24576);
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	g_assert_cmpuint(memory_kib(dom), ==, 65536);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);

	/* A directory that names nothing has nothing in libvirt; one that cannot be read is kept. */
	empty = g_build_filename(t->dir, "gen-empty", NULL);
	g_assert_cmpint(g_mkdir_with_parents(empty, 0700), ==, 0);
	/* Warned about, not fatal. */
	old_fatal = g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = empty });
	g_log_set_always_fatal(old_fatal);
	g_assert_true(logged(empty, "nothing to delete in libvirt"));
	bad = g_build_filename(t->dir, "gen-bad", NULL);
	test_write(t->dir, "gen-bad/" LV_GENERATION_FILE, "{ \"dsn\": 1 }");
	r = remove_generation(t, "a", bad);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(r.err.message, bad));
	r = lv_test_call(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .flags = 1u << 9,
					    .generation_dir = gen2 });
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_true(has_snapshot(dom, gen2_name));

	/* Its domain gone with its snapshots: nothing left to remove. */
	lv_test_unload(t);
	undefine(dom);
	load(t, "test:///default", a);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_REMOVE, .generation_dir = gen2 });
	lv_test_unload(t);
}

static void
test_generation_lost(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-lost", true);
	g_autofree char *a = machine("a", "nbx-lost", "base", NULL);
	g_autofree char *gen1 = NULL, *gen1_name = NULL, *other = NULL;
	virDomainSnapshotPtr snap;
	LvOpResult r;
	LvSession s;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	gen1 = commit_generation(t, dom, NULL, "gen-1", 32768);
	gen1_name = snapshot_named_by(gen1);
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);

	/* Deleted behind nestbox's back: a clear NOT_FOUND, and nothing runs. */
	snap = virDomainSnapshotLookupByName(dom, gen1_name, 0);
	g_assert_nonnull(snap);
	g_assert_cmpint(virDomainSnapshotDelete(snap, 0), ==, 0);
	virDomainSnapshotFree(snap);
	r = restore_from(t, "a", gen1);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, gen1_name));
	g_assert_nonnull(strstr(r.err.message, "domain nbx-lost"));
	g_assert_nonnull(strstr(r.err.message, "test:///default"));
	g_assert_nonnull(strstr(r.err.message, "is gone"));
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_POWEROFF);

	/* A session cannot start from it either. */
	lv_session_init(&s, t, gen1, NULL);
	r = session_op(t, "a", LV_OP_SNAPSHOT_BEGIN, 0, &s);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	lv_session_clear(&s);

	/* A generation of another domain is refused, not looked for here. */
	other = g_build_filename(t->dir, "gen-other", NULL);
	test_write(t->dir, "gen-other/" LV_GENERATION_FILE,
		   "{ \"dsn\": \"test:///default\", \"domain\": \"nbx-elsewhere\", "
		   "\"snapshot\": \"base\", \"memory\": true }");
	r = restore_from(t, "a", other);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	g_assert_nonnull(strstr(r.err.message, "nbx-elsewhere"));
	/* A directory with no generation file in it. */
	r = restore_from(t, "a", t->dir);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(r.err.message, LV_GENERATION_FILE));
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_commit_fails(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-cf", true);
	g_autofree char *a = machine("a", "nbx-cf", "base", NULL);
	g_autofree char *gen1 = NULL, *gen1_name = NULL, *current = NULL, *missing = NULL;
	g_autofree char *file = NULL;
	LvOpResult r;
	LvSession s;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	gen1 = commit_generation(t, dom, NULL, "gen-1", 32768);
	gen1_name = snapshot_named_by(gen1);

	/* No session runs: nothing to commit, nothing written, generation 1 as it was. */
	lv_session_init(&s, t, gen1, "gen-2");
	r = session_op(t, "a", LV_OP_SNAPSHOT_COMMIT, 0, &s);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_INVALID);
	g_test_message("%s", r.err.message);
	g_assert_nonnull(strstr(r.err.message, "nbx-cf"));
	file = g_build_filename(s.new_dir, LV_GENERATION_FILE, NULL);
	g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
	g_assert_cmpint(virDomainSnapshotNum(dom, 0), ==, 2);

	/* The generation file cannot be written: the session runs on, no snapshot is left. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpint(virDomainSetMemory(dom, 16384), ==, 0);
	missing = g_build_filename(t->dir, "no-such-dir", "gen-2", NULL);
	s.args.new_dir = missing;
	r = session_op(t, "a", LV_OP_SNAPSHOT_COMMIT, 0, &s);
	g_assert_false(r.ok);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_IO);
	g_test_message("%s", r.err.message);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpuint(memory_kib(dom), ==, 16384);
	g_assert_cmpint(virDomainSnapshotNum(dom, 0), ==, 2);

	/* Flags it does not know, on a running session: refused, and the session untouched. */
	s.args.new_dir = s.new_dir;
	r = session_op(t, "a", LV_OP_SNAPSHOT_COMMIT, NBX_SNAPSHOT_COLD_BOOT, &s);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_RUNNING);
	/* The retry works. */
	r = session_op(t, "a", LV_OP_SNAPSHOT_COMMIT, 0, &s);
	g_assert_true(r.ok);
	g_assert_true(g_file_test(file, G_FILE_TEST_EXISTS));
	g_assert_cmpint(virDomainSnapshotNum(dom, 0), ==, 3);

	/* Generation 1 restores as it did before all that. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = gen1 });
	g_assert_cmpuint(memory_kib(dom), ==, 32768);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, gen1_name);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);

	/* A begin with a flag it does not know starts nothing. */
	r = session_op(t, "a", LV_OP_SNAPSHOT_BEGIN, 1u << 7, &s);
	g_assert_cmpint(r.err.code, ==, NBX_ERROR_NOT_SUPPORTED);
	g_assert_cmpint(hv_state(dom, NULL), ==, VIR_DOMAIN_SHUTOFF);
	lv_session_clear(&s);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_cold_boot(LvTest *t, gconstpointer data)
{
	virDomainPtr dom = define("nbx-cold-boot", true);
	g_autofree char *a = machine("a", "nbx-cold-boot", "base", NULL);
	g_autofree char *gen1 = NULL, *gen1_name = NULL, *current = NULL;
	int reason = 0;
	LvSession s;

	snapshot(dom, "base");
	load(t, "test:///default", a);
	lv_test_assert_clean(t);
	gen1 = commit_generation(t, dom, NULL, "gen-1", 32768);
	gen1_name = snapshot_named_by(gen1);
	/* Left running from another generation, as an analysis leaves it. */
	lv_test_op_ok(t, "a", LV_OP_RESTORE, NULL);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, "base");

	/* Booted, not restored: yet from generation 1's disk, which a revert reached. */
	lv_session_init(&s, t, gen1, "gen-2");
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .flags = NBX_SNAPSHOT_COLD_BOOT,
					   .session = &s.args });
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_BOOTED);
	g_assert_cmpint(lv_test_pool_state(t, "a", NULL), ==, NBX_MACHINE_RUNNING);
	g_free(current);
	current = current_snapshot(dom);
	g_assert_cmpstr(current, ==, gen1_name);
	/* What follows makes a full generation again. */
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_COMMIT, .session = &s.args });
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_RESTORE, .generation_dir = s.new_dir });
	g_assert_cmpint(hv_state(dom, &reason), ==, VIR_DOMAIN_RUNNING);
	g_assert_cmpint(reason, ==, VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
	lv_test_op_ok(t, "a", LV_OP_STOP, NULL);
	lv_session_clear(&s);
	lv_test_unload(t);
	undefine(dom);
}

static void
test_session_console(LvTest *t, gconstpointer data)
{
	virDomainPtr vnc = define_with("nbx-vnc", true,
				       "<graphics type='vnc' port='5907' autoport='no' "
				       "listen='127.0.0.1'/>");
	virDomainPtr spice = define_with("nbx-spice", true,
					 "<graphics type='spice' port='5908' autoport='no'/>");
	g_autofree char *a = machine("a", "nbx-vnc", "base", NULL);
	g_autofree char *b = machine("b", "nbx-spice", "base", NULL);
	g_autofree char *all = g_strjoin(", ", a, b, NULL);
	LvSession s;

	snapshot(vnc, "base");
	snapshot(spice, "base");
	load(t, "test:///default", all);
	lv_test_assert_clean(t);
	lv_session_init(&s, t, NULL, NULL);
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpstr(s.args.console, ==, "vnc://127.0.0.1:5907");
	g_assert_true(logged("machine a: session runs on domain nbx-vnc", "vnc://127.0.0.1:5907"));
	lv_test_call_ok(t, "a", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });

	lv_test_call_ok(t, "b", &(LvCall){ .op = LV_OP_SNAPSHOT_BEGIN, .session = &s.args });
	g_assert_cmpstr(s.args.console, ==, "");
	g_assert_true(logged("nbx-spice", "spice graphics and no VNC"));
	lv_test_call_ok(t, "b", &(LvCall){ .op = LV_OP_SNAPSHOT_ROLLBACK, .session = &s.args });
	lv_session_clear(&s);
	lv_test_unload(t);
	undefine(vnc);
	undefine(spice);
}

static void
test_snapshot_validation(LvTest *t, gconstpointer data)
{
	virDomainPtr one = define("nbx-base-1", false);
	virDomainPtr two = define("nbx-base-2", false);
	virDomainPtr only = define("nbx-only-gens", true);
	g_autofree char *a = machine("a", "nbx-base-1", "s", NULL);
	g_autofree char *b = machine("b", "nbx-base-2", "s", "base_machine = \"a\";");
	g_autofree char *c = machine("c", "nbx-only-gens", NULL, NULL);
	g_autofree char *all = g_strjoin(", ", a, b, c, NULL);

	snapshot(one, "s");
	snapshot(two, "s");
	/* The current snapshot is a commit's, with nothing before it. */
	snapshot(only, LV_GENERATION_PREFIX "c-20250101T000000Z-00000000");
	load(t, "test:///default", all);
	g_test_message("%s", lv_test_diagnostic(t, "machines.b.base_machine", "nbx-base-2",
						"nbx-base-1", "cannot share a base", NULL));
	g_test_message("%s", lv_test_diagnostic(t, "machines.c.snapshot", "nbx-only-gens",
						"generation 0", NULL));
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 2);
	lv_test_unload(t);
	undefine(one);
	undefine(two);
	undefine(only);
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
	g_test_add_func("/libvirt/logic/generation-file", test_generation_file);
	g_test_add_func("/libvirt/logic/vnc-console", test_vnc_console);
	ADD("snapshot-commit-restore", test_commit_restore);
	ADD("snapshot-rollback", test_rollback);
	ADD("snapshot-remove", test_remove);
	ADD("snapshot-generation-lost", test_generation_lost);
	ADD("snapshot-commit-fails", test_commit_fails);
	ADD("snapshot-cold-boot", test_cold_boot);
	ADD("snapshot-console", test_session_console);
	ADD("snapshot-validation", test_snapshot_validation);
	status = g_test_run();
	virConnectClose(hv);
	g_ptr_array_unref(log_lines);
	return status;
}
