/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The task store: every field survives a round trip and a re-open, the
 * orders the scheduler and the API rely on, machine and event records, a
 * newer or unreachable database refused with words naming the file, WAL
 * really on, inserts from several threads, an operator's cancel that no
 * update takes back, and the upgrade of a first-version store.
 */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store.h"
#include "test_support.h"

typedef struct {
	char *dir;
	char *path;
	NbxStore *store;
} Fixture;

static void
set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = test_dir_new();
	f->path = g_build_filename(f->dir, "store.sqlite", NULL);
	f->store = nbx_store_open(f->path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->store);
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	nbx_store_close(f->store);
	test_dir_remove(f->dir);
	g_free(f->path);
	g_free(f->dir);
}

static void
reopen(Fixture *f)
{
	g_autoptr(GError) error = NULL;

	nbx_store_close(f->store);
	f->store = nbx_store_open(f->path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->store);
}

/* A task with every field set to something a lazy copy would get wrong. */
static NbxTask *
full_task(void)
{
	NbxTask *task = nbx_task_new();

	task->state = NBX_TASK_FAILED;
	task->priority = -3;
	task->created_us = 1700000000123456;
	task->started_us = 1700000001000000;
	task->ended_us = 1700000099000001;
	task->target = g_strdup("/var/lib/nestbox/files/ab/abcdef");
	task->target_name = g_strdup("Rechnung März 📄.exe");
	task->machine = g_strdup("win10-a");
	task->platform = g_strdup("windows");
	task->os_version = g_strdup("");
	task->architecture = g_strdup("amd64");
	g_strfreev(task->tags);
	task->tags = g_strdupv((char *[]){ "office", "x64", "ünïcode \"quoted\"", NULL });
	task->duration_s = 120;
	task->memory_dump = TRUE;
	task->debug = FALSE;
	task->options_json = g_strdup("{\"sniffer\":{\"bpf\":\"tcp port 80\"}}");
	task->assigned_machine = g_strdup("win10-a");
	task->analysis_dir = g_strdup("/var/lib/nestbox/analyses/7");
	task->step = g_strdup("guest.upload");
	task->reason = g_strdup("the guest agent did not answer within 60 s; it's 'quoted'");
	task->attempts = 2;
	return task;
}

static void
assert_same_task(const NbxTask *a, const NbxTask *b)
{
	g_assert_cmpint(a->id, ==, b->id);
	g_assert_cmpint(a->state, ==, b->state);
	g_assert_cmpint(a->priority, ==, b->priority);
	g_assert_cmpint(a->created_us, ==, b->created_us);
	g_assert_cmpint(a->started_us, ==, b->started_us);
	g_assert_cmpint(a->ended_us, ==, b->ended_us);
	g_assert_cmpstr(a->target, ==, b->target);
	g_assert_cmpstr(a->target_name, ==, b->target_name);
	g_assert_cmpstr(a->machine, ==, b->machine);
	g_assert_cmpstr(a->platform, ==, b->platform);
	g_assert_cmpstr(a->os_version, ==, b->os_version);
	g_assert_cmpstr(a->architecture, ==, b->architecture);
	g_assert_nonnull(a->tags);
	g_assert_nonnull(b->tags);
	g_assert_true(g_strv_equal((const char *const *)a->tags, (const char *const *)b->tags));
	g_assert_cmpint(a->duration_s, ==, b->duration_s);
	g_assert_cmpint(a->memory_dump, ==, b->memory_dump);
	g_assert_cmpint(a->debug, ==, b->debug);
	g_assert_cmpstr(a->options_json, ==, b->options_json);
	g_assert_cmpstr(a->assigned_machine, ==, b->assigned_machine);
	g_assert_cmpstr(a->analysis_dir, ==, b->analysis_dir);
	g_assert_cmpstr(a->step, ==, b->step);
	g_assert_cmpstr(a->reason, ==, b->reason);
	g_assert_cmpint(a->attempts, ==, b->attempts);
}

static NbxTask *
get(Fixture *f, gint64 id)
{
	g_autoptr(GError) error = NULL;
	NbxTask *task = nbx_store_task_get(f->store, id, &error);

	g_assert_no_error(error);
	g_assert_nonnull(task);
	return task;
}

static gint64
insert(Fixture *f, NbxTaskState state, gint64 priority, gint64 created_us)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = nbx_task_new();

	task->state = state;
	task->priority = priority;
	task->created_us = created_us;
	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	g_assert_no_error(error);
	g_assert_cmpint(task->id, >, 0);
	return task->id;
}

static void
test_task_round_trip(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) full = full_task();
	g_autoptr(NbxTask) empty = nbx_task_new();
	g_autoptr(NbxTask) got_full = NULL;
	g_autoptr(NbxTask) got_empty = NULL;

	full->id = 999; /* ignored */
	g_assert_true(nbx_store_task_insert(f->store, full, &error));
	g_assert_no_error(error);
	g_assert_cmpint(full->id, !=, 999);
	g_assert_true(nbx_store_task_insert(f->store, empty, &error));
	g_assert_no_error(error);

	got_full = get(f, full->id);
	assert_same_task(got_full, full);
	/* NULL stays NULL and "" stays "": the API shows them differently. */
	g_assert_nonnull(got_full->os_version);
	g_assert_cmpstr(got_full->os_version, ==, "");

	got_empty = get(f, empty->id);
	assert_same_task(got_empty, empty);
	g_assert_null(got_empty->target);
	g_assert_null(got_empty->options_json);
	g_assert_nonnull(got_empty->tags);
	g_assert_null(got_empty->tags[0]);
}

