/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One request, from its head to its route: agent.py's routes matched as it
 * matches them (the whole target, so "/status?x" is no route), its pinning,
 * then what nestbox-agent adds: the guest's own processes may only read
 * the status, and the body must be framed and sized as the route allows.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "guest_path.h"
#include "http_response.h"

static const struct nba_route routes[] = {
	{ "GET", "/", nba_route_index, NBA_ROUTE_LOCAL_OK },
	{ "GET", "/status", nba_route_status_get, NBA_ROUTE_LOCAL_OK },
	{ "POST", "/status", nba_route_status_post, NBA_ROUTE_LOCAL_OK },
	{ "GET", "/pinning", nba_route_pinning, 0 },
	{ "GET", "/kill", nba_route_kill, 0 },
	{ "GET", "/logs", nba_route_logs, 0 },
	{ "GET", "/system", nba_route_system, 0 },
	{ "GET", "/environ", nba_route_environ, 0 },
	{ "GET", "/path", nba_route_path, 0 },
	{ "POST", "/mkdir", nba_route_mkdir, 0 },
	{ "GET", "/mkdtemp", nba_route_mkdtemp, 0 },
	{ "POST", "/mkdtemp", nba_route_mkdtemp, 0 },
	{ "GET", "/mktemp", nba_route_mktemp, 0 },
	{ "POST", "/mktemp", nba_route_mktemp, 0 },
	{ "POST", "/store", nba_route_store, NBA_ROUTE_UPLOAD },
	{ "POST", "/retrieve", nba_route_retrieve, 0 },
	{ "POST", "/remove", nba_route_remove, 0 },
	{ "POST", "/execute", nba_route_execute, 0 },
	{ "POST", "/extract", nba_route_not_provided, 0 },
	{ "POST", "/execpy", nba_route_not_provided, 0 },
	{ "POST", "/browser_extension", nba_route_not_provided, 0 },
	/* nestbox-agent's extensions (PROTOCOL.md) */
	{ "POST", "/process", nba_route_process, 0 },
	{ "POST", "/list", nba_route_list, 0 },
	{ "POST", "/clock", nba_route_clock, 0 },
};

const struct nba_route *
nba_route_find(const char *method, const char *target, bool *known_method)
{
	*known_method = strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ||
			strcmp(method, "DELETE") == 0;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].path, target) == 0)
			return &routes[i];
	}
	return NULL;
}

bool
nba_call_read_form(struct nba_call *call, const struct nba_file_sink *sink)
{
	struct nba_error err = { 0 };
	uint64_t length = call->req->has_content_length ? call->req->content_length : 0;

	if (nba_form_read(&call->conn->reader, call->req->content_type, length, sink,
			  &call->form, &err))
		return true;
	if (err.status == 0) {
		nba_log("%s: %s %s: %s", call->conn->peer, call->req->method, call->req->target,
			err.message);
		call->conn->keep_silent = true;
	} else {
		nba_reply_error(call->conn, err.status, "%s", err.message);
	}
	return false;
}

/* agent.py: once pinned, other clients get no answer at all, except 127.0.0.1's POST /status. */
static bool
allowed_by_pin(struct nba_agent *agent, struct nba_conn *c, const struct nba_request *req)
{
	bool allowed;

	pthread_mutex_lock(&agent->lock);
	allowed = !agent->pinned || strcmp(agent->pin, c->peer) == 0 ||
		  (strcmp(c->peer, "127.0.0.1") == 0 && strcmp(req->method, "POST") == 0 &&
		   strcmp(req->target, "/status") == 0);
	pthread_mutex_unlock(&agent->lock);
	if (!allowed) {
		nba_log("%s: %s %s ignored: the agent is pinned to another client", c->peer,
			req->method, req->target);
		c->keep_silent = true;
	}
	return allowed;
}

/*
 * The agent runs as root: a process in the guest that could use it could
 * write any file or run anything as root. agent.py refuses /execute to the
 * guest's own addresses; nestbox-agent refuses everything but the status.
 */
static bool
allowed_locally(struct nba_agent *agent, struct nba_conn *c, const struct nba_route *route)
{
	if ((route->flags & NBA_ROUTE_LOCAL_OK) || agent->opt.allow_local ||
	    !nba_address_is_local(&c->peer_addr))
		return true;
	if (strcmp(route->path, "/execute") == 0)
		nba_reply_error(c, 500, "Not allowed to execute commands");
	else
		nba_reply_error(c, 403, "%s %s is not served to the guest's own addresses "
				"(nestbox-agent answers the analysis host; --allow-local changes that)",
				route->method, route->path);
	return false;
}

