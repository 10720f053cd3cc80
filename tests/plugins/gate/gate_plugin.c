/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An auxiliary whose loading waits at a barrier: with NBX_TEST_LOAD_GATE=PATH
 * set, its constructor creates PATH.reached, then waits (at most 10 minutes)
 * until PATH exists. A configuration that names its directory takes as long
 * to read as the test wants, as one on a hung disk would, so a test can show
 * that nestboxd answers its clients meanwhile. Without the variable it is a
 * plain auxiliary that does nothing.
 */
#include <nestbox/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((constructor)) static void
wait_at_gate(void)
{
	const char *gate = getenv("NBX_TEST_LOAD_GATE");
	struct timespec pause = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
	char reached[4096];
	FILE *f;

	if (gate == NULL || *gate == '\0')
		return;
	snprintf(reached, sizeof reached, "%s.reached", gate);
	f = fopen(reached, "w");
	if (f != NULL)
		fclose(f);
	for (int i = 0; i < 30000 && access(gate, F_OK) != 0; i++)
		nanosleep(&pause, NULL);
}

static bool
gate_start(void *instance, const struct nbx_aux_context *context, void **analysis_data,
	   const struct nbx_call *call, struct nbx_error *err)
{
	return true;
}

static bool
gate_stop(void *instance, const struct nbx_aux_context *context, void *analysis_data,
	  const struct nbx_call *call, struct nbx_error *err)
{
	return true;
}

static const struct nbx_auxiliary_ops gate_ops = {
	.struct_size = sizeof(struct nbx_auxiliary_ops),
	.start = gate_start,
	.stop = gate_stop,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_AUXILIARY, .name = "gate", .version = "1.0.0",
		  .description = "An auxiliary whose loading waits at a barrier (tests)",
		  .ops.auxiliary = &gate_ops);
