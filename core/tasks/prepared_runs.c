/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "prepared_runs.h"

#include "machinery_client.h"

typedef enum {
	/* Absent from the table: nothing prepared, and it may be. */
	RUN_PREPARED = 1,
	/* The last prepare failed: not tried again until the machine runs. */
	RUN_FAILED,
} RunState;

struct _NbxPreparedRuns {
	/* Guards the rest: forget() and wait() come from other threads. */
	GMutex lock;
	/* Signalled when an op has returned and its machine was let go. */
	GCond returned;
	/* NbxMachine * -> RunState */
	GHashTable *machines;
	/* The machines whose prepare or discard has not returned (a set). */
	GHashTable *in_flight;
	/* Returned, and being let go by the done callback (a set). */
	GHashTable *letting_go;
	/* In flight, and to be discarded once returned (a set). */
	GHashTable *doomed;
	NbxPreparedRunsDone done;
	gpointer user_data;
};

typedef struct {
	NbxPreparedRuns *runs;
	NbxMachine *machine;
	NbxMachineryOp op;
	NbxSnapshotManager *snapshots;
	gint64 deadline_us;
} RunOp;

NbxPreparedRuns *
nbx_prepared_runs_new(NbxPreparedRunsDone done, gpointer user_data)
{
	NbxPreparedRuns *runs = g_new0(NbxPreparedRuns, 1);

	g_mutex_init(&runs->lock);
	g_cond_init(&runs->returned);
	runs->machines = g_hash_table_new(NULL, NULL);
	runs->in_flight = g_hash_table_new(NULL, NULL);
	runs->letting_go = g_hash_table_new(NULL, NULL);
	runs->doomed = g_hash_table_new(NULL, NULL);
	runs->done = done;
	runs->user_data = user_data;
	return runs;
}

void
nbx_prepared_runs_free(NbxPreparedRuns *runs)
{
	if (runs == NULL)
		return;
	g_hash_table_unref(runs->machines);
	g_hash_table_unref(runs->in_flight);
	g_hash_table_unref(runs->letting_go);
	g_hash_table_unref(runs->doomed);
	g_cond_clear(&runs->returned);
	g_mutex_clear(&runs->lock);
	g_free(runs);
}

static RunState
state_of(NbxPreparedRuns *runs, NbxMachine *machine)
{
	RunState state;

	g_mutex_lock(&runs->lock);
	state = GPOINTER_TO_INT(g_hash_table_lookup(runs->machines, machine));
	g_mutex_unlock(&runs->lock);
	return state;
}

static void
set_state(NbxPreparedRuns *runs, NbxMachine *machine, RunState state)
{
	g_mutex_lock(&runs->lock);
	if (state == 0)
		g_hash_table_remove(runs->machines, machine);
	else
		g_hash_table_insert(runs->machines, machine, GINT_TO_POINTER(state));
	g_mutex_unlock(&runs->lock);
}

gboolean
nbx_prepared_runs_wanted(NbxPreparedRuns *runs, NbxMachine *machine)
{
	return nbx_machinery_has(machine->machinery, NBX_MACHINERY_OP_PREPARE) &&
	       state_of(runs, machine) == 0;
}

gboolean
nbx_prepared_runs_has(NbxPreparedRuns *runs, NbxMachine *machine)
{
	return state_of(runs, machine) == RUN_PREPARED;
}

void
nbx_prepared_runs_forget(NbxPreparedRuns *runs, NbxMachine *machine)
{
	set_state(runs, machine, 0);
}

void
nbx_prepared_runs_forget_all(NbxPreparedRuns *runs)
{
	g_mutex_lock(&runs->lock);
	g_hash_table_remove_all(runs->machines);
	g_mutex_unlock(&runs->lock);
}

static gpointer op_thread(gpointer data);

/*
 * A prepare returned for a machine doomed meanwhile: its discard follows
 * at once, the machine still held. FALSE when it was not doomed.
 */
static gboolean
discard_if_doomed(RunOp *op)
{
	NbxPreparedRuns *runs = op->runs;
	gboolean doomed;

	g_mutex_lock(&runs->lock);
	doomed = g_hash_table_remove(runs->doomed, op->machine);
	if (doomed)
		g_hash_table_remove(runs->machines, op->machine);
	g_mutex_unlock(&runs->lock);
	if (!doomed || op->op != NBX_MACHINERY_OP_PREPARE)
		return FALSE;
	op->op = NBX_MACHINERY_OP_DISCARD;
	g_thread_unref(g_thread_new("nbx-prepare", op_thread, op));
	return TRUE;
}

