/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON from outside (a client, a guest, a plugin) is parsed only within
 * bounds: json-glib recurses once per nesting level, so a small document of
 * 100 000 '[' overflows the stack before it fails.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define NBX_JSON_BOUNDS_ERROR (nbx_json_bounds_error_quark())
GQuark nbx_json_bounds_error_quark(void);

typedef enum {
	NBX_JSON_BOUNDS_ERROR_TOO_LARGE,
	NBX_JSON_BOUNDS_ERROR_TOO_DEEP,
	NBX_JSON_BOUNDS_ERROR_SYNTAX,
} NbxJsonBoundsError;

/*
 * Checks that @text (@length bytes, -1: NUL-terminated) is at most
 * @max_bytes long and nests arrays and objects at most @max_depth deep,
 * without parsing it (strings are skipped, escapes included).
 */
gboolean nbx_json_check_bounds(const char *text, gssize length, gsize max_bytes, guint max_depth,
			       GError **error);

/* nbx_json_check_bounds(), then json-glib: the root node, or NULL with @error set. */
JsonNode *nbx_json_parse_bounded(const char *text, gssize length, gsize max_bytes,
				 guint max_depth, GError **error);
