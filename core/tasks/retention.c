/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "retention.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "daemon_setup.h"
#include "durable_file.h"
#include "structured_log.h"

/* ---- counters ---------------------------------------------------------------- */

static NbxRetentionCounters counters;
G_LOCK_DEFINE_STATIC(counters);

void
nbx_retention_counters_get(NbxRetentionCounters *out)
{
	G_LOCK(counters);
	*out = counters;
	G_UNLOCK(counters);
}

#define COUNT(member, n)                                                                     \
	G_STMT_START                                                                         \
	{                                                                                    \
		G_LOCK(counters);                                                            \
		counters.member += (n);                                                      \
		G_UNLOCK(counters);                                                          \
	}                                                                                    \
	G_STMT_END

void
nbx_retention_policy_clear(NbxRetentionPolicy *policy)
{
	g_clear_pointer(&policy->analyses_dir, g_free);
	g_clear_pointer(&policy->samples_dir, g_free);
}

/* ---- files: sizes and removal, never following a symbolic link ------------------- */

static guint64
allocated_bytes(const struct stat *st)
{
	return (guint64)st->st_blocks * 512;
}

/* Removes @path and all below it; adds what was freed to @freed. */
static gboolean
remove_tree(const char *path, guint64 *freed, GError **error)
{
	struct stat st;

	if (g_lstat(path, &st) != 0)
		return errno == ENOENT ? TRUE : (g_set_error(error, G_FILE_ERROR,
							    g_file_error_from_errno(errno),
							    "cannot read %s: %s", path,
							    g_strerror(errno)),
						FALSE);
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, error);
		const char *name;

		if (dir == NULL)
			return FALSE;
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);

			if (!remove_tree(child, freed, error))
				return FALSE;
		}
	}
	if (g_remove(path) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot remove %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	*freed += allocated_bytes(&st);
	return TRUE;
}

/* ---- the plan: which tasks, in which order -------------------------------------------- */

typedef struct {
	NbxStore *store;
	const NbxRetentionPolicy *policy;
	gint64 now_us;
	const gint *cancel;
	/* Sample path -> tasks still using it (guint in a pointer). */
	GHashTable *sample_users;
	/* What analyses_dir and the samples take now, as far as known. */
	guint64 usage;
	GPtrArray *unused_samples;
} Sweep;

static gint
compare_ended(gconstpointer a, gconstpointer b)
{
	const NbxTask *ta = *(NbxTask *const *)a;
	const NbxTask *tb = *(NbxTask *const *)b;

	if (ta->ended_us != tb->ended_us)
		return ta->ended_us < tb->ended_us ? -1 : 1;
	return ta->id < tb->id ? -1 : ta->id > tb->id;
}

/* A sample retention may remove: a file directly in samples_dir, nothing else. */
static gboolean
is_stored_sample(const Sweep *sweep, const char *target)
{
	g_autofree char *dir = NULL;

	if (target == NULL)
		return FALSE;
	dir = g_path_get_dirname(target);
	return g_strcmp0(dir, sweep->policy->samples_dir) == 0;
}

static void
count_sample_user(Sweep *sweep, const char *target, gint delta)
{
	guint users = GPOINTER_TO_UINT(g_hash_table_lookup(sweep->sample_users, target));

	users = (guint)((gint)users + delta);
	g_hash_table_insert(sweep->sample_users, g_strdup(target), GUINT_TO_POINTER(users));
}

/* Something that ended (or was made) at @time_us is older than retention.days. */
static gboolean
is_aged(const Sweep *sweep, gint64 time_us)
{
	return sweep->policy->max_age_us > 0 && time_us < sweep->now_us - sweep->policy->max_age_us;
}

/* It goes by age, or because the disk is over retention.max_disk_gb. */
static gboolean
is_due(const Sweep *sweep, gint64 time_us)
{
	const NbxRetentionPolicy *policy = sweep->policy;

	if (is_aged(sweep, time_us))
		return TRUE;
	return policy->max_disk_bytes > 0 && sweep->usage > (guint64)policy->max_disk_bytes;
}

/* ---- one task's removal -------------------------------------------------------------------- */

