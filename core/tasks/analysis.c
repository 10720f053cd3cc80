/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "analysis.h"
#include "analysis_steps.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "guest_run.h"
#include "guest_setup.h"
#include "machine_pool.h"
#include "metrics.h"
#include "netns.h"
#include "plugin_instance.h"
#include "report.h"
#include "task_options.h"
#include "structured_log.h"

/* One auxiliary's part in this analysis. */
typedef struct {
	NbxPluginInstance *instance;
	struct nbx_task task; /* its own: `options` differs per auxiliary */
	struct nbx_aux_context context;
	struct nbx_report *report;
	void *data;
	gboolean started;
	/* Its start or stop never returned: it gets no further call. */
	gboolean wedged;
	JsonObject *summary;
} AuxRun;

struct _NbxAnalysis {
	gint refs;
	NbxSetup *setup;
	NbxStore *store;
	NbxPoolMachine *machine;
	NbxTask *task;
	NbxAnalysisSettings settings;
	NbxRestoreGate *gate;
	NbxAnalysisCallbacks callbacks;
	GThread *thread;
	config_t options;

	/* Guards everything below; `cond` wakes the thread for all of it. */
	GMutex lock;
	GCond cond;
	gboolean interrupted;
	NbxTaskState interrupt_state;
	char *interrupt_reason;
	/* Between a successful start and the stop step: a POWEROFF is a death. */
	gboolean machine_up;
	char *death;
	/*
	 * Before machine_up: the machine was reported running, then down (it
	 * died before the core saw its restore return). A death once it is up.
	 */
	gboolean seen_running;
	char *early_death;
	/* A machine op was abandoned and has not returned yet. */
	gboolean machine_op_pending;
	gboolean finished;

	/* The thread's own. */
	/* The snapshot generation the restore used, counted until the end. */
	gboolean generation_in_use;
	gint64 generation;
	char *generation_dir;
	char *failure;
	NbxAnalysisOutcome outcome;
	JsonArray *steps;
	GPtrArray *aux_runs;
	/* The guest plugin's part, or NULL when the machine has none. */
	NbxGuestRun *guest;
};

/* ---- restore gate --------------------------------------------------------- */

void
nbx_restore_gate_init(NbxRestoreGate *gate, gint64 limit)
{
	g_mutex_init(&gate->lock);
	g_cond_init(&gate->cond);
	gate->limit = MAX(limit, 1);
	gate->busy = 0;
}

void
nbx_restore_gate_clear(NbxRestoreGate *gate)
{
	g_mutex_clear(&gate->lock);
	g_cond_clear(&gate->cond);
}

static void record_wait(NbxAnalysis *analysis, gint64 limit);

/* Waits for a free restore slot; FALSE when the analysis was cut short meanwhile. */
static gboolean
gate_enter(NbxAnalysis *analysis)
{
	NbxRestoreGate *gate = analysis->gate;
	gboolean entered = FALSE;
	gboolean told = FALSE;

	g_mutex_lock(&gate->lock);
	for (;;) {
		gboolean stop;

		g_mutex_lock(&analysis->lock);
		stop = analysis->interrupted;
		g_mutex_unlock(&analysis->lock);
		if (stop)
			break;
		if (gate->busy < gate->limit) {
			gate->busy++;
			nbx_metrics_restores_in_flight_add(+1);
			entered = TRUE;
			break;
		}
		if (!told) {
			gint64 limit = gate->limit;

			/* Not under the gate's lock: a store write may take a while. */
			g_mutex_unlock(&gate->lock);
			record_wait(analysis, limit);
			g_mutex_lock(&gate->lock);
			told = TRUE;
			continue;
		}
		/* An interrupt does not signal the gate: look again shortly. */
		g_cond_wait_until(&gate->cond, &gate->lock,
				  g_get_monotonic_time() + 100 * G_TIME_SPAN_MILLISECOND);
	}
	g_mutex_unlock(&gate->lock);
	return entered;
}

static void
gate_leave(NbxRestoreGate *gate)
{
	g_mutex_lock(&gate->lock);
	gate->busy--;
	nbx_metrics_restores_in_flight_add(-1);
	g_cond_broadcast(&gate->cond);
	g_mutex_unlock(&gate->lock);
}

/* ---- reference counting --------------------------------------------------- */

NbxAnalysis *
nbx_analysis_ref(NbxAnalysis *analysis)
{
	g_atomic_int_inc(&analysis->refs);
	return analysis;
}

static void
aux_run_free(AuxRun *run)
{
	nbx_report_free(run->report);
	if (run->summary != NULL)
		json_object_unref(run->summary);
	g_free(run);
}

void
nbx_analysis_unref(NbxAnalysis *analysis)
{
	if (analysis == NULL || !g_atomic_int_dec_and_test(&analysis->refs))
		return;
	if (analysis->thread != NULL)
		g_thread_unref(analysis->thread);
	nbx_task_free(analysis->task);
	config_destroy(&analysis->options);
	g_free(analysis->interrupt_reason);
	g_free(analysis->death);
	g_free(analysis->early_death);
	g_free(analysis->failure);
	g_free(analysis->generation_dir);
	g_free(analysis->outcome.reason);
	g_free(analysis->outcome.machine_failure);
	json_array_unref(analysis->steps);
	g_ptr_array_unref(analysis->aux_runs);
	nbx_guest_run_unref(analysis->guest);
	g_mutex_clear(&analysis->lock);
	g_cond_clear(&analysis->cond);
	g_free(analysis);
}

gint64
nbx_analysis_task_id(const NbxAnalysis *analysis)
{
	return analysis->task->id;
}

const NbxTask *
nbx_analysis_task(const NbxAnalysis *analysis)
{
	return analysis->task;
}

NbxPoolMachine *
nbx_analysis_machine(const NbxAnalysis *analysis)
{
	return analysis->machine;
}

