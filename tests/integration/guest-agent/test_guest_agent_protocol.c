/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent guest plugin, as built, against a fake agent in a guest network
 * namespace: connect (each flavour, and every way an answer can be hostile),
 * upload (unicode names, a 50 MB sample streamed, an agent that stops
 * reading), download, list_files and agent_log.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "guest_agent_fixture.h"
#include "test_support.h"

#define LONG_MS 60000
/* Short deadlines, for the ops that must fail by them. */
#define SHORT_MS 3000

#define ABILITIES_ALL                                                                         \
	(NBX_GUEST_CAN_WATCH | NBX_GUEST_CAN_EXIT_CODE | NBX_GUEST_CAN_OUTPUT |               \
	 NBX_GUEST_CAN_LIST | NBX_GUEST_CAN_SET_CLOCK | NBX_GUEST_CAN_DOWNLOAD |              \
	 NBX_GUEST_CAN_AGENT_LOG)

/* ---- connect ---------------------------------------------------------------- */

static void
test_connect_cape(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonObject) report = NULL;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_cmpstr(f->info.name, ==, "CAPE Agent");
	g_assert_cmpstr(f->info.version, ==, "0.22");
	g_assert_cmpstr(f->info.features, ==,
			"execpy execute pinning logs largefile unicodepath subdir_upload");
	g_assert_cmphex(f->info.abilities, ==, ABILITIES_ALL);
	report = ga_report(f);
	g_assert_cmpstr(json_object_get_string_member(report, "agent_name"), ==, "CAPE Agent");
	g_assert_cmpstr(json_object_get_string_member(report, "run_method"), ==,
			"launcher through /execpy");
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(report, "agent_features")),
			 ==, 7);
	/* A pin would outlive the analysis (and be saved into a snapshot). */
	g_assert_cmpuint(ga_count_requests(f, "GET", "/pinning"), ==, 0);
	g_assert_cmpuint(ga_count_requests(f, "GET", "/kill"), ==, 0);
}

/*
 * The premise of every test here: only a thread inside the machine's network
 * namespace reaches the guest, so the plugin connects from the op's thread.
 */
static void
test_connect_from_op_thread(Fixture *f, gconstpointer data)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(ga_env("NBX_GA_GUEST_IP"));
	g_autoptr(GSocketAddress) agent = g_inet_socket_address_new(address, GA_AGENT_PORT);
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GError) error = NULL;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	g_socket_client_set_enable_proxy(client, FALSE);
	connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(agent), NULL, &error);
	g_assert_null(connection);
	g_assert_nonnull(error);
	ga_connect_ok(f);
}

static void
test_connect_cuckoo2(Fixture *f, gconstpointer data)
{
	const char *const cuckoo2[] = { "--flavor", "cuckoo2", NULL };

	ga_load(f, "", NULL);
	ga_start_agent(f, cuckoo2);
	ga_connect_ok(f);
	g_assert_cmpstr(f->info.name, ==, "Cuckoo Agent");
	g_assert_cmpstr(f->info.version, ==, "0.10");
	/* No "execute": commands go through the launcher and /execpy. */
	g_assert_cmphex(f->info.abilities, ==, ABILITIES_ALL);
}

