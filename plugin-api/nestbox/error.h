/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/error.h - how a plugin tells the core that something failed.
 *
 * Every op of every ops table returns `bool`: true on success, false on
 * failure. On failure the op MUST fill the `struct nbx_error` it was handed,
 * normally with `host->error_set()`. The core then prefixes the message with
 * the plugin's name and, for machine ops, the machine's name, so a plugin
 * says only what went wrong and what the user can do about it:
 *
 *     "memory snapshot /vms/win10/mem.snap: not a raw, gzip, lz4 or zstd file"
 *
 * and the user reads
 *
 *     "qemu: machine win10: restore_start: memory snapshot ...: not a raw, ..."
 *
 * The error is a fixed-size value owned by the caller (the core), so no
 * memory ever crosses the boundary and nothing has to be freed by anyone.
 */
#ifndef NESTBOX_ERROR_H
#define NESTBOX_ERROR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enum nbx_error_code - the class of a failure.
 *
 * The core uses the class to decide what to do next (retry, disable the
 * machine, fail the task, answer "not supported"); the message is for the
 * human. Values are stable: new codes are only ever appended. A code the
 * core does not know is treated as NBX_ERROR_FAILED.
 */
enum nbx_error_code {
	NBX_ERROR_NONE = 0,          /**< no error (the value of a cleared error) */
	NBX_ERROR_FAILED = 1,        /**< anything that fits no better class */
	NBX_ERROR_NOT_SUPPORTED = 2, /**< the op or flag is not implemented; never retried */
	NBX_ERROR_INVALID = 3,       /**< an argument, flag or setting is not acceptable */
	NBX_ERROR_NOT_FOUND = 4,     /**< a machine, snapshot, file or device does not exist */
	NBX_ERROR_TIMEOUT = 5,       /**< the deadline in `struct nbx_call` passed */
	NBX_ERROR_IO = 6,            /**< reading or writing a file, socket or device failed */
	NBX_ERROR_PERMISSION = 7,    /**< the daemon lacks a right or a capability */
	NBX_ERROR_BUSY = 8,          /**< the resource is in use; a later retry may work */
	NBX_ERROR_HYPERVISOR = 9,    /**< the virtualisation layer reported a failure */
	NBX_ERROR_CANCELLED = 10,    /**< the core asked the op to give up */
};

/** Size of the message buffer, terminating NUL included. */
#define NBX_ERROR_MESSAGE_SIZE 1024

/**
 * struct nbx_error - one failure: its class and a human-readable message.
 * @code:    an `enum nbx_error_code`; NBX_ERROR_NONE while no error is set.
 * @message: NUL-terminated UTF-8, no trailing newline, truncated (never
 *           overflowed) at NBX_ERROR_MESSAGE_SIZE - 1 bytes.
 *
 * Owned by the caller. The core clears it before each op. An op that fails
 * sets it exactly once (the first `error_set` wins, so the innermost, most
 * precise cause is the one the user sees); an op that succeeds leaves it
 * cleared. This struct's layout is frozen for ABI major 1.
 */
struct nbx_error {
	int32_t code;
	char message[NBX_ERROR_MESSAGE_SIZE];
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_ERROR_H */
