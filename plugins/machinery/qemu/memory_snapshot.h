/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A memory snapshot (QEMU migration stream) as a readable descriptor for
 * QMP getfd: the file itself when raw, or the read end of a pipe fed by a
 * decompressor child (zstd, gzip, lz4) chosen by the file's magic bytes, not
 * by its name or by what machineinfo.json claims.
 */
#pragma once

#include <nestbox/plugin.h>

#include "child_process.h"

typedef struct {
	/* What QEMU reads; the caller passes it on and closes it. */
	int fd;
	/* The decompressor, or NULL for a raw file. */
	ChildProcess *decompressor;
	const char *format;
} MemorySnapshot;

/*
 * "zstd", "gzip", "lz4" or "raw" (a migration stream's own magic) for the
 * first bytes of a file; NULL for anything else.
 */
const char *memory_snapshot_format_of(const unsigned char *head, size_t len);

/*
 * Opens @path; a decompressor writes its output into the pipe and its
 * errors into @log_path (NULL: the daemon's log). False with @err naming
 * the file when it cannot be read or is no migration stream.
 */
bool memory_snapshot_open(const struct nbx_host *host, const char *path, const char *log_path,
			  MemorySnapshot *out, struct nbx_error *err);

/* Closes what is still open and kills a decompressor that still runs. */
void memory_snapshot_close(MemorySnapshot *snapshot);
