/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /execute as agent.py does it (command split with shlex; "async" and
 * "shell" are presence flags; "cwd"; a synchronous run answers stdout and
 * stderr, an asynchronous one nothing of the process) plus the extension
 * "execute_exitcode": a synchronous answer adds "exitcode" and whether
 * stdout/stderr were cut at --max-output; an asynchronous one adds
 * "process_id" and the files its stdout and stderr go to, which
 * POST /process (extension "process") reports on.
 *
 * With "shell", agent.py's Popen(list, shell=True) runs
 * /bin/sh -c WORD1 WORD2...: only the first word is the script, the others
 * are its $0, $1... (so send the whole script as one quoted word).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "base64.h"
#include "command_spawn.h"
#include "guest_path.h"
#include "http_response.h"
#include "process_table.h"
#include "shlex_split.h"

struct execute_request {
	struct nba_words words;
	char **argv;
	const char *cwd;
	bool async;
	bool base64;
};

struct capture {
	int fd;
	char *data;
	size_t len, max;
	bool truncated;
};

static bool
parse_execute(struct nba_call *call, struct execute_request *ex)
{
	const struct nba_field *command = nba_form_get(&call->form, "command");
	const struct nba_field *encoding = nba_form_get(&call->form, "encoding");
	const char *problem;
	size_t n;

	if (command == NULL) {
		nba_reply_error(call->conn, 400, "No command has been provided");
		return false;
	}
	if (!nba_call_path(call, "cwd", NULL, &ex->cwd))
		return false;
	if (memchr(command->value, '\0', command->len) != NULL) {
		nba_reply_error(call->conn, 400, "command holds a NUL byte");
		return false;
	}
	problem = nba_shlex_split(command->value, command->len, &ex->words);
	if (problem != NULL || ex->words.count == 0) {
		nba_reply_error(call->conn, 400, "command: %s", problem ? problem : "no words");
		return false;
	}
	ex->async = nba_form_get(&call->form, "async") != NULL;
	ex->base64 = encoding != NULL && strcmp(encoding->value, "base64") == 0;
	ex->argv = ex->words.argv;
	if (nba_form_get(&call->form, "shell") != NULL) {
		n = ex->words.count;
		ex->argv = calloc(n + 3, sizeof *ex->argv);
		if (ex->argv == NULL) {
			nba_reply_error(call->conn, 503, "out of memory");
			return false;
		}
		ex->argv[0] = "/bin/sh";
		ex->argv[1] = "-c";
		memcpy(ex->argv + 2, ex->words.argv, (n + 1) * sizeof *ex->argv);
	}
	return true;
}

#define TABLE_FULL (-1)

/* Spawns and registers the process; 0, an errno, or TABLE_FULL. */
static int
spawn_registered(struct execute_request *ex, int out_fd, int err_fd, struct nba_process *proc)
{
	int rc = TABLE_FULL;

	nba_processes_lock();
	if (nba_processes_make_room()) {
		rc = nba_command_spawn(ex->argv, ex->cwd, out_fd, err_fd, &proc->pid);
		if (rc == 0)
			nba_processes_add(proc);
	}
	nba_processes_unlock();
	return rc;
}

static void
spawn_failed(struct nba_call *call, struct execute_request *ex, int rc)
{
	if (rc == TABLE_FULL) {
		nba_reply_error(call->conn, 503, "%d processes are tracked and none has exited",
				NBA_MAX_PROCESSES);
		return;
	}
	nba_agent_set_status(call->agent, "failed", "Error execute command");
	nba_reply_exception(call->conn, "Error executing command", "%s%s%s: %s", ex->argv[0],
			    ex->cwd ? " in " : "", ex->cwd ? ex->cwd : "", strerror(rc));
}

static int
open_output(struct nba_agent *agent, unsigned long seq, const char *stream, char *path)
{
	snprintf(path, PATH_MAX, "%s/%lu.%s", agent->opt.output_dir, seq, stream);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static void
execute_async(struct nba_call *call, struct execute_request *ex)
{
	struct nba_process proc = { .async = true };
	unsigned long seq;
	int out_fd, err_fd, rc;
	struct nba_json j;

	nba_processes_lock();
	seq = nba_processes_next_sequence();
	nba_processes_unlock();
	out_fd = open_output(call->agent, seq, "stdout", proc.stdout_path);
	err_fd = open_output(call->agent, seq, "stderr", proc.stderr_path);
	rc = out_fd < 0 || err_fd < 0 ? errno : spawn_registered(ex, out_fd, err_fd, &proc);
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	if (rc != 0) {
		spawn_failed(call, ex, rc);
		return;
	}
	nba_agent_set_status(call->agent, "running", "");
	nba_log("%s: started %s as process %d", call->conn->peer, ex->argv[0], (int)proc.pid);
	nba_reply_begin(&j, 3 * 6 * PATH_MAX + 4096, "Successfully executed command");
	nba_json_key(&j, "stdout");
	nba_json_null(&j);
	nba_json_key(&j, "stderr");
	nba_json_null(&j);
	nba_json_key(&j, "process_id");
	nba_json_int(&j, proc.pid);
	nba_json_key(&j, "stdout_path");
	nba_json_cstring(&j, proc.stdout_path);
	nba_json_key(&j, "stderr_path");
	nba_json_cstring(&j, proc.stderr_path);
	nba_reply_finish(call->conn, 200, &j);
}

/* One read of a pipe into @cap; false at its end (the pipe is then closed). */
static bool
capture_read(struct capture *cap)
{
	char buf[65536];
	ssize_t n = read(cap->fd, buf, sizeof buf);
	size_t keep;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		close(cap->fd);
		cap->fd = -1;
		return false;
	}
	keep = cap->max - cap->len < (size_t)n ? cap->max - cap->len : (size_t)n;
	if (keep < (size_t)n)
		cap->truncated = true; /* the rest is read and dropped: the child must not block */
	if (keep > 0) {
		char *grown = realloc(cap->data, cap->len + keep);

		if (grown == NULL) {
			cap->truncated = true;
			return true;
		}
		cap->data = grown;
		memcpy(cap->data + cap->len, buf, keep);
		cap->len += keep;
	}
	return true;
}

