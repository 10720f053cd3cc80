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
#include "qemu_args.h"

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

static GPtrArray *
build(const MachineInfo *info, const char *overlay, const char *tap, const char *accelerator,
      const int *netdev_fds, GError **error)
{
	QemuArgsSpec spec = { .overlay = overlay, .tap = tap, .accelerator = accelerator,
			      .netdev_fds = netdev_fds };

	return qemu_args_build(info, &spec, error);
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
	args = build(info, "/o/a,b.qcow2", "tap0", "tcg", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(args->len, ==, 6);
	g_assert_cmpstr(g_ptr_array_index(args, 1), ==, "pc,accel=tcg,usb=off");
	/* A comma in a path would otherwise start a new QEMU option. */
	g_assert_cmpstr(g_ptr_array_index(args, 3), ==, "file=/o/a,,b.qcow2,if=none");
	g_assert_cmpstr(g_ptr_array_index(args, 5), ==, "tap,ifname=tap0,script=no");
	g_clear_pointer(&args, g_ptr_array_unref);

	/* No interface for a machine whose arguments need one: said so. */
	args = build(info, "/o/x.qcow2", NULL, "tcg", NULL, &error);
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
	g_autoptr(GPtrArray) args = build(info, "o", NULL, "kvm", NULL, &error);

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


/* VMCloak's machineinfo.json as its qemu platform writes it (QEMU >= 4.1), verbatim in shape. */
static const char vmcloak_info[] =
	"{\n"
	"  \"vmcloak_version\": null,\n"
	"  \"machinery\": \"qemu\",\n"
	"  \"machinery_version\": \"7.2.22\",\n"
	"  \"machine\": {\n"
	"    \"name\": \"win10_1\",\n"
	"    \"ip\": \"192.168.30.10\",\n"
	"    \"agent_port\": 8000,\n"
	"    \"os_name\": \"windows\",\n"
	"    \"os_version\": \"win10\",\n"
	"    \"architecture\": \"amd64\",\n"
	"    \"tags\": [\"dotnet\"],\n"
	"    \"bridge\": \"br0\",\n"
	"    \"mac\": \"52:54:00:9E:A2:17\",\n"
	"    \"gateway\": \"192.168.30.1\",\n"
	"    \"netmask\": \"255.255.255.0\",\n"
	"    \"disk\": \"disk.qcow2\",\n"
	"    \"start_args\": [\"-nodefaults\", \"-M\", \"q35\", \"-vga\", \"std\", \"-smp\", \"2\",\n"
	"      \"-overcommit\", \"mem-lock=off\", \"-rtc\", \"base=localtime,driftfix=slew\",\n"
	"      \"-m\", \"4096\", \"-netdev\", \"type=bridge,br=br0,id=net0\",\n"
	"      \"-device\", \"rtl8139,netdev=net0,mac=52:54:00:9E:A2:17,bus=pcie.0,addr=3\",\n"
	"      \"-device\", \"ich9-ahci,id=ahci\",\n"
	"      \"-device\", \"ide-hd,bus=ahci.0,unit=0,drive=disk,bootindex=2\",\n"
	"      \"-device\", \"ide-cd,bus=ahci.1,unit=0,drive=cdrom,bootindex=1\",\n"
	"      \"-device\", \"usb-ehci,id=ehci\", \"-device\", \"usb-tablet,bus=ehci.0\",\n"
	"      \"-device\", \"intel-hda\", \"-device\", \"hda-duplex\", \"-enable-kvm\",\n"
	"      \"-drive\", \"if=none,id=cdrom,readonly=on\",\n"
	"      \"-drive\", \"file=%DISPOSABLE_DISK_PATH%,format=qcow2,if=none,id=disk\",\n"
	"      \"-display\", \"none\"],\n"
	"    \"memory_snapshot\": \"memory.snapshot\"\n"
	"  }\n"
	"}\n";

static gboolean
has_arg(GPtrArray *args, const char *arg)
{
	for (guint i = 0; i < args->len; i++)
		if (strcmp(g_ptr_array_index(args, i), arg) == 0)
			return TRUE;
	return FALSE;
}

static const char *
arg_after(GPtrArray *args, const char *option)
{
	for (guint i = 0; i + 1 < args->len; i++)
		if (strcmp(g_ptr_array_index(args, i), option) == 0)
			return g_ptr_array_index(args, i + 1);
	return NULL;
}

/* VMCloak's members sit in "machine", named relative to the file; its bridge netdev gets a tap. */
static void
test_vmcloak_shape(void)
{
	g_autofree char *path = write_json(vmcloak_info);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
	g_autofree char *memory = g_build_filename(dir, "memory.snapshot", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);
	g_autoptr(GPtrArray) netdevs = NULL;
	g_autoptr(GPtrArray) args = NULL;
	g_autofree char *override = NULL;
	const int fds[] = { 4 };
	const QemuNetdev *netdev;

	g_assert_no_error(error);
	g_assert_cmpstr(info->prefix, ==, "machine.");
	g_assert_cmpstr(info->disk, ==, disk);
	g_assert_cmpstr(info->memory_snapshot, ==, memory);
	g_assert_cmpstr(info->mac_address, ==, "52:54:00:9e:a2:17");
	g_assert_cmpint(machine_info_memory_mb(info), ==, 4096);
	g_assert_cmpstr(json_object_get_string_member(info->object, "os_name"), ==, "windows");

	netdevs = qemu_netdevs(info);
	g_assert_cmpuint(netdevs->len, ==, 1);
	netdev = g_ptr_array_index(netdevs, 0);
	g_assert_true(netdev->bridge);
	g_assert_cmpstr(netdev->bridge_name, ==, "br0");
	g_assert_cmpstr(netdev->id, ==, "net0");

	/* Without a tap for it, the bridge netdev is refused: no setuid helper is ever run. */
	args = build(info, "/o/run.qcow2", NULL, "tcg", NULL, &error);
	g_assert_null(args);
	g_assert_nonnull(strstr(error->message, "type=bridge,br=br0,id=net0"));
	g_clear_error(&error);

	args = build(info, "/o/run.qcow2", NULL, "tcg", fds, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(arg_after(args, "-netdev"), ==, "tap,id=net0,fd=4");
	g_assert_false(has_arg(args, "-enable-kvm"));
	g_assert_cmpstr(arg_after(args, "-accel"), ==, "tcg");
	g_assert_cmpstr(arg_after(args, "-display"), ==, "none");
	g_assert_true(has_arg(args, "file=/o/run.qcow2,format=qcow2,if=none,id=disk"));
	g_assert_true(has_arg(args, "if=none,id=cdrom,readonly=on"));
	override = qemu_args_accelerator_override(info, "tcg");
	g_assert_cmpstr(override, ==, "-enable-kvm");
	g_clear_pointer(&override, g_free);
	/* kvm asked, kvm set: nothing is overridden, though -enable-kvm still goes. */
	override = qemu_args_accelerator_override(info, "kvm");
	g_assert_null(override);
	g_assert_null(qemu_args_template_obstacle(info));
	g_assert_null(qemu_args_unsupported(info));
	g_unlink(path);
}

/* A bad VMCloak file is refused with the member named as the file has it. */
static void
test_vmcloak_refusals(void)
{
	static const struct {
		const char *text;
		const char *expect;
	} bad[] = {
		{ "{\"machinery\": \"qemu\", \"machine\": [1]}", "\"machine\" must be an object" },
		{ "{\"machinery\": \"virtualbox\", \"machine\": {\"disk\": \"d\", \"start_args\": []}}",
		  "\"machinery\" must be \"qemu\"" },
		{ "{\"machinery\": \"qemu\", \"machine\": {\"start_args\": []}}",
		  "\"machine.disk\" must be a non-empty string" },
		{ "{\"machinery\": \"qemu\", \"machine\": {\"disk\": \"d\", \"start_args\": \"-m 1\"}}",
		  "\"machine.start_args\" must be a list of strings" },
		{ "{\"machinery\": \"qemu\", \"machine\": {\"disk\": \"d\", \"start_args\": [\"-m\", 1]}}",
		  "\"machine.start_args\"[1] must be a string" },
		{ "{\"machinery\": \"qemu\", \"machine\": {\"disk\": \"d\", \"start_args\": [],"
		  " \"memory_snapshot\": 7}}",
		  "\"machine.memory_snapshot\" must be a non-empty string" },
		{ "{\"machinery\": \"qemu\", \"machine\": {\"disk\": \"d\", \"start_args\": [],"
		  " \"mac\": 5}}",
		  "\"machine.mac\" must be a string" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *path = write_json(bad[i].text);
		g_autoptr(GError) error = NULL;
		g_autoptr(MachineInfo) info = machine_info_load(path, &error);

		g_assert_null(info);
		g_test_message("%s", error->message);
		g_assert_true(g_str_has_prefix(error->message, path));
		g_assert_nonnull(strstr(error->message, bad[i].expect));
		g_unlink(path);
	}
}

/* Every rewrite of start_args: netdevs, accelerators, a -nic bridge the plugin cannot run. */
static void
test_rewrites(void)
{
	g_autofree char *path = write_json(
		"{\"disk\": \"d\", \"start_args\": [\"--enable-kvm\", \"-accel\", \"kvm\","
		" \"-machine\", \"q35,accel=kvm:tcg\", \"-netdev\","
		" \"bridge,br=vm,,br1,id=n1,helper=/usr/lib/qemu/qemu-bridge-helper,vnet_hdr=on\","
		" \"-netdev\", \"tap,id=n2,ifname=%TAP_INTERFACE%,script=no\","
		" \"-netdev\", \"user,id=n3\", \"-netdev\", \"tap,id=n4,fd=9\"]}");
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);
	g_autoptr(GPtrArray) netdevs = qemu_netdevs(info);
	g_autoptr(GPtrArray) kept = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autofree char *override = NULL;
	const int bridge_only[] = { 5, -1 };
	const int both[] = { 5, 6 };

	g_assert_no_error(error);
	/* user has no tap; a tap on a descriptor already is the caller's. */
	g_assert_cmpuint(netdevs->len, ==, 2);
	g_assert_cmpstr(((QemuNetdev *)g_ptr_array_index(netdevs, 0))->bridge_name, ==, "vm,br1");
	g_assert_false(((QemuNetdev *)g_ptr_array_index(netdevs, 1))->bridge);

	kept = build(info, "o", "tap7", "tcg", bridge_only, &error);
	g_assert_no_error(error);
	g_assert_false(has_arg(kept, "--enable-kvm"));
	g_assert_false(has_arg(kept, "-accel"));
	g_assert_cmpstr(arg_after(kept, "-machine"), ==, "q35,accel=tcg");
	g_assert_true(has_arg(kept, "tap,id=n1,fd=5,vnet_hdr=on"));
	g_assert_true(has_arg(kept, "tap,id=n2,ifname=tap7,script=no"));
	g_assert_true(has_arg(kept, "user,id=n3"));
	g_assert_true(has_arg(kept, "tap,id=n4,fd=9"));

	/* A conversion gives every tap netdev a descriptor of its own. */
	all = build(info, "o", NULL, "tcg", both, &error);
	g_assert_no_error(error);
	g_assert_true(has_arg(all, "tap,id=n2,fd=6"));

	override = qemu_args_accelerator_override(info, "tcg");
	g_assert_cmpstr(override, ==, "--enable-kvm, -accel kvm, accel=kvm:tcg");
	g_unlink(path);
}

static void
test_unsupported_and_obstacles(void)
{
	static const struct {
		const char *args;
		const char *expect;
	} cases[] = {
		{ "[\"-nic\", \"bridge,br=br0\"]", NULL },
		{ "[\"-device\", \"virtio-balloon-pci\"]", "virtio-balloon" },
		{ "[\"-device\", \"virtio-mem-pci,memdev=m\"]", "virtio-mem" },
		{ "[\"-object\", \"memory-backend-ram,id=r,size=1G\"]", "backend of their own" },
		{ "[\"-m\", \"1G,slots=2,maxmem=4G\"]", "hot-plug" },
		{ "[\"-mem-path\", \"/dev/hugepages\"]", "-mem-path" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strdup_printf("{\"disk\": \"d\", \"start_args\": %s}",
							cases[i].args);
		g_autofree char *path = write_json(text);
		g_autoptr(GError) error = NULL;
		g_autoptr(MachineInfo) info = machine_info_load(path, &error);
		g_autofree char *unsupported = NULL;

		g_assert_no_error(error);
		unsupported = qemu_args_unsupported(info);
		if (cases[i].expect == NULL) {
			g_assert_nonnull(unsupported);
			g_assert_nonnull(strstr(unsupported, "-nic bridge,br=br0"));
		} else {
			g_assert_null(unsupported);
			g_assert_nonnull(strstr(qemu_args_template_obstacle(info), cases[i].expect));
		}
		g_unlink(path);
	}
}

/* A template run: the RAM is the file, in the block plain -m names pc.ram. */
static void
test_memory_file(void)
{
	g_autofree char *path = write_json("{\"disk\": \"d\", \"start_args\": [\"-m\", \"1G\"]}");
	g_autoptr(GError) error = NULL;
	g_autoptr(MachineInfo) info = machine_info_load(path, &error);
	QemuArgsSpec spec = { .overlay = "o", .accelerator = "tcg", .memory_file = "/t/r,am",
			      .memory_mb = machine_info_memory_mb(info) };
	g_autoptr(GPtrArray) args = qemu_args_build(info, &spec, &error);

	g_assert_no_error(error);
	g_assert_cmpint(spec.memory_mb, ==, 1024);
	g_assert_cmpstr(arg_after(args, "-object"), ==,
			"memory-backend-file,id=pc.ram,mem-path=/t/r,,am,size=1024M,share=off");
	g_assert_cmpstr(g_ptr_array_index(args, args->len - 1), ==, "memory-backend=pc.ram");
	g_unlink(path);
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
	g_test_add_func("/qemu/machine-info/vmcloak-shape", test_vmcloak_shape);
	g_test_add_func("/qemu/machine-info/vmcloak-refusals", test_vmcloak_refusals);
	g_test_add_func("/qemu/machine-info/rewrites", test_rewrites);
	g_test_add_func("/qemu/machine-info/unsupported-and-obstacles",
			test_unsupported_and_obstacles);
	g_test_add_func("/qemu/machine-info/memory-file", test_memory_file);
	return g_test_run();
}
