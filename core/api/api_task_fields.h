/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The task a client asks for, as JSON: its fields, their types and checks,
 * read into an NbxTask (the scheduler checks what only it knows: the
 * auxiliaries' names, the duration's maximum).
 *
 * Fields: priority (integer), machine, platform, os_version, architecture
 * (strings), tags (array of strings), duration (integer seconds, >= 1),
 * memory_dump, debug (booleans), options (object of objects of strings, per
 * auxiliary), file_name (string); for the guest (guest_task_options.h):
 * package, command (strings), arguments, files (arrays of strings),
 * until_exit (boolean), kept in options as "run". null means "not given". platform,
 * os_version, architecture and tags are lower-cased, as the machine
 * configuration stores them.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "api_problem.h"
#include "task.h"

/* Reads every member of @object into @request; unknown members are refused. */
gboolean nbx_api_read_task_object(JsonObject *object, NbxTask *request, NbxApiProblem *problem);
