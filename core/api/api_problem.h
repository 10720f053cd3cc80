/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why the control API refuses a request, before it becomes the answer
 * {"error": {"code", "message", "field"}} with its 4xx/5xx status.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
	guint status; /* 0: no problem */
	const char *code;
	char *field; /* or NULL when no one field is to blame */
	char *message;
} NbxApiProblem;

void nbx_api_problem_clear(NbxApiProblem *problem);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NbxApiProblem, nbx_api_problem_clear)

/* Replaces what @problem held; returns FALSE so a check can `return nbx_api_problem_set(...)`. */
gboolean nbx_api_problem_set(NbxApiProblem *problem, guint status, const char *code,
			     const char *field, const char *format, ...) G_GNUC_PRINTF(5, 6);

/* The error document a client gets. */
JsonNode *nbx_api_problem_to_json(const NbxApiProblem *problem);
