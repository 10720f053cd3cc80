/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing the Prometheus text exposition format (version 0.0.4): a
 * family's HELP and TYPE lines, and samples with their labels escaped.
 */
#pragma once

#include <glib.h>

#define NBX_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void nbx_prometheus_family(GString *out, const char *name, const char *type, const char *help);
/* One sample: @name{LABEL="VALUE",...} @value; the label pairs end with NULL. */
void nbx_prometheus_sample(GString *out, const char *name, double value, ...)
	G_GNUC_NULL_TERMINATED;
/* One sample per entry of @table (label value -> gint64 *), sorted by the label's value. */
void nbx_prometheus_table(GString *out, const char *name, const char *label, GHashTable *table);