static void
test_task_insert_ids(Fixture *f, gconstpointer data)
{
	gint64 previous = 0;

	for (int i = 0; i < 5; i++) {
		gint64 id = insert(f, NBX_TASK_QUEUED, 0, 1);

		g_assert_cmpint(id, >, previous);
		previous = id;
	}
}

static void
test_task_update(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = full_task();
	g_autoptr(NbxTask) other = nbx_task_new();
	g_autoptr(NbxTask) got = NULL;
	g_autoptr(NbxTask) got_other = NULL;

	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	g_assert_true(nbx_store_task_insert(f->store, other, &error));
	g_assert_no_error(error);

	task->state = NBX_TASK_REPORTED;
	task->priority = 9;
	g_clear_pointer(&task->target, g_free);
	g_clear_pointer(&task->reason, g_free);
	g_free(task->step);
	task->step = g_strdup("report");
	g_strfreev(task->tags);
	task->tags = g_new0(char *, 1);
	task->memory_dump = FALSE;
	task->debug = TRUE;
	task->attempts = 3;
	g_assert_true(nbx_store_task_update(f->store, task, &error));
	g_assert_no_error(error);

	got = get(f, task->id);
	assert_same_task(got, task);
	/* Only that row: the WHERE clause is not lost. */
	got_other = get(f, other->id);
	assert_same_task(got_other, other);
}

static void
test_task_missing(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = nbx_task_new();

	g_assert_null(nbx_store_task_get(f->store, 42, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "42"));
	g_clear_error(&error);

	task->id = 42;
	g_assert_false(nbx_store_task_update(f->store, task, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "task 42"));
	g_assert_nonnull(strstr(error->message, f->path));
}

static void
assert_ids(GPtrArray *tasks, const gint64 *ids, guint n)
{
	g_assert_nonnull(tasks);
	g_assert_cmpuint(tasks->len, ==, n);
	for (guint i = 0; i < n; i++)
		g_assert_cmpint(((NbxTask *)tasks->pdata[i])->id, ==, ids[i]);
}

static GPtrArray *
list(Fixture *f, int state, gint64 limit, gint64 before_id)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *tasks = nbx_store_task_list(f->store, state, limit, before_id, &error);

	g_assert_no_error(error);
	return tasks;
}

static void
test_task_list(Fixture *f, gconstpointer data)
{
	gint64 id[6];
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) queued = NULL;
	g_autoptr(GPtrArray) reported = NULL;
	g_autoptr(GPtrArray) cancelled = NULL;
	g_autoptr(GPtrArray) first_page = NULL;
	g_autoptr(GPtrArray) second_page = NULL;
	g_autoptr(GPtrArray) last_page = NULL;
	g_autoptr(GPtrArray) limited_state = NULL;

	id[0] = insert(f, NBX_TASK_QUEUED, 0, 100);
	id[1] = insert(f, NBX_TASK_REPORTED, 0, 200);
	id[2] = insert(f, NBX_TASK_QUEUED, 5, 300);
	id[3] = insert(f, NBX_TASK_RUNNING, 0, 400);
	id[4] = insert(f, NBX_TASK_REPORTED, 0, 50); /* created earlier, inserted later */
	id[5] = insert(f, NBX_TASK_QUEUED, 0, 600);

	all = list(f, -1, 0, 0);
	assert_ids(all, (gint64[]){ id[5], id[4], id[3], id[2], id[1], id[0] }, 6);
	queued = list(f, NBX_TASK_QUEUED, 0, 0);
	assert_ids(queued, (gint64[]){ id[5], id[2], id[0] }, 3);
	reported = list(f, NBX_TASK_REPORTED, -1, 0);
	assert_ids(reported, (gint64[]){ id[4], id[1] }, 2);
	cancelled = list(f, NBX_TASK_CANCELLED, 0, 0);
	assert_ids(cancelled, NULL, 0);

	/* Paging: each page starts below the last id of the one before. */
	first_page = list(f, -1, 2, 0);
	assert_ids(first_page, (gint64[]){ id[5], id[4] }, 2);
	second_page = list(f, -1, 2, id[4]);
	assert_ids(second_page, (gint64[]){ id[3], id[2] }, 2);
	last_page = list(f, -1, 10, id[1]);
	assert_ids(last_page, (gint64[]){ id[0] }, 1);
	limited_state = list(f, NBX_TASK_QUEUED, 1, id[5]);
	assert_ids(limited_state, (gint64[]){ id[2] }, 1);
}

