/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "diagnostics.h"

#include <string.h>

struct _NbxDiagnostics {
	GPtrArray *lines;
};

NbxDiagnostics *
nbx_diagnostics_new(void)
{
	NbxDiagnostics *diagnostics = g_new0(NbxDiagnostics, 1);

	diagnostics->lines = g_ptr_array_new_with_free_func(g_free);
	return diagnostics;
}

void
nbx_diagnostics_free(NbxDiagnostics *diagnostics)
{
	if (diagnostics == NULL)
		return;
	g_ptr_array_unref(diagnostics->lines);
	g_free(diagnostics);
}

void
nbx_diagnostics_addv(NbxDiagnostics *diagnostics, const char *location, const char *key_path,
		     const char *format, va_list args)
{
	g_autofree char *message = g_strdup_vprintf(format, args);
	GString *line = g_string_new(NULL);

	if (location != NULL && *location != '\0')
		g_string_append_printf(line, "%s: ", location);
	if (key_path != NULL && *key_path != '\0')
		g_string_append_printf(line, "%s: ", key_path);
	g_string_append(line, message);
	g_ptr_array_add(diagnostics->lines, g_string_free(line, FALSE));
}

void
nbx_diagnostics_add(NbxDiagnostics *diagnostics, const char *location, const char *key_path,
		    const char *format, ...)
{
	va_list args;

	va_start(args, format);
	nbx_diagnostics_addv(diagnostics, location, key_path, format, args);
	va_end(args);
}

guint
nbx_diagnostics_count(const NbxDiagnostics *diagnostics)
{
	return diagnostics->lines->len;
}

const char *
nbx_diagnostics_get(const NbxDiagnostics *diagnostics, guint index)
{
	g_return_val_if_fail(index < diagnostics->lines->len, NULL);
	return g_ptr_array_index(diagnostics->lines, index);
}

gboolean
nbx_diagnostics_contains(const NbxDiagnostics *diagnostics, const char *needle)
{
	for (guint i = 0; i < diagnostics->lines->len; i++) {
		if (strstr(g_ptr_array_index(diagnostics->lines, i), needle) != NULL)
			return TRUE;
	}
	return FALSE;
}

void
nbx_diagnostics_print(const NbxDiagnostics *diagnostics, FILE *stream)
{
	for (guint i = 0; i < diagnostics->lines->len; i++)
		fprintf(stream, "%s\n", (const char *)g_ptr_array_index(diagnostics->lines, i));
}
