/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "command_spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>

extern char **environ;

static int
file_actions(posix_spawn_file_actions_t *fa, const char *cwd, int out_fd, int err_fd)
{
	int rc = posix_spawn_file_actions_init(fa);

	if (rc != 0)
		return rc;
	if ((rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(fa, out_fd, 1)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(fa, err_fd, 2)) != 0 ||
	    (cwd != NULL && (rc = posix_spawn_file_actions_addchdir_np(fa, cwd)) != 0))
		goto fail;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* every descriptor of the agent is close-on-exec; this is the second lock */
	if ((rc = posix_spawn_file_actions_addclosefrom_np(fa, 3)) != 0)
		goto fail;
#endif
	return 0;
fail:
	posix_spawn_file_actions_destroy(fa);
	return rc;
}

static int
attributes(posix_spawnattr_t *attr)
{
	sigset_t all, none;
	int rc = posix_spawnattr_init(attr);

	if (rc != 0)
		return rc;
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);
	if ((rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
					   POSIX_SPAWN_SETPGROUP)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(attr, &all)) != 0 ||
	    (rc = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (rc = posix_spawnattr_setpgroup(attr, 0)) != 0)
		posix_spawnattr_destroy(attr);
	return rc;
}

int
nba_command_spawn(char *const *argv, const char *cwd, int out_fd, int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc = file_actions(&fa, cwd, out_fd, err_fd);

	if (rc != 0)
		return rc;
	rc = attributes(&attr);
	if (rc == 0) {
		rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
		posix_spawnattr_destroy(&attr);
	}
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}
