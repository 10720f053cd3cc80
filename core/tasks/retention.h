/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Retention: what is removed of ended tasks, and when (nestbox.conf's
 * retention group). A sweep lists the tasks, takes the ended ones oldest
 * first (by when they ended) and removes each one's analysis directory
 * (analyses_dir/ID and ID.attempt-N) while it is older than retention.days
 * or while the analyses and samples take more than retention.max_disk_gb;
 * a sample (state_dir/samples/SHA256) goes once no task that is kept uses
 * it. A queued or running task, and the sample it uses, is never touched.
 * The task itself stays in the store with analysis_dir and target cleared
 * and an event "task.expired", so the API says the analysis is gone rather
 * than pointing at nothing.
 *
 * Old snapshot generations (snapshot_manager.h: not current, no run, no
 * session from them: nothing can restore from them again) go first, by the
 * same rules: older than retention.days, or oldest first while over
 * retention.max_disk_gb, whose count then includes them. They go before
 * any analysis because nobody can reach them, while an analysis is
 * someone's result.
 *
 * Directories and generations are removed on a thread of their own;
 * samples are removed on the main thread, where submissions run, so a
 * sample a new submission just reused is never taken from under it.
 */
#pragma once

#include <glib.h>

#include "scheduler.h"
#include "store.h"

/*
 * What retention did since the daemon started, for metrics (GET /metrics)
 * and tests: read it with nbx_retention_counters_get() from any thread.
 */
typedef struct {
	guint64 sweeps;		  /* sweeps that ran to the end */
	guint64 analyses_removed; /* tasks whose analysis directories were removed */
	guint64 samples_removed;  /* sample files removed */
	guint64 generations_removed; /* old snapshot generations removed */
	guint64 bytes_removed;	  /* disk space freed (allocated blocks), in bytes */
	guint64 failures;	  /* removals that failed (each one is logged) */
} NbxRetentionCounters;

void nbx_retention_counters_get(NbxRetentionCounters *counters);

typedef struct {
	gint64 max_age_us;     /* 0: no age limit */
	gint64 max_disk_bytes; /* 0: no size limit */
	char *analyses_dir;
	char *samples_dir;
	/* Whose old generations go too (borrowed); NULL: none. */
	NbxSnapshotManager *snapshots;
} NbxRetentionPolicy;

void nbx_retention_policy_clear(NbxRetentionPolicy *policy);

/*
 * The first half of a sweep, safe on any thread: removes old snapshot
 * generations, then analysis directories, by @policy as of @now_us, and
 * returns the samples (paths) that no kept task uses any more, for
 * nbx_retention_remove_samples(). Stops early, with what it did, when
 * @cancel becomes non-zero. NULL on error.
 */
GPtrArray *nbx_retention_sweep_analyses(NbxStore *store, const NbxRetentionPolicy *policy,
					gint64 now_us, const gint *cancel, GError **error);

/*
 * The second half, on the thread that stores samples (the main thread):
 * removes each of @samples that still no task in @store uses.
 */
void nbx_retention_remove_samples(NbxStore *store, GPtrArray *samples);

/* Sweeps every retention.interval minutes while the daemon runs, the first at once. */
typedef struct _NbxRetention NbxRetention;

NbxRetention *nbx_retention_start(NbxScheduler *scheduler);
/* Stops the timer, waits for a sweep in progress to stop (between two removals). */
void nbx_retention_stop(NbxRetention *retention);
