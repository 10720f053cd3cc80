/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/host.h - the services the core offers a plugin.
 *
 * A plugin reaches the core ONLY through the `struct nbx_host` table handed
 * to it at init (and passed to every op through its instance). A plugin
 * therefore has no undefined symbol on the core: it links with
 * `-Wl,--no-undefined` against nothing of nestbox, and this header is the
 * whole contract.
 *
 * Each plugin gets its own table; the core knows from the table which plugin
 * is calling, so log lines and errors carry the plugin's name without the
 * plugin repeating it. The table is valid from `init` until `shutdown`
 * returns (plugins are never unloaded, but a configuration reload makes a
 * new instance with a new table).
 *
 * Thread-safety: every service may be called from any thread, at any time
 * while the table is valid, EXCEPT:
 *  - `machine_declare`, only from inside the `load_machines` op it was
 *    handed the loader for;
 *  - `check_report`, only from inside the `check`, `check_machine` or
 *    `check_task` op it was handed the check for.
 * Callbacks registered with `watch_fd`, `add_timeout` and `spawn` run on
 * the core's main thread. They must not block: an op running on a worker
 * thread may wait (on a condition variable of the plugin's own) for an
 * event that such a callback delivers, which is how a plugin turns an
 * asynchronous protocol into a blocking op without a polling loop.
 *
 * Extending: services are only ever appended (a minor ABI bump). A plugin
 * built against a newer minor must check `host->struct_size` (or
 * NBX_HOST_HAS(host, member)) before calling a service the core it runs on
 * may not have.
 */
#ifndef NESTBOX_HOST_H
#define NESTBOX_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nestbox/error.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nbx_machine;
struct nbx_machine_loader;
struct nbx_check;
struct nbx_report;

/**
 * struct nbx_config_node - an opaque, read-only node of the configuration.
 *
 * The root node of a plugin is its own section: the machinery's file
 * `conf/machinery/<name>.conf`, or the auxiliary's group in
 * `conf/auxiliary.conf`. NULL passed as a node means that root. A machine's
 * node is `struct nbx_machine.config`. Nodes stay valid until the instance's
 * `shutdown` returns. Values have been validated against the schema and have
 * their defaults filled in.
 */
struct nbx_config_node;

/** Log levels, from the most to the least severe. */
enum nbx_log_level {
	NBX_LOG_ERROR = 0,
	NBX_LOG_WARNING = 1,
	NBX_LOG_INFO = 2,
	NBX_LOG_DEBUG = 3,
};

/** Directories the core manages for a plugin; see `path`. */
enum nbx_path_kind {
	/** The configuration directory (`--config DIR`). */
	NBX_PATH_CONFIG_DIR = 0,
	/** This plugin's own persistent directory, created by the core, mode 0750. */
	NBX_PATH_STATE_DIR = 1,
	/** This plugin's own runtime directory (sockets, pid files), created, mode 0750. */
	NBX_PATH_RUN_DIR = 2,
	/** The parent of all analysis directories. */
	NBX_PATH_ANALYSES_DIR = 3,
};

/** Events for `watch_fd`, OR-ed. */
enum nbx_fd_events {
	NBX_FD_IN = 1u << 0,  /**< readable */
	NBX_FD_OUT = 1u << 1, /**< writable */
	NBX_FD_ERR = 1u << 2, /**< error condition (always reported) */
	NBX_FD_HUP = 1u << 3, /**< peer hung up (always reported) */
};

/**
 * nbx_fd_fn - called on the main thread when @fd has one of the events.
 * Returns true to keep the watch, false to remove it (after which its id
 * is invalid and must not be passed to `remove_source`).
 */
typedef bool (*nbx_fd_fn)(void *user_data, int fd, uint32_t events);

/** nbx_timeout_fn - called on the main thread; true to fire again, false to stop. */
typedef bool (*nbx_timeout_fn)(void *user_data);

/**
 * nbx_child_exit_fn - called once on the main thread when a spawned child
 * has exited and been reaped by the core.
 * @wait_status: the raw status of waitpid(2): use WIFEXITED() and friends.
 */
typedef void (*nbx_child_exit_fn)(void *user_data, int64_t pid, int32_t wait_status);

/**
 * struct nbx_fd_map - a descriptor to hand to a child.
 * @parent_fd: open in the daemon; the core does not close it.
 * @child_fd:  the number it gets in the child (>= 3; 0-2 have own fields).
 */
struct nbx_fd_map {
	int32_t parent_fd;
	int32_t child_fd;
};

/**
 * struct nbx_spawn - what to run, for `spawn`.
 * @struct_size: sizeof(struct nbx_spawn).
 * @argv:        NULL-terminated; argv[0] is looked up in PATH when it has
 *               no slash. No shell is involved: arguments are passed as is.
 * @envp:        NULL-terminated "KEY=VALUE" list, or NULL to inherit.
 * @cwd:         working directory, or NULL for the daemon's.
 * @stdin_fd:    descriptor for the child's stdin, or -1 for /dev/null.
 * @output_path: file that receives stdout and stderr (created 0640,
 *               appended), or NULL for the daemon's log.
 * @fds:         @n_fds further descriptors to pass; every other descriptor
 *               of the daemon is closed in the child.
 * @on_exit:     called on the main thread once the child has been reaped,
 *               or NULL. The core always reaps: there are never zombies.
 * @user_data:   passed to @on_exit.
 *
 *
 * Appended in ABI 1.2 (a core older than 1.2 never reads them; a plugin
 * built for 1.2 sets them only when NBX_HOST_HAS(host, run) says the core
 * is 1.2 or newer). For each, 0 (what a designated initializer leaves)
 * means "not set", so a plugin that ignores them gets 1.1's behaviour:
 * @stdout_fd:   descriptor (>= 3) the child's stdout is joined to instead
 *               of @output_path; the core does not close it.
 * @stderr_fd:   likewise for stderr. Set alone, stdout still goes to
 *               @output_path (or the log), so a data stream on stdout is
 *               never mixed with diagnostics.
 * @uid, @gid:   run the child as this user and group (> 0), set in the
 *               child between fork and exec, in the order setgroups,
 *               setgid, setuid, so the child never holds the daemon's
 *               privileges, not even for a moment in its own code. Both or
 *               neither; refused (NBX_ERROR_PERMISSION) when the daemon
 *               cannot switch to them. 0: the daemon's own.
 * @groups, @n_groups: the supplementary groups with @uid (e.g. the `kvm`
 *               group for /dev/kvm); none when 0. Ignored without @uid.
 * @network_namespace: path of a network namespace file (/run/netns/NAME,
 *               /proc/PID/ns/net) the child enters before exec; NULL: the
 *               daemon's. A machine's is `struct nbx_machine.network_namespace`.
 *
 * The child runs in its own process group (it leads it, its pgid is its
 * pid), so a signal to the daemon's terminal does not reach it, and it is
 * sent SIGKILL if the daemon dies (PR_SET_PDEATHSIG), so a crashed daemon
 * leaves no orphan behind. A child still running when the plugin's
 * `shutdown` has returned is killed too, and its @on_exit is not called.
 * Likewise, watches and timeouts a plugin leaves behind are removed then.
 * SIGPIPE and every other signal have their default disposition in the
 * child, and its signal mask is empty.
 */
struct nbx_spawn {
	uint32_t struct_size;
	const char *const *argv;
	const char *const *envp;
	const char *cwd;
	int32_t stdin_fd;
	const char *output_path;
	const struct nbx_fd_map *fds;
	uint32_t n_fds;
	nbx_child_exit_fn on_exit;
	void *user_data;
	/* ---- ABI 1.2 ---- */
	int32_t stdout_fd;
	int32_t stderr_fd;
	uint32_t uid;
	uint32_t gid;
	const uint32_t *groups;
	uint32_t n_groups;
	const char *network_namespace;
};

/** Whether a plugin's @spawn (or the core's) has member @member. */
#define NBX_SPAWN_HAS(spawn, member)                                                          \
	((spawn)->struct_size >= offsetof(struct nbx_spawn, member) + sizeof((spawn)->member))

/**
 * struct nbx_output - a caller-owned buffer that collects a child's output
 * (ABI 1.2, for `run`).
 * @struct_size: sizeof(struct nbx_output) as the plugin was compiled.
 * @buffer:      @size bytes of the caller's; always NUL-terminated by the
 *               core when @size > 0 (so at most @size - 1 bytes of output).
 * @size:        size of @buffer.
 * @length:      set by the core: bytes stored, terminator excluded.
 * @truncated:   set by the core: the child wrote more than fitted; the rest
 *               was read and dropped (the child is never blocked on a full
 *               pipe).
 */
struct nbx_output {
	uint32_t struct_size;
	char *buffer;
	size_t size;
	size_t length;
	bool truncated;
};

/** nbx_main_fn - called once on the main thread by `invoke_main`. */
typedef void (*nbx_main_fn)(void *user_data);

/**
 * struct nbx_host - the core's services, one table per plugin instance.
 *
 * Strings returned by the services are owned by the core and stay valid as
 * long as the table, unless said otherwise. Strings passed in are copied
 * when the core keeps them.
 */
struct nbx_host {
	/** sizeof(struct nbx_host) in the running core: which services exist. */
	uint32_t struct_size;
	/** The running core's ABI version (equal major, minor >= the plugin's when loaded). */
	uint32_t abi_major;
	uint32_t abi_minor;
	/** The running core's version string, e.g. "0.1.0". */
	const char *core_version;
	/** The core's private data; a plugin must not touch it. */
	void *core_private;

	/**
	 * log - write a line to the daemon's log, tagged with the plugin's name.
	 * @fmt: printf format; no trailing newline needed.
	 */
	void (*log)(const struct nbx_host *host, int32_t level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/**
	 * error_set - fill @err with @code and a printf-formatted message.
	 * Does nothing when @err is NULL or already holds an error (the first,
	 * innermost cause wins). Never fails; truncates long messages.
	 */
	void (*error_set)(const struct nbx_host *host, struct nbx_error *err, int32_t code,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

	/**
	 * config_string - the value of a STRING, ENUM, path, INTERFACE,
	 * MAC_ADDRESS or IP_ADDRESS setting.
	 * @node: the group to look in, NULL for the plugin's root section.
	 * @key:  a key of that group, or a dotted path into nested groups.
	 * Returns NULL when the key is absent (optional, no default) or not of
	 * a string-like type.
	 */
	const char *(*config_string)(const struct nbx_host *host,
				     const struct nbx_config_node *node, const char *key);

	/** config_integer - store an INTEGER setting in *@out; false when absent. */
	bool (*config_integer)(const struct nbx_host *host, const struct nbx_config_node *node,
			       const char *key, int64_t *out);

	/** config_boolean - store a BOOLEAN setting in *@out; false when absent. */
	bool (*config_boolean)(const struct nbx_host *host, const struct nbx_config_node *node,
			       const char *key, bool *out);

	/** config_list_length - number of elements of a LIST or GROUP_LIST; 0 when absent. */
	size_t (*config_list_length)(const struct nbx_host *host,
				     const struct nbx_config_node *node, const char *key);

	/**
	 * config_list_string - element @index of a LIST, as text (integers
	 * and booleans are formatted); NULL when out of range.
	 */
	const char *(*config_list_string)(const struct nbx_host *host,
					  const struct nbx_config_node *node, const char *key,
					  size_t index);

	/** config_group - the node of a GROUP setting; NULL when absent. */
	const struct nbx_config_node *(*config_group)(const struct nbx_host *host,
						      const struct nbx_config_node *node,
						      const char *key);

	/** config_list_group - group @index of a GROUP_LIST; NULL when out of range. */
	const struct nbx_config_node *(*config_list_group)(const struct nbx_host *host,
							   const struct nbx_config_node *node,
							   const char *key, size_t index);

	/**
	 * config_location - "file:line" of a node or of one of its keys (NULL
	 * for the node itself), for messages; never NULL.
	 */
	const char *(*config_location)(const struct nbx_host *host,
				       const struct nbx_config_node *node, const char *key);

	/** path - an `enum nbx_path_kind` directory; NULL for an unknown kind. */
	const char *(*path)(const struct nbx_host *host, int32_t kind);

	/**
	 * spawn - start a child process (see `struct nbx_spawn`).
	 * Stores its pid in *@pid. Returns false and fills @err when it could
	 * not be started (the message names argv[0] and the reason).
	 */
	bool (*spawn)(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t *pid,
		      struct nbx_error *err);

	/**
	 * child_signal - send @signal to a child this plugin spawned, whose
	 * @on_exit has not run yet. Refused (NBX_ERROR_INVALID) for any other
	 * pid: a plugin can only ever end what it started.
	 *
	 * The signal goes to the child process alone, not to its process
	 * group: a child that has children of its own passes it on (or the
	 * plugin spawns it through something that does). The core signals
	 * through a pidfd, so a signal can never reach another process that
	 * reused the pid: a child that has exited but whose @on_exit has not
	 * run yet (the core reaped it; the callback is queued on the main
	 * thread) is signalled harmlessly and the call succeeds.
	 */
	bool (*child_signal)(const struct nbx_host *host, int64_t pid, int32_t signal,
			     struct nbx_error *err);

	/**
	 * watch_fd - call @fn on the main thread when @fd has one of @events.
	 * Returns a source id (> 0) for `remove_source`. The plugin keeps
	 * ownership of @fd and must remove the watch before closing it.
	 */
	uint64_t (*watch_fd)(const struct nbx_host *host, int fd, uint32_t events, nbx_fd_fn fn,
			     void *user_data);

	/** add_timeout - call @fn on the main thread after @ms milliseconds; returns an id > 0. */
	uint64_t (*add_timeout)(const struct nbx_host *host, uint32_t ms, nbx_timeout_fn fn,
				void *user_data);

	/**
	 * remove_source - remove a watch or timeout that is still active (an
	 * unknown or finished id is ignored). Called on the main thread (from
	 * any callback), the callback never runs again once it returns; called
	 * from a worker thread, a callback already running may still finish,
	 * so free its user_data from the main thread.
	 */
	void (*remove_source)(const struct nbx_host *host, uint64_t id);

	/** monotonic_us - CLOCK_MONOTONIC in microseconds: the clock of `struct nbx_call.deadline_us`. */
	int64_t (*monotonic_us)(const struct nbx_host *host);

	/**
	 * machine_state_changed - tell the core that @machine is now in
	 * @state (an `enum nbx_machine_state`), with an optional @reason for
	 * humans. Plugins that set NBX_MACHINERY_CAP_STATE_EVENTS call this on
	 * every change they see (guest shut down, hypervisor process died,
	 * paused), from any thread, so the core never needs to poll.
	 */
	void (*machine_state_changed)(const struct nbx_host *host, struct nbx_machine *machine,
				      int32_t state, const char *reason);

	/**
	 * machine_declare - declare a machine from inside `load_machines`.
	 * The core copies @machine (its strings included); the declared
	 * machine goes through the same checks as a configured one. Returns
	 * false (and fills @err) when the description is unusable.
	 */
	bool (*machine_declare)(const struct nbx_host *host, struct nbx_machine_loader *loader,
				const struct nbx_machine *machine, struct nbx_error *err);

	/**
	 * check_report - report one configuration problem from inside a
	 * `check` or `check_machine` op. The core prints it as
	 * `file:line: key.path: message` using @node (NULL: the plugin's root)
	 * and @key (NULL: the node itself). From inside `check_task` (ABI 1.2)
	 * it refuses the task, naming `options.PLUGIN.KEY`. Report every problem found, not
	 * only the first: the user fixes them all in one go.
	 */
	void (*check_report)(const struct nbx_host *host, struct nbx_check *check,
			     const struct nbx_config_node *node, const char *key, const char *fmt,
			     ...) __attribute__((format(printf, 5, 6)));

	/** report_set_string - record @key = @value in this plugin's part of the analysis report. */
	void (*report_set_string)(const struct nbx_host *host, struct nbx_report *report,
				  const char *key, const char *value);

	/** report_set_integer - record @key = @value in this plugin's part of the report. */
	void (*report_set_integer)(const struct nbx_host *host, struct nbx_report *report,
				   const char *key, int64_t value);

	/**
	 * report_add_file - list a file this plugin wrote, relative to the
	 * analysis directory, among the analysis's results.
	 */
	void (*report_add_file)(const struct nbx_host *host, struct nbx_report *report,
				const char *relative_path);

	/* ---- ABI 1.2 ---- */

	/**
	 * run - run a child to its end and collect its output: what a check or
	 * a conversion needs (`qemu-img info`, `QEMU -sandbox help`), under the
	 * core's child tracking (a daemon that dies kills it; `shutdown` never
	 * waits on it). @spawn's @on_exit, @output_path, @stdout_fd and
	 * @stderr_fd must be unset: the output goes to @out and @errout (each
	 * may be NULL: that stream goes to the daemon's log). Blocks the
	 * calling thread; on the main thread only from `init`, `check` and
	 * `check_machine`. At @deadline_us (0: none) the child is killed with
	 * SIGKILL, reaped, and the call fails with NBX_ERROR_TIMEOUT.
	 * Stores the raw waitpid(2) status in *@wait_status and returns true
	 * whenever the child ran to its end, whatever its exit status.
	 */
	bool (*run)(const struct nbx_host *host, const struct nbx_spawn *spawn, int64_t deadline_us,
		    struct nbx_output *out, struct nbx_output *errout, int32_t *wait_status,
		    struct nbx_error *err);

	/**
	 * invoke_main - call @fn(@user_data) once on the main thread, as soon
	 * as the main loop gets to it (after the calling op returns if called
	 * from the main thread). Returns a source id > 0 for `remove_source`,
	 * like `add_timeout`.
	 */
	uint64_t (*invoke_main)(const struct nbx_host *host, nbx_main_fn fn, void *user_data);

	/** report_set_boolean - record @key = true/false in this plugin's part of the report. */
	void (*report_set_boolean)(const struct nbx_host *host, struct nbx_report *report,
				   const char *key, bool value);

	/**
	 * report_set_json - record @key = the JSON value @json (an object,
	 * array, string, number, boolean or null, as UTF-8 text) in this
	 * plugin's part of the report. Refused (false, NBX_ERROR_INVALID) when
	 * @json does not parse, is nested deeper than 32 levels or longer than
	 * 1 MiB; nothing is recorded then.
	 */
	bool (*report_set_json)(const struct nbx_host *host, struct nbx_report *report,
				const char *key, const char *json, struct nbx_error *err);
};

/** True when the running core's host table has service @member. */
#define NBX_HOST_HAS(host, member)                                                   \
	((host)->struct_size >= offsetof(struct nbx_host, member) + sizeof((host)->member) && \
	 (host)->member != NULL)

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_HOST_H */