static void
test_task_list_queued(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) queued = NULL;
	gint64 low_old, high_new, high_old, mid_a, mid_b, mid_older;

	low_old = insert(f, NBX_TASK_QUEUED, 0, 100);
	high_new = insert(f, NBX_TASK_QUEUED, 10, 900);
	insert(f, NBX_TASK_RUNNING, 100, 1);
	mid_a = insert(f, NBX_TASK_QUEUED, 5, 500);
	high_old = insert(f, NBX_TASK_QUEUED, 10, 200);
	mid_b = insert(f, NBX_TASK_QUEUED, 5, 500); /* same age as mid_a: id decides */
	insert(f, NBX_TASK_CANCELLED, 100, 1);
	mid_older = insert(f, NBX_TASK_QUEUED, 5, 400);

	queued = nbx_store_task_list_queued(f->store, &error);
	g_assert_no_error(error);
	assert_ids(queued, (gint64[]){ high_old, high_new, mid_older, mid_a, mid_b, low_old }, 6);
	g_assert_cmpint(nbx_store_task_count(f->store, NBX_TASK_QUEUED, &error), ==, 6);
	g_assert_cmpint(nbx_store_task_count(f->store, NBX_TASK_RUNNING, &error), ==, 1);
	g_assert_cmpint(nbx_store_task_count(f->store, NBX_TASK_REPORTED, &error), ==, 0);
	g_assert_no_error(error);
}

static NbxStoredMachine *
machine_get(Fixture *f, const char *name)
{
	g_autoptr(GError) error = NULL;
	NbxStoredMachine *machine = nbx_store_machine_get(f->store, name, &error);

	g_assert_no_error(error);
	g_assert_nonnull(machine);
	return machine;
}

static void
test_machine_ensure(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxStoredMachine) fresh = NULL;
	g_autoptr(NbxStoredMachine) kept = NULL;
	g_autoptr(GPtrArray) machines = NULL;

	g_assert_true(nbx_store_machine_ensure(f->store, "win10-b", "qemu", &error));
	g_assert_no_error(error);
	fresh = machine_get(f, "win10-b");
	g_assert_cmpstr(fresh->name, ==, "win10-b");
	g_assert_cmpstr(fresh->machinery, ==, "qemu");
	g_assert_cmpint(fresh->activity, ==, NBX_MACHINE_ACTIVITY_IDLE);
	g_assert_cmpint(fresh->task_id, ==, 0);
	g_assert_null(fresh->disabled_reason);
	g_assert_cmpint(fresh->failures, ==, 0);
	g_assert_cmpint(fresh->updated_us, >, 0);

	g_assert_true(nbx_store_machine_set_activity(f->store, "win10-b",
						     NBX_MACHINE_ACTIVITY_RUNNING, 17, &error));
	g_assert_true(nbx_store_machine_set_failures(f->store, "win10-b", 2, &error));
	/* The same count again writes nothing and is no error. */
	g_assert_true(nbx_store_machine_set_failures(f->store, "win10-b", 2, &error));
	g_assert_true(nbx_store_machine_set_disabled(f->store, "win10-b", "snapshot is gone",
						     &error));
	g_assert_no_error(error);

	/* A second ensure (the next start-up) must not forget what a crash left behind. */
	g_assert_true(nbx_store_machine_ensure(f->store, "win10-b", "libvirt", &error));
	g_assert_true(nbx_store_machine_ensure(f->store, "win10-a", "qemu", &error));
	g_assert_no_error(error);
	kept = machine_get(f, "win10-b");
	g_assert_cmpstr(kept->machinery, ==, "qemu");
	g_assert_cmpint(kept->activity, ==, NBX_MACHINE_ACTIVITY_RUNNING);
	g_assert_cmpint(kept->task_id, ==, 17);
	g_assert_cmpstr(kept->disabled_reason, ==, "snapshot is gone");
	g_assert_cmpint(kept->failures, ==, 2);

	machines = nbx_store_machine_list(f->store, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(machines->len, ==, 2);
	g_assert_cmpstr(((NbxStoredMachine *)machines->pdata[0])->name, ==, "win10-a");
	g_assert_cmpstr(((NbxStoredMachine *)machines->pdata[1])->name, ==, "win10-b");
}

static void
test_machine_disable(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxStoredMachine) disabled = NULL;
	g_autoptr(NbxStoredMachine) enabled = NULL;
	g_autoptr(NbxStoredMachine) idle = NULL;

	g_assert_true(nbx_store_machine_ensure(f->store, "deb", "qemu", &error));
	g_assert_true(nbx_store_machine_set_failures(f->store, "deb", 3, &error));
	g_assert_true(nbx_store_machine_set_disabled(f->store, "deb", "3 failed restores", &error));
	g_assert_no_error(error);
	disabled = machine_get(f, "deb");
	g_assert_cmpstr(disabled->disabled_reason, ==, "3 failed restores");
	g_assert_cmpint(disabled->failures, ==, 3);

	g_assert_true(nbx_store_machine_set_disabled(f->store, "deb", NULL, &error));
	g_assert_no_error(error);
	enabled = machine_get(f, "deb");
	g_assert_null(enabled->disabled_reason);
	g_assert_cmpint(enabled->failures, ==, 0);

	g_assert_true(nbx_store_machine_set_activity(f->store, "deb", NBX_MACHINE_ACTIVITY_STOPPING,
						     5, &error));
	g_assert_true(nbx_store_machine_set_activity(f->store, "deb", NBX_MACHINE_ACTIVITY_IDLE, 0,
						     &error));
	g_assert_no_error(error);
	idle = machine_get(f, "deb");
	g_assert_cmpint(idle->activity, ==, NBX_MACHINE_ACTIVITY_IDLE);
	g_assert_cmpint(idle->task_id, ==, 0);
}

