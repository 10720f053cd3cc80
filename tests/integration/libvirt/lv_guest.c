/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lv_guest.h"

#include "test_support.h"

#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *
env(const char *name)
{
	const char *value = g_getenv(name);

	if (value == NULL)
		g_error("%s is not set: run this through run-libvirt-qemu.sh", name);
	return value;
}

static void
run(const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
			  NULL, NULL, NULL, &err, &status, &error) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("%s failed: %s", argv[0], error != NULL ? error->message : err);
}

void
lv_guest_init(LvGuest *g)
{
	g_autofree char *info_path = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *info;

	memset(g, 0, sizeof *g);
	g->guest_dir = g_strdup(env("NBX_LIBVIRT_TEST_GUEST_DIR"));
	g->scratch = g_strdup(env("NBX_LIBVIRT_TEST_SCRATCH"));
	g->tap = g_strdup(env("NBX_LIBVIRT_TEST_TAP"));
	info_path = g_build_filename(g->guest_dir, "machineinfo.json", NULL);
	if (!json_parser_load_from_file(parser, info_path, &error))
		g_error("%s: %s", info_path, error->message);
	info = json_node_get_object(json_parser_get_root(parser));
	g->ip = g_strdup(json_object_get_string_member(info, "ip"));
	g->agent_expect = g_strdup(json_object_get_string_member(info, "agent_expect"));
	g->agent_port = (int)json_object_get_int_member(info, "agent_port");
	g->memory_mb = (int)json_object_get_int_member(info, "memory_mb");
	/* run-libvirt-qemu.sh copied the guest: its disk too, not the one machineinfo names. */
	g->backing_disk = g_build_filename(g->guest_dir, "disk.qcow2", NULL);
	g->disk = lv_guest_overlay(g, "demo");
	g->embed_uri = g_strdup_printf("qemu:///embed?root=%s/embed", g->scratch);
	g->daemon_dir = g_build_filename(g->scratch, "daemon", NULL);
	g->daemon_uri = g_strdup_printf("qemu+unix:///system?socket=%s/sock/libvirt-sock",
					g->daemon_dir);
}

char *
lv_guest_overlay(const LvGuest *g, const char *name)
{
	g_autofree char *file = g_strdup_printf("%s.qcow2", name);
	char *path = g_build_filename(g->scratch, file, NULL);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
			       "-b", g->backing_disk, path, NULL };

	run(argv);
	return path;
}

void
lv_guest_clear(LvGuest *g)
{
	g_free(g->backing_disk);
	g_free(g->guest_dir);
	g_free(g->scratch);
	g_free(g->tap);
	g_free(g->ip);
	g_free(g->agent_expect);
	g_free(g->disk);
	g_free(g->embed_uri);
	g_free(g->daemon_dir);
	g_free(g->daemon_uri);
}

static gpointer
event_loop(gpointer data)
{
	for (;;)
		virEventRunDefaultImpl();
	return NULL;
}

void
lv_guest_event_loop_start(void)
{
	g_assert_cmpint(virEventRegisterDefaultImpl(), ==, 0);
	g_thread_unref(g_thread_new("test-libvirt-events", event_loop, NULL));
}

/* <qemu:commandline> with @args, each escaped for an attribute; "" when there are none. */
static char *
qemu_commandline(const char *const *args)
{
	GString *xml = g_string_new(NULL);

	if (args == NULL || args[0] == NULL)
		return g_string_free(xml, FALSE);
	g_string_append(xml, "<qemu:commandline>");
	for (size_t i = 0; args[i] != NULL; i++) {
		g_autofree char *value = g_markup_escape_text(args[i], -1);

		g_string_append_printf(xml, "<qemu:arg value='%s'/>", value);
	}
	g_string_append(xml, "</qemu:commandline>");
	return g_string_free(xml, FALSE);
}

