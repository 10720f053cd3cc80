/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qemu_test_fixture.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
env(const char *name)
{
	const char *value = g_getenv(name);

	if (value == NULL)
		g_error("%s is not set: run this test through run-in-netns.sh", name);
	return value;
}

static JsonObject *
load_info(const char *guest_dir)
{
	g_autofree char *path = g_build_filename(guest_dir, "machineinfo.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

char *
write_info(Fixture *f, const char *name, void (*edit)(JsonObject *info, Fixture *f))
{
	g_autoptr(JsonNode) original = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonNode) node = NULL;
	g_autofree char *text = NULL;
	char *path = g_build_filename(f->dir, name, NULL);

	/* json_node_copy() shares the object: a deep copy, so @edit leaves f->info alone. */
	json_node_set_object(original, f->info);
	text = json_to_string(original, FALSE);
	node = json_from_string(text, NULL);
	g_clear_pointer(&text, g_free);
	if (edit != NULL)
		edit(json_node_get_object(node), f);
	text = json_to_string(node, TRUE);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

char *
machine_conf(const char *name, const char *ip, const char *tap, const char *info)
{
	g_autofree char *info_key =
		info != NULL ? g_strdup_printf(" machineinfo = \"%s\";", info) : g_strdup("");

	return g_strdup_printf("{ name = \"%s\"; label = \"%s\"; ip = \"%s\"; platform = \"linux\";\n"
			       "  interface = \"%s\"; agent_port = 8000;%s }",
			       name, name, ip, tap, info_key);
}

void
load_text(Fixture *f, const char *conf)
{
	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->setup);
	if (f->setup->machineries->len > 0)
		f->qemu = g_ptr_array_index(f->setup->machineries, 0);
}

void
load(Fixture *f, const char *machines)
{
	g_autofree char *conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
						"stop_timeout = 5;\nmachines = ( %s );\n",
						f->overlays, machines);

	load_text(f, conf);
}

