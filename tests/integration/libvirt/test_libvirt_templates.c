/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What libvirt (9.0, Debian 12) can and cannot do towards memory templates
 * (issue 17; plugins/machinery/libvirt/README.md), shown on
 * libvirt's real QEMU driver (qemu:///embed, in this process) with the demo
 * guest under TCG. Each case pins one finding, so a libvirt that learns
 * more fails here and says so:
 *
 *  - file-backing: <memoryBacking><source type='file'/> puts the guest RAM
 *    in a file libvirt names itself (memory_backing_dir/ID-NAME/pc.ram),
 *    new at every start and deleted at every stop: no domain XML can point
 *    it at a template.
 *  - save-carries-ram: virDomainSave of such a domain writes all of its RAM.
 *  - device-only-save: with QEMU's x-ignore-shared capability set behind
 *    libvirt's back (virDomainQemuMonitorCommand), the same save is device
 *    state only; libvirt itself never sets the capability.
 *  - restore-refused: virDomainRestoreFlags cannot load that image, with
 *    any XML: the capability is off in the QEMU libvirt starts.
 *  - passthrough-pc-ram, passthrough-other-name: QEMU arguments passed
 *    through the domain XML cannot replace libvirt's RAM object "pc.ram",
 *    and RAM under another name cannot take a stream of "pc.ram".
 *  - passthrough-template: what does work, only through libvirt's
 *    passthrough, for a guest that ran on passthrough RAM from its boot:
 *    restored twice from one template, both clones share its pages, and the
 *    template is unchanged.
 *
 * The cases build on each other and run in order: they share one boot of
 * each guest (a boot is tens of seconds under TCG on a busy machine).
 */
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lv_guest.h"
#include "lv_template.h"

#define NATIVE "nbx-tpl-native"
#define BORN "nbx-tpl-born"

static LvGuest guest;
static virConnectPtr hv;
static virDomainPtr native;
/* The RAM file of the native domain's first start, as QEMU mapped it. */
static char *first_ram_file;
static char *full_image;
static char *device_image;
/* A hard link to the native domain's RAM file after the full restore: its RAM. */
static char *native_ram;
static guint64 ram_bytes;

static char *
scratch_file(const char *name)
{
	return g_build_filename(guest.scratch, name, NULL);
}

static guint64
file_size(const char *path)
{
	struct stat st;

	g_assert_cmpint(stat(path, &st), ==, 0);
	return (guint64)st.st_size;
}

static pid_t
qemu_pid(const char *name)
{
	g_autofree char *run_dir = g_build_filename(guest.scratch, "embed", "run", NULL);
	pid_t pid = lv_guest_qemu_pid(run_dir, name);

	g_assert_cmpint(pid, >, 0);
	return pid;
}

/* The file QEMU @pid maps whose name ends in /@suffix, and whether the mapping is shared. */
static char *
mapped_file(pid_t pid, const char *suffix, bool *shared)
{
	g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", (int)pid);
	g_autofree char *maps = NULL;
	g_auto(GStrv) lines = NULL;
	g_autofree char *tail = g_strdup_printf("/%s", suffix);

	g_assert_true(g_file_get_contents(maps_path, &maps, NULL, NULL));
	lines = g_strsplit(maps, "\n", -1);
	for (size_t i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit_set(lines[i], " ", -1);
		const char *file = fields[0] != NULL ? fields[g_strv_length(fields) - 1] : NULL;

		if (file != NULL && g_str_has_suffix(file, tail)) {
			*shared = fields[1][3] == 's';
			return g_strdup(file);
		}
	}
	g_error("QEMU %d maps no file named %s", (int)pid, suffix);
	return NULL;
}

/* Waits until @dom is off (libvirt's own event reached its state), a hang guard only. */
static void
wait_inactive(virDomainPtr dom)
{
	gint64 until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	while (virDomainIsActive(dom) == 1 && g_get_monotonic_time() < until)
		g_usleep(10000);
	g_assert_cmpint(virDomainIsActive(dom), ==, 0);
}