const NbxAnalysisOutcome *
nbx_analysis_outcome(const NbxAnalysis *analysis)
{
	return &analysis->outcome;
}

/* ---- interruptions ----------------------------------------------------------- */

void
nbx_analysis_interrupt(NbxAnalysis *analysis, NbxTaskState state, const char *reason)
{
	g_mutex_lock(&analysis->lock);
	/* A cancel is final: it also overrides a shutdown's "run it again". */
	if (!analysis->interrupted ||
	    (state == NBX_TASK_CANCELLED && analysis->interrupt_state != NBX_TASK_CANCELLED)) {
		analysis->interrupted = TRUE;
		analysis->interrupt_state = state;
		g_free(analysis->interrupt_reason);
		analysis->interrupt_reason = g_strdup(reason);
	}
	g_cond_broadcast(&analysis->cond);
	g_mutex_unlock(&analysis->lock);
}

void
nbx_analysis_machine_state(NbxAnalysis *analysis, gint32 state, const char *reason)
{
	gboolean down = state == NBX_MACHINE_POWEROFF || state == NBX_MACHINE_ERROR;
	g_autofree char *death = NULL;

	if (!down && state != NBX_MACHINE_RUNNING)
		return;
	death = g_strdup_printf("machine %s went %s during the analysis%s%s",
				analysis->machine->machine.name, nbx_machine_state_name(state),
				reason != NULL ? ": " : "", reason != NULL ? reason : "");
	g_mutex_lock(&analysis->lock);
	if (!analysis->machine_up) {
		/* Only a "down" after this analysis's own "running": not the last run's stop. */
		analysis->seen_running |= state == NBX_MACHINE_RUNNING;
		if (down && analysis->seen_running && analysis->early_death == NULL)
			analysis->early_death = g_steal_pointer(&death);
	} else if (down && analysis->death == NULL) {
		analysis->death = g_steal_pointer(&death);
		g_cond_broadcast(&analysis->cond);
	}
	g_mutex_unlock(&analysis->lock);
}

static gboolean
cut_short(NbxAnalysis *analysis)
{
	gboolean cut;

	g_mutex_lock(&analysis->lock);
	cut = analysis->interrupted || analysis->death != NULL;
	g_mutex_unlock(&analysis->lock);
	return cut;
}

/*
 * Sleeps until @until (monotonic) unless interrupted or the machine dies.
 * TRUE when the whole time passed.
 */
static gboolean
wait_until(NbxAnalysis *analysis, gint64 until)
{
	gboolean cut;

	g_mutex_lock(&analysis->lock);
	while (!(cut = analysis->interrupted || analysis->death != NULL) &&
	       g_cond_wait_until(&analysis->cond, &analysis->lock, until))
		;
	g_mutex_unlock(&analysis->lock);
	return !cut;
}

gboolean
nbx_analysis_cut_short(NbxAnalysis *analysis)
{
	return cut_short(analysis);
}

gboolean
nbx_analysis_wait_until(NbxAnalysis *analysis, gint64 until)
{
	return wait_until(analysis, until);
}

/* ---- recording -------------------------------------------------------------- */

static void
store_task(NbxAnalysis *analysis)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_store_task_update(analysis->store, analysis->task, &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

#define record_event(analysis, kind, ...)                                                  \
	nbx_store_event_addf((analysis)->store, (analysis)->task->id,                      \
			     (analysis)->machine->machine.name, kind, __VA_ARGS__)

/* The task says why it waits, in its events (a restore slot is no step of its own). */
static void
record_wait(NbxAnalysis *analysis, gint64 limit)
{
	record_event(analysis, "restore.waiting",
		     "waiting for a restore slot: %" G_GINT64_FORMAT
		     " restores at once (scheduler.max_concurrent_restores)",
		     limit);
}

typedef NbxAnalysisStep Step;

static Step
step_begin(NbxAnalysis *analysis, const char *name)
{
	Step step = { .object = json_object_new(), .start_us = g_get_real_time() };
	g_autofree char *started = nbx_format_time_us(step.start_us);

	json_object_set_string_member(step.object, "name", name);
	json_object_set_string_member(step.object, "started", started);
	g_free(analysis->task->step);
	analysis->task->step = g_strdup(name);
	store_task(analysis);
	record_event(analysis, "step.begin", "%s", name);
	return step;
}

static void
step_end(NbxAnalysis *analysis, Step *step, const char *error)
{
	gint64 end_us = g_get_real_time();
	g_autofree char *ended = nbx_format_time_us(end_us);
	const char *name = json_object_get_string_member(step->object, "name");

	json_object_set_string_member(step->object, "ended", ended);
	json_object_set_double_member(step->object, "duration_s",
				      (double)(end_us - step->start_us) / G_USEC_PER_SEC);
	nbx_metrics_observe_step(name, (double)(end_us - step->start_us) / G_USEC_PER_SEC);
	json_object_set_boolean_member(step->object, "ok", error == NULL);
	if (error != NULL)
		json_object_set_string_member(step->object, "error", error);
	record_event(analysis, error == NULL ? "step.end" : "step.failed", "%s%s%s", name,
		     error != NULL ? ": " : "", error != NULL ? error : "");
	/* `journalctl TASK_ID=N` shows the analysis step by step. */
	nbx_log(error == NULL ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_WARNING,
		&(NbxLogFields){ .task_id = analysis->task->id,
				 .machine = analysis->machine->machine.name, .step = name },
		"task %" G_GINT64_FORMAT ": %s %s%s", analysis->task->id, name,
		error == NULL ? "done" : "failed: ", error != NULL ? error : "");
	json_array_add_object_element(analysis->steps, step->object);
	step->object = NULL;
}

/* The first failure is the task's reason; later ones only go in the steps. */
static void
fail(NbxAnalysis *analysis, const char *message)
{
	if (analysis->failure == NULL)
		analysis->failure = g_strdup(message);
}

static void
machine_failed(NbxAnalysis *analysis, const char *message)
{
	fail(analysis, message);
	if (analysis->outcome.machine_failure == NULL)
		analysis->outcome.machine_failure = g_strdup(message);
}

NbxAnalysisStep
nbx_analysis_step_begin(NbxAnalysis *analysis, const char *name)
{
	return step_begin(analysis, name);
}

void
nbx_analysis_step_end(NbxAnalysis *analysis, NbxAnalysisStep *step, const char *error)
{
	step_end(analysis, step, error);
}

void
nbx_analysis_fail(NbxAnalysis *analysis, const char *message)
{
	fail(analysis, message);
}

void
nbx_analysis_machine_failed(NbxAnalysis *analysis, const char *message)
{
	machine_failed(analysis, message);
}

/* ---- plugin ops on op threads --------------------------------------------------- */

typedef struct _OpCall OpCall;

struct _OpCall {
	gint refs;
	NbxAnalysis *analysis;
	/* A machine op (wedges the machine) or an auxiliary's (wedges only it). */
	gboolean machine_op;
	bool (*invoke)(OpCall *op);
	struct nbx_call call;
	const char *path;
	AuxRun *aux;
	int32_t state;
	struct nbx_error err;
	bool ok;
	/* Under analysis->lock. */
	gboolean done;
	gboolean abandoned;
};

static void
op_unref(OpCall *op)
{
	if (!g_atomic_int_dec_and_test(&op->refs))
		return;
	nbx_analysis_unref(op->analysis);
	g_free(op);
}

typedef struct {
	NbxAnalysis *analysis;
	NbxAnalysisFunc func;
} Post;

static gboolean
run_post(gpointer data)
{
	Post *post = data;

	post->func(post->analysis, post->analysis->callbacks.user_data);
	return G_SOURCE_REMOVE;
}

static void
post_free(gpointer data)
{
	Post *post = data;

	nbx_analysis_unref(post->analysis);
	g_free(post);
}

/* Calls @func(analysis) on the main thread, holding a reference until then. */
static void
post_to_main(NbxAnalysis *analysis, NbxAnalysisFunc func)
{
	Post *post = g_new(Post, 1);

	post->analysis = nbx_analysis_ref(analysis);
	post->func = func;
	/*
	 * Not g_main_context_invoke(): it runs the function right here, on
	 * this thread, whenever nobody owns the main context at that moment.
	 */
	g_autoptr(GSource) source = g_idle_source_new();

	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, run_post, post, post_free);
	g_source_attach(source, NULL);
}

