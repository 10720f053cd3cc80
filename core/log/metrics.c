/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "metrics.h"

#include <string.h>

#include "prometheus_text.h"

/*
 * Seconds. A restore from a memory template takes milliseconds, a cold
 * boot tens of seconds, a run minutes: the buckets span all of them.
 */
static const double step_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
				       2.5,   5,    10,    30,   60,  120,  300, 600 };
#define STEP_BUCKETS G_N_ELEMENTS(step_buckets)

typedef struct {
	guint64 counts[STEP_BUCKETS]; /* not cumulative; summed when written */
	guint64 count;
	double sum;
} Histogram;

/* What a queued task adds to the queue-depth gauges. */
typedef struct {
	NbxTaskState state;
	char *platform; /* "" for any */
	char **tags;
} FollowedTask;

static struct {
	GMutex lock;
	/* Step name -> Histogram. */
	GHashTable *steps;
	/* "plugin\nop" -> guint64 *. */
	GHashTable *op_failures;
	gint64 restores_in_flight;
	/* Tasks by state, and the queued ones by platform and by tag. */
	gint64 tasks[NBX_TASK_STATE_LAST + 1];
	GHashTable *queued_by_platform; /* platform -> gint64 * */
	GHashTable *queued_by_tag;	/* tag -> gint64 * */
	/* Task id -> FollowedTask, for the tasks not yet ended. */
	GHashTable *open_tasks;
	NbxStore *followed;
} metrics;

static void
followed_task_free(gpointer data)
{
	FollowedTask *task = data;

	g_free(task->platform);
	g_strfreev(task->tags);
	g_free(task);
}

/* Lock held. */
static void
ensure_tables(void)
{
	if (metrics.steps != NULL)
		return;
	metrics.steps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	metrics.op_failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	metrics.queued_by_platform = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	metrics.queued_by_tag = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	metrics.open_tasks =
		g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, followed_task_free);
}

void
nbx_metrics_observe_step(const char *step, double seconds)
{
	Histogram *histogram;
	guint bucket = 0;

	g_return_if_fail(step != NULL);
	g_mutex_lock(&metrics.lock);
	ensure_tables();
	histogram = g_hash_table_lookup(metrics.steps, step);
	if (histogram == NULL) {
		histogram = g_new0(Histogram, 1);
		g_hash_table_insert(metrics.steps, g_strdup(step), histogram);
	}
	while (bucket < STEP_BUCKETS && seconds > step_buckets[bucket])
		bucket++;
	if (bucket < STEP_BUCKETS)
		histogram->counts[bucket]++;
	histogram->count++;
	histogram->sum += seconds;
	g_mutex_unlock(&metrics.lock);
}

/* @table's counter for @key, created at 0. Lock held. */
static gint64 *
counter(GHashTable *table, const char *key)
{
	gint64 *value = g_hash_table_lookup(table, key);

	if (value == NULL) {
		value = g_new0(gint64, 1);
		g_hash_table_insert(table, g_strdup(key), value);
	}
	return value;
}

void
nbx_metrics_count_op_failure(const char *plugin, const char *op)
{
	g_autofree char *key = g_strdup_printf("%s\n%s", plugin != NULL ? plugin : "",
					       op != NULL ? op : "");

	g_mutex_lock(&metrics.lock);
	ensure_tables();
	(*counter(metrics.op_failures, key))++;
	g_mutex_unlock(&metrics.lock);
}

void
nbx_metrics_restores_in_flight_add(gint delta)
{
	g_mutex_lock(&metrics.lock);
	metrics.restores_in_flight += delta;
	g_mutex_unlock(&metrics.lock);
}

/* ---- tasks ---- */

/* Adds @sign (+1, -1) of @task to the gauges. Lock held. */
static void
count_task(const FollowedTask *task, gint sign)
{
	metrics.tasks[task->state] += sign;
	if (task->state != NBX_TASK_QUEUED)
		return;
	*counter(metrics.queued_by_platform, task->platform) += sign;
	for (char **tag = task->tags; tag != NULL && *tag != NULL; tag++)
		*counter(metrics.queued_by_tag, *tag) += sign;
}

