/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orphan-maker: a stand-in daemon that loads the qemu plugin, restores one
 * machine, says "ready" and waits to be killed -- so a test can kill it
 * with SIGKILL and check what the next plugin instance does about the QEMU
 * and the overlay it left behind.
 *
 * Usage: orphan-maker PLUGIN.so RUN_DIR OVERLAY_DIR MACHINEINFO TAP [WORK_DIR | prepare]
 *
 * With WORK_DIR it begins a snapshot session there instead of restoring;
 * with "prepare" it prepares the machine's next run (a QEMU waiting for
 * its memory) instead.
 *
 * Its host table spawns children WITHOUT PR_SET_PDEATHSIG (the core sets
 * it): the QEMU outlives this process, as it does when a daemon without
 * that protection dies, or when QEMU escapes it.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <nestbox/plugin.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "glib_host.h"

static char **args;
/* The machine's config node: any pointer the plugin only hands back. */
static const struct nbx_config_node *const machine_node = (const void *)&args;

static void G_GNUC_PRINTF(3, 4)
fake_log(const struct nbx_host *host, int32_t level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "orphan-maker: qemu: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *
fake_config_string(const struct nbx_host *host, const struct nbx_config_node *node,
		   const char *key)
{
	if (node == machine_node)
		return strcmp(key, "machineinfo") == 0 ? args[4] : NULL;
	if (strcmp(key, "qemu_binary") == 0)
		return "/usr/bin/qemu-system-x86_64";
	if (strcmp(key, "accelerator") == 0)
		return "tcg";
	if (strcmp(key, "overlay_dir") == 0)
		return args[3];
	/* The core hands a plugin its schema's defaults; so does this host. */
	if (strcmp(key, "restore_method") == 0)
		return "template";
	return NULL;
}

static bool
fake_config_integer(const struct nbx_host *host, const struct nbx_config_node *node,
		    const char *key, int64_t *out)
{
	if (node != NULL)
		return false;
	if (strcmp(key, "stop_timeout") == 0)
		*out = 5;
	else if (strcmp(key, "qemu_uid_base") == 0)
		/*
		 * Not the schema's default: this host lists no `machines`, so a
		 * machine has no index in the range. The maker stands for a
		 * daemon killed with -9; qemu-containment tests the uids.
		 */
		*out = 0;
	else
		return false;
	return true;
}

/* The state directory is the run dir's unless NBX_ORPHAN_STATE_DIR names the daemon's. */
static const char *
fake_path(const struct nbx_host *host, int32_t kind)
{
	const char *state = g_getenv("NBX_ORPHAN_STATE_DIR");

	if (kind == NBX_PATH_STATE_DIR && state != NULL)
		return state;
	return kind == NBX_PATH_RUN_DIR || kind == NBX_PATH_STATE_DIR ? args[2] : NULL;
}

typedef struct {
	GPid pid;
	nbx_child_exit_fn on_exit;
	void *user_data;
} Child;

static void
child_exited(GPid pid, gint status, gpointer data)
{
	Child *child = data;

	if (child->on_exit != NULL)
		child->on_exit(child->user_data, pid, status);
	g_spawn_close_pid(pid);
	g_free(child);
}

static void
own_process_group(gpointer data)
{
	setpgid(0, 0);
}

static bool
fake_spawn(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t *pid,
	   struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;
	g_autofree int *sources = g_new0(int, spawn->n_fds + 1);
	g_autofree int *targets = g_new0(int, spawn->n_fds + 1);
	GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH;
	Child *child = g_new0(Child, 1);
	int output = -1;

	if (spawn->stdin_fd < 0)
		flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
	if (spawn->output_path != NULL)
		output = open(spawn->output_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	for (uint32_t i = 0; i < spawn->n_fds; i++) {
		sources[i] = spawn->fds[i].parent_fd;
		targets[i] = spawn->fds[i].child_fd;
	}
	if (!g_spawn_async_with_pipes_and_fds(NULL, spawn->argv, spawn->envp, flags,
					      own_process_group, NULL, spawn->stdin_fd, output,
					      output, sources, targets, spawn->n_fds, &child->pid,
					      NULL, NULL, NULL, &error)) {
		if (output >= 0)
			close(output);
		g_free(child);
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot start %s: %s", spawn->argv[0],
			       error->message);
		return false;
	}
	if (output >= 0)
		close(output);
	child->on_exit = spawn->on_exit;
	child->user_data = spawn->user_data;
	*pid = child->pid;
	g_child_watch_add(child->pid, child_exited, child);
	return true;
}

static bool
fake_child_signal(const struct nbx_host *host, int64_t pid, int32_t signal, struct nbx_error *err)
{
	return kill((pid_t)pid, signal) == 0;
}


static void
fake_state_changed(const struct nbx_host *host, struct nbx_machine *machine, int32_t state,
		   const char *reason)
{
}

static struct nbx_host fake_host = {
	.struct_size = sizeof(struct nbx_host),
	.abi_major = NBX_ABI_MAJOR,
	.abi_minor = NBX_ABI_MINOR,
	.core_version = "orphan-maker",
	.log = fake_log,
	.config_string = fake_config_string,
	.config_integer = fake_config_integer,
	.path = fake_path,
	.spawn = fake_spawn,
	.child_signal = fake_child_signal,
	.machine_state_changed = fake_state_changed,
};

typedef struct {
	const struct nbx_machinery_ops *ops;
	void *instance;
	struct nbx_machine *machine;
	/* A snapshot session's work_dir, or NULL for a plain restore. */
	const char *work_dir;
	/* Prepare instead of restoring. */
	bool prepare;
	bool ok;
	struct nbx_error err;
	gint done;
} Restore;

static gpointer
restore_main(gpointer data)
{
	Restore *restore = data;
	struct nbx_call call = {
		.struct_size = sizeof call,
		.deadline_us = g_get_monotonic_time() + 120 * G_USEC_PER_SEC,
	};

	struct nbx_snapshot_session session = {
		.struct_size = sizeof session,
		.work_dir = restore->work_dir,
	};

	if (restore->work_dir != NULL)
		restore->ok = restore->ops->snapshot_begin(restore->instance, restore->machine, &call,
							   &session, &restore->err);
	else if (restore->prepare)
		restore->ok = restore->ops->prepare(restore->instance, restore->machine, &call,
						    &restore->err);
	else
		restore->ok = restore->ops->restore_start(restore->instance, restore->machine,
							  &call, &restore->err);
	g_atomic_int_set(&restore->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const no_tags[] = { NULL };
	struct nbx_machine machine = {
		.struct_size = sizeof machine,
		.name = "a",
		.label = "a",
		.ip = "10.213.0.10",
		.platform = "linux",
		.tags = no_tags,
		.agent_port = 8000,
		.config = machine_node,
	};
	const struct nbx_plugin_descriptor *descriptor;
	Restore restore = { .machine = &machine };
	struct nbx_error err = { 0 };
	void *module;

	if (argc != 6 && argc != 7) {
		fprintf(stderr,
			"usage: %s PLUGIN.so RUN_DIR OVERLAY_DIR MACHINEINFO TAP [WORK_DIR | prepare]\n",
			argv[0]);
		return 2;
	}
	args = argv;
	machine.interface = argv[5];
	restore.prepare = argc == 7 && strcmp(argv[6], "prepare") == 0;
	restore.work_dir = argc == 7 && !restore.prepare ? argv[6] : NULL;
	module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (module == NULL) {
		fprintf(stderr, "orphan-maker: %s\n", dlerror());
		return 1;
	}
	descriptor = dlsym(module, "nestbox_plugin_descriptor");
	if (descriptor == NULL || descriptor->kind != NBX_PLUGIN_MACHINERY) {
		fprintf(stderr, "orphan-maker: %s is no machinery plugin\n", argv[1]);
		return 1;
	}
	restore.ops = descriptor->ops.machinery;
	glib_host_fill(&fake_host);
	/* It stands in for nestboxd (nestboxd.c): a peer gone is an EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
	if (!restore.ops->init(&fake_host, &restore.instance, &err)) {
		fprintf(stderr, "orphan-maker: init: %s\n", err.message);
		return 1;
	}
	g_thread_unref(g_thread_new("restore", restore_main, &restore));
	while (!g_atomic_int_get(&restore.done))
		g_main_context_iteration(NULL, TRUE);
	if (!restore.ok) {
		fprintf(stderr, "orphan-maker: %s: %s\n",
			restore.work_dir != NULL ? "snapshot_begin"
			: restore.prepare	 ? "prepare"
						 : "restore_start",
			restore.err.message);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	/* Until SIGKILL: the test plays the daemon's sudden death. */
	for (;;)
		g_main_context_iteration(NULL, TRUE);
}
