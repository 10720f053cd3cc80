/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API's settings: the `api` group of nestbox.conf checked the
 * way start-up uses them (the socket's path, its directory and group, the
 * TCP address, the token and the mode of its file), so that `--check`
 * refuses exactly what start-up would, and read once into the struct the
 * daemon hands to the control API. They are read at start-up only: a
 * reload that changes one is refused.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>

#include "diagnostics.h"
#include "settings.h"

/* The shortest bearer token accepted for TCP clients. */
#define NBX_API_TOKEN_MIN_LENGTH 16

typedef struct {
	char *socket_path;  /* absolute: api.socket, or RUN_DIR/api.sock */
	char *socket_group; /* NULL: the daemon's own group */
	char *tcp_address;  /* "ADDRESS:PORT", or NULL: no TCP */
	char *token_file;   /* NULL when not set */
	char *token;	    /* the file's contents without surrounding blanks, or NULL */
	gsize max_body_bytes;	 /* api.max_upload_mb */
	gsize max_json_bytes;	 /* api.max_json_kb */
	gsize max_header_bytes;	 /* api.max_header_kb */
	guint max_connections;	 /* api.max_connections */
	guint header_timeout_s;	 /* api.header_timeout */
	guint idle_timeout_s;	 /* api.idle_timeout */
	guint listen_backlog;	 /* api.listen_backlog */
} NbxApiSettings;

/*
 * Checks and reads the `api` group of @root (nestbox.conf, validated by its
 * schema already: defaults are in), its limits from @typed (zero when the
 * file was not valid). Relative paths resolve against @base_dir; the
 * socket defaults to @run_dir/api.sock. Problems go to @diagnostics as
 * `file:line: api.KEY: what is wrong`. Never NULL.
 */
NbxApiSettings *nbx_api_settings_read(config_setting_t *root, const NbxSettings *typed,
				      const char *base_dir, const char *run_dir,
				      NbxDiagnostics *diagnostics);

void nbx_api_settings_free(NbxApiSettings *settings);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxApiSettings, nbx_api_settings_free)
