/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A sample as it is uploaded: written to a new file in the samples
 * directory and hashed as it comes, so no upload is ever held in memory.
 * The file is removed with the upload unless it was adopted (the scheduler
 * moved it to its place by content), so a request that is refused or cut
 * short leaves nothing behind.
 */
#pragma once

#include <glib.h>

typedef struct _NbxApiUpload NbxApiUpload;

/* A new, empty ".upload-XXXXXX" in @dir (made if missing). */
NbxApiUpload *nbx_api_upload_new(const char *dir, GError **error);
gboolean nbx_api_upload_write(NbxApiUpload *upload, const void *data, gsize length, GError **error);
/* Syncs the file to disk: it is then whole, and nbx_api_upload_sha256() is its digest. */
gboolean nbx_api_upload_finish(NbxApiUpload *upload, GError **error);

const char *nbx_api_upload_path(NbxApiUpload *upload);
guint64 nbx_api_upload_size(NbxApiUpload *upload);
/* Lower-case hex, once finished. */
const char *nbx_api_upload_sha256(NbxApiUpload *upload);

/* The file now belongs to someone else: the upload no longer removes it. */
void nbx_api_upload_adopt(NbxApiUpload *upload);
void nbx_api_upload_free(NbxApiUpload *upload);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxApiUpload, nbx_api_upload_free)

/* Removes the uploads a daemon killed mid-upload left in @dir. */
void nbx_api_upload_clean_dir(const char *dir);
