/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/plugin.h - THE plugin ABI of nestbox. Include only this header.
 *
 * A nestbox plugin is a shared object (`.so`) in one of the daemon's plugin
 * directories. It exports exactly ONE symbol, the constant descriptor
 * `nestbox_plugin_descriptor`, made with NBX_PLUGIN_DEFINE(). Everything else
 * in it is hidden (build with `-fvisibility=hidden`), and it needs no symbol
 * of the core (link with `-Wl,--no-undefined`): the core hands it a table of
 * services (nestbox/host.h) at init.
 *
 * A whole machinery plugin, minus the bodies of its ops:
 *
 *     #include <nestbox/plugin.h>
 *
 *     static const struct nbx_machinery_ops ops = {
 *         .struct_size = sizeof(struct nbx_machinery_ops),
 *         .init = example_init,
 *         .shutdown = example_shutdown,
 *         .restore_start = example_restore_start,
 *         .stop = example_stop,
 *         .state = example_state,
 *     };
 *
 *     NBX_PLUGIN_DEFINE(
 *         .kind = NBX_PLUGIN_MACHINERY,
 *         .name = "example",
 *         .version = "1.0.0",
 *         .description = "Drives the example hypervisor",
 *         .config_schema = &example_schema,
 *         .ops.machinery = &ops,
 *     );
 *
 * `nestbox-scaffold machinery NAME` writes such a plugin, with a meson.build
 * that builds it against the installed SDK (`pkg-config nestbox-plugin`).
 *
 * ## Versioning: what "stable" means
 *
 * NBX_ABI_MAJOR changes only when something existing changes or goes away;
 * then every plugin must be rebuilt, and the core refuses one built for
 * another major with a message that names the file and both versions.
 *
 * NBX_ABI_MINOR grows when something is APPENDED: a field at the end of a
 * struct that begins with `struct_size`, an op at the end of an ops table,
 * a service at the end of the host table, an enum value, a flag bit. Then:
 *  - a plugin built for an OLDER minor keeps loading: the core reads
 *    `struct_size` of each plugin struct and copies it into zeroed storage
 *    of its own size, so fields the plugin does not know are 0 / NULL ("not
 *    set", "not supported").
 *  - a plugin built for a NEWER minor than the core is refused (it could
 *    rely on a service the core lacks), with both versions named.
 *  - structs the core hands to a plugin (host table, machine, call,
 *    context) carry the core's own `struct_size`; a plugin built for a newer
 *    minor checks it before reading an appended field (NBX_HOST_HAS()).
 * Structs without `struct_size` (`struct nbx_error`, `struct nbx_fd_map`)
 * are frozen for the whole major. CI compares the ABI of these headers with
 * a stored baseline (abidiff) and fails on any change that is not such an
 * append.
 *
 * ## History
 *
 *  - 1.0: the first release.
 *  - 1.1: snapshots (machinery.h, "DOC: snapshots"): eight optional ops
 *    appended to `struct nbx_machinery_ops`, `struct nbx_call.generation_dir`,
 *    `struct nbx_snapshot_session`, `enum nbx_snapshot_flags`,
 *    `enum nbx_snapshot_file_role`, and the core machine key `base_machine`.
 *  - 1.2: guest plugins, the third kind (guest.h, `NBX_PLUGIN_GUEST`,
 *    `ops.guest`); per-task option schemas (`task_schema`); machinery ops
 *    `free_machine`, `prepare`, `discard`; auxiliary and guest op
 *    `check_task`; `struct nbx_machine`
 *    `.network_namespace`; `struct nbx_spawn` stdout/stderr descriptors,
 *    uid/gid/groups and network namespace; host services `run`,
 *    `invoke_main`, `report_set_boolean`, `report_set_json`;
 *    `struct nbx_task.target_name`, `struct nbx_aux_context.result_server`;
 *    the core machine key `guest`.
 *
 * ## Threading contract, in one place
 *
 * The other headers point here.
 *
 *  - The core runs a main loop on its main thread. `init`, `shutdown`,
 *    `check`, `load_machines`, `check_machine` and `free_machine` run
 *    there, one at a time, never concurrently with any other op of the
 *    instance.
 *  - Every other op runs on a worker thread and may block, but returns by
 *    `struct nbx_call.deadline_us` (NBX_ERROR_TIMEOUT otherwise). A
 *    plugin never creates its own threads for an op's sake: blocking is
 *    allowed.
 *  - Machinery: the ops of ONE machine never overlap (the core holds that
 *    machine while one runs: machine ops, snapshot session ops, `prepare`,
 *    `discard`). Ops on DIFFERENT machines of one instance may run at the
 *    same time, so state shared between machines is the plugin's to
 *    protect. `snapshot_files`, `snapshot_fingerprint`, `snapshot_import`
 *    and `snapshot_remove` do not hold the machine (machinery.h, "DOC:
 *    snapshots").
 *  - Auxiliary: `start` and `stop` of ONE analysis never overlap; calls for
 *    different analyses may.
 *  - Guest: the ops of ONE session never overlap; sessions of different
 *    analyses may run at the same time. A session's ops run on a thread
 *    inside the machine's network namespace when it has one (guest.h).
 *  - An op that overruns its deadline by the core's grace period is
 *    abandoned: the core stops waiting for it, the analysis fails, and the
 *    machine stays held until the op finally returns.
 *  - Host services are thread-safe, except `machine_declare` and
 *    `check_report`, which are valid only inside the op they belong to,
 *    and `run`, which may block the main thread only from `init`, `check`
 *    and `check_machine`.
 *  - Callbacks a plugin registers (fd watches, timeouts, child exits,
 *    `invoke_main`) run on the main thread and must not block.
 *
 * ## Process-wide state belongs to the host
 *
 * A plugin shares the daemon's process: it does not install signal
 * handlers, change signal dispositions or masks, fork without exec, call
 * exit(), or change the working directory, the umask or the locale. The
 * host ignores SIGPIPE, so a write to a closed pipe or socket fails with
 * EPIPE (libvirt asks this of its applications); children spawned through
 * the host get the default disposition back.
 *
 * ## Ownership
 *
 * Everything the plugin hands the core (descriptor, schema, ops, strings in
 * them) is static and never freed. Everything the core hands the plugin is
 * owned by the core and valid for the duration stated at each type. Errors
 * are caller-owned fixed-size values. No allocation ever crosses the
 * boundary in either direction.
 */
#ifndef NESTBOX_PLUGIN_H
#define NESTBOX_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nestbox/auxiliary.h>
#include <nestbox/error.h>
#include <nestbox/guest.h>
#include <nestbox/host.h>
#include <nestbox/machinery.h>
#include <nestbox/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version these headers describe. */
#define NBX_ABI_MAJOR 1
#define NBX_ABI_MINOR 2

/** The name of the one symbol a plugin exports. */
#define NBX_PLUGIN_DESCRIPTOR_SYMBOL "nestbox_plugin_descriptor"

/** Marks the descriptor as the plugin's only exported symbol. */
#if defined(__GNUC__) || defined(__clang__)
#define NBX_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define NBX_PLUGIN_EXPORT
#endif

/** enum nbx_plugin_kind - what a plugin is; selects the ops table type. */
enum nbx_plugin_kind {
	NBX_PLUGIN_MACHINERY = 1,
	NBX_PLUGIN_AUXILIARY = 2,
	/** (ABI 1.2) speaks a guest agent's protocol (guest.h). */
	NBX_PLUGIN_GUEST = 3,
};

/**
 * struct nbx_plugin_descriptor - the one thing a plugin exports.
 * @abi_major:     NBX_ABI_MAJOR the plugin was built with; must equal the core's.
 * @abi_minor:     NBX_ABI_MINOR the plugin was built with; must be <= the core's.
 * @struct_size:   sizeof(struct nbx_plugin_descriptor) the plugin was built with.
 * @kind:          an `enum nbx_plugin_kind`.
 * @name:          unique among all loaded plugins; `[a-z][a-z0-9_-]*`, at most
 *                 63 bytes. It names the config: `conf/machinery/NAME.conf`
 *                 for a machinery, the group `NAME` in `conf/auxiliary.conf`
 *                 for an auxiliary.
 * @version:       the plugin's own version, free-form ("1.2.0"); required.
 * @description:   one line for `nestboxd --list-plugins`; required.
 * @config_schema: the plugin's settings, or NULL for none.
 * @ops:           `.machinery`, `.auxiliary` or `.guest`, according to
 *                 @kind; required.
 * @machine_schema: machinery only: settings every machine of this
 *                 machinery may carry besides the core machine keys
 *                 (machinery.h); NULL for none.
 * @order:         auxiliary only: default start order, >= 0; 0 means 1. The
 *                 `order` key of the plugin's config group overrides it.
 * @task_schema:   (ABI 1.2) auxiliary and guest: the options a task may
 *                 give this plugin (`"options": {"NAME": {...}}` in a
 *                 submitted task), with types, checks and defaults exactly
 *                 like @config_schema. Validated at submission: a task with
 *                 an unknown key or a bad value is refused before it is
 *                 stored. NULL: the plugin takes no per-task options (and a
 *                 task that gives some is refused). A plugin built for 1.0
 *                 or 1.1 has none and gets its options as strings, as then.
 *                 GROUP, GROUP_LIST and path types that must exist on the
 *                 host are refused in a task schema.
 */
struct nbx_plugin_descriptor {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;
	uint32_t kind;
	const char *name;
	const char *version;
	const char *description;
	const struct nbx_config_schema *config_schema;
	union {
		const struct nbx_machinery_ops *machinery;
		const struct nbx_auxiliary_ops *auxiliary;
		const struct nbx_guest_ops *guest;
	} ops;
	const struct nbx_config_schema *machine_schema;
	int32_t order;
	/* ---- ABI 1.2 ---- */
	const struct nbx_config_schema *task_schema;
};

/**
 * NBX_PLUGIN_DEFINE(...) - define and export the descriptor. The arguments
 * are designated initializers for the fields after @struct_size; the
 * version fields are filled in from the headers the plugin is built with.
 */
#define NBX_PLUGIN_DEFINE(...)                                                         \
	NBX_PLUGIN_EXPORT extern const struct nbx_plugin_descriptor nestbox_plugin_descriptor; \
	NBX_PLUGIN_EXPORT const struct nbx_plugin_descriptor nestbox_plugin_descriptor = {     \
		.abi_major = NBX_ABI_MAJOR,                                            \
		.abi_minor = NBX_ABI_MINOR,                                            \
		.struct_size = sizeof(struct nbx_plugin_descriptor),                   \
		__VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_PLUGIN_H */
