/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "structured_log.h"

#include <stdio.h>
#include <string.h>

/*
 * GLib's own journald writer speaks journald's native protocol: no
 * libsystemd is needed for structured records, and the lines that reach
 * the writer through g_message() and the plugins' host log go the same way.
 */

/* The least severe GLib level shown (levels are bits, the most severe lowest). */
static gint log_threshold = G_LOG_LEVEL_INFO;
static gboolean to_journal;

/* Fields a line can carry beyond the message's own: bounds the copy below. */
#define MAX_FIELDS 16

void
nbx_log_set_level(const char *name)
{
	GLogLevelFlags level = G_LOG_LEVEL_INFO;

	if (g_strcmp0(name, "error") == 0)
		level = G_LOG_LEVEL_CRITICAL;
	else if (g_strcmp0(name, "warning") == 0)
		level = G_LOG_LEVEL_WARNING;
	else if (g_strcmp0(name, "debug") == 0)
		level = G_LOG_LEVEL_DEBUG;
	g_atomic_int_set(&log_threshold, (gint)level);
}

static const char *
field_value(const GLogField *fields, gsize n_fields, const char *key)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, key) == 0 && fields[i].length < 0)
			return fields[i].value;
	}
	return NULL;
}

/* log_level decides; G_MESSAGES_DEBUG may add info and debug lines. */
static gboolean
is_shown(GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
	GLogLevelFlags severity = level & G_LOG_LEVEL_MASK;
	GLogLevelFlags threshold = (GLogLevelFlags)g_atomic_int_get(&log_threshold);

	if (severity != 0 && severity <= threshold)
		return TRUE;
	return (severity & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) &&
	       !g_log_writer_default_would_drop(severity,
						field_value(fields, n_fields, "GLIB_DOMAIN"));
}

/* `journalctl -t nestboxd` finds every line, also those GLib built. */
static GLogWriterOutput
write_journal(GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
	GLogField with_identifier[MAX_FIELDS + 8];
	const char *name = g_get_prgname();

	if (field_value(fields, n_fields, "SYSLOG_IDENTIFIER") != NULL ||
	    n_fields >= G_N_ELEMENTS(with_identifier))
		return g_log_writer_journald(level, fields, n_fields, NULL);
	memcpy(with_identifier, fields, n_fields * sizeof *fields);
	with_identifier[n_fields] = (GLogField){ "SYSLOG_IDENTIFIER",
						 name != NULL ? name : "nestboxd", -1 };
	return g_log_writer_journald(level, with_identifier, n_fields + 1, NULL);
}

static GLogWriterOutput
write_log(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	if (!is_shown(level, fields, n_fields))
		return G_LOG_WRITER_HANDLED;
	/* A journal that went away: the line still goes to stderr. */
	if (to_journal && write_journal(level, fields, n_fields) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(level, fields, n_fields, data);
}

void
nbx_log_install(void)
{
	to_journal = FALSE && g_log_writer_is_journald(fileno(stderr));
	g_log_set_writer_func(write_log, NULL, NULL);
}

gboolean
nbx_log_to_journal(void)
{
	return to_journal;
}

/* journald's PRIORITY (syslog's levels) of a GLib level, as GLib maps them. */
static const char *
priority_of(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return "3";
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		return "4";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "5";
	if (level & G_LOG_LEVEL_INFO)
		return "6";
	return "7";
}

static void
add_field(GLogField *fields, gsize *n, const char *key, const char *value)
{
	if (value != NULL && *n < MAX_FIELDS)
		fields[(*n)++] = (GLogField){ key, value, -1 };
}

void
nbx_log_at(const char *file, const char *line, const char *func, GLogLevelFlags level,
	   const NbxLogFields *context, const char *format, ...)
{
	GLogField fields[MAX_FIELDS];
	g_autofree char *message = NULL;
	g_autofree char *task_id = NULL;
	gsize n = 0;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	add_field(fields, &n, "MESSAGE", message);
	add_field(fields, &n, "PRIORITY", priority_of(level));
	add_field(fields, &n, "GLIB_DOMAIN", G_LOG_DOMAIN);
	add_field(fields, &n, "CODE_FILE", file);
	add_field(fields, &n, "CODE_LINE", line);
	add_field(fields, &n, "CODE_FUNC", func);
	if (context != NULL) {
		if (context->task_id > 0)
			task_id = g_strdup_printf("%" G_GINT64_FORMAT, context->task_id);
		add_field(fields, &n, "TASK_ID", task_id);
		add_field(fields, &n, "MACHINE", context->machine);
		add_field(fields, &n, "PLUGIN", context->plugin);
		add_field(fields, &n, "STEP", context->step);
	}
	g_log_structured_array(level, fields, n);
}
