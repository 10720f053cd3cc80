/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A generation's fingerprint: what made it (hypervisor "qemu", its version,
 * the machine type, CPU model and memory size the guest runs with), kept as
 * fingerprint.json beside its machineinfo.json, so another host can tell
 * whether its own QEMU would restore the memory state. A fingerprint is a
 * flat JSON object of strings and integers.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "machine_info.h"
#include "qemu_binary.h"

#define FINGERPRINT_FILE "fingerprint.json"

/* "pc-i440fx-7.2" of `-machine pc-i440fx-7.2,accel=tcg`; NULL when start_args name none. */
char *fingerprint_machine_type(const MachineInfo *info);

/*
 * What made the generation @info describes: its fingerprint.json when it
 * has one; else computed from @info, with the version of QEMU taken from
 * the description's own `qemu_version` member, or else from @binary.
 */
JsonObject *fingerprint_of(const struct nbx_host *host, const MachineInfo *info,
			   QemuBinary *binary, const char *accelerator, int64_t deadline_us,
			   struct nbx_error *err);

/*
 * What this host would restore @info with: @binary's version, and the
 * machine type and CPU model of @info, each marked "(not supported by this
 * QEMU)" when @binary does not know it.
 */
JsonObject *fingerprint_for_host(const struct nbx_host *host, const MachineInfo *info,
				 QemuBinary *binary, const char *accelerator, int64_t deadline_us,
				 struct nbx_error *err);

/* Computed from @info with @version as the hypervisor's version. */
JsonObject *fingerprint_compute(const MachineInfo *info, const char *version,
				const char *accelerator);

/* Writes @fingerprint into @path, fsynced. */
bool fingerprint_write(JsonObject *fingerprint, const char *path, GError **error);

/* Calls @emit for every member; false as soon as @emit returns false. */
bool fingerprint_emit(JsonObject *fingerprint, nbx_snapshot_fingerprint_fn emit, void *emit_data);
