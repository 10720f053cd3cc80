/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* setns */
#include "guest_agent_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_services.h"
#include "plugin_ops.h"
#include "schema.h"
#include "schema_validate.h"
#include "test_support.h"

/* Generous: only a hang should ever reach them. */
#define AGENT_READY_TIMEOUT_US (60 * G_USEC_PER_SEC)
#define CONNECT_TIMEOUT_MS 60000

const char *
ga_env(const char *name)
{
	const char *value = g_getenv(name);

	if (value == NULL)
		g_error("%s is not set: run this test through meson (run-in-netns.sh)", name);
	return value;
}

void
ga_set_up(Fixture *f, gconstpointer data)
{
	memset(f, 0, sizeof *f);
	f->dir = test_dir_new();
	f->agent_root = g_build_filename(f->dir, "guest", NULL);
	f->agent_state = g_build_filename(f->dir, "agent-state", NULL);
	g_assert_cmpint(g_mkdir(f->agent_root, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(f->agent_state, 0755), ==, 0);
	f->report = nbx_report_new();
	f->netns_path = g_strconcat("/run/netns/", ga_env("NBX_GA_HOST_NS"), NULL);
	nbx_host_services_set_main_thread();
}

static void
drain_main_loop(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

void
ga_tear_down(Fixture *f, gconstpointer data)
{
	if (f->session != NULL)
		ga_disconnect(f);
	ga_stop_agent(f);
	drain_main_loop();
	if (f->instance != NULL) {
		nbx_plugin_instance_free(f->instance);
		drain_main_loop();
	}
	g_clear_pointer(&f->guest_conf, nbx_config_file_free);
	g_clear_pointer(&f->task_conf, nbx_config_file_free);
	g_clear_pointer(&f->config, nbx_config_free);
	g_clear_pointer(&f->registry, nbx_plugin_registry_free);
	g_clear_pointer(&f->diagnostics, nbx_diagnostics_free);
	nbx_report_free(f->report);
	test_dir_remove(f->dir);
	g_free(f->dir);
	g_free(f->agent_root);
	g_free(f->agent_state);
	g_free(f->netns_path);
}

static void
assert_no_diagnostics(Fixture *f)
{
	for (guint i = 0; i < nbx_diagnostics_count(f->diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(f->diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(f->diagnostics), ==, 0);
}

/* Reads DIR/@name, whose root holds group @group, validated against @schema. */
static config_setting_t *
read_group(Fixture *f, const char *name, const char *group, const char *body,
	   const NbxSchema *schema, NbxConfigFile **file)
{
	g_autofree char *text = g_strdup_printf("%s = {\n%s\n};\n", group, body);
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	NbxValidation validation = {
		.diagnostics = f->diagnostics, .base_dir = f->dir, .check_environment = TRUE
	};
	config_setting_t *setting;

	test_write(f->dir, name, text);
	*file = nbx_config_file_read(path, TRUE, f->diagnostics);
	g_assert_nonnull(*file);
	setting = config_setting_get_member(config_root_setting(&(*file)->config), group);
	g_assert_nonnull(setting);
	nbx_schema_validate_group(schema, setting, group, &validation);
	assert_no_diagnostics(f);
	return setting;
}

void
ga_load(Fixture *f, const char *settings, const char *task_options)
{
	g_autoptr(GError) error = NULL;

	f->diagnostics = nbx_diagnostics_new();
	f->registry = nbx_plugin_registry_new();
	if (!nbx_plugin_registry_load_file(f->registry, ga_env("NBX_GA_PLUGIN")))
		g_error("the loader refused %s: %s", ga_env("NBX_GA_PLUGIN"),
			(const char *)g_ptr_array_index(f->registry->refusals, 0));
	f->plugin = nbx_plugin_registry_lookup(f->registry, "agent");
	g_assert_nonnull(f->plugin);
	g_assert_cmpint(f->plugin->descriptor.kind, ==, NBX_PLUGIN_GUEST);

	test_write(f->dir, "nestbox.conf",
		   "machineries = [ ];\nbuiltin_plugin_dir = false;\nstate_dir = \"state\";\n"
		   "run_dir = \"run\";\nanalyses_dir = \"analyses\";\n");
	f->config = nbx_config_load_core(f->dir, NULL, f->diagnostics);
	g_assert_nonnull(f->config);
	f->section.plugin = f->plugin;
	f->section.schema = f->plugin->config_schema;
	f->section.root = read_group(f, "guest.conf", "agent", settings, f->plugin->config_schema,
				     &f->guest_conf);
	f->section.file = f->guest_conf;
	f->instance = nbx_plugin_instance_new(&f->section, f->config);
	g_assert_true(nbx_plugin_instance_init(f->instance, &error));
	g_assert_no_error(error);

	f->task = (struct nbx_task){ .struct_size = sizeof f->task, .id = 7, .duration_s = 30 };
	if (task_options != NULL)
		f->task.options = NBX_NODE(read_group(f, "task.conf", "options", task_options,
						      f->plugin->task_schema, &f->task_conf));
	f->machine = (struct nbx_machine){
		.struct_size = sizeof f->machine,
		.name = "guest1",
		.label = "guest1",
		.ip = ga_env("NBX_GA_GUEST_IP"),
		.platform = "linux",
		.agent_port = GA_AGENT_PORT,
		.network_namespace = f->netns_path,
	};
	f->context = (struct nbx_guest_context){
		.struct_size = sizeof f->context,
		.analysis_dir = f->dir,
		.task = &f->task,
		.machine = &f->machine,
		.report = f->report,
	};
	f->info.struct_size = sizeof f->info;
}

/* ---- the fake agent ------------------------------------------------------ */

void
ga_spawn_agent(Fixture *f, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	const char *const base[] = {
		"ip", "netns", "exec", ga_env("NBX_GA_GUEST_NS"), "python3", ga_env("NBX_GA_FAKE_AGENT"),
		"--bind", ga_env("NBX_GA_GUEST_IP"), "--port", G_STRINGIFY(GA_AGENT_PORT),
		"--root", f->agent_root, "--state", f->agent_state,
	};

	for (gsize i = 0; i < G_N_ELEMENTS(base); i++)
		g_ptr_array_add(argv, (gpointer)base[i]);
	for (const char *const *arg = args; arg != NULL && *arg != NULL; arg++)
		g_ptr_array_add(argv, (gpointer)*arg);
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &f->agent_pid, &error));
	g_assert_no_error(error);
}

void
ga_wait_agent_ready(Fixture *f)
{
	g_autofree char *ready = g_build_filename(f->agent_state, "ready", NULL);
	gint64 give_up = g_get_monotonic_time() + AGENT_READY_TIMEOUT_US;
	int status;

	while (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
		if (waitpid(f->agent_pid, &status, WNOHANG) == f->agent_pid) {
			f->agent_pid = 0;
			g_error("the fake agent exited before it listened (status %d)", status);
		}
		if (g_get_monotonic_time() > give_up)
			g_error("the fake agent did not listen within 60 s");
		g_usleep(10 * 1000);
	}
}

void
ga_start_agent(Fixture *f, const char *const *args)
{
	ga_spawn_agent(f, args);
	ga_wait_agent_ready(f);
}

/* Every process left in the guest namespace is one this test started. */
static void
kill_guest_namespace(void)
{
	g_autofree char *command = g_strdup_printf("ip netns pids %s", ga_env("NBX_GA_GUEST_NS"));
	g_autofree char *out = NULL;
	g_auto(GStrv) pids = NULL;

	if (!g_spawn_command_line_sync(command, &out, NULL, NULL, NULL))
		return;
	pids = g_strsplit(out, "\n", -1);
	for (char **pid = pids; *pid != NULL; pid++) {
		if (**pid != '\0')
			kill((pid_t)g_ascii_strtoll(*pid, NULL, 10), SIGKILL);
	}
}

void
ga_stop_agent(Fixture *f)
{
	if (f->agent_pid > 0) {
		kill(f->agent_pid, SIGKILL);
		waitpid(f->agent_pid, NULL, 0);
		f->agent_pid = 0;
	}
	kill_guest_namespace();
}

GPtrArray *
ga_agent_requests(Fixture *f)
{
	g_autofree char *path = g_build_filename(f->agent_state, "requests.jsonl", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *requests = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return requests;
	lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line != NULL; line++) {
		g_autoptr(JsonParser) parser = json_parser_new();

		if (**line == '\0')
			continue;
		g_assert_true(json_parser_load_from_data(parser, *line, -1, NULL));
		g_ptr_array_add(requests,
				json_object_ref(json_node_get_object(json_parser_get_root(parser))));
	}
	return requests;
}

guint
ga_count_requests(Fixture *f, const char *method, const char *path)
{
	g_autoptr(GPtrArray) requests = ga_agent_requests(f);
	guint count = 0;

	for (guint i = 0; i < requests->len; i++) {
		JsonObject *request = g_ptr_array_index(requests, i);

		if (g_str_equal(json_object_get_string_member(request, "method"), method) &&
		    g_str_equal(json_object_get_string_member(request, "path"), path))
			count++;
	}
	return count;
}

/* ---- the ops, on a worker thread ------------------------------------------ */

typedef enum {
	OP_CONNECT,
	OP_UPLOAD,
	OP_EXECUTE,
	OP_POLL,
	OP_SET_CLOCK,
	OP_DOWNLOAD,
	OP_LIST,
	OP_AGENT_LOG,
} OpKind;

typedef struct {
	Fixture *f;
	OpKind kind;
	struct nbx_call call;
	struct nbx_error *err;
	gboolean ok;
	gint done;
	const char *path;
	const char *name;
	char *guest_path;
	gsize guest_path_size;
	const struct nbx_guest_command *command;
	struct nbx_guest_process *process;
	gint64 value;
	gint64 *size;
	int fd;
	GPtrArray *found;
} Op;

static bool
collect_match(void *data, const char *guest_path, int64_t size)
{
	g_ptr_array_add(data, g_strdup_printf("%s %" G_GINT64_FORMAT, guest_path, size));
	return true;
}

static gboolean
op_call(Op *op)
{
	Fixture *f = op->f;
	const struct nbx_guest_ops *ops = nbx_plugin_guest_ops(f->plugin);
	void *instance = f->instance->instance;

	switch (op->kind) {
	case OP_CONNECT:
		return ops->connect(instance, &f->context, &f->session, &f->info, &op->call, op->err);
	case OP_UPLOAD:
		return ops->upload(instance, f->session, op->path, op->name, op->guest_path,
				   op->guest_path_size, &op->call, op->err);
	case OP_EXECUTE:
		return ops->execute(instance, f->session, op->command, op->process, &op->call, op->err);
	case OP_POLL:
		return ops->poll(instance, f->session, op->command, op->process, &op->call, op->err);
	case OP_SET_CLOCK:
		return ops->set_clock(instance, f->session, op->value, &op->call, op->err);
	case OP_DOWNLOAD:
		return ops->download(instance, f->session, op->path, op->fd, op->value, op->size,
				     &op->call, op->err);
	case OP_LIST:
		return ops->list_files(instance, f->session, op->path, (uint32_t)op->value,
				       collect_match, op->found, &op->call, op->err);
	case OP_AGENT_LOG:
		return ops->agent_log(instance, f->session, op->fd, op->value, &op->call, op->err);
	}
	g_assert_not_reached();
}

/* Enters the machine's network namespace, as the core's op threads do. */
static void
enter_machine_namespace(const Fixture *f)
{
	int fd = open(f->machine.network_namespace, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
		g_error("cannot enter %s: %s", f->machine.network_namespace, g_strerror(errno));
	close(fd);
}

static gpointer
op_thread(gpointer data)
{
	Op *op = data;

	enter_machine_namespace(op->f);
	op->ok = op_call(op);
	g_atomic_int_set(&op->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

/* Runs @op on a worker thread, as the daemon runs ops, while this thread runs the loop. */
static gboolean
run_op(Op *op, gint64 timeout_ms, struct nbx_error *err)
{
	struct nbx_error local = { 0 };

	op->err = err != NULL ? err : &local;
	memset(op->err, 0, sizeof *op->err);
	op->call = (struct nbx_call){
		.struct_size = sizeof op->call,
		.deadline_us = g_get_monotonic_time() + timeout_ms * 1000,
		.analysis_dir = op->f->dir,
		.task_id = op->f->task.id,
	};
	g_thread_unref(g_thread_new("op", op_thread, op));
	while (!g_atomic_int_get(&op->done))
		g_main_context_iteration(NULL, TRUE);
	drain_main_loop();
	if (op->ok)
		g_assert_cmpint(op->err->code, ==, NBX_ERROR_NONE);
	else
		g_assert_cmpint(op->err->code, !=, NBX_ERROR_NONE);
	if (err == NULL && !op->ok)
		g_error("op failed: %s", local.message);
	return op->ok;
}

gboolean
ga_connect(Fixture *f, gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_CONNECT };

	return run_op(&op, timeout_ms, err);
}

void
ga_connect_ok(Fixture *f)
{
	ga_connect(f, CONNECT_TIMEOUT_MS, NULL);
	g_assert_nonnull(f->session);
}

void
ga_disconnect(Fixture *f)
{
	nbx_plugin_guest_ops(f->plugin)->disconnect(f->instance->instance, &f->context, f->session);
	f->session = NULL;
}

gboolean
ga_upload(Fixture *f, const char *host_path, const char *name, char *guest_path,
	  gsize guest_path_size, gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_UPLOAD, .path = host_path, .name = name,
		  .guest_path = guest_path, .guest_path_size = guest_path_size };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_execute(Fixture *f, const struct nbx_guest_command *command,
	   struct nbx_guest_process *process, gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_EXECUTE, .command = command, .process = process };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_poll(Fixture *f, const struct nbx_guest_command *command, struct nbx_guest_process *process,
	gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_POLL, .command = command, .process = process };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_set_clock(Fixture *f, gint64 unix_time_us, gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_SET_CLOCK, .value = unix_time_us };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_download(Fixture *f, const char *guest_path, int fd, gint64 max_bytes, gint64 *size,
	    gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_DOWNLOAD, .path = guest_path, .fd = fd, .value = max_bytes,
		  .size = size };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_list_files(Fixture *f, const char *pattern, guint32 max_matches, GPtrArray *found,
	      gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_LIST, .path = pattern, .value = max_matches, .found = found };

	return run_op(&op, timeout_ms, err);
}

gboolean
ga_agent_log(Fixture *f, int fd, gint64 max_bytes, gint64 timeout_ms, struct nbx_error *err)
{
	Op op = { .f = f, .kind = OP_AGENT_LOG, .fd = fd, .value = max_bytes };

	return run_op(&op, timeout_ms, err);
}

/* ---- small helpers ---------------------------------------------------------- */

JsonObject *
ga_report(Fixture *f)
{
	return nbx_report_ref_object(f->report);
}

char *
ga_write_file(Fixture *f, const char *name, const char *contents, gsize size)
{
	g_autofree char *data = g_malloc(size);
	gsize step = strlen(contents);
	char *path = g_build_filename(f->dir, name, NULL);

	for (gsize i = 0; i < size; i++)
		data[i] = contents[i % step];
	g_assert_true(g_file_set_contents(path, data, (gssize)size, NULL));
	return path;
}

int
ga_temp_fd(Fixture *f)
{
	g_autofree char *path = g_build_filename(f->dir, "out-XXXXXX", NULL);
	int fd = g_mkstemp(path);

	g_assert_cmpint(fd, >=, 0);
	g_unlink(path);
	return fd;
}

char *
ga_read_fd(int fd, gsize *length)
{
	GString *out = g_string_new(NULL);
	char buffer[65536];
	ssize_t n;
	off_t offset = 0;

	while ((n = pread(fd, buffer, sizeof buffer, offset)) > 0) {
		g_string_append_len(out, buffer, n);
		offset += n;
	}
	if (length != NULL)
		*length = out->len;
	return g_string_free(out, FALSE);
}

void
ga_assert_error(const struct nbx_error *err, int32_t code, const char *needle)
{
	if (err->code != code || strstr(err->message, needle) == NULL)
		g_error("expected error %d containing \"%s\", got %d: %s", code, needle, err->code,
			err->message);
}
