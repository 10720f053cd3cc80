/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pipe2 */
#define _GNU_SOURCE
#include "memory_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

const char *
memory_snapshot_format_of(const unsigned char *head, size_t len)
{
	static const unsigned char zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const unsigned char gzip[] = { 0x1f, 0x8b };
	/* `lz4 -z` (VMCloak's), and the legacy format of `lz4 -l`. */
	static const unsigned char lz4[] = { 0x04, 0x22, 0x4d, 0x18 };
	static const unsigned char lz4_legacy[] = { 0x02, 0x21, 0x4c, 0x18 };
	/* QEMU_VM_FILE_MAGIC: what an uncompressed migration stream starts with. */
	static const unsigned char raw[] = { 'Q', 'E', 'V', 'M' };

	if (len >= sizeof zstd && memcmp(head, zstd, sizeof zstd) == 0)
		return "zstd";
	if (len >= sizeof gzip && memcmp(head, gzip, sizeof gzip) == 0)
		return "gzip";
	if (len >= sizeof lz4 && (memcmp(head, lz4, sizeof lz4) == 0 ||
				  memcmp(head, lz4_legacy, sizeof lz4_legacy) == 0))
		return "lz4";
	if (len >= sizeof raw && memcmp(head, raw, sizeof raw) == 0)
		return "raw";
	return NULL;
}

static int
open_file(const struct nbx_host *host, const char *path, const char **format,
	  struct nbx_error *err)
{
	unsigned char head[4];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		host->error_set(host, err, errno == ENOENT ? NBX_ERROR_NOT_FOUND : NBX_ERROR_IO,
				"memory snapshot %s: %s (fix memory_snapshot in machineinfo)", path,
				g_strerror(errno));
		return -1;
	}
	got = pread(fd, head, sizeof head, 0);
	if (got <= 0) {
		host->error_set(host, err, NBX_ERROR_IO, "memory snapshot %s: %s", path,
				got == 0 ? "file is empty" : g_strerror(errno));
		close(fd);
		return -1;
	}
	*format = memory_snapshot_format_of(head, (size_t)got);
	if (*format == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"memory snapshot %s: not a QEMU migration stream, raw or compressed "
				"with zstd, gzip or lz4 (it starts with %02x %02x %02x %02x)",
				path, head[0], got > 1 ? head[1] : 0, got > 2 ? head[2] : 0,
				got > 3 ? head[3] : 0);
		close(fd);
		return -1;
	}
	return fd;
}

bool
memory_snapshot_open(const struct nbx_host *host, const char *path, const char *log_path,
		     MemorySnapshot *out, struct nbx_error *err)
{
	const char *format = NULL;
	int file = open_file(host, path, &format, err);
	int pipe_fds[2];
	const char *argv[] = { NULL, "-dc", NULL };

	memset(out, 0, sizeof *out);
	out->fd = -1;
	if (file < 0)
		return false;
	out->format = format;
	if (strcmp(format, "raw") == 0) {
		out->fd = file;
		return true;
	}
	if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "memory snapshot %s: pipe: %s", path,
				g_strerror(errno));
		close(file);
		return false;
	}
	argv[0] = format;
	/* Its diagnostics go to a log, never into the stream. */
	if (log_path != NULL)
		g_unlink(log_path);
	out->decompressor = child_process_spawn_to(host, argv, file, pipe_fds[1], log_path, err);
	close(file);
	close(pipe_fds[1]);
	if (out->decompressor == NULL) {
		close(pipe_fds[0]);
		return false;
	}
	out->fd = pipe_fds[0];
	return true;
}

void
memory_snapshot_close(MemorySnapshot *snapshot)
{
	if (snapshot->fd >= 0)
		close(snapshot->fd);
	snapshot->fd = -1;
	if (snapshot->decompressor != NULL)
		child_process_kill_and_free(snapshot->decompressor);
	snapshot->decompressor = NULL;
}