/* Fails the test saying what @name's QEMU last wrote to its log. */
static G_NORETURN void
fail_with_qemu_log(const char *name, const char *what)
{
	g_autofree char *file = g_strdup_printf("%s.log", name);
	g_autofree char *path = g_build_filename(guest.scratch, "embed", "log", "qemu", file, NULL);
	g_autofree char *log = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &log, &length, NULL))
		log = g_strdup("(no log)");
	g_error("%s: %s; the end of %s:\n%s", name, what, path,
		length > 2000 ? log + length - 2000 : log);
}

static void
log_memory(const char *what, pid_t pid)
{
	LvSmaps all = lv_smaps_of(pid, NULL);

	g_test_message("%s: QEMU %d Rss %" G_GUINT64_FORMAT " MiB, Pss %" G_GUINT64_FORMAT
		       " MiB, Private_Dirty %" G_GUINT64_FORMAT " MiB",
		       what, (int)pid, all.rss / 1024, all.pss / 1024, all.private_dirty / 1024);
}

/* ---- libvirt's own file-backed memory ---------------------------------- */

static void
test_file_backing(void)
{
	g_autofree char *disk = lv_guest_overlay(&guest, NATIVE);
	const LvDomainSpec spec = { .name = NATIVE, .disk = disk,
				    .memory_backing = "<source type='file'/><access mode='shared'/>" };
	g_autofree char *xml = lv_guest_domain_xml_spec(&guest, &spec);
	g_autofree char *dir = NULL;
	g_autofree char *dir_name = NULL;
	g_autofree char *expected = NULL;
	double booted;
	bool shared = false;

	native = virDomainDefineXML(hv, xml);
	g_assert_nonnull(native);
	if (virDomainCreate(native) < 0)
		g_error("start of %s: %s", NATIVE, virGetLastErrorMessage());
	booted = lv_guest_agent_wait(&guest);
	if (booted < 0)
		fail_with_qemu_log(NATIVE, "no agent within 240 s of its boot");
	g_test_message("%s booted to its agent in %.2f s", NATIVE, booted);

	first_ram_file = mapped_file(qemu_pid(NATIVE), "pc.ram", &shared);
	g_test_message("libvirt put the RAM of %s in %s", NATIVE, first_ram_file);
	g_assert_true(shared);
	/* memory_backing_dir (inside the embed root) / "<domain id>-<name>" / the object's id. */
	g_assert_true(g_str_has_prefix(first_ram_file, guest.scratch));
	dir = g_path_get_dirname(first_ram_file);
	dir_name = g_path_get_basename(dir);
	expected = g_strdup_printf("%d-%s", (int)virDomainGetID(native), NATIVE);
	g_assert_cmpstr(dir_name, ==, expected);
}

static void
test_save_carries_ram(void)
{
	g_autofree char *dir = g_path_get_dirname(first_ram_file);
	g_autofree char *ram_file = NULL;
	bool shared = false;

	full_image = scratch_file("full.sav");
	g_assert_cmpint(virDomainSuspend(native), ==, 0);
	g_assert_cmpint(virDomainSaveFlags(native, full_image, NULL, 0), ==, 0);
	g_test_message("virDomainSave of %s (RAM in a shared file): %" G_GUINT64_FORMAT " bytes",
		       NATIVE, file_size(full_image));
	/* The guest's pages that are not zero: tens of MiB of its 256. */
	g_assert_cmpuint(file_size(full_image), >, 16u << 20);
	/* Stopped, and the RAM file went with its domain. */
	wait_inactive(native);
	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));

	g_assert_cmpint(virDomainRestoreFlags(hv, full_image, NULL, VIR_DOMAIN_SAVE_PAUSED), ==, 0);
	ram_file = mapped_file(qemu_pid(NATIVE), "pc.ram", &shared);
	g_test_message("restored into a new file: %s", ram_file);
	g_assert_cmpstr(ram_file, !=, first_ram_file);
	log_memory("after the full restore", qemu_pid(NATIVE));
	/* Kept for the passthrough cases: the RAM, as QEMU (shared) holds it. */
	native_ram = scratch_file("native.ram");
	g_assert_cmpint(link(ram_file, native_ram), ==, 0);
}