static void
test_machine_missing(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(nbx_store_machine_get(f->store, "ghost", &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(nbx_store_machine_set_activity(f->store, "ghost",
						      NBX_MACHINE_ACTIVITY_STARTING, 1, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "ghost"));
	g_clear_error(&error);
	g_assert_false(nbx_store_machine_set_disabled(f->store, "ghost", "x", &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(nbx_store_machine_set_failures(f->store, "ghost", 1, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	/* A count that changes nothing (0 is every new row's) still finds no machine. */
	g_assert_false(nbx_store_machine_set_failures(f->store, "ghost", 0, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "ghost"));

	g_assert_cmpstr(nbx_machine_activity_name(NBX_MACHINE_ACTIVITY_IDLE), ==, "idle");
	g_assert_cmpstr(nbx_machine_activity_name(NBX_MACHINE_ACTIVITY_STARTING), ==, "starting");
	g_assert_cmpstr(nbx_machine_activity_name(NBX_MACHINE_ACTIVITY_RUNNING), ==, "running");
	g_assert_cmpstr(nbx_machine_activity_name(NBX_MACHINE_ACTIVITY_STOPPING), ==, "stopping");
}

static void
test_events(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) of_7 = NULL;
	gint64 before = g_get_real_time();
	NbxStoredEvent *event;

	g_assert_true(nbx_store_event_add(f->store, 7, NULL, "task.queued", "from the API", &error));
	g_assert_true(nbx_store_event_add(f->store, 0, "win7", "machine.disabled", "3 failures",
					  &error));
	g_assert_true(nbx_store_event_add(f->store, 8, "win7", "task.queued", "second", &error));
	g_assert_true(nbx_store_event_add(f->store, 7, "win7", "step.end", "guest.upload", &error));
	g_assert_no_error(error);

	all = nbx_store_event_list(f->store, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 4);
	for (guint i = 0; i < all->len; i++) {
		event = all->pdata[i];
		g_assert_cmpint(event->time_us, >=, before);
		g_assert_cmpint(event->time_us, <=, g_get_real_time());
		if (i > 0)
			g_assert_cmpint(event->id, >, ((NbxStoredEvent *)all->pdata[i - 1])->id);
	}
	event = all->pdata[1];
	g_assert_cmpint(event->task_id, ==, 0);
	g_assert_cmpstr(event->machine, ==, "win7");
	g_assert_cmpstr(event->kind, ==, "machine.disabled");
	g_assert_cmpstr(event->message, ==, "3 failures");

	of_7 = nbx_store_event_list(f->store, 7, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(of_7->len, ==, 2);
	event = of_7->pdata[0];
	g_assert_cmpstr(event->kind, ==, "task.queued");
	g_assert_null(event->machine);
	event = of_7->pdata[1];
	g_assert_cmpstr(event->kind, ==, "step.end");
	g_assert_cmpstr(event->message, ==, "guest.upload");
}

static void
test_reopen(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = full_task();
	g_autoptr(NbxTask) got = NULL;
	g_autoptr(NbxStoredMachine) machine = NULL;
	g_autoptr(GPtrArray) events = NULL;
	gint64 next;

	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	g_assert_true(nbx_store_machine_ensure(f->store, "win10-a", "qemu", &error));
	g_assert_true(nbx_store_machine_set_activity(f->store, "win10-a",
						     NBX_MACHINE_ACTIVITY_STARTING, task->id,
						     &error));
	g_assert_true(nbx_store_event_add(f->store, task->id, "win10-a", "task.queued", "x",
					  &error));
	g_assert_no_error(error);

	reopen(f);

	got = get(f, task->id);
	assert_same_task(got, task);
	machine = machine_get(f, "win10-a");
	g_assert_cmpint(machine->activity, ==, NBX_MACHINE_ACTIVITY_STARTING);
	g_assert_cmpint(machine->task_id, ==, task->id);
	events = nbx_store_event_list(f->store, task->id, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(events->len, ==, 1);
	/* Ids keep growing across a restart: they are in paths and URLs. */
	next = insert(f, NBX_TASK_QUEUED, 0, 1);
	g_assert_cmpint(next, >, task->id);
}

/* Runs @sql on the file with SQLite itself, behind the store's back. */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
}

/*
 * A cancel is recorded once, only for a task that has not ended, and no
 * task update (the analysis thread's copy) takes it back.
 */
static void
test_task_cancel(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 running = insert(f, NBX_TASK_RUNNING, 0, 1);
	gint64 ended = insert(f, NBX_TASK_REPORTED, 0, 2);
	g_autoptr(NbxTask) copy = get(f, running);
	g_autoptr(NbxTask) got = NULL;
	gint64 first;

	g_assert_cmpint(copy->cancel_requested_us, ==, 0);
	g_assert_true(nbx_store_task_request_cancel(f->store, running, &error));
	g_assert_no_error(error);
	got = get(f, running);
	first = got->cancel_requested_us;
	g_assert_cmpint(first, >, 0);
	/* A second request keeps the first one's time. */
	g_assert_true(nbx_store_task_request_cancel(f->store, running, &error));
	g_clear_pointer(&got, nbx_task_free);
	got = get(f, running);
	g_assert_cmpint(got->cancel_requested_us, ==, first);
	/* The runner writes its (older) copy of the task: the cancel stays, across a re-open. */
	g_free(copy->step);
	copy->step = g_strdup("stop");
	g_assert_true(nbx_store_task_update(f->store, copy, &error));
	reopen(f);
	g_clear_pointer(&got, nbx_task_free);
	got = get(f, running);
	g_assert_cmpint(got->cancel_requested_us, ==, first);
	g_assert_cmpstr(got->step, ==, "stop");

	g_assert_false(nbx_store_task_request_cancel(f->store, ended, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(nbx_store_task_request_cancel(f->store, 4242, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND);
}

/* Why queued tasks wait, in one write; a task that left the queue keeps its reason. */
static void
test_task_queued_reasons(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_task_free);
	gint64 queued = insert(f, NBX_TASK_QUEUED, 0, 1);
	gint64 started = insert(f, NBX_TASK_RUNNING, 0, 2);
	NbxTask *a = get(f, queued);
	NbxTask *b = get(f, started);
	g_autoptr(NbxTask) got_a = NULL;
	g_autoptr(NbxTask) got_b = NULL;

	g_assert_true(nbx_store_task_set_queued_reasons(f->store, tasks, &error));
	a->reason = g_strdup("waiting: machine m1 is disabled");
	b->reason = g_strdup("waiting: stale");
	g_ptr_array_add(tasks, a);
	g_ptr_array_add(tasks, b);
	g_assert_true(nbx_store_task_set_queued_reasons(f->store, tasks, &error));
	g_assert_no_error(error);
	got_a = get(f, queued);
	got_b = get(f, started);
	g_assert_cmpstr(got_a->reason, ==, "waiting: machine m1 is disabled");
	g_assert_null(got_b->reason);
}

/* A store of the first version gets the cancel column; its tasks are kept. */
static void
test_upgrade_from_v1(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(f->dir, "v1.sqlite", NULL);
	g_autoptr(NbxTask) task = NULL;
	NbxStore *store;

	raw_exec(path, "CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		       " state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
		       " priority INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL DEFAULT 0,"
		       " started_us INTEGER NOT NULL DEFAULT 0, ended_us INTEGER NOT NULL DEFAULT 0,"
		       " target TEXT, target_name TEXT, machine TEXT, platform TEXT, os_version TEXT,"
		       " architecture TEXT, tags TEXT NOT NULL DEFAULT '[]',"
		       " duration_s INTEGER NOT NULL DEFAULT 0, memory_dump INTEGER NOT NULL DEFAULT 0,"
		       " debug INTEGER NOT NULL DEFAULT 0, options_json TEXT, assigned_machine TEXT,"
		       " analysis_dir TEXT, step TEXT, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0);"
		       "INSERT INTO tasks (state, step) VALUES (1, 'stop');"
		       "PRAGMA user_version = 1;");
	store = nbx_store_open(path, &error);
	g_assert_no_error(error);
	task = nbx_store_task_get(store, 1, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(task->step, ==, "stop");
	g_assert_cmpint(task->cancel_requested_us, ==, 0);
	g_assert_true(nbx_store_task_request_cancel(store, 1, &error));
	g_assert_no_error(error);
	nbx_store_close(store);
}

static void
test_newer_version(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(f->dir, "newer.sqlite", NULL);
	NbxStore *store;

	raw_exec(path, "CREATE TABLE future (x); PRAGMA user_version = 99;");
	store = nbx_store_open(path, &error);
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_VERSION);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "99"));
	g_assert_nonnull(strstr(error->message, "version 3"));
}

/*
 * A store of schema 1 (before the cancel column and the Idempotency-Key
 * table) is brought to 3
 * when opened, its tasks kept.
 */
static void
test_migration_from_1(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) kept = NULL;
	g_autoptr(NbxTask) keyed = nbx_task_new();
	g_autofree char *digest = NULL;
	gint64 id = insert(f, NBX_TASK_QUEUED, 0, 1);

	nbx_store_close(f->store);
	raw_exec(f->path, "DROP TABLE idempotency_keys; "
			  "ALTER TABLE tasks DROP COLUMN cancel_requested_us; PRAGMA user_version = 1;");
	f->store = nbx_store_open(f->path, &error);
	g_assert_no_error(error);
	kept = nbx_store_task_get(f->store, id, &error);
	g_assert_no_error(error);
	keyed->created_us = g_get_real_time();
	g_assert_true(nbx_store_task_insert_keyed(f->store, keyed, "key", "digest", 0, &error));
	g_assert_no_error(error);
	g_assert_cmpint(nbx_store_task_find_by_key(f->store, "key", 0, &digest, &error), ==,
			keyed->id);
	g_assert_cmpstr(digest, ==, "digest");
}

/*
 * A keyed submission is one transaction: when its second statement fails
 * (here a trigger refuses the key), the task row goes too, the error names
 * the operation and SQLite's words, and the store is usable at once (its
 * lock released, no transaction left open on the connection).
 */
static void
test_keyed_insert_rolls_back(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) keyed = nbx_task_new();
	g_autoptr(NbxTask) plain = nbx_task_new();
	g_autoptr(GPtrArray) tasks = NULL;

	nbx_store_close(f->store);
	raw_exec(f->path, "CREATE TRIGGER refuse_key BEFORE INSERT ON idempotency_keys "
			  "BEGIN SELECT RAISE(ABORT, 'injected refusal'); END;");
	f->store = nbx_store_open(f->path, &error);
	g_assert_no_error(error);

	keyed->created_us = g_get_real_time();
	g_assert_false(nbx_store_task_insert_keyed(f->store, keyed, "key", "digest", 0, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "cannot store a new task"));
	g_assert_nonnull(strstr(error->message, "injected refusal"));
	g_clear_error(&error);

	tasks = nbx_store_task_list(f->store, -1, 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(tasks->len, ==, 0);
	g_clear_pointer(&tasks, g_ptr_array_unref);

	/* A plain insert after it commits for real: a reopened store sees it. */
	g_assert_true(nbx_store_task_insert(f->store, plain, &error));
	g_assert_no_error(error);
	reopen(f);
	tasks = nbx_store_task_list(f->store, -1, 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(tasks->len, ==, 1);
	g_assert_cmpint(((NbxTask *)tasks->pdata[0])->id, ==, plain->id);
}

/* The kinds of @task_id's events, oldest first, joined by spaces. */
static char *
event_kinds(Fixture *f, gint64 task_id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) events = nbx_store_event_list(f->store, task_id, &error);
	g_autoptr(GString) kinds = g_string_new(NULL);

	g_assert_no_error(error);
	for (guint i = 0; i < events->len; i++) {
		NbxStoredEvent *event = events->pdata[i];

		g_string_append_printf(kinds, "%s%s", i > 0 ? " " : "", event->kind);
	}
	return g_string_free(g_steal_pointer(&kinds), FALSE);
}

/*
 * A task write and its event are one commit: each written with the task's
 * id, and an event the store refuses takes the task's write back with it.
 * A step writes only its own columns.
 */
static void
test_task_notes(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = full_task();
	g_autoptr(NbxTask) got = NULL;
	g_autoptr(GPtrArray) events = NULL;
	g_autofree char *kinds = NULL;
	const NbxStoreNote submitted = { NULL, "task.submitted", "priority 5" };
	const NbxStoreNote begin = { "win7", "step.begin", "run" };

	task->state = NBX_TASK_QUEUED;
	g_assert_true(nbx_store_task_insert_noting(f->store, task, "key", "digest", 0, &submitted,
						   &error));
	g_assert_no_error(error);
	events = nbx_store_event_list(f->store, task->id, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(events->len, ==, 1);
	g_assert_cmpstr(((NbxStoredEvent *)events->pdata[0])->message, ==, "priority 5");
	g_assert_null(((NbxStoredEvent *)events->pdata[0])->machine);

	task->state = NBX_TASK_RUNNING;
	g_assert_true(nbx_store_task_update_noting(
		f->store, task, &(NbxStoreNote){ "win7", "task.running", "attempt 1" }, &error));
	g_assert_no_error(error);

	/* The step's columns only: a field changed behind the store's back stays as written. */
	g_free(task->step);
	task->step = g_strdup("run");
	g_free(task->analysis_dir);
	task->analysis_dir = g_strdup("/analyses/9");
	g_free(task->reason);
	task->reason = g_strdup("not for set_step");
	g_assert_true(nbx_store_task_set_step(f->store, task, &begin, &error));
	g_assert_no_error(error);
	got = get(f, task->id);
	g_assert_cmpstr(got->step, ==, "run");
	g_assert_cmpstr(got->analysis_dir, ==, "/analyses/9");
	g_assert_cmpstr(got->reason, !=, "not for set_step");
	g_assert_cmpint(got->state, ==, NBX_TASK_RUNNING);
	kinds = event_kinds(f, task->id);
	g_assert_cmpstr(kinds, ==, "task.submitted task.running step.begin");
	g_clear_pointer(&kinds, g_free);

	/* Events refused: neither the final state nor the step is written. */
	nbx_store_close(f->store);
	raw_exec(f->path, "CREATE TRIGGER refuse_event BEFORE INSERT ON events "
			  "BEGIN SELECT RAISE(ABORT, 'injected refusal'); END;");
	f->store = nbx_store_open(f->path, &error);
	g_assert_no_error(error);
	g_free(task->step);
	task->step = g_strdup("stop");
	g_assert_false(nbx_store_task_set_step(f->store, task, &begin, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "injected refusal"));
	g_clear_error(&error);
	task->state = NBX_TASK_REPORTED;
	g_assert_false(nbx_store_task_update_noting(
		f->store, task, &(NbxStoreNote){ "win7", "task.ended", "reported" }, &error));
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_clear_error(&error);
	g_clear_pointer(&got, nbx_task_free);
	got = get(f, task->id);
	g_assert_cmpint(got->state, ==, NBX_TASK_RUNNING);
	g_assert_cmpstr(got->step, ==, "run");
}

static void
test_not_a_database(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(f->dir, "junk.sqlite", NULL);
	NbxStore *store;

	g_autofree char *junk = g_strnfill(4096, 'x');

	g_assert_true(g_file_set_contents(path, junk, -1, NULL));
	store = nbx_store_open(path, &error);
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, path));
}

/* Someone else's database with our table names is not taken over. */
static void
test_foreign_tables(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(f->dir, "foreign.sqlite", NULL);
	NbxStore *store;

	raw_exec(path, "CREATE TABLE tasks (whatever TEXT);");
	store = nbx_store_open(path, &error);
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "tasks"));
}

static void
test_unwritable_dir(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(f->dir, "locked", NULL);
	g_autofree char *path = g_build_filename(dir, "store.sqlite", NULL);
	NbxStore *store;

	if (geteuid() == 0) {
		g_test_skip("root writes into a read-only directory anyway");
		return;
	}
	g_assert_cmpint(g_mkdir(dir, 0555), ==, 0);
	store = nbx_store_open(path, &error);
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, path));
	/* The cause, not SQLite's errno of its last retry. */
	g_assert_nonnull(strstr(error->message, "Permission denied"));
	g_test_message("%s", error->message);
	g_chmod(dir, 0755);
}

