/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Work inside a machine's network segment. setns(2) changes the namespace
 * of the calling thread only, and the core forbids a plugin to change the
 * namespace of a thread it was called on: so the work runs on a thread of
 * the plugin's own that enters the namespace, and the caller waits for it.
 * A netlink socket (libnftables', libnetfilter-conntrack's) belongs to the
 * namespace its thread was in when it was opened, so it is opened there.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

/* @fn runs inside: returns false with @err set on failure. */
typedef bool (*netns_fn)(void *data, struct nbx_error *err);

/* Runs @fn(@data) on a new thread inside @netns_path, or on this thread when @netns_path is NULL. */
bool netns_thread_run(const struct nbx_host *host, const char *netns_path, netns_fn fn,
		      void *data, struct nbx_error *err);
