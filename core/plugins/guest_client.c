/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest_client.h"

#include "call_context.h"
#include "plugin_ops.h"

static const struct {
	gsize offset;
	const char *name;
} ops[NBX_GUEST_OP_COUNT] = {
#define OP(id, slot) [NBX_GUEST_OP_##id] = { G_STRUCT_OFFSET(struct nbx_guest_ops, slot), #slot }
	OP(CONNECT, connect),	  OP(DISCONNECT, disconnect), OP(SET_CLOCK, set_clock),
	OP(UPLOAD, upload),	  OP(EXECUTE, execute),	      OP(POLL, poll),
	OP(LIST_FILES, list_files), OP(DOWNLOAD, download),   OP(AGENT_LOG, agent_log),
#undef OP
};

static const struct nbx_guest_ops *
table(const NbxPluginInstance *guest)
{
	return nbx_plugin_guest_ops(guest->plugin);
}

const char *
nbx_guest_op_name(NbxGuestOp op)
{
	g_return_val_if_fail(op < NBX_GUEST_OP_COUNT, "unknown op");
	return ops[op].name;
}

gboolean
nbx_guest_has(const NbxPluginInstance *guest, NbxGuestOp op)
{
	g_return_val_if_fail(op < NBX_GUEST_OP_COUNT, FALSE);
	return G_STRUCT_MEMBER(gconstpointer, table(guest), ops[op].offset) != NULL;
}

/* The slot is filled (else NOT_SUPPORTED, said by the core); @call is made. */
static gboolean
call_begin(const NbxGuestSession *session, NbxGuestOp op, const NbxOpContext *context,
	   struct nbx_call *call, GError **error)
{
	const char *plugin = nbx_plugin_instance_name(session->guest);

	if (!nbx_guest_has(session->guest, op)) {
		g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_NOT_SUPPORTED,
			    "%s: machine %s: %s: not supported by guest plugin %s (it has no %s op)",
			    plugin, session->context->machine->name, ops[op].name, plugin,
			    ops[op].name);
		return FALSE;
	}
	nbx_call_from_context(call, context);
	return TRUE;
}

static gboolean
call_end(const NbxGuestSession *session, NbxGuestOp op, bool ok, struct nbx_error *err,
	 GError **error)
{
	return nbx_call_end(session->guest, session->context->machine->name, ops[op].name, ok, err,
			    error);
}

gboolean
nbx_guest_connect(NbxGuestSession *s, struct nbx_guest_info *info, const NbxOpContext *context,
		  GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_CONNECT, context, &call, error))
		return FALSE;
	*info = (struct nbx_guest_info){ .struct_size = sizeof *info };
	s->session = NULL;
	return call_end(s, NBX_GUEST_OP_CONNECT,
			table(s->guest)->connect(s->guest->instance, s->context, &s->session, info,
						 &call, &err),
			&err, error);
}

void
nbx_guest_disconnect(NbxGuestSession *s)
{
	table(s->guest)->disconnect(s->guest->instance, s->context, s->session);
	s->session = NULL;
}

gboolean
nbx_guest_set_clock(NbxGuestSession *s, gint64 unix_time_us, const NbxOpContext *context,
		    GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_SET_CLOCK, context, &call, error))
		return FALSE;
	return call_end(s, NBX_GUEST_OP_SET_CLOCK,
			table(s->guest)->set_clock(s->guest->instance, s->session, unix_time_us,
						   &call, &err),
			&err, error);
}

gboolean
nbx_guest_upload(NbxGuestSession *s, const char *host_path, const char *file_name,
		 char *guest_path, gsize guest_path_size, const NbxOpContext *context,
		 GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;
	bool ok;

	if (!call_begin(s, NBX_GUEST_OP_UPLOAD, context, &call, error))
		return FALSE;
	guest_path[0] = '\0';
	ok = table(s->guest)->upload(s->guest->instance, s->session, host_path, file_name,
				     guest_path, guest_path_size, &call, &err);
	/* The plugin's answer is text the core shows: it must end inside the buffer. */
	guest_path[guest_path_size - 1] = '\0';
	return call_end(s, NBX_GUEST_OP_UPLOAD, ok, &err, error);
}

gboolean
nbx_guest_execute(NbxGuestSession *s, const struct nbx_guest_command *command,
		  struct nbx_guest_process *process, const NbxOpContext *context, GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_EXECUTE, context, &call, error))
		return FALSE;
	*process = (struct nbx_guest_process){ .struct_size = sizeof *process };
	return call_end(s, NBX_GUEST_OP_EXECUTE,
			table(s->guest)->execute(s->guest->instance, s->session, command, process,
						 &call, &err),
			&err, error);
}

gboolean
nbx_guest_poll(NbxGuestSession *s, const struct nbx_guest_command *command,
	       struct nbx_guest_process *process, const NbxOpContext *context, GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_POLL, context, &call, error))
		return FALSE;
	return call_end(s, NBX_GUEST_OP_POLL,
			table(s->guest)->poll(s->guest->instance, s->session, command, process,
					      &call, &err),
			&err, error);
}

gboolean
nbx_guest_list_files(NbxGuestSession *s, const char *pattern, guint32 max_matches,
		     nbx_guest_file_fn emit, void *emit_data, const NbxOpContext *context,
		     GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_LIST_FILES, context, &call, error))
		return FALSE;
	return call_end(s, NBX_GUEST_OP_LIST_FILES,
			table(s->guest)->list_files(s->guest->instance, s->session, pattern,
						    max_matches, emit, emit_data, &call, &err),
			&err, error);
}

gboolean
nbx_guest_download(NbxGuestSession *s, const char *guest_path, int fd, gint64 max_bytes,
		   gint64 *size, const NbxOpContext *context, GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;
	int64_t written = 0;
	bool ok;

	if (!call_begin(s, NBX_GUEST_OP_DOWNLOAD, context, &call, error))
		return FALSE;
	ok = table(s->guest)->download(s->guest->instance, s->session, guest_path, fd, max_bytes,
				       &written, &call, &err);
	*size = written;
	return call_end(s, NBX_GUEST_OP_DOWNLOAD, ok, &err, error);
}

gboolean
nbx_guest_agent_log(NbxGuestSession *s, int fd, gint64 max_bytes, const NbxOpContext *context,
		    GError **error)
{
	struct nbx_error err = { 0 };
	struct nbx_call call;

	if (!call_begin(s, NBX_GUEST_OP_AGENT_LOG, context, &call, error))
		return FALSE;
	return call_end(s, NBX_GUEST_OP_AGENT_LOG,
			table(s->guest)->agent_log(s->guest->instance, s->session, fd, max_bytes,
						   &call, &err),
			&err, error);
}

gboolean
nbx_guest_has_check_task(const NbxPluginInstance *guest)
{
	return table(guest)->check_task != NULL;
}

gboolean
nbx_guest_check_task(NbxPluginInstance *guest, const struct nbx_config_node *options,
		     struct nbx_check *check, GError **error)
{
	struct nbx_error err = { 0 };

	if (table(guest)->check_task == NULL)
		return TRUE;
	return nbx_call_end(guest, NULL, "check_task",
			    table(guest)->check_task(guest->instance, options, check, &err), &err,
			    error);
}
