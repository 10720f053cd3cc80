/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: arbitrary bytes as one client's side of a connection to
 * the control API. The request path is the real one: libmicrohttpd's
 * parser, api_server.c (heads, limits, bodies kept or streamed, requests
 * cut short), the multipart and raw upload readers, the JSON checks, the
 * task's fields, the routes, the scheduler and a SQLite store in a
 * temporary directory. No machinery is configured, so a task that is
 * submitted is stored and fails at once: nothing runs beside the input.
 *
 * Each input is written to a new UNIX connection (as fast as the server
 * reads it), the main loop runs until nothing is left to do, then the
 * client goes away and the server must let go of everything that request
 * held. Oracle besides the sanitizers: after the last input no connection
 * is left open and no partial upload is left in the samples directory.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_api.h"
#include "daemon_setup.h"
#include "scheduler.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	char *dir;
	char *socket_path;
	NbxSetup *setup;
	NbxStore *store;
	NbxScheduler *scheduler;
	NbxControlApi *api;
} fuzz;

static void
write_file(const char *relative, const char *contents)
{
	g_autofree char *path = g_build_filename(fuzz.dir, relative, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	if (g_mkdir_with_parents(parent, 0700) != 0 ||
	    !g_file_set_contents(path, contents, -1, NULL))
		g_error("fuzz-http: cannot write %s", path);
}

/* tmpfs when there is one: the store syncs every submission. */
static char *
scratch_dir(void)
{
	const char *base = g_access("/dev/shm", W_OK) == 0 ? "/dev/shm" : g_get_tmp_dir();
	g_autofree char *template = g_build_filename(base, "nestbox-fuzz-http-XXXXXX", NULL);

	if (g_mkdtemp(template) == NULL)
		g_error("fuzz-http: cannot make a directory in %s", base);
	return g_steal_pointer(&template);
}

static void
on_shutdown_done(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
}

static void
remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
		    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			remove_tree(child);
		else
			g_unlink(child);
	}
	g_rmdir(path);
}

static guint
uploads_left(void)
{
	g_autofree char *samples = g_build_filename(fuzz.dir, "state", "samples", NULL);
	g_autoptr(GDir) dir = g_dir_open(samples, 0, NULL);
	const char *name;
	guint count = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL)
		count += g_str_has_prefix(name, ".upload-");
	return count;
}

static void
fuzz_finish(void)
{
	gboolean done = FALSE;

	if (nbx_control_api_connection_count(fuzz.api) != 0 || uploads_left() != 0)
		g_error("fuzz-http: %u connections and %u partial uploads left",
			nbx_control_api_connection_count(fuzz.api), uploads_left());
	nbx_control_api_free(fuzz.api);
	nbx_scheduler_shutdown(fuzz.scheduler, 10, on_shutdown_done, &done);
	while (!done || !nbx_scheduler_is_idle(fuzz.scheduler))
		g_main_context_iteration(NULL, TRUE);
	nbx_scheduler_free(fuzz.scheduler);
	nbx_store_close(fuzz.store);
	nbx_setup_free(fuzz.setup);
	remove_tree(fuzz.dir);
	g_free(fuzz.dir);
	g_free(fuzz.socket_path);
}

static void
fuzz_init(void)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *store_path = NULL;
	const char *plugins = g_getenv("NESTBOX_TEST_GOOD_PLUGIN_DIR");
	g_autofree char *conf = NULL;
	NbxControlApiOptions options = {
		.max_body_bytes = 1024 * 1024,
		.max_json_bytes = 64 * 1024,
		.max_header_bytes = 8 * 1024,
		.max_connections = 8,
		/* The inputs run without pauses: only a hang would meet these. */
		.header_timeout_s = 3600,
		.idle_timeout_s = 3600,
	};

	/* Ops the core logs about are expected here. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	fuzz.dir = scratch_dir();
	/* With the test plugins, "options" are checked against a real auxiliary. */
	conf = g_strdup_printf("machineries = [ ];\nplugin_dirs = [ %s%s%s ];\n"
			       "builtin_plugin_dir = false;\nstate_dir = \"state\";\n"
			       "run_dir = \"run\";\nanalyses_dir = \"analyses\";\n",
			       plugins != NULL ? "\"" : "", plugins != NULL ? plugins : "",
			       plugins != NULL ? "\"" : "");
	write_file("nestbox.conf", conf);
	write_file("auxiliary.conf", plugins != NULL ? "aux-alpha = { };\n" : "");
	g_setenv("NESTBOX_PLUGIN_PATH", "", TRUE);
	fuzz.setup = nbx_setup_load(fuzz.dir, NULL, diagnostics);
	if (fuzz.setup == NULL || nbx_diagnostics_count(diagnostics) > 0)
		g_error("fuzz-http: %s", nbx_diagnostics_count(diagnostics) > 0
						 ? nbx_diagnostics_get(diagnostics, 0)
						 : "cannot load the configuration");
	g_mkdir_with_parents(fuzz.setup->config->state_dir, 0700);
	store_path = g_build_filename(fuzz.setup->config->state_dir, "nestbox.sqlite", NULL);
	fuzz.store = nbx_store_open(store_path, &error);
	if (fuzz.store != NULL)
		fuzz.scheduler = nbx_scheduler_new(fuzz.setup, fuzz.store, &error);
	fuzz.socket_path = g_build_filename(fuzz.dir, "api.sock", NULL);
	options.socket_path = fuzz.socket_path;
	if (fuzz.scheduler != NULL)
		fuzz.api = nbx_control_api_new(fuzz.scheduler, &options, &error);
	if (fuzz.api == NULL)
		g_error("fuzz-http: %s", error->message);
	atexit(fuzz_finish);
}

static int
client_connect(void)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	g_strlcpy(address.sun_path, fuzz.socket_path, sizeof address.sun_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
		g_error("fuzz-http: cannot connect to %s: %s", fuzz.socket_path, g_strerror(errno));
	return fd;
}

/* Reads and drops what the server answered so far: it must never wait on us. */
static void
client_drain(int fd)
{
	char buffer[65536];

	while (recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0)
		;
}

static void
run_until_idle(int fd)
{
	do
		client_drain(fd);
	while (g_main_context_iteration(NULL, FALSE));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gsize sent = 0;
	int fd;

	if (fuzz.api == NULL)
		fuzz_init();
	fd = client_connect();
	while (sent < size) {
		ssize_t n = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			sent += (gsize)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* the server answered and closed: the rest is not read */
		run_until_idle(fd);
	}
	run_until_idle(fd);
	close(fd);
	while (nbx_control_api_connection_count(fuzz.api) > 0)
		g_main_context_iteration(NULL, TRUE);
	return 0;
}