static void
test_connect_cuckoo2_without_launcher(Fixture *f, gconstpointer data)
{
	const char *const cuckoo2[] = { "--flavor", "cuckoo2", NULL };
	const char *const argv[] = { "true", NULL };
	struct nbx_guest_command command = { .struct_size = sizeof command, .command = "true",
					     .argv = argv, .stdout_fd = -1, .stderr_fd = -1 };
	struct nbx_guest_process process = { .struct_size = sizeof process };
	struct nbx_error err;

	ga_load(f, "", "use_launcher = false;");
	ga_start_agent(f, cuckoo2);
	ga_connect_ok(f);
	g_assert_cmphex(f->info.abilities & (NBX_GUEST_CAN_EXIT_CODE | NBX_GUEST_CAN_WATCH |
					     NBX_GUEST_CAN_OUTPUT),
			==, 0);
	g_assert_false(ga_execute(f, &command, &process, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "use_launcher is off");
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execute"), ==, 0);
}

static void
test_connect_nothing_listens(Fixture *f, gconstpointer data)
{
	struct nbx_error err;

	ga_load(f, "retry_interval_ms = 100;", NULL);
	g_assert_false(ga_connect(f, SHORT_MS, &err));
	ga_assert_error(&err, NBX_ERROR_TIMEOUT, "did not answer before the step's deadline");
	ga_assert_error(&err, NBX_ERROR_TIMEOUT, "refused");
	g_assert_null(f->session);
}

/* The agent comes up while connect retries. */
static gpointer
start_agent_later(gpointer data)
{
	Fixture *f = data;
	g_autofree char *go = g_build_filename(f->agent_state, "listen", NULL);

	g_file_set_contents(go, "", 0, NULL);
	return NULL;
}

static void
test_connect_waits_for_agent(Fixture *f, gconstpointer data)
{
	g_autofree char *go = g_build_filename(f->agent_state, "listen", NULL);
	const char *const args[] = { "--listen-after", go, NULL };

	ga_load(f, "retry_interval_ms = 50;", NULL);
	ga_spawn_agent(f, args);
	/* The agent listens only once this file exists, after connect began. */
	g_thread_unref(g_thread_new("starter", start_agent_later, f));
	ga_connect_ok(f);
	g_assert_cmpstr(f->info.version, ==, "0.22");
}

/* An agent pinned to another address closes every connection without a word. */
static void
test_connect_pinned_elsewhere(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--pinned-to", "10.231.0.99", NULL };
	struct nbx_error err;

	ga_load(f, "retry_interval_ms = 100;", NULL);
	ga_start_agent(f, args);
	g_assert_false(ga_connect(f, SHORT_MS, &err));
	ga_assert_error(&err, NBX_ERROR_TIMEOUT,
			"did not answer before the step's deadline (last try: the agent at "
			"10.231.0.2:8000 closed the connection without answering GET / (agent.py "
			"pinned to another address does that))");
}

typedef struct {
	const char *fault;
	int32_t code;
	const char *message;
} ConnectFault;

static const ConnectFault connect_faults[] = {
	{ "silent", NBX_ERROR_TIMEOUT, "did not answer GET / within 1 s" },
	{ "garbage", NBX_ERROR_INVALID, "is not an HTTP agent" },
	{ "huge", NBX_ERROR_INVALID, "with more than the 65536 bytes this answer may have" },
	{ "huge_declared", NBX_ERROR_INVALID, "with 104857600 bytes, more than the 65536" },
	{ "deep_json", NBX_ERROR_INVALID, "JSON nested more than 8 levels deep" },
	{ "short_body", NBX_ERROR_IO, "broke off its answer to GET /" },
	{ "close_mid_body", NBX_ERROR_INVALID, "answered GET / with not JSON" },
	{ "trickle", NBX_ERROR_TIMEOUT, "did not answer GET / within 1 s" },
	{ "not_agent", NBX_ERROR_INVALID, "its answer to GET / has neither version nor features" },
	{ "not_found", NBX_ERROR_INVALID, "is not a Cuckoo/CAPE agent: GET / gave HTTP 404" },
};

static void
test_connect_fault(Fixture *f, gconstpointer data)
{
	const ConnectFault *fault = data;
	const char *const args[] = { "--fault", fault->fault, NULL };
	struct nbx_error err;

	ga_load(f, "request_timeout = 1;\nretry_interval_ms = 100;", NULL);
	ga_start_agent(f, args);
	g_assert_false(ga_connect(f, SHORT_MS, &err));
	ga_assert_error(&err, fault->code, fault->message);
	g_assert_null(f->session);
}

/* ---- upload --------------------------------------------------------------------- */

/* Bytes a multipart parser could trip on: CR, LF, dashes, NULs. */
static const char tricky[] = "\r\n--\r\n\0\xff\xfe--boundary\n\r";

static void
test_upload_unicode(Fixture *f, gconstpointer data)
{
	const char *name = "é ü 名前 sample.exe";
	g_autofree char *host = ga_write_file(f, "sample", tricky, 100003);
	g_autofree char *sent = NULL, *stored = NULL;
	g_autofree char *expected_dir = NULL;
	char guest_path[1024];
	gsize sent_length, stored_length;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_true(ga_upload(f, host, name, guest_path, sizeof guest_path, LONG_MS, NULL));
	g_assert_true(g_str_has_prefix(guest_path, f->agent_root));
	g_assert_true(g_str_has_suffix(guest_path, "/é ü 名前 sample.exe"));
	g_assert_true(g_file_get_contents(host, &sent, &sent_length, NULL));
	g_assert_true(g_file_get_contents(guest_path, &stored, &stored_length, NULL));
	g_assert_cmpmem(stored, stored_length, sent, sent_length);
	expected_dir = g_path_get_dirname(guest_path);
	g_assert_true(g_str_has_prefix(strrchr(expected_dir, '/') + 1, "nestbox-"));
}

static gint64
peak_rss_kib(void)
{
	g_autofree char *status = NULL;
	const char *line;

	g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
	line = strstr(status, "VmHWM:");
	g_assert_nonnull(line);
	return g_ascii_strtoll(line + strlen("VmHWM:"), NULL, 10);
}

/* Resets the peak (clear_refs 5), so only what follows counts. */
static void
reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "5", 1), ==, 1);
	close(fd);
}

