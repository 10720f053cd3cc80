/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The text behind a configuration. libconfig 1.5 (Debian 12) opens an
 * `@include` itself, with fopen() relative to the working directory (a FIFO
 * blocks it for good), and keeps an integer written without `L` in 32 bits
 * (99999999999999999999 reads as -1, -9223372036854775808 as 0). So nestbox
 * reads every file itself without ever blocking, splices each include,
 * resolved against the directory of the file that includes it, into one
 * text, puts an `L` after every integer so libconfig keeps 64 bits, stands
 * a marker in for an integer beyond 64 bits, and parses that text. A source
 * map kept with the parsed configuration turns a line of the text back into
 * `file:line`, and names the integers that were out of range.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <sys/stat.h>

#include "diagnostics.h"

/* The largest configuration, includes and all. */
#define NBX_CONFIG_MAX_BYTES (8 * 1024 * 1024)
/* How deep includes may nest (libconfig's own limit). */
#define NBX_CONFIG_MAX_INCLUDE_DEPTH 10

/*
 * Reads @path and what it includes into @config (initialised by the caller,
 * destroyed with config_destroy(), which also frees the source map). Every
 * problem goes to @diagnostics as `file:line: what`; FALSE when there was one.
 */
gboolean nbx_config_source_read_file(config_t *config, const char *path,
				     NbxDiagnostics *diagnostics);

/*
 * The same for @text, named @name in messages. An `@include` in it is
 * refused: there is no file to resolve it against.
 */
gboolean nbx_config_source_read_text(config_t *config, const char *name, const char *text,
				     NbxDiagnostics *diagnostics);

/*
 * Where line @line (from 1; 0 for "the file") of the text @setting was
 * parsed from comes from: its file and its line there. FALSE when @setting's
 * configuration was not read through this module.
 */
gboolean nbx_config_source_find(const config_setting_t *setting, guint line, const char **file,
				guint *file_line);

/* The literal of an integer setting written beyond 64 bits, as written; else NULL. */
const char *nbx_config_source_out_of_range(const config_setting_t *setting);

/*
 * Reads @path whole when it is a regular file of at most @max_bytes:
 * stat() first, so a FIFO or a device is never opened, then open() with
 * O_NONBLOCK and fstat() again, so one swapped in meanwhile cannot block
 * either. @st (may be NULL) receives its status. The error says what the
 * path is instead ("is a FIFO, not a regular file", "file does not exist").
 */
gboolean nbx_config_source_read_regular(const char *path, gsize max_bytes, char **contents,
					gsize *length, struct stat *st, GError **error);
