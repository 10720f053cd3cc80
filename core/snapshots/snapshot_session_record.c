/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A modification session's record: session.json in its base, its work
 * directory, what `status` shows of it and what the plugin is told of it.
 * Below the sessions' ops (snapshot_sessions.c), the bases that own a
 * session and the recovery that reads one back.
 */
#include "json_file.h"
#include "snapshot_manager_private.h"
#include "task.h"

void
nbx_snapshot_session_free(SnapshotSession *session)
{
	if (session == NULL)
		return;
	g_free(session->machine);
	g_free(session->console);
	g_free(session);
}

char *
nbx_snapshot_session_file(const SnapshotBase *base)
{
	return g_build_filename(base->dir, SNAPSHOT_SESSION_FILE, NULL);
}

char *
nbx_snapshot_session_work_dir(const SnapshotBase *base)
{
	return g_build_filename(base->dir, SNAPSHOT_SESSION_DIR, NULL);
}

JsonObject *
nbx_snapshot_session_to_json(const SnapshotSession *session)
{
	JsonObject *object = json_object_new();
	g_autofree char *started = nbx_format_time_us(session->started_us);

	json_object_set_string_member(object, "machine", session->machine);
	json_object_set_int_member(object, "from", session->from);
	json_object_set_boolean_member(object, "cold_boot", session->cold_boot);
	json_object_set_string_member(object, "console",
				      session->console != NULL ? session->console : "");
	json_object_set_string_member(object, "started", started);
	return object;
}

gboolean
nbx_snapshot_session_save(const SnapshotBase *base, const SnapshotSession *session, GError **error)
{
	g_autoptr(JsonObject) object = nbx_snapshot_session_to_json(session);
	g_autofree char *path = nbx_snapshot_session_file(base);

	json_object_set_int_member(object, "started_us", session->started_us);
	return nbx_json_write_object_file(path, object, error);
}

SnapshotSession *
nbx_snapshot_session_load(const SnapshotBase *base)
{
	g_autofree char *path = nbx_snapshot_session_file(base);
	g_autoptr(JsonObject) object = nbx_json_read_object_file(path);
	SnapshotSession *session;

	if (object == NULL)
		return NULL;
	session = g_new0(SnapshotSession, 1);
	session->machine =
		g_strdup(json_object_get_string_member_with_default(object, "machine", ""));
	session->from = json_object_get_int_member_with_default(object, "from", 0);
	session->cold_boot =
		json_object_get_boolean_member_with_default(object, "cold_boot", FALSE);
	session->console =
		g_strdup(json_object_get_string_member_with_default(object, "console", ""));
	session->started_us = json_object_get_int_member_with_default(object, "started_us", 0);
	return session;
}

struct nbx_snapshot_session
nbx_snapshot_session_args(const SnapshotBase *base, const SnapshotSession *session,
			  const char *work_dir, const char *new_dir, char **from_dir)
{
	*from_dir = session->from > 0 ? nbx_snapshot_generation_dir(base, session->from) : NULL;
	return (struct nbx_snapshot_session){
		.struct_size = sizeof(struct nbx_snapshot_session),
		.from_dir = *from_dir,
		.work_dir = work_dir,
		.new_dir = new_dir,
	};
}
