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
 * Threading: the rules are in ONE place, plugin.h ("Threading contract").
 *
 * Machine state: with NBX_MACHINERY_CAP_STATE_EVENTS, the core asks `state`
 * once for every machine after `init` (so a machine left running by
 * someone else is known at once), then trusts the events and never polls.
 * Without it, the core asks `state` when it needs to know.
 *
 * A machine op may block until its work is done, but must return by
 * `call->deadline_us` (host->monotonic_us() clock) with NBX_ERROR_TIMEOUT if
 * it cannot finish; the core then treats the machine as failed and calls
 * `stop`.
 */
#ifndef NESTBOX_MACHINERY_H
#define NESTBOX_MACHINERY_H

#include <stdbool.h>
#include <stddef.h>
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
 *                `free_machine` (ABI 1.2), or in `shutdown` for a plugin
 *                without `free_machine`. The core never reads it.
 * @network_namespace: (ABI 1.2) path of the network namespace the machine's
 *                network segment lives in (`/run/netns/NAME`), or NULL when
 *                the guest's network is in the daemon's own namespace. A
 *                machinery starts the hypervisor's process in it (see
 *                `struct nbx_spawn.network_namespace`) and creates the
 *                machine's host-side interface there; auxiliaries and guest
 *                plugins reach the guest from there (guest.h). Check
 *                NBX_MACHINE_HAS() before reading it.
 *
 * Owned by the core; everything but @plugin_data is read-only to the plugin
 * and stays valid until `shutdown` returns. A configuration reload makes a
 * NEW instance with NEW machine structs (the old instance keeps its own
 * until its `shutdown` returns): never keep a `struct nbx_machine *` across
 * instances, and never compare machines of two instances by pointer.
 *
 * These core machine keys are reserved in a machinery's `machine_schema`:
 * name, label, ip, platform, os_version, architecture, tags, interface,
 * mac_address, snapshot, agent_port, enabled, and from ABI 1.1
 * base_machine (see "DOC: snapshots"). A key the core reserves later is
 * refused in a plugin's schema, so prefix plugin-specific machine keys
 * that could collide (e.g. `qemu_`), or keep them in the plugin's domain.
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
	/* ---- ABI 1.2 ---- */
	const char *network_namespace;
};

/** Whether the core's @machine has member @member (a plugin built for a newer minor checks). */
#define NBX_MACHINE_HAS(machine, member)                                                      \
	((machine)->struct_size >= offsetof(struct nbx_machine, member) +                     \
					   sizeof((machine)->member))

/**
 * struct nbx_call - the circumstances of one op call.
 * @struct_size:  sizeof(struct nbx_call) in the core.
 * @flags:        op-specific bits (`enum nbx_snapshot_flags` for the
 *                snapshot ops; no bit is defined for the other ops). An op
 *                MUST fail with NBX_ERROR_NOT_SUPPORTED on any bit it does
 *                not know, so a later core can add behaviour without a new
 *                op.
 * @deadline_us:  host->monotonic_us() value by which the op must return;
 *                0 means no deadline.
 * @analysis_dir: directory of the analysis this call belongs to, or NULL.
 * @task_id:      id of that analysis's task, or 0.
 * @generation_dir: (ABI 1.1) for `restore_start`: the snapshot generation
 *                to restore, a directory a `snapshot_commit` or
 *                `snapshot_import` of this plugin filled; NULL means the
 *                snapshot the machine's configuration names (generation 0).
 *                The core sets it only for plugins that have
 *                `snapshot_commit` or `snapshot_import`, and keeps the
 *                directory until the run that uses it is stopped. A plugin
 *                built for 1.0 never sees it (check NBX_CALL_HAS()).
 */
struct nbx_call {
	uint32_t struct_size;
	uint32_t flags;
	int64_t deadline_us;
	const char *analysis_dir;
	int64_t task_id;
	const char *generation_dir;
};

