/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report.h"

#include "json_bounds.h"

/* What a plugin may put into one report key (host->report_set_json). */
#define REPORT_JSON_MAX_BYTES (1024 * 1024)
#define REPORT_JSON_MAX_DEPTH 32

struct nbx_report *
nbx_report_new(void)
{
	struct nbx_report *report = g_new0(struct nbx_report, 1);

	g_mutex_init(&report->lock);
	report->object = json_object_new();
	return report;
}

void
nbx_report_free(struct nbx_report *report)
{
	if (report == NULL)
		return;
	json_object_unref(report->object);
	g_mutex_clear(&report->lock);
	g_free(report);
}

void
nbx_report_set_string(struct nbx_report *report, const char *key, const char *value)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&report->lock);

	if (value == NULL)
		json_object_set_null_member(report->object, key);
	else
		json_object_set_string_member(report->object, key, value);
}

void
nbx_report_set_integer(struct nbx_report *report, const char *key, gint64 value)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&report->lock);

	json_object_set_int_member(report->object, key, value);
}

void
nbx_report_set_boolean(struct nbx_report *report, const char *key, gboolean value)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&report->lock);

	json_object_set_boolean_member(report->object, key, value);
}

gboolean
nbx_report_set_json(struct nbx_report *report, const char *key, const char *json, GError **error)
{
	JsonNode *node = nbx_json_parse_bounded(json, -1, REPORT_JSON_MAX_BYTES,
						REPORT_JSON_MAX_DEPTH, error);
	g_autoptr(GMutexLocker) locker = NULL;

	if (node == NULL)
		return FALSE;
	locker = g_mutex_locker_new(&report->lock);
	json_object_set_member(report->object, key, node);
	return TRUE;
}

void
nbx_report_add_file(struct nbx_report *report, const char *relative_path)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&report->lock);

	if (!json_object_has_member(report->object, "files"))
		json_object_set_array_member(report->object, "files", json_array_new());
	json_array_add_string_element(json_object_get_array_member(report->object, "files"),
				      relative_path);
}

JsonObject *
nbx_report_ref_object(struct nbx_report *report)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&report->lock);

	return json_object_ref(report->object);
}
