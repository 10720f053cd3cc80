/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A list of configuration problems. Validation never stops at the first
 * problem: it adds each one here, and the caller prints them all at once, so
 * a user fixes a config in one round instead of one error per restart.
 * Warnings (worth saying, not worth refusing a configuration for) are kept
 * apart: they never count as problems.
 */
#pragma once

#include <glib.h>
#include <stdio.h>

typedef struct _NbxDiagnostics NbxDiagnostics;

NbxDiagnostics *nbx_diagnostics_new(void);
void nbx_diagnostics_free(NbxDiagnostics *diagnostics);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxDiagnostics, nbx_diagnostics_free)

/*
 * Adds "LOCATION: KEY_PATH: MESSAGE". @location is "file:line" (or just a
 * file, or a plugin's name) and @key_path the dotted path of the setting;
 * either may be NULL and is then left out.
 */
void nbx_diagnostics_add(NbxDiagnostics *diagnostics, const char *location,
			 const char *key_path, const char *format, ...) G_GNUC_PRINTF(4, 5);
void nbx_diagnostics_addv(NbxDiagnostics *diagnostics, const char *location,
			  const char *key_path, const char *format, va_list args)
	G_GNUC_PRINTF(4, 0);

/* Adds "LOCATION: warning: KEY_PATH: MESSAGE", which is not a problem. */
void nbx_diagnostics_warn(NbxDiagnostics *diagnostics, const char *location,
			  const char *key_path, const char *format, ...) G_GNUC_PRINTF(4, 5);

/* The problems; warnings are not counted. */
guint nbx_diagnostics_count(const NbxDiagnostics *diagnostics);
const char *nbx_diagnostics_get(const NbxDiagnostics *diagnostics, guint index);

/* TRUE when some line contains @needle (for tests and callers that branch). */
gboolean nbx_diagnostics_contains(const NbxDiagnostics *diagnostics, const char *needle);

guint nbx_diagnostics_warning_count(const NbxDiagnostics *diagnostics);
const char *nbx_diagnostics_get_warning(const NbxDiagnostics *diagnostics, guint index);

/* Writes every problem, then every warning, one per line, to @stream. */
void nbx_diagnostics_print(const NbxDiagnostics *diagnostics, FILE *stream);

/*
 * A value from a file as a message may show it: control characters escaped,
 * invalid UTF-8 replaced, and, past 256 bytes, cut with its length said
 * (`aaaa...` (102400 bytes)), so a 100 KB value does not become a 100 KB
 * line. The quoted form puts it in double quotes.
 */
char *nbx_diagnostics_shorten(const char *value);
char *nbx_diagnostics_quote(const char *value);
