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
};

static void
child_exited(void *user_data, int64_t pid, int32_t wait_status)
{
	ChildProcess *child = user_data;

	g_mutex_lock(&child->lock);
	child->exited = true;
	child->wait_status = wait_status;
	g_cond_broadcast(&child->cond);
	g_mutex_unlock(&child->lock);
}

ChildProcess *
child_process_spawn(const struct nbx_host *host, const char *const *argv, int stdin_fd,
		    const char *output_path, struct nbx_error *err)
{
	return child_process_spawn_fds(host, argv, stdin_fd, output_path, NULL, 0, err);
}

ChildProcess *
child_process_spawn_fds(const struct nbx_host *host, const char *const *argv, int stdin_fd,
			const char *output_path, const struct nbx_fd_map *fds, uint32_t n_fds,
			struct nbx_error *err)
{
	ChildProcess *child = g_new0(ChildProcess, 1);
	struct nbx_spawn spawn = {
		.struct_size = sizeof spawn,
		.argv = argv,
		.stdin_fd = stdin_fd,
		.output_path = output_path,
		.fds = fds,
		.n_fds = n_fds,
		.on_exit = child_exited,
		.user_data = child,
	};

	child->host = host;
	g_mutex_init(&child->lock);
	g_cond_init(&child->cond);
	if (!host->spawn(host, &spawn, &child->pid, err)) {
		child_process_free(child);
		return NULL;
	}
	return child;
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

bool
child_process_run(const struct nbx_host *host, const char *what, const char *const *argv,
		  const char *output_path, int64_t deadline_us, struct nbx_error *err)
{
	ChildProcess *child = child_process_spawn(host, argv, -1, output_path, err);
	g_autofree char *output = NULL;
	int status = 0;

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
	if (WIFEXITED(status))
		host->error_set(host, err, NBX_ERROR_FAILED, "%s (%s) failed with status %d: %s", what,
				argv[0], WEXITSTATUS(status), output);
	else
		host->error_set(host, err, NBX_ERROR_FAILED, "%s (%s) died of signal %d: %s", what,
				argv[0], WTERMSIG(status), output);
	return false;
}
