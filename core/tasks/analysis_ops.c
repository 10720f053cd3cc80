/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An analysis's plugin ops: each goes through its plugin's client
 * (machinery_client.h, auxiliary_client.h), which names the plugin and the
 * machine in the error, on the op runner (op_runner.h), which owns the
 * deadline and the abandonment. What is left here is what an abandoned op
 * means to an analysis: a machine op wedges the machine until it returns,
 * an auxiliary's wedges only that auxiliary, and a start that returns
 * successfully after it was given up on still gets its stop.
 */
#include "analysis_private.h"

#include "auxiliary_client.h"
#include "metrics.h"
#include "op_runner.h"

typedef enum {
	CALL_MACHINE,
	CALL_STATE,
	CALL_DUMP_MEMORY,
	CALL_AUX_START,
	CALL_AUX_STOP,
} CallKind;

/* One op's arguments and results, on the heap: an abandoned op keeps them. */
typedef struct {
	NbxAnalysis *analysis;
	CallKind kind;
	NbxMachineryOp op;
	NbxAuxRun *aux;
	NbxOpContext context;
	char *path;
	gint32 state;
} Call;

static Call *
call_new(NbxAnalysis *analysis, CallKind kind)
{
	Call *call = g_new0(Call, 1);

	call->analysis = nbx_analysis_ref(analysis);
	call->kind = kind;
	call->context.analysis_dir = analysis->task->analysis_dir;
	call->context.task_id = analysis->task->id;
	call->state = NBX_MACHINE_UNKNOWN;
	return call;
}

static void
call_free(gpointer data)
{
	Call *call = data;

	nbx_analysis_unref(call->analysis);
	g_free(call->path);
	g_free(call);
}

static gboolean
call_invoke(gpointer data, gint64 deadline_us, GError **error)
{
	Call *call = data;
	NbxMachine *machine = call->analysis->machine;

	call->context.deadline_us = deadline_us;
	switch (call->kind) {
	case CALL_MACHINE:
		return nbx_machinery_call(machine->machinery, call->op, &machine->machine,
					  &call->context, error);
	case CALL_STATE:
		return nbx_machinery_state(machine->machinery, &machine->machine, &call->context,
					   &call->state, NULL, error);
	case CALL_DUMP_MEMORY:
		return nbx_machinery_dump_memory(machine->machinery, &machine->machine,
						 &call->context, call->path, error);
	case CALL_AUX_START:
		return nbx_auxiliary_start(call->aux->instance, &call->aux->context,
					   &call->aux->data, &call->context, error);
	case CALL_AUX_STOP:
		return nbx_auxiliary_stop(call->aux->instance, &call->aux->context,
					  call->aux->data, &call->context, error);
	}
	g_return_val_if_reached(FALSE);
}

static gboolean
is_machine_call(const Call *call)
{
	return call->kind == CALL_MACHINE || call->kind == CALL_STATE ||
	       call->kind == CALL_DUMP_MEMORY;
}

/*
 * An auxiliary's start that was given up on but then succeeded gets its
 * stop all the same (auxiliary.h: one stop per successful start), so it
 * can release what it holds. On the op's worker thread.
 */
static void
stop_after_late_start(Call *call)
{
	NbxAnalysis *analysis = call->analysis;
	g_autoptr(GError) error = NULL;

	call->context.deadline_us = g_get_monotonic_time() +
				    analysis->settings.timeouts.auxiliary_stop * G_USEC_PER_SEC;
	if (!nbx_auxiliary_stop(call->aux->instance, &call->aux->context, call->aux->data,
				&call->context, &error))
		g_warning("%s: stop after a late start failed: %s",
			  nbx_plugin_instance_name(call->aux->instance), error->message);
}

/* An abandoned op returned at last (on its worker thread). */
static void
call_returned(gpointer data, gboolean ok)
{
	Call *call = data;
	NbxAnalysis *analysis = call->analysis;
	gboolean tell = FALSE;

	if (is_machine_call(call)) {
		g_mutex_lock(&analysis->lock);
		analysis->machine_op_pending = FALSE;
		/* Before `finished`, the outcome simply says "not wedged". */
		tell = analysis->finished;
		g_cond_broadcast(&analysis->cond);
		g_mutex_unlock(&analysis->lock);
	}
	if (tell)
		nbx_analysis_post_to_main(analysis, analysis->callbacks.unwedged);
	if (call->kind == CALL_AUX_START && ok)
		stop_after_late_start(call);
}