static gboolean
op_returned(gpointer data)
{
	RunOp *op = data;
	NbxPreparedRuns *runs = op->runs;

	if (discard_if_doomed(op))
		return G_SOURCE_REMOVE;

	/* Not in flight for the callback (a shutdown waits for none), not yet let go for wait(). */
	g_mutex_lock(&runs->lock);
	g_hash_table_remove(runs->in_flight, op->machine);
	g_hash_table_add(runs->letting_go, op->machine);
	g_mutex_unlock(&runs->lock);
	runs->done(op->machine, runs->user_data);
	g_mutex_lock(&runs->lock);
	g_hash_table_remove(runs->letting_go, op->machine);
	g_cond_broadcast(&runs->returned);
	g_mutex_unlock(&runs->lock);
	g_free(op);
	return G_SOURCE_REMOVE;
}

/* The generation prepare is for, held as used only while the op runs. */
static gboolean
run_prepare(RunOp *op, GError **error)
{
	NbxMachine *machine = op->machine;
	g_autofree char *dir = NULL;
	gint64 generation = 0;
	gboolean ok;

	if (op->snapshots != NULL &&
	    !nbx_snapshot_manager_use(op->snapshots, machine, &generation, &dir, error))
		return FALSE;
	NbxOpContext context = { .deadline_us = op->deadline_us, .generation_dir = dir };

	ok = nbx_machinery_call(machine->machinery, NBX_MACHINERY_OP_PREPARE, &machine->machine,
				&context, error);
	if (op->snapshots != NULL)
		nbx_snapshot_manager_unuse(op->snapshots, machine, generation);
	return ok;
}

static gpointer
op_thread(gpointer data)
{
	RunOp *op = data;
	NbxMachine *machine = op->machine;
	g_autoptr(GError) error = NULL;
	NbxOpContext context = { .deadline_us = op->deadline_us };
	gboolean ok;

	if (op->op == NBX_MACHINERY_OP_PREPARE)
		ok = run_prepare(op, &error);
	else
		ok = nbx_machinery_call(machine->machinery, op->op, &machine->machine, &context,
					&error);
	if (op->op == NBX_MACHINERY_OP_PREPARE)
		set_state(op->runs, machine, ok ? RUN_PREPARED : RUN_FAILED);
	/* A failed prepare costs the next restore its speed, nothing else. */
	if (!ok)
		g_message("%s", error->message);
	g_idle_add(op_returned, op);
	return NULL;
}

static void
start(NbxPreparedRuns *runs, NbxMachine *machine, NbxMachineryOp op_id,
      NbxSnapshotManager *snapshots, gint64 timeout_s)
{
	RunOp *op = g_new0(RunOp, 1);

	op->runs = runs;
	op->machine = machine;
	op->op = op_id;
	op->snapshots = snapshots;
	op->deadline_us = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
	g_mutex_lock(&runs->lock);
	g_hash_table_add(runs->in_flight, machine);
	g_mutex_unlock(&runs->lock);
	g_thread_unref(g_thread_new("nbx-prepare", op_thread, op));
}

void
nbx_prepared_runs_prepare(NbxPreparedRuns *runs, NbxMachine *machine,
			  NbxSnapshotManager *snapshots, gint64 timeout_s)
{
	start(runs, machine, NBX_MACHINERY_OP_PREPARE, snapshots, timeout_s);
}

void
nbx_prepared_runs_discard(NbxPreparedRuns *runs, NbxMachine *machine, gint64 timeout_s)
{
	set_state(runs, machine, 0);
	start(runs, machine, NBX_MACHINERY_OP_DISCARD, NULL, timeout_s);
}

guint
nbx_prepared_runs_in_flight(NbxPreparedRuns *runs)
{
	guint n;

	g_mutex_lock(&runs->lock);
	n = g_hash_table_size(runs->in_flight);
	g_mutex_unlock(&runs->lock);
	return n;
}

gboolean
nbx_prepared_runs_doom(NbxPreparedRuns *runs, NbxMachine *machine)
{
	gboolean in_flight;

	g_mutex_lock(&runs->lock);
	in_flight = g_hash_table_contains(runs->in_flight, machine);
	if (in_flight)
		g_hash_table_add(runs->doomed, machine);
	g_mutex_unlock(&runs->lock);
	return in_flight;
}

gboolean
nbx_prepared_runs_wait(NbxPreparedRuns *runs, NbxMachine *machine, gint64 until_us)
{
	gboolean waited = FALSE;

	g_mutex_lock(&runs->lock);
	while ((g_hash_table_contains(runs->in_flight, machine) ||
		g_hash_table_contains(runs->letting_go, machine)) &&
	       g_cond_wait_until(&runs->returned, &runs->lock, until_us))
		waited = TRUE;
	waited = waited && !g_hash_table_contains(runs->in_flight, machine) &&
		 !g_hash_table_contains(runs->letting_go, machine);
	g_mutex_unlock(&runs->lock);
	return waited;
}

guint
nbx_prepared_runs_count(NbxPreparedRuns *runs)
{
	guint n = 0;
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&runs->lock);
	g_hash_table_iter_init(&iter, runs->machines);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		n += GPOINTER_TO_INT(value) == RUN_PREPARED;
	g_mutex_unlock(&runs->lock);
	return n;
}
