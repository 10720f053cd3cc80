/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The steps on top of reading a snapshot archive (archive_import.h has the
 * state and the steps below):
 *   archive_header.c       the header entry, and the check callback
 *   archive_verify.c       manifest.json against the header and the data
 *   archive_read.c         nbx_snapshot_archive_read(): opening, the file
 *                          entries unpacked, the steps in order
 */
#pragma once

#include "archive_import.h"

/* ---- archive_header.c ---- */

/* Reads and checks the first entry, then lets @check refuse the archive. */
gboolean nbx_archive_import_header(NbxArchiveImport *im, NbxSnapshotArchiveCheck check,
				   gpointer user_data, GError **error);

/* ---- archive_verify.c ---- */

/* manifest.json (@entry) against the header and what was read; nothing may follow it. */
gboolean nbx_archive_import_manifest(NbxArchiveImport *im, struct archive_entry *entry,
				     GError **error);
