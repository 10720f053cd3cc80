/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox-agent: the state one agent process keeps (its options, the
 * analysis status agent.py keeps, the pinned client), one connection, and
 * one call of a route. PROTOCOL.md is the contract with the host.
 */
#ifndef NESTBOX_AGENT_AGENT_H
#define NESTBOX_AGENT_AGENT_H

#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "byte_reader.h"
#include "form.h"
#include "http_request.h"
#include "json_writer.h"

#ifndef NESTBOX_AGENT_VERSION
#define NESTBOX_AGENT_VERSION "0"
#endif
/* The agent.py protocol level served: CAPE's agent 0.22. */
#define NBA_PROTOCOL_VERSION "0.22"

struct nba_options {
	char bind[INET6_ADDRSTRLEN];
	int port;
	int max_connections;
	int timeout_s;          /* a head must arrive in it; no byte for it ends a body */
	uint64_t max_upload;    /* bytes of a /store body */
	size_t max_output;      /* bytes of stdout (and of stderr) a sync /execute returns */
	char output_dir[1024];  /* async /execute output, spooled uploads */
	bool allow_local;       /* serve every route to the guest's own addresses too */
	bool dry_clock;         /* /clock checks and answers but does not set (tests) */
};

struct nba_agent {
	struct nba_options opt;
	mode_t umask;
	pthread_mutex_t lock; /* the fields below */
	char status[16];      /* init, running, complete, failed, exception */
	char *description;    /* NULL: JSON null */
	bool pinned;
	char pin[INET6_ADDRSTRLEN];
	atomic_int connections;
};

struct nba_conn {
	int fd;
	int idle_ms;
	int64_t head_deadline_ms; /* CLOCK_MONOTONIC; 0 once the head is read */
	int version_minor;
	bool replied;
	bool keep_silent; /* the answer is no answer: close */
	bool exit_after;  /* /kill: the agent ends once this answer is sent */
	struct sockaddr_storage peer_addr;
	char peer[INET6_ADDRSTRLEN];
	struct nba_reader reader;
};

struct nba_call {
	struct nba_agent *agent;
	struct nba_conn *conn;
	struct nba_request *req;
	struct nba_form form;
};

struct nba_route {
	const char *method;
	const char *path;
	void (*handle)(struct nba_call *call);
	unsigned flags;
};

enum {
	/* also served to the guest's own addresses (agent.py's analyzer posts /status) */
	NBA_ROUTE_LOCAL_OK = 1u << 0,
	/* the body may be up to --max-upload; the handler reads the form itself */
	NBA_ROUTE_UPLOAD = 1u << 1,
};

/* Monotonic milliseconds. */
int64_t nba_now_ms(void);

/* The route for @method and @target, NULL if none; @known_method tells 404 from 501. */
const struct nba_route *nba_route_find(const char *method, const char *target,
				       bool *known_method);

/* Reads the body's form through @sink (NULL: files dropped); false after replying. */
bool nba_call_read_form(struct nba_call *call, const struct nba_file_sink *sink);

/*
 * Field @name as a guest path (guest_path.h) into @path. Absent: with
 * @missing (agent.py's message) a 400, without it *path = NULL. False after
 * replying 400.
 */
bool nba_call_path(struct nba_call *call, const char *name, const char *missing,
		   const char **path);

/* For the extension routes, which refuse fields they do not know: false after a 400. */
bool nba_call_only_fields(struct nba_call *call, const char *const *known);

/* Field @name as an integer in [@min, @max], @fallback when absent; false after a 400. */
bool nba_call_integer(struct nba_call *call, const char *name, long long min, long long max,
		      long long fallback, long long *value);

/* The agent's log: stderr, and a ring that GET /logs returns. */
void nba_log(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* A copy of the ring (malloc'd, NUL-terminated). */
char *nba_log_snapshot(size_t *len);

/* Whether a client at @addr is the guest itself (loopback or one of its addresses). */
bool nba_address_is_local(const struct sockaddr_storage *addr);

/* Reads one request from @c and answers it (or closes on it). */
void nba_handle_request(struct nba_agent *agent, struct nba_conn *c);

/* Serves connections on @listen_fd until /kill; returns the exit status. */
int nba_serve(struct nba_agent *agent, int listen_fd);

/* Route handlers, by file. */
void nba_route_index(struct nba_call *call);
void nba_route_status_get(struct nba_call *call);
void nba_route_status_post(struct nba_call *call);
void nba_route_pinning(struct nba_call *call);
void nba_route_kill(struct nba_call *call);
void nba_route_logs(struct nba_call *call);
void nba_route_system(struct nba_call *call);
void nba_route_environ(struct nba_call *call);
void nba_route_path(struct nba_call *call);
void nba_route_not_provided(struct nba_call *call);
void nba_route_clock(struct nba_call *call);
void nba_route_mkdir(struct nba_call *call);
void nba_route_mkdtemp(struct nba_call *call);
void nba_route_mktemp(struct nba_call *call);
void nba_route_retrieve(struct nba_call *call);
void nba_route_remove(struct nba_call *call);
void nba_route_store(struct nba_call *call);
void nba_route_list(struct nba_call *call);
void nba_route_execute(struct nba_call *call);
void nba_route_process(struct nba_call *call);

/* Sets the analysis status (agent.py's state) under the lock. */
void nba_agent_set_status(struct nba_agent *agent, const char *status, const char *description);

#endif