/** Whether the core's @call has member @member (a plugin built for a newer minor checks). */
#define NBX_CALL_HAS(call, member)                                                            \
	((call)->struct_size >= offsetof(struct nbx_call, member) + sizeof((call)->member))

/**
 * DOC: snapshots (ABI 1.1)
 *
 * A machine restores from a snapshot. The machine's configuration names the
 * first one, generation 0 (QEMU: its machineinfo.json; libvirt: the
 * domain's snapshot). The core keeps later generations, each in a
 * directory of its own under its state directory, and tells `restore_start`
 * which one to use (`struct nbx_call.generation_dir`). Machines may share a
 * base: a machine whose `base_machine` key names another machine restores
 * from that machine's generations.
 *
 * Modifying a base is a session: `snapshot_begin` starts the machine from
 * the current generation, writable, with a console; `snapshot_copy_in`
 * hands it files; then either `snapshot_commit` writes a NEW generation
 * into an empty directory, or `snapshot_rollback` throws the session away.
 * The plugin writes only into the session's `work_dir` and `new_dir`, never
 * into an existing generation: the core makes a committed directory current
 * only after the op returned true and the directory is synced, so a commit
 * killed at any point leaves the previous generation as it was. Old
 * generations are removed by the core (after `snapshot_remove`, when the
 * plugin has it) once no run uses them.
 *
 * Export and import move a generation between hosts: `snapshot_files` lists
 * the files that make it, `snapshot_fingerprint` says what made it, and
 * `snapshot_import` adopts files the core unpacked into a new generation
 * directory. The archive, its manifest and hashes are the core's.
 *
 * All snapshot ops run on worker threads and honour `call->deadline_us`.
 * The session ops (begin, copy_in, commit, rollback) hold the machine:
 * during a session it serves no analysis, while other machines of the same
 * base keep running theirs. `snapshot_files`, `snapshot_fingerprint`,
 * `snapshot_import` and `snapshot_remove` do NOT hold it: they may run
 * while the machine runs an analysis (an export of the generation it
 * restored from), so they touch only the generation directory they are
 * given and read only the configuration.
 */

/** Bits of `struct nbx_call.flags` for snapshot ops (ABI 1.1). */
enum nbx_snapshot_flags {
	/**
	 * snapshot_begin: boot the base from its disk instead of restoring its
	 * memory (a generation imported without memory, or a broken memory
	 * state). The commit that follows makes a full generation again.
	 */
	NBX_SNAPSHOT_COLD_BOOT = 1u << 0,
	/**
	 * snapshot_fingerprint: describe what THIS host would run the
	 * generation with (the hypervisor installed now, the machine type and
	 * CPU model as this host resolves them) instead of what made it.
	 */
	NBX_SNAPSHOT_FINGERPRINT_HOST = 1u << 1,
	/**
	 * snapshot_import: the archive is minimal (disk and description, no
	 * memory): the generation needs a cold boot and a commit before use.
	 */
	NBX_SNAPSHOT_IMPORT_MINIMAL = 1u << 2,
};

/** Size of `struct nbx_snapshot_session.console`, terminator included. */
#define NBX_SNAPSHOT_CONSOLE_SIZE 256

/**
 * struct nbx_snapshot_session - one modification of a base (ABI 1.1).
 * @struct_size: sizeof(struct nbx_snapshot_session) in the core.
 * @from_dir:    the generation the session starts from, or NULL for
 *               generation 0 (what the machine's configuration names).
 * @work_dir:    an empty directory for the session's files (overlay, QMP
 *               socket, files handed to the guest), the same for every op
 *               of the session; the core removes it when the session ends.
 * @new_dir:     `snapshot_commit` only (else NULL): the empty directory to
 *               write the new generation into. Everything `restore_start`
 *               will need goes in it, described so that it still works
 *               when the directory is renamed or moved to another host
 *               (refer to its files by relative paths).
 * @console:     `snapshot_begin` fills it with where an operator reaches
 *               the guest's screen ("vnc://127.0.0.1:5901"), or leaves it
 *               empty when there is none.
 *
 * Owned by the core; valid during the call. The same @work_dir is given to
 * every op of one session, even across a restart of the daemon.
 */
