/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scheduler's parts, for the files of core/tasks/ that make it up,
 * each calling only those before it: scheduler.c (its state: a task's end,
 * the wake-up of the pass over the queue), scheduler_prepared.c (runs made
 * ahead), scheduler_machines.c (its view of the machines: failures,
 * disabling, listing, holding), scheduler_shutdown.c, scheduler_recovery.c
 * (what a dead daemon or an abandoned op left running),
 * scheduler_submit.c (submission and cancel) and, on top,
 * scheduler_queue.c (made and freed, the pass over the queue, the
 * analyses, reload). All on the main thread unless a function says
 * otherwise.
 */
#pragma once

#include "analysis.h"
#include "machine_pool.h"
#include "prepared_runs.h"
#include "scheduler.h"

struct _NbxScheduler {
	NbxSetup *setup;
	/* A validated configuration waiting for the running analyses to end. */
	NbxSetup *pending_setup;
	NbxStore *store;
	NbxAnalysisSettings settings;
	gint64 failure_limit;
	gint64 default_duration;
	gint64 max_duration;
	NbxRestoreGate gate;
	char *samples_dir;

	/* task id -> NbxAnalysis * (a reference), while its lifecycle runs. */
	GHashTable *analyses;
	/* Machines stopped in the background after an abandoned op returned. */
	guint unwedge_stops;
	/* Our listener on the current setup's machines (machine.h), 0: none. */
	guint machine_listener;

	/* The thread that made it: the main thread, the only one that touches it. */
	GThread *thread;
	gboolean recovering;
	gboolean shutting_down;
	/*
	 * The pass over the queue (scheduler_queue.c), which hands it in so
	 * that its parts can ask for it (nbx_scheduler_schedule_soon()).
	 */
	GSourceFunc schedule;
	guint schedule_source;
	gint64 started_us;

	/* Borrowed; NULL when snapshots are not managed (some tests). */
	NbxSnapshotManager *snapshots;
	/* Idle machines' next runs, made ahead (ABI 1.2 prepare / discard). */
	NbxPreparedRuns *prepared;

	NbxSchedulerDoneFunc shutdown_done;
	gpointer shutdown_data;
	guint shutdown_timer;
};

#define nbx_scheduler_event(scheduler, ...) nbx_store_event_addf((scheduler)->store, __VA_ARGS__)

/* scheduler.c */
/* Runs the pass over the queue once the main loop is idle (once, however often asked). */
void nbx_scheduler_schedule_soon(NbxScheduler *scheduler);
/* What a task asks of the pool: its "machine" is a name, or else a label. */
NbxMachineRequest nbx_scheduler_request_of(NbxScheduler *scheduler, const NbxTask *task);
void nbx_scheduler_end_task(NbxScheduler *scheduler, NbxTask *task, NbxTaskState state,
			    const char *reason);

/* scheduler_machines.c */
/*
 * The store's rows for @setup's machines, their disabled reasons back on
 * the machines, the scheduler listening to them, and (machinery.h) each
 * asked its state once.
 */
void nbx_scheduler_sync_machines(NbxScheduler *scheduler, NbxSetup *setup);
/* Stops listening to @setup's machines (a reload, the end). */
void nbx_scheduler_unsync_machines(NbxScheduler *scheduler, NbxSetup *setup);
void nbx_scheduler_disable_machine(NbxScheduler *scheduler, NbxMachine *machine,
				   const char *reason);
/* Consecutive failures; at the limit the machine is taken out of service. */
void nbx_scheduler_count_failure(NbxScheduler *scheduler, NbxMachine *machine,
				 const char *failure);
/* Whether some machine of the current setup is WEDGED or being stopped after it was. */
gboolean nbx_scheduler_has_wedged(NbxScheduler *scheduler);

/* scheduler_prepared.c */
void nbx_scheduler_prepare_idle_machines(NbxScheduler *scheduler);
void nbx_scheduler_discard_if_prepared(NbxScheduler *scheduler, NbxMachine *machine);
/* TRUE while some prepare or discard has not returned. */
gboolean nbx_scheduler_discard_all_prepared(NbxScheduler *scheduler);

/* scheduler_shutdown.c */
/* Calls the shutdown's done() once nothing runs any more (after nbx_scheduler_shutdown()). */
void nbx_scheduler_maybe_finish_shutdown(NbxScheduler *scheduler);

/* scheduler_recovery.c */
/*
 * Stops @machines (in STOPPING, held) off the main thread; @unwedged is
 * the analysis whose abandoned op returned, or NULL for recovery.
 */
void nbx_scheduler_stop_in_background(NbxScheduler *scheduler, GPtrArray *machines,
				      NbxAnalysis *unwedged);
gboolean nbx_scheduler_recover(NbxScheduler *scheduler, GError **error);
