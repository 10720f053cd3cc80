/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One plugin's part of an analysis report, filled through the host's
 * report_* services from whatever thread the plugin runs on.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

struct nbx_report {
	GMutex lock;
	JsonObject *object;
};

struct nbx_report *nbx_report_new(void);
void nbx_report_free(struct nbx_report *report);

void nbx_report_set_string(struct nbx_report *report, const char *key, const char *value);
void nbx_report_set_integer(struct nbx_report *report, const char *key, gint64 value);
void nbx_report_set_boolean(struct nbx_report *report, const char *key, gboolean value);
/* Refused (FALSE, @error) when @json does not parse, is over 1 MiB or nests over 32 deep. */
gboolean nbx_report_set_json(struct nbx_report *report, const char *key, const char *json,
			     GError **error);
void nbx_report_add_file(struct nbx_report *report, const char *relative_path);

/* A new reference to the collected object, for writing the report. */
JsonObject *nbx_report_ref_object(struct nbx_report *report);