static FollowedTask *
followed_task_new(const NbxTask *task)
{
	FollowedTask *followed = g_new0(FollowedTask, 1);

	followed->state = task->state;
	followed->platform = g_strdup(task->platform != NULL ? task->platform : "");
	followed->tags = g_strdupv(task->tags);
	return followed;
}

/*
 * A task was written. The ones not yet ended are remembered, so a change
 * moves one count from the old state to the new; a write to a task that
 * had already ended (or was never seen open) changes nothing.
 */
static void
on_task_written(const NbxTask *task, gboolean inserted, gpointer data)
{
	FollowedTask *now = followed_task_new(task);
	FollowedTask *before;

	g_mutex_lock(&metrics.lock);
	ensure_tables();
	before = g_hash_table_lookup(metrics.open_tasks, &task->id);
	if (before != NULL)
		count_task(before, -1);
	if (before != NULL || inserted || !nbx_task_state_is_final(task->state))
		count_task(now, +1);
	if (nbx_task_state_is_final(task->state)) {
		g_hash_table_remove(metrics.open_tasks, &task->id);
		followed_task_free(now);
	} else {
		g_hash_table_insert(metrics.open_tasks, g_memdup2(&task->id, sizeof task->id), now);
	}
	g_mutex_unlock(&metrics.lock);
}

/*
 * The ended tasks by state, and the open ones one by one, merged with what
 * the observer may have counted meanwhile (a task it saw is not counted
 * again). The store is read without the lock: a writer holds the store's
 * lock when it takes ours.
 */
static gboolean
load_tasks(NbxStore *store, GError **error)
{
	for (int state = 0; state <= NBX_TASK_STATE_LAST; state++) {
		g_autoptr(GPtrArray) open = NULL;
		gint64 count = 0;

		if (nbx_task_state_is_final(state)) {
			count = nbx_store_task_count(store, state, error);
			if (count < 0)
				return FALSE;
		} else if ((open = nbx_store_task_list(store, state, G_MAXINT32, 0, error)) ==
			   NULL) {
			return FALSE;
		}
		g_mutex_lock(&metrics.lock);
		metrics.tasks[state] += count;
		for (guint i = 0; open != NULL && i < open->len; i++) {
			const NbxTask *task = g_ptr_array_index(open, i);
			FollowedTask *followed;

			if (g_hash_table_contains(metrics.open_tasks, &task->id))
				continue;
			followed = followed_task_new(task);
			count_task(followed, +1);
			g_hash_table_insert(metrics.open_tasks,
					    g_memdup2(&task->id, sizeof task->id), followed);
		}
		g_mutex_unlock(&metrics.lock);
	}
	return TRUE;
}

/* Lock held. */
static void
forget_tasks(void)
{
	memset(metrics.tasks, 0, sizeof metrics.tasks);
	g_hash_table_remove_all(metrics.queued_by_platform);
	g_hash_table_remove_all(metrics.queued_by_tag);
	g_hash_table_remove_all(metrics.open_tasks);
}

void
nbx_metrics_unfollow_tasks(void)
{
	NbxStore *store;

	g_mutex_lock(&metrics.lock);
	ensure_tables();
	store = g_steal_pointer(&metrics.followed);
	forget_tasks();
	g_mutex_unlock(&metrics.lock);
	if (store != NULL)
		nbx_store_remove_task_observer(store, on_task_written, NULL);
}

gboolean
nbx_metrics_follow_tasks(NbxStore *store, GError **error)
{
	nbx_metrics_unfollow_tasks();
	g_mutex_lock(&metrics.lock);
	metrics.followed = store;
	g_mutex_unlock(&metrics.lock);
	nbx_store_add_task_observer(store, on_task_written, NULL);
	return load_tasks(store, error);
}

/* ---- the text format ---- */

