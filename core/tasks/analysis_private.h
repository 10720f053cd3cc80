/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of one analysis, for the files of core/tasks/ that run it,
 * each calling only those before it: analysis.c (the analysis's state:
 * references, interruptions, waits, posts to the main thread),
 * analysis_record.c (steps, events, report), analysis_ops.c (plugin ops on
 * the op runner), analysis_machine.c (the machine's part of the lifecycle),
 * analysis_auxiliaries.c (the auxiliaries' part) and, on top,
 * analysis_thread.c (the thread, the outcome).
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libconfig.h>
#include <nestbox/plugin.h>

#include "analysis.h"
#include "analysis_steps.h"
#include "guest_run.h"
#include "machine_pool.h"
#include "machinery_client.h"
#include "plugin_instance.h"

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
} NbxAuxRun;

struct _NbxAnalysis {
	gint refs;
	NbxSetup *setup;
	NbxStore *store;
	NbxMachine *machine;
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
	/*
	 * While the machine is RUNNING (machine.h; entered and left under this
	 * lock), a POWEROFF is a death.
	 */
	char *death;
	/*
	 * Before RUNNING: the machine was reported running, then down (it died
	 * before the core saw its restore return). A death once it is up.
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
	/* The task's step columns changed since written: the step's end writes them with its event. */
	gboolean step_unstored;
	GPtrArray *aux_runs;
	/* The guest plugin's part, or NULL when the machine has none. */
	NbxGuestRun *guest;
};

/* analysis.c */
void nbx_analysis_post_to_main(NbxAnalysis *analysis, NbxAnalysisFunc func);

/* analysis_record.c */
/* The whole task, and the event @kind (NULL: none) of its machine in the same commit. */
void nbx_analysis_store_task(NbxAnalysis *analysis, const char *kind, const char *message);
void nbx_analysis_record_wait(NbxAnalysis *analysis, gint64 limit);
/* Records a step that ends as soon as it begins, with @error (NULL: it worked). */
void nbx_analysis_step_now(NbxAnalysis *analysis, const char *name, const char *error);
gboolean nbx_analysis_make_dir(NbxAnalysis *analysis);
void nbx_analysis_write_report(NbxAnalysis *analysis);

#define nbx_analysis_event(analysis, kind, ...)                                            \
	nbx_store_event_addf((analysis)->store, (analysis)->task->id,                      \
			     (analysis)->machine->machine.name, kind, __VA_ARGS__)

/* analysis_ops.c: plugin ops on the op runner, each a recorded step's worth. */
/*
 * A machine op (restore_start, handle_paused, acpi_stop, stop) with a
 * deadline @timeout_s from now. An op that does not return in time wedges
 * the machine: no further op runs on it until it returns. FALSE with
 * *@message (the plugin and machine named first) when it failed.
 */
gboolean nbx_analysis_machine_op(NbxAnalysis *analysis, NbxMachineryOp op, gint64 timeout_s,
				 char **message);
gboolean nbx_analysis_dump_memory_op(NbxAnalysis *analysis, const char *path, char **message);
/* The hypervisor's answer to `state`, or NBX_MACHINE_UNKNOWN when it had none. */
gint32 nbx_analysis_state_op(NbxAnalysis *analysis);
/* An auxiliary's start or stop; one that does not return wedges only the auxiliary. */
gboolean nbx_analysis_aux_start(NbxAnalysis *analysis, NbxAuxRun *run, char **message);
gboolean nbx_analysis_aux_stop(NbxAnalysis *analysis, NbxAuxRun *run, char **message);
/* Whether an abandoned machine op forbids every further op on the machine. */
gboolean nbx_analysis_machine_wedged(NbxAnalysis *analysis);

/* analysis_machine.c */
gboolean nbx_analysis_start_machine(NbxAnalysis *analysis);
gboolean nbx_analysis_wait_for_agent(NbxAnalysis *analysis);
void nbx_analysis_run_duration(NbxAnalysis *analysis);
void nbx_analysis_dump_memory(NbxAnalysis *analysis);
void nbx_analysis_stop_machine(NbxAnalysis *analysis, gboolean was_started);

/* analysis_auxiliaries.c */
void nbx_aux_run_free(NbxAuxRun *run);
void nbx_analysis_auxiliaries_prepare(NbxAnalysis *analysis);
/* Starts them in order; FALSE when a required one failed (the rest are not started). */
gboolean nbx_analysis_auxiliaries_start(NbxAnalysis *analysis);
void nbx_analysis_auxiliaries_stop(NbxAnalysis *analysis);
