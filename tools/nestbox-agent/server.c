/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connections: a detached thread per connection up to --max-connections
 * (a client over the cap gets 503 at once), one request per connection,
 * a deadline for the head and an idle timeout for everything after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "http_response.h"

/* After the answer: how long and how much of an unread body is drained, so
 * that closing does not reset the connection before the client read it. */
#define DRAIN_MS 2000
#define DRAIN_BYTES (1024 * 1024)
/* Connections over --max-connections still get a thread, this many, only
 * to read their head and answer 503 (closing at once could reset the
 * connection before the client reads the refusal); beyond, they are closed. */
#define BUSY_SLOTS 16
#define BUSY_HEAD_MS 2000

struct conn_start {
	struct nba_agent *agent;
	int fd;
	struct sockaddr_storage peer;
	bool busy; /* over the cap: answer 503 */
};

int64_t
nba_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reader's source: the socket, within the head deadline or the idle timeout. */
static ssize_t
conn_read(void *ctx, void *buf, size_t len)
{
	struct nba_conn *c = ctx;
	int timeout = c->idle_ms;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t got;
		int ready;

		/* the socket is non-blocking: a stalled client never holds a thread past its time */
		if (c->head_deadline_ms != 0) {
			int64_t left = c->head_deadline_ms - nba_now_ms();

			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (left < timeout)
				timeout = (int)left;
		}
		ready = poll(&pfd, 1, timeout);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0)
			errno = ETIMEDOUT;
		if (ready <= 0)
			return -1;
		got = recv(c->fd, buf, len, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		return got;
	}
}

static void
drain_and_close(struct nba_conn *c)
{
	int64_t until = nba_now_ms() + DRAIN_MS;
	size_t drained = 0;
	char buf[16384];

	shutdown(c->fd, SHUT_WR);
	while (drained < DRAIN_BYTES) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t left = until - nba_now_ms();
		ssize_t got;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		got = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (got <= 0 && !(got < 0 && (errno == EINTR || errno == EAGAIN)))
			break;
		if (got > 0)
			drained += (size_t)got;
	}
	close(c->fd);
}

static void
describe_peer(struct nba_conn *c)
{
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&c->peer_addr;

	if (c->peer_addr.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&c->peer_addr)->sin_addr, c->peer,
			  sizeof c->peer);
	} else if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
		inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], c->peer, sizeof c->peer);
	} else {
		inet_ntop(AF_INET6, &v6->sin6_addr, c->peer, sizeof c->peer);
	}
}

/* Over the cap: the head read (briefly) and a 503. */
static void
refuse_busy(struct nba_agent *agent, struct nba_conn *c)
{
	struct nba_request *req = malloc(sizeof *req);
	struct nba_error err = { 0 };

	if (req != NULL && nba_request_read_head(&c->reader, req, &err))
		c->version_minor = req->version_minor;
	free(req);
	nba_reply_error(c, 503, "%d connections are being served (--max-connections): try again",
			agent->opt.max_connections);
}

static void *
connection_thread(void *arg)
{
	struct conn_start *start = arg;
	struct nba_agent *agent = start->agent;
	struct nba_conn *c = calloc(1, sizeof *c);
	bool exit_after = false;

	if (c == NULL) {
		close(start->fd);
	} else {
		c->fd = start->fd;
		c->peer_addr = start->peer;
		c->idle_ms = agent->opt.timeout_s * 1000;
		c->head_deadline_ms = nba_now_ms() + (start->busy ? BUSY_HEAD_MS : c->idle_ms);
		describe_peer(c);
		nba_reader_init(&c->reader, conn_read, c);
		if (start->busy)
			refuse_busy(agent, c);
		else
			nba_handle_request(agent, c);
		exit_after = c->exit_after;
		drain_and_close(c);
		free(c);
	}
	free(start);
	atomic_fetch_sub(&agent->connections, 1);
	if (exit_after) {
		nba_log("stopping: asked by /kill");
		exit(0);
	}
	return NULL;
}

static void
start_connection(struct nba_agent *agent, int fd, const struct sockaddr_storage *peer)
{
	int open = atomic_fetch_add(&agent->connections, 1);
	struct conn_start *start;
	pthread_attr_t attr;
	pthread_t thread;
	int rc = -1;

	if (open >= agent->opt.max_connections + BUSY_SLOTS) {
		atomic_fetch_sub(&agent->connections, 1);
		close(fd);
		nba_log("closed a connection at once: %d are open", open);
		return;
	}
	start = malloc(sizeof *start);
	if (start != NULL) {
		start->agent = agent;
		start->fd = fd;
		start->peer = *peer;
		start->busy = open >= agent->opt.max_connections;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&thread, &attr, connection_thread, start);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		free(start);
		atomic_fetch_sub(&agent->connections, 1);
		close(fd);
		nba_log("could not start a thread for a connection");
	}
}

int
nba_serve(struct nba_agent *agent, int listen_fd)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd >= 0) {
			start_connection(agent, fd, &peer);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* out of descriptors: let connections end, do not spin */
			nba_log("accept: %s", strerror(errno));
			poll(NULL, 0, 100);
			continue;
		}
		nba_log("accept: %s", strerror(errno));
		return 1;
	}
}
