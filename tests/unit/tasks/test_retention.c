/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Retention against a real task store and real files: by age, by size
 * (oldest first), never a queued or running task's analysis or sample,
 * never a path the store names outside analyses_dir or samples_dir, a
 * sample kept when a submission reused it between the two halves of a
 * sweep, old snapshot generations of a real snapshot manager (never the
 * current one, one a run uses, or one of a busy base), and the counters
 * metrics read.
 */
#include <glib.h>
#include <glib/gstdio.h>

#include "retention.h"
#include "snapshot_manager_private.h"
#include "store.h"
#include "test_support.h"

#define DAY_US ((gint64)86400 * G_USEC_PER_SEC)
#define NOW_US ((gint64)2000000000 * G_USEC_PER_SEC)

typedef struct {
	char *dir;
	NbxStore *store;
	NbxRetentionPolicy policy;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *db = NULL;

	f->dir = test_dir_new();
	db = g_build_filename(f->dir, "nestbox.sqlite", NULL);
	f->store = nbx_store_open(db, &error);
	g_assert_no_error(error);
	f->policy.analyses_dir = g_build_filename(f->dir, "analyses", NULL);
	f->policy.samples_dir = g_build_filename(f->dir, "samples", NULL);
	g_assert_cmpint(g_mkdir(f->policy.analyses_dir, 0750), ==, 0);
	g_assert_cmpint(g_mkdir(f->policy.samples_dir, 0750), ==, 0);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	nbx_store_close(f->store);
	test_dir_remove(f->dir);
	nbx_retention_policy_clear(&f->policy);
	g_free(f->dir);
}

/* @bytes of data at DIR/RELATIVE (0: a short text). */
static void
write_bytes(const char *dir, const char *relative, gsize bytes)
{
	g_autofree char *data = g_malloc0(MAX(bytes, 1));
	g_autofree char *path = g_build_filename(dir, relative, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	if (bytes == 0) {
		test_write(dir, relative, "x");
		return;
	}
	g_assert_cmpint(g_mkdir_with_parents(parent, 0750), ==, 0);
	g_file_set_contents(path, data, (gssize)bytes, &error);
	g_assert_no_error(error);
}

/* A stored task in @state that ended @age_days ago, with its analysis directory and sample. */
static gint64
add_task(Fixture *f, NbxTaskState state, gint64 age_days, const char *sample, gsize bytes)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *relative = NULL;

	task->state = state;
	task->created_us = NOW_US - age_days * DAY_US - 10;
	task->ended_us = nbx_task_state_is_final(state) ? NOW_US - age_days * DAY_US : 0;
	task->assigned_machine = g_strdup("win10");
	if (sample != NULL) {
		task->target = g_build_filename(f->policy.samples_dir, sample, NULL);
		if (!g_file_test(task->target, G_FILE_TEST_EXISTS))
			write_bytes(f->policy.samples_dir, sample, 0);
	}
	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	g_assert_no_error(error);
	relative = g_strdup_printf("%" G_GINT64_FORMAT "/report.json", task->id);
	write_bytes(f->policy.analyses_dir, relative, bytes);
	task->analysis_dir = g_build_filename(f->policy.analyses_dir, relative, NULL);
	*strrchr(task->analysis_dir, '/') = '\0';
	g_assert_true(nbx_store_task_update(f->store, task, &error));
	return task->id;
}

static gboolean
analysis_exists(Fixture *f, gint64 id)
{
	g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT, id);
	g_autofree char *path = g_build_filename(f->policy.analyses_dir, name, NULL);

	return g_file_test(path, G_FILE_TEST_IS_DIR);
}

