/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent accepts as a guest path. The protocol's client is the
 * analysis host, which names absolute guest paths it built itself; it can
 * already run any command as root through /execute, so confining paths to
 * a directory would protect nothing from it. What the rule guards against
 * is a path the host did not mean: one built from hostile data (a sample's
 * file name, a glob from a task, a path the guest reported) that escaped
 * the host's sanitising. So a path is used as given (symbolic links are
 * followed as the kernel follows them) but must be:
 *   - absolute (a relative path would be resolved against the agent's
 *     working directory, which nobody chose),
 *   - free of NUL bytes (it could not reach the kernel whole),
 *   - free of "." and ".." components (a "../" in a path the host built is
 *     a name that escaped sanitising, not a path anyone meant),
 *   - shorter than PATH_MAX.
 * A name that a route joins to a directory (/mkdtemp's prefix and suffix)
 * must not hold "/" or NUL, so what is made lands in that directory.
 */
#ifndef NESTBOX_AGENT_GUEST_PATH_H
#define NESTBOX_AGENT_GUEST_PATH_H

#include <stddef.h>

/* NULL when @len bytes of @path are an acceptable guest path, else why not. */
const char *nba_guest_path_problem(const char *path, size_t len);

/* NULL when @len bytes of @name can be part of a file name, else why not. */
const char *nba_name_part_problem(const char *name, size_t len);

#endif
