/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the configured QEMU binary is: its version and the machine types and
 * CPU models it knows, asked once per plugin instance (the answers cannot
 * change while the daemon runs the same binary) and cached.
 */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

typedef struct QemuBinary QemuBinary;

/* @scratch_dir receives the binary's output for a moment (the plugin's run dir). */
QemuBinary *qemu_binary_new(const struct nbx_host *host, const char *path,
			    const char *scratch_dir);
void qemu_binary_free(QemuBinary *binary);

/* "7.2.22" for "QEMU emulator version 7.2.22 (Debian ...)"; NULL when it says no version. */
char *qemu_version_number(const char *text);

/*
 * The binary's version ("7.2.22"); borrowed. NULL with @err when it cannot
 * be asked. These wait for the binary's exit, which the main thread
 * reports: call them from worker threads (machine ops) only.
 */
const char *qemu_binary_version(QemuBinary *binary, int64_t deadline_us, struct nbx_error *err);

/* Stores in *@known whether `-machine help` lists @name. False with @err when it cannot be asked. */
bool qemu_binary_knows_machine(QemuBinary *binary, const char *name, bool *known,
			       int64_t deadline_us, struct nbx_error *err);

/* Stores in *@known whether `-cpu help` lists @name. False with @err when it cannot be asked. */
bool qemu_binary_knows_cpu(QemuBinary *binary, const char *name, bool *known,
			   int64_t deadline_us, struct nbx_error *err);
