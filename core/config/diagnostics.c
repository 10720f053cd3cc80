/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "diagnostics.h"

#include <string.h>

/* A value longer than this is cut in messages. */
#define SHOWN_BYTES 256
/* So is a key path (a name may be as long as the file). */
#define SHOWN_KEY_BYTES 256

struct _NbxDiagnostics {
	GPtrArray *lines;
	GPtrArray *warnings;
};

NbxDiagnostics *
nbx_diagnostics_new(void)
{
	NbxDiagnostics *diagnostics = g_new0(NbxDiagnostics, 1);

	diagnostics->lines = g_ptr_array_new_with_free_func(g_free);
	diagnostics->warnings = g_ptr_array_new_with_free_func(g_free);
	return diagnostics;
}

void
nbx_diagnostics_free(NbxDiagnostics *diagnostics)
{
	if (diagnostics == NULL)
		return;
	g_ptr_array_unref(diagnostics->lines);
	g_ptr_array_unref(diagnostics->warnings);
	g_free(diagnostics);
}

static char * G_GNUC_PRINTF(4, 0)
format_line(const char *location, const char *tag, const char *key_path, const char *format,
	    va_list args)
{
	g_autofree char *message = g_strdup_vprintf(format, args);
	GString *line = g_string_new(NULL);

	if (location != NULL && *location != '\0')
		g_string_append_printf(line, "%s: ", location);
	if (tag != NULL)
		g_string_append_printf(line, "%s: ", tag);
	if (key_path != NULL && *key_path != '\0') {
		g_autofree char *key = strlen(key_path) > SHOWN_KEY_BYTES
					       ? nbx_diagnostics_shorten(key_path)
					       : g_strdup(key_path);

		g_string_append_printf(line, "%s: ", key);
	}
	g_string_append(line, message);
	return g_string_free(line, FALSE);
}

void
nbx_diagnostics_addv(NbxDiagnostics *diagnostics, const char *location, const char *key_path,
		     const char *format, va_list args)
{
	g_ptr_array_add(diagnostics->lines, format_line(location, NULL, key_path, format, args));
}

void
nbx_diagnostics_warn(NbxDiagnostics *diagnostics, const char *location, const char *key_path,
		     const char *format, ...)
{
	va_list args;

	va_start(args, format);
	g_ptr_array_add(diagnostics->warnings,
			format_line(location, "warning", key_path, format, args));
	va_end(args);
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

guint
nbx_diagnostics_warning_count(const NbxDiagnostics *diagnostics)
{
	return diagnostics->warnings->len;
}

const char *
nbx_diagnostics_get_warning(const NbxDiagnostics *diagnostics, guint index)
{
	g_return_val_if_fail(index < diagnostics->warnings->len, NULL);
	return g_ptr_array_index(diagnostics->warnings, index);
}

static void
print_lines(const GPtrArray *lines, FILE *stream)
{
	for (guint i = 0; i < lines->len; i++)
		fprintf(stream, "%s\n", (const char *)g_ptr_array_index(lines, i));
}

void
nbx_diagnostics_print(const NbxDiagnostics *diagnostics, FILE *stream)
{
	print_lines(diagnostics->lines, stream);
	print_lines(diagnostics->warnings, stream);
}

/* Appends @length bytes of valid UTF-8, control characters escaped. */
static void
append_printable(GString *out, const char *text, gsize length)
{
	for (const char *p = text; p < text + length; p = g_utf8_next_char(p)) {
		guchar c = (guchar)*p;

		if (c == '\n')
			g_string_append(out, "\\n");
		else if (c == '\t')
			g_string_append(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			g_string_append_printf(out, "\\x%02x", c);
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
	}
}

static char *
shorten(const char *value, const char *quote)
{
	g_autofree char *valid = g_utf8_make_valid(value, -1);
	gsize bytes = strlen(value), shown = strlen(valid);
	GString *out = g_string_new(quote);

	if (shown > SHOWN_BYTES) {
		/* Cut at the start of a character, not inside one. */
		shown = SHOWN_BYTES;
		while (shown > 0 && ((guchar)valid[shown] & 0xc0) == 0x80)
			shown--;
	}
	append_printable(out, valid, shown);
	g_string_append(out, quote);
	if (shown < strlen(valid))
		g_string_append_printf(out, "... (%zu bytes)", bytes);
	return g_string_free(out, FALSE);
}

char *
nbx_diagnostics_shorten(const char *value)
{
	return shorten(value, "");
}

char *
nbx_diagnostics_quote(const char *value)
{
	return shorten(value, "\"");
}
