/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restore gate: caps how many machines are being restored at the same
 * time (scheduler.max_concurrent_restores). An analysis waits at it before
 * `restore_start` and leaves it once the machine is up or failed.
 */
#pragma once

#include <glib.h>

typedef struct {
	GMutex lock;
	GCond cond;
	gint64 limit;
	gint64 busy;
} NbxRestoreGate;

void nbx_restore_gate_init(NbxRestoreGate *gate, gint64 limit);
void nbx_restore_gate_clear(NbxRestoreGate *gate);
/* A reload's new limit; restores under way go on. */
void nbx_restore_gate_set_limit(NbxRestoreGate *gate, gint64 limit);

/* How a waiter is told apart: whether it gave up, and telling it once that it waits. */
typedef struct {
	gboolean (*interrupted)(gpointer waiter);
	void (*waiting)(gpointer waiter, gint64 limit);
	gpointer waiter;
} NbxRestoreGateWaiter;

/* Waits for a free slot; FALSE when the waiter was interrupted meanwhile. */
gboolean nbx_restore_gate_enter(NbxRestoreGate *gate, const NbxRestoreGateWaiter *waiter);
void nbx_restore_gate_leave(NbxRestoreGate *gate);