static void
test_read_only_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NbxStore *store;

	if (geteuid() == 0) {
		g_test_skip("root writes into a read-only file anyway");
		return;
	}
	insert(f, NBX_TASK_QUEUED, 0, 1);
	nbx_store_close(f->store);
	f->store = NULL;
	g_assert_cmpint(g_chmod(f->path, 0444), ==, 0);
	store = nbx_store_open(f->path, &error);
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, f->path));
	g_test_message("%s", error->message);
}

static void
test_wal(Fixture *f, gconstpointer data)
{
	g_autofree char *wal = g_strconcat(f->path, "-wal", NULL);
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	insert(f, NBX_TASK_QUEUED, 0, 1);
	g_assert_true(g_file_test(wal, G_FILE_TEST_IS_REGULAR));

	/* The mode is kept in the file: a second connection sees it too. */
	g_assert_cmpint(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), ==,
			SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 0), ==, "wal");
	sqlite3_finalize(stmt);
	g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), ==,
			SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	g_assert_cmpint(sqlite3_column_int(stmt, 0), ==, 3);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void
test_memory_refused(void)
{
	g_autoptr(GError) error = NULL;
	NbxStore *store = nbx_store_open(":memory:", &error);

	/* An in-memory store would lose every task on a crash: no WAL, no store. */
	g_assert_null(store);
	g_assert_error(error, NBX_STORE_ERROR, NBX_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "write-ahead"));
}

