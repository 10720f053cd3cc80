/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON documents clients send (a task, a small request body), checked
 * for what json-glib does not refuse before they are parsed: its parser
 * recurses once per level, so 100 000 nested arrays overflow the stack; it
 * stops after the first value, so "{}{}" passed; and "\u0000" in a string
 * becomes a NUL that silently cuts the C string ("f1\u0000x" ran on f1).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "api_problem.h"

/* The task's deepest member (options.AUX.KEY) is at level 3: 32 leaves room and no stack risk. */
#define NBX_API_JSON_MAX_DEPTH 32

/*
 * Parses @length bytes at @data as exactly one JSON object (whitespace
 * around it allowed), refusing with 400 and the reason in @problem: nesting
 * deeper than NBX_API_JSON_MAX_DEPTH, text after the value, a NUL byte or
 * "\u0000" in a string, a raw control character in a string, invalid
 * UTF-8, anything json-glib refuses, a value that is not an object. @field
 * names the document ("body", "task"); a "\u0000" names the top-level member
 * it is in. The caller bounds @length.
 */
JsonObject *nbx_api_json_parse_object(const char *field, const char *data, gsize length,
				      NbxApiProblem *problem);

/* @node is a value of @type (G_TYPE_STRING, G_TYPE_INT64, G_TYPE_BOOLEAN...). */
gboolean nbx_api_json_is(JsonNode *node, GType type);
/* "an integer", "a string", "an object"...: what @node is, for messages. */
const char *nbx_api_json_type_name(JsonNode *node);
/* 400 "FIELD: expected EXPECTED, found WHAT-NODE-IS"; returns FALSE. */
gboolean nbx_api_json_wrong_type(const char *field, const char *expected, JsonNode *node,
				 NbxApiProblem *problem);

/* Sets @name to @value, or to null when @value is NULL. */
void nbx_api_json_set_nullable_string(JsonObject *object, const char *name, const char *value);

/* A byte below 0x20 or 0x7f. */
gboolean nbx_api_has_control_character(const char *text);
/* 400 when @text has a control character; @field names it. */
gboolean nbx_api_check_text(const char *field, const char *text, NbxApiProblem *problem);
/*
 * Names end up joined to directories (the sample's name in the analysis
 * directory, a machine's directories): refused when empty, longer than 255
 * bytes, not UTF-8, ".", "..", with '/' or '\\', or a control character.
 */
gboolean nbx_api_check_name(const char *field, const char *name, NbxApiProblem *problem);
