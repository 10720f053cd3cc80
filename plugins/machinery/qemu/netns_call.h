/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a piece of code inside a machine's network namespace: a tap
 * device, a packet socket or an interface lookup belongs to the namespace
 * of the thread that makes it. The calling thread's namespace is never
 * changed (the core's threads must stay in the daemon's): with a namespace
 * the code runs on a short-lived thread of its own that entered it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef bool (*NetnsFn)(void *data, GError **error);

/*
 * Calls @fn(@data) inside network namespace @path (/run/netns/NAME), or
 * right here when @path is NULL, and returns what it returned. False with
 * @error when the namespace cannot be entered.
 */
bool netns_call(const char *path, NetnsFn fn, void *data, GError **error);
