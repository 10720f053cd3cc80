/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's metrics: counted where things happen (a step ends, an op
 * fails, a restore enters its slot, a task changes state), kept here in
 * one place, and written out in the Prometheus text format for GET
 * /metrics. One set per process, like a Prometheus client's default
 * registry: the analysis threads and the op clients count into it without
 * being handed anything. Every function is thread-safe.
 *
 * What the daemon knows better at the time of a scrape (machines and their
 * state, snapshot generations) is not copied here: the control API adds it
 * when it writes the page (api_metrics.c).
 */
#pragma once

#include <glib.h>

#include "store.h"
#include "task.h"

/* A step of an analysis took @seconds (its name as in the report: "restore_start", "run", ...). */
void nbx_metrics_observe_step(const char *step, double seconds);
/* An op of @plugin failed (its error went back to the core). */
void nbx_metrics_count_op_failure(const char *plugin, const char *op);
/* A restore entered (+1) or left (-1) its slot (scheduler.max_concurrent_restores). */
void nbx_metrics_restores_in_flight_add(gint delta);

/*
 * Counts the tasks @store holds by state, and queued ones by platform and
 * tag, then follows every task the store inserts or updates from then on
 * (it becomes the store's task observer). Call once, on the main thread,
 * before tasks run.
 */
gboolean nbx_metrics_follow_tasks(NbxStore *store, GError **error);

/* Stops following the store (before it is closed); the task counts are forgotten. */
void nbx_metrics_unfollow_tasks(void);

/* Appends the metrics kept here, in the Prometheus text format, to @out. */
void nbx_metrics_write(GString *out);

/* Forgets everything (tests that start several daemons in one process). */
void nbx_metrics_reset(void);
