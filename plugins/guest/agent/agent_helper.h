/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The helper script (guest_helper.py) in the guest: uploaded with its job
 * into a fresh directory, run by the agent (/execpy with the agent's own
 * Python, or /execute with a configured interpreter), its results fetched
 * back as files. It is how a command gets an exit code, a bounded output
 * and a watchable end from agents that report none, and how the clock is
 * set and globs are listed where the agent has no route for them.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "agent_session.h"

/* One run of the helper. */
typedef struct {
	/* Its directory in the guest, where it leaves its files. */
	char *dir;
	/* What the interpreter printed, printable and cut (from a waited run), or NULL. */
	char *said;
} AgentHelperRun;

void agent_helper_run_clear(AgentHelperRun *run);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentHelperRun, agent_helper_run_clear)

/* Whether this session can run the helper at all. */
gboolean agent_helper_available(const struct agent_session *session);

/*
 * Uploads the helper with its job @spec (a JSON object) and starts it. With
 * @wait, returns once it has ended (the op's deadline bounds the wait);
 * without, once the agent has started it.
 */
bool agent_helper_start(struct agent_session *session, JsonNode *spec, gboolean wait,
			AgentHelperRun *run, struct nbx_error *err);

/*
 * The helper's file @name (a small JSON object) into *@object; *@missing
 * (and true) when it has not written it (yet).
 */
bool agent_helper_read(struct agent_session *session, const AgentHelperRun *run,
		       const char *name, JsonObject **object, gboolean *missing,
		       struct nbx_error *err);

/* The guest path of the helper's file @name. */
char *agent_helper_path(const struct agent_session *session, const AgentHelperRun *run,
			const char *name);

/*
 * Runs the helper with @spec to its end and reads its "result": a helper
 * that left none is an error naming what the interpreter said.
 */
bool agent_helper_run(struct agent_session *session, JsonNode *spec, JsonObject **result,
		      struct nbx_error *err);
