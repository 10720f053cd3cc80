/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Auxiliary modules for ordering and lifecycle tests, built several times
 * with a different AUX_NAME and AUX_ORDER each. `start` writes NAME.started
 * in the analysis directory and `stop` NAME.stopped; `fault` makes start
 * fail or hang past its deadline; the per-task option `note` is copied into
 * the report. The required key `must_set` of "aux-strict" shows a module
 * that ships disabled.
 *
 * A hanging start waits at a barrier (barrier.h), not for a time: it writes
 * RUN_DIR/start.barrier and RUN_DIR/start.reached and goes on once the test
 * removes the barrier file; hang_start then removes start.reached as it
 * returns, so the test knows it is over (slow_start's stop tells it).
 */
#include <nestbox/plugin.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "barrier.h"

static const char *const aux_faults[] = { "none", "fail_start", "hang_start", "slow_start",
					  NULL };

static const struct nbx_config_field aux_fields[] = {
	{ .name = "level", .type = NBX_FIELD_INTEGER, .min = 0, .max = 9, .default_value = "3",
	  .doc = "An option of this module" },
	{ .name = "fault", .type = NBX_FIELD_ENUM, .choices = aux_faults, .default_value = "none",
	  .doc = "Fault to inject: fail_start; hang_start or slow_start (until the test removes "
		 "RUN_DIR/start.barrier, whatever the deadline, then fail or succeed)" },
#ifdef AUX_REQUIRED_KEY
	{ .name = "must_set", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED,
	  .doc = "A key without a default that the user must set" },
#endif
	{ 0 },
};
static const struct nbx_config_schema aux_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = aux_fields,
};

/* Per-task options (ABI 1.2): typed and bounded by the core at submission. */
#ifdef AUX_REQUIRED_KEY
static const char *const aux_modes[] = { "fast", "slow", NULL };
#endif
static const struct nbx_config_field aux_task_fields[] = {
	{ .name = "note", .type = NBX_FIELD_STRING, .doc = "Copied into the report" },
#ifdef AUX_REQUIRED_KEY
	{ .name = "depth", .type = NBX_FIELD_INTEGER, .min = 1, .max = 5, .default_value = "2",
	  .doc = "How deep this task goes" },
	{ .name = "mode", .type = NBX_FIELD_ENUM, .choices = aux_modes, .default_value = "fast",
	  .doc = "fast, or slow (which takes a depth of at most 3)" },
#endif
	{ 0 },
};
static const struct nbx_config_schema aux_task_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = aux_task_fields,
};

struct aux {
	const struct nbx_host *host;
};
static struct aux the_aux;

static bool
aux_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	the_aux.host = host;
	*instance = &the_aux;
	return true;
}

/* Hangs until the test says so, then says it is over (see the top of the file). */
static void
hang(struct aux *aux)
{
	char prefix[4096];

	snprintf(prefix, sizeof prefix, "%s/start", aux->host->path(aux->host, NBX_PATH_RUN_DIR));
	barrier_wait(prefix, true);
}

static void
unhang(struct aux *aux)
{
	char reached[4096];

	snprintf(reached, sizeof reached, "%s/start.reached",
		 aux->host->path(aux->host, NBX_PATH_RUN_DIR));
	unlink(reached);
}

static bool
aux_start(void *instance, const struct nbx_aux_context *context, void **analysis_data,
	  const struct nbx_call *call, struct nbx_error *err)
{
	struct aux *aux = instance;
	const char *fault = aux->host->config_string(aux->host, NULL, "fault");
	char path[4096];
	FILE *f;

	if (fault != NULL && strcmp(fault, "fail_start") == 0) {
		aux->host->error_set(aux->host, err, NBX_ERROR_FAILED, "injected start failure");
		return false;
	}
	if (fault != NULL && strcmp(fault, "slow_start") == 0)
		hang(aux);
	if (fault != NULL && strcmp(fault, "hang_start") == 0) {
		hang(aux);
		aux->host->error_set(aux->host, err, NBX_ERROR_FAILED, "hung, then failed");
		unhang(aux);
		return false;
	}
	snprintf(path, sizeof path, "%s/%s.started", context->analysis_dir, AUX_NAME);
	f = fopen(path, "w");
	if (f == NULL) {
		aux->host->error_set(aux->host, err, NBX_ERROR_IO, "cannot write %s", path);
		return false;
	}
	fclose(f);
	return true;
}

static bool
aux_stop(void *instance, const struct nbx_aux_context *context, void *analysis_data,
	 const struct nbx_call *call, struct nbx_error *err)
{
	struct aux *aux = instance;
	const char *note = aux->host->config_string(aux->host, context->task->options, "note");
	char path[4096];
	FILE *f;

	aux->host->report_set_string(aux->host, context->report, "module", AUX_NAME);
#ifdef AUX_REQUIRED_KEY
	{
		/* Typed by the task schema: read as what it is, default included. */
		int64_t depth = 0;
		char text[32];

		if (aux->host->config_integer(aux->host, context->task->options, "depth", &depth)) {
			snprintf(text, sizeof text, "%lld", (long long)depth);
			aux->host->report_set_string(aux->host, context->report, "depth", text);
		}
	}
#endif
	if (note != NULL)
		aux->host->report_set_string(aux->host, context->report, "note", note);
	snprintf(path, sizeof path, "%s/%s.stopped", context->analysis_dir, AUX_NAME);
	f = fopen(path, "w");
	if (f != NULL)
		fclose(f);
	return true;
}

#ifdef AUX_REQUIRED_KEY
/* A rule across two options, which a schema cannot say. */
static bool
aux_check_task(void *instance, const struct nbx_config_node *options, struct nbx_check *check,
	       struct nbx_error *err)
{
	struct aux *aux = instance;
	const char *mode = aux->host->config_string(aux->host, options, "mode");
	int64_t depth = 0;

	aux->host->config_integer(aux->host, options, "depth", &depth);
	if (mode != NULL && strcmp(mode, "slow") == 0 && depth > 3)
		aux->host->check_report(aux->host, check, options, "depth",
					"mode slow takes a depth of at most 3, found %lld",
					(long long)depth);
	return true;
}
#endif

static const struct nbx_auxiliary_ops aux_ops = {
	.struct_size = sizeof(struct nbx_auxiliary_ops),
	.init = aux_init,
	.start = aux_start,
	.stop = aux_stop,
#ifdef AUX_REQUIRED_KEY
	.check_task = aux_check_task,
#endif
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_AUXILIARY, .name = AUX_NAME, .version = "1.0.0",
		  .description = "An auxiliary for ordering tests", .config_schema = &aux_schema,
		  .task_schema = &aux_task_schema, .ops.auxiliary = &aux_ops, .order = AUX_ORDER);
