/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* setns */
#define _GNU_SOURCE
#include "netns_call.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

typedef struct {
	const char *path;
	NetnsFn fn;
	void *data;
	bool ok;
	GError *error;
} NetnsCall;

static gpointer
call_inside(gpointer user_data)
{
	NetnsCall *call = user_data;
	int fd = open(call->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		int code = errno;

		g_set_error(&call->error, G_FILE_ERROR, g_file_error_from_errno(code),
			    "cannot enter network namespace %s: %s", call->path, g_strerror(code));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	call->ok = call->fn(call->data, &call->error);
	return NULL;
}

bool
netns_call(const char *path, NetnsFn fn, void *data, GError **error)
{
	NetnsCall call = { .path = path, .fn = fn, .data = data };
	GThread *thread;

	if (path == NULL)
		return fn(data, error);
	/* The thread ends with the call: its namespace goes with it. */
	thread = g_thread_try_new("nbx-netns", call_inside, &call, error);
	if (thread == NULL)
		return false;
	g_thread_join(thread);
	if (call.error != NULL)
		g_propagate_error(error, call.error);
	return call.ok;
}
