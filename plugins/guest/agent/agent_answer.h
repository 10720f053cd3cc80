/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's JSON answers, read as hostile input: their size was bounded
 * when they were read, their nesting is checked here before json-glib (which
 * recurses once per level) sees them, and every string taken from them is
 * checked or made printable before it reaches a message or the report.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Deeper than any answer of the protocol ({"files": [{"path": ...}]} is 3). */
#define AGENT_ANSWER_MAX_DEPTH 8

/*
 * Parses @body as a JSON object. NULL with *@problem (to free) saying what
 * is wrong with it: nested too deep, not JSON, not an object.
 */
JsonObject *agent_answer_parse(GBytes *body, char **problem);

/* The string member @key, or NULL when absent or not a string. */
const char *agent_answer_string(JsonObject *answer, const char *key);

/* The integer member @key into *@value; false when absent or not an integer. */
gboolean agent_answer_integer(JsonObject *answer, const char *key, gint64 *value);

/* The boolean member @key, or @fallback when absent or not a boolean. */
gboolean agent_answer_boolean(JsonObject *answer, const char *key, gboolean fallback);

/*
 * @text (any bytes, @length or -1 for NUL-terminated) as printable UTF-8 for
 * a message: invalid bytes and control characters escaped, at most
 * @max_chars characters, "..." when cut. Never NULL.
 */
char *agent_text_printable(const char *text, gssize length, gsize max_chars);

/* The agent's "message" of @answer, printable and cut, or NULL. */
char *agent_answer_message(JsonObject *answer);
