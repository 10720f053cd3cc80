/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes of plugins: host->spawn, host->run, host->child_signal.
 *
 * The core owns every child a plugin starts: it forks it (from the main
 * thread, or for `run` from the calling thread, which waits for it), sets
 * it up between fork and exec (process group, death signal, network
 * namespace, user), tracks it so that a plugin can signal only its own,
 * reaps it, and kills what a plugin leaves behind at shutdown.
 */
#define _GNU_SOURCE
#include "host_children.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_instance_state.h"

static GThread *main_thread;

void
nbx_host_services_set_main_thread(void)
{
	main_thread = g_thread_self();
}

typedef struct {
	NbxPluginInstance *instance;
	gint64 pid;
	/* Signals go through it: a reaped pid that was reused is never hit. */
	int pidfd;
	nbx_child_exit_fn on_exit;
	void *user_data;
} NbxChild;

static void
child_free(NbxChild *child)
{
	if (child->pidfd >= 0)
		close(child->pidfd);
	g_free(child);
}

/* ---- between fork and exec ---------------------------------------------- */

/*
 * What the child must do before exec. Only async-signal-safe calls happen
 * in the child; every descriptor here was opened by the parent. GLib marks
 * every descriptor but the mapped ones close-on-exec before it calls
 * child_setup, so these vanish at exec without our help.
 */
typedef struct {
	pid_t daemon_pid;
	/* Where a failure is written ({stage, errno}); closed by exec on success. */
	int report_fd;
	int netns_fd;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
} ChildSetup;

typedef enum {
	STAGE_NETNS = 1,
	STAGE_GROUPS,
	STAGE_GID,
	STAGE_UID,
	STAGE_PARENT_GONE,
} SetupStage;

static void G_GNUC_NORETURN
setup_failed(const ChildSetup *setup, SetupStage stage)
{
	int report[2] = { stage, errno };
	ssize_t ignored G_GNUC_UNUSED = write(setup->report_fd, report, sizeof report);

	_exit(127);
}

static void
child_setup(gpointer data)
{
	const ChildSetup *setup = data;
	sigset_t none;

	/* The daemon ignores SIGPIPE (nestboxd.c) and may block signals; its children do not. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Own process group: a ^C at the daemon's terminal does not reach it. */
	setpgid(0, 0);
	if (setup->netns_fd >= 0 && setns(setup->netns_fd, CLONE_NEWNET) != 0)
		setup_failed(setup, STAGE_NETNS);
	if (setup->uid != 0) {
		if (setgroups(setup->n_groups, setup->groups) != 0)
			setup_failed(setup, STAGE_GROUPS);
		if (setresgid(setup->gid, setup->gid, setup->gid) != 0)
			setup_failed(setup, STAGE_GID);
		if (setresuid(setup->uid, setup->uid, setup->uid) != 0)
			setup_failed(setup, STAGE_UID);
	}
	/*
	 * Dies with the daemon, so a crash leaves no orphaned hypervisor. Set
	 * after the user switch: a change of credentials clears it.
	 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The daemon may have died before prctl: then nobody would kill us. */
	if (getppid() != setup->daemon_pid) {
		errno = ESRCH;
		setup_failed(setup, STAGE_PARENT_GONE);
	}
}

static const char *
stage_name(SetupStage stage)
{
	switch (stage) {
	case STAGE_NETNS:
		return "cannot enter the network namespace";
	case STAGE_GROUPS:
		return "cannot set the supplementary groups";
	case STAGE_GID:
		return "cannot switch to the group";
	case STAGE_UID:
		return "cannot switch to the user";
	default:
		return "the daemon went away while it was starting";
	}
}

/* ---- starting ----------------------------------------------------------- */

/* A spawn request read through the plugin's struct_size: fields it predates are unset. */
typedef struct {
	struct nbx_spawn spawn;
	gid_t *groups;
} SpawnRequest;

static void
spawn_request_read(SpawnRequest *request, const struct nbx_spawn *spawn)
{
	memset(request, 0, sizeof *request);
	memcpy(&request->spawn, spawn, MIN(spawn->struct_size, sizeof request->spawn));
	if (request->spawn.uid != 0 && request->spawn.n_groups > 0 && request->spawn.groups != NULL) {
		request->groups = g_new(gid_t, request->spawn.n_groups);
		for (guint32 i = 0; i < request->spawn.n_groups; i++)
			request->groups[i] = request->spawn.groups[i];
	}
}

