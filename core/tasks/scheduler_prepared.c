/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs made ahead on idle machines (ABI 1.2 `prepare` / `discard`) as the
 * scheduler decides them: which machines get one, when they are thrown
 * away (a machine disabled, a new generation, a reload, a shutdown).
 * prepared_runs.c runs the ops.
 */
#include "scheduler_private.h"

/*
 * An idle machine's next run is made ahead (ABI 1.2 `prepare`) while it is
 * held, so no task and no snapshot session takes it meanwhile; only when
 * nothing asks the machines to be let go (a reload, a shutdown). UNKNOWN
 * counts as off: at start-up, recovery has stopped what a dead daemon left.
 */
void
nbx_scheduler_prepare_idle_machines(NbxScheduler *scheduler)
{
	NbxMachinePool *pool = scheduler->setup->pool;

	if (scheduler->pending_setup != NULL || scheduler->shutting_down || scheduler->recovering)
		return;
	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		NbxMachineRequest request = { .name = machine->machine.name };
		gint32 state;

		if (!nbx_prepared_runs_wanted(scheduler->prepared, machine))
			continue;
		state = nbx_machine_get_hypervisor_state(machine, NULL);
		if (state != NBX_MACHINE_POWEROFF && state != NBX_MACHINE_UNKNOWN)
			continue;
		/* Busy or disabled machines are not held, and not prepared. */
		if (nbx_machine_pool_acquire(pool, &request, NULL) == NULL)
			continue;
		nbx_prepared_runs_prepare(scheduler->prepared, machine, scheduler->snapshots,
					  scheduler->settings.timeouts.restore);
	}
}

/*
 * Holds @machine and discards its prepared run, if it has one and is idle;
 * one being prepared now is discarded as soon as its prepare returns.
 */
void
nbx_scheduler_discard_if_prepared(NbxScheduler *scheduler, NbxMachine *machine)
{
	NbxMachineRequest request = { .name = machine->machine.name };

	if (nbx_prepared_runs_doom(scheduler->prepared, machine) ||
	    !nbx_prepared_runs_has(scheduler->prepared, machine) ||
	    nbx_machine_pool_acquire(scheduler->setup->pool, &request, NULL) == NULL)
		return;
	nbx_prepared_runs_discard(scheduler->prepared, machine, scheduler->settings.timeouts.stop);
}

/*
 * Discards every prepared run (a reload, a shutdown); TRUE while some
 * prepare or discard has not returned, and the caller must wait for it
 * (on_prepared_op_done comes back).
 */
gboolean
nbx_scheduler_discard_all_prepared(NbxScheduler *scheduler)
{
	GPtrArray *machines = scheduler->setup->pool->machines;

	for (guint i = 0; i < machines->len; i++)
		nbx_scheduler_discard_if_prepared(scheduler, g_ptr_array_index(machines, i));
	return nbx_prepared_runs_in_flight(scheduler->prepared) > 0;
}

typedef struct {
	NbxScheduler *scheduler;
	char *base;
} GenerationChange;

static gboolean
discard_base_runs(gpointer data)
{
	GenerationChange *change = data;
	NbxScheduler *scheduler = change->scheduler;
	GPtrArray *machines = scheduler->setup->pool->machines;

	for (guint i = 0; i < machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(machines, i);

		if (g_strcmp0(nbx_pool_machine_base(machine), change->base) == 0)
			nbx_scheduler_discard_if_prepared(scheduler, machine);
	}
	g_free(change->base);
	g_free(change);
	return G_SOURCE_REMOVE;
}

void
nbx_scheduler_generation_changed(NbxScheduler *scheduler, const char *base)
{
	GenerationChange *change = g_new0(GenerationChange, 1);
	g_autoptr(GSource) source = g_idle_source_new();

	change->scheduler = scheduler;
	change->base = g_strdup(base);
	/* The scheduler is the main thread's; the snapshot manager calls from a worker. */
	g_source_set_callback(source, discard_base_runs, change, NULL);
	g_source_attach(source, NULL);
}

