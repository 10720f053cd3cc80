/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "process_table.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "agent.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed; /* CLOCK_MONOTONIC: an exit was recorded, or a spawn */
static struct nba_process table[NBA_MAX_PROCESSES];
static bool used[NBA_MAX_PROCESSES];
static uint64_t added_order[NBA_MAX_PROCESSES];
static uint64_t spawns;
static unsigned long sequence;

void
nba_processes_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void
nba_processes_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

unsigned long
nba_processes_next_sequence(void)
{
	return ++sequence;
}

static int
find(pid_t pid)
{
	for (int i = 0; i < NBA_MAX_PROCESSES; i++) {
		if (used[i] && table[i].pid == pid)
			return i;
	}
	return -1;
}

bool
nba_processes_make_room(void)
{
	int oldest = -1;

	for (int i = 0; i < NBA_MAX_PROCESSES; i++) {
		if (!used[i])
			return true;
		if (table[i].async && table[i].exited &&
		    (oldest < 0 || added_order[i] < added_order[oldest]))
			oldest = i;
	}
	if (oldest < 0)
		return false;
	used[oldest] = false;
	return true;
}

void
nba_processes_add(const struct nba_process *proc)
{
	int stale = find(proc->pid);

	/* an exited entry whose pid the kernel has given to this new process */
	if (stale >= 0)
		used[stale] = false;
	for (int i = 0; i < NBA_MAX_PROCESSES; i++) {
		if (!used[i]) {
			table[i] = *proc;
			used[i] = true;
			added_order[i] = ++spawns;
			break;
		}
	}
	pthread_cond_broadcast(&changed);
}

static void
record_exit(pid_t pid, int status)
{
	int i;

	pthread_mutex_lock(&table_lock);
	i = find(pid);
	if (i >= 0) {
		table[i].exited = true;
		table[i].exitcode = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
		pthread_cond_broadcast(&changed);
	}
	pthread_mutex_unlock(&table_lock);
}

static void *
reaper(void *unused)
{
	uint64_t seen = 0;

	(void)unused;
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid > 0) {
			record_exit(pid, status);
		} else if (errno == ECHILD) {
			/* no child at all: none can appear but by a spawn */
			pthread_mutex_lock(&table_lock);
			while (spawns == seen)
				pthread_cond_wait(&changed, &table_lock);
			seen = spawns;
			pthread_mutex_unlock(&table_lock);
		}
	}
	return NULL;
}

bool
nba_processes_start(void)
{
	pthread_condattr_t attr;
	pthread_t thread;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&changed, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&thread, NULL, reaper, NULL);
	if (rc != 0) {
		errno = rc;
		return false;
	}
	pthread_detach(thread);
	return true;
}

bool
nba_processes_wait(pid_t pid, int timeout_ms, struct nba_process *out)
{
	struct timespec until;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&table_lock);
	while ((i = find(pid)) >= 0 && !table[i].exited && timeout_ms != 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&changed, &table_lock);
		else if (pthread_cond_timedwait(&changed, &table_lock, &until) == ETIMEDOUT)
			break;
	}
	if (i >= 0)
		*out = table[i];
	pthread_mutex_unlock(&table_lock);
	return i >= 0;
}

void
nba_processes_forget(pid_t pid)
{
	int i;

	pthread_mutex_lock(&table_lock);
	i = find(pid);
	if (i >= 0)
		used[i] = false;
	pthread_mutex_unlock(&table_lock);
}