static gboolean
spawn_request_check(const NbxPluginInstance *instance, const SpawnRequest *request,
		    struct nbx_error *err)
{
	const struct nbx_spawn *spawn = &request->spawn;
	const struct nbx_host *host = &instance->host;

	if (spawn->argv == NULL || spawn->argv[0] == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID, "spawn: argv is empty");
		return FALSE;
	}
	if ((spawn->uid == 0) != (spawn->gid == 0)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"spawn %s: uid and gid are set together or not at all (uid %u, "
				"gid %u)",
				spawn->argv[0], spawn->uid, spawn->gid);
		return FALSE;
	}
	if ((spawn->stdout_fd != 0 && spawn->stdout_fd < 3) ||
	    (spawn->stderr_fd != 0 && spawn->stderr_fd < 3)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"spawn %s: stdout_fd and stderr_fd are descriptors >= 3 (0 = not "
				"set)",
				spawn->argv[0]);
		return FALSE;
	}
	return TRUE;
}

/* The descriptors the child's stdout and stderr are joined to; -1: inherited. */
typedef struct {
	int output_file;
	int out;
	int err;
} ChildOutputs;

static gboolean
outputs_open(const NbxPluginInstance *instance, const struct nbx_spawn *spawn,
	     ChildOutputs *outputs, struct nbx_error *err)
{
	const struct nbx_host *host = &instance->host;

	outputs->output_file = -1;
	if (spawn->output_path != NULL && (spawn->stdout_fd == 0 || spawn->stderr_fd == 0)) {
		outputs->output_file = open(spawn->output_path,
					    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (outputs->output_file < 0) {
			host->error_set(host, err, NBX_ERROR_IO,
					"cannot open %s for %s's output: %s", spawn->output_path,
					spawn->argv[0], g_strerror(errno));
			return FALSE;
		}
	}
	outputs->out = spawn->stdout_fd != 0 ? spawn->stdout_fd : outputs->output_file;
	outputs->err = spawn->stderr_fd != 0 ? spawn->stderr_fd : outputs->output_file;
	return TRUE;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static gboolean
netns_open(const NbxPluginInstance *instance, const struct nbx_spawn *spawn, int *fd,
	   struct nbx_error *err)
{
	const struct nbx_host *host = &instance->host;

	*fd = -1;
	if (spawn->network_namespace == NULL)
		return TRUE;
	*fd = open(spawn->network_namespace, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		host->error_set(host, err, errno == ENOENT ? NBX_ERROR_NOT_FOUND : NBX_ERROR_IO,
				"cannot start %s: network namespace %s: %s", spawn->argv[0],
				spawn->network_namespace, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* Reads what child_setup reported; TRUE when it reported nothing (exec happened). */
static gboolean
setup_report_read(const NbxPluginInstance *instance, int report_fd, const SpawnRequest *request,
		  struct nbx_error *err)
{
	const struct nbx_host *host = &instance->host;
	int report[2];
	ssize_t n;

	do
		n = read(report_fd, report, sizeof report);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof report)
		return TRUE;
	if (report[0] == STAGE_UID || report[0] == STAGE_GID || report[0] == STAGE_GROUPS)
		host->error_set(host, err, NBX_ERROR_PERMISSION,
				"cannot start %s as uid %u gid %u: %s: %s", request->spawn.argv[0],
				request->spawn.uid, request->spawn.gid, stage_name(report[0]),
				g_strerror(report[1]));
	else
		host->error_set(host, err,
				report[1] == EPERM ? NBX_ERROR_PERMISSION : NBX_ERROR_FAILED,
				"cannot start %s: %s%s%s: %s", request->spawn.argv[0],
				stage_name(report[0]), report[0] == STAGE_NETNS ? " " : "",
				report[0] == STAGE_NETNS ? request->spawn.network_namespace : "",
				g_strerror(report[1]));
	return FALSE;
}

/*
 * Forks and execs @request with @outputs; on success stores the pid. A
 * child whose set-up failed has exited: it is reaped here and the reason
 * is in @err.
 */
static gboolean
fork_exec(NbxPluginInstance *instance, const SpawnRequest *request, const ChildOutputs *outputs,
	  GPid *pid_out, struct nbx_error *err)
{
	const struct nbx_spawn *spawn = &request->spawn;
	const struct nbx_host *host = &instance->host;
	GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES;
	g_autofree int *sources = g_new0(int, spawn->n_fds + 1);
	g_autofree int *targets = g_new0(int, spawn->n_fds + 1);
	g_autoptr(GError) error = NULL;
	ChildSetup setup = { .daemon_pid = getpid(), .uid = spawn->uid, .gid = spawn->gid,
			     .groups = request->groups,
			     .n_groups = request->groups != NULL ? spawn->n_groups : 0 };
	int report[2];
	gboolean ok;
	GPid pid;

	if (!netns_open(instance, spawn, &setup.netns_fd, err))
		return FALSE;
	if (!g_unix_open_pipe(report, FD_CLOEXEC, &error)) {
		close_fd(&setup.netns_fd);
		host->error_set(host, err, NBX_ERROR_IO, "cannot start %s: %s", spawn->argv[0],
				error->message);
		return FALSE;
	}
	setup.report_fd = report[1];
	if (strchr(spawn->argv[0], '/') == NULL)
		flags |= G_SPAWN_SEARCH_PATH;
	if (spawn->stdin_fd < 0)
		flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
	for (guint32 i = 0; i < spawn->n_fds; i++) {
		sources[i] = spawn->fds[i].parent_fd;
		targets[i] = spawn->fds[i].child_fd;
	}
	ok = g_spawn_async_with_pipes_and_fds(
		spawn->cwd, (const char *const *)spawn->argv, (const char *const *)spawn->envp,
		flags, child_setup, &setup, spawn->stdin_fd < 0 ? -1 : spawn->stdin_fd, outputs->out,
		outputs->err, sources, targets, spawn->n_fds, &pid, NULL, NULL, NULL, &error);
	close(report[1]);
	close_fd(&setup.netns_fd);
	if (!ok) {
		close(report[0]);
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot start %s: %s", spawn->argv[0],
				error->message);
		return FALSE;
	}
	ok = setup_report_read(instance, report[0], request, err);
	close(report[0]);
	if (!ok) {
		waitpid(pid, NULL, 0);
		return FALSE;
	}
	*pid_out = pid;
	return TRUE;
}

static NbxChild *
child_track(NbxPluginInstance *instance, GPid pid, nbx_child_exit_fn on_exit, void *user_data)
{
	NbxChild *child = g_new0(NbxChild, 1);

	child->instance = instance;
	child->pid = pid;
	child->pidfd = pidfd_open(pid, 0);
	child->on_exit = on_exit;
	child->user_data = user_data;
	g_mutex_lock(&instance->lock);
	g_hash_table_insert(instance->children, g_memdup2(&child->pid, sizeof child->pid), child);
	g_mutex_unlock(&instance->lock);
	return child;
}

static void
child_untrack(NbxChild *child)
{
	NbxPluginInstance *instance = child->instance;

	/* NULL once the plugin is gone (nbx_host_children_release). */
	if (instance == NULL)
		return;
	g_mutex_lock(&instance->lock);
	g_hash_table_remove(instance->children, &child->pid);
	g_mutex_unlock(&instance->lock);
}

static void
child_exited(GPid pid, gint wait_status, gpointer data)
{
	NbxChild *child = data;

	child_untrack(child);
	if (child->on_exit != NULL)
		child->on_exit(child->user_data, pid, wait_status);
	g_spawn_close_pid(pid);
	child_free(child);
}

static gboolean
spawn_now(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t *pid_out,
	  struct nbx_error *err)
{
	NbxPluginInstance *instance = host->core_private;
	SpawnRequest request;
	ChildOutputs outputs;
	NbxChild *child;
	gboolean ok;
	GPid pid;

	spawn_request_read(&request, spawn);
	if (!spawn_request_check(instance, &request, err) ||
	    !outputs_open(instance, &request.spawn, &outputs, err)) {
		g_free(request.groups);
		return FALSE;
	}
	ok = fork_exec(instance, &request, &outputs, &pid, err);
	close_fd(&outputs.output_file);
	g_free(request.groups);
	if (!ok)
		return FALSE;
	child = child_track(instance, pid, request.spawn.on_exit, request.spawn.user_data);
	g_child_watch_add(pid, child_exited, child);
	*pid_out = pid;
	return TRUE;
}

typedef struct {
	const struct nbx_host *host;
	const struct nbx_spawn *spawn;
	int64_t *pid;
	struct nbx_error *err;
	gboolean ok;
	gboolean done;
	GMutex lock;
	GCond cond;
} SpawnCall;

static gboolean
spawn_on_main_thread(gpointer data)
{
	SpawnCall *call = data;
	gboolean ok = spawn_now(call->host, call->spawn, call->pid, call->err);

	g_mutex_lock(&call->lock);
	call->ok = ok;
	call->done = TRUE;
	g_cond_signal(&call->cond);
	g_mutex_unlock(&call->lock);
	return G_SOURCE_REMOVE;
}

/*
 * PR_SET_PDEATHSIG fires when the forking THREAD exits, and worker threads
 * come and go: so children that outlive the call are forked by the main
 * thread.
 */
bool
nbx_host_spawn(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t *pid,
	       struct nbx_error *err)
{
	SpawnCall call = { .host = host, .spawn = spawn, .pid = pid, .err = err };
	GSource *source;

	if (main_thread == NULL || g_thread_self() == main_thread)
		return spawn_now(host, spawn, pid, err);
	g_mutex_init(&call.lock);
	g_cond_init(&call.cond);
	/* An idle source, not g_main_context_invoke(), which may run it on this thread. */
	source = g_idle_source_new();
	g_source_set_priority(source, G_PRIORITY_HIGH);
	g_source_set_callback(source, spawn_on_main_thread, &call, NULL);
	g_source_attach(source, NULL);
	g_source_unref(source);
	g_mutex_lock(&call.lock);
	while (!call.done)
		g_cond_wait(&call.cond, &call.lock);
	g_mutex_unlock(&call.lock);
	g_mutex_clear(&call.lock);
	g_cond_clear(&call.cond);
	return call.ok;
}

/* ---- run: to the end, output collected ---------------------------------- */

typedef struct {
	int fd;
	struct nbx_output *output;
} Collector;

static void
collector_take(Collector *collector, const char *data, size_t length)
{
	struct nbx_output *output = collector->output;
	size_t room;

	if (output == NULL || output->buffer == NULL || output->size == 0)
		return;
	room = output->size - 1 - output->length;
	if (length > room) {
		output->truncated = true;
		length = room;
	}
	memcpy(output->buffer + output->length, data, length);
	output->length += length;
	output->buffer[output->length] = '\0';
}

/* Reads both pipes until both are closed or the deadline passes; FALSE on the deadline. */
static gboolean
collect_until(Collector *collectors, guint n, gint64 deadline_us)
{
	char chunk[4096];

	for (;;) {
		struct pollfd fds[2];
		guint open = 0;
		int timeout = -1;

		for (guint i = 0; i < n; i++) {
			if (collectors[i].fd >= 0)
				fds[open++] = (struct pollfd){ .fd = collectors[i].fd, .events = POLLIN };
		}
		if (open == 0)
			return TRUE;
		if (deadline_us > 0) {
			gint64 left = deadline_us - g_get_monotonic_time();

			if (left <= 0)
				return FALSE;
			timeout = (int)MIN(left / 1000 + 1, G_MAXINT);
		}
		if (poll(fds, open, timeout) < 0 && errno != EINTR)
			return FALSE;
		for (guint i = 0; i < n; i++) {
			ssize_t got;

			if (collectors[i].fd < 0)
				continue;
			got = read(collectors[i].fd, chunk, sizeof chunk);
			if (got > 0)
				collector_take(&collectors[i], chunk, (size_t)got);
			else if (got == 0 || (errno != EAGAIN && errno != EINTR))
				close_fd(&collectors[i].fd);
		}
	}
}

static void
output_reset(struct nbx_output *output)
{
	if (output == NULL)
		return;
	output->length = 0;
	output->truncated = false;
	if (output->buffer != NULL && output->size > 0)
		output->buffer[0] = '\0';
}

static gboolean
open_collector_pipe(const struct nbx_host *host, struct nbx_output *output, int *read_end,
		    int *write_end, const char *what, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;
	int fds[2];

	*read_end = *write_end = -1;
	if (output == NULL)
		return TRUE;
	if (!g_unix_open_pipe(fds, FD_CLOEXEC, &error) ||
	    !g_unix_set_fd_nonblocking(fds[0], TRUE, &error)) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot make a pipe for %s: %s", what,
				error->message);
		return FALSE;
	}
	*read_end = fds[0];
	*write_end = fds[1];
	return TRUE;
}

static void
kill_and_reap(int pidfd, GPid pid)
{
	if (pidfd >= 0)
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	else
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static gboolean
run_checked(const struct nbx_host *host, const struct nbx_spawn *spawn, struct nbx_error *err)
{
	if (spawn->on_exit != NULL || spawn->output_path != NULL ||
	    (NBX_SPAWN_HAS(spawn, stderr_fd) && (spawn->stdout_fd != 0 || spawn->stderr_fd != 0))) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"run: on_exit, output_path, stdout_fd and stderr_fd must be unset "
				"(the output goes to the buffers)");
		return FALSE;
	}
	return TRUE;
}