static void
test_upload_50mb_streamed(Fixture *f, gconstpointer data)
{
	const gsize size = 50 * 1024 * 1024;
	g_autofree char *host = ga_write_file(f, "big", "0123456789abcdef\r\n--", size);
	char guest_path[1024];
	GStatBuf st;
	gint64 before;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	reset_peak_rss();
	before = peak_rss_kib();
	g_assert_true(ga_upload(f, host, "big.bin", guest_path, sizeof guest_path, LONG_MS, NULL));
	g_assert_cmpint(g_stat(guest_path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, size);
	/* Loaded whole, the sample alone would add 50 MiB. */
	g_assert_cmpint(peak_rss_kib() - before, <, 16 * 1024);
}

static void
test_upload_stalled(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--fault", "stall_upload", NULL };
	g_autofree char *host = ga_write_file(f, "sample", "x", 32 * 1024 * 1024);
	g_autofree char *stalled = g_build_filename(f->agent_state, "stalled", NULL);
	char guest_path[1024];
	struct nbx_error err;

	ga_load(f, "request_timeout = 2;", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_false(ga_upload(f, host, "sample", guest_path, sizeof guest_path, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_TIMEOUT, "stopped taking POST /store for 2 s (");
	ga_assert_error(&err, NBX_ERROR_TIMEOUT, " bytes of the request written)");
	g_assert_true(g_file_test(stalled, G_FILE_TEST_EXISTS));
}

static void
test_upload_stalled_past_deadline(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--fault", "stall_upload", NULL };
	g_autofree char *host = ga_write_file(f, "sample", "x", 32 * 1024 * 1024);
	char guest_path[1024];
	struct nbx_error err;

	ga_load(f, "request_timeout = 600;", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_false(ga_upload(f, host, "sample", guest_path, sizeof guest_path, SHORT_MS, &err));
	ga_assert_error(&err, NBX_ERROR_TIMEOUT,
			"POST /store to the agent at 10.231.0.2:8000 did not finish before the "
			"step's deadline");
}

static void
test_upload_refusals(Fixture *f, gconstpointer data)
{
	g_autofree char *host = ga_write_file(f, "sample", "x", 2000);
	char guest_path[1024], tiny[8];
	struct nbx_error err;

	ga_load(f, "max_upload_bytes = 1000;", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_false(ga_upload(f, host, "s", guest_path, sizeof guest_path, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "is 2000 bytes, more than max_upload_bytes (1000)");
	g_assert_false(ga_upload(f, host, "../s", guest_path, sizeof guest_path, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "is not a plain name");
	g_assert_cmpuint(ga_count_requests(f, "POST", "/store"), ==, 0);
	g_unlink(host);
	g_free(host);
	host = ga_write_file(f, "small", "x", 10);
	g_assert_false(ga_upload(f, host, "s", tiny, sizeof tiny, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "longer than the 7 bytes the core takes");
}

/* An agent that does not announce unicodepath gets ASCII names only. */
static void
test_upload_without_unicodepath(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--features", "execpy,execute", NULL };
	g_autofree char *host = ga_write_file(f, "sample", "x", 10);
	char guest_path[1024];
	struct nbx_error err;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_false(ga_upload(f, host, "名前.exe", guest_path, sizeof guest_path, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "does not announce unicodepath");
	g_assert_cmpuint(ga_count_requests(f, "POST", "/mkdtemp"), ==, 0);
	g_assert_true(ga_upload(f, host, "name.exe", guest_path, sizeof guest_path, LONG_MS, NULL));
}

/* A chunked body reads as empty on the real agents: every POST has a length. */
static void
test_requests_have_length(Fixture *f, gconstpointer data)
{
	g_autofree char *host = ga_write_file(f, "sample", "x", 1000);
	g_autoptr(GPtrArray) requests = NULL;
	char guest_path[1024];

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	g_assert_true(ga_upload(f, host, "s", guest_path, sizeof guest_path, LONG_MS, NULL));
	requests = ga_agent_requests(f);
	for (guint i = 0; i < requests->len; i++) {
		JsonObject *request = g_ptr_array_index(requests, i);

		if (!g_str_equal(json_object_get_string_member(request, "method"), "POST"))
			continue;
		g_assert_false(json_object_get_null_member(request, "content_length"));
		g_assert_true(json_object_get_null_member(request, "transfer_encoding"));
	}
}

/* ---- download, list_files, agent_log ------------------------------------------------ */

static void
test_download(Fixture *f, gconstpointer data)
{
	g_autofree char *guest = g_build_filename(f->agent_root, "dropped é.bin", NULL);
	g_autofree char *missing = g_build_filename(f->agent_root, "nothing", NULL);
	g_autofree char *read = NULL;
	int fd = -1;
	gint64 size = 0;
	gsize length;
	struct nbx_error err;

	g_assert_true(g_file_set_contents(guest, tricky, sizeof tricky, NULL));
	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	fd = ga_temp_fd(f);
	g_assert_true(ga_download(f, guest, fd, 1000, &size, LONG_MS, NULL));
	g_assert_cmpint(size, ==, sizeof tricky);
	read = ga_read_fd(fd, &length);
	g_assert_cmpmem(read, length, tricky, sizeof tricky);
	close(fd);

	fd = ga_temp_fd(f);
	g_assert_false(ga_download(f, missing, fd, 1000, &size, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_FOUND, "the guest has no file");
	g_assert_false(ga_download(f, guest, fd, 10, &size, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_INVALID, "is larger than the limit of 10 bytes");
	close(fd);
}

typedef struct {
	const char *fault;
	int32_t code;
	const char *message;
} DownloadFault;

static const DownloadFault download_faults[] = {
	{ "huge", NBX_ERROR_INVALID, "is larger than the limit of 1048576 bytes" },
	{ "short_body", NBX_ERROR_IO, "broke off its answer to POST /retrieve" },
	{ "silent", NBX_ERROR_TIMEOUT, "stopped answering POST /retrieve for 1 s" },
	{ "garbage", NBX_ERROR_INVALID, "is not an HTTP agent" },
};

static void
test_download_fault(Fixture *f, gconstpointer data)
{
	const DownloadFault *fault = data;
	const char *const args[] = { "--fault", fault->fault, "--fault-route", "/retrieve", NULL };
	g_autofree char *guest = g_build_filename(f->agent_root, "file", NULL);
	gint64 size = 0;
	struct nbx_error err;
	int fd;

	ga_load(f, "request_timeout = 1;", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	fd = ga_temp_fd(f);
	g_assert_false(ga_download(f, guest, fd, 1024 * 1024, &size, SHORT_MS, &err));
	ga_assert_error(&err, fault->code, fault->message);
	g_assert_cmpint(size, <=, 1024 * 1024);
	close(fd);
}

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void
list_and_check(Fixture *f)
{
	g_autofree char *pattern = g_build_filename(f->agent_root, "drop", "*.txt", NULL);
	g_autofree char *a = g_build_filename(f->agent_root, "drop", "a.txt", NULL);
	g_autofree char *b = g_build_filename(f->agent_root, "drop", "b é.txt", NULL);
	g_autofree char *c = g_build_filename(f->agent_root, "drop", "c.log", NULL);
	g_autofree char *sub = g_build_filename(f->agent_root, "drop", "d.txt", NULL);
	g_autofree char *expected_a = NULL, *expected_b = NULL;
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);

	test_write(f->agent_root, "drop/a.txt", "aaa");
	test_write(f->agent_root, "drop/b é.txt", "bbbbb");
	test_write(f->agent_root, "drop/c.log", "c");
	g_assert_cmpint(g_mkdir(sub, 0755), ==, 0); /* a directory: not listed */
	g_assert_true(ga_list_files(f, pattern, 100, found, LONG_MS, NULL));
	g_ptr_array_sort(found, compare_strings);
	expected_a = g_strdup_printf("%s 3", a);
	expected_b = g_strdup_printf("%s 5", b);
	g_assert_cmpuint(found->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(found, 0), ==, expected_a);
	g_assert_cmpstr(g_ptr_array_index(found, 1), ==, expected_b);
	g_ptr_array_set_size(found, 0);
	g_assert_true(ga_list_files(f, pattern, 1, found, LONG_MS, NULL));
	g_assert_cmpuint(found->len, ==, 1);
	(void)c;
}

static void
test_list_files_helper(Fixture *f, gconstpointer data)
{
	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	list_and_check(f);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/execpy"), ==, 2);
}

static void
test_list_files_nestbox(Fixture *f, gconstpointer data)
{
	const char *const nestbox[] = { "--flavor", "nestbox", NULL };

	ga_load(f, "", NULL);
	ga_start_agent(f, nestbox);
	ga_connect_ok(f);
	list_and_check(f);
	g_assert_cmpuint(ga_count_requests(f, "POST", "/list"), ==, 2);
}

static void
test_list_files_unsupported(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--features", "execute,logs", NULL };
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
	struct nbx_error err;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_cmphex(f->info.abilities & NBX_GUEST_CAN_LIST, ==, 0);
	g_assert_false(ga_list_files(f, "/tmp/*", 10, found, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "agent.py has no listing route");
}

static void
test_agent_log(Fixture *f, gconstpointer data)
{
	g_autofree char *log = NULL;
	int fd;

	ga_load(f, "", NULL);
	ga_start_agent(f, NULL);
	ga_connect_ok(f);
	fd = ga_temp_fd(f);
	g_assert_true(ga_agent_log(f, fd, 1 << 20, LONG_MS, NULL));
	log = ga_read_fd(fd, NULL);
	g_assert_nonnull(strstr(log, "fake agent started"));
	close(fd);
	fd = ga_temp_fd(f);
	g_assert_true(ga_agent_log(f, fd, 10, LONG_MS, NULL));
	g_free(log);
	log = ga_read_fd(fd, NULL);
	g_assert_cmpuint(strlen(log), ==, 10);
	close(fd);
}

static void
test_agent_log_not_announced(Fixture *f, gconstpointer data)
{
	const char *const args[] = { "--features", "execpy,execute", NULL };
	struct nbx_error err;
	int fd;

	ga_load(f, "", NULL);
	ga_start_agent(f, args);
	ga_connect_ok(f);
	g_assert_cmphex(f->info.abilities & NBX_GUEST_CAN_AGENT_LOG, ==, 0);
	fd = ga_temp_fd(f);
	g_assert_false(ga_agent_log(f, fd, 1000, LONG_MS, &err));
	ga_assert_error(&err, NBX_ERROR_NOT_SUPPORTED, "does not announce logs");
	g_assert_cmpuint(ga_count_requests(f, "GET", "/logs"), ==, 0);
	close(fd);
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, ga_set_up, fn, ga_tear_down)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/guest-agent/connect/cape", test_connect_cape);
	ADD("/guest-agent/connect/from-op-thread", test_connect_from_op_thread);
	ADD("/guest-agent/connect/cuckoo2", test_connect_cuckoo2);
	ADD("/guest-agent/connect/cuckoo2-without-launcher", test_connect_cuckoo2_without_launcher);
	ADD("/guest-agent/connect/nothing-listens", test_connect_nothing_listens);
	ADD("/guest-agent/connect/waits-for-agent", test_connect_waits_for_agent);
	ADD("/guest-agent/connect/pinned-elsewhere", test_connect_pinned_elsewhere);
	for (gsize i = 0; i < G_N_ELEMENTS(connect_faults); i++) {
		g_autofree char *path =
			g_strdup_printf("/guest-agent/connect/fault/%s", connect_faults[i].fault);

		g_test_add(path, Fixture, &connect_faults[i], ga_set_up, test_connect_fault,
			   ga_tear_down);
	}
	ADD("/guest-agent/upload/unicode", test_upload_unicode);
	ADD("/guest-agent/upload/50mb-streamed", test_upload_50mb_streamed);
	ADD("/guest-agent/upload/stalled", test_upload_stalled);
	ADD("/guest-agent/upload/stalled-past-deadline", test_upload_stalled_past_deadline);
	ADD("/guest-agent/upload/refusals", test_upload_refusals);
	ADD("/guest-agent/upload/without-unicodepath", test_upload_without_unicodepath);
	ADD("/guest-agent/requests-have-length", test_requests_have_length);
	ADD("/guest-agent/download/ok", test_download);
	for (gsize i = 0; i < G_N_ELEMENTS(download_faults); i++) {
		g_autofree char *path =
			g_strdup_printf("/guest-agent/download/fault/%s", download_faults[i].fault);

		g_test_add(path, Fixture, &download_faults[i], ga_set_up, test_download_fault,
			   ga_tear_down);
	}
	ADD("/guest-agent/list-files/helper", test_list_files_helper);
	ADD("/guest-agent/list-files/nestbox", test_list_files_nestbox);
	ADD("/guest-agent/list-files/unsupported", test_list_files_unsupported);
	ADD("/guest-agent/agent-log", test_agent_log);
	ADD("/guest-agent/agent-log/not-announced", test_agent_log_not_announced);
	return g_test_run();
}