static gboolean
sample_exists(Fixture *f, const char *sample)
{
	g_autofree char *path = g_build_filename(f->policy.samples_dir, sample, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* Both halves of a sweep, as the daemon runs them. */
static void
sweep(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	gint cancel = 0;
	g_autoptr(GPtrArray) samples =
		nbx_retention_sweep_analyses(f->store, &f->policy, NOW_US, &cancel, &error);

	g_assert_no_error(error);
	g_assert_nonnull(samples);
	nbx_retention_remove_samples(f->store, samples);
}

static void
test_by_age(Fixture *f, gconstpointer data)
{
	NbxRetentionCounters before, after;
	gint64 old = add_task(f, NBX_TASK_REPORTED, 10, "aaaa", 0);
	gint64 recent = add_task(f, NBX_TASK_FAILED, 1, "bbbb", 0);
	gint64 running = add_task(f, NBX_TASK_RUNNING, 30, "cccc", 0);
	gint64 queued = add_task(f, NBX_TASK_QUEUED, 30, NULL, 0);
	g_autofree char *aside = g_strdup_printf("%" G_GINT64_FORMAT ".attempt-1/x", old);
	g_autofree char *queued_aside = g_strdup_printf("%" G_GINT64_FORMAT ".attempt-1/x", queued);
	g_autoptr(NbxTask) expired = NULL;
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GError) error = NULL;

	test_write(f->policy.analyses_dir, aside, "an earlier attempt");
	test_write(f->policy.analyses_dir, queued_aside, "kept while the task is queued");
	nbx_retention_counters_get(&before);
	f->policy.max_age_us = 5 * DAY_US;
	sweep(f);

	g_assert_false(analysis_exists(f, old));
	{
		g_autofree char *path = g_build_filename(f->policy.analyses_dir, aside, NULL);

		g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	}
	g_assert_false(sample_exists(f, "aaaa"));
	g_assert_true(analysis_exists(f, recent) && sample_exists(f, "bbbb"));
	g_assert_true(analysis_exists(f, running) && sample_exists(f, "cccc"));
	g_assert_true(analysis_exists(f, queued));
	{
		g_autofree char *path = g_build_filename(f->policy.analyses_dir, queued_aside, NULL);

		g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
	}
	/* The task stays, saying its analysis is gone. */
	expired = nbx_store_task_get(f->store, old, &error);
	g_assert_no_error(error);
	g_assert_null(expired->analysis_dir);
	g_assert_null(expired->target);
	g_assert_cmpint(expired->state, ==, NBX_TASK_REPORTED);
	events = nbx_store_event_list(f->store, old, &error);
	g_assert_cmpuint(events->len, ==, 1);
	g_assert_cmpstr(((NbxStoredEvent *)g_ptr_array_index(events, 0))->kind, ==,
			"task.expired");
	nbx_retention_counters_get(&after);
	g_assert_cmpuint(after.analyses_removed - before.analyses_removed, ==, 1);
	g_assert_cmpuint(after.samples_removed - before.samples_removed, ==, 1);
	g_assert_cmpuint(after.bytes_removed, >, before.bytes_removed);
	g_assert_cmpuint(after.failures, ==, before.failures);

	/* A second sweep finds nothing more to do. */
	sweep(f);
	nbx_retention_counters_get(&before);
	g_assert_cmpuint(before.analyses_removed, ==, after.analyses_removed);
}

static void
test_by_size_oldest_first(Fixture *f, gconstpointer data)
{
	const gsize mib = 1024 * 1024;
	gint64 oldest = add_task(f, NBX_TASK_REPORTED, 4, NULL, 3 * mib);
	gint64 running = add_task(f, NBX_TASK_RUNNING, 9, NULL, 3 * mib);
	gint64 older = add_task(f, NBX_TASK_CANCELLED, 3, NULL, 3 * mib);
	gint64 newer = add_task(f, NBX_TASK_REPORTED, 2, NULL, 3 * mib);
	gint64 newest = add_task(f, NBX_TASK_REPORTED, 1, NULL, 3 * mib);

	/* 15 MiB held; 10 MiB allowed: the two oldest ended ones go, never the running one. */
	f->policy.max_disk_bytes = 10 * mib;
	sweep(f);
	g_assert_false(analysis_exists(f, oldest));
	g_assert_false(analysis_exists(f, older));
	g_assert_true(analysis_exists(f, running));
	g_assert_true(analysis_exists(f, newer));
	g_assert_true(analysis_exists(f, newest));

	/* Over the limit with only the running task's: it stays, whatever the limit. */
	f->policy.max_disk_bytes = 1;
	sweep(f);
	g_assert_false(analysis_exists(f, newer) || analysis_exists(f, newest));
	g_assert_true(analysis_exists(f, running));
}

/* The store's paths are not trusted: only analyses_dir/ID* and samples_dir/NAME go. */
static void
test_paths_outside_are_kept(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxTask) task = nbx_task_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *victim = g_build_filename(f->dir, "victim", NULL);
	g_autofree char *victim_file = g_build_filename(victim, "keep", NULL);

	test_write(f->dir, "victim/keep", "not retention's");
	task->state = NBX_TASK_REPORTED;
	task->ended_us = NOW_US - 100 * DAY_US;
	task->analysis_dir = g_strdup(victim);
	task->target = g_strdup(victim_file);
	g_assert_true(nbx_store_task_insert(f->store, task, &error));
	f->policy.max_age_us = DAY_US;
	sweep(f);
	g_assert_true(g_file_test(victim_file, G_FILE_TEST_EXISTS));
}

/* A submission reused the sample after the first half: the second half keeps it. */
static void
test_sample_reused_meanwhile(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) samples = NULL;
	g_autoptr(NbxTask) fresh = nbx_task_new();
	gint cancel = 0;

	add_task(f, NBX_TASK_REPORTED, 10, "dddd", 0);
	f->policy.max_age_us = DAY_US;
	samples = nbx_retention_sweep_analyses(f->store, &f->policy, NOW_US, &cancel, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(samples->len, ==, 1);
	fresh->target = g_build_filename(f->policy.samples_dir, "dddd", NULL);
	g_assert_true(nbx_store_task_insert(f->store, fresh, &error));
	nbx_retention_remove_samples(f->store, samples);
	g_assert_true(sample_exists(f, "dddd"));
}

