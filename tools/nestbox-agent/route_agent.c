/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The routes about the agent itself, as agent.py 0.22 answers them:
 * GET / (version and features), the analysis status, pinning, /kill, the
 * agent's logs, system, environment and path; and the routes it does not
 * provide.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "http_response.h"

#define SMALL (64 * 1024)

extern char **environ;

/* agent.py's features that hold here, then nestbox-agent's extensions (PROTOCOL.md). */
static const char *const features[] = {
	"execute", "pinning", "logs", "largefile", "unicodepath", "subdir_upload",
	"execute_exitcode", "process", "list", "clock", NULL,
};

void
nba_route_index(struct nba_call *call)
{
	struct nba_json j;

	nba_reply_begin(&j, SMALL, "nestbox-agent");
	nba_json_key(&j, "version");
	nba_json_cstring(&j, NBA_PROTOCOL_VERSION);
	nba_json_key(&j, "features");
	nba_json_begin_array(&j);
	for (size_t i = 0; features[i] != NULL; i++)
		nba_json_cstring(&j, features[i]);
	nba_json_end_array(&j);
	nba_json_key(&j, "is_user_admin");
	nba_json_bool(&j, geteuid() == 0);
	nba_json_key(&j, "nestbox_agent_version");
	nba_json_cstring(&j, NESTBOX_AGENT_VERSION);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_agent_set_status(struct nba_agent *agent, const char *status, const char *description)
{
	char *copy = description != NULL ? strdup(description) : NULL;

	pthread_mutex_lock(&agent->lock);
	snprintf(agent->status, sizeof agent->status, "%s", status);
	free(agent->description);
	agent->description = copy;
	pthread_mutex_unlock(&agent->lock);
}

void
nba_route_status_get(struct nba_call *call)
{
	struct nba_agent *agent = call->agent;
	struct nba_json j;

	nba_reply_begin(&j, SMALL + NBA_MAX_FIELD_VALUE * 6, "Analysis status");
	pthread_mutex_lock(&agent->lock);
	nba_json_key(&j, "status");
	nba_json_cstring(&j, agent->status);
	nba_json_key(&j, "description");
	nba_json_cstring(&j, agent->description);
	pthread_mutex_unlock(&agent->lock);
	nba_reply_finish(call->conn, 200, &j);
}

/* agent.py's Status: a name (any case) or its number. */
static const char *
status_name(const struct nba_field *field)
{
	static const char *const names[] = { "init", "running", "complete", "failed", "exception" };

	if (field == NULL)
		return NULL;
	for (size_t i = 0; i < 5; i++) {
		char number[2] = { (char)('1' + i), '\0' };

		if ((strlen(field->value) == field->len && nba_ascii_equal(field->value, names[i])) ||
		    strcmp(field->value, number) == 0)
			return names[i];
	}
	return NULL;
}

void
nba_route_status_post(struct nba_call *call)
{
	const char *status = status_name(nba_form_get(&call->form, "status"));
	const struct nba_field *description = nba_form_get(&call->form, "description");

	if (status == NULL) {
		nba_reply_error(call->conn, 400, "No valid status has been provided");
		return;
	}
	nba_agent_set_status(call->agent, status, description ? description->value : NULL);
	nba_reply_success(call->conn, "Analysis status updated");
}

void
nba_route_pinning(struct nba_call *call)
{
	struct nba_agent *agent = call->agent;
	bool was_pinned;
	struct nba_json j;

	pthread_mutex_lock(&agent->lock);
	was_pinned = agent->pinned;
	if (!was_pinned) {
		agent->pinned = true;
		snprintf(agent->pin, sizeof agent->pin, "%s", call->conn->peer);
	}
	pthread_mutex_unlock(&agent->lock);
	if (was_pinned) {
		nba_reply_error(call->conn, 500, "Agent has already been pinned to an IP!");
		return;
	}
	nba_log("pinned to %s", call->conn->peer);
	nba_reply_begin(&j, SMALL, "Successfully pinned Agent");
	nba_json_key(&j, "client_ip");
	nba_json_cstring(&j, call->conn->peer);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_kill(struct nba_call *call)
{
	nba_reply_success(call->conn, "Quit the nestbox-agent");
	call->conn->exit_after = true;
}

void
nba_route_logs(struct nba_call *call)
{
	size_t len = 0;
	char *log = nba_log_snapshot(&len);
	struct nba_json j;

	if (log == NULL) {
		nba_reply_error(call->conn, 503, "out of memory");
		return;
	}
	nba_reply_begin(&j, SMALL + len * 6, "Agent logs");
	nba_json_key(&j, "stdout");
	nba_json_string(&j, log, len);
	nba_json_key(&j, "stderr");
	nba_json_cstring(&j, "");
	nba_reply_finish(call->conn, 200, &j);
	free(log);
}

void
nba_route_system(struct nba_call *call)
{
	struct nba_json j;

	nba_reply_begin(&j, SMALL, "System");
	nba_json_key(&j, "system");
	nba_json_cstring(&j, "Linux");
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_environ(struct nba_call *call)
{
	struct nba_json j;

	nba_reply_begin(&j, 4 * 1024 * 1024, "Environment variables");
	nba_json_key(&j, "environ");
	nba_json_begin_object(&j);
	for (char **e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char name[256];

		if (eq == NULL || (size_t)(eq - *e) >= sizeof name)
			continue;
		memcpy(name, *e, (size_t)(eq - *e));
		name[eq - *e] = '\0';
		nba_json_key(&j, name);
		nba_json_cstring(&j, eq + 1);
	}
	nba_json_end_object(&j);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_path(struct nba_call *call)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	struct nba_json j;

	if (n < 0) {
		nba_reply_exception(call->conn, "Error reading the agent's path", "/proc/self/exe: %s", strerror(errno));
		return;
	}
	path[n] = '\0';
	nba_reply_begin(&j, SMALL, "Agent path");
	nba_json_key(&j, "filepath");
	nba_json_cstring(&j, path);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_not_provided(struct nba_call *call)
{
	const char *why = strcmp(call->req->target, "/extract") == 0
				  ? "no zip support; upload each file with /store"
			  : strcmp(call->req->target, "/execpy") == 0
				  ? "no Python in the guest; use /execute"
				  : "Windows only";

	nba_reply_error(call->conn, 404, "Route not found: nestbox-agent does not provide %s (%s)",
			call->req->target, why);
}