static void
test_device_only_save(void)
{
	device_image = scratch_file("device.sav");
	/* Behind libvirt's back: it has no name for this capability. */
	lv_qmp_ignore_shared(native);
	g_assert_cmpint(virDomainSaveFlags(native, device_image, NULL, 0), ==, 0);
	wait_inactive(native);
	g_test_message("virDomainSave with x-ignore-shared set: %" G_GUINT64_FORMAT
		       " bytes (without: %" G_GUINT64_FORMAT ")",
		       file_size(device_image), file_size(full_image));
	g_assert_cmpuint(file_size(device_image), <, 2u << 20);
}

static void
assert_restore_refused(const char *dxml, const char *what)
{
	const char *message;

	g_assert_cmpint(virDomainRestoreFlags(hv, device_image, dxml, 0), <, 0);
	message = virGetLastErrorMessage();
	g_test_message("virDomainRestoreFlags %s: %s", what, message);
	g_assert_nonnull(strstr(message, "Capability x-ignore-shared is off"));
	g_assert_cmpint(virDomainIsActive(native), ==, 0);
}

static void
test_restore_refused(void)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	g_autofree char *disk = g_build_filename(guest.scratch, NATIVE ".qcow2", NULL);
	LvDomainSpec spec = { .name = NATIVE, .uuid = uuid, .disk = disk,
			      .memory_backing = "<source type='file'/><access mode='private'/>" };
	g_autofree char *private_xml = NULL;

	g_assert_cmpint(virDomainGetUUIDString(native, uuid), ==, 0);
	assert_restore_refused(NULL, "as saved");
	/* The XML cannot name a file for the RAM, nor the capability: private changes nothing. */
	private_xml = lv_guest_domain_xml_spec(&guest, &spec);
	assert_restore_refused(private_xml, "with <access mode='private'/>");
}

/* ---- libvirt's passthrough of QEMU arguments and QMP -------------------- */

static char *
passthrough_xml(const char *name, const char *id, const char *ram, bool share, bool incoming,
		const char *interface)
{
	g_auto(GStrv) args = lv_template_ram_args(id, ram, ram_bytes, share, incoming);
	g_autofree char *disk = lv_guest_overlay(&guest, name);
	const LvDomainSpec spec = { .name = name, .disk = disk, .interface = interface,
				    .qemu_args = (const char *const *)args };

	return lv_guest_domain_xml_spec(&guest, &spec);
}

static void
test_passthrough_pc_ram(void)
{
	g_autofree char *xml = passthrough_xml("nbx-tpl-pcram", "pc.ram", native_ram, false, true,
					       NULL);
	virDomainPtr dom = virDomainCreateXML(hv, xml, VIR_DOMAIN_START_PAUSED);
	const char *message = virGetLastErrorMessage();

	g_assert_null(dom);
	g_test_message("a RAM object named pc.ram passed through: %s", message);
	g_assert_nonnull(strstr(message, "duplicate property 'pc.ram'"));
}

/* The QEMU stream inside a libvirt save image: after its header and XML (qemu_saveimage.h). */
static char *
stream_of_save_image(const char *image)
{
	g_autofree char *data = NULL;
	char *stream = scratch_file("device.stream");
	gsize length = 0;
	guint32 xml_length;
	gsize offset;

	g_assert_true(g_file_get_contents(image, &data, &length, NULL));
	/* magic[16], version, data_len, was_running, compressed, cookieOffset, unused[14]. */
	g_assert_cmpuint(length, >, 92);
	memcpy(&xml_length, data + 20, sizeof xml_length);
	offset = 92 + (gsize)xml_length;
	g_assert_cmpuint(offset + 4, <, length);
	g_assert_cmpmem(data + offset, 4, "QEVM", 4);
	g_assert_true(g_file_set_contents(stream, data + offset, (gssize)(length - offset), NULL));
	return stream;
}

