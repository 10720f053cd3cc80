/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host services backed directly by GLib's default main context, for test
 * programs that drive parts of the qemu plugin without the core: error_set,
 * watch_fd, add_timeout, remove_source and monotonic_us. Each program fills
 * the rest of its `struct nbx_host` itself.
 */
#pragma once

#include <nestbox/plugin.h>

void glib_host_fill(struct nbx_host *host);
