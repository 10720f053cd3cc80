/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox.conf(5), rendered in roff from the same schemas that validate the
 * configuration and generate its templates (config_template.c), so the
 * manual cannot say a key, a default or a range the code does not have.
 * `nestboxd --man-config` prints it; tools/man/nestbox.conf.5 is its output for
 * the in-tree plugins, and the man-drift test keeps it so.
 */
#pragma once

#include <glib.h>

#include <nestbox/plugin.h>

/*
 * The page: the core's keys (nestbox.conf), then every plugin of
 * @descriptors (const struct nbx_plugin_descriptor *, the plugins loaded)
 * by kind and name: a machinery's file, an auxiliary's group in
 * auxiliary.conf, a guest plugin's group in guest.conf. Free with g_free().
 */
char *nbx_config_manpage(GPtrArray *descriptors);
