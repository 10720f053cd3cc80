/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 of data as it streams past, as lower-case hex.
 *
 * GLib's SHA-256 is portable C: about 230 MB/s here, slower than zstd at
 * level 3, so it set the pace of a snapshot export and import. libcrypto's
 * uses the CPU's SHA extensions (1.5 GB/s); the build picks it when it
 * defines NBX_HAVE_LIBCRYPTO and links libcrypto.
 */
#pragma once

#include <glib.h>

typedef struct _NbxSha256 NbxSha256;

NbxSha256 *nbx_sha256_new(void);
void nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length);
/* The digest in lower-case hex (g_free); frees @sum. */
char *nbx_sha256_finish(NbxSha256 *sum);
void nbx_sha256_free(NbxSha256 *sum);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSha256, nbx_sha256_free)

/* The lower-case hex SHA-256 of @length bytes at @data (g_free). */
char *nbx_sha256_hex(const void *data, gsize length);
