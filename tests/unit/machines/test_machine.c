/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One machine's state machine (core/machines/machine.c), against a real
 * store: every event in every state is either the transition the table
 * below allows, persisted in the store as it says and told to the
 * listeners once, or refused with nothing changed, written or told. The
 * table here is written out independently of the module's, so a change to
 * either shows.
 */
#include "machine.h"
#include "test_support.h"

#define S(x) NBX_MACHINE_STATE_##x
#define E(x) NBX_MACHINE_EVENT_##x
#define NO (-1)

/* Where each event leads from each state, when the machine is in service; NO: refused. */
static const int expected[NBX_MACHINE_STATE_COUNT][NBX_MACHINE_EVENT_COUNT] = {
	/*              RESERVE      RELEASE  RESTORE       UP          STOP         STOPPED      WEDGE      UNWEDGE      RECLAIM      DISABLE        ENABLE */
	[S(IDLE)] = { S(RESERVED), NO, NO, NO, NO, NO, NO, NO, S(STOPPING), S(DISABLED), S(IDLE) },
	[S(DISABLED)] = { NO, NO, NO, NO, NO, NO, NO, NO, S(STOPPING), S(DISABLED), S(IDLE) },
	[S(RESERVED)] = { NO, S(IDLE), S(RESTORING), NO, S(STOPPING), NO, S(WEDGED), NO, NO,
			  S(RESERVED), S(RESERVED) },
	[S(RESTORING)] = { NO, S(IDLE), NO, S(RUNNING), S(STOPPING), NO, S(WEDGED), NO, NO,
			   S(RESTORING), S(RESTORING) },
	[S(RUNNING)] = { NO, S(IDLE), NO, NO, S(STOPPING), NO, S(WEDGED), NO, NO, S(RUNNING),
			 S(RUNNING) },
	[S(STOPPING)] = { NO, S(IDLE), NO, NO, NO, S(RESERVED), S(WEDGED), NO, NO, S(STOPPING),
			  S(STOPPING) },
	[S(WEDGED)] = { NO, NO, NO, NO, NO, NO, NO, S(STOPPING), NO, S(WEDGED), S(WEDGED) },
};

/* A legal way into each state from IDLE. */
static const NbxMachineEvent paths[NBX_MACHINE_STATE_COUNT][3] = {
	[S(IDLE)] = { NBX_MACHINE_EVENT_COUNT },
	[S(DISABLED)] = { E(DISABLE), NBX_MACHINE_EVENT_COUNT },
	[S(RESERVED)] = { E(RESERVE), NBX_MACHINE_EVENT_COUNT },
	[S(RESTORING)] = { E(RESERVE), E(RESTORE), NBX_MACHINE_EVENT_COUNT },
	[S(RUNNING)] = { E(RESERVE), E(RESTORE), E(UP) },
	[S(STOPPING)] = { E(RESERVE), E(STOP), NBX_MACHINE_EVENT_COUNT },
	[S(WEDGED)] = { E(RESERVE), E(WEDGE), NBX_MACHINE_EVENT_COUNT },
};

typedef struct {
	char *dir;
	NbxStore *store;
	NbxMachineBoard board;
	NbxMachine *machine;
	/* NbxMachineChange copies (reason dropped), as the listener heard them. */
	GArray *heard;
	guint listener;
} Fixture;

static void
on_change(const NbxMachineChange *change, gpointer data)
{
	Fixture *f = data;
	NbxMachineChange copy = *change;

	copy.reason = NULL;
	g_array_append_val(f->heard, copy);
}

static void
set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;

	f->dir = test_dir_new();
	path = g_build_filename(f->dir, "nestbox.db", NULL);
	f->store = nbx_store_open(path, &error);
	g_assert_no_error(error);
	g_assert_true(nbx_store_machine_ensure(f->store, "m1", "fake", &error));
	nbx_machine_board_init(&f->board);
	nbx_machine_board_set_store(&f->board, f->store);
	f->machine = nbx_machine_new(&f->board, NULL);
	f->machine->machine.name = "m1";
	f->heard = g_array_new(FALSE, FALSE, sizeof(NbxMachineChange));
	f->listener = nbx_machine_board_add_listener(&f->board, on_change, f);
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	nbx_machine_free(f->machine);
	nbx_machine_board_clear(&f->board);
	g_array_unref(f->heard);
	nbx_store_close(f->store);
	test_dir_remove(f->dir);
	g_free(f->dir);
}

