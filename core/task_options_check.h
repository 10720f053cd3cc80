/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task's per-auxiliary options judged by the auxiliaries themselves at
 * submission (their `check_task`, ABI 1.2): what a schema cannot say, such
 * as a route this host does not offer, refuses the task before it is
 * stored, with the plugin's reason.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/*
 * Runs `check_task` of every auxiliary of @auxiliaries (NbxPluginInstance *)
 * that has one, on its group of @options ({"AUX": {"KEY": "VALUE"}}, shaped
 * as the scheduler checked; a plugin the task gave no options gets an empty
 * group). Main thread. FALSE with every problem, as
 * "options.AUX.KEY: what is wrong", in @error's message.
 */
gboolean nbx_task_options_check(GPtrArray *auxiliaries, JsonObject *options, GError **error);
