/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /metrics: the Prometheus text format. What is counted as it happens
 * comes from metrics.c; what the daemon holds in memory anyway (its
 * machines, its snapshot generations) is read as the scrape comes.
 */
#include <string.h>

#include "control_api_routes.h"
#include "metrics.h"
#include "prometheus_text.h"
#include "retention.h"

/* Every activity a machine may be in, so a gauge at 0 is still written. */
static const char *const activities[] = { "idle", "starting", "running", "stopping", NULL };

static void
count_machine(GHashTable *by_state, const char *state)
{
	gint64 *count = g_hash_table_lookup(by_state, state);

	if (count == NULL) {
		count = g_new0(gint64, 1);
		g_hash_table_insert(by_state, g_strdup(state), count);
	}
	(*count)++;
}

static void
write_machines(NbxControlApi *api, GString *out)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);
	g_autoptr(GHashTable) by_state =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	for (const char *const *state = activities; *state != NULL; state++)
		g_hash_table_insert(by_state, g_strdup(*state), g_new0(gint64, 1));
	g_hash_table_insert(by_state, g_strdup("disabled"), g_new0(gint64, 1));
	for (guint i = 0; i < machines->len; i++) {
		const NbxMachineStatus *machine = g_ptr_array_index(machines, i);

		count_machine(by_state, machine->disabled_reason != NULL ? "disabled"
									 : machine->activity);
	}
	nbx_prometheus_family(out, "nestbox_machines", "gauge",
			      "Machines by what the core does with them (disabled ones apart).");
	nbx_prometheus_table(out, "nestbox_machines", "state", by_state);
}

/* A base's generations: its current one, how many, and each one's users. */
static void
write_base(GString *current, GString *kept, GString *users, JsonObject *base)
{
	const char *name = json_object_get_string_member_with_default(base, "base", "");
	JsonArray *generations = json_object_get_array_member(base, "generations");
	guint count = generations != NULL ? json_array_get_length(generations) : 0;

	nbx_prometheus_sample(current, "nestbox_snapshot_generation",
			      (double)json_object_get_int_member_with_default(base, "current", 0),
			      "base", name, NULL);
	nbx_prometheus_sample(kept, "nestbox_snapshot_generations", count, "base", name, NULL);
	for (guint g = 0; g < count; g++) {
		JsonObject *generation = json_array_get_object_element(generations, g);
		g_autofree char *number = g_strdup_printf(
			"%" G_GINT64_FORMAT,
			json_object_get_int_member_with_default(generation, "generation", 0));

		nbx_prometheus_sample(users, "nestbox_snapshot_generation_users",
				      (double)json_object_get_int_member_with_default(
					      generation, "users", 0),
				      "base", name, "generation", number, NULL);
	}
}

/* Each family's samples together, as the format wants them. */
static void
write_snapshots(NbxControlApi *api, GString *out)
{
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(GString) current = g_string_new(NULL);
	g_autoptr(GString) kept = g_string_new(NULL);
	g_autoptr(GString) users = g_string_new(NULL);
	JsonArray *bases;

	if (api->snapshots == NULL)
		return;
	status = nbx_snapshot_manager_status(api->snapshots);
	bases = json_object_get_array_member(json_node_get_object(status), "bases");
	for (guint i = 0; bases != NULL && i < json_array_get_length(bases); i++)
		write_base(current, kept, users, json_array_get_object_element(bases, i));
	nbx_prometheus_family(out, "nestbox_snapshot_generation", "gauge",
			      "The generation a base's next restore uses (0: as configured).");
	g_string_append_len(out, current->str, current->len);
	nbx_prometheus_family(out, "nestbox_snapshot_generations", "gauge",
			      "Generations a base keeps (generation 0 included).");
	g_string_append_len(out, kept->str, kept->len);
	nbx_prometheus_family(out, "nestbox_snapshot_generation_users", "gauge",
			      "Runs that restored from a generation and have not stopped.");
	g_string_append_len(out, users->str, users->len);
}

/* What retention removed since the daemon started (retention.h). */
static void
write_retention(GString *out)
{
	NbxRetentionCounters counters;

	nbx_retention_counters_get(&counters);
	const struct {
		const char *name;
		guint64 value;
		const char *help;
	} families[] = {
		{ "nestbox_retention_sweeps_total", counters.sweeps,
		  "Retention sweeps that ran to the end." },
		{ "nestbox_retention_analyses_removed_total", counters.analyses_removed,
		  "Ended tasks whose analysis directories retention removed." },
		{ "nestbox_retention_samples_removed_total", counters.samples_removed,
		  "Samples retention removed once no kept task used them." },
		{ "nestbox_retention_generations_removed_total", counters.generations_removed,
		  "Old snapshot generations retention removed." },
		{ "nestbox_retention_removed_bytes_total", counters.bytes_removed,
		  "Disk space retention freed (allocated blocks), in bytes." },
		{ "nestbox_retention_failures_total", counters.failures,
		  "Removals retention could not make (each one is logged)." },
	};

	for (guint i = 0; i < G_N_ELEMENTS(families); i++) {
		nbx_prometheus_family(out, families[i].name, "counter", families[i].help);
		nbx_prometheus_sample(out, families[i].name, (double)families[i].value, NULL);
	}
}

void
nbx_api_metrics(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NbxSchedulerHealth health = { 0 };

	nbx_metrics_write(out);
	write_machines(api, out);
	write_snapshots(api, out);
	write_retention(out);
	nbx_scheduler_health(api->scheduler, &health);
	nbx_prometheus_family(out, "nestbox_uptime_seconds", "gauge",
			      "Seconds since nestboxd started.");
	nbx_prometheus_sample(out, "nestbox_uptime_seconds", (double)health.uptime_s, NULL);
	nbx_api_request_respond_bytes(request, 200, NBX_PROMETHEUS_CONTENT_TYPE,
				      g_string_free_to_bytes(g_steal_pointer(&out)));
}
