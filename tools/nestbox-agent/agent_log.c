/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's log: a line per event on stderr (the guest's console), and the
 * last LOG_RING bytes kept for GET /logs, which is how the host fetches "the
 * agent's own logs" without a file in the guest.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

#define LOG_RING (64 * 1024)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char ring[LOG_RING];
static size_t ring_start, ring_len;

static void
ring_append(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		ring[(ring_start + ring_len) % LOG_RING] = text[i];
		if (ring_len < LOG_RING)
			ring_len++;
		else
			ring_start = (ring_start + 1) % LOG_RING;
	}
}

void
nba_log(const char *format, ...)
{
	char line[1400];
	struct timespec now;
	struct tm tm;
	size_t n;
	va_list args;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ nestbox-agent: ", &tm);
	va_start(args, format);
	vsnprintf(line + n, sizeof line - n - 1, format, args);
	va_end(args);
	n = strlen(line);
	line[n++] = '\n';
	pthread_mutex_lock(&log_lock);
	fwrite(line, 1, n, stderr);
	ring_append(line, n);
	pthread_mutex_unlock(&log_lock);
}

char *
nba_log_snapshot(size_t *len)
{
	char *copy;

	pthread_mutex_lock(&log_lock);
	copy = malloc(ring_len + 1);
	if (copy != NULL) {
		size_t first = ring_len < LOG_RING - ring_start ? ring_len : LOG_RING - ring_start;

		memcpy(copy, ring + ring_start, first);
		memcpy(copy + first, ring, ring_len - first);
		copy[ring_len] = '\0';
		*len = ring_len;
	}
	pthread_mutex_unlock(&log_lock);
	return copy;
}
