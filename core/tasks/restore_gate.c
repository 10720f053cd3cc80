/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "restore_gate.h"

#include "metrics.h"

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

void
nbx_restore_gate_set_limit(NbxRestoreGate *gate, gint64 limit)
{
	g_mutex_lock(&gate->lock);
	gate->limit = limit;
	g_mutex_unlock(&gate->lock);
}

gboolean
nbx_restore_gate_enter(NbxRestoreGate *gate, const NbxRestoreGateWaiter *waiter)
{
	gboolean entered = FALSE;
	gboolean told = FALSE;

	g_mutex_lock(&gate->lock);
	while (!waiter->interrupted(waiter->waiter)) {
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
			waiter->waiting(waiter->waiter, limit);
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

void
nbx_restore_gate_leave(NbxRestoreGate *gate)
{
	g_mutex_lock(&gate->lock);
	gate->busy--;
	nbx_metrics_restores_in_flight_add(-1);
	g_cond_broadcast(&gate->cond);
	g_mutex_unlock(&gate->lock);
}
