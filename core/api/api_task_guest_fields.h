/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's fields of a submission (package, command, arguments,
 * until_exit, files: guest_task_options.h), checked as the API reads them.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "api_problem.h"

/*
 * When @name is one of the fields, checks @node into @run (TRUE) or says
 * what is wrong with it in @problem (FALSE, 400 naming the field).
 * *@handled tells whether @name was one of them.
 */
gboolean nbx_api_task_guest_field_read(const char *name, JsonNode *node, JsonObject *run,
				       gboolean *handled, NbxApiProblem *problem);

/* The fields together (command and package exclude each other). */
gboolean nbx_api_task_guest_fields_check(JsonObject *run, NbxApiProblem *problem);
