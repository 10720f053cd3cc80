/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's log: one GLib writer for every line (the core's, the
 * plugins' through host services, GLib's own), that obeys log_level, and
 * sends structured records to journald when stderr is the journal
 * (JOURNAL_STREAM names it, as systemd sets it for a service), plain text
 * otherwise. A line about one analysis carries its fields, so that
 * `journalctl -u nestboxd TASK_ID=12` shows that analysis alone:
 *
 *   nbx_message(&(NbxLogFields){ .task_id = 12, .machine = "win10",
 *                                .step = "restore" }, "restored in %d ms", ms);
 *
 * On a terminal or in a file the fields are not printed: the message says
 * what a person needs, the fields are for selecting records.
 */
#pragma once

#include <glib.h>

/* Journal fields of one line; zero or NULL members are left out. */
typedef struct {
	gint64 task_id;	     /* TASK_ID */
	const char *machine; /* MACHINE */
	const char *plugin;  /* PLUGIN */
	const char *step;    /* STEP: restore, agent, run, stop, ... */
} NbxLogFields;

/*
 * Installs the writer (once, before other threads start): the journal when
 * stderr is connected to it, standard streams otherwise. Lines below the
 * level set by nbx_log_set_level() are dropped, unless G_MESSAGES_DEBUG
 * asks for them.
 */
void nbx_log_install(void);

/* Whether nbx_log_install() chose the journal. */
gboolean nbx_log_to_journal(void);

/* The least severe level logged: "error", "warning", "info" or "debug" (log_level). */
void nbx_log_set_level(const char *name);

/* One line with @fields (may be NULL); use the macros below. */
void nbx_log_at(const char *file, const char *line, const char *func, GLogLevelFlags level,
		const NbxLogFields *fields, const char *format, ...) G_GNUC_PRINTF(6, 7);

#define nbx_log(level, fields, ...)                                                          \
	nbx_log_at(__FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, level, fields, __VA_ARGS__)
#define nbx_warning(fields, ...) nbx_log(G_LOG_LEVEL_WARNING, fields, __VA_ARGS__)
#define nbx_message(fields, ...) nbx_log(G_LOG_LEVEL_MESSAGE, fields, __VA_ARGS__)
#define nbx_info(fields, ...) nbx_log(G_LOG_LEVEL_INFO, fields, __VA_ARGS__)
#define nbx_debug(fields, ...) nbx_log(G_LOG_LEVEL_DEBUG, fields, __VA_ARGS__)