static void
set_machine_op_pending(NbxAnalysis *analysis, gboolean pending)
{
	g_mutex_lock(&analysis->lock);
	analysis->machine_op_pending = pending;
	g_mutex_unlock(&analysis->lock);
}

/*
 * Runs @call (taking it) with a deadline @timeout_s from now. FALSE with
 * *@message when it failed or was abandoned; after an abandonment the
 * runner keeps @call until the op returns, else it is freed here, after
 * *@state (when given) got the answer of a `state` call.
 */
static gboolean
call_run(Call *call, const char *what, gint64 timeout_s, gint32 *state, char **message)
{
	NbxAnalysis *analysis = call->analysis;
	/* Read now: once abandoned, @call is the runner's and may be gone. */
	NbxAuxRun *aux = call->aux;
	gboolean machine_call = is_machine_call(call);
	NbxPluginInstance *plugin = aux != NULL ? aux->instance : analysis->machine->machinery;
	g_autofree char *label =
		aux != NULL
			? g_strdup_printf("%s: %s", nbx_plugin_instance_name(plugin), what)
			: g_strdup_printf("%s: machine %s: %s", nbx_plugin_instance_name(plugin),
					  analysis->machine->machine.name, what);
	NbxOpSpec spec = {
		.label = label,
		.timeout_s = MAX(timeout_s, 1),
		.grace_s = analysis->settings.grace_s,
		.returned = call_returned,
		.free_data = call_free,
	};
	g_autoptr(GError) error = NULL;
	NbxOpResult result;

	/* Marked before: a return racing the abandonment still clears it. */
	if (machine_call)
		set_machine_op_pending(analysis, TRUE);
	result = nbx_op_run(&spec, call_invoke, call, &error);
	if (result == NBX_OP_ABANDONED) {
		/* The client counts the failures it sees; an abandonment is counted here. */
		nbx_metrics_count_op_failure(nbx_plugin_instance_name(plugin), what);
		if (aux != NULL)
			aux->wedged = TRUE;
	} else {
		if (machine_call)
			set_machine_op_pending(analysis, FALSE);
		if (state != NULL && result == NBX_OP_OK)
			*state = call->state;
		call_free(call);
	}
	if (result != NBX_OP_OK && message != NULL)
		*message = g_strdup(error->message);
	return result == NBX_OP_OK;
}

gboolean
nbx_analysis_machine_op(NbxAnalysis *analysis, NbxMachineryOp op, gint64 timeout_s,
			char **message)
{
	Call *call = call_new(analysis, CALL_MACHINE);

	call->op = op;
	if (op == NBX_MACHINERY_OP_RESTORE_START)
		call->context.generation_dir = analysis->generation_dir;
	return call_run(call, nbx_machinery_op_name(op), timeout_s, NULL, message);
}

gboolean
nbx_analysis_dump_memory_op(NbxAnalysis *analysis, const char *path, char **message)
{
	Call *call = call_new(analysis, CALL_DUMP_MEMORY);

	call->path = g_strdup(path);
	return call_run(call, "dump_memory", analysis->settings.timeouts.dump_memory, NULL,
			message);
}


gint32
nbx_analysis_state_op(NbxAnalysis *analysis)
{
	gint32 state = NBX_MACHINE_UNKNOWN;

	call_run(call_new(analysis, CALL_STATE), "state", analysis->settings.timeouts.stop, &state,
		 NULL);
	return state;
}

static gboolean
aux_call(NbxAnalysis *analysis, NbxAuxRun *run, CallKind kind, char **message)
{
	Call *call = call_new(analysis, kind);

	call->aux = run;
	return kind == CALL_AUX_START
		       ? call_run(call, "start", analysis->settings.timeouts.auxiliary_start, NULL,
				  message)
		       : call_run(call, "stop", analysis->settings.timeouts.auxiliary_stop, NULL,
				  message);
}

gboolean
nbx_analysis_aux_start(NbxAnalysis *analysis, NbxAuxRun *run, char **message)
{
	return aux_call(analysis, run, CALL_AUX_START, message);
}

gboolean
nbx_analysis_aux_stop(NbxAnalysis *analysis, NbxAuxRun *run, char **message)
{
	return aux_call(analysis, run, CALL_AUX_STOP, message);
}

gboolean
nbx_analysis_machine_wedged(NbxAnalysis *analysis)
{
	gboolean wedged;

	g_mutex_lock(&analysis->lock);
	wedged = analysis->machine_op_pending;
	g_mutex_unlock(&analysis->lock);
	return wedged;
}
