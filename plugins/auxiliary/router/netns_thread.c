/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* setns */
#include "netns_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct job {
	const struct nbx_host *host;
	const char *netns_path;
	netns_fn fn;
	void *data;
	struct nbx_error *err;
	bool ok;
};

static void *
run_inside(void *data)
{
	struct job *job = data;
	int fd = open(job->netns_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		job->host->error_set(job->host, job->err, NBX_ERROR_IO,
				     "cannot enter network namespace %s: %s", job->netns_path,
				     strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	job->ok = job->fn(job->data, job->err);
	return NULL;
}

bool
netns_thread_run(const struct nbx_host *host, const char *netns_path, netns_fn fn, void *data,
		 struct nbx_error *err)
{
	struct job job = { .host = host, .netns_path = netns_path, .fn = fn, .data = data,
			   .err = err };
	pthread_t thread;
	int error;

	if (netns_path == NULL)
		return fn(data, err);
	/* A thread per call: it ends in the namespace it entered, never reused. */
	error = pthread_create(&thread, NULL, run_inside, &job);
	if (error != 0) {
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot start a thread: %s",
				strerror(error));
		return false;
	}
	pthread_join(thread, NULL);
	return job.ok;
}