bool
nbx_host_run(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t deadline_us,
	     struct nbx_output *out, struct nbx_output *errout, int32_t *wait_status,
	     struct nbx_error *err)
{
	NbxPluginInstance *instance = host->core_private;
	Collector collectors[2] = { { -1, out }, { -1, errout } };
	ChildOutputs outputs = { .output_file = -1 };
	SpawnRequest request;
	NbxChild *child;
	gboolean ok;
	GPid pid;
	int status = 0;

	if (!run_checked(host, spawn, err))
		return false;
	output_reset(out);
	output_reset(errout);
	spawn_request_read(&request, spawn);
	ok = spawn_request_check(instance, &request, err) &&
	     open_collector_pipe(host, out, &collectors[0].fd, &outputs.out, "stdout", err) &&
	     open_collector_pipe(host, errout, &collectors[1].fd, &outputs.err, "stderr", err) &&
	     fork_exec(instance, &request, &outputs, &pid, err);
	close_fd(&outputs.out);
	close_fd(&outputs.err);
	g_free(request.groups);
	if (!ok) {
		close_fd(&collectors[0].fd);
		close_fd(&collectors[1].fd);
		return false;
	}
	/* Tracked so that a shutdown kills it; reaped here, not by a child watch. */
	child = child_track(instance, pid, NULL, NULL);
	ok = collect_until(collectors, G_N_ELEMENTS(collectors), deadline_us);
	close_fd(&collectors[0].fd);
	close_fd(&collectors[1].fd);
	if (!ok)
		kill_and_reap(child->pidfd, pid);
	else
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	child_untrack(child);
	child_free(child);
	if (!ok) {
		host->error_set(host, err, NBX_ERROR_TIMEOUT,
				"%s did not finish before its deadline and was killed",
				spawn->argv[0]);
		return false;
	}
	*wait_status = status;
	return true;
}