#define THREADS 4
#define TASKS_PER_THREAD 200

static gpointer
insert_many(gpointer data)
{
	NbxStore *store = data;
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));

	for (int i = 0; i < TASKS_PER_THREAD; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxTask) task = nbx_task_new();

		task->created_us = g_get_real_time();
		task->reason = g_strdup_printf("thread task %d", i);
		if (!nbx_store_task_insert(store, task, &error))
			g_error("insert %d: %s", i, error->message);
		g_array_append_val(ids, task->id);
	}
	return ids;
}

static void
test_threads(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	g_autoptr(GPtrArray) all = NULL;
	GThread *threads[THREADS];

	for (int i = 0; i < THREADS; i++)
		threads[i] = g_thread_new("inserter", insert_many, f->store);
	for (int i = 0; i < THREADS; i++) {
		GArray *ids = g_thread_join(threads[i]);

		g_assert_cmpuint(ids->len, ==, TASKS_PER_THREAD);
		for (guint j = 0; j < ids->len; j++) {
			gint64 *id = &g_array_index(ids, gint64, j);

			g_assert_false(g_hash_table_contains(seen, id));
			g_hash_table_add(seen, g_memdup2(id, sizeof *id));
		}
		g_array_unref(ids);
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, THREADS * TASKS_PER_THREAD);

	all = nbx_store_task_list(f->store, -1, 0, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, THREADS * TASKS_PER_THREAD);
	for (guint i = 0; i < all->len; i++) {
		NbxTask *task = all->pdata[i];

		g_assert_true(g_hash_table_contains(seen, &task->id));
		g_assert_true(g_str_has_prefix(task->reason, "thread task "));
	}
}

