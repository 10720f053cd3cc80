/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a helper (qemu-img, a decompressor) through host->spawn and
 * waiting for it from a worker thread: the core reaps it on the main
 * thread and the exit callback wakes the waiter.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

typedef struct ChildProcess ChildProcess;

/*
 * Starts @argv with stdin from @stdin_fd (-1: /dev/null) and stdout+stderr
 * into @output_path (NULL: the daemon's log). Returns NULL with @err set.
 */
ChildProcess *child_process_spawn(const struct nbx_host *host, const char *const *argv,
				  int stdin_fd, const char *output_path, struct nbx_error *err);

/*
 * Starts @argv with stdin from @stdin_fd, stdout into descriptor
 * @stdout_fd (>= 3) and stderr into @stderr_path (NULL: the daemon's log),
 * so a data stream never carries diagnostics. A core older than ABI 1.2
 * cannot join stdout to a descriptor: there both go to /proc/self/fd/N,
 * which it opens as the output path, and an error message lands in the
 * stream (the reader then rejects it).
 */
ChildProcess *child_process_spawn_to(const struct nbx_host *host, const char *const *argv,
				     int stdin_fd, int stdout_fd, const char *stderr_path,
				     struct nbx_error *err);

int64_t child_process_pid(const ChildProcess *child);

/*
 * Waits until the child has exited or @deadline_us (0: none) passed.
 * True when it exited; *@wait_status gets its waitpid status.
 */
bool child_process_wait(ChildProcess *child, int64_t deadline_us, int *wait_status);

/*
 * Also broadcasts @cond under @lock when the child exits, so a thread
 * waiting there for something else (a migration) hears of it too. Set it
 * before waiting; the caller keeps both alive until the child is freed.
 */
void child_process_notify(ChildProcess *child, GMutex *lock, GCond *cond);

/* True when the child has exited, its waitpid status in *@wait_status; never blocks. */
bool child_process_exited(ChildProcess *child, int *wait_status);

/* SIGKILLs the child if it still runs and waits until the core has reaped it, then frees. */
void child_process_kill_and_free(ChildProcess *child);

/* Frees a child that has exited (child_process_wait returned true). */
void child_process_free(ChildProcess *child);

/*
 * Runs @argv to completion; false with a message naming @what when it
 * cannot start, fails, or outlives @deadline_us (it is killed then), with
 * the last line it wrote. The core collects its output (host->run); a core
 * older than ABI 1.2 has no `run`, and there @output_path receives it.
 */
bool child_process_run(const struct nbx_host *host, const char *what, const char *const *argv,
		       const char *output_path, int64_t deadline_us, struct nbx_error *err);
