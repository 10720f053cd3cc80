/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * machineinfo.json as the qemu machinery reads it: required members,
 * placeholder substitution (with QEMU's ',,' escaping), the accelerator
 * override, and the start arguments the plugin refuses.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "machine_info.h"

static char *
write_json(const char *text)
{
	g_autoptr(GError) error = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("machineinfo-XXXXXX.json", &path, &error);

	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void
test_substitution(void)
{
	g_autofree char *path = write_json(
		"{\"disk\": \"/b/disk.qcow2\", \"memory_snapshot\": \"/b/mem\", \"memory_mb\": 64,"
		" \"start_args\": [\"-machine\", \"pc,accel=kvm,usb=off\", \"-drive\","
		" \"file=%DISPOSABLE_DISK_PATH%,if=none\", \"-netdev\","
		" \"tap,ifname=%TAP_INTERFACE%,script=no\"]}");
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);
	g_autoptr(GPtrArray) args = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(info->disk, ==, "/b/disk.qcow2");
	g_assert_cmpstr(info->memory_snapshot_format, ==, "raw");
	g_assert_cmpint(info->memory_mb, ==, 64);
	args = machine_info_start_args(info, "/o/a,b.qcow2", "tap0", "tcg", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(args->len, ==, 6);
	g_assert_cmpstr(g_ptr_array_index(args, 1), ==, "pc,accel=tcg,usb=off");
	/* A comma in a path would otherwise start a new QEMU option. */
	g_assert_cmpstr(g_ptr_array_index(args, 3), ==, "file=/o/a,,b.qcow2,if=none");
	g_assert_cmpstr(g_ptr_array_index(args, 5), ==, "tap,ifname=tap0,script=no");
	g_clear_pointer(&args, g_ptr_array_unref);

	/* No interface for a machine whose arguments need one: said so. */
	args = machine_info_start_args(info, "/o/x.qcow2", NULL, "tcg", &error);
	g_assert_null(args);
	g_assert_nonnull(strstr(error->message, "%TAP_INTERFACE%"));
	g_assert_nonnull(strstr(error->message, "interface"));
	g_unlink(path);
}

static void
test_accel_appended(void)
{
	g_autofree char *path = write_json("{\"disk\": \"d\", \"memory_snapshot\": \"m\","
					   " \"start_args\": [\"-m\", \"128\"]}");
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);
	g_autoptr(GPtrArray) args = machine_info_start_args(info, "o", NULL, "kvm", &error);

	g_assert_no_error(error);
	g_assert_cmpuint(args->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(args, 2), ==, "-accel");
	g_assert_cmpstr(g_ptr_array_index(args, 3), ==, "kvm");
	g_unlink(path);
}

static void
test_bad_files(void)
{
	const char *bad[] = {
		"not json",
		"[1]",
		"{\"memory_snapshot\": \"m\", \"start_args\": []}",
		"{\"disk\": \"\", \"memory_snapshot\": \"m\", \"start_args\": []}",
		"{\"disk\": \"d\", \"memory_snapshot\": \"m\"}",
		"{\"disk\": \"d\", \"memory_snapshot\": \"\", \"start_args\": []}",
		"{\"disk\": \"d\", \"memory_snapshot\": \"m\", \"start_args\": [1]}",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *path = write_json(bad[i]);
		g_autoptr(GError) error = NULL;
		g_autoptr(MachineInfo) info = machine_info_load(path, &error);

		g_assert_null(info);
		/* Every message names the file. */
		g_assert_true(g_str_has_prefix(error->message, path));
		g_unlink(path);
	}
}

/* Relative paths mean the description's own directory, wherever the process runs. */
static void
test_relative_paths(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("machineinfo-XXXXXX", &error);
	g_autofree char *sub = g_build_filename(dir, "gen", NULL);
	g_autofree char *path = g_build_filename(sub, "machineinfo.json", NULL);
	g_autofree char *expect = NULL;
	g_autoptr(MachineInfo) info = NULL;
	const MachineInfoFile *file;

	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	g_assert_true(g_file_set_contents(
		path,
		"{\"disk\": \"disk.qcow2\", \"memory_snapshot\": \"../shared/memory.zst\","
		" \"start_args\": [\"-M\", \"pc-i440fx-7.2,accel=tcg\", \"--kernel\", \"vmlinuz\","
		" \"-initrd\", \"/abs/initrd.img\", \"-append\", \"vmlinuz\", \"-m\", \"128\"]}",
		-1, NULL));
	/* From elsewhere: the working directory must not matter. */
	g_assert_cmpint(chdir("/"), ==, 0);
	info = machine_info_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->dir, ==, sub);
	expect = g_build_filename(sub, "disk.qcow2", NULL);
	g_assert_cmpstr(info->disk, ==, expect);
	g_free(expect);
	expect = g_build_filename(dir, "shared", "memory.zst", NULL);
	g_assert_cmpstr(info->memory_snapshot, ==, expect);
	g_free(expect);
	expect = g_build_filename(sub, "vmlinuz", NULL);
	g_assert_cmpstr(info->start_args[3], ==, expect);
	g_assert_cmpstr(info->start_args[5], ==, "/abs/initrd.img");
	/* -append's value is no file, whatever it looks like. */
	g_assert_cmpstr(info->start_args[7], ==, "vmlinuz");
	g_assert_cmpuint(info->files->len, ==, 2);
	file = &g_array_index(info->files, MachineInfoFile, 0);
	g_assert_cmpuint(file->index, ==, 3);
	g_assert_cmpstr(file->option, ==, "-kernel");
	g_assert_true(file->relative);
	file = &g_array_index(info->files, MachineInfoFile, 1);
	g_assert_cmpstr(file->option, ==, "-initrd");
	g_assert_false(file->relative);
	g_assert_cmpstr(machine_info_option(info, "-machine"), ==, "pc-i440fx-7.2,accel=tcg");
	g_assert_cmpstr(machine_info_option(info, "-m"), ==, "128");
	g_assert_null(machine_info_option(info, "-cpu"));
	g_unlink(path);
	g_rmdir(sub);
	g_rmdir(dir);
}

/* A generation imported without its memory has no memory_snapshot; that loads. */
static void
test_no_memory(void)
{
	g_autofree char *path = write_json("{\"disk\": \"d\", \"start_args\": []}");
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);

	g_assert_no_error(error);
	g_assert_null(info->memory_snapshot);
	g_unlink(path);
}

static void
test_forbidden(void)
{
	g_assert_cmpstr(machine_info_forbidden_arg("-incoming"), ==, "-incoming");
	g_assert_cmpstr(machine_info_forbidden_arg("--qmp"), ==, "-qmp");
	g_assert_cmpstr(machine_info_forbidden_arg("-no-shutdown"), ==, "-no-shutdown");
	g_assert_null(machine_info_forbidden_arg("-m"));
	g_assert_null(machine_info_forbidden_arg("snapshot=on"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qemu/machine-info/substitution", test_substitution);
	g_test_add_func("/qemu/machine-info/accel-appended", test_accel_appended);
	g_test_add_func("/qemu/machine-info/bad-files", test_bad_files);
	g_test_add_func("/qemu/machine-info/forbidden", test_forbidden);
	g_test_add_func("/qemu/machine-info/relative-paths", test_relative_paths);
	g_test_add_func("/qemu/machine-info/no-memory", test_no_memory);
	return g_test_run();
}
