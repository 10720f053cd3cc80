/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 of data as it passes (snapshot archives, uploaded samples):
 * libcrypto's when the build has it (the CPU's SHA extensions, ~1.5 GB/s
 * here), else GLib's portable one (~230 MB/s).
 */
#pragma once

#include <glib.h>

typedef struct _NbxSha256 NbxSha256;

NbxSha256 *nbx_sha256_new(void);
void nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length);
/* Lower-case hex; frees @sum. */
char *nbx_sha256_finish(NbxSha256 *sum);
void nbx_sha256_free(NbxSha256 *sum);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSha256, nbx_sha256_free)

/* Lower-case hex of @data. */
char *nbx_sha256_of(const void *data, gsize length);