char *
lv_guest_domain_xml_spec(const LvGuest *g, const LvDomainSpec *spec)
{
	g_autofree char *uuid =
		spec->uuid != NULL ? g_strdup_printf("<uuid>%s</uuid>", spec->uuid) : g_strdup("");
	g_autofree char *memory_backing =
		spec->memory_backing != NULL
			? g_strdup_printf("<memoryBacking>%s</memoryBacking>", spec->memory_backing)
			: g_strdup("");
	g_autofree char *interface =
		spec->interface != NULL
			? g_strdup(spec->interface)
			: g_strdup_printf("<interface type='ethernet'><mac address='52:54:00:d5:00:0a'/>"
					  "<target dev='%s' managed='no'/><model type='virtio'/></interface>",
					  g->tap);
	g_autofree char *qemu = qemu_commandline(spec->qemu_args);

	return g_strdup_printf(
		"<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		"<name>%s</name>%s<memory unit='MiB'>%d</memory>%s<vcpu>1</vcpu>"
		"<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>"
		"<kernel>%s/vmlinuz</kernel><initrd>%s/initrd.img</initrd>"
		"<cmdline>console=ttyS0 quiet panic=1 init_on_free=1 nestbox.ip=%s/24 "
		"nestbox.port=%d</cmdline></os>"
		"<features><acpi/></features>"
		"<cpu mode='custom'><model>qemu64</model></cpu>"
		"<on_reboot>destroy</on_reboot>"
		"<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
		"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
		"<source file='%s'/><target dev='vda' bus='virtio'/></disk>%s"
		"<serial type='null'/><memballoon model='none'/>"
		/* A screen for snapshot sessions, on the namespace's loopback; no display device to save. */
		"<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
		"<video><model type='none'/></video></devices>%s</domain>",
		spec->name, uuid, g->memory_mb, memory_backing, g->guest_dir, g->guest_dir, g->ip,
		g->agent_port, spec->disk != NULL ? spec->disk : g->disk, interface, qemu);
}

char *
lv_guest_domain_xml(const LvGuest *g, const char *name, const char *uuid)
{
	const LvDomainSpec spec = { .name = name, .uuid = uuid };

	return lv_guest_domain_xml_spec(g, &spec);
}

virDomainPtr
lv_guest_prepare(const LvGuest *g, virConnectPtr conn, const char *name)
{
	g_autofree char *xml = lv_guest_domain_xml(g, name, NULL);

	return lv_guest_prepare_xml(g, conn, name, xml);
}

virDomainPtr
lv_guest_prepare_xml(const LvGuest *g, virConnectPtr conn, const char *name, const char *xml)
{
	virDomainPtr dom = virDomainDefineXML(conn, xml);
	virDomainSnapshotPtr snapshot;
	double booted;

	if (dom == NULL)
		g_error("define %s: %s", name, virGetLastErrorMessage());
	if (virDomainCreate(dom) < 0)
		g_error("start %s: %s", name, virGetLastErrorMessage());
	booted = lv_guest_agent_wait(g);
	if (booted < 0)
		g_error("the demo guest did not answer within 90 s of its boot");
	g_test_message("demo guest booted to its agent in %.2f s", booted);
	snapshot = virDomainSnapshotCreateXML(
		dom, "<domainsnapshot><name>booted</name></domainsnapshot>", 0);
	if (snapshot == NULL)
		g_error("snapshot of %s: %s", name, virGetLastErrorMessage());
	virDomainSnapshotFree(snapshot);
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	return dom;
}

