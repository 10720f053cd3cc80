/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/machinery.h - the contract of a machinery plugin.
 *
 * A machinery drives one virtualisation layer (QEMU, libvirt, ...) and owns
 * the analysis machines configured for it. The core decides WHAT happens to
 * a machine and WHEN (locking, timeouts, retries, disabling a machine that
 * keeps failing); the machinery only does it.
 *
 * Required ops: `restore_start`, `stop`, `state`. Every other op is
 * optional: leave it NULL and the core answers "not supported by machinery
 * NAME" itself; never fill a slot with a stub that pretends to work.
 *
 * Threading (see also plugin.h):
 *  - `init`, `shutdown`, `check`, `load_machines` and `check_machine` run on
 *    the main thread, never concurrently with any other op of the instance.
 *  - Machine ops (`restore_start` ... `dump_memory`) run on worker threads.
 *    Ops on ONE machine never overlap: the core holds that machine's lock.
 *    Ops on DIFFERENT machines of one instance may run at the same time, so
 *    state shared between machines must be protected by the plugin.
 *  - A machine op may block until its work is done, but must return by
 *    `call->deadline_us` (host->monotonic_us() clock) with NBX_ERROR_TIMEOUT
 *    if it cannot finish; the core then treats the machine as failed and
 *    calls `stop`.
 */
#ifndef NESTBOX_MACHINERY_H
#define NESTBOX_MACHINERY_H

#include <stdbool.h>
#include <stdint.h>

#include <nestbox/error.h>
#include <nestbox/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enum nbx_machine_state - what the hypervisor says a machine is doing.
 *
 * The core keeps its own richer lifecycle (restoring, stopping, disabled,
 * ...) on top of these. Values are stable; new ones are only appended, and
 * a value the core does not know counts as NBX_MACHINE_ERROR.
 */
enum nbx_machine_state {
	NBX_MACHINE_UNKNOWN = 0,  /**< cannot be told (e.g. connection lost) */
	NBX_MACHINE_POWEROFF = 1, /**< not running; restoring it is allowed */
	NBX_MACHINE_RUNNING = 2,  /**< the guest's CPUs run (the hypervisor says so) */
	NBX_MACHINE_PAUSED = 3,   /**< CPUs stopped, memory kept; `handle_paused` may resume */
	NBX_MACHINE_SAVED = 4,    /**< state saved to disk, no process */
	NBX_MACHINE_ERROR = 5,    /**< crashed or in a state the plugin cannot use; reason given */
};

/**
 * struct nbx_machine - one analysis machine, as the core knows it.
 * @struct_size:  sizeof(struct nbx_machine) in the core that made it.
 * @name:         unique across all machineries; never NULL.
 * @label:        the hypervisor's name for it (libvirt domain, ...); never NULL.
 * @ip:           the guest's address; never NULL.
 * @platform:     "windows", "linux", ... (lower case); never NULL.
 * @os_version:   e.g. "win10", or NULL.
 * @architecture: e.g. "amd64", or NULL.
 * @tags:         NULL-terminated, possibly empty; never NULL itself.
 * @interface:    host interface the guest's traffic crosses, or NULL.
 * @mac_address:  lower case, or NULL.
 * @snapshot:     name of the snapshot to restore, or NULL for the
 *                machinery's default (for libvirt: the current snapshot).
 * @agent_port:   TCP port of the guest agent, 0 when none.
 * @config:       the machine's group in the configuration, for the keys of
 *                the plugin's own `machine_schema`; NULL for a machine
 *                declared by `load_machines` without one.
 * @plugin_data:  free for the plugin: set it in `check_machine` or any
 *                machine op (they never overlap for one machine), free it in
 *                `shutdown`. The core never reads it.
 *
 * Owned by the core; everything but @plugin_data is read-only to the plugin
 * and stays valid until `shutdown` returns.
 *
 * These core machine keys are reserved in a machinery's `machine_schema`:
 * name, label, ip, platform, os_version, architecture, tags, interface,
 * mac_address, snapshot, agent_port, enabled.
 */
struct nbx_machine {
	uint32_t struct_size;
	const char *name;
	const char *label;
	const char *ip;
	const char *platform;
	const char *os_version;
	const char *architecture;
	const char *const *tags;
	const char *interface;
	const char *mac_address;
	const char *snapshot;
	int32_t agent_port;
	const struct nbx_config_node *config;
	void *plugin_data;
};

/**
 * struct nbx_call - the circumstances of one op call.
 * @struct_size:  sizeof(struct nbx_call) in the core.
 * @flags:        op-specific bits. No bit is defined in ABI 1.0: an op MUST
 *                fail with NBX_ERROR_NOT_SUPPORTED on any bit it does not
 *                know, so a later core can add behaviour without a new op.
 * @deadline_us:  host->monotonic_us() value by which the op must return;
 *                0 means no deadline.
 * @analysis_dir: directory of the analysis this call belongs to, or NULL.
 * @task_id:      id of that analysis's task, or 0.
 */
