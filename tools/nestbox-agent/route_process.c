/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /process (extension "process"): the state of a process an
 * asynchronous /execute started, optionally after waiting up to "wait"
 * seconds for it to exit, so the host learns "the sample exited, with this
 * code" at once instead of by polling.
 */
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "http_response.h"
#include "process_table.h"

#define MAX_WAIT_S 300

static void
json_size(struct nba_json *j, const char *key, const char *path)
{
	struct stat st;

	nba_json_key(j, key);
	if (stat(path, &st) == 0)
		nba_json_int(j, (long long)st.st_size);
	else
		nba_json_null(j);
}

/* Waits in one-second steps, so a client that leaves frees its thread. */
static bool
wait_for(struct nba_conn *c, pid_t pid, long long seconds, struct nba_process *proc)
{
	int64_t until = nba_now_ms() + seconds * 1000;

	for (;;) {
		int64_t left = until - nba_now_ms();

		if (!nba_processes_wait(pid, left > 1000 ? 1000 : (left > 0 ? (int)left : 0), proc))
			return false;
		if (proc->exited || left <= 0 || nba_client_gone(c))
			return true;
	}
}

void
nba_route_process(struct nba_call *call)
{
	static const char *const known[] = { "process_id", "wait", NULL };
	long long pid, wait_s;
	struct nba_process proc;
	struct nba_json j;

	if (!nba_call_only_fields(call, known) ||
	    !nba_call_integer(call, "process_id", 0, 0x7fffffff, -1, &pid) ||
	    !nba_call_integer(call, "wait", 0, MAX_WAIT_S, 0, &wait_s))
		return;
	if (pid <= 0) {
		nba_reply_error(call->conn, 400, "No process_id has been provided");
		return;
	}
	if (!wait_for(call->conn, (pid_t)pid, wait_s, &proc) || !proc.async) {
		nba_reply_error(call->conn, 404, "No process %lld: only processes started by an "
				"asynchronous /execute are known (the last %d)", pid, NBA_MAX_PROCESSES);
		return;
	}
	nba_reply_begin(&j, 3 * 6 * PATH_MAX + 4096, "Process status");
	nba_json_key(&j, "process_id");
	nba_json_int(&j, proc.pid);
	nba_json_key(&j, "status");
	nba_json_cstring(&j, proc.exited ? "exited" : "running");
	nba_json_key(&j, "exitcode");
	if (proc.exited)
		nba_json_int(&j, proc.exitcode);
	else
		nba_json_null(&j);
	nba_json_key(&j, "stdout_path");
	nba_json_cstring(&j, proc.stdout_path);
	nba_json_key(&j, "stderr_path");
	nba_json_cstring(&j, proc.stderr_path);
	json_size(&j, "stdout_size", proc.stdout_path);
	json_size(&j, "stderr_size", proc.stderr_path);
	nba_reply_finish(call->conn, 200, &j);
}