static void
test_passthrough_other_name(void)
{
	g_autofree char *stream = stream_of_save_image(device_image);
	g_autofree char *xml = passthrough_xml("nbx-tpl-other", LV_TEMPLATE_RAM_ID, native_ram,
					       false, true, NULL);
	g_autofree char *log_path =
		g_build_filename(guest.scratch, "embed", "log", "qemu", "nbx-tpl-other.log", NULL);
	g_autofree char *log = NULL;
	g_autofree char *error = NULL;
	g_autofree char *state = NULL;
	virDomainPtr dom = virDomainCreateXML(hv, xml, VIR_DOMAIN_START_PAUSED);

	if (dom == NULL)
		g_error("start of nbx-tpl-other: %s", virGetLastErrorMessage());
	lv_qmp_ignore_shared(dom);
	g_assert_true(lv_qmp_incoming_from_file(dom, stream, &error));
	/* QEMU refuses the stream and exits; the transient domain is gone with it. */
	state = lv_qmp_wait_loaded(dom, 60000);
	g_assert_null(state);
	virDomainFree(dom);
	g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	g_test_message("the stream of pc.ram into RAM named " LV_TEMPLATE_RAM_ID ": %s",
		       strstr(log, "Unknown ramblock") != NULL ? strstr(log, "Unknown ramblock")
							   : log);
	g_assert_nonnull(strstr(log, "Unknown ramblock \"pc.ram\", cannot accept migration"));
}

/* ---- a template, through the passthrough --------------------------------- */

typedef struct {
	dev_t device;
	ino_t inode;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	char *sha256;
} FileIdentity;

static FileIdentity
identity_of(const char *path)
{
	g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree guchar *buf = g_malloc(1 << 20);
	FileIdentity id = { 0 };
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	while ((got = read(fd, buf, 1 << 20)) > 0)
		g_checksum_update(checksum, buf, got);
	g_assert_cmpint(got, ==, 0);
	close(fd);
	id.device = st.st_dev;
	id.inode = st.st_ino;
	id.size = st.st_size;
	id.mtime = st.st_mtim;
	id.ctime = st.st_ctim;
	id.sha256 = g_strdup(g_checksum_get_string(checksum));
	return id;
}

static void
assert_same_identity(const FileIdentity *a, const FileIdentity *b)
{
	g_assert_cmpuint(a->device, ==, b->device);
	g_assert_cmpuint(a->inode, ==, b->inode);
	g_assert_cmpint(a->size, ==, b->size);
	g_assert_cmpint(a->mtime.tv_sec, ==, b->mtime.tv_sec);
	g_assert_cmpint(a->mtime.tv_nsec, ==, b->mtime.tv_nsec);
	g_assert_cmpint(a->ctime.tv_sec, ==, b->ctime.tv_sec);
	g_assert_cmpint(a->ctime.tv_nsec, ==, b->ctime.tv_nsec);
	g_assert_cmpstr(a->sha256, ==, b->sha256);
}

/* Boots BORN on passthrough RAM @ram (shared) and saves its device state into @state. */
static void
make_template(const char *ram, const char *state)
{
	g_autofree char *xml = passthrough_xml(BORN, LV_TEMPLATE_RAM_ID, ram, true, false, NULL);
	virDomainPtr dom = virDomainCreateXML(hv, xml, 0);
	double booted;

	if (dom == NULL)
		g_error("start of %s: %s", BORN, virGetLastErrorMessage());
	booted = lv_guest_agent_wait(&guest);
	if (booted < 0)
		fail_with_qemu_log(BORN, "no agent within 240 s of its boot");
	g_test_message("%s booted to its agent in %.2f s", BORN, booted);
	g_assert_cmpint(virDomainSuspend(dom), ==, 0);
	lv_qmp_ignore_shared(dom);
	lv_qmp_migrate_to_file(dom, state);
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	virDomainFree(dom);
	g_test_message("template: RAM %s (%" G_GUINT64_FORMAT " bytes), device state %s (%"
		       G_GUINT64_FORMAT " bytes)", ram, file_size(ram), state, file_size(state));
	g_assert_cmpuint(file_size(state), <, 2u << 20);
}

