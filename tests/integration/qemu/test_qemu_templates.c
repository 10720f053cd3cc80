/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory templates and prepared runs of the qemu machinery (issue 17)
 * against the real demo guest under TCG: a template made at the first
 * restore of a classic generation 0, at a commit and at an import; a
 * poisoned or outdated template rebuilt; a prepared run that a restore
 * uses (same QEMU, no stream of the RAM's size read), that discard, stop
 * and a daemon killed with -9 leave nothing of; exports that still carry
 * the portable stream.
 *
 * Runs inside the network namespace run-in-netns.sh creates; machine "a"
 * on the first tap device.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu_test_call.h"
#include "qemu_test_fixture.h"

/* A call of @op on generation @generation (NULL: 0). */
static Call *
call_on(Fixture *f, Op op, const char *generation)
{
	Call *c = call_new(f, op);

	c->generation = generation;
	return c;
}

static void
op_ok(Fixture *f, Op op, const char *generation)
{
	g_autoptr(Call) c = run(call_on(f, op, generation));

	if (!c->ok)
		g_printerr("op %d failed: %s\n", op, c->err.message);
	g_assert_true(c->ok);
}

/* ---- what the tests look at ----------------------------------------------- */

static void
load_a(Fixture *f, const char *extra_conf, void (*edit)(JsonObject *info, Fixture *f))
{
	g_autofree char *info = write_info(f, "machineinfo.json", edit);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
						"stop_timeout = 5;\n%smachines = ( %s );\n",
						f->overlays, extra_conf != NULL ? extra_conf : "",
						machine);

	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->setup);
	assert_clean_load(f);
	f->qemu = g_ptr_array_index(f->setup->machineries, 0);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
}