/* ---- old snapshot generations ---- */

static NbxSetup *
generations_setup(gpointer data)
{
	return data;
}

/* Makes gen-@generation of @base current, made @age_days ago, with 64 KiB of disk. */
static void
add_generation(NbxSnapshotManager *manager, SnapshotBase *base, gint64 generation,
	       gint64 age_days)
{
	g_autofree char *staged_name = g_strdup_printf(".commit-%" G_GINT64_FORMAT, generation);
	g_autofree char *staged = g_build_filename(base->dir, staged_name, NULL);
	g_autofree char *created = nbx_format_time_us(NOW_US - age_days * DAY_US);
	g_autoptr(JsonObject) meta = json_object_new();
	g_autoptr(GError) error = NULL;

	write_bytes(staged, "disk.img", 64 * 1024);
	json_object_set_string_member(meta, "origin", "commit");
	json_object_set_string_member(meta, "created", created);
	g_assert_true(nbx_snapshot_publish(manager, base, staged, generation, meta, &error));
	g_assert_no_error(error);
}

static gboolean
generation_exists(SnapshotBase *base, gint64 generation)
{
	g_autofree char *dir = nbx_snapshot_generation_dir(base, generation);

	return g_file_test(dir, G_FILE_TEST_IS_DIR);
}

/*
 * Generations 1 (a run restored from it, 10 days old), 2 (8 days), 3 (1
 * day) and 4 (current, 20 days): by age only 2 goes, over the size limit 3
 * too; 1 goes once its run ended, but not while an operator call holds its
 * base (the run's end could not remove it then either).
 */
static void
test_old_generations(Fixture *f, gconstpointer data)
{
	g_autoptr(NbxMachinePool) pool = nbx_machine_pool_new();
	NbxSetup setup = { .pool = pool };
	NbxSnapshotHost host = { .get_setup = generations_setup, .user_data = &setup };
	g_autoptr(GError) error = NULL;
	NbxSnapshotManager *manager = nbx_snapshot_manager_new(f->dir, f->store, &host, &error);
	NbxRetentionCounters before, after;
	SnapshotBase *base;
	g_autofree char *dir = NULL;
	gint64 used;

	g_assert_no_error(error);
	nbx_retention_counters_get(&before);
	base = nbx_snapshot_base_claim(manager, "vm0", &error);
	g_assert_nonnull(base);
	add_generation(manager, base, 1, 10);
	nbx_snapshot_base_unclaim(manager, base);
	g_assert_true(nbx_snapshot_use_current(manager, "vm0", FALSE, &used, &dir, &error));
	g_assert_cmpint(used, ==, 1);
	g_assert_nonnull(nbx_snapshot_base_claim(manager, "vm0", &error));
	add_generation(manager, base, 2, 8);
	add_generation(manager, base, 3, 1);
	add_generation(manager, base, 4, 20);
	nbx_snapshot_base_unclaim(manager, base);
	f->policy.snapshots = manager;

	f->policy.max_age_us = 5 * DAY_US;
	sweep(f);
	g_assert_true(generation_exists(base, 1));
	g_assert_false(generation_exists(base, 2));
	g_assert_true(generation_exists(base, 3));
	g_assert_true(generation_exists(base, 4));

	f->policy.max_disk_bytes = 1;
	sweep(f);
	g_assert_false(generation_exists(base, 3));
	g_assert_true(generation_exists(base, 1) && generation_exists(base, 4));

	/* The run ends while an operator call holds the base: 1 stays; retention waits too. */
	g_assert_nonnull(nbx_snapshot_base_claim(manager, "vm0", &error));
	nbx_snapshot_unuse_generation(manager, "vm0", used);
	sweep(f);
	g_assert_true(generation_exists(base, 1));
	nbx_snapshot_base_unclaim(manager, base);
	sweep(f);
	g_assert_false(generation_exists(base, 1));
	g_assert_true(generation_exists(base, 4));

	nbx_retention_counters_get(&after);
	g_assert_cmpuint(after.generations_removed - before.generations_removed, ==, 3);
	g_assert_cmpuint(after.bytes_removed - before.bytes_removed, >=, 3 * 64 * 1024);
	g_assert_cmpuint(after.failures, ==, before.failures);
	nbx_snapshot_manager_free(manager);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/retention/by-age", test_by_age);
	ADD("/retention/by-size-oldest-first", test_by_size_oldest_first);
	ADD("/retention/paths-outside-are-kept", test_paths_outside_are_kept);
	ADD("/retention/sample-reused-meanwhile", test_sample_reused_meanwhile);
	ADD("/retention/old-generations", test_old_generations);
	return g_test_run();
}
