/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_poller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET / on a connected socket; TRUE when the body holds @expect. Closes @fd. */
static gboolean
get_answers(int fd, const char *expect)
{
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	struct timeval timeout = { .tv_sec = 2 };
	GString *answer = g_string_new(NULL);
	char buf[1024];
	gboolean ok = FALSE;
	ssize_t got;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	if (write(fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1)) {
		while ((got = read(fd, buf, sizeof buf)) > 0)
			g_string_append_len(answer, buf, got);
		ok = strstr(answer->str, expect) != NULL;
	}
	close(fd);
	g_string_free(answer, TRUE);
	return ok;
}

void
agent_poller_init(AgentPoller *p, const char *ip, int port, const char *expect)
{
	memset(p, 0, sizeof *p);
	p->address.sin_family = AF_INET;
	p->address.sin_port = htons(port);
	inet_pton(AF_INET, ip, &p->address.sin_addr);
	p->expect = expect;
}

static void
drop(AgentPoller *p, guint i)
{
	close(p->fd[i]);
	p->n--;
	p->fd[i] = p->fd[p->n];
	p->started[i] = p->started[p->n];
}

void
agent_poller_clear(AgentPoller *p)
{
	while (p->n > 0)
		drop(p, 0);
}

gboolean
agent_poller_step(AgentPoller *p)
{
	struct pollfd pfd[AGENT_PROBE_MAX];
	int64_t now = g_get_monotonic_time();

	for (guint i = 0; i < p->n;)
		if (now - p->started[i] > G_USEC_PER_SEC)
			drop(p, i);
		else
			i++;
	if (now - p->last >= AGENT_PROBE_EVERY_US && p->n < AGENT_PROBE_MAX) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0)
			g_error("socket: %s", g_strerror(errno));
		p->last = now;
		if (connect(fd, (struct sockaddr *)&p->address, sizeof p->address) == 0 ||
		    errno == EINPROGRESS) {
			p->fd[p->n] = fd;
			p->started[p->n++] = now;
		} else {
			close(fd);
		}
	}
	for (guint i = 0; i < p->n; i++)
		pfd[i] = (struct pollfd){ .fd = p->fd[i], .events = POLLOUT };
	if (poll(pfd, p->n, AGENT_PROBE_EVERY_US / 1000) <= 0) {
		if (p->n == 0)
			g_usleep(AGENT_PROBE_EVERY_US);
		return FALSE;
	}
	for (guint i = p->n; i-- > 0;) {
		int soerr = 0;
		socklen_t len = sizeof soerr;
		int fd;

		if (pfd[i].revents == 0)
			continue;
		if (getsockopt(p->fd[i], SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
			drop(p, i);
			continue;
		}
		fd = p->fd[i];
		p->fd[i] = -1;
		p->n--;
		p->fd[i] = p->fd[p->n];
		p->started[i] = p->started[p->n];
		if (get_answers(fd, p->expect)) {
			agent_poller_clear(p);
			return TRUE;
		}
	}
	return FALSE;
}