/* analyses_dir/ID and every analyses_dir/ID.attempt-N: never a path the store names. */
static gboolean
remove_analysis_dirs(const Sweep *sweep, const NbxTask *task, guint64 *freed, GError **error)
{
	g_autofree char *own = g_strdup_printf("%" G_GINT64_FORMAT, task->id);
	g_autofree char *attempt_prefix = g_strconcat(own, ".attempt-", NULL);
	g_autoptr(GDir) dir = g_dir_open(sweep->policy->analyses_dir, 0, error);
	const char *name;

	if (dir == NULL)
		return FALSE;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = NULL;

		if (strcmp(name, own) != 0 && !g_str_has_prefix(name, attempt_prefix))
			continue;
		path = g_build_filename(sweep->policy->analyses_dir, name, NULL);
		if (!remove_tree(path, freed, error))
			return FALSE;
	}
	return TRUE;
}

static void
expire_task(Sweep *sweep, NbxTask *task)
{
	NbxLogFields fields = { .task_id = task->id, .machine = task->assigned_machine };
	g_autoptr(GError) error = NULL;
	guint64 freed = 0;
	g_autofree char *sample = g_strdup(task->target);
	gboolean aged = is_aged(sweep, task->ended_us);

	if (!remove_analysis_dirs(sweep, task, &freed, &error)) {
		COUNT(failures, 1);
		COUNT(bytes_removed, freed);
		sweep->usage -= MIN(freed, sweep->usage);
		nbx_warning(&fields, "retention: task %" G_GINT64_FORMAT ": %s", task->id,
			    error->message);
		return;
	}
	g_clear_pointer(&task->analysis_dir, g_free);
	g_clear_pointer(&task->target, g_free);
	if (!nbx_store_task_update(sweep->store, task, &error)) {
		COUNT(failures, 1);
		nbx_warning(&fields, "retention: task %" G_GINT64_FORMAT ": %s", task->id,
			    error->message);
		return;
	}
	nbx_store_event_addf(sweep->store, task->id, task->assigned_machine, "task.expired",
			     "analysis removed (%s), %" G_GUINT64_FORMAT " bytes",
			     aged ? "retention.days" : "retention.max_disk_gb", freed);
	nbx_message(&fields,
		    "retention: task %" G_GINT64_FORMAT ": analysis removed (%s), %" G_GUINT64_FORMAT
		    " bytes",
		    task->id, aged ? "older than retention.days" : "over retention.max_disk_gb",
		    freed);
	COUNT(analyses_removed, 1);
	COUNT(bytes_removed, freed);
	sweep->usage -= MIN(freed, sweep->usage);
	if (is_stored_sample(sweep, sample)) {
		count_sample_user(sweep, sample, -1);
		if (GPOINTER_TO_UINT(g_hash_table_lookup(sweep->sample_users, sample)) == 0) {
			/* Counted as freed now; the main thread removes it. */
			sweep->usage -= MIN(nbx_tree_bytes(sample), sweep->usage);
			g_ptr_array_add(sweep->unused_samples, g_steal_pointer(&sample));
		}
	}
}

/* ---- old snapshot generations --------------------------------------------------------------- */

static void
expire_generation(Sweep *sweep, const NbxSnapshotOldGeneration *old)
{
	g_autoptr(GError) error = NULL;
	gboolean aged = is_aged(sweep, old->created_us);

	if (!nbx_snapshot_manager_remove_old(sweep->policy->snapshots, old, &error)) {
		/* In use or busy now: the next sweep sees it again. */
		if (g_error_matches(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_CONFLICT)) {
			nbx_message(NULL, "retention: %s", error->message);
			return;
		}
		COUNT(failures, 1);
		nbx_warning(NULL,
			    "retention: snapshot base %s: generation %" G_GINT64_FORMAT ": %s",
			    old->base, old->generation, error->message);
		return;
	}
	nbx_message(NULL,
		    "retention: snapshot base %s: old generation %" G_GINT64_FORMAT
		    " removed (%s), %" G_GUINT64_FORMAT " bytes",
		    old->base, old->generation,
		    aged ? "older than retention.days" : "over retention.max_disk_gb", old->bytes);
	COUNT(generations_removed, 1);
	COUNT(bytes_removed, old->bytes);
	sweep->usage -= MIN(old->bytes, sweep->usage);
}

/* Oldest first; each one is due by age on its own, or while the disk is over the limit. */
static void
expire_generations(Sweep *sweep, GPtrArray *old)
{
	for (guint i = 0; i < old->len && !g_atomic_int_get(sweep->cancel); i++) {
		const NbxSnapshotOldGeneration *generation = g_ptr_array_index(old, i);

		if (!is_due(sweep, generation->created_us))
			break;
		expire_generation(sweep, generation);
	}
}

