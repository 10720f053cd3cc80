/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API's listening sockets, made here rather than by the HTTP
 * library so that their errors name the setting at fault and the UNIX
 * socket has its mode and group before anyone can connect.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/*
 * Binds @path (mode 0660, group @group unless NULL or "") and listens with
 * @backlog; a stale socket left by a dead daemon is replaced, one a live
 * daemon answers on is not. Returns the listening fd (close-on-exec,
 * non-blocking) and the socket file's identity, so that only that file is
 * ever removed; -1 with @error.
 */
int nbx_api_listen_unix(const char *path, const char *group, int backlog, dev_t *dev, ino_t *ino,
			GError **error);

/* Listens on "ADDRESS:PORT" or "[IPV6]:PORT" (an IP literal); -1 with @error. */
int nbx_api_listen_tcp(const char *address, int backlog, GError **error);

/* Removes the socket at @path if it is still the file nbx_api_listen_unix() made. */
void nbx_api_unlink_unix(const char *path, dev_t dev, ino_t ino);
