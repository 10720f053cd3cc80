/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One guest op on the op runner: its arguments live in a heap call the
 * runner may keep when the op is abandoned, so nothing it touches is on
 * the analysis thread's stack.
 */
#include "guest_run_private.h"

#include <unistd.h>

#include "op_runner.h"

NbxGuestCall *
nbx_guest_call_new(NbxGuestRun *run, NbxGuestOp op)
{
	NbxGuestCall *call = g_new0(NbxGuestCall, 1);

	call->run = nbx_guest_run_ref(run);
	call->op = op;
	call->context.analysis_dir = run->task->analysis_dir;
	call->context.task_id = run->task->id;
	call->process = run->process;
	call->fd = -1;
	return call;
}

void
nbx_guest_call_free(NbxGuestCall *call)
{
	if (call == NULL)
		return;
	nbx_guest_run_unref(call->run);
	g_free(call->host_path);
	g_free(call->file_name);
	g_free(call->pattern);
	if (call->matches != NULL)
		g_ptr_array_unref(call->matches);
	/* Closed only once the op is over: an abandoned one still writes into it. */
	if (call->fd >= 0)
		close(call->fd);
	g_free(call);
}

static bool
collect_match(void *data, const char *guest_path, int64_t size)
{
	NbxGuestCall *call = data;

	(void)size;
	if (call->matches->len >= call->max_matches)
		return false;
	g_ptr_array_add(call->matches, g_strdup(guest_path));
	return call->matches->len < call->max_matches;
}

static gboolean
invoke(gpointer data, gint64 deadline_us, GError **error)
{
	NbxGuestCall *call = data;
	NbxGuestSession *session = &call->run->session;
	const struct nbx_guest_command *command = &call->run->command;

	call->context.deadline_us = deadline_us;
	switch (call->op) {
	case NBX_GUEST_OP_CONNECT:
		return nbx_guest_connect(session, &call->info, &call->context, error);
	case NBX_GUEST_OP_SET_CLOCK:
		return nbx_guest_set_clock(session, call->unix_time_us, &call->context, error);
	case NBX_GUEST_OP_UPLOAD:
		return nbx_guest_upload(session, call->host_path, call->file_name, call->guest_path,
					sizeof call->guest_path, &call->context, error);
	case NBX_GUEST_OP_EXECUTE:
		return nbx_guest_execute(session, command, &call->process, &call->context, error);
	case NBX_GUEST_OP_POLL:
		return nbx_guest_poll(session, command, &call->process, &call->context, error);
	case NBX_GUEST_OP_LIST_FILES:
		call->matches = g_ptr_array_new_with_free_func(g_free);
		return nbx_guest_list_files(session, call->pattern, call->max_matches,
					    collect_match, call, &call->context, error);
	case NBX_GUEST_OP_DOWNLOAD:
		return nbx_guest_download(session, call->host_path, call->fd, call->max_bytes,
					  &call->size, &call->context, error);
	case NBX_GUEST_OP_AGENT_LOG:
		return nbx_guest_agent_log(session, call->fd, call->max_bytes, &call->context,
					   error);
	case NBX_GUEST_OP_DISCONNECT:
		nbx_guest_disconnect(session);
		return TRUE;
	case NBX_GUEST_OP_COUNT:
		break;
	}
	g_return_val_if_reached(FALSE);
}

/* An abandoned op returned at last: the session is free again, and may be ended now. */
static void
returned(gpointer data, gboolean ok)
{
	NbxGuestCall *call = data;
	NbxGuestRun *run = call->run;
	gboolean disconnect;

	(void)ok;
	g_mutex_lock(&run->lock);
	run->op_pending = FALSE;
	disconnect = run->disconnect_on_return && run->connected;
	if (call->op == NBX_GUEST_OP_CONNECT && ok)
		disconnect = TRUE;
	if (disconnect)
		run->connected = FALSE;
	g_mutex_unlock(&run->lock);
	if (disconnect)
		nbx_guest_disconnect(&run->session);
}

gboolean
nbx_guest_call_run(NbxGuestCall **callp, gint64 timeout_s, char **message)
{
	NbxGuestCall *call = *callp;
	NbxGuestRun *run = call->run;
	g_autofree char *label = g_strdup_printf("%s: machine %s: %s",
						 nbx_plugin_instance_name(run->guest),
						 run->machine->name, nbx_guest_op_name(call->op));
	NbxOpSpec spec = {
		.label = label,
		.timeout_s = MAX(timeout_s, 1),
		.grace_s = run->limits.grace_s,
		.network_namespace = call->outside_namespace ? NULL : run->machine->network_namespace,
		.returned = returned,
		.free_data = (GDestroyNotify)nbx_guest_call_free,
	};
	g_autoptr(GError) error = NULL;
	NbxOpResult result;

	g_mutex_lock(&run->lock);
	/* Marked before, so a return racing the abandonment still clears it. */
	run->op_pending = TRUE;
	g_mutex_unlock(&run->lock);
	result = nbx_op_run(&spec, invoke, call, &error);
	if (result == NBX_OP_ABANDONED) {
		*callp = NULL;
		run->broken = TRUE;
	} else {
		g_mutex_lock(&run->lock);
		run->op_pending = FALSE;
		g_mutex_unlock(&run->lock);
	}
	if (result != NBX_OP_OK && message != NULL)
		*message = g_strdup(error != NULL ? error->message : "failed (no reason given)");
	return result == NBX_OP_OK;
}