/* ---- the sweep ---------------------------------------------------------------------------- */

/* The ended tasks that still have something to remove, oldest first; counts sample users. */
static GPtrArray *
plan(Sweep *sweep, GPtrArray *tasks)
{
	GPtrArray *ended = g_ptr_array_new();

	for (guint i = 0; i < tasks->len; i++) {
		NbxTask *task = g_ptr_array_index(tasks, i);

		if (is_stored_sample(sweep, task->target))
			count_sample_user(sweep, task->target, +1);
		if (nbx_task_state_is_final(task->state) &&
		    (task->analysis_dir != NULL || task->target != NULL))
			g_ptr_array_add(ended, task);
	}
	g_ptr_array_sort(ended, compare_ended);
	return ended;
}

GPtrArray *
nbx_retention_sweep_analyses(NbxStore *store, const NbxRetentionPolicy *policy, gint64 now_us,
			     const gint *cancel, GError **error)
{
	g_autoptr(GPtrArray) tasks = nbx_store_task_list(store, -1, 0, 0, error);
	g_autoptr(GHashTable) users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) ended = NULL;
	g_autoptr(GPtrArray) old = NULL;
	Sweep sweep = {
		.store = store,
		.policy = policy,
		.now_us = now_us,
		.cancel = cancel,
		.sample_users = users,
		.unused_samples = g_ptr_array_new_with_free_func(g_free),
	};

	if (tasks == NULL) {
		g_ptr_array_unref(sweep.unused_samples);
		return NULL;
	}
	if (policy->snapshots != NULL)
		old = nbx_snapshot_manager_list_old(policy->snapshots);
	if (policy->max_disk_bytes > 0)
		sweep.usage = nbx_tree_bytes(policy->analyses_dir) +
			      nbx_tree_bytes(policy->samples_dir);
	for (guint i = 0; old != NULL && i < old->len; i++)
		sweep.usage += ((NbxSnapshotOldGeneration *)g_ptr_array_index(old, i))->bytes;
	if (old != NULL)
		expire_generations(&sweep, old);
	ended = plan(&sweep, tasks);
	for (guint i = 0; i < ended->len && !g_atomic_int_get(cancel); i++) {
		NbxTask *task = g_ptr_array_index(ended, i);

		/* Oldest first: once one is not due, none after it is. */
		if (!is_due(&sweep, task->ended_us))
			break;
		expire_task(&sweep, task);
	}
	return sweep.unused_samples;
}

static gboolean
sample_in_use(GPtrArray *tasks, const char *sample)
{
	for (guint i = 0; i < tasks->len; i++) {
		const NbxTask *task = g_ptr_array_index(tasks, i);

		if (g_strcmp0(task->target, sample) == 0)
			return TRUE;
	}
	return FALSE;
}

void
nbx_retention_remove_samples(NbxStore *store, GPtrArray *samples)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) tasks = NULL;

	if (samples->len == 0)
		return;
	/* Submissions run on this thread: what is unused now stays unused until we return. */
	tasks = nbx_store_task_list(store, -1, 0, 0, &error);
	if (tasks == NULL) {
		COUNT(failures, 1);
		nbx_warning(NULL, "retention: samples kept: %s", error->message);
		return;
	}
	for (guint i = 0; i < samples->len; i++) {
		const char *sample = g_ptr_array_index(samples, i);
		guint64 freed = 0;

		g_clear_error(&error);
		if (sample_in_use(tasks, sample))
			continue;
		if (!remove_tree(sample, &freed, &error)) {
			COUNT(failures, 1);
			nbx_warning(NULL, "retention: %s", error->message);
			continue;
		}
		COUNT(samples_removed, 1);
		COUNT(bytes_removed, freed);
		nbx_message(NULL, "retention: sample %s removed: no kept task uses it", sample);
	}
}

/* ---- the daemon's sweeps ------------------------------------------------------------------ */

struct _NbxRetention {
	NbxScheduler *scheduler;
	guint timer;
	gint cancel;
	/* The sweep in progress: its thread, policy and result (under lock once started). */
	GThread *thread;
	NbxRetentionPolicy policy;
	GMutex lock;
	GPtrArray *unused_samples;
	GError *error;
	guint done_source;
};

