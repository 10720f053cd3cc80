/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Temporary configuration directories for tests, and how long a test waits. */
#pragma once

#include <glib.h>

/*
 * How long a test waits for something that must happen (a state, a file,
 * an answer) before it calls it a hang. Only a hang reaches it, however busy
 * the host: no test times anything with it.
 */
#define TEST_HANG_GUARD_S 300

/* A new empty directory under the test's temp dir; remove with test_dir_remove. */
char *test_dir_new(void);
void test_dir_remove(const char *dir);

/* Writes @contents to DIR/RELATIVE, creating parent directories. */
void test_write(const char *dir, const char *relative, const char *contents);

/*
 * A config dir whose nestbox.conf loads only @plugin_dir (no built-in
 * plugins, no NESTBOX_PLUGIN_PATH) and enables @machineries (libconfig list
 * body, e.g. "\"fake\""), with state under the dir itself.
 */
char *test_config_dir_new(const char *plugin_dir, const char *machineries);
