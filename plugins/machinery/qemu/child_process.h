/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a helper (qemu-img, a decompressor) through host->spawn and
 * waiting for it from a worker thread: the core reaps it on the main
 * thread and the exit callback wakes the waiter.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

typedef struct ChildProcess ChildProcess;

/*
 * Starts @argv with stdin from @stdin_fd (-1: /dev/null) and stdout+stderr
 * into @output_path (NULL: the daemon's log). Returns NULL with @err set.
 */
ChildProcess *child_process_spawn(const struct nbx_host *host, const char *const *argv,
				  int stdin_fd, const char *output_path, struct nbx_error *err);

/* The same, handing the child @n_fds more descriptors (struct nbx_fd_map). */
ChildProcess *child_process_spawn_fds(const struct nbx_host *host, const char *const *argv,
				      int stdin_fd, const char *output_path,
				      const struct nbx_fd_map *fds, uint32_t n_fds,
				      struct nbx_error *err);

int64_t child_process_pid(const ChildProcess *child);

/*
 * Waits until the child has exited or @deadline_us (0: none) passed.
 * True when it exited; *@wait_status gets its waitpid status.
 */
bool child_process_wait(ChildProcess *child, int64_t deadline_us, int *wait_status);

/* SIGKILLs the child if it still runs and waits until the core has reaped it, then frees. */
void child_process_kill_and_free(ChildProcess *child);

/* Frees a child that has exited (child_process_wait returned true). */
void child_process_free(ChildProcess *child);

/*
 * Runs @argv to completion; false with a message naming @what when it
 * cannot start, fails, or outlives @deadline_us (it is killed then).
 * @output_path receives its output, quoted back in the message.
 */
bool child_process_run(const struct nbx_host *host, const char *what, const char *const *argv,
		       const char *output_path, int64_t deadline_us, struct nbx_error *err);
