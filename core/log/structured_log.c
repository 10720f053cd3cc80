/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "structured_log.h"

#include <stdio.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/uio.h>

#ifdef NBX_HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

/*
 * Records go to the journal through libsystemd's sd_journal_sendv(), so the
 * fields stay fields; the lines that reach the writer through g_message()
 * and the plugins' host log go the same way. Built without libsystemd the
 * daemon writes plain text wherever stderr goes.
 */

/* The least severe GLib level shown (levels are bits, the most severe lowest). */
static gint log_threshold = G_LOG_LEVEL_INFO;
static gboolean to_journal;
/* Outside the daemon (tests, --check) lines take g_log()'s path, as before. */
static gboolean installed;

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

#ifdef NBX_HAVE_LIBSYSTEMD
/*
 * One record, every field as journald's KEY=value, plus SYSLOG_IDENTIFIER
 * so that `journalctl -t nestboxd` finds every line, also those GLib built.
 * Fields with a binary length (length >= 0) are sent as they are.
 */
/* "KEY=value" of one field; a field with a length (>= 0) may hold any byte. */
static struct iovec
journal_item(GPtrArray *owned, const char *key, const char *value, gssize length)
{
	gsize key_length = strlen(key);
	gsize value_length = length < 0 ? strlen(value) : (gsize)length;
	char *item = g_malloc(key_length + 1 + value_length);

	memcpy(item, key, key_length);
	item[key_length] = '=';
	memcpy(item + key_length + 1, value, value_length);
	g_ptr_array_add(owned, item);
	return (struct iovec){ item, key_length + 1 + value_length };
}

static GLogWriterOutput
write_journal(const GLogField *fields, gsize n_fields)
{
	g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
	struct iovec iov[MAX_FIELDS + 8];
	const char *name = g_get_prgname();
	gboolean has_identifier = FALSE;
	gsize n = 0;

	for (gsize i = 0; i < n_fields && n < G_N_ELEMENTS(iov) - 1; i++) {
		has_identifier |= g_strcmp0(fields[i].key, "SYSLOG_IDENTIFIER") == 0;
		iov[n++] = journal_item(owned, fields[i].key, fields[i].value, fields[i].length);
	}
	if (!has_identifier)
		iov[n++] = journal_item(owned, "SYSLOG_IDENTIFIER",
					name != NULL ? name : "nestboxd", -1);
	return sd_journal_sendv(iov, (int)n) == 0 ? G_LOG_WRITER_HANDLED : G_LOG_WRITER_UNHANDLED;
}

/*
 * systemd sets JOURNAL_STREAM=DEVICE:INODE to the stream it connects a
 * service's output to; stderr is the journal when it is that very stream
 * (a program it starts with stderr redirected inherits the variable).
 */
static gboolean
stderr_is_journal(void)
{
	const char *stream = g_getenv("JOURNAL_STREAM");
	guint64 device, inode;
	struct stat st;

	if (stream == NULL || sscanf(stream, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
				     &device, &inode) != 2)
		return FALSE;
	return fstat(fileno(stderr), &st) == 0 && (guint64)st.st_dev == device &&
	       (guint64)st.st_ino == inode;
}
#else
static GLogWriterOutput
write_journal(const GLogField *fields, gsize n_fields)
{
	return G_LOG_WRITER_UNHANDLED;
}

static gboolean
stderr_is_journal(void)
{
	return FALSE;
}
#endif

static GLogWriterOutput
write_log(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	if (!is_shown(level, fields, n_fields))
		return G_LOG_WRITER_HANDLED;
	/* A journal that went away: the line still goes to stderr. */
	if (to_journal && write_journal(fields, n_fields) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(level, fields, n_fields, data);
}

void
nbx_log_install(void)
{
	to_journal = stderr_is_journal();
	g_log_set_writer_func(write_log, NULL, NULL);
	installed = TRUE;
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
	/*
	 * Not the daemon's writer: g_log(), which g_log handlers and
	 * g_test_expect_message() see (they never see structured records).
	 */
	if (!installed) {
		g_log(G_LOG_DOMAIN, level, "%s", message);
		return;
	}
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