static bool
body_acceptable(struct nba_agent *agent, struct nba_conn *c, const struct nba_request *req,
		const struct nba_route *route)
{
	uint64_t limit = (route->flags & NBA_ROUTE_UPLOAD) ? agent->opt.max_upload
							   : NBA_MAX_FORM_BODY;
	static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (req->has_transfer_encoding) {
		nba_reply_error(c, 411, "Transfer-Encoding is not accepted: send the body with a "
				"Content-Length");
		return false;
	}
	if (strcmp(req->method, "GET") == 0 && req->content_length > 0) {
		nba_reply_error(c, 400, "a GET request takes no body");
		return false;
	}
	if (req->content_length > limit) {
		nba_reply_error(c, 413, "the body of %s is limited to %llu bytes", route->path,
				(unsigned long long)limit);
		return false;
	}
	if (req->expect_continue && req->version_minor >= 1 && req->content_length > 0 &&
	    !nba_send(c, go_on, sizeof go_on - 1))
		return false;
	nba_reader_limit(&c->reader, req->has_content_length ? req->content_length : 0);
	return true;
}

static void
dispatch(struct nba_agent *agent, struct nba_conn *c, struct nba_request *req)
{
	struct nba_call call = { .agent = agent, .conn = c, .req = req };
	bool known_method;
	const struct nba_route *route = nba_route_find(req->method, req->target, &known_method);

	if (!allowed_by_pin(agent, c, req))
		return;
	if (route == NULL) {
		if (known_method)
			nba_reply_error(c, 404, "Route not found");
		else
			nba_reply_error(c, 501, "Unsupported method (%s)", req->method);
		return;
	}
	if (!allowed_locally(agent, c, route) || !body_acceptable(agent, c, req, route))
		return;
	if ((route->flags & NBA_ROUTE_UPLOAD) || nba_call_read_form(&call, NULL)) {
		nba_log("%s: %s %s", c->peer, req->method, req->target);
		route->handle(&call);
	}
	nba_form_clear(&call.form);
}

void
nba_handle_request(struct nba_agent *agent, struct nba_conn *c)
{
	struct nba_request req;
	struct nba_error err = { 0 };

	if (!nba_request_read_head(&c->reader, &req, &err)) {
		if (err.status != 0)
			nba_reply_error(c, err.status, "%s", err.message);
		else
			c->keep_silent = true;
		return;
	}
	c->head_deadline_ms = 0;
	c->version_minor = req.version_minor;
	dispatch(agent, c, &req);
}

bool
nba_call_path(struct nba_call *call, const char *name, const char *missing, const char **path)
{
	const struct nba_field *field = nba_form_get(&call->form, name);
	const char *problem;

	*path = NULL;
	if (field == NULL) {
		if (missing == NULL)
			return true;
		nba_reply_error(call->conn, 400, "%s", missing);
		return false;
	}
	problem = nba_guest_path_problem(field->value, field->len);
	if (problem != NULL) {
		nba_reply_error(call->conn, 400, "%s \"%.200s\" %s (PROTOCOL.md: paths)", name,
				field->value, problem);
		return false;
	}
	*path = field->value;
	return true;
}

bool
nba_call_only_fields(struct nba_call *call, const char *const *known)
{
	for (size_t i = 0; i < call->form.count; i++) {
		const char *name = call->form.fields[i].name;
		bool found = false;

		for (size_t k = 0; known[k] != NULL && !found; k++)
			found = strcmp(known[k], name) == 0;
		if (!found) {
			nba_reply_error(call->conn, 400, "%s takes no field \"%.100s\"",
					call->req->target, name);
			return false;
		}
	}
	return true;
}

bool
nba_call_integer(struct nba_call *call, const char *name, long long min, long long max,
		 long long fallback, long long *value)
{
	const struct nba_field *field = nba_form_get(&call->form, name);
	long long n = 0;

	*value = fallback;
	if (field == NULL)
		return true;
	for (size_t i = 0; i < field->len; i++) {
		char c = field->value[i];

		if (c < '0' || c > '9' || i >= 18) {
			n = -1;
			break;
		}
		n = n * 10 + (c - '0');
	}
	if (field->len == 0 || n < min || n > max) {
		nba_reply_error(call->conn, 400, "%s must be a decimal integer from %lld to %lld",
				name, min, max);
		return false;
	}
	*value = n;
	return true;
}
