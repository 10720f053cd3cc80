/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/auxiliary.h - the contract of an auxiliary plugin.
 *
 * An auxiliary runs around every analysis (a network sniffer, a screenshot
 * taker, ...). For each analysis the core calls `start` BEFORE the machine
 * is restored and `stop` AFTER the machine is down, so nothing the guest
 * does is missed. Auxiliaries start in ascending `order` (config key
 * `order`, else the descriptor's `order`, else 1), ties broken by name, and
 * stop in the reverse order.
 *
 * A `start` that fails is recorded in the report and the analysis goes on
 * without that auxiliary, unless its config group says `required = true`:
 * then the analysis fails before the machine is restored.
 *
 * Required ops: `start`, `stop`.
 *
 * `stop` is called exactly once for every `start` that succeeded, whatever
 * happened to the analysis in between. (A `start` that overruns its
 * deadline is given up on and the analysis goes on without the module; if
 * it then returns true after all, `stop` follows at once.)
 *
 * Threading: the rules are in ONE place, plugin.h ("Threading contract").
 * Several analyses run at the same time, so keep per-analysis state in
 * *@analysis_data, not in the instance.
 */
#ifndef NESTBOX_AUXILIARY_H
#define NESTBOX_AUXILIARY_H

#include <stdbool.h>
#include <stdint.h>

#include <nestbox/error.h>
#include <nestbox/host.h>
#include <nestbox/machinery.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct nbx_task - the task an analysis runs.
 * @struct_size: sizeof(struct nbx_task) in the core.
 * @id:          the task's id, > 0.
 * @target:      path of the file to analyse, or NULL for none.
 * @duration_s:  how long the guest runs, in seconds.
 * @debug:       the submitter asked for a debug run (e.g. capture the
 *               agent's own traffic too).
 * @options:     this plugin's per-task options, read with the host's config
 *               look-ups, or NULL when none were given. From ABI 1.2 a
 *               plugin declares them with `task_schema` (plugin.h): they
 *               are then validated when the task is SUBMITTED (a bad value
 *               is refused with 400 naming `options.PLUGIN.KEY`), typed,
 *               and their defaults filled in, so @options is never NULL for
 *               such a plugin. Without `task_schema` values are strings.
 * @target_name: (ABI 1.2) the file's name as submitted (no directory part,
 *               possibly any UTF-8), or NULL.
 */
struct nbx_task {
	uint32_t struct_size;
	int64_t id;
	const char *target;
	int64_t duration_s;
	bool debug;
	const struct nbx_config_node *options;
	/* ---- ABI 1.2 ---- */
	const char *target_name;
};

/**
 * struct nbx_aux_context - one analysis, as an auxiliary sees it.
 * @struct_size:  sizeof(struct nbx_aux_context) in the core.
 * @analysis_dir: the analysis directory; exists; write results here.
 * @task:         the task; never NULL.
 * @machine:      the machine it runs on; never NULL.
 * @report:       this plugin's part of the report, for host->report_*().
 * @result_server: (ABI 1.2) "ADDRESS:PORT" where guests reach the core's
 *                result server (nestbox.conf `result_server`), or NULL.
 *
 * Owned by the core, read-only, valid from `start` until `stop` returns.
 * The plugin's own settings are its config root (node NULL). The machine's
 * network segment, when it has one, is `machine->network_namespace`: a
 * capture or rule for this analysis is made there.
 */
struct nbx_aux_context {
	uint32_t struct_size;
	const char *analysis_dir;
	const struct nbx_task *task;
	const struct nbx_machine *machine;
	struct nbx_report *report;
	/* ---- ABI 1.2 ---- */
	const char *result_server;
};

/** Whether the core's @ctx (aux or guest context, task) has member @member. */
#define NBX_STRUCT_HAS(ptr, type, member)                                                     \
	((ptr)->struct_size >= offsetof(type, member) + sizeof((ptr)->member))

/** struct nbx_auxiliary_ops - the ops table of an auxiliary. */
struct nbx_auxiliary_ops {
	/** sizeof(struct nbx_auxiliary_ops) as the plugin was compiled. */
	uint32_t struct_size;
	/** No capability is defined in ABI 1.0; must be 0. */
	uint32_t capabilities;

	/** init - (optional) as in `struct nbx_machinery_ops`. */
	bool (*init)(const struct nbx_host *host, void **instance, struct nbx_error *err);

	/** shutdown - (optional) release the instance; no analysis is running. */
	void (*shutdown)(void *instance);

	/** check - (optional) checks the schema cannot express; see machinery.h. */
	bool (*check)(void *instance, struct nbx_check *check, struct nbx_error *err);

	/**
	 * start - (required) begin working for one analysis, before its
	 * machine is restored. Store per-analysis state in *@analysis_data.
	 * On failure, clean up everything this call made: `stop` is not called.
	 */
	bool (*start)(void *instance, const struct nbx_aux_context *context,
		      void **analysis_data, const struct nbx_call *call, struct nbx_error *err);

	/**
	 * stop - (required) finish, after the machine is down: flush and close
	 * what @start opened, record results with host->report_*(), free
	 * @analysis_data. Called even when the analysis failed. Returning
	 * false records the failure in the report; @analysis_data must be
	 * freed either way.
	 */
	bool (*stop)(void *instance, const struct nbx_aux_context *context, void *analysis_data,
		     const struct nbx_call *call, struct nbx_error *err);

	/* ---- ABI 1.2 ---- */

	/**
	 * check_task - (optional) checks of a task's options that the
	 * `task_schema` cannot express (a route this host has not configured,
	 * a filter that does not compile). Called when a task is SUBMITTED,
	 * after its options passed the schema, on the main thread; it must not
	 * block. @options is this plugin's options node of the task (defaults
	 * filled in). Report each problem with host->check_report(check,
	 * options, key, ...): the task is then refused with 400 naming
	 * `options.PLUGIN.KEY`. Return false only when checking itself failed.
	 */
	bool (*check_task)(void *instance, const struct nbx_config_node *options,
			   struct nbx_check *check, struct nbx_error *err);
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_AUXILIARY_H */
