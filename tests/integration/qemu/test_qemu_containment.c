/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The qemu machinery's containment (issue 18) on the real demo guest under
 * TCG: two machines restored at once, each QEMU under a uid of its own (not
 * root), in seccomp filter mode (`Seccomp: 2`), with no descriptor of the
 * daemon's but those it was handed; a helper under one QEMU's uid can
 * neither open the other's overlay or /proc/PID/mem nor ptrace it. And a
 * machine on a network segment: its QEMU in the segment's namespace, on a
 * tap made there, its agent reached from there.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "machine_segments.h"
#include "netns.h"
#include "plugin_ops.h"
#include "qemu_test_fixture.h"

typedef enum { OP_RESTORE, OP_STOP } Op;

typedef struct {
	Fixture *f;
	const char *machine;
	Op op;
	gboolean ok;
	struct nbx_error err;
} OpRun;

static void
run_op(gpointer data)
{
	OpRun *run = data;
	NbxMachine *m = nbx_machine_pool_lookup(run->f->setup->pool, run->machine);
	NbxPluginInstance *q = run->f->qemu;
	struct nbx_call call = { .struct_size = sizeof call,
				 .deadline_us = g_get_monotonic_time() + 300 * G_USEC_PER_SEC };

	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(q->plugin);

	run->ok = (run->op == OP_RESTORE ? ops->restore_start : ops->stop)(q->instance, &m->machine,
									  &call, &run->err);
}

static void
op_ok(Fixture *f, const char *machine, Op op)
{
	OpRun run = { .f = f, .machine = machine, .op = op };

	run_on_worker(run_op, &run);
	if (!run.ok)
		g_printerr("op %d on %s failed: %s\n", op, machine, run.err.message);
	g_assert_true(run.ok);
}

/* The overlay QEMU @pid has open (a regular file under @overlays), or NULL. */
static char *
open_overlay(pid_t pid, const char *overlays)
{
	g_autofree char *dir_path = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	const char *name;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *link = g_build_filename(dir_path, name, NULL);
		g_autofree char *target = g_file_read_link(link, NULL);

		if (target != NULL && g_str_has_prefix(target, overlays))
			return g_steal_pointer(&target);
	}
	return NULL;
}

/*
 * Every descriptor of QEMU @pid is one it was handed or made itself: none
 * is a file of the test's (the daemon's) that was merely inherited.
 */
static void
assert_no_inherited(pid_t pid, const char *canary)
{
	g_autofree char *dir_path = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	const char *name;
	guint n = 0;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *link = g_build_filename(dir_path, name, NULL);
		g_autofree char *target = g_file_read_link(link, NULL);

		g_assert_nonnull(target);
		g_assert_cmpstr(target, !=, canary);
		g_assert_false(g_str_has_suffix(target, "/nestbox.conf"));
		n++;
	}
	g_assert_cmpuint(n, >, 3);
}