virDomainPtr
lv_guest_copy(const LvGuest *g, virConnectPtr conn, const char *name, virDomainPtr from)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	virDomainSnapshotPtr source = virDomainSnapshotCurrent(from, 0);
	virDomainSnapshotPtr copy;
	g_autofree char *snapshot_xml = NULL;
	g_autofree char *xml = NULL;
	virDomainPtr dom;

	g_assert_nonnull(source);
	/* A snapshot record names its domain's UUID: the copy keeps it. */
	g_assert_cmpint(virDomainGetUUIDString(from, uuid), ==, 0);
	xml = lv_guest_domain_xml(g, name, uuid);
	snapshot_xml = virDomainSnapshotGetXMLDesc(source, VIR_DOMAIN_XML_SECURE);
	virDomainSnapshotFree(source);
	dom = virDomainDefineXML(conn, xml);
	if (dom == NULL)
		g_error("define %s: %s", name, virGetLastErrorMessage());
	/* The snapshot's data is in the shared qcow2; only libvirt's record of it is new. */
	copy = virDomainSnapshotCreateXML(dom, snapshot_xml,
					  VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE |
						  VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT);
	if (copy == NULL)
		g_error("redefine snapshot on %s: %s", name, virGetLastErrorMessage());
	virDomainSnapshotFree(copy);
	return dom;
}

void
lv_guest_undefine(virDomainPtr dom)
{
	if (dom == NULL)
		return;
	if (virDomainIsActive(dom) == 1)
		virDomainDestroy(dom);
	virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
	virDomainFree(dom);
}

/* One HTTP GET to the guest agent; the body, or NULL. */
static char *
agent_get(const char *ip, int port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	/* A SYN lost while the guest is not up yet is retried in 100 ms, not after TCP's 1 s. */
	struct timeval connect_timeout = { .tv_usec = 100000 };
	struct timeval timeout = { .tv_sec = 1 };
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	GString *answer = g_string_new(NULL);
	char buf[1024];
	ssize_t got;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &address.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connect_timeout, sizeof connect_timeout);
	if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
		close(fd);
		return g_string_free(answer, TRUE);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	/* MSG_NOSIGNAL: a guest that resets the connection is a retry, not a SIGPIPE. */
	if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1)) {
		close(fd);
		return g_string_free(answer, TRUE);
	}
	while ((got = read(fd, buf, sizeof buf)) > 0)
		g_string_append_len(answer, buf, got);
	close(fd);
	return g_string_free(answer, FALSE);
}

double
lv_guest_agent_wait(const LvGuest *g)
{
	gint64 start = g_get_monotonic_time();
	gint64 until = start + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < until) {
		g_autofree char *answer = agent_get(g->ip, g->agent_port);

		if (answer != NULL && strstr(answer, g->agent_expect) != NULL)
			return (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
		g_usleep(5000);
	}
	return -1;
}

pid_t
lv_guest_qemu_pid(const char *run_dir, const char *name)
{
	g_autofree char *path = g_strdup_printf("%s/qemu/%s.pid", run_dir, name);
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	return (pid_t)g_ascii_strtoll(text, NULL, 10);
}

virConnectPtr
lv_open_retrying(const char *uri)
{
	gint64 until = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;
	virConnectPtr conn;

	while ((conn = virConnectOpen(uri)) == NULL && g_get_monotonic_time() < until)
		g_usleep(20000);
	return conn;
}

pid_t
lv_daemon_start(const LvGuest *g)
{
	g_autofree char *script = g_build_filename(g_getenv("NBX_LIBVIRT_TEST_SOURCE_DIR"),
						   "run-libvirtd.sh", NULL);
	const char *argv[] = { "sh", script, g->daemon_dir, NULL };
	g_autoptr(GError) error = NULL;
	virConnectPtr probe;
	GPid pid;

	if (!g_spawn_async(NULL, (char **)argv, NULL,
			   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error))
		g_error("run-libvirtd.sh: %s", error->message);
	probe = lv_open_retrying(g->daemon_uri);
	if (probe == NULL)
		g_error("libvirtd on %s did not answer within %d s: %s", g->daemon_dir,
			TEST_HANG_GUARD_S, virGetLastErrorMessage());
	virConnectClose(probe);
	return pid;
}

void
lv_daemon_stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}
