/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nestbox-agent's extensions of the protocol: see agent_extensions.c. */
#pragma once

#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>

#include "agent_session.h"

/* Reads the answer to an extended /execute into @process (and the output, when waited). */
bool agent_extended_executed(struct agent_session *session,
			     const struct nbx_guest_command *command, JsonObject *answer,
			     struct nbx_guest_process *process, struct nbx_error *err);

/* POST /process for a command agent_extended_executed() started. */
bool agent_extended_poll(struct agent_session *session, const struct nbx_guest_command *command,
			 struct nbx_guest_process *process, struct nbx_error *err);

/* POST /list: @emit for each match, at most @max_matches. */
bool agent_extended_list(struct agent_session *session, const char *pattern,
			 uint32_t max_matches, nbx_guest_file_fn emit, void *emit_data,
			 struct nbx_error *err);

/* POST /clock. */
bool agent_extended_set_clock(struct agent_session *session, int64_t unix_time_us,
			      struct nbx_error *err);
