/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core's settings of nestbox.conf (`timeouts`, `scheduler`, `guest`,
 * `retention` and the numbers of `api`) as one typed struct, filled once
 * after validation. The schema (core_schema.c) applied every default
 * already, so this file holds no default of its own and no other code
 * reads these keys by name: a default exists once, in the schema. (The
 * `api` group's paths, token and the checks start-up makes of them are in
 * api_settings.h; paths and plugin lists are fields of NbxConfig.)
 */
#pragma once

#include <glib.h>
#include <libconfig.h>

/* Seconds each step of an analysis, or a snapshot op, may take. */
typedef struct {
	gint64 auxiliary_start;
	gint64 restore;
	gint64 agent;
	gint64 dump_memory;
	gint64 acpi_stop;
	gint64 stop;
	gint64 auxiliary_stop;
	gint64 snapshot_commit;
	/* Each guest op but the first answer (upload, execute, fetch). */
	gint64 guest;
} NbxTimeouts;

typedef struct {
	NbxTimeouts timeouts;
	struct {
		gint64 max_concurrent_restores;
		gint64 machine_failure_limit;
		gboolean retry_on_machine_death;
		gint64 max_attempts;
		gint64 default_duration;
		gint64 max_duration;
		gint64 shutdown_timeout;
		/* stop_method = "acpi". */
		gboolean graceful_stop;
		gint64 op_grace;
	} scheduler;
	/* What may come back from a guest. */
	struct {
		gint64 max_files;
		gint64 max_file_mb;
		gint64 max_output_kb;
	} guest;
	/* What is removed of ended tasks, and when; 0 turns a limit off. */
	struct {
		gint64 days;
		gint64 max_disk_gb;
		/* Minutes between two sweeps. */
		gint64 interval;
	} retention;
	/* The control API's limits (api_settings.h gives them in bytes). */
	struct {
		gint64 max_upload_mb;
		gint64 max_json_kb;
		gint64 max_header_kb;
		gint64 max_connections;
		gint64 listen_backlog;
		gint64 header_timeout;
		gint64 idle_timeout;
	} api;
} NbxSettings;

/*
 * Fills @settings from @root, nestbox.conf after its schema's validation.
 * A key missing there is a bug of the schema table (a setting without a
 * default): it aborts, and the settings test finds it first.
 */
void nbx_settings_read(NbxSettings *settings, const config_setting_t *root);

/*
 * The schema's defaults, as an empty nestbox.conf gives them: for code
 * that runs without a configuration (a test's control API, a fuzzer) and
 * leaves a limit to its default.
 */
void nbx_settings_defaults(NbxSettings *settings);

/*
 * "group.key" of every setting nbx_settings_read() reads, NULL-terminated:
 * the settings test checks it against the schema, both ways.
 */
const char *const *nbx_settings_paths(void);