static void
assert_shares_template(const char *name, const char *ram)
{
	LvSmaps mapped = lv_smaps_of(qemu_pid(name), ram);

	g_test_message("%s: template mapping Rss %" G_GUINT64_FORMAT " KiB, Pss %" G_GUINT64_FORMAT
		       " KiB, Shared_Clean %" G_GUINT64_FORMAT " KiB, Shared_Dirty %" G_GUINT64_FORMAT
		       " KiB, Private_Dirty %" G_GUINT64_FORMAT " KiB",
		       name, mapped.rss, mapped.pss, mapped.shared_clean, mapped.shared_dirty,
		       mapped.private_dirty);
	log_memory(name, qemu_pid(name));
	/*
	 * Pages read from the template are the page cache's, the same for every
	 * clone: "dirty" while the kernel has not yet written back what the
	 * template's maker wrote, clean after.
	 */
	g_assert_cmpuint(mapped.shared_clean + mapped.shared_dirty, >, 0);
	g_assert_cmpuint(mapped.pss, <, mapped.rss);
	/* What the guest wrote since: a small part of its RAM. */
	g_assert_cmpuint(mapped.private_dirty, <, ram_bytes / 1024 / 8);
}

static void
test_passthrough_template(void)
{
	g_autofree char *ram = scratch_file("born.ram");
	g_autofree char *state = scratch_file("born.state");
	/* The second clone gets a tap libvirt makes: one guest IP, one reachable clone. */
	const char *own_tap = "<interface type='ethernet'><mac address='52:54:00:d5:00:0a'/>"
			      "<model type='virtio'/></interface>";
	g_autofree char *xml_a = NULL;
	g_autofree char *xml_b = NULL;
	FileIdentity before, after;
	LvTemplateTimes times;
	virDomainPtr a, b;
	double agent;

	make_template(ram, state);
	before = identity_of(ram);
	xml_a = passthrough_xml("nbx-tpl-a", LV_TEMPLATE_RAM_ID, ram, false, true, NULL);
	xml_b = passthrough_xml("nbx-tpl-b", LV_TEMPLATE_RAM_ID, ram, false, true, own_tap);

	a = lv_template_restore(hv, xml_a, state, &times);
	agent = lv_guest_agent_wait(&guest);
	g_assert_cmpfloat(agent, >=, 0);
	g_test_message("nbx-tpl-a restored from the template in %.3f s (libvirt's start %.3f s, "
		       "load %.3f s, resume %.3f s); the agent answered %.3f s later",
		       times.total, times.start, times.load, times.resume, agent);
	b = lv_template_restore(hv, xml_b, state, &times);
	g_test_message("nbx-tpl-b restored from the template in %.3f s", times.total);
	/* Both run on: the first still answers with the second beside it. */
	g_assert_cmpfloat(lv_guest_agent_wait(&guest), >=, 0);
	assert_shares_template("nbx-tpl-a", ram);
	assert_shares_template("nbx-tpl-b", ram);

	g_assert_cmpint(virDomainDestroy(a), ==, 0);
	g_assert_cmpint(virDomainDestroy(b), ==, 0);
	virDomainFree(a);
	virDomainFree(b);
	after = identity_of(ram);
	assert_same_identity(&before, &after);
	g_free(before.sha256);
	g_free(after.sha256);
}

int
main(int argc, char **argv)
{
	int status;

	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	lv_guest_init(&guest);
	ram_bytes = (guint64)guest.memory_mb << 20;
	lv_guest_event_loop_start();
	hv = virConnectOpen(guest.embed_uri);
	if (hv == NULL)
		g_error("%s: %s", guest.embed_uri, virGetLastErrorMessage());

	g_test_add_func("/libvirt/templates/file-backing", test_file_backing);
	g_test_add_func("/libvirt/templates/save-carries-ram", test_save_carries_ram);
	g_test_add_func("/libvirt/templates/device-only-save", test_device_only_save);
	g_test_add_func("/libvirt/templates/restore-refused", test_restore_refused);
	g_test_add_func("/libvirt/templates/passthrough-pc-ram", test_passthrough_pc_ram);
	g_test_add_func("/libvirt/templates/passthrough-other-name", test_passthrough_other_name);
	g_test_add_func("/libvirt/templates/passthrough-template", test_passthrough_template);
	status = g_test_run();

	if (native != NULL)
		lv_guest_undefine(native);
	virConnectClose(hv);
	g_free(first_ram_file);
	g_free(full_image);
	g_free(device_image);
	g_free(native_ram);
	lv_guest_clear(&guest);
	return status;
}
