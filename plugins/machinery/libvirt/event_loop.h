/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process's libvirt event loop, which keepalive, close callbacks and
 * domain events need. libvirt has exactly one per process
 * (virEventRegisterImpl is global), while the core's fd and timeout
 * services belong to one plugin instance and die with it at a reload, so
 * the plugin does not build libvirt's loop on them: it runs libvirt's own
 * default loop on a thread of its own, started once and never stopped
 * (plugins are never unloaded). An application that embeds the core and
 * has registered a libvirt loop already keeps its own; it is used as is.
 */
#pragma once

#include <stdbool.h>

/*
 * Makes sure a libvirt event loop runs in this process. Safe from any
 * thread, any number of times. False, with *@reason (static text), when
 * none could be started.
 */
bool lv_event_loop_ensure(const char **reason);