void
assert_clean_load(Fixture *f)
{
	for (guint i = 0; i < nbx_diagnostics_count(f->diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(f->diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 0);
}

void
unload(Fixture *f)
{
	drain_main_loop();
	g_clear_pointer(&f->setup, nbx_setup_free);
	drain_main_loop();
	g_clear_pointer(&f->diagnostics, nbx_diagnostics_free);
	f->qemu = NULL;
}

void
set_up(Fixture *f, gconstpointer data)
{
	f->guest_dir = g_strdup(env("NBX_QEMU_TEST_GUEST_DIR"));
	f->dir = test_config_dir_new(env("NBX_QEMU_TEST_PLUGIN_DIR"), "\"qemu\"");
	f->overlays = g_build_filename(f->dir, "overlays", NULL);
	g_assert_cmpint(g_mkdir(f->overlays, 0750), ==, 0);
	f->info = load_info(f->guest_dir);
	nbx_host_services_set_main_thread();
}

guint
count_files(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	guint n = 0;

	while (handle != NULL && g_dir_read_name(handle) != NULL)
		n++;
	return n;
}

void
drain_main_loop(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

void
tear_down(Fixture *f, gconstpointer data)
{
	drain_main_loop();
	if (f->setup != NULL)
		nbx_setup_free(f->setup);
	drain_main_loop();
	if (f->diagnostics != NULL)
		nbx_diagnostics_free(f->diagnostics);
	json_object_unref(f->info);
	test_dir_remove(f->dir);
	g_free(f->dir);
	g_free(f->overlays);
	g_free(f->guest_dir);
}

typedef struct {
	void (*fn)(gpointer data);
	gpointer data;
	gint done;
} Worker;

static gpointer
worker_main(gpointer data)
{
	Worker *worker = data;

	worker->fn(worker->data);
	g_atomic_int_set(&worker->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

void
run_on_worker(void (*fn)(gpointer data), gpointer data)
{
	Worker worker = { .fn = fn, .data = data };

	g_thread_unref(g_thread_new("op", worker_main, &worker));
	while (!g_atomic_int_get(&worker.done))
		g_main_context_iteration(NULL, TRUE);
	drain_main_loop();
}

gint32
pool_state(Fixture *f, const char *name)
{
	NbxMachine *machine = nbx_machine_pool_lookup(f->setup->pool, name);
	return nbx_machine_get_hypervisor_state(machine, NULL);
}

static void G_GNUC_PRINTF(1, 2)
ip_command(const char *format, ...)
{
	g_autofree char *args = NULL;
	g_autofree char *command = NULL;
	g_autoptr(GError) error = NULL;
	int status = 0;
	va_list ap;

	va_start(ap, format);
	args = g_strdup_vprintf(format, ap);
	va_end(ap);
	command = g_strconcat("ip ", args, NULL);

	g_assert_true(g_spawn_command_line_sync(command, NULL, NULL, &status, &error));
	g_assert_no_error(error);
}

void
route_to(Fixture *f, const char *tap)
{
	const char *host_ip = json_object_get_string_member(f->info, "host_ip");
	gint64 prefix = json_object_get_int_member(f->info, "netmask_prefix");

	ip_command("addr flush dev %s", env("NBX_QEMU_TEST_TAP0"));
	ip_command("addr flush dev %s", env("NBX_QEMU_TEST_TAP1"));
	ip_command("addr flush dev %s", env("NBX_QEMU_TEST_BRIDGE"));
	ip_command("neigh flush all");
	ip_command("addr add %s/%" G_GINT64_FORMAT " dev %s", host_ip, prefix, tap);
}

/* One HTTP GET to the guest agent; the body, or NULL. */
static char *
agent_get(const char *ip, int port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval timeout = { .tv_sec = 1 };
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	GString *answer = g_string_new(NULL);
	char buf[1024];
	ssize_t got;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &address.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	/* MSG_NOSIGNAL: a guest that resets the connection is a retry, not a SIGPIPE. */
	if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
	    send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1)) {
		close(fd);
		return g_string_free(answer, TRUE);
	}
	while ((got = read(fd, buf, sizeof buf)) > 0)
		g_string_append_len(answer, buf, got);
	close(fd);
	return g_string_free(answer, FALSE);
}

void
assert_agent_answers(Fixture *f)
{
	const char *ip = json_object_get_string_member(f->info, "ip");
	const char *expect = json_object_get_string_member(f->info, "agent_expect");
	gint64 until = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	/* TCG guests are slow on a busy host: the deadline only catches a guest that hangs. */
	while (g_get_monotonic_time() < until) {
		g_autofree char *answer = agent_get(ip, 8000);

		drain_main_loop();
		if (answer != NULL && strstr(answer, expect) != NULL)
			return;
		g_usleep(100000);
	}
	g_error("the agent at %s:8000 did not answer \"%s\" within %d s", ip, expect,
		TEST_HANG_GUARD_S);
}

pid_t
find_qemu_with(const char *needle)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const char *name;

	while ((name = g_dir_read_name(proc)) != NULL) {
		g_autofree char *stat_path = g_strdup_printf("/proc/%s/stat", name);
		g_autofree char *cmdline_path = g_strdup_printf("/proc/%s/cmdline", name);
		g_autofree char *stat = NULL;
		g_autofree char *cmdline = NULL;
		gsize len = 0;
		const char *after_comm;
		int ppid = 0;

		if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(stat_path, &stat, NULL, NULL) ||
		    (after_comm = strrchr(stat, ')')) == NULL ||
		    sscanf(after_comm, ") %*c %d", &ppid) != 1 || ppid != getpid() ||
		    !g_file_get_contents(cmdline_path, &cmdline, &len, NULL))
			continue;
		for (gsize i = 0; i + 1 < len; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		if (strstr(cmdline, needle) != NULL)
			return (pid_t)g_ascii_strtoll(name, NULL, 10);
	}
	return 0;
}

pid_t
find_qemu(Fixture *f, const char *machine)
{
	g_autofree char *needle = g_strdup_printf("%s/%s-", f->overlays, machine);

	return find_qemu_with(needle);
}

static void
collect_note(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
	g_ptr_array_add(data, g_strdup(message));
}

GPtrArray *
load_text_collecting_notes(Fixture *f, const char *conf)
{
	GPtrArray *notes = g_ptr_array_new_with_free_func(g_free);
	guint handler = g_log_set_handler("nestbox", G_LOG_LEVEL_INFO, collect_note, notes);

	load_text(f, conf);
	g_log_remove_handler("nestbox", handler);
	return notes;
}

GPtrArray *
load_collecting_notes(Fixture *f, const char *machines)
{
	g_autofree char *conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
						"stop_timeout = 5;\nmachines = ( %s );\n",
						f->overlays, machines);

	return load_text_collecting_notes(f, conf);
}

const char *
find_note(GPtrArray *notes, const char *needle)
{
	for (guint i = 0; i < notes->len; i++)
		if (strstr(g_ptr_array_index(notes, i), needle) != NULL)
			return g_ptr_array_index(notes, i);
	for (guint i = 0; i < notes->len; i++)
		g_printerr("note: %s\n", (const char *)g_ptr_array_index(notes, i));
	return NULL;
}

char *
qemu_owned_dir(Fixture *f)
{
	char *dir = g_build_filename(f->dir, "outside", NULL);

	if (g_mkdir(dir, 0700) == 0)
		g_assert_cmpint(chown(dir, NBX_QEMU_TEST_UID_BASE, NBX_QEMU_TEST_UID_BASE), ==, 0);
	g_assert_true(g_file_test(dir, G_FILE_TEST_IS_DIR));
	g_assert_cmpint(chmod(f->dir, 0711), ==, 0);
	return dir;
}

void
shell(const char *script)
{
	const char *argv[] = { "sh", "-ec", script, NULL };
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(status, NULL));
}