/* A fresh machine (and store row) in @state, the listener's record empty. */
static void
put_in(Fixture *f, NbxMachineState state)
{
	g_autoptr(GError) error = NULL;

	nbx_machine_free(f->machine);
	g_assert_true(nbx_store_machine_set_activity(f->store, "m1", NBX_MACHINE_ACTIVITY_IDLE, 0,
						     &error));
	g_assert_true(nbx_store_machine_set_disabled(f->store, "m1", NULL, &error));
	f->machine = nbx_machine_new(&f->board, NULL);
	f->machine->machine.name = "m1";
	for (guint i = 0; i < 3 && paths[state][i] != NBX_MACHINE_EVENT_COUNT; i++)
		g_assert_true(nbx_machine_transition(f->machine, paths[state][i], 7,
						     paths[state][i] == E(DISABLE) ? "broken"
										   : NULL,
						     &error));
	g_assert_cmpint(nbx_machine_get_state(f->machine), ==, state);
	g_array_set_size(f->heard, 0);
}

static NbxStoredMachine *
stored(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	NbxStoredMachine *row = nbx_store_machine_get(f->store, "m1", &error);

	g_assert_no_error(error);
	g_assert_nonnull(row);
	return row;
}

/* What the store must say after @event with task 42 (and reason "why" for DISABLE). */
static void
check_persisted(Fixture *f, NbxMachineEvent event, const NbxStoredMachine *before)
{
	g_autoptr(NbxStoredMachine) after = stored(f);
	static const struct {
		NbxMachineEvent event;
		NbxMachineActivity activity;
		gint64 task_id;
	} activities[] = {
		{ E(RESTORE), NBX_MACHINE_ACTIVITY_STARTING, 42 },
		{ E(UP), NBX_MACHINE_ACTIVITY_RUNNING, 42 },
		{ E(STOP), NBX_MACHINE_ACTIVITY_STOPPING, 42 },
		{ E(STOPPED), NBX_MACHINE_ACTIVITY_IDLE, 0 },
		{ E(UNWEDGE), NBX_MACHINE_ACTIVITY_STOPPING, 42 },
	};

	for (guint i = 0; i < G_N_ELEMENTS(activities); i++) {
		if (activities[i].event != event)
			continue;
		g_assert_cmpint(after->activity, ==, activities[i].activity);
		g_assert_cmpint(after->task_id, ==, activities[i].task_id);
		g_assert_cmpstr(after->disabled_reason, ==, before->disabled_reason);
		return;
	}
	if (event == E(DISABLE))
		g_assert_cmpstr(after->disabled_reason, ==, "why");
	else if (event == E(ENABLE))
		g_assert_null(after->disabled_reason);
	else
		g_assert_cmpstr(after->disabled_reason, ==, before->disabled_reason);
	/* Reservations and wedging are the running daemon's: the store's row keeps its activity. */
	g_assert_cmpint(after->activity, ==, before->activity);
	g_assert_cmpint(after->task_id, ==, before->task_id);
}

static void
check_one(Fixture *f, NbxMachineState from, NbxMachineEvent event)
{
	g_autoptr(NbxStoredMachine) before = NULL;
	g_autoptr(GError) error = NULL;
	int to = expected[from][event];
	gboolean ok;

	put_in(f, from);
	before = stored(f);
	ok = nbx_machine_transition(f->machine, event, 42, event == E(DISABLE) ? "why" : NULL,
				    &error);
	g_test_message("%s in %s", nbx_machine_event_to_string(event),
		       nbx_machine_state_to_string(from));
	if (to == NO) {
		g_autoptr(NbxStoredMachine) after = stored(f);

		g_assert_false(ok);
		g_assert_error(error, NBX_MACHINE_ERROR_DOMAIN, NBX_MACHINE_ERROR_ILLEGAL);
		g_assert_nonnull(strstr(error->message, "machine m1: "));
		g_assert_cmpint(nbx_machine_get_state(f->machine), ==, from);
		g_assert_cmpuint(f->heard->len, ==, 0);
		g_assert_cmpint(after->activity, ==, before->activity);
		g_assert_cmpint(after->task_id, ==, before->task_id);
		g_assert_cmpint(after->updated_us, ==, before->updated_us);
		return;
	}
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_cmpint(nbx_machine_get_state(f->machine), ==, to);
	g_assert_cmpuint(f->heard->len, ==, 1);
	g_assert_cmpint(g_array_index(f->heard, NbxMachineChange, 0).event, ==, event);
	g_assert_cmpint(g_array_index(f->heard, NbxMachineChange, 0).from, ==, from);
	g_assert_cmpint(g_array_index(f->heard, NbxMachineChange, 0).to, ==, to);
	check_persisted(f, event, before);
}