static void
write_tasks(GString *out)
{
	nbx_prometheus_family(out, "nestbox_tasks", "gauge", "Tasks in the store by state.");
	for (int state = 0; state <= NBX_TASK_STATE_LAST; state++)
		nbx_prometheus_sample(out, "nestbox_tasks", (double)metrics.tasks[state], "state",
				      nbx_task_state_name(state), NULL);
	nbx_prometheus_family(out, "nestbox_queue_depth_by_platform", "gauge",
			      "Queued tasks by the platform they ask for (\"\" for any).");
	nbx_prometheus_table(out, "nestbox_queue_depth_by_platform", "platform",
			     metrics.queued_by_platform);
	nbx_prometheus_family(out, "nestbox_queue_depth_by_tag", "gauge",
			      "Queued tasks by each tag they ask for.");
	nbx_prometheus_table(out, "nestbox_queue_depth_by_tag", "tag", metrics.queued_by_tag);
}

static void
write_histogram(GString *out, const char *step, const Histogram *histogram)
{
	guint64 cumulative = 0;

	for (guint b = 0; b < STEP_BUCKETS; b++) {
		char le[G_ASCII_DTOSTR_BUF_SIZE];

		cumulative += histogram->counts[b];
		g_ascii_formatd(le, sizeof le, "%g", step_buckets[b]);
		nbx_prometheus_sample(out, "nestbox_step_duration_seconds_bucket",
				      (double)cumulative, "step", step, "le", le, NULL);
	}
	nbx_prometheus_sample(out, "nestbox_step_duration_seconds_bucket",
			      (double)histogram->count, "step", step, "le", "+Inf", NULL);
	nbx_prometheus_sample(out, "nestbox_step_duration_seconds_sum", histogram->sum, "step",
			      step, NULL);
	nbx_prometheus_sample(out, "nestbox_step_duration_seconds_count", (double)histogram->count,
			      "step", step, NULL);
}

static void
write_steps(GString *out)
{
	g_autoptr(GList) names = g_hash_table_get_keys(metrics.steps);

	nbx_prometheus_family(out, "nestbox_step_duration_seconds", "histogram",
			      "How long the steps of analyses took (restore_start, agent, run, "
			      "stop, ...).");
	names = g_list_sort(names, (GCompareFunc)strcmp);
	for (GList *l = names; l != NULL; l = l->next)
		write_histogram(out, l->data, g_hash_table_lookup(metrics.steps, l->data));
}

static void
write_op_failures(GString *out)
{
	g_autoptr(GList) keys = g_hash_table_get_keys(metrics.op_failures);

	nbx_prometheus_family(out, "nestbox_op_failures_total", "counter",
			      "Plugin ops that failed, by plugin and op.");
	keys = g_list_sort(keys, (GCompareFunc)strcmp);
	for (GList *l = keys; l != NULL; l = l->next) {
		g_auto(GStrv) parts = g_strsplit(l->data, "\n", 2);
		gint64 *count = g_hash_table_lookup(metrics.op_failures, l->data);

		nbx_prometheus_sample(out, "nestbox_op_failures_total", (double)*count, "plugin",
				      parts[0], "op", parts[1], NULL);
	}
}

void
nbx_metrics_write(GString *out)
{
	g_mutex_lock(&metrics.lock);
	ensure_tables();
	write_tasks(out);
	write_steps(out);
	write_op_failures(out);
	nbx_prometheus_family(out, "nestbox_restores_in_flight", "gauge",
			      "Restores running now (at most scheduler.max_concurrent_restores).");
	nbx_prometheus_sample(out, "nestbox_restores_in_flight",
			      (double)metrics.restores_in_flight, NULL);
	g_mutex_unlock(&metrics.lock);
}

void
nbx_metrics_reset(void)
{
	nbx_metrics_unfollow_tasks();
	g_mutex_lock(&metrics.lock);
	g_hash_table_remove_all(metrics.steps);
	g_hash_table_remove_all(metrics.op_failures);
	metrics.restores_in_flight = 0;
	g_mutex_unlock(&metrics.lock);
}