/* In a child under uid/gid @id: what it may do to the other QEMU @victim and its @overlay. */
static int
probe_as(guint id, pid_t victim, const char *overlay)
{
	g_autofree char *mem = g_strdup_printf("/proc/%d/mem", (int)victim);
	pid_t child = fork();
	int status = 0;

	g_assert_cmpint(child, >=, 0);
	if (child == 0) {
		int failures = 0;

		if (setgroups(0, NULL) != 0 || setgid(id) != 0 || setuid(id) != 0)
			_exit(100);
		failures += open(overlay, O_RDONLY) < 0 && errno == EACCES;
		failures += open(mem, O_RDONLY) < 0 && (errno == EACCES || errno == EPERM);
		failures += ptrace(PTRACE_ATTACH, victim, NULL, NULL) != 0 && errno == EPERM;
		_exit(failures);
	}
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	g_assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static gboolean
can_open_as(guint id, const char *path)
{
	pid_t child = fork();
	int status = 0;

	g_assert_cmpint(child, >=, 0);
	if (child == 0) {
		if (setgroups(0, NULL) != 0 || setgid(id) != 0 || setuid(id) != 0)
			_exit(100);
		_exit(open(path, O_RDONLY) >= 0 ? 0 : 1);
	}
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* @dir and its parents up to the test's own temporary directory: 0711. */
static void
pass_through(const char *dir)
{
	g_autofree char *at = g_strdup(dir);

	for (;;) {
		g_autofree char *name = g_path_get_basename(at);
		char *parent;

		g_assert_cmpint(chmod(at, 0711), ==, 0);
		if (g_str_has_prefix(name, "nestbox-test-"))
			return;
		parent = g_path_get_dirname(at);
		g_assert_cmpstr(parent, !=, at);
		g_free(at);
		at = parent;
	}
}

/* The RAM file of base @base's memory template (the only one it has), or NULL. */
static char *
template_ram(Fixture *f, const char *base)
{
	g_autofree char *root = g_build_filename(f->qemu->state_dir, "templates", NULL);
	g_autofree char *base_dir = g_build_filename(root, base, NULL);
	g_autoptr(GDir) handle = g_dir_open(base_dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *dir = g_build_filename(base_dir, name, NULL);
		char *ram = g_build_filename(dir, "template.ram", NULL);

		if (g_file_test(ram, G_FILE_TEST_IS_REGULAR)) {
			/* Directories anyone may pass: what is tested is the file's own ACL. */
			pass_through(f->qemu->state_dir);
			g_assert_cmpint(chmod(root, 0711), ==, 0);
			g_assert_cmpint(chmod(base_dir, 0711), ==, 0);
			g_assert_cmpint(chmod(dir, 0711), ==, 0);
			return ram;
		}
		g_free(ram);
	}
	return NULL;
}

static void
test_two_contained(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *a = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *b = machine_conf("b", "10.213.0.11", env("NBX_QEMU_TEST_TAP1"), info);
	g_autofree char *machines = g_strdup_printf("%s, %s", a, b);
	g_autofree char *canary = g_build_filename(f->dir, "canary", NULL);
	g_autofree char *overlay_a = NULL;
	g_autofree char *overlay_b = NULL;
	struct stat st;
	pid_t pid_a, pid_b;
	/* Not close-on-exec: a spawn that leaked descriptors would hand it on. */
	int canary_fd;

	g_assert_true(g_file_set_contents(canary, "daemon's", -1, NULL));
	canary_fd = open(canary, O_RDONLY);
	g_assert_cmpint(canary_fd, >=, 0);
	load(f, machines);
	assert_clean_load(f);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
	op_ok(f, "a", OP_RESTORE);
	op_ok(f, "b", OP_RESTORE);
	assert_agent_answers(f);
	pid_a = find_qemu(f, "a");
	pid_b = find_qemu(f, "b");
	g_assert_cmpint(pid_a, >, 0);
	g_assert_cmpint(pid_b, >, 0);

	assert_qemu_identity(pid_a, NBX_QEMU_TEST_UID_BASE);
	assert_qemu_identity(pid_b, NBX_QEMU_TEST_UID_BASE + 1);
	assert_no_inherited(pid_a, canary);
	assert_no_inherited(pid_b, canary);
	overlay_a = open_overlay(pid_a, f->overlays);
	overlay_b = open_overlay(pid_b, f->overlays);
	g_assert_nonnull(overlay_a);
	g_assert_nonnull(overlay_b);
	g_assert_cmpint(stat(overlay_b, &st), ==, 0);
	g_assert_cmpuint(st.st_uid, ==, NBX_QEMU_TEST_UID_BASE + 1);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0600);

	/*
	 * The directories on the way let anyone through, so that what is
	 * tested is the overlay's own owner and mode.
	 */
	g_assert_cmpint(chmod(f->dir, 0711), ==, 0);
	g_assert_cmpint(chmod(f->overlays, 0711), ==, 0);
	/* a's uid against b: overlay, /proc/PID/mem and ptrace all refused. */
	g_assert_cmpint(probe_as(NBX_QEMU_TEST_UID_BASE, pid_b, overlay_b), ==, 3);
	/* The control: b's own uid opens b's overlay (no ptrace: it would stop b). */
	g_assert_true(can_open_as(NBX_QEMU_TEST_UID_BASE + 1, overlay_b));

	/*
	 * b's memory template: its RAM went to QEMU as a descriptor, and its
	 * ACL lets b's uid reopen it, not a's (a machine of another base).
	 */
	{
		g_autofree char *ram_b = template_ram(f, "b");
		g_autofree char *cmdline = cmdline_of(pid_b);
		struct stat ram_st;

		g_assert_nonnull(ram_b);
		g_assert_nonnull(strstr(cmdline, "mem-path=/proc/self/fd/"));
		g_assert_cmpint(stat(ram_b, &ram_st), ==, 0);
		g_assert_cmpint(ram_st.st_mode & 0007, ==, 0);
		g_assert_true(can_open_as(NBX_QEMU_TEST_UID_BASE + 1, ram_b));
		g_assert_false(can_open_as(NBX_QEMU_TEST_UID_BASE, ram_b));
	}

	op_ok(f, "a", OP_STOP);
	op_ok(f, "b", OP_STOP);
	close(canary_fd);
}

/* The guest's agent, from inside the segment's namespace. */
static gboolean
agent_answers_inside(gpointer data, GError **error)
{
	assert_agent_answers(data);
	return TRUE;
}

static guint64
netns_inode(const char *path)
{
	struct stat st;

	g_assert_cmpint(stat(path, &st), ==, 0);
	return st.st_ino;
}

static void
test_segment(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *name = g_strdup_printf("qc%d", (int)getpid());
	g_autofree char *netns = g_strdup_printf("/run/netns/nbx-%s", name);
	g_autofree char *machine = g_strdup_printf(
		"{ name = \"%s\"; label = \"%s\"; ip = \"10.213.0.10\"; platform = \"linux\";\n"
		"  segment = true; host_address = \"10.213.0.1/24\"; agent_port = 8000;\n"
		"  machineinfo = \"%s\"; }",
		name, name, info);
	g_autofree char *qemu_ns = NULL;
	g_autoptr(GError) error = NULL;
	pid_t pid;

	load(f, machine);
	assert_clean_load(f);
	g_assert_true(nbx_machine_segments_bring_up(f->setup->pool, NULL, NULL, &error));
	g_assert_no_error(error);
	op_ok(f, name, OP_RESTORE);
	pid = find_qemu(f, name);
	g_assert_cmpint(pid, >, 0);
	assert_qemu_identity(pid, NBX_QEMU_TEST_UID_BASE);
	qemu_ns = g_strdup_printf("/proc/%d/ns/net", (int)pid);
	g_assert_cmpuint(netns_inode(qemu_ns), ==, netns_inode(netns));
	g_assert_true(nbx_netns_run(netns, agent_answers_inside, f, &error));
	op_ok(f, name, OP_STOP);
	nbx_machine_segments_tear_down();
	g_assert_false(g_file_test(netns, G_FILE_TEST_EXISTS));
}

/* --check: a QEMU without seccomp, a qemu_user that is root, one that does not exist, one for two. */
static void
test_check(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *qemu = g_build_filename(f->dir, "qemu-without-seccomp", NULL);
	g_autofree char *conf = NULL;
	const char *tap = env("NBX_QEMU_TEST_TAP0");

	/* What QEMU built without libseccomp says to -sandbox; -version alone works. */
	g_assert_true(g_file_set_contents(
		qemu,
		"#!/bin/sh\nfor a; do [ \"$a\" = -sandbox ] && "
		"{ echo 'qemu: -sandbox support is not enabled in this QEMU binary' >&2; exit 1; }; "
		"done\necho 'QEMU emulator version 7.2.0'\n",
		-1, NULL));
	g_assert_cmpint(chmod(qemu, 0755), ==, 0);
	conf = g_strdup_printf(
		"qemu_binary = \"%s\";\naccelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
		"machines = (\n"
		" { name = \"a\"; label = \"a\"; ip = \"10.213.0.10\"; platform = \"linux\";"
		" interface = \"%s\"; machineinfo = \"%s\"; qemu_user = \"root\"; },\n"
		" { name = \"b\"; label = \"b\"; ip = \"10.213.0.11\"; platform = \"linux\";"
		" interface = \"%s\"; machineinfo = \"%s\"; qemu_user = \"nbx-no-such-user\"; },\n"
		" { name = \"c\"; label = \"c\"; ip = \"10.213.0.12\"; platform = \"linux\";"
		" interface = \"%s\"; machineinfo = \"%s\"; qemu_user = \"daemon\"; },\n"
		" { name = \"d\"; label = \"d\"; ip = \"10.213.0.13\"; platform = \"linux\";"
		" interface = \"%s\"; machineinfo = \"%s\"; qemu_user = \"daemon\"; }\n);\n",
		qemu, f->overlays, tap, info, tap, info, tap, info, tap, info);
	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_true(nbx_diagnostics_contains(f->diagnostics, "does not take -sandbox"));
	g_assert_true(nbx_diagnostics_contains(f->diagnostics, "qemu_user root is root"));
	g_assert_true(nbx_diagnostics_contains(f->diagnostics, "nbx-no-such-user"));
	g_assert_true(nbx_diagnostics_contains(f->diagnostics, "qemu_user daemon is another machine's"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/qemu/contained/two-at-once", Fixture, NULL, set_up, test_two_contained,
		   tear_down);
	g_test_add("/qemu/contained/segment", Fixture, NULL, set_up, test_segment, tear_down);
	g_test_add("/qemu/contained/check", Fixture, NULL, set_up, test_check, tear_down);
	return g_test_run();
}
