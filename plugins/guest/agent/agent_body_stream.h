/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A request body read from several streams one after the other (a
 * multipart preamble, the file itself, the closing boundary), so a sample
 * is streamed from disk instead of loaded whole, and counted, so a stalled
 * upload can say how far it got. (GType names are process-wide, hence the
 * Nbx prefix: the daemon loads other plugins beside this one.)
 */
#pragma once

#include <gio/gio.h>

#define NBX_AGENT_TYPE_BODY_STREAM (nbx_agent_body_stream_get_type())
G_DECLARE_FINAL_TYPE(NbxAgentBodyStream, nbx_agent_body_stream, NBX_AGENT, BODY_STREAM, GInputStream)

/* Takes a reference to each of @parts (NULL-terminated), read in order. */
GInputStream *agent_body_stream_new(GInputStream *const *parts);

/* Bytes handed out so far. */
goffset agent_body_stream_consumed(NbxAgentBodyStream *stream);