struct nbx_call {
	uint32_t struct_size;
	uint32_t flags;
	int64_t deadline_us;
	const char *analysis_dir;
	int64_t task_id;
};

/** Capability bits of `struct nbx_machinery_ops.capabilities`. */
enum nbx_machinery_capabilities {
	/**
	 * The plugin calls host->machine_state_changed() for every state change
	 * it sees, so the core does not poll `state`.
	 */
	NBX_MACHINERY_CAP_STATE_EVENTS = 1u << 0,
};

/**
 * struct nbx_machinery_ops - the ops table of a machinery.
 *
 * Fill it with designated initializers; leave optional ops NULL. New ops are
 * only appended (minor bump); @struct_size tells the core which exist.
 * Every machine op takes the instance returned by @init (NULL when @init is
 * NULL), the machine, the call, and an error to fill on failure.
 */
struct nbx_machinery_ops {
	/** sizeof(struct nbx_machinery_ops) as the plugin was compiled. */
	uint32_t struct_size;
	/** An OR of `enum nbx_machinery_capabilities`. */
	uint32_t capabilities;

	/**
	 * init - (optional) create an instance from the validated configuration.
	 * Keep @host: it is the only way back to the core. Store the instance
	 * in *@instance. Open connections here, not in the descriptor.
	 * Called once per configuration load, on the main thread.
	 */
	bool (*init)(const struct nbx_host *host, void **instance, struct nbx_error *err);

	/**
	 * shutdown - (optional) release the instance and every machine's
	 * @plugin_data. Machines are all stopped by then (the core stops them
	 * first). Must not fail.
	 */
	void (*shutdown)(void *instance);

	/**
	 * check - (optional) plugin-wide checks the schema cannot express
	 * (a binary's version, a connection). Report each problem with
	 * host->check_report(); return false only when checking itself could
	 * not be done (then @err says why).
	 */
	bool (*check)(void *instance, struct nbx_check *check, struct nbx_error *err);

	/**
	 * load_machines - (optional) declare the machines. When NULL, the core
	 * takes them from the `machines` list of the machinery's configuration.
	 * When set, the core calls it INSTEAD, and the plugin declares each
	 * machine with host->machine_declare() (reading the configured list
	 * itself if it wants, or asking its hypervisor). Declared machines get
	 * the same uniqueness checks as configured ones.
	 */
	bool (*load_machines)(void *instance, struct nbx_machine_loader *loader,
			      struct nbx_error *err);

	/**
	 * check_machine - (optional) checks of one machine the schema cannot
	 * express (the domain exists, the snapshot exists, a start argument is
	 * forbidden). Report with host->check_report(check, machine->config,
	 * key, ...). Called for every machine before any machine is started.
	 */
	bool (*check_machine)(void *instance, struct nbx_machine *machine,
			      struct nbx_check *check, struct nbx_error *err);

	/**
	 * restore_start - (required) revert @machine to its snapshot and run it.
	 * Returns once the hypervisor reports the machine running (or paused:
	 * the core then calls @handle_paused). On failure nothing of this call
	 * may be left behind: no process, overlay or half-started domain.
	 */
	bool (*restore_start)(void *instance, struct nbx_machine *machine,
			      const struct nbx_call *call, struct nbx_error *err);

	/** norestore_start - (optional) start @machine from its disk, no memory restore. */
	bool (*norestore_start)(void *instance, struct nbx_machine *machine,
				const struct nbx_call *call, struct nbx_error *err);

	/**
	 * stop - (required) pull the plug: once it returns true the machine is
	 * POWEROFF and everything the run created (processes, overlays) is
	 * gone. Stopping a machine that is already off succeeds.
	 */
	bool (*stop)(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_error *err);

	/**
	 * acpi_stop - (optional) ask the guest to shut down (ACPI power button)
	 * and return at once. The core waits for POWEROFF until its own timeout,
	 * then calls @stop.
	 */
	bool (*acpi_stop)(void *instance, struct nbx_machine *machine,
			  const struct nbx_call *call, struct nbx_error *err);

	/**
	 * state - (required) ask the hypervisor, store an `enum
	 * nbx_machine_state` in *@state. A crashed machine is
	 * NBX_MACHINE_ERROR with the reason in @err and a true return; false
	 * means the state could not be asked at all.
	 */
	bool (*state)(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		      int32_t *state, struct nbx_error *err);

	/**
	 * dump_memory - (optional) write the guest's memory to @path (ELF core
	 * unless the plugin documents otherwise). @path is chosen by the core,
	 * its directory exists; the file must not exist afterwards on failure.
	 */
	bool (*dump_memory)(void *instance, struct nbx_machine *machine,
			    const struct nbx_call *call, const char *path, struct nbx_error *err);

	/**
	 * handle_paused - (optional) resume a machine that came back PAUSED
	 * from @restore_start. Fails with NBX_ERROR_INVALID when the pause is
	 * not one that may be resumed (an I/O error, a user's pause).
	 */
	bool (*handle_paused)(void *instance, struct nbx_machine *machine,
			      const struct nbx_call *call, struct nbx_error *err);
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_MACHINERY_H */