/* --- the task record itself --- */

static void
test_task_state_names(void)
{
	static const char *const names[] = { "queued", "running", "reported", "failed",
					     "cancelled" };

	for (int state = 0; state <= NBX_TASK_STATE_LAST; state++) {
		g_assert_cmpstr(nbx_task_state_name(state), ==, names[state]);
		g_assert_cmpint(nbx_task_state_from_name(names[state]), ==, state);
	}
	g_assert_cmpint(nbx_task_state_from_name("done"), ==, -1);
	g_assert_cmpint(nbx_task_state_from_name("Queued"), ==, -1);
	g_assert_cmpint(nbx_task_state_from_name(""), ==, -1);
	g_assert_cmpint(nbx_task_state_from_name(NULL), ==, -1);
	g_assert_false(nbx_task_state_is_final(NBX_TASK_QUEUED));
	g_assert_false(nbx_task_state_is_final(NBX_TASK_RUNNING));
	g_assert_true(nbx_task_state_is_final(NBX_TASK_REPORTED));
	g_assert_true(nbx_task_state_is_final(NBX_TASK_FAILED));
	g_assert_true(nbx_task_state_is_final(NBX_TASK_CANCELLED));
}

static void
test_task_copy(void)
{
	g_autoptr(NbxTask) task = full_task();
	g_autoptr(NbxTask) copy = nbx_task_copy(task);
	g_autoptr(NbxTask) fresh = nbx_task_new();
	g_autoptr(NbxTask) fresh_copy = nbx_task_copy(fresh);

	assert_same_task(copy, task);
	g_assert_true(copy->tags != task->tags);
	g_assert_true(copy->target != task->target);
	g_assert_nonnull(fresh->tags);
	g_assert_cmpint(fresh->state, ==, NBX_TASK_QUEUED);
	assert_same_task(fresh_copy, fresh);
}

