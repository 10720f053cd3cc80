/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One analysis: the lifecycle of ARCHITECTURE.md ("Analysis lifecycle") run
 * on a thread of its own for a task on a machine the scheduler locked for
 * it. It records every step with its timestamps and result, keeps the task
 * row in the store up to date, writes report.json atomically, and tells the
 * scheduler on the main thread what became of the task and the machine.
 *
 * Plugin ops run through the plugin clients on the op runner
 * (op_runner.h), which waits until the step's deadline (plus a grace
 * period). A plugin that ignores its deadline does not stall the daemon:
 * the op is abandoned, the task fails with the reason, and the machine
 * stays locked (it is "wedged") until the op returns, since no second op
 * may run on a machine meanwhile.
 */
#pragma once

#include <glib.h>

#include "daemon_setup.h"
#include "restore_gate.h"
#include "snapshot_manager.h"
#include "store.h"
#include "task.h"

typedef struct {
	/* Seconds each step may take (nestbox.conf `timeouts`). */
	NbxTimeouts timeouts;
	/* Ask the guest to power off (acpi_stop) before pulling the plug. */
	gboolean graceful_stop;
	/* A machine that dies under a task: run the task again once. */
	gboolean retry_on_machine_death;
	gint64 max_attempts;
	/* Extra time an op gets past its deadline before it is abandoned. */
	gint64 grace_s;
	/* Which snapshot generation a restore uses (borrowed; NULL: always generation 0). */
	NbxSnapshotManager *snapshots;
} NbxAnalysisSettings;

/* What became of the task and of the machine, read on the main thread. */
typedef struct {
	/* REPORTED, FAILED, CANCELLED, or QUEUED to run it again. */
	NbxTaskState state;
	char *reason;
	/* A machine operation failed: counts towards disabling the machine. */
	char *machine_failure;
	/* Restore and stop both worked: the failure count starts again. */
	gboolean machine_cycled;
	/* An op did not return: the machine stays locked until it does. */
	gboolean machine_wedged;
	/* `stop` failed: the machine may still run and must not be reused. */
	gboolean machine_stuck;
} NbxAnalysisOutcome;

typedef struct _NbxAnalysis NbxAnalysis;

/* Called on the main thread with the scheduler's user data. */
typedef void (*NbxAnalysisFunc)(NbxAnalysis *analysis, gpointer user_data);

typedef struct {
	/* The lifecycle is over; the outcome is final. */
	NbxAnalysisFunc finished;
	/* An op abandoned as wedged has finally returned (after `finished`). */
	NbxAnalysisFunc unwedged;
	gpointer user_data;
} NbxAnalysisCallbacks;

/*
 * Starts the analysis thread. @machine is locked for it (acquired from
 * @setup's pool) and stays so until the scheduler releases it; @task is
 * copied; @setup, @store and @gate must outlive the analysis.
 */
NbxAnalysis *nbx_analysis_start(NbxSetup *setup, NbxStore *store, NbxMachine *machine,
				const NbxTask *task, const NbxAnalysisSettings *settings,
				NbxRestoreGate *gate, const NbxAnalysisCallbacks *callbacks);

/*
 * Cuts the analysis short (cancel, shutdown): it skips to stopping the
 * machine and the auxiliaries, and ends in @state (CANCELLED, or QUEUED to
 * run again) with @reason. Any thread; the first request wins, except that
 * a cancel (CANCELLED) overrides an earlier QUEUED.
 */
void nbx_analysis_interrupt(NbxAnalysis *analysis, NbxTaskState state, const char *reason);

/* What the hypervisor says of the analysis's machine (any thread). */
void nbx_analysis_machine_state(NbxAnalysis *analysis, gint32 state, const char *reason);

gint64 nbx_analysis_task_id(const NbxAnalysis *analysis);
/* The task with its final fields, once `finished` was called. */
const NbxTask *nbx_analysis_task(const NbxAnalysis *analysis);
NbxMachine *nbx_analysis_machine(const NbxAnalysis *analysis);
/* Valid once `finished` was called. */
const NbxAnalysisOutcome *nbx_analysis_outcome(const NbxAnalysis *analysis);

NbxAnalysis *nbx_analysis_ref(NbxAnalysis *analysis);
void nbx_analysis_unref(NbxAnalysis *analysis);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxAnalysis, nbx_analysis_unref)
