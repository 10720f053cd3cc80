/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest client: the only code of the core that calls a guest plugin's
 * ops (nestbox/guest.h), one function per op, with the machinery client's
 * rules (machinery_client.h): an empty optional slot is said to be
 * NBX_ERROR_NOT_SUPPORTED by the core, the error is cleared before and
 * becomes one GError in NBX_PLUGIN_ERROR after, prefixed "PLUGIN: machine
 * M: OP: ". They run on the op runner's threads; for a machine on a
 * segment, on a thread inside its namespace (op_runner.h).
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"

typedef enum {
	NBX_GUEST_OP_CONNECT,
	NBX_GUEST_OP_DISCONNECT,
	NBX_GUEST_OP_SET_CLOCK,
	NBX_GUEST_OP_UPLOAD,
	NBX_GUEST_OP_EXECUTE,
	NBX_GUEST_OP_POLL,
	NBX_GUEST_OP_LIST_FILES,
	NBX_GUEST_OP_DOWNLOAD,
	NBX_GUEST_OP_AGENT_LOG,
	NBX_GUEST_OP_COUNT,
} NbxGuestOp;

const char *nbx_guest_op_name(NbxGuestOp op);
gboolean nbx_guest_has(const NbxPluginInstance *guest, NbxGuestOp op);

/* One session: what `connect` made, and the context every op gets. */
typedef struct {
	NbxPluginInstance *guest;
	const struct nbx_guest_context *context;
	void *session;
} NbxGuestSession;

gboolean nbx_guest_connect(NbxGuestSession *session, struct nbx_guest_info *info,
			   const NbxOpContext *call, GError **error);
void nbx_guest_disconnect(NbxGuestSession *session);
gboolean nbx_guest_set_clock(NbxGuestSession *session, gint64 unix_time_us,
			     const NbxOpContext *call, GError **error);
gboolean nbx_guest_upload(NbxGuestSession *session, const char *host_path, const char *file_name,
			  char *guest_path, gsize guest_path_size, const NbxOpContext *call,
			  GError **error);
gboolean nbx_guest_execute(NbxGuestSession *session, const struct nbx_guest_command *command,
			   struct nbx_guest_process *process, const NbxOpContext *call,
			   GError **error);
gboolean nbx_guest_poll(NbxGuestSession *session, const struct nbx_guest_command *command,
			struct nbx_guest_process *process, const NbxOpContext *call,
			GError **error);
gboolean nbx_guest_list_files(NbxGuestSession *session, const char *pattern, guint32 max_matches,
			      nbx_guest_file_fn emit, void *emit_data, const NbxOpContext *call,
			      GError **error);
gboolean nbx_guest_download(NbxGuestSession *session, const char *guest_path, int fd,
			    gint64 max_bytes, gint64 *size, const NbxOpContext *call,
			    GError **error);
gboolean nbx_guest_agent_log(NbxGuestSession *session, int fd, gint64 max_bytes,
			     const NbxOpContext *call, GError **error);

/* `check_task`, as nbx_auxiliary_check_task(). */
gboolean nbx_guest_has_check_task(const NbxPluginInstance *guest);
gboolean nbx_guest_check_task(NbxPluginInstance *guest, const struct nbx_config_node *options,
			      struct nbx_check *check, GError **error);
