/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prepared runs (ABI 1.2 `prepare` / `discard`, nestbox/machinery.h): an
 * idle machine's next restore made ahead of time, and thrown away when it
 * may no longer be what the next run needs.
 *
 * The scheduler decides when (it owns the machines); this module keeps
 * which machines have a prepared run and runs the two ops, each on a thread
 * of its own while the scheduler holds the machine like an analysis does,
 * so no other op of the machine runs meanwhile. A prepared run does not
 * count as a user of its generation: the plugin's restore checks the
 * generation itself, and the scheduler discards runs of a generation that
 * stopped being current.
 *
 * Calls are made on the main thread unless said otherwise.
 */
#pragma once

#include <glib.h>

#include "machine_pool.h"
#include "snapshot_manager.h"

typedef struct _NbxPreparedRuns NbxPreparedRuns;

/*
 * A prepare or discard has returned (main thread). The machine is still
 * held: the callee releases it.
 */
typedef void (*NbxPreparedRunsDone)(NbxMachine *machine, gpointer user_data);

NbxPreparedRuns *nbx_prepared_runs_new(NbxPreparedRunsDone done, gpointer user_data);
void nbx_prepared_runs_free(NbxPreparedRuns *runs);

/*
 * Whether @machine should be prepared now: its machinery has `prepare`,
 * nothing is prepared for it, and its last prepare did not fail (a failed
 * one is tried again only after the machine has run or a discard).
 */
gboolean nbx_prepared_runs_wanted(NbxPreparedRuns *runs, NbxMachine *machine);

/*
 * Prepares held @machine for the current generation (@snapshots: NULL for
 * generation 0) on a thread, the plugin's deadline @timeout_s from now.
 */
void nbx_prepared_runs_prepare(NbxPreparedRuns *runs, NbxMachine *machine,
			       NbxSnapshotManager *snapshots, gint64 timeout_s);

/* Whether @machine has a prepared run (any thread). */
gboolean nbx_prepared_runs_has(NbxPreparedRuns *runs, NbxMachine *machine);

/*
 * Discards held @machine's prepared run on a thread. The run is forgotten
 * whatever the plugin answers: a discard that failed is logged, and the
 * plugin's own clean-up (stop, the next restore, its orphan clean-up at the
 * next start) is what remains.
 */
void nbx_prepared_runs_discard(NbxPreparedRuns *runs, NbxMachine *machine, gint64 timeout_s);

/*
 * @machine was taken for an op that throws a prepared run away itself or
 * uses it (`restore_start`, `snapshot_begin`; machinery.h): forgotten
 * without a call. Any thread.
 */
void nbx_prepared_runs_forget(NbxPreparedRuns *runs, NbxMachine *machine);

/* Every machine forgotten: its pool is going away (a reload). */
void nbx_prepared_runs_forget_all(NbxPreparedRuns *runs);

/*
 * When @machine's prepare or discard is in flight: marks it to be
 * discarded once that returns (before the done callback), and returns
 * TRUE. FALSE when none is in flight.
 */
gboolean nbx_prepared_runs_doom(NbxPreparedRuns *runs, NbxMachine *machine);

/*
 * Waits until @machine's prepare or discard has returned and the machine
 * was let go, at most until g_get_monotonic_time() @until_us; TRUE when it
 * had one and it returned. Not on the main thread (it lets the machine go).
 */
gboolean nbx_prepared_runs_wait(NbxPreparedRuns *runs, NbxMachine *machine,
				gint64 until_us);

/* Prepares and discards that have not returned yet. */
guint nbx_prepared_runs_in_flight(NbxPreparedRuns *runs);

/* How many machines have a prepared run. */
guint nbx_prepared_runs_count(NbxPreparedRuns *runs);