/* ---- signals and clean-up ----------------------------------------------- */

bool
nbx_host_child_signal(const struct nbx_host *host, int64_t pid, int32_t signal,
		      struct nbx_error *err)
{
	NbxPluginInstance *instance = host->core_private;
	NbxChild *child;
	int rc = 0;

	g_mutex_lock(&instance->lock);
	child = g_hash_table_lookup(instance->children, &pid);
	if (child != NULL) {
		rc = child->pidfd >= 0 ? pidfd_send_signal(child->pidfd, signal, NULL, 0)
				       : kill((pid_t)pid, signal);
		/* Exited, reaped, its on_exit still queued: nothing left to signal. */
		if (rc != 0 && errno == ESRCH)
			rc = 0;
	}
	g_mutex_unlock(&instance->lock);
	if (child == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"pid %" G_GINT64_FORMAT " is not a running child of this plugin", pid);
		return false;
	}
	if (rc != 0) {
		host->error_set(host, err, NBX_ERROR_FAILED, "signal %d to %" G_GINT64_FORMAT ": %s",
				signal, pid, g_strerror(errno));
		return false;
	}
	return true;
}

void
nbx_host_children_release(NbxPluginInstance *instance)
{
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&instance->lock);
	g_hash_table_iter_init(&iter, instance->children);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		NbxChild *child = value;

		g_warning("%s: killing child %" G_GINT64_FORMAT " it left running at shutdown",
			  nbx_plugin_instance_name(instance), child->pid);
		if (child->pidfd >= 0)
			pidfd_send_signal(child->pidfd, SIGKILL, NULL, 0);
		else
			kill((pid_t)child->pid, SIGKILL);
		/* Still reaped (by its child watch or its `run`), but reported to nobody. */
		child->instance = NULL;
		child->on_exit = NULL;
	}
	g_hash_table_remove_all(instance->children);
	g_mutex_unlock(&instance->lock);
}
