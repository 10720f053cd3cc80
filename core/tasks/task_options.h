/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task's per-plugin options (the API's "options": {"PLUGIN": {"KEY":
 * VALUE}}), made into the libconfig groups plugins read with the host's
 * look-ups. ONE place turns them into nodes, at submission and when the
 * analysis starts, so what was checked is what runs: a plugin with a
 * `task_schema` (ABI 1.2) gets each value typed, bounded and defaulted by
 * it, and a key it does not declare is refused; a plugin without one gets
 * the strings as they came (ABI 1.0/1.1).
 */
#pragma once

#include <glib.h>
#include <libconfig.h>

#include "daemon_setup.h"

/*
 * Adds to @root one group per plugin @options_json names (auxiliaries and
 * guest plugins of @setup; the guest's own `run` member is not a plugin's
 * and is skipped). FALSE with @error ("options.PLUGIN.KEY: what is
 * wrong") at the first problem; @root then holds what was made so far.
 */
gboolean nbx_task_options_build(NbxSetup *setup, const char *options_json,
				config_setting_t *root, GError **error);

/*
 * nbx_task_options_build() into a scratch tree, then each named plugin's
 * `check_task` (and each auxiliary's that has one, named or not, with an
 * empty group: a plugin may require an option). FALSE with @error naming
 * the option and the plugin's reason.
 */
gboolean nbx_task_options_check(NbxSetup *setup, const char *options_json, GError **error);
