/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One HTTP request to the agent, with libsoup's synchronous API on the
 * calling thread (an op's thread may be inside the machine's network
 * namespace, so it makes the connection itself: to the IP literal, no
 * resolver, no proxy, no redirect, no content decoding).
 *
 * Every request is bounded in time: a deadline (the op's, or sooner for a
 * short request) cancels it wherever it blocks, from a timeout on the
 * core's main loop, and a stall timeout on the socket ends a transfer that
 * stopped moving. Every answer is bounded in size by its reader.
 */
#pragma once

#include <gio/gio.h>
#include <nestbox/plugin.h>

#include <stdbool.h>
#include <stdint.h>

typedef enum {
	/* A short exchange (GET /, /mkdtemp, a small /retrieve): the request
	 * timeout bounds it, within the op's deadline. */
	AGENT_REQUEST_QUICK,
	/* Bytes flow (an upload, a download): the deadline bounds it, a stall
	 * of the request timeout ends it. */
	AGENT_REQUEST_TRANSFER,
	/* The agent answers when a command has ended: the deadline alone. */
	AGENT_REQUEST_WAIT,
} AgentRequestKind;

/* Why a request failed, for a caller that retries (connect). */
typedef enum {
	AGENT_FAILURE_NONE,
	/* Nothing took the connection, or it broke before any answer. */
	AGENT_FAILURE_UNREACHABLE,
	/* Connected, but no answer came in time. */
	AGENT_FAILURE_SILENT,
	/* Something answered, but not HTTP, or broke the answer off. */
	AGENT_FAILURE_PROTOCOL,
	/* The answer was larger than its reader allows (it was complete, or not). */
	AGENT_FAILURE_TOO_LARGE,
	/* The op's deadline passed, or the call could not even be made. */
	AGENT_FAILURE_FINAL,
} AgentFailure;

/* Where the agent is. */
typedef struct {
	const struct nbx_host *host;
	GSocketAddress *address;
	/* "10.0.0.2:8000" ("[fd00::2]:8000"), for messages. */
	char *name;
	int64_t request_timeout_us;
} AgentEndpoint;

bool agent_endpoint_init(AgentEndpoint *endpoint, const struct nbx_host *host, const char *ip,
			 int port, int64_t request_timeout_s, struct nbx_error *err);
void agent_endpoint_clear(AgentEndpoint *endpoint);

typedef struct {
	const char *method;
	const char *path;
	AgentRequestKind kind;
	/* The op's deadline (host->monotonic_us() clock); 0: none. */
	int64_t deadline_us;
	/* A form, sent urlencoded: name, value, name, value, ..., NULL. */
	const char *const *form;
	/* Or a body streamed from these parts (NULL-terminated), of @body_length bytes. */
	GInputStream *const *body_parts;
	goffset body_length;
	const char *content_type;
} AgentRequest;

typedef struct _AgentExchange AgentExchange;

/*
 * Sends @request and reads the status line and headers of the answer.
 * NULL with @err (and *@failure, which may be NULL) when that failed.
 */
AgentExchange *agent_exchange_start(const AgentEndpoint *endpoint, const AgentRequest *request,
				    AgentFailure *failure, struct nbx_error *err);

guint agent_exchange_status(const AgentExchange *exchange);

/* The answer's Content-Length, or -1 when it has none. */
goffset agent_exchange_length(const AgentExchange *exchange);

/* "POST /store", for messages. */
const char *agent_exchange_what(const AgentExchange *exchange);

/*
 * Reads the whole body into *@body, at most @max bytes. Larger, or a body
 * that breaks off: false with @err (NBX_ERROR_INVALID, NBX_ERROR_IO,
 * NBX_ERROR_TIMEOUT) and *@failure.
 */
bool agent_exchange_read(AgentExchange *exchange, gsize max, GBytes **body,
			 AgentFailure *failure, struct nbx_error *err);

/*
 * Copies the body into @fd, at most @max bytes; *@written says how many. A
 * body with more fills @max and is not read on: *@too_large, and true.
 * False with @err when reading or writing failed.
 */
bool agent_exchange_copy(AgentExchange *exchange, int fd, int64_t max, int64_t *written,
			 bool *too_large, struct nbx_error *err);

void agent_exchange_free(AgentExchange *exchange);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentExchange, agent_exchange_free)
