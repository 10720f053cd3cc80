/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/guest.h - the contract of a guest plugin (ABI 1.2).
 *
 * A guest plugin speaks ONE guest-side protocol: the agent that runs inside
 * the analysis machine (CAPE's and Cuckoo's `agent.py`, `nestbox-agent`,
 * ...). The core decides what an analysis does inside the guest and when;
 * the guest plugin only carries it out over its protocol:
 *
 *   1. `connect`   wait until the agent answers (until the deadline), say
 *                  what it is (`struct nbx_guest_info`);
 *   2. `set_clock` (optional) set the guest's clock: a guest restored from
 *                  a memory state wakes up at the time it was saved;
 *   3. `upload`    put the sample into a FRESH temporary directory of the
 *                  guest under the name the core chose (already sanitised
 *                  for the guest's platform), and say where it went;
 *   4. `execute`   run the command the core built (see "DOC: commands");
 *   5. `poll`      (optional) is it still running? its exit code?
 *   6. `list_files` (optional) expand a glob the task asked to fetch;
 *      `download`  (optional) copy one guest file into a descriptor the
 *                  core opened (the core names the host file, never the
 *                  guest);
 *      `agent_log` (optional) the agent's own log, likewise;
 *   7. `disconnect` always, once for every `connect` that succeeded, before
 *                  the machine is stopped. Free the session there.
 *
 * Required ops: `connect`, `disconnect`, `upload`, `execute`. A NULL
 * optional op means "this protocol cannot do that": the core says so in the
 * report (e.g. "exit code: not available (guest plugin agent: the agent
 * reports none)") and never fails the analysis for it, unless the task
 * demanded it.
 *
 * EVERYTHING A GUEST SENDS IS HOSTILE INPUT. Malware runs in the guest and
 * may replace the agent. A guest plugin bounds every size it reads (the
 * `max_bytes` arguments, its own limits for protocol messages), bounds JSON
 * depth, honours every deadline, and never turns a name the guest sent into
 * a host path: files come back through descriptors the core opened.
 *
 * Threading: the rules of plugin.h ("Threading contract"). Guest ops run on
 * worker threads and may block until `call->deadline_us`; the ops of one
 * session never overlap; sessions of different analyses run concurrently on
 * one instance, so keep per-analysis state in the session, not the
 * instance. When the machine has a network namespace of its own
 * (`struct nbx_machine.network_namespace`), the core runs every op of the
 * session on a thread that has ENTERED that namespace: a socket the op
 * opens reaches the guest's segment. A plugin must not change the thread's
 * namespace itself, and must not hand connecting to another thread (a
 * resolver thread, a main loop) whose namespace is the daemon's.
 */
#ifndef NESTBOX_GUEST_H
#define NESTBOX_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nestbox/auxiliary.h>
#include <nestbox/error.h>
#include <nestbox/host.h>
#include <nestbox/machinery.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct nbx_guest_context - one analysis, as a guest plugin sees it.
 * @struct_size:  sizeof(struct nbx_guest_context) in the core.
 * @analysis_dir: the analysis directory; exists. The plugin may keep
 *                scratch files under it; results go through the ops.
 * @task:         the task; never NULL. `task->options` holds this plugin's
 *                per-task options (validated against its `task_schema`).
 * @machine:      the machine, running; never NULL. Reach the agent at
 *                `machine->ip`, port `machine->agent_port` (0: the
 *                protocol's default).
 * @report:       this plugin's part of the report, for host->report_*().
 * @result_server: "ADDRESS:PORT" of the core's result server as the guest
 *                reaches it, or NULL when none is configured.
 *
 * Owned by the core, read-only, valid from `connect` until `disconnect`
 * returns.
 */
struct nbx_guest_context {
	uint32_t struct_size;
	const char *analysis_dir;
	const struct nbx_task *task;
	const struct nbx_machine *machine;
	struct nbx_report *report;
	const char *result_server;
};

/** Sizes of the text fields of `struct nbx_guest_info`, terminator included. */
#define NBX_GUEST_NAME_SIZE 64
#define NBX_GUEST_VERSION_SIZE 32
#define NBX_GUEST_FEATURES_SIZE 512

/**
 * enum nbx_guest_abilities - what the connected agent can do, as the plugin
 * found out from what it announced (never from what it merely might do).
 * The core records them in the report and plans the analysis with them.
 */
enum nbx_guest_abilities {
	/** `poll` reports whether the command still runs. */
	NBX_GUEST_CAN_WATCH = 1u << 0,
	/** The command's exit code can be had (from `execute` with WAIT, or `poll`). */
	NBX_GUEST_CAN_EXIT_CODE = 1u << 1,
	/** The command's stdout/stderr can be had. */
	NBX_GUEST_CAN_OUTPUT = 1u << 2,
	/** `list_files` works: globs in the files to fetch are expanded. */
	NBX_GUEST_CAN_LIST = 1u << 3,
	/** `set_clock` works. */
	NBX_GUEST_CAN_SET_CLOCK = 1u << 4,
	/** `download` works. */
	NBX_GUEST_CAN_DOWNLOAD = 1u << 5,
	/** `agent_log` works. */
	NBX_GUEST_CAN_AGENT_LOG = 1u << 6,
};

/**
 * struct nbx_guest_info - what `connect` found.
 * @struct_size: sizeof(struct nbx_guest_info) in the core.
 * @name:        the agent's own name ("CAPE Agent", "nestbox-agent"), or
 *               empty; printable UTF-8, cut to fit.
 * @version:     the version it announced ("0.22"), or empty.
 * @features:    the features it announced, space-separated, cut to fit.
 * @abilities:   an OR of `enum nbx_guest_abilities` for THIS agent.
 *
 * Zeroed by the core (but for @struct_size) before `connect`.
 */
struct nbx_guest_info {
	uint32_t struct_size;
	char name[NBX_GUEST_NAME_SIZE];
	char version[NBX_GUEST_VERSION_SIZE];
	char features[NBX_GUEST_FEATURES_SIZE];
	uint32_t abilities;
};

/**
 * DOC: commands
 *
 * The core builds the command line from the task: its `command` template,
 * or the template of its `package`, or the platform's default package. It
 * replaces the placeholders `%SAMPLE%` (the guest path `upload` returned),
 * `%DIR%` (its directory) and `%ARGS%` (the task's arguments), quoting each
 * value for POSIX word splitting (Python's `shlex.split`), which is how the
 * Cuckoo/CAPE agents and `nestbox-agent` split `command`. A guest plugin
 * whose protocol splits differently re-quotes from @argv instead.
 */

/** Bits of `struct nbx_guest_command.flags`. */
enum nbx_guest_command_flags {
	/**
	 * Wait for the command to end before returning (bounded by the
	 * deadline); fill the exit code and the output when the agent gives
	 * them. Without it, return as soon as the command is started.
	 */
	NBX_GUEST_COMMAND_WAIT = 1u << 0,
	/** Run @command through the guest's shell (`cmd.exe /c`, `/bin/sh -c`). */
	NBX_GUEST_COMMAND_SHELL = 1u << 1,
};

/**
 * struct nbx_guest_command - what `execute` runs.
 * @struct_size:  sizeof(struct nbx_guest_command) in the core.
 * @command:      the whole command line, placeholders replaced; never NULL.
 * @argv:         the same command as words, NULL-terminated.
 * @cwd:          the guest directory to run in (the sample's), or NULL.
 * @flags:        an OR of `enum nbx_guest_command_flags`; refuse unknown bits
 *                with NBX_ERROR_NOT_SUPPORTED.
 * @stdout_fd, @stderr_fd: descriptors the core opened for the command's
 *                output, or -1; the plugin writes at most @output_limit
 *                bytes into each (whenever it has them: at the end of a
 *                waited command, or at a `poll` that sees it end) and never
 *                closes them. They stay valid until `disconnect`.
 * @output_limit: bytes per stream; more is dropped and the plugin says so
 *                with host->report_set_boolean(report, "output_truncated", true).
 */
struct nbx_guest_command {
	uint32_t struct_size;
	const char *command;
	const char *const *argv;
	const char *cwd;
	uint32_t flags;
	int32_t stdout_fd;
	int32_t stderr_fd;
	int64_t output_limit;
};

/** `struct nbx_guest_process.state` values. */
enum nbx_guest_process_state {
	/** Started; nothing more is known (the protocol cannot watch it). */
	NBX_GUEST_PROCESS_STARTED = 0,
	/** Still running when last asked. */
	NBX_GUEST_PROCESS_RUNNING = 1,
	/** Ended; @exit_code is set when @exit_code_known. */
	NBX_GUEST_PROCESS_EXITED = 2,
};

/** Size of `struct nbx_guest_process.handle` and `.note`, terminators included. */
#define NBX_GUEST_HANDLE_SIZE 128
#define NBX_GUEST_NOTE_SIZE 256

/**
 * struct nbx_guest_process - a command `execute` started.
 * @struct_size:     sizeof(struct nbx_guest_process) in the core.
 * @state:           an `enum nbx_guest_process_state`.
 * @exit_code_known: true once @exit_code holds the command's exit code.
 * @exit_code:       its exit code (Windows: the low 32 bits of the status).
 * @pid:             its process id in the guest, or 0 when not known.
 * @handle:          the plugin's own notes to find it again at `poll`
 *                   (opaque to the core, kept between calls).
 * @note:            why the exit code or the output could not be had, for
 *                   the report ("the agent reports no exit code for
 *                   /execute"), or empty.
 *
 * Zeroed by the core (but for @struct_size) before `execute`; the same
 * struct is handed to every `poll` of that command.
 */
struct nbx_guest_process {
	uint32_t struct_size;
	int32_t state;
	bool exit_code_known;
	int32_t exit_code;
	int64_t pid;
	char handle[NBX_GUEST_HANDLE_SIZE];
	char note[NBX_GUEST_NOTE_SIZE];
};

/**
 * nbx_guest_file_fn - called by `list_files` once per match.
 * @guest_path: the file's full path in the guest (hostile: the core only
 *              ever uses it as a label and as an argument to `download`).
 * @size:       its size in bytes, or -1 when not known.
 * Returns false when the plugin should stop listing (too many matches).
 */
typedef bool (*nbx_guest_file_fn)(void *user_data, const char *guest_path, int64_t size);

/** Capability bits of `struct nbx_guest_ops.capabilities`; none defined in 1.2, must be 0. */

/**
 * struct nbx_guest_ops - the ops table of a guest plugin (ABI 1.2).
 *
 * Every session op takes the instance returned by @init, the session
 * @connect stored, the call (its deadline) and an error to fill.
 */
struct nbx_guest_ops {
	/** sizeof(struct nbx_guest_ops) as the plugin was compiled. */
	uint32_t struct_size;
	/** None defined in ABI 1.2; must be 0. */
	uint32_t capabilities;

	/** init - (optional) as in `struct nbx_machinery_ops`. */
	bool (*init)(const struct nbx_host *host, void **instance, struct nbx_error *err);

	/** shutdown - (optional) release the instance; no session is open. */
	void (*shutdown)(void *instance);

	/** check - (optional) checks the schema cannot express; see machinery.h. */
	bool (*check)(void *instance, struct nbx_check *check, struct nbx_error *err);

	/**
	 * connect - (required) wait until the guest's agent answers, until
	 * `call->deadline_us`, retrying as the guest boots or restores; fill
	 * @info; store per-session state in *@session. NBX_ERROR_TIMEOUT when
	 * it never answered, NBX_ERROR_INVALID when something answered that is
	 * not this protocol (say what answered). On failure nothing is left
	 * open and `disconnect` is not called.
	 */
	bool (*connect)(void *instance, const struct nbx_guest_context *context, void **session,
			struct nbx_guest_info *info, const struct nbx_call *call,
			struct nbx_error *err);

	/**
	 * disconnect - (required) end the session: close connections, free
	 * @session. Called exactly once for every successful `connect`,
	 * whatever happened in between, while the machine still runs (or has
	 * died). Must not block past a few seconds and cannot fail.
	 */
	void (*disconnect)(void *instance, const struct nbx_guest_context *context, void *session);

	/**
	 * set_clock - (optional) set the guest's clock to @unix_time_us
	 * (microseconds since the epoch, UTC).
	 */
	bool (*set_clock)(void *instance, void *session, int64_t unix_time_us,
			  const struct nbx_call *call, struct nbx_error *err);

	/**
	 * upload - (required) create a fresh, empty directory in the guest
	 * (its temporary directory), copy the host file @host_path into it as
	 * @file_name (the core made it safe for the guest's platform: no
	 * separator, no control character, no reserved name, at most 200
	 * bytes of UTF-8), and write the guest's full path of the copy into
	 * @guest_path (@guest_path_size bytes, NUL-terminated;
	 * NBX_ERROR_INVALID when it does not fit). Streams the file: it may be
	 * larger than the plugin's memory.
	 */
	bool (*upload)(void *instance, void *session, const char *host_path, const char *file_name,
		       char *guest_path, size_t guest_path_size, const struct nbx_call *call,
		       struct nbx_error *err);

	/**
	 * execute - (required) run @command in the guest (see "DOC:
	 * commands") and fill @process. With NBX_GUEST_COMMAND_WAIT, return
	 * when it ended (state EXITED) or when the deadline passed
	 * (NBX_ERROR_TIMEOUT, the process left running); without, as soon as
	 * it is started (state STARTED or RUNNING). An agent that refused the
	 * command is NBX_ERROR_PERMISSION or NBX_ERROR_INVALID with the agent's
	 * words in the message.
	 */
	bool (*execute)(void *instance, void *session, const struct nbx_guest_command *command,
			struct nbx_guest_process *process, const struct nbx_call *call,
			struct nbx_error *err);

	/**
	 * poll - (optional) update @process: RUNNING, or EXITED with the exit
	 * code when known, writing the output to the command's descriptors
	 * once it has ended. Cheap: the core calls it 50 ms after the run
	 * starts, then at doubling intervals up to once a second.
	 */
	bool (*poll)(void *instance, void *session, const struct nbx_guest_command *command,
		     struct nbx_guest_process *process, const struct nbx_call *call,
		     struct nbx_error *err);

	/**
	 * list_files - (optional) call @emit for each guest file that matches
	 * the glob @pattern (`*`, `?`, `[...]` within one path component).
	 * Only regular files; at most @max_matches calls.
	 */
	bool (*list_files)(void *instance, void *session, const char *pattern,
			   uint32_t max_matches, nbx_guest_file_fn emit, void *emit_data,
			   const struct nbx_call *call, struct nbx_error *err);

	/**
	 * download - (optional) copy the guest file @guest_path into @fd (a
	 * new, empty host file the core opened for writing; the plugin writes
	 * from offset 0 and does not close it), at most @max_bytes bytes, and
	 * store the number written in *@size. A larger file is
	 * NBX_ERROR_INVALID ("larger than the limit") and what was written is
	 * discarded by the core; a missing one NBX_ERROR_NOT_FOUND.
	 */
	bool (*download)(void *instance, void *session, const char *guest_path, int fd,
			 int64_t max_bytes, int64_t *size, const struct nbx_call *call,
			 struct nbx_error *err);

	/**
	 * agent_log - (optional) write the agent's own log into @fd, at most
	 * @max_bytes bytes (the rest is dropped; not an error).
	 */
	bool (*agent_log)(void *instance, void *session, int fd, int64_t max_bytes,
			  const struct nbx_call *call, struct nbx_error *err);

	/** check_task - (optional) as in `struct nbx_auxiliary_ops`. */
	bool (*check_task)(void *instance, const struct nbx_config_node *options,
			   struct nbx_check *check, struct nbx_error *err);
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_GUEST_H */
