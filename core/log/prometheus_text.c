/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "prometheus_text.h"

#include <math.h>
#include <string.h>

/* A label's value may hold anything a machine's name or a tag holds: \, " and newlines are escaped. */
static void
append_escaped(GString *out, const char *text, gboolean quotes)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\\')
			g_string_append(out, "\\\\");
		else if (*p == '\n')
			g_string_append(out, "\\n");
		else if (*p == '"' && quotes)
			g_string_append(out, "\\\"");
		else
			g_string_append_c(out, *p);
	}
}

void
nbx_prometheus_family(GString *out, const char *name, const char *type, const char *help)
{
	g_string_append_printf(out, "# HELP %s ", name);
	append_escaped(out, help, FALSE);
	g_string_append_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void
append_value(GString *out, double value)
{
	char text[G_ASCII_DTOSTR_BUF_SIZE];

	if (isinf(value))
		g_string_append(out, value > 0 ? "+Inf" : "-Inf");
	else if (isnan(value))
		g_string_append(out, "NaN");
	else if (value == (double)(gint64)value && fabs(value) < 1e15)
		g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)value);
	else
		g_string_append(out, g_ascii_dtostr(text, sizeof text, value));
}

void
nbx_prometheus_sample(GString *out, const char *name, double value, ...)
{
	va_list args;
	const char *label;
	gboolean first = TRUE;

	g_string_append(out, name);
	va_start(args, value);
	while ((label = va_arg(args, const char *)) != NULL) {
		const char *text = va_arg(args, const char *);

		g_string_append_printf(out, "%s%s=\"", first ? "{" : ",", label);
		append_escaped(out, text != NULL ? text : "", TRUE);
		g_string_append_c(out, '"');
		first = FALSE;
	}
	va_end(args);
	g_string_append(out, first ? " " : "} ");
	append_value(out, value);
	g_string_append_c(out, '\n');
}

void
nbx_prometheus_table(GString *out, const char *name, const char *label, GHashTable *table)
{
	g_autoptr(GList) keys = g_hash_table_get_keys(table);

	keys = g_list_sort(keys, (GCompareFunc)strcmp);
	for (GList *l = keys; l != NULL; l = l->next) {
		const gint64 *count = g_hash_table_lookup(table, l->data);

		nbx_prometheus_sample(out, name, (double)*count, label, (const char *)l->data,
				      NULL);
	}
}