static bool invoke_aux_start(OpCall *op);
static bool invoke_aux_stop(OpCall *op);

static gpointer
op_thread(gpointer data)
{
	OpCall *op = data;
	NbxAnalysis *analysis = op->analysis;
	gboolean tell = FALSE;

	gboolean late_start;

	op->ok = op->invoke(op);
	g_mutex_lock(&analysis->lock);
	op->done = TRUE;
	if (op->abandoned && op->machine_op) {
		analysis->machine_op_pending = FALSE;
		/* Before `finished`, the outcome simply says "not wedged". */
		tell = analysis->finished;
	}
	late_start = op->abandoned && op->ok && op->invoke == invoke_aux_start;
	g_cond_broadcast(&analysis->cond);
	g_mutex_unlock(&analysis->lock);
	if (tell)
		post_to_main(analysis, analysis->callbacks.unwedged);
	/*
	 * An auxiliary's start that was given up on but then succeeded gets
	 * its stop all the same (auxiliary.h: one stop per successful start),
	 * so it can release what it holds.
	 */
	if (late_start) {
		op->call.deadline_us = g_get_monotonic_time() +
				       analysis->settings.timeouts.auxiliary_stop * G_USEC_PER_SEC;
		if (!invoke_aux_stop(op))
			g_warning("%s: stop after a late start failed: %s",
				  nbx_plugin_instance_name(op->aux->instance), op->err.message);
	}
	op_unref(op);
	return NULL;
}

static OpCall *
op_new(NbxAnalysis *analysis, gboolean machine_op, bool (*invoke)(OpCall *op))
{
	OpCall *op = g_new0(OpCall, 1);

	op->refs = 1;
	op->analysis = nbx_analysis_ref(analysis);
	op->machine_op = machine_op;
	op->invoke = invoke;
	op->call.struct_size = sizeof op->call;
	op->call.analysis_dir = analysis->task->analysis_dir;
	op->call.task_id = analysis->task->id;
	return op;
}

/*
 * Runs @op with a deadline @timeout_s from now and waits for it, at most
 * the grace period past the deadline. Returns whether it succeeded; on
 * failure *@message says why (with the plugin's own words).
 */
static gboolean
op_run(NbxAnalysis *analysis, OpCall *op, const char *what, gint64 timeout_s, char **message)
{
	gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
	gint64 give_up = deadline + analysis->settings.grace_s * G_USEC_PER_SEC;
	g_autofree char *prefix = NULL;
	gboolean done;
	GThread *thread;

	op->call.deadline_us = deadline;
	g_atomic_int_inc(&op->refs);
	thread = g_thread_new("nbx-op", op_thread, op);
	g_thread_unref(thread);

	g_mutex_lock(&analysis->lock);
	while (!op->done && g_cond_wait_until(&analysis->cond, &analysis->lock, give_up))
		;
	done = op->done;
	if (!done) {
		op->abandoned = TRUE;
		if (op->machine_op)
			analysis->machine_op_pending = TRUE;
	}
	g_mutex_unlock(&analysis->lock);

	/* The core names the plugin (and the machine) in front of the plugin's words. */
	if (op->aux != NULL)
		prefix = g_strdup_printf("%s: ", nbx_plugin_instance_name(op->aux->instance));
	else
		prefix = g_strdup_printf("%s: machine %s: ",
					 nbx_plugin_instance_name(analysis->machine->machinery),
					 analysis->machine->machine.name);
	if (!done || !op->ok)
		nbx_metrics_count_op_failure(op->aux != NULL
						     ? nbx_plugin_instance_name(op->aux->instance)
						     : nbx_plugin_instance_name(
							       analysis->machine->machinery),
					     what);
	if (!done) {
		*message = g_strdup_printf("%s%s did not return within %" G_GINT64_FORMAT
					   " s (its deadline) and was abandoned",
					   prefix, what, timeout_s);
		if (op->aux != NULL)
			op->aux->wedged = TRUE;
		op_unref(op);
		return FALSE;
	}
	if (!op->ok) {
		op->err.message[sizeof op->err.message - 1] = '\0';
		*message = g_strdup_printf("%s%s: %s", prefix, what,
					   op->err.message[0] != '\0' ? op->err.message
								      : "failed (no reason given)");
	}
	done = op->ok;
	op_unref(op);
	return done;
}