static void
test_table(Fixture *f, gconstpointer data)
{
	for (NbxMachineState state = 0; state < NBX_MACHINE_STATE_COUNT; state++)
		for (NbxMachineEvent event = 0; event < NBX_MACHINE_EVENT_COUNT; event++)
			check_one(f, state, event);
}

/* Out of service while busy: released, it rests DISABLED; enabled, IDLE again. */
static void
test_release_disabled(Fixture *f, gconstpointer data)
{
	g_autofree char *reason = NULL;

	put_in(f, S(RUNNING));
	g_assert_true(nbx_machine_transition(f->machine, E(DISABLE), 0, "stuck", NULL));
	g_assert_cmpint(nbx_machine_get_state(f->machine), ==, S(RUNNING));
	g_assert_true(nbx_machine_transition(f->machine, E(STOP), 42, NULL, NULL));
	g_assert_true(nbx_machine_transition(f->machine, E(RELEASE), 0, NULL, NULL));
	g_assert_cmpint(nbx_machine_get_state(f->machine), ==, S(DISABLED));
	reason = nbx_machine_dup_disabled_reason(f->machine);
	g_assert_cmpstr(reason, ==, "stuck");
	g_assert_false(nbx_machine_transition(f->machine, E(RESERVE), 0, NULL, NULL));
	g_assert_true(nbx_machine_transition(f->machine, E(ENABLE), 0, NULL, NULL));
	g_assert_cmpint(nbx_machine_get_state(f->machine), ==, S(IDLE));
	g_assert_false(nbx_machine_is_disabled(f->machine));
}

typedef struct {
	gint refs;
	gint told;
	gint32 state;
} Watcher;

static gpointer
watcher_ref(gpointer data)
{
	g_atomic_int_inc(&((Watcher *)data)->refs);
	return data;
}

static void
watcher_unref(gpointer data)
{
	g_atomic_int_add(&((Watcher *)data)->refs, -1);
}

static void
on_hypervisor(gpointer data, gint32 state, const char *reason)
{
	Watcher *watcher = data;

	/* Held while it is told: the machine's reference and this call's. */
	g_assert_cmpint(watcher->refs, ==, 2);
	watcher->told++;
	watcher->state = state;
}

/* What the hypervisor says is kept and told to the watcher, held while it is set. */
static void
test_watcher(Fixture *f, gconstpointer data)
{
	Watcher watcher = { 0 };
	g_autofree char *reason = NULL;

	nbx_machine_note_hypervisor_state(f->machine, NBX_MACHINE_RUNNING, NULL);
	nbx_machine_set_watcher(f->machine, on_hypervisor, &watcher, watcher_ref, watcher_unref);
	g_assert_cmpint(watcher.refs, ==, 1);
	nbx_machine_note_hypervisor_state(f->machine, NBX_MACHINE_ERROR, "crashed");
	g_assert_cmpint(watcher.told, ==, 1);
	g_assert_cmpint(watcher.state, ==, NBX_MACHINE_ERROR);
	g_assert_cmpint(nbx_machine_get_hypervisor_state(f->machine, &reason), ==,
			NBX_MACHINE_ERROR);
	g_assert_cmpstr(reason, ==, "crashed");
	nbx_machine_set_watcher(f->machine, NULL, NULL, NULL, NULL);
	g_assert_cmpint(watcher.refs, ==, 0);
	nbx_machine_note_hypervisor_state(f->machine, NBX_MACHINE_POWEROFF, NULL);
	g_assert_cmpint(watcher.told, ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add(path, Fixture, NULL, set_up, func, tear_down)
	ADD("/machine/transition-table", test_table);
	ADD("/machine/release-disabled", test_release_disabled);
	ADD("/machine/hypervisor-watcher", test_watcher);
	return g_test_run();
}
