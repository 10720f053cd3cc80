/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Barrier files, for the test plugins (each plugin is built alone, against
 * the SDK: this header is their only shared code). A test arms a barrier by
 * creating PREFIX.barrier; a plugin that reaches it writes PREFIX.reached
 * and waits until the test removes PREFIX.barrier. The wait is for the
 * test's word, never for a time: polled, since a plugin has no file watch.
 */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline void
barrier_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd >= 0)
		close(fd);
}

/*
 * Waits at the barrier PREFIX.barrier if it is armed; @arm arms it first,
 * unless PREFIX.reached says it was reached before. True when it waited.
 */
static inline bool
barrier_wait(const char *prefix, bool arm)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	char barrier[4096], reached[4096];

	snprintf(barrier, sizeof barrier, "%s.barrier", prefix);
	snprintf(reached, sizeof reached, "%s.reached", prefix);
	if (arm && access(reached, F_OK) != 0)
		barrier_touch(barrier);
	if (access(barrier, F_OK) != 0)
		return false;
	barrier_touch(reached);
	while (access(barrier, F_OK) == 0)
		nanosleep(&tick, NULL);
	return true;
}