/* Reads both pipes to their end, then waits for the exit; false if the client left. */
static bool
collect(struct nba_conn *c, struct capture cap[2], struct nba_process *proc)
{
	while (cap[0].fd >= 0 || cap[1].fd >= 0) {
		struct pollfd pfd[3] = {
			{ .fd = cap[0].fd, .events = POLLIN },
			{ .fd = cap[1].fd, .events = POLLIN },
			{ .fd = c->fd, .events = POLLRDHUP },
		};

		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			return false;
		if (pfd[2].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return false;
		for (int i = 0; i < 2; i++) {
			if (pfd[i].revents != 0)
				capture_read(&cap[i]);
		}
	}
	/* like Popen.communicate(): the pipes ended, now the exit */
	while (nba_processes_wait(proc->pid, 1000, proc) && !proc->exited) {
		if (nba_client_gone(c))
			return false;
	}
	return proc->exited;
}

static void
json_output(struct nba_json *j, const char *key, const struct capture *cap, bool base64)
{
	char *encoded;

	nba_json_key(j, key);
	if (!base64) {
		nba_json_string(j, cap->data != NULL ? cap->data : "", cap->len);
		return;
	}
	encoded = malloc(nba_base64_size(cap->len) + 1);
	if (encoded == NULL) {
		j->overflow = true;
		return;
	}
	nba_json_string(j, encoded, nba_base64_encode((const unsigned char *)cap->data, cap->len,
						      encoded));
	free(encoded);
}

static void
reply_output(struct nba_call *call, const struct capture cap[2], const struct nba_process *proc,
	     bool base64)
{
	size_t budget = 2 * (6 * call->agent->opt.max_output + 16) + 4096;
	struct nba_json j;

	nba_reply_begin(&j, budget, "Successfully executed command");
	json_output(&j, "stdout", &cap[0], base64);
	json_output(&j, "stderr", &cap[1], base64);
	nba_json_key(&j, "exitcode");
	nba_json_int(&j, proc->exitcode);
	nba_json_key(&j, "stdout_truncated");
	nba_json_bool(&j, cap[0].truncated);
	nba_json_key(&j, "stderr_truncated");
	nba_json_bool(&j, cap[1].truncated);
	nba_reply_finish(call->conn, 200, &j);
}

static void
execute_sync(struct nba_call *call, struct execute_request *ex)
{
	struct capture cap[2] = {
		{ .fd = -1, .max = call->agent->opt.max_output },
		{ .fd = -1, .max = call->agent->opt.max_output },
	};
	struct nba_process proc = { .async = false };
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } };
	int rc = 0;

	if (pipe2(pipes[0], O_CLOEXEC) != 0 || pipe2(pipes[1], O_CLOEXEC) != 0)
		rc = errno;
	if (rc == 0)
		rc = spawn_registered(ex, pipes[0][1], pipes[1][1], &proc);
	for (int i = 0; i < 2; i++) {
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
		cap[i].fd = pipes[i][0];
	}
	if (rc != 0) {
		spawn_failed(call, ex, rc);
	} else if (!collect(call->conn, cap, &proc)) {
		nba_log("%s: the client left while process %d ran; it runs on, unwatched",
			call->conn->peer, (int)proc.pid);
		call->conn->keep_silent = true;
	} else {
		nba_agent_set_status(call->agent, "running", "");
		reply_output(call, cap, &proc, ex->base64);
	}
	if (rc == 0)
		nba_processes_forget(proc.pid);
	for (int i = 0; i < 2; i++) {
		if (cap[i].fd >= 0)
			close(cap[i].fd);
		free(cap[i].data);
	}
}

void
nba_route_execute(struct nba_call *call)
{
	struct execute_request ex = { 0 };

	if (parse_execute(call, &ex)) {
		if (ex.async)
			execute_async(call, &ex);
		else
			execute_sync(call, &ex);
	}
	if (ex.argv != ex.words.argv)
		free(ex.argv);
	nba_words_free(&ex.words);
}