static JsonObject *
read_json(const char *path)
{
	g_autoptr(JsonParser) parser = json_parser_new();

	if (!json_parser_load_from_file(parser, path, NULL))
		return NULL;
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* The directory of base @base's template made from stream @source, or NULL. */
static char *
template_of(Fixture *f, const char *base, const char *source)
{
	g_autofree char *root = g_build_filename(f->qemu->state_dir, "templates", base, NULL);
	g_autoptr(GDir) handle = g_dir_open(root, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *dir = g_build_filename(root, name, NULL);
		g_autofree char *path = g_build_filename(dir, "template.json", NULL);
		g_autoptr(JsonObject) record = read_json(path);

		if (record != NULL &&
		    g_strcmp0(json_object_get_string_member_with_default(record, "source", NULL),
			      source) == 0)
			return g_steal_pointer(&dir);
	}
	return NULL;
}

static char *
in_dir(const char *dir, const char *name)
{
	return g_build_filename(dir, name, NULL);
}

/* "INODE SIZE CTIME" of @dir/@name: what the plugin records, to see whether it changed. */
static char *
identity(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	struct stat st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return g_strdup_printf("%ju %jd %jd.%09ld", (uintmax_t)st.st_ino, (intmax_t)st.st_size,
			       (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

static void
assert_identity(const char *dir, const char *name, const char *expected)
{
	g_autofree char *now = identity(dir, name);

	g_assert_cmpstr(now, ==, expected);
}

static char *
sha256_of(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autoptr(GMappedFile) file = g_mapped_file_new(path, FALSE, NULL);

	g_assert_nonnull(file);
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256,
					   (const guchar *)g_mapped_file_get_contents(file),
					   g_mapped_file_get_length(file));
}

static void
assert_sha256(const char *dir, const char *name, const char *expected)
{
	g_autofree char *now = sha256_of(dir, name);

	g_assert_cmpstr(now, ==, expected);
}

static goffset
size_of(const char *path)
{
	struct stat st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_size;
}

/* The size of the demo guest's stream once decompressed: what a classic restore reads. */
static guint64
raw_stream_size(Fixture *f)
{
	g_autofree char *script = g_strdup_printf(
		"zstd -qdc '%s' | wc -c", json_object_get_string_member(f->info, "memory_snapshot"));
	const char *argv[] = { "sh", "-c", script, NULL };
	g_autofree char *out = NULL;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   &out, NULL, NULL, NULL));
	return g_ascii_strtoull(out, NULL, 10);
}

/* Bytes process @pid has read so far (rchar of /proc/PID/io). */
static guint64
bytes_read(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/io", (int)pid);
	g_autofree char *text = NULL;
	const char *at;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	at = strstr(text, "rchar: ");
	g_assert_nonnull(at);
	return g_ascii_strtoull(at + strlen("rchar: "), NULL, 10);
}

static int32_t
state_of(Fixture *f)
{
	g_autoptr(Call) c = run(call_new(f, STATE));

	g_assert_true(c->ok);
	return c->state;
}

static void
assert_nothing_runs(Fixture *f)
{
	g_autofree char *record = g_build_filename(f->qemu->run_dir, "a.run", NULL);

	g_assert_cmpint(find_qemu(f, "a"), ==, 0);
	g_assert_cmpuint(count_files(f->overlays), ==, 0);
	g_assert_false(g_file_test(record, G_FILE_TEST_EXISTS));
	g_assert_cmpint(pool_state(f, "a"), !=, NBX_MACHINE_RUNNING);
	g_assert_cmpint(state_of(f), ==, NBX_MACHINE_POWEROFF);
}

static void
restore_and_check(Fixture *f, const char *generation, const char *template_dir)
{
	static const char backend[] = "-object memory-backend-file,id=pc.ram,mem-path=/proc/self/fd/";
	g_autofree char *cmdline = NULL;
	g_autofree char *ram = in_dir(template_dir, "template.ram");
	g_autofree char *fd_link = NULL;
	g_autofree char *opened = NULL;
	const char *at;
	pid_t qemu;

	op_ok(f, RESTORE, generation);
	qemu = find_qemu(f, "a");
	cmdline = cmdline_of(qemu);
	g_test_message("%s", cmdline);
	/* The RAM file went in as a descriptor of the plugin's (the QEMU is contained). */
	at = strstr(cmdline, backend);
	g_assert_nonnull(at);
	g_assert_nonnull(strstr(at, ",size=256M,share=off"));
	fd_link = g_strdup_printf("/proc/%d/fd/%d", (int)qemu,
				  (int)g_ascii_strtoll(at + strlen(backend), NULL, 10));
	opened = g_file_read_link(fd_link, NULL);
	g_assert_cmpstr(opened, ==, ram);
	g_assert_nonnull(strstr(cmdline, "-machine memory-backend=pc.ram"));
	assert_agent_answers(f);
	op_ok(f, STOP, NULL);
	assert_nothing_runs(f);
}

/* ---- cases ------------------------------------------------------------------ */

/*
 * A classic generation 0 gets its template once, at its first restore:
 * RAM in a file (the guest's size), device state a fraction of the stream;
 * later restores use it as it is, and running guests never change it.
 */
static void
test_made_at_first_restore(Fixture *f, gconstpointer data)
{
	const char *stream = json_object_get_string_member(f->info, "memory_snapshot");
	g_autofree char *dir = NULL;
	g_autofree char *ram = NULL;
	g_autofree char *state = NULL;
	g_autofree char *record_before = NULL;
	g_autofree char *ram_before = NULL;
	g_autofree char *sum_before = NULL;
	g_autoptr(GPtrArray) notes = NULL;
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	guint64 raw = raw_stream_size(f);

	notes = load_collecting_notes(f, machine);
	assert_clean_load(f);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
	g_assert_nonnull(find_note(notes, "machine a: restores from a memory template"));
	g_assert_null(template_of(f, "a", stream));

	op_ok(f, RESTORE, NULL);
	dir = template_of(f, "a", stream);
	g_assert_nonnull(dir);
	ram = in_dir(dir, "template.ram");
	state = in_dir(dir, "template.state");
	g_test_message("template %s: RAM %" G_GOFFSET_FORMAT " bytes, state %" G_GOFFSET_FORMAT
		       " bytes, stream %" G_GUINT64_FORMAT " bytes",
		       dir, size_of(ram), size_of(state), raw);
	g_assert_cmpint(size_of(ram), ==, 256 << 20);
	g_assert_cmpint(size_of(state), <, (goffset)(raw / 8));
	assert_agent_answers(f);
	op_ok(f, STOP, NULL);
	assert_nothing_runs(f);

	/* Made once: the next restores map it as it is, and leave it as it was. */
	record_before = identity(dir, "template.json");
	ram_before = identity(dir, "template.ram");
	sum_before = sha256_of(dir, "template.ram");
	restore_and_check(f, NULL, dir);
	restore_and_check(f, NULL, dir);
	assert_identity(dir, "template.json", record_before);
	assert_identity(dir, "template.ram", ram_before);
	assert_sha256(dir, "template.ram", sum_before);
	/* Only the daemon's user enters a base's templates. */
	{
		g_autofree char *base = g_path_get_dirname(dir);
		struct stat st;

		g_assert_cmpint(g_stat(base, &st), ==, 0);
		g_assert_cmpint(st.st_mode & 0777, ==, 0700);
		g_assert_cmpint(g_stat(ram, &st), ==, 0);
		/*
		 * Never other's; the group bits are the ACL's mask, which lets
		 * only the machine's QEMU user in (template_access.h; the
		 * qemu-containment test opens it as that user and another).
		 */
		g_assert_cmpint(st.st_mode & 0007, ==, 0);
	}
}

static void
poison(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	/* What a QEMU taken over by its guest could do through its read-write descriptor. */
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, "poison", 6, 1 << 20), ==, 6);
	g_assert_cmpint(close(fd), ==, 0);
}

