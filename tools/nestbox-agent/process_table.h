/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The processes /execute started, and the one thread that reaps them: it
 * waits for any child (the agent is a child subreaper, so orphans of a
 * sample come back to it and are reaped too) and records the exit of the
 * ones in the table. Registering happens under the table's lock from before
 * the spawn, so an exit is never reaped before its process is known.
 */
#ifndef NESTBOX_AGENT_PROCESS_TABLE_H
#define NESTBOX_AGENT_PROCESS_TABLE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NBA_MAX_PROCESSES 256

struct nba_process {
	pid_t pid;
	bool async;
	bool exited;
	int exitcode; /* Python's returncode: the exit status, or -N for signal N */
	char stdout_path[PATH_MAX];
	char stderr_path[PATH_MAX];
};

/* Starts the reaper thread; false (errno) if it could not. */
bool nba_processes_start(void);

/* Held from before a spawn until its process is added (or the spawn failed). */
void nba_processes_lock(void);
void nba_processes_unlock(void);

/* A sequence number for output file names (lock held). */
unsigned long nba_processes_next_sequence(void);

/* Whether the table has room (lock held): it drops the oldest exited async entry if full. */
bool nba_processes_make_room(void);

/* Adds @proc (lock held, room made). */
void nba_processes_add(const struct nba_process *proc);

/*
 * Waits up to @timeout_ms (-1: forever) for @pid to exit, then copies its
 * entry into @out. False if @pid is not in the table.
 */
bool nba_processes_wait(pid_t pid, int timeout_ms, struct nba_process *out);

/* Forgets @pid; its exit, when it comes, is reaped and dropped. */
void nba_processes_forget(pid_t pid);

#endif