struct nbx_snapshot_session {
	uint32_t struct_size;
	const char *from_dir;
	const char *work_dir;
	const char *new_dir;
	char console[NBX_SNAPSHOT_CONSOLE_SIZE];
};

/** What a file listed by `snapshot_files` is; archives keep it. */
enum nbx_snapshot_file_role {
	/** What the plugin reads to restore (machineinfo.json, domain XML). Required. */
	NBX_SNAPSHOT_FILE_DESCRIPTION = 1,
	/** A disk image. */
	NBX_SNAPSHOT_FILE_DISK = 2,
	/** The memory state; left out of a minimal export. */
	NBX_SNAPSHOT_FILE_MEMORY = 3,
	/** Anything else the description refers to (kernel, firmware, NVRAM). */
	NBX_SNAPSHOT_FILE_OTHER = 4,
};

/**
 * nbx_snapshot_file_fn - called by `snapshot_files` once per file.
 * @role: an `enum nbx_snapshot_file_role`.
 * @path: absolute path of a regular file; its base name must be unique
 *        within the generation (the archive stores files by base name).
 * Returns false when the plugin should stop listing (the core's error).
 */
typedef bool (*nbx_snapshot_file_fn)(void *user_data, int32_t role, const char *path);

/**
 * nbx_snapshot_fingerprint_fn - called by `snapshot_fingerprint` once per
 * property. Keys the core compares (others are kept and shown): `hypervisor`
 * ("qemu", "kvm", "xen"), `hypervisor_version`, `machine_type`,
 * `cpu_model`, `memory_mb`. Returns false to stop.
 */