static NbxPluginInstance *
machinery_of(OpCall *op)
{
	return op->analysis->machine->machinery;
}

static struct nbx_machine *
machine_of(OpCall *op)
{
	return &op->analysis->machine->machine;
}

static bool
invoke_restore_start(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	op->call.generation_dir = op->analysis->generation_dir;

	return m->plugin->machinery.restore_start(m->instance, machine_of(op), &op->call,
						  &op->err);
}

static bool
invoke_handle_paused(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	return m->plugin->machinery.handle_paused(m->instance, machine_of(op), &op->call,
						  &op->err);
}

static bool
invoke_state(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	return m->plugin->machinery.state(m->instance, machine_of(op), &op->call, &op->state,
					  &op->err);
}

static bool
invoke_dump_memory(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	return m->plugin->machinery.dump_memory(m->instance, machine_of(op), &op->call, op->path,
						&op->err);
}

static bool
invoke_acpi_stop(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	return m->plugin->machinery.acpi_stop(m->instance, machine_of(op), &op->call, &op->err);
}

static bool
invoke_stop(OpCall *op)
{
	NbxPluginInstance *m = machinery_of(op);

	return m->plugin->machinery.stop(m->instance, machine_of(op), &op->call, &op->err);
}

static bool
invoke_aux_start(OpCall *op)
{
	AuxRun *run = op->aux;

	return run->instance->plugin->auxiliary.start(run->instance->instance, &run->context,
						      &run->data, &op->call, &op->err);
}

static bool
invoke_aux_stop(OpCall *op)
{
	AuxRun *run = op->aux;

	return run->instance->plugin->auxiliary.stop(run->instance->instance, &run->context,
						     run->data, &op->call, &op->err);
}

/*
 * A machine op as one recorded step. On failure the machine is counted as
 * failing when @counts, and *@failure (if given) gets the message.
 */
static gboolean
machine_step(NbxAnalysis *analysis, const char *name, bool (*invoke)(OpCall *),
	     gint64 timeout_s, gboolean counts, char **failure)
{
	OpCall *op = op_new(analysis, TRUE, invoke);
	Step step = step_begin(analysis, name);
	g_autofree char *message = NULL;
	gboolean ok;

	ok = op_run(analysis, op, name, timeout_s, &message);
	step_end(analysis, &step, message);
	if (!ok && counts)
		machine_failed(analysis, message);
	if (failure != NULL)
		*failure = g_steal_pointer(&message);
	return ok;
}

/* Whether an abandoned machine op forbids every further op on the machine. */
static gboolean
machine_wedged(NbxAnalysis *analysis)
{
	gboolean wedged;

	g_mutex_lock(&analysis->lock);
	wedged = analysis->machine_op_pending;
	g_mutex_unlock(&analysis->lock);
	return wedged;
}

/* ---- the lifecycle's steps -------------------------------------------------------- */

static gboolean
make_analysis_dir(NbxAnalysis *analysis)
{
	NbxTask *task = analysis->task;
	g_autofree char *dir = g_strdup_printf("%s/%" G_GINT64_FORMAT,
					       analysis->setup->config->analyses_dir, task->id);
	Step step = step_begin(analysis, "analysis_dir");
	g_autofree char *message = NULL;

	/* A task run again keeps what its earlier attempt left, beside it. */
	if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
		g_autofree char *aside = NULL;

		for (gint64 n = 1;; n++) {
			g_free(aside);
			aside = g_strdup_printf("%s.attempt-%" G_GINT64_FORMAT, dir, n);
			if (!g_file_test(aside, G_FILE_TEST_EXISTS))
				break;
		}
		if (g_rename(dir, aside) != 0)
			message = g_strdup_printf("cannot move the earlier attempt's %s aside: %s",
						  dir, g_strerror(errno));
	}
	if (message == NULL && g_mkdir_with_parents(dir, 0750) != 0)
		message = g_strdup_printf("cannot create the analysis directory %s: %s", dir,
					  g_strerror(errno));
	if (message == NULL) {
		g_free(task->analysis_dir);
		task->analysis_dir = g_steal_pointer(&dir);
		store_task(analysis);
	}
	step_end(analysis, &step, message);
	if (message != NULL)
		fail(analysis, message);
	return message == NULL;
}

static void
auxiliaries_prepare(NbxAnalysis *analysis)
{
	GPtrArray *auxiliaries = analysis->setup->auxiliaries;
	config_setting_t *root = config_root_setting(&analysis->options);

	for (guint i = 0; i < auxiliaries->len; i++) {
		AuxRun *run = g_new0(AuxRun, 1);
		const char *name;

		run->instance = g_ptr_array_index(auxiliaries, i);
		name = nbx_plugin_instance_name(run->instance);
		run->report = nbx_report_new();
		run->task = (struct nbx_task){
			.struct_size = sizeof run->task,
			.id = analysis->task->id,
			.target = analysis->task->target,
			.duration_s = analysis->task->duration_s,
			.debug = analysis->task->debug,
			.options = NBX_NODE(config_setting_get_member(root, name)),
		};
		run->context = (struct nbx_aux_context){
			.struct_size = sizeof run->context,
			.analysis_dir = analysis->task->analysis_dir,
			.task = &run->task,
			.machine = &analysis->machine->machine,
			.report = run->report,
		};
		run->summary = json_object_new();
		json_object_set_int_member(run->summary, "order", run->instance->section->order);
		g_ptr_array_add(analysis->aux_runs, run);
	}
}