gboolean
process_lives(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	const char *after_comm;

	if (!g_file_get_contents(path, &stat, NULL, NULL) ||
	    (after_comm = strrchr(stat, ')')) == NULL)
		return FALSE;
	return after_comm[2] != 'Z' && after_comm[2] != 'X';
}

char *
cmdline_of(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	char *cmdline = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &cmdline, &len, NULL));
	for (gsize i = 0; i + 1 < len; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	return cmdline;
}

/*
 * In the maker, before exec: a test that dies first (a failed assertion)
 * takes the maker with it, instead of leaving it to hold the test's stderr
 * open and meson waiting for the end of it.
 */
static void
die_with_test(gpointer data)
{
	(void)data;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

GPid
orphan_maker_start(Fixture *f, const char *run_dir, const char *info, const char *mode,
		   const char *state_dir, int *out)
{
	g_autofree char *plugin = g_build_filename(env("NBX_QEMU_TEST_PLUGIN_DIR"), "qemu.so", NULL);
	const char *argv[] = { env("NBX_QEMU_TEST_ORPHAN_MAKER"), plugin, run_dir, f->overlays,
			       info, env("NBX_QEMU_TEST_TAP0"), mode, NULL };
	g_auto(GStrv) envp = g_get_environ();
	g_autoptr(GError) error = NULL;
	GPid maker;

	if (state_dir != NULL)
		envp = g_environ_setenv(envp, "NBX_ORPHAN_STATE_DIR", state_dir, TRUE);
	/* Orphans come to this process, not to init: the test can reap them. */
	g_assert_cmpint(prctl(PR_SET_CHILD_SUBREAPER, 1), ==, 0);
	g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, envp,
					       G_SPAWN_DO_NOT_REAP_CHILD, die_with_test, NULL, &maker,
					       NULL, out, NULL, &error));
	g_assert_no_error(error);
	return maker;
}

void
orphan_maker_wait_ready(int out)
{
	char line[16] = { 0 };
	size_t got = 0;

	while (got < sizeof line - 1 && read(out, line + got, 1) == 1 && line[got] != '\n')
		got++;
	close(out);
	g_assert_cmpstr(line, ==, "ready\n");
}

void
orphan_maker_kill(GPid maker)
{
	int status;

	g_assert_cmpint(kill(maker, SIGKILL), ==, 0);
	g_assert_cmpint(waitpid(maker, &status, 0), ==, maker);
	g_spawn_close_pid(maker);
}

char *
new_dir(Fixture *f, const char *name)
{
	char *dir = g_build_filename(f->dir, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0750), ==, 0);
	return dir;
}

/* The value of "@key:" in /proc/@pid/status, stripped. */
static char *
status_field(pid_t pid, const char *key)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++)
		if (g_str_has_prefix(lines[i], key) && lines[i][strlen(key)] == ':')
			return g_strstrip(g_strdup(lines[i] + strlen(key) + 1));
	return NULL;
}

void
assert_qemu_identity(pid_t pid, guint id)
{
	g_autofree char *expect = g_strdup_printf("%u\t%u\t%u\t%u", id, id, id, id);
	g_autofree char *uid = status_field(pid, "Uid");
	g_autofree char *gid = status_field(pid, "Gid");
	g_autofree char *groups = status_field(pid, "Groups");
	g_autofree char *seccomp = status_field(pid, "Seccomp");

	g_assert_cmpstr(uid, ==, expect);
	g_assert_cmpstr(gid, ==, expect);
	/* TCG: no kvm group, and none of the daemon's groups. */
	g_assert_cmpstr(groups, ==, "");
	g_assert_cmpstr(seccomp, ==, "2");
}
