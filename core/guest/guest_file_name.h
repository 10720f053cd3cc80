/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The name a sample gets inside the guest. A submitted name is the
 * client's, and the guest's file system is the guest platform's: the name
 * loses any directory part, control characters, characters the platform
 * cannot store, Windows' reserved device names (CON, NUL, COM1, ...) and
 * bytes past NBX_GUEST_FILE_NAME_MAX; what is left is valid UTF-8 and never
 * empty. The original stays in the report.
 */
#pragma once

#include <glib.h>

/* At most this many bytes of UTF-8 (guest.h: upload). */
#define NBX_GUEST_FILE_NAME_MAX 200

/* @platform: the machine's ("windows" sanitises for NTFS and Win32). */
char *nbx_guest_file_name(const char *original, const char *platform);