static gboolean
aux_required(AuxRun *run)
{
	int required = 0;

	config_setting_lookup_bool(run->instance->section->root, "required", &required);
	return required != 0;
}

/* Starts them in order; FALSE when a required one failed (the rest are not started). */
static gboolean
auxiliaries_start(NbxAnalysis *analysis)
{
	for (guint i = 0; i < analysis->aux_runs->len; i++) {
		AuxRun *run = g_ptr_array_index(analysis->aux_runs, i);
		const char *name = nbx_plugin_instance_name(run->instance);
		g_autofree char *step_name = g_strdup_printf("auxiliary.%s.start", name);
		OpCall *op = op_new(analysis, FALSE, invoke_aux_start);
		Step step = step_begin(analysis, step_name);
		g_autofree char *message = NULL;

		op->aux = run;
		run->started = op_run(analysis, op, "start",
				      analysis->settings.timeouts.auxiliary_start, &message);
		step_end(analysis, &step, message);
		json_object_set_boolean_member(run->summary, "started", run->started);
		if (run->started)
			continue;
		json_object_set_string_member(run->summary, "error", message);
		if (aux_required(run)) {
			g_autofree char *reason = g_strdup_printf(
				"required auxiliary %s did not start: %s", name, message);

			fail(analysis, reason);
			return FALSE;
		}
	}
	return TRUE;
}

static void
auxiliaries_stop(NbxAnalysis *analysis)
{
	for (guint i = analysis->aux_runs->len; i-- > 0;) {
		AuxRun *run = g_ptr_array_index(analysis->aux_runs, i);
		const char *name = nbx_plugin_instance_name(run->instance);
		g_autofree char *step_name = NULL;
		g_autofree char *message = NULL;
		g_autoptr(JsonObject) result = NULL;
		OpCall *op;
		Step step;
		gboolean ok;

		if (!run->started || run->wedged)
			continue;
		step_name = g_strdup_printf("auxiliary.%s.stop", name);
		op = op_new(analysis, FALSE, invoke_aux_stop);
		op->aux = run;
		step = step_begin(analysis, step_name);
		ok = op_run(analysis, op, "stop", analysis->settings.timeouts.auxiliary_stop,
			    &message);
		step_end(analysis, &step, message);
		json_object_set_boolean_member(run->summary, "stopped", ok);
		if (!ok)
			json_object_set_string_member(run->summary, "error", message);
		/* A wedged stop may still write into its report: leave it alone. */
		if (run->wedged)
			continue;
		result = nbx_report_ref_object(run->report);
		json_object_set_object_member(run->summary, "result", json_object_ref(result));
	}
}

typedef struct {
	GSocketClient *client;
	GSocketAddress *target;
} AgentProbe;

static gboolean
probe_agent(gpointer data, GError **error)
{
	AgentProbe *probe = data;
	g_autoptr(GSocketConnection) connection =
		g_socket_client_connect(probe->client, G_SOCKET_CONNECTABLE(probe->target), NULL,
					error);

	return connection != NULL;
}

/*
 * One attempt. A machine on a segment is reached from inside its namespace
 * (netns.h): its guest's address means nothing in the daemon's.
 */
static gboolean
probe_agent_once(const struct nbx_machine *m, AgentProbe *probe, GError **error)
{
	if (m->network_namespace == NULL)
		return probe_agent(probe, error);
	return nbx_netns_run(m->network_namespace, probe_agent, probe, error);
}

/* Connects to the guest agent's port until it answers or the timeout passes. */
static gboolean
wait_for_agent(NbxAnalysis *analysis)
{
	const struct nbx_machine *m = &analysis->machine->machine;
	gint64 give_up = g_get_monotonic_time() +
			 analysis->settings.timeouts.agent * G_USEC_PER_SEC;
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(m->ip);
	g_autoptr(GSocketAddress) target = NULL;
	g_autofree char *message = NULL;
	g_autofree char *last = NULL;
	Step step = step_begin(analysis, "agent");
	gboolean answered = FALSE;

	/* The guest is reached directly; a proxy resolver (libproxy) would only get in the way. */
	g_socket_client_set_enable_proxy(client, FALSE);
	g_socket_client_set_timeout(client, 1);
	target = g_inet_socket_address_new(address, (guint16)m->agent_port);
	while (!answered && !cut_short(analysis) && g_get_monotonic_time() < give_up) {
		g_autoptr(GError) error = NULL;
		AgentProbe probe = { client, target };

		if (probe_agent_once(m, &probe, &error)) {
			answered = TRUE;
			break;
		}
		g_free(last);
		last = g_strdup(error->message);
		wait_until(analysis, MIN(give_up, g_get_monotonic_time() +
							  50 * G_TIME_SPAN_MILLISECOND));
	}
	if (!answered && !cut_short(analysis))
		message = g_strdup_printf("the guest agent at %s:%d did not answer within %" G_GINT64_FORMAT
					  " s (last: %s)",
					  m->ip, m->agent_port, analysis->settings.timeouts.agent,
					  last != NULL ? last : "no attempt");
	step_end(analysis, &step, message != NULL ? message
				  : answered	  ? NULL
						  : "cut short");
	if (message != NULL)
		machine_failed(analysis, message);
	return answered;
}