static void
set_record_member(const char *record, const char *member, const char *value)
{
	g_autoptr(JsonObject) object = read_json(record);
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;

	json_object_set_string_member(object, member, value);
	json_node_set_object(root, object);
	text = json_to_string(root, TRUE);
	g_assert_true(g_file_set_contents(record, text, -1, NULL));
}

/*
 * A template written after it was made (poisoned) is rebuilt before
 * anything restores from it, and so is one made by another QEMU; the
 * rebuilt RAM is the stream's again.
 */
static void
test_poisoned_rebuilt(Fixture *f, gconstpointer data)
{
	const char *stream = json_object_get_string_member(f->info, "memory_snapshot");
	g_autofree char *dir = NULL;
	g_autofree char *ram = NULL;
	g_autofree char *record = NULL;
	g_autofree char *clean_sum = NULL;
	g_autofree char *poisoned = NULL;
	g_autofree char *rebuilt = NULL;

	load_a(f, NULL, NULL);
	op_ok(f, RESTORE, NULL);
	op_ok(f, STOP, NULL);
	dir = template_of(f, "a", stream);
	g_assert_nonnull(dir);
	ram = in_dir(dir, "template.ram");
	record = in_dir(dir, "template.json");
	clean_sum = sha256_of(dir, "template.ram");

	poison(ram);
	poisoned = identity(dir, "template.ram");
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: the memory template in * is rebuilt from *: "
			      "*template.ram changed since the template was made*");
	restore_and_check(f, NULL, dir);
	g_test_assert_expected_messages();
	rebuilt = identity(dir, "template.ram");
	g_assert_cmpstr(rebuilt, !=, poisoned);
	assert_sha256(dir, "template.ram", clean_sum);

	/* Made by a QEMU this host does not run: rebuilt, with the reason. */
	set_record_member(record, "qemu_version", "1.0.0");
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: the memory template in * is rebuilt from *: it was "
			      "made by QEMU 1.0.0, this host runs *");
	restore_and_check(f, NULL, dir);
	g_test_assert_expected_messages();
	assert_sha256(dir, "template.ram", clean_sum);
}

/*
 * A prepared run: QEMU started with the template mapped, waiting; the
 * machine still off to the core. restore_start then uses that QEMU and
 * reads only the device state, not a stream the size of the RAM.
 */
