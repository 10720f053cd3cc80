/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Commented default configuration generated from a plugin's schema, so the
 * shipped files in conf/ and a plugin's own template never drift from the
 * code that validates them.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "schema.h"

/*
 * The template of one plugin, as `nestboxd --config-template NAME` prints it:
 * for a machinery the whole content of conf/machinery/NAME.conf, for an
 * auxiliary its group in conf/auxiliary.conf. @descriptor must have passed
 * the loader's checks (so the schema is well formed). Free with g_free().
 */
gchar *nbx_config_template_for_plugin(const struct nbx_plugin_descriptor *descriptor);

/*
 * The keys of one plugin's configuration, as its template and
 * nestbox.conf(5) show them: a machinery's file (its keys, then `machines`
 * with the core's machine keys and its own), an auxiliary's group in
 * auxiliary.conf (the core's enabled, order and required, defaulted for it,
 * then its own), a guest plugin's group in guest.conf. NULL only when the
 * schema is malformed, which the loader refuses first.
 */
NbxSchema *nbx_config_plugin_schema(const struct nbx_plugin_descriptor *descriptor);

/* What is said of a field's type and checks, e.g. "integer, 1..65535, required". */
char *nbx_config_describe_field(const struct nbx_config_field *field);

/* The template of conf/nestbox.conf (the core's own settings). */
gchar *nbx_config_template_for_core(void);

/*
 * Appends @text to @out as a libconfig string literal, quoted and escaped
 * (control characters included), for anything that writes config text.
 */
void nbx_config_append_quoted(GString *out, const char *text);