/* Asks the hypervisor (for machineries that do not send state events). */
static gint32
ask_state(NbxAnalysis *analysis)
{
	OpCall *op = op_new(analysis, TRUE, invoke_state);
	g_autofree char *message = NULL;
	gint32 state = NBX_MACHINE_UNKNOWN;

	g_atomic_int_inc(&op->refs);
	if (op_run(analysis, op, "state", analysis->settings.timeouts.stop, &message))
		state = op->state;
	op_unref(op);
	return state;
}

static gboolean
has_state_events(NbxAnalysis *analysis)
{
	return (analysis->machine->machinery->plugin->machinery.capabilities &
		NBX_MACHINERY_CAP_STATE_EVENTS) != 0;
}

static gint32
current_state(NbxAnalysis *analysis)
{
	NbxMachinePool *pool = analysis->setup->pool;

	if (has_state_events(analysis))
		return nbx_machine_pool_get_state(pool, analysis->machine, NULL);
	return ask_state(analysis);
}

static gboolean
start_machine(NbxAnalysis *analysis)
{
	const struct nbx_machinery_ops *ops = &analysis->machine->machinery->plugin->machinery;
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (analysis->settings.snapshots != NULL) {
		g_autoptr(GError) refused = NULL;

		/* A step only when it fails: a store write per analysis is not free. */
		if (!nbx_snapshot_manager_use(analysis->settings.snapshots, analysis->machine,
					      &analysis->generation, &analysis->generation_dir,
					      &refused)) {
			g_autofree char *message = g_strdup_printf(
				"machine %s: %s", analysis->machine->machine.name, refused->message);
			Step step = step_begin(analysis, "snapshot");

			step_end(analysis, &step, message);
			machine_failed(analysis, message);
			return FALSE;
		}
		analysis->generation_in_use = TRUE;
	}
	if (!gate_enter(analysis))
		return FALSE;
	/* Marked first: a daemon killed during the restore must stop it at restart. */
	if (!nbx_store_machine_set_activity(analysis->store, analysis->machine->machine.name,
					    NBX_MACHINE_ACTIVITY_STARTING, analysis->task->id,
					    &error))
		g_warning("%s", error->message);
	ok = machine_step(analysis, "restore_start", invoke_restore_start,
			  analysis->settings.timeouts.restore, TRUE, NULL);
	if (ok && current_state(analysis) == NBX_MACHINE_PAUSED) {
		if (ops->handle_paused == NULL) {
			const char *message = "the machine came back paused and its machinery "
					      "cannot resume it (no handle_paused)";
			Step step = step_begin(analysis, "handle_paused");

			step_end(analysis, &step, message);
			machine_failed(analysis, message);
			ok = FALSE;
		} else {
			ok = machine_step(analysis, "handle_paused", invoke_handle_paused,
					  analysis->settings.timeouts.restore, TRUE, NULL);
		}
	}
	gate_leave(analysis->gate);
	if (ok) {
		g_autofree char *died = NULL;

		g_mutex_lock(&analysis->lock);
		analysis->machine_up = TRUE;
		/* However busy this host is, a death between the restore and now is not missed. */
		if (analysis->early_death != NULL && analysis->death == NULL) {
			analysis->death = g_steal_pointer(&analysis->early_death);
			died = g_strdup(analysis->death);
		}
		g_mutex_unlock(&analysis->lock);
		if (died != NULL)
			machine_failed(analysis, died);
		if (!nbx_store_machine_set_activity(analysis->store,
						    analysis->machine->machine.name,
						    NBX_MACHINE_ACTIVITY_RUNNING, analysis->task->id,
						    &error))
			g_warning("%s", error->message);
	}
	return ok;
}

/* Once a second, the guest plugin watches the sample: it may end the run early. */
static char *
watch_guest(NbxAnalysis *analysis, gint64 end)
{
	char *error = NULL;

	while (wait_until(analysis, MIN(end, g_get_monotonic_time() + G_USEC_PER_SEC)) &&
	       g_get_monotonic_time() < end) {
		if (!nbx_guest_run_tick(analysis->guest, &error))
			break;
		if (!has_state_events(analysis))
			nbx_analysis_machine_state(analysis, ask_state(analysis), NULL);
	}
	return error;
}

static void
run_duration(NbxAnalysis *analysis)
{
	gint64 end = g_get_monotonic_time() + analysis->task->duration_s * G_USEC_PER_SEC;
	Step step = step_begin(analysis, "run");
	g_autofree char *death = NULL;
	g_autofree char *guest_error = NULL;

	if (analysis->guest != NULL) {
		guest_error = watch_guest(analysis, end);
	} else if (has_state_events(analysis)) {
		wait_until(analysis, end);
	} else {
		/* No events: look every two seconds so a death is not missed for long. */
		while (wait_until(analysis, MIN(end, g_get_monotonic_time() + 2 * G_USEC_PER_SEC)) &&
		       g_get_monotonic_time() < end)
			nbx_analysis_machine_state(analysis, ask_state(analysis), NULL);
	}
	g_mutex_lock(&analysis->lock);
	death = g_strdup(analysis->death);
	g_mutex_unlock(&analysis->lock);
	step_end(analysis, &step, death != NULL ? death : guest_error);
	if (death != NULL)
		machine_failed(analysis, death);
	else if (guest_error != NULL)
		fail(analysis, guest_error);
}

static void
dump_memory(NbxAnalysis *analysis)
{
	const struct nbx_machinery_ops *ops = &analysis->machine->machinery->plugin->machinery;
	g_autofree char *path = g_build_filename(analysis->task->analysis_dir, "memory.dmp", NULL);
	OpCall *op;
	Step step;
	g_autofree char *message = NULL;

	if (ops->dump_memory == NULL) {
		step = step_begin(analysis, "dump_memory");
		step_end(analysis, &step, "not supported by this machinery");
		return;
	}
	op = op_new(analysis, TRUE, invoke_dump_memory);
	op->path = path;
	step = step_begin(analysis, "dump_memory");
	/* A failed dump fails neither the task nor the machine: the rest is still worth having. */
	op_run(analysis, op, "dump_memory", analysis->settings.timeouts.dump_memory, &message);
	step_end(analysis, &step, message);
}

