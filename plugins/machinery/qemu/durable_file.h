/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files written so that they survive a crash the moment the call returns:
 * a generation is made current by the core only after the plugin's commit
 * returned, so every byte of it must already be on disk by then.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* Creates or truncates @path with @contents and fsyncs it. */
bool durable_file_write(const char *path, const char *contents, gsize len, GError **error);

/*
 * Writes @path atomically: a temporary file beside it, fsynced, renamed
 * over it, the directory fsynced. A crash leaves the old file or the new.
 */
bool durable_file_replace(const char *path, const char *contents, gsize len, GError **error);

/* fsyncs a file someone else wrote (qemu-img, zstd). */
bool durable_file_sync(const char *path, GError **error);

/* fsyncs directory @path, so the names in it last. */
bool durable_file_sync_dir(const char *path, GError **error);

/* Copies @source to a new file @dest (which must not exist), fsynced. */
bool durable_file_copy(const char *source, const char *dest, GError **error);

/*
 * @dest as a hard link of @source when both are on one filesystem (no
 * bytes copied, and the source is not changed: a link only adds a name),
 * else a copy. @dest must not exist.
 */
bool durable_file_link_or_copy(const char *source, const char *dest, GError **error);
