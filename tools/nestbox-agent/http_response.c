/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http_response.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Small answers (errors, status): their JSON never needs more. */
#define SMALL_ANSWER (64 * 1024)

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

bool
nba_wait_writable(struct nba_conn *c)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int ready = poll(&pfd, 1, c->idle_ms);

		if (ready > 0)
			return true;
		if (ready == 0 || errno != EINTR)
			return false;
	}
}

bool
nba_client_gone(const struct nba_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLRDHUP };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool
nba_send(struct nba_conn *c, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t sent;

		if (!nba_wait_writable(c))
			return false;
		sent = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (sent <= 0)
			return false;
		p += sent;
		len -= (size_t)sent;
	}
	return true;
}

bool
nba_send_head(struct nba_conn *c, int status, const char *content_type, long long content_length)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.%d %d %s\r\nServer: nestbox-agent/" NESTBOX_AGENT_VERSION
			 "\r\nConnection: close\r\n",
			 c->version_minor >= 1 ? 1 : 0, status, reason(status));

	if (content_type != NULL)
		n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: %s\r\n", content_type);
	if (content_length >= 0)
		n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %lld\r\n",
			      content_length);
	n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
	c->replied = true;
	return nba_send(c, head, (size_t)n);
}

void
nba_reply_begin(struct nba_json *j, size_t max, const char *message)
{
	nba_json_init(j, max);
	nba_json_begin_object(j);
	nba_json_key(j, "message");
	nba_json_cstring(j, message);
}

void
nba_reply_finish(struct nba_conn *c, int status, struct nba_json *j)
{
	nba_json_end_object(j);
	if (j->overflow) {
		/* a route's budget was wrong: say so rather than send half a text */
		nba_json_free(j);
		nba_log("answer for status %d did not fit its bound", status);
		nba_reply_error(c, 500, "the answer is larger than the agent's bound");
		return;
	}
	if (nba_send_head(c, status, "application/json", (long long)j->len))
		nba_send(c, j->buf, j->len);
	nba_json_free(j);
}

void
nba_reply_success(struct nba_conn *c, const char *message)
{
	struct nba_json j;

	nba_reply_begin(&j, SMALL_ANSWER, message);
	nba_reply_finish(c, 200, &j);
}

void
nba_reply_error(struct nba_conn *c, int code, const char *format, ...)
{
	char message[1024];
	struct nba_json j;
	va_list args;

	va_start(args, format);
	vsnprintf(message, sizeof message, format, args);
	va_end(args);
	nba_log("%s: %d %s", c->peer, code, message);
	nba_reply_begin(&j, SMALL_ANSWER, message);
	nba_json_key(&j, "error_code");
	nba_json_int(&j, code);
	nba_reply_finish(c, code, &j);
}

void
nba_reply_exception(struct nba_conn *c, const char *what, const char *format, ...)
{
	char detail[1024], message[1200];
	struct nba_json j;
	va_list args;

	va_start(args, format);
	vsnprintf(detail, sizeof detail, format, args);
	va_end(args);
	snprintf(message, sizeof message, "%s: %s", what, detail);
	nba_log("%s: 500 %s", c->peer, message);
	nba_reply_begin(&j, SMALL_ANSWER, message);
	nba_json_key(&j, "error_code");
	nba_json_int(&j, 500);
	nba_json_key(&j, "traceback");
	nba_json_cstring(&j, detail);
	nba_reply_finish(c, 500, &j);
}