/* Gracefully when configured, then (always) `stop`, which also cleans up. */
static void
stop_machine(NbxAnalysis *analysis, gboolean was_started)
{
	const struct nbx_machinery_ops *ops = &analysis->machine->machinery->plugin->machinery;
	g_autoptr(GError) error = NULL;
	g_autofree char *failure = NULL;

	g_mutex_lock(&analysis->lock);
	analysis->machine_up = FALSE;
	g_mutex_unlock(&analysis->lock);
	if (!nbx_store_machine_set_activity(analysis->store, analysis->machine->machine.name,
					    NBX_MACHINE_ACTIVITY_STOPPING, analysis->task->id,
					    &error))
		g_warning("%s", error->message);
	g_clear_error(&error);

	if (was_started && analysis->settings.graceful_stop && ops->acpi_stop != NULL &&
	    machine_step(analysis, "acpi_stop", invoke_acpi_stop, analysis->settings.timeouts.stop,
			 FALSE, NULL)) {
		gint64 give_up = g_get_monotonic_time() +
				 analysis->settings.timeouts.acpi_stop * G_USEC_PER_SEC;
		Step step = step_begin(analysis, "acpi_stop.wait");
		gint32 state;

		while ((state = current_state(analysis)) != NBX_MACHINE_POWEROFF &&
		       g_get_monotonic_time() < give_up) {
			/* Not wait_until: a cancel must not cut the grace period short. */
			g_usleep(200 * G_TIME_SPAN_MILLISECOND);
		}
		step_end(analysis, &step,
			 state == NBX_MACHINE_POWEROFF ? NULL
						       : "the guest did not power off in time; "
							 "pulling the plug");
	}
	if (machine_wedged(analysis))
		return;
	/*
	 * A failed stop does not fail the task (its results are complete) but
	 * takes the machine out of service at once: it may still be running.
	 */
	if (!machine_step(analysis, "stop", invoke_stop, analysis->settings.timeouts.stop, FALSE,
			  &failure)) {
		analysis->outcome.machine_stuck = TRUE;
		if (analysis->outcome.machine_failure == NULL)
			analysis->outcome.machine_failure = g_steal_pointer(&failure);
	} else {
		if (!nbx_store_machine_set_activity(analysis->store,
						    analysis->machine->machine.name,
						    NBX_MACHINE_ACTIVITY_IDLE, 0, &error))
			g_warning("%s", error->message);
	}
}

/* ---- the report ---------------------------------------------------------------- */

static void
write_report(NbxAnalysis *analysis)
{
	const struct nbx_machine *m = &analysis->machine->machine;
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonGenerator) generator = json_generator_new();
	JsonObject *object = json_object_new();
	JsonObject *machine = json_object_new();
	JsonObject *auxiliaries = json_object_new();
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (analysis->task->analysis_dir == NULL)
		return;
	json_object_set_member(object, "task", nbx_task_to_json(analysis->task));
	json_object_set_string_member(machine, "name", m->name);
	json_object_set_string_member(machine, "label", m->label);
	json_object_set_string_member(machine, "machinery",
				      nbx_plugin_instance_name(analysis->machine->machinery));
	json_object_set_string_member(machine, "platform", m->platform);
	json_object_set_string_member(machine, "ip", m->ip);
	json_object_set_object_member(object, "machine", machine);
	json_object_set_array_member(object, "steps", json_array_ref(analysis->steps));
	for (guint i = 0; i < analysis->aux_runs->len; i++) {
		AuxRun *run = g_ptr_array_index(analysis->aux_runs, i);

		json_object_set_object_member(auxiliaries, nbx_plugin_instance_name(run->instance),
					      json_object_ref(run->summary));
	}
	json_object_set_object_member(object, "auxiliaries", auxiliaries);
	if (analysis->guest != NULL)
		json_object_set_object_member(object, "guest",
					      nbx_guest_run_summary(analysis->guest));
	json_object_set_string_member(object, "result", nbx_task_state_name(analysis->task->state));
	if (analysis->task->reason != NULL)
		json_object_set_string_member(object, "reason", analysis->task->reason);
	json_node_take_object(root, object);

	json_generator_set_root(generator, root);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);
	path = g_build_filename(analysis->task->analysis_dir, "report.json", NULL);
	/* Written to a temporary file, synced and renamed: never half a report. */
	if (!g_file_set_contents_full(path, text, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				      0640, &error))
		g_warning("task %" G_GINT64_FORMAT ": cannot write the report: %s",
			  analysis->task->id, error->message);
}

/* ---- the thread ------------------------------------------------------------------ */

static void
settle(NbxAnalysis *analysis)
{
	NbxTask *task = analysis->task;
	NbxAnalysisOutcome *outcome = &analysis->outcome;
	gboolean died;

	g_mutex_lock(&analysis->lock);
	died = analysis->death != NULL;
	if (analysis->interrupted) {
		outcome->state = analysis->interrupt_state;
		outcome->reason = g_strdup(analysis->interrupt_reason);
	}
	g_mutex_unlock(&analysis->lock);

	if (outcome->reason == NULL && analysis->failure != NULL) {
		if (died && analysis->settings.retry_on_machine_death &&
		    task->attempts < analysis->settings.max_attempts) {
			outcome->state = NBX_TASK_QUEUED;
			outcome->reason = g_strdup_printf("%s; it will run again", analysis->failure);
		} else {
			outcome->state = NBX_TASK_FAILED;
			outcome->reason = g_strdup(analysis->failure);
		}
	} else if (outcome->reason == NULL) {
		outcome->state = NBX_TASK_REPORTED;
	}
	task->state = outcome->state;
	g_free(task->reason);
	task->reason = g_strdup(outcome->reason);
	if (outcome->state == NBX_TASK_QUEUED) {
		/* A shutdown is not the task's fault: it does not use up an attempt. */
		if (analysis->interrupted)
			task->attempts = MAX(task->attempts - 1, 0);
		task->started_us = 0;
	} else {
		task->ended_us = g_get_real_time();
	}
}