static void
test_prepared_run(Fixture *f, gconstpointer data)
{
	g_autofree char *record = NULL;
	guint64 raw = raw_stream_size(f);
	guint64 before, read_by_restore;
	pid_t pid;

	load_a(f, NULL, NULL);
	record = g_build_filename(f->qemu->run_dir, "a.run", NULL);
	op_ok(f, PREPARE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	g_assert_true(g_file_test(record, G_FILE_TEST_EXISTS));
	/* Spawned as contained as any run: the machine's own uid, seccomp. */
	assert_qemu_identity(pid, NBX_QEMU_TEST_UID_BASE);
	/* Off to the core: it neither heard otherwise nor learns otherwise by asking. */
	g_assert_cmpint(pool_state(f, "a"), !=, NBX_MACHINE_RUNNING);
	g_assert_cmpint(state_of(f), ==, NBX_MACHINE_POWEROFF);
	/* Prepared again for the same generation: nothing changes. */
	op_ok(f, PREPARE, NULL);
	g_assert_cmpint(find_qemu(f, "a"), ==, pid);

	before = bytes_read(pid);
	op_ok(f, RESTORE, NULL);
	read_by_restore = bytes_read(pid) - before;
	g_test_message("the restore made QEMU read %" G_GUINT64_FORMAT " bytes; the stream is %"
		       G_GUINT64_FORMAT, read_by_restore, raw);
	g_assert_cmpint(find_qemu(f, "a"), ==, pid);
	g_assert_cmpint(pool_state(f, "a"), ==, NBX_MACHINE_RUNNING);
	g_assert_cmpuint(read_by_restore, <, raw / 8);
	assert_agent_answers(f);
	op_ok(f, STOP, NULL);
	assert_nothing_runs(f);

	/* Discard, and stop, leave nothing of a prepared run. */
	op_ok(f, PREPARE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(pid, >, 0);
	op_ok(f, DISCARD, NULL);
	g_assert_false(process_lives(pid));
	assert_nothing_runs(f);
	op_ok(f, DISCARD, NULL);
	op_ok(f, PREPARE, NULL);
	pid = find_qemu(f, "a");
	op_ok(f, STOP, NULL);
	g_assert_false(process_lives(pid));
	assert_nothing_runs(f);

	/* A prepared run whose QEMU died is not used: the restore goes the slow way. */
	op_ok(f, PREPARE, NULL);
	pid = find_qemu(f, "a");
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	/* Until the core has reaped it (and told the plugin, in the same dispatch). */
	while (kill(pid, 0) == 0)
		g_main_context_iteration(NULL, TRUE);
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: its prepared run is thrown away: its QEMU has ended");
	op_ok(f, RESTORE, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(find_qemu(f, "a"), !=, pid);
	assert_agent_answers(f);
	op_ok(f, STOP, NULL);
	assert_nothing_runs(f);
}

/* A daemon killed with -9 while it held a prepared run: the next one's init leaves nothing. */
static void
test_prepared_run_orphaned(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *run_dir = NULL;
	g_autofree char *record_path = NULL;
	g_autofree char *overlay = NULL;
	g_autoptr(GKeyFile) record = g_key_file_new();
	g_autoptr(GError) error = NULL;
	int out, status;
	GPid maker;
	pid_t qemu;

	load_a(f, NULL, NULL);
	run_dir = g_strdup(f->qemu->run_dir);
	unload(f);
	maker = orphan_maker_start(f, run_dir, info, "prepare", NULL, &out);
	orphan_maker_wait_ready(out);
	record_path = g_build_filename(run_dir, "a.run", NULL);
	g_assert_true(g_key_file_load_from_file(record, record_path, G_KEY_FILE_NONE, &error));
	g_assert_no_error(error);
	qemu = (pid_t)g_key_file_get_int64(record, "run", "pid", NULL);
	overlay = g_key_file_get_string(record, "run", "overlay", NULL);
	g_assert_cmpint(qemu, >, 0);
	g_assert_true(g_file_test(overlay, G_FILE_TEST_EXISTS));
	orphan_maker_kill(maker);
	g_assert_true(process_lives(qemu));

	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: cleaned up after dead daemon pid *: its QEMU pid * "
			      "was killed with SIGTERM; removed overlay *");
	load_a(f, NULL, NULL);
	g_test_assert_expected_messages();
	g_assert_false(process_lives(qemu));
	g_assert_cmpint(waitpid(qemu, &status, 0), ==, qemu);
	g_assert_false(g_file_test(overlay, G_FILE_TEST_EXISTS));
	assert_nothing_runs(f);
}

/* The files of @generation as snapshot_files lists them ("ROLE PATH"). */
static GPtrArray *
files_of(Fixture *f, const char *generation)
{
	g_autoptr(Call) c = run(call_on(f, FILES, generation));
	GPtrArray *files = g_ptr_array_ref(c->files);

	g_assert_true(c->ok);
	return files;
}

/*
 * Templates are made where generations are made: at a commit (a new file:
 * the session's guest maps nothing of it) and at an import; an export
 * still lists the portable stream, never a template; snapshot_remove
 * takes the template with the generation; a prepared run of another
 * generation is thrown away.
 */
static void
test_commit_import_export(Fixture *f, gconstpointer data)
{
	g_autofree char *work = new_dir(f, "s1");
	g_autofree char *gen = new_dir(f, "gens/1");
	g_autofree char *imported = new_dir(f, "imports/1");
	g_autofree char *gen_stream = NULL;
	g_autofree char *gen_template = NULL;
	g_autofree char *imported_template = NULL;
	g_autofree char *imported_stream = NULL;
	g_autofree char *record_before = NULL;
	g_autofree char *copy = NULL;
	g_autoptr(GPtrArray) files = NULL;
	g_autoptr(Call) begin = NULL;
	g_autoptr(Call) commit = NULL;
	pid_t prepared;

	load_a(f, NULL, NULL);
	begin = call_new(f, BEGIN);
	begin->session.work_dir = work;
	g_assert_true(run(begin)->ok);
	assert_agent_answers(f);
	commit = call_new(f, COMMIT);
	commit->session.work_dir = work;
	commit->session.new_dir = gen;
	g_assert_true(run(commit)->ok);
	gen_stream = in_dir(gen, "memory.zst");
	gen_template = template_of(f, "a", gen_stream);
	g_assert_nonnull(gen_template);

	/* The export: description, disk, the stream, fingerprint; no template file. */
	files = files_of(f, gen);
	for (guint i = 0; i < files->len; i++) {
		const char *entry = g_ptr_array_index(files, i);

		g_test_message("file %s", entry);
		g_assert_null(strstr(entry, "template"));
		if (atoi(entry) == NBX_SNAPSHOT_FILE_MEMORY)
			g_assert_cmpstr(strchr(entry, ' ') + 1, ==, gen_stream);
	}

	/* The commit made it: the restore uses it and makes nothing. */
	record_before = identity(gen_template, "template.json");
	restore_and_check(f, gen, gen_template);
	assert_identity(gen_template, "template.json", record_before);

	/* Prepared for generation 1, restored from 0: the prepared run goes. */
	op_ok(f, PREPARE, gen);
	prepared = find_qemu(f, "a");
	g_assert_cmpint(prepared, >, 0);
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a: its prepared run is thrown away: another generation "
			      "is to be restored");
	op_ok(f, RESTORE, NULL);
	g_test_assert_expected_messages();
	g_assert_false(process_lives(prepared));
	g_assert_cmpint(find_qemu(f, "a"), !=, prepared);
	op_ok(f, STOP, NULL);
	assert_nothing_runs(f);

	/* An import of generation 1's export (what the core unpacks, by base name) gets its template. */
	for (guint i = 0; i < files->len; i++) {
		g_free(copy);
		copy = g_strdup_printf("cp '%s' '%s'/", strchr(g_ptr_array_index(files, i), ' ') + 1,
				       imported);
		shell(copy);
	}
	op_ok(f, IMPORT, imported);
	imported_stream = in_dir(imported, "memory.zst");
	imported_template = template_of(f, "a", imported_stream);
	g_assert_nonnull(imported_template);
	restore_and_check(f, imported, imported_template);

	/* The core removes a generation: its template goes first. */
	op_ok(f, REMOVE, imported);
	g_assert_false(g_file_test(imported_template, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(gen_template, G_FILE_TEST_EXISTS));
}

static void
add_balloon(JsonObject *info, Fixture *f)
{
	JsonArray *args = json_object_get_array_member(info, "start_args");

	json_array_add_string_element(args, "-device");
	json_array_add_string_element(args, "virtio-balloon-pci");
}

/* restore_method = "stream", and guests a template would not suit: --check says why. */
static void
test_stream_method(Fixture *f, gconstpointer data)
{
	g_autofree char *info = write_info(f, "machineinfo.json", NULL);
	g_autofree char *balloon = write_info(f, "balloon.json", add_balloon);
	g_autofree char *machine = machine_conf("a", "10.213.0.10", env("NBX_QEMU_TEST_TAP0"), info);
	g_autofree char *other = machine_conf("b", "10.213.0.12", env("NBX_QEMU_TEST_TAP1"), balloon);
	g_autofree char *machines = g_strconcat(machine, ",\n", other, NULL);
	g_autofree char *conf = g_strdup_printf("accelerator = \"tcg\";\noverlay_dir = \"%s\";\n"
						"restore_method = \"stream\";\nmachines = ( %s );\n",
						f->overlays, machines);
	g_autofree char *templates = NULL;
	g_autofree char *cmdline = NULL;
	g_autoptr(GPtrArray) notes = NULL;

	notes = load_text_collecting_notes(f, conf);
	g_assert_nonnull(find_note(notes, "machine a: restores from its memory stream: "
					  "restore_method = \"stream\""));
	unload(f);
	/* With templates on, the ballooned one still streams: a balloon would punch the file. */
	g_clear_pointer(&notes, g_ptr_array_unref);
	notes = load_collecting_notes(f, machines);
	assert_clean_load(f);
	g_assert_nonnull(find_note(notes, "machine a: restores from a memory template"));
	g_assert_nonnull(find_note(notes, "machine b: restores from its memory stream: start_args "
					  "have a virtio-balloon device"));
	unload(f);

	test_write(f->dir, "machinery/qemu.conf", conf);
	f->diagnostics = nbx_diagnostics_new();
	f->setup = nbx_setup_load(f->dir, NULL, f->diagnostics);
	f->qemu = g_ptr_array_index(f->setup->machineries, 0);
	route_to(f, env("NBX_QEMU_TEST_TAP0"));
	op_ok(f, RESTORE, NULL);
	cmdline = cmdline_of(find_qemu(f, "a"));
	g_assert_null(strstr(cmdline, "memory-backend-file"));
	assert_agent_answers(f);
	op_ok(f, STOP, NULL);
	templates = g_build_filename(f->qemu->state_dir, "templates", "a", NULL);
	g_assert_false(g_file_test(templates, G_FILE_TEST_EXISTS));
}


static char *fifo_path;

/* A stream that never comes: the conversion waits for it with its QEMU started. */
static void
set_fifo_snapshot(JsonObject *info, Fixture *f)
{
	json_object_set_string_member(info, "memory_snapshot", fifo_path);
}

/* The record of a template's conversion QEMU in @run_dir once it names a pid, or NULL. */
static char *
conversion_record(const char *run_dir)
{
	g_autoptr(GDir) handle = g_dir_open(run_dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = g_build_filename(run_dir, name, NULL);
		g_autoptr(GKeyFile) record = g_key_file_new();

		if (g_str_has_prefix(name, "a.template-") && g_str_has_suffix(name, ".run") &&
		    g_key_file_load_from_file(record, path, G_KEY_FILE_NONE, NULL) &&
		    g_key_file_get_int64(record, "run", "pid", NULL) > 0)
			return g_steal_pointer(&path);
	}
	return NULL;
}

/* What a conversion left under the templates of base a: its scratch directory, its new files. */
static guint
conversion_leftovers(const char *root)
{
	g_autofree char *base = g_build_filename(root, "a", NULL);
	g_autoptr(GDir) keys = g_dir_open(base, 0, NULL);
	const char *key;
	guint n = 0;

	while (keys != NULL && (key = g_dir_read_name(keys)) != NULL) {
		g_autofree char *work = g_build_filename(base, key, ".work", NULL);
		g_autofree char *ram = g_build_filename(base, key, "template.ram.new", NULL);

		n += g_file_test(work, G_FILE_TEST_EXISTS) + g_file_test(ram, G_FILE_TEST_EXISTS);
	}
	return n;
}

/*
 * A daemon killed with -9 while it made a template: the next one's init
 * ends the conversion's QEMU (it is in the run records like a run) and
 * removes its scratch files and the half-made RAM file.
 */
static void
test_conversion_orphaned(Fixture *f, gconstpointer data)
{
	g_autofree char *info = NULL;
	g_autofree char *run_dir = NULL;
	g_autofree char *state_dir = NULL;
	g_autofree char *templates = NULL;
	g_autofree char *record_path = NULL;
	g_autoptr(GKeyFile) record = g_key_file_new();
	g_autoptr(GError) error = NULL;
	gint64 until = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
	int out, status;
	GPid maker;
	pid_t qemu;

	fifo_path = g_build_filename(f->dir, "stream.fifo", NULL);
	g_assert_cmpint(mkfifo(fifo_path, 0600), ==, 0);
	load_a(f, NULL, set_fifo_snapshot);
	info = g_build_filename(f->dir, "machineinfo.json", NULL);
	run_dir = g_strdup(f->qemu->run_dir);
	state_dir = g_strdup(f->qemu->state_dir);
	templates = g_build_filename(state_dir, "templates", NULL);
	unload(f);
	maker = orphan_maker_start(f, run_dir, info, NULL, state_dir, &out);
	/* The conversion's QEMU runs, and the plugin waits for the stream. */
	while ((record_path = conversion_record(run_dir)) == NULL && g_get_monotonic_time() < until)
		g_usleep(20000);
	g_assert_nonnull(record_path);
	g_assert_true(g_key_file_load_from_file(record, record_path, G_KEY_FILE_NONE, &error));
	qemu = (pid_t)g_key_file_get_int64(record, "run", "pid", NULL);
	orphan_maker_kill(maker);
	close(out);
	g_assert_true(process_lives(qemu));
	g_assert_cmpuint(conversion_leftovers(templates), >, 0);

	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: machine a.template-*: cleaned up after dead daemon pid *: its "
			      "QEMU pid * was killed with SIGTERM; removed overlay *");
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING,
			      "qemu: removed what a template conversion that did not finish left "
			      "in *");
	load_a(f, NULL, set_fifo_snapshot);
	g_test_assert_expected_messages();
	g_assert_false(process_lives(qemu));
	g_assert_cmpint(waitpid(qemu, &status, 0), ==, qemu);
	g_assert_false(g_file_test(record_path, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(conversion_leftovers(templates), ==, 0);
	g_clear_pointer(&fifo_path, g_free);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add("/qemu/template/" path, Fixture, NULL, set_up, fn, tear_down)
	ADD("made-at-first-restore", test_made_at_first_restore);
	ADD("poisoned-rebuilt", test_poisoned_rebuilt);
	ADD("prepared-run", test_prepared_run);
	ADD("prepared-run-orphaned", test_prepared_run_orphaned);
	ADD("conversion-orphaned", test_conversion_orphaned);
	ADD("commit-import-export", test_commit_import_export);
	ADD("stream-method", test_stream_method);
	return g_test_run();
}
