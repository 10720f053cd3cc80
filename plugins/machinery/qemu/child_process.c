/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "child_process.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>

struct ChildProcess {
	const struct nbx_host *host;
	int64_t pid;
	GMutex lock;
	GCond cond;
	bool exited;
	int wait_status;
	/* Also woken when the child exits (child_process_notify), or NULL. */
	GMutex *notify_lock;
	GCond *notify_cond;
};

static void
child_exited(void *user_data, int64_t pid, int32_t wait_status)
{
	ChildProcess *child = user_data;

	GMutex *notify_lock;
	GCond *notify_cond;

	g_mutex_lock(&child->lock);
	child->exited = true;
	child->wait_status = wait_status;
	notify_lock = child->notify_lock;
	notify_cond = child->notify_cond;
	g_cond_broadcast(&child->cond);
	g_mutex_unlock(&child->lock);
	/* Never both locks at once: a waiter holds its own while it asks child_process_exited. */
	if (notify_lock != NULL) {
		g_mutex_lock(notify_lock);
		g_cond_broadcast(notify_cond);
		g_mutex_unlock(notify_lock);
	}
}

void
child_process_notify(ChildProcess *child, GMutex *lock, GCond *cond)
{
	g_mutex_lock(&child->lock);
	child->notify_lock = lock;
	child->notify_cond = cond;
	g_mutex_unlock(&child->lock);
}

bool
child_process_exited(ChildProcess *child, int *wait_status)
{
	bool exited;

	g_mutex_lock(&child->lock);
	exited = child->exited;
	if (exited && wait_status != NULL)
		*wait_status = child->wait_status;
	g_mutex_unlock(&child->lock);
	return exited;
}

static ChildProcess *
start(const struct nbx_host *host, struct nbx_spawn *spawn, struct nbx_error *err)
{
	ChildProcess *child = g_new0(ChildProcess, 1);

	child->host = host;
	g_mutex_init(&child->lock);
	g_cond_init(&child->cond);
	spawn->on_exit = child_exited;
	spawn->user_data = child;
	if (!host->spawn(host, spawn, &child->pid, err)) {
		child_process_free(child);
		return NULL;
	}
	return child;
}

ChildProcess *
child_process_spawn(const struct nbx_host *host, const char *const *argv, int stdin_fd,
		    const char *output_path, struct nbx_error *err)
{
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn,
		.argv = argv,
		.stdin_fd = stdin_fd,
		.output_path = output_path,
	};

	return start(host, &spawn, err);
}

ChildProcess *
child_process_spawn_to(const struct nbx_host *host, const char *const *argv, int stdin_fd,
		       int stdout_fd, const char *stderr_path, struct nbx_error *err)
{
	g_autofree char *through_proc = g_strdup_printf("/proc/self/fd/%d", stdout_fd);
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn,
		.argv = argv,
		.stdin_fd = stdin_fd,
		.output_path = stderr_path,
		.stdout_fd = stdout_fd,
	};

	/* A 1.1 core reads neither stdout_fd nor the fields after it. */
	if (!NBX_HOST_HAS(host, run)) {
		spawn.struct_size = offsetof(struct nbx_spawn, stdout_fd);
		spawn.output_path = through_proc;
	}
	return start(host, &spawn, err);
}

int64_t
child_process_pid(const ChildProcess *child)
{
	return child->pid;
}

bool
child_process_wait(ChildProcess *child, int64_t deadline_us, int *wait_status)
{
	bool exited;

	g_mutex_lock(&child->lock);
	while (!child->exited) {
		if (deadline_us == 0)
			g_cond_wait(&child->cond, &child->lock);
		else if (!g_cond_wait_until(&child->cond, &child->lock, deadline_us))
			break;
	}
	exited = child->exited;
	if (exited && wait_status != NULL)
		*wait_status = child->wait_status;
	g_mutex_unlock(&child->lock);
	return exited;
}

void
child_process_free(ChildProcess *child)
{
	g_mutex_clear(&child->lock);
	g_cond_clear(&child->cond);
	g_free(child);
}

void
child_process_kill_and_free(ChildProcess *child)
{
	g_mutex_lock(&child->lock);
	if (!child->exited)
		/* Fails only when the core reaped it meanwhile; the wait below then returns at once. */
		child->host->child_signal(child->host, child->pid, SIGKILL, NULL);
	g_mutex_unlock(&child->lock);
	/* SIGKILL cannot be ignored: the exit callback always comes. */
	child_process_wait(child, 0, NULL);
	child_process_free(child);
}

static char *
last_line_of(const char *path)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	size_t n;

	if (path == NULL || !g_file_get_contents(path, &text, NULL, NULL))
		return g_strdup("");
	g_strstrip(text);
	lines = g_strsplit(text, "\n", -1);
	n = g_strv_length(lines);
	return g_strdup(n > 0 ? lines[n - 1] : "");
}

/* "failed with status 1: LAST LINE" or "died of signal 9: ..." into @err. */
static void
report_failure(const struct nbx_host *host, const char *what, const char *program, int status,
	       const char *output, struct nbx_error *err)
{
	if (WIFEXITED(status))
		host->error_set(host, err, NBX_ERROR_FAILED, "%s (%s) failed with status %d: %s", what,
				program, WEXITSTATUS(status), output);
	else
		host->error_set(host, err, NBX_ERROR_FAILED, "%s (%s) died of signal %d: %s", what,
				program, WTERMSIG(status), output);
}

/* ABI 1.2: the core runs it and collects its output; nothing goes through a file. */
static bool
run_by_core(const struct nbx_host *host, const char *what, const char *const *argv,
	    int64_t deadline_us, struct nbx_error *err)
{
	char buffer[4096];
	struct nbx_output output = { .struct_size = sizeof output, .buffer = buffer,
				     .size = sizeof buffer };
	struct nbx_spawn spawn = { .struct_size = sizeof spawn, .argv = argv, .stdin_fd = -1 };
	struct nbx_error cause = { 0 };
	g_auto(GStrv) lines = NULL;
	guint n;
	int32_t status = 0;

	if (!host->run(host, &spawn, deadline_us, &output, &output, &status, &cause)) {
		host->error_set(host, err, cause.code, "%s: %s", what, cause.message);
		return false;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	g_strstrip(buffer);
	lines = g_strsplit(buffer, "\n", -1);
	n = g_strv_length(lines);
	report_failure(host, what, argv[0], status, n > 0 ? lines[n - 1] : "", err);
	return false;
}

bool
child_process_run(const struct nbx_host *host, const char *what, const char *const *argv,
		  const char *output_path, int64_t deadline_us, struct nbx_error *err)
{
	ChildProcess *child;
	g_autofree char *output = NULL;
	int status = 0;

	if (NBX_HOST_HAS(host, run))
		return run_by_core(host, what, argv, deadline_us, err);
	child = child_process_spawn(host, argv, -1, output_path, err);
	if (child == NULL)
		return false;
	if (!child_process_wait(child, deadline_us, &status)) {
		child_process_kill_and_free(child);
		host->error_set(host, err, NBX_ERROR_TIMEOUT, "%s (%s) did not finish in time; killed",
				what, argv[0]);
		return false;
	}
	child_process_free(child);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	output = last_line_of(output_path);
	report_failure(host, what, argv[0], status, output, err);
	return false;
}