static void
test_task_json(void)
{
	g_autoptr(NbxTask) task = full_task();
	g_autoptr(NbxTask) fresh = nbx_task_new();
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) fresh_node = NULL;
	static const char *const members[] = {
		"id", "state", "priority", "created", "started", "ended", "target", "target_name",
		"machine", "platform", "os_version", "architecture", "tags", "duration",
		"memory_dump", "debug", "options", "assigned_machine", "analysis_dir", "step",
		"reason", "attempts",
	};
	JsonObject *object;
	JsonArray *tags;

	task->id = 7;
	node = nbx_task_to_json(task);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
	object = json_node_get_object(node);
	for (guint i = 0; i < G_N_ELEMENTS(members); i++) {
		if (!json_object_has_member(object, members[i]))
			g_error("member %s is missing", members[i]);
	}
	g_assert_cmpuint(json_object_get_size(object), ==, G_N_ELEMENTS(members));
	g_assert_cmpint(json_object_get_int_member(object, "id"), ==, 7);
	g_assert_cmpstr(json_object_get_string_member(object, "state"), ==, "failed");
	g_assert_cmpint(json_object_get_int_member(object, "priority"), ==, -3);
	/* 1700000000 s is 2023-11-14T22:13:20 UTC. */
	g_assert_cmpstr(json_object_get_string_member(object, "created"), ==,
			"2023-11-14T22:13:20.123456Z");
	/* A whole second still carries its microseconds: one shape for every timestamp. */
	g_assert_cmpstr(json_object_get_string_member(object, "started"), ==,
			"2023-11-14T22:13:21.000000Z");
	g_assert_true(g_str_has_suffix(json_object_get_string_member(object, "ended"), ".000001Z"));
	g_assert_cmpstr(json_object_get_string_member(object, "target_name"), ==,
			"Rechnung März 📄.exe");
	g_assert_cmpint(json_object_get_int_member(object, "duration"), ==, 120);
	g_assert_true(json_object_get_boolean_member(object, "memory_dump"));
	g_assert_false(json_object_get_boolean_member(object, "debug"));
	g_assert_cmpint(json_object_get_int_member(object, "attempts"), ==, 2);
	tags = json_object_get_array_member(object, "tags");
	g_assert_cmpuint(json_array_get_length(tags), ==, 3);
	g_assert_cmpstr(json_array_get_string_element(tags, 2), ==, "ünïcode \"quoted\"");
	g_assert_cmpstr(json_object_get_string_member(
				json_object_get_object_member(
					json_object_get_object_member(object, "options"), "sniffer"),
				"bpf"),
			==, "tcp port 80");

	/* A time GDateTime cannot hold is shown as unknown, not as garbage. */
	fresh->ended_us = G_MAXINT64;
	fresh_node = nbx_task_to_json(fresh);
	object = json_node_get_object(fresh_node);
	g_assert_cmpstr(json_object_get_string_member(object, "state"), ==, "queued");
	g_assert_true(json_object_get_null_member(object, "created"));
	g_assert_true(json_object_get_null_member(object, "started"));
	g_assert_true(json_object_get_null_member(object, "ended"));
	g_assert_true(json_object_get_null_member(object, "target"));
	g_assert_true(json_object_get_null_member(object, "options"));
	g_assert_true(json_object_get_null_member(object, "assigned_machine"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(object, "tags")), ==,
			 0);
}

static void
test_task_json_bad_options(void)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(JsonNode) node = NULL;

	task->id = 3;
	task->options_json = g_strdup("[1, 2]");
	g_test_expect_message("nestbox", G_LOG_LEVEL_WARNING, "task 3: *not a JSON object*");
	node = nbx_task_to_json(task);
	g_test_assert_expected_messages();
	g_assert_true(json_object_get_null_member(json_node_get_object(node), "options"));
}

#define ADD(name, func) g_test_add(name, Fixture, NULL, set_up, func, tear_down)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	ADD("/store/task/round-trip", test_task_round_trip);
	ADD("/store/task/insert-ids", test_task_insert_ids);
	ADD("/store/task/update", test_task_update);
	ADD("/store/task/missing", test_task_missing);
	ADD("/store/task/list", test_task_list);
	ADD("/store/task/list-queued", test_task_list_queued);
	ADD("/store/task/cancel", test_task_cancel);
	ADD("/store/task/queued-reasons", test_task_queued_reasons);
	ADD("/store/open/upgrade-from-v1", test_upgrade_from_v1);
	ADD("/store/machine/ensure", test_machine_ensure);
	ADD("/store/machine/disable", test_machine_disable);
	ADD("/store/machine/missing", test_machine_missing);
	ADD("/store/events", test_events);
	ADD("/store/open/reopen", test_reopen);
	ADD("/store/open/newer-version", test_newer_version);
	ADD("/store/open/migration-from-1", test_migration_from_1);
	ADD("/store/task/keyed-insert-rolls-back", test_keyed_insert_rolls_back);
	ADD("/store/task/notes", test_task_notes);
	ADD("/store/open/not-a-database", test_not_a_database);
	ADD("/store/open/foreign-tables", test_foreign_tables);
	ADD("/store/open/unwritable-dir", test_unwritable_dir);
	ADD("/store/open/read-only-file", test_read_only_file);
	ADD("/store/open/wal", test_wal);
	g_test_add_func("/store/open/memory-refused", test_memory_refused);
	ADD("/store/threads", test_threads);
	g_test_add_func("/task/state-names", test_task_state_names);
	g_test_add_func("/task/copy", test_task_copy);
	g_test_add_func("/task/json", test_task_json);
	g_test_add_func("/task/json-bad-options", test_task_json_bad_options);
	return g_test_run();
}
