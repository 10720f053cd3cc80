/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON the daemon writes (state records, reports, entries of its archives)
 * and reads back from its own files. JSON from outside is parsed with
 * json_bounds.h instead.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* @node as indented JSON text (g_free); its length in *@length unless NULL. */
char *nbx_json_to_text(JsonNode *node, gsize *length);

/*
 * Writes @object to @path (mode 0640) whole or not at all: a temporary
 * file, synced, renamed over @path (g_file_set_contents_full()).
 */
gboolean nbx_json_write_object_file(const char *path, JsonObject *object, GError **error);

/*
 * The object in @path, or NULL when the file is missing, not JSON or not
 * an object. Unbounded: only for files the daemon wrote itself.
 */
JsonObject *nbx_json_read_object_file(const char *path);
