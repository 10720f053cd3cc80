/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A list of configuration problems. Validation never stops at the first
 * problem: it adds each one here, and the caller prints them all at once, so
 * a user fixes a config in one round instead of one error per restart.
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

guint nbx_diagnostics_count(const NbxDiagnostics *diagnostics);
const char *nbx_diagnostics_get(const NbxDiagnostics *diagnostics, guint index);

/* TRUE when some line contains @needle (for tests and callers that branch). */
gboolean nbx_diagnostics_contains(const NbxDiagnostics *diagnostics, const char *needle);

/* Writes every line, one per line, to @stream. */
void nbx_diagnostics_print(const NbxDiagnostics *diagnostics, FILE *stream);