static void on_sweep_done(gpointer data);

static gpointer
sweep_thread(gpointer data)
{
	NbxRetention *retention = data;
	GError *error = NULL;
	GPtrArray *unused = nbx_retention_sweep_analyses(
		nbx_scheduler_get_store(retention->scheduler), &retention->policy,
		g_get_real_time(), &retention->cancel, &error);

	g_mutex_lock(&retention->lock);
	retention->unused_samples = unused;
	retention->error = error;
	retention->done_source = g_idle_add_once(on_sweep_done, retention);
	g_mutex_unlock(&retention->lock);
	return NULL;
}

/* Joins a finished sweep; with @remove_samples, its samples go too. */
static void
finish_sweep(NbxRetention *retention, gboolean remove_samples)
{
	g_autoptr(GPtrArray) unused = NULL;
	g_autoptr(GError) error = NULL;

	g_thread_join(g_steal_pointer(&retention->thread));
	g_mutex_lock(&retention->lock);
	unused = g_steal_pointer(&retention->unused_samples);
	error = g_steal_pointer(&retention->error);
	g_clear_handle_id(&retention->done_source, g_source_remove);
	g_mutex_unlock(&retention->lock);
	nbx_retention_policy_clear(&retention->policy);
	if (error != NULL) {
		COUNT(failures, 1);
		nbx_warning(NULL, "retention: sweep failed: %s", error->message);
		return;
	}
	if (!remove_samples)
		return;
	nbx_retention_remove_samples(nbx_scheduler_get_store(retention->scheduler), unused);
	COUNT(sweeps, 1);
	nbx_debug(NULL, "retention: sweep done");
}

/* The retention settings in effect now (a reload changes them). */
static const NbxSettings *
settings_now(NbxRetention *retention)
{
	return &nbx_scheduler_get_setup(retention->scheduler)->config->settings;
}

static gboolean on_timer(gpointer data);

/* The next sweep in retention.interval minutes, as the configuration says now. */
static void
schedule_next(NbxRetention *retention)
{
	guint minutes = (guint)settings_now(retention)->retention.interval;

	retention->timer = g_timeout_add_seconds(minutes * 60, on_timer, retention);
}

/* A sweep by the configuration in effect now (a reload changes the next one). */
static gboolean
on_timer(gpointer data)
{
	NbxRetention *retention = data;
	const NbxConfig *config = nbx_scheduler_get_setup(retention->scheduler)->config;
	gint64 days = settings_now(retention)->retention.days;
	gint64 max_gb = settings_now(retention)->retention.max_disk_gb;

	retention->timer = 0;
	if (days == 0 && max_gb == 0) {
		schedule_next(retention);
		return G_SOURCE_REMOVE;
	}
	retention->policy = (NbxRetentionPolicy){
		.max_age_us = days * 86400 * G_USEC_PER_SEC,
		.max_disk_bytes = max_gb * 1000 * 1000 * 1000,
		.analyses_dir = g_strdup(config->analyses_dir),
		.samples_dir = g_strdup(nbx_scheduler_get_samples_dir(retention->scheduler)),
		.snapshots = nbx_scheduler_get_snapshots(retention->scheduler),
	};
	retention->thread = g_thread_new("nbx-retention", sweep_thread, retention);
	return G_SOURCE_REMOVE;
}

/* Main thread: the sweep's samples, then the next sweep. */
static void
on_sweep_done(gpointer data)
{
	NbxRetention *retention = data;

	g_mutex_lock(&retention->lock);
	retention->done_source = 0;
	g_mutex_unlock(&retention->lock);
	finish_sweep(retention, TRUE);
	schedule_next(retention);
}

NbxRetention *
nbx_retention_start(NbxScheduler *scheduler)
{
	NbxRetention *retention = g_new0(NbxRetention, 1);

	retention->scheduler = scheduler;
	g_mutex_init(&retention->lock);
	retention->timer = g_idle_add(on_timer, retention);
	return retention;
}

void
nbx_retention_stop(NbxRetention *retention)
{
	if (retention == NULL)
		return;
	g_clear_handle_id(&retention->timer, g_source_remove);
	g_atomic_int_set(&retention->cancel, 1);
	/* Its samples stay: the next start's first sweep finds them again. */
	if (retention->thread != NULL)
		finish_sweep(retention, FALSE);
	g_mutex_clear(&retention->lock);
	g_free(retention);
}
