/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a command the way /execute means it, with posix_spawnp (which
 * reports a missing program or a bad cwd to the caller instead of a child
 * that exits 127): $PATH searched, the agent's environment, stdin from
 * /dev/null, stdout and stderr to the descriptors given, default signal
 * dispositions and an empty signal mask (the agent ignores SIGPIPE: a
 * sample must not inherit that), its own process group, and no other
 * descriptor of the agent.
 */
#ifndef NESTBOX_AGENT_COMMAND_SPAWN_H
#define NESTBOX_AGENT_COMMAND_SPAWN_H

#include <sys/types.h>

/* 0 and the pid in @pid, or an errno. @cwd may be NULL (the agent's). */
int nba_command_spawn(char *const *argv, const char *cwd, int out_fd, int err_fd, pid_t *pid);

#endif
