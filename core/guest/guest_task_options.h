/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a task asks of the guest: `package` or `command` (see
 * guest_command.h), `arguments`, `until_exit` (end the run when the sample
 * exits) and `files` (guest paths or globs to fetch). The API reads them as
 * top-level fields of a task (api_task_guest_fields.h checks them) and keeps
 * them in the task's options under the reserved member "run" (so the store
 * needs no column of its own); the analysis reads them back from there.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* The member of options_json that holds them; no plugin may use it. */
#define NBX_GUEST_RUN_OPTIONS "run"
#define NBX_GUEST_MAX_ARGUMENTS 64
#define NBX_GUEST_MAX_FETCH_PATTERNS 64

typedef struct {
	char *package;
	char *command;
	char **arguments; /* never NULL */
	gboolean until_exit;
	char **files; /* never NULL */
} NbxGuestTaskOptions;

/* Puts @run into @options_json (a JSON object, or NULL) as "run"; a new string. */
char *nbx_guest_task_merge(const char *options_json, JsonObject *run);

/* Reads them back from a stored task's options; absent ones are defaults. */
NbxGuestTaskOptions *nbx_guest_task_options_read(const char *options_json);
void nbx_guest_task_options_free(NbxGuestTaskOptions *options);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxGuestTaskOptions, nbx_guest_task_options_free)