/* The machine's guest plugin, if it has one, gets its part of the analysis. */
static gboolean
guest_prepare(NbxAnalysis *analysis)
{
	const NbxSettings *settings = &analysis->setup->config->settings;
	g_autoptr(GError) error = NULL;
	NbxPluginInstance *guest = nbx_guest_setup_lookup(analysis->setup, analysis->machine, &error);
	NbxGuestLimits limits = {
		.connect_s = analysis->settings.timeouts.agent,
		.op_s = analysis->settings.timeouts.guest,
		.grace_s = analysis->settings.grace_s,
		.max_files = settings->guest.max_files,
		.max_file_bytes = settings->guest.max_file_mb << 20,
		.max_output_bytes = settings->guest.max_output_kb << 10,
	};
	config_setting_t *options;

	if (error != NULL) {
		Step step = step_begin(analysis, "guest");

		step_end(analysis, &step, error->message);
		fail(analysis, error->message);
		return FALSE;
	}
	if (guest == NULL)
		return TRUE;
	options = config_setting_get_member(config_root_setting(&analysis->options),
					    nbx_plugin_instance_name(guest));
	analysis->guest = nbx_guest_run_new(guest, analysis->task, &analysis->machine->machine,
					    NBX_NODE(options), &limits, &nbx_analysis_for_guest,
					    analysis);
	return TRUE;
}

static gpointer
analysis_thread(gpointer data)
{
	NbxAnalysis *analysis = data;
	gboolean started = FALSE;
	gboolean cycled = FALSE;

	if (make_analysis_dir(analysis) && guest_prepare(analysis)) {
		auxiliaries_prepare(analysis);
		if (auxiliaries_start(analysis) && !cut_short(analysis)) {
			started = start_machine(analysis);
			if (started && analysis->guest != NULL) {
				if (nbx_guest_run_begin(analysis->guest) &&
				    analysis->failure == NULL && !cut_short(analysis))
					run_duration(analysis);
				/* Before the machine stops: fetch, then disconnect. */
				nbx_guest_run_end(analysis->guest);
			} else if (started) {
				if (analysis->machine->machine.agent_port > 0)
					wait_for_agent(analysis);
				if (analysis->failure == NULL && !cut_short(analysis))
					run_duration(analysis);
			}
			if (started) {
				if (analysis->task->memory_dump && !cut_short(analysis) &&
				    analysis->failure == NULL)
					dump_memory(analysis);
			}
			/* After a failed restore too: a machinery may have left something. */
			if (!machine_wedged(analysis)) {
				gboolean failed_before = analysis->outcome.machine_failure != NULL;

				stop_machine(analysis, started);
				cycled = started && !failed_before &&
					 analysis->outcome.machine_failure == NULL;
			}
		}
		auxiliaries_stop(analysis);
	}
	/* The machine is down (or wedged, and then its disk stays open anyway). */
	if (analysis->generation_in_use)
		nbx_snapshot_manager_unuse(analysis->settings.snapshots, analysis->machine,
					   analysis->generation);
	settle(analysis);
	analysis->outcome.machine_cycled = cycled;
	write_report(analysis);

	g_mutex_lock(&analysis->lock);
	analysis->outcome.machine_wedged = analysis->machine_op_pending;
	analysis->finished = TRUE;
	g_mutex_unlock(&analysis->lock);
	post_to_main(analysis, analysis->callbacks.finished);
	nbx_analysis_unref(analysis);
	return NULL;
}

/*
 * Per-task options as libconfig groups, so plugins read them with the
 * host's look-ups; typed as at submission (task_options.h). A reload
 * between the two may have changed a plugin's schema: what no longer fits
 * stops there, and the plugin sees the options made before it.
 */
static void
load_options(NbxAnalysis *analysis)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_task_options_build(analysis->setup, analysis->task->options_json,
				    config_root_setting(&analysis->options), &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

NbxAnalysis *
nbx_analysis_start(NbxSetup *setup, NbxStore *store, NbxPoolMachine *machine, const NbxTask *task,
		   const NbxAnalysisSettings *settings, NbxRestoreGate *gate,
		   const NbxAnalysisCallbacks *callbacks)
{
	NbxAnalysis *analysis = g_new0(NbxAnalysis, 1);

	analysis->refs = 1;
	analysis->setup = setup;
	analysis->store = store;
	analysis->machine = machine;
	analysis->task = nbx_task_copy(task);
	analysis->settings = *settings;
	analysis->gate = gate;
	analysis->callbacks = *callbacks;
	analysis->steps = json_array_new();
	analysis->aux_runs = g_ptr_array_new_with_free_func((GDestroyNotify)aux_run_free);
	g_mutex_init(&analysis->lock);
	g_cond_init(&analysis->cond);
	config_init(&analysis->options);
	load_options(analysis);

	analysis->task->state = NBX_TASK_RUNNING;
	analysis->task->started_us = g_get_real_time();
	analysis->task->attempts++;
	g_free(analysis->task->assigned_machine);
	analysis->task->assigned_machine = g_strdup(machine->machine.name);
	g_clear_pointer(&analysis->task->reason, g_free);
	store_task(analysis);
	record_event(analysis, "task.running", "attempt %" G_GINT64_FORMAT " on machine %s",
		     analysis->task->attempts, machine->machine.name);

	analysis->thread = g_thread_new("nbx-analysis", analysis_thread, nbx_analysis_ref(analysis));
	return analysis;
}