typedef bool (*nbx_snapshot_fingerprint_fn)(void *user_data, const char *key, const char *value);

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

	/* ---- ABI 1.1: snapshots (see "DOC: snapshots" above). All optional. ---- */

	/**
	 * snapshot_begin - start @machine from @session->from_dir (NULL: its
	 * configured snapshot), restored and running, its disk writable into
	 * @session->work_dir, and fill @session->console. With
	 * NBX_SNAPSHOT_COLD_BOOT in @call->flags, boot the disk instead.
	 * On failure nothing runs and nothing but @work_dir was written.
	 */
	bool (*snapshot_begin)(void *instance, struct nbx_machine *machine,
			       const struct nbx_call *call, struct nbx_snapshot_session *session,
			       struct nbx_error *err);

	/**
	 * snapshot_commit - write the running session (disk AND memory) into
	 * @session->new_dir as a generation, then stop the machine: once it
	 * returns true the machine is POWEROFF and nothing of the session runs.
	 * On failure the session keeps running when it can (the operator may
	 * retry or roll back), and @new_dir may hold partial files: the core
	 * removes them.
	 */
	bool (*snapshot_commit)(void *instance, struct nbx_machine *machine,
				const struct nbx_call *call, struct nbx_snapshot_session *session,
				struct nbx_error *err);

	/**
	 * snapshot_rollback - stop the session's machine and forget its
	 * changes. Must succeed for a session whose machine already died or
	 * whose daemon was restarted (then only @session->work_dir is left).
	 */
	bool (*snapshot_rollback)(void *instance, struct nbx_machine *machine,
				  const struct nbx_call *call, struct nbx_snapshot_session *session,
				  struct nbx_error *err);

	/**
	 * snapshot_copy_in - hand @paths (NULL-terminated, absolute, regular
	 * files) to the running session's guest, e.g. on a disk it sees.
	 * Whatever the guest needs to do to pick them up is the operator's.
	 * The files must not be part of the committed generation's device
	 * set unless `restore_start` recreates it.
	 */
	bool (*snapshot_copy_in)(void *instance, struct nbx_machine *machine,
				 const struct nbx_call *call, struct nbx_snapshot_session *session,
				 const char *const *paths, struct nbx_error *err);

	/**
	 * snapshot_files - list through @emit the files that make generation
	 * @generation_dir (NULL: generation 0, the configured snapshot). Exactly
	 * one NBX_SNAPSHOT_FILE_DESCRIPTION. Fails with NBX_ERROR_NOT_FOUND when
	 * the machine has no such snapshot (e.g. a machine configured to take
	 * its snapshot from an import).
	 */
	bool (*snapshot_files)(void *instance, struct nbx_machine *machine,
			       const struct nbx_call *call, const char *generation_dir,
			       nbx_snapshot_file_fn emit, void *emit_data, struct nbx_error *err);

	/**
	 * snapshot_fingerprint - describe through @emit what made generation
	 * @generation_dir (NULL: generation 0), or, with
	 * NBX_SNAPSHOT_FINGERPRINT_HOST in @call->flags, what this host would
	 * restore it with. The core refuses to import a full snapshot whose
	 * two fingerprints differ, and lists the differences.
	 */
	bool (*snapshot_fingerprint)(void *instance, struct nbx_machine *machine,
				     const struct nbx_call *call, const char *generation_dir,
				     nbx_snapshot_fingerprint_fn emit, void *emit_data,
				     struct nbx_error *err);

	/**
	 * snapshot_import - adopt @generation_dir, into which the core unpacked
	 * an exported generation's files under their base names, as a
	 * generation of @machine: make its description refer to those files
	 * and to this host's settings of @machine (its interface, MAC). With
	 * NBX_SNAPSHOT_IMPORT_MINIMAL there is no memory file. Write only
	 * inside @generation_dir.
	 */
	bool (*snapshot_import)(void *instance, struct nbx_machine *machine,
				const struct nbx_call *call, const char *generation_dir,
				struct nbx_error *err);

	/**
	 * snapshot_remove - forget what generation @generation_dir left in the
	 * hypervisor (a libvirt snapshot, say) before the core deletes the
	 * directory. Not called for generation 0. NULL: the directory is all.
	 */
	bool (*snapshot_remove)(void *instance, struct nbx_machine *machine,
				const struct nbx_call *call, const char *generation_dir,
				struct nbx_error *err);

	/* ---- ABI 1.2. All optional. ---- */

	/**
	 * free_machine - release what @machine->plugin_data holds. The core
	 * calls it once for every machine of the instance, on the main thread,
	 * after every machine is stopped and before `shutdown`, so a plugin
	 * need not keep its own list of machines. NULL: `shutdown` frees them.
	 */
	void (*free_machine)(void *instance, struct nbx_machine *machine);

	/**
	 * prepare - make @machine's next `restore_start` fast: do ahead of time
	 * whatever does not depend on the analysis (create the overlay, start
	 * the hypervisor paused with the memory mapped and waiting for its
	 * device state). @call->generation_dir names the generation the next
	 * run will restore (NULL: generation 0). The core calls it while the
	 * machine is idle and held by the core like an analysis holds it (no
	 * other op of the machine runs meanwhile), and only when the machine
	 * is POWEROFF. A prepared machine still reports POWEROFF to `state`.
	 *
	 * The prepared run belongs to the plugin: `restore_start` uses it when
	 * its @generation_dir is the one prepared, and otherwise throws it away
	 * and restores the slow way; `stop` and `snapshot_begin` throw it away
	 * too. A daemon killed with -9 must leave nothing the plugin's orphan
	 * clean-up cannot find. Failing is harmless: the next restore is slow.
	 */
	bool (*prepare)(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
			struct nbx_error *err);

	/**
	 * discard - throw away a prepared run of @machine (nothing prepared:
	 * succeed). The core calls it when what was prepared may no longer be
	 * what the next run needs: a new generation became current, the
	 * machine was disabled, the configuration is being reloaded, the
	 * daemon stops. Same threading as `prepare`.
	 */
	bool (*discard)(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
			struct nbx_error *err);
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_MACHINERY_H */
