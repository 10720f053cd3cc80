/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One analysis's conversation with its guest's agent: what the agent
 * announced, how commands run there, and the calls every op is made of (a
 * request with a JSON answer, a temporary directory, a stored file, a
 * retrieved one).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>

#include "agent_http.h"
#include "agent_settings.h"

/* The announced features this plugin uses; an unannounced one is never used. */
enum agent_feature {
	AGENT_FEATURE_EXECPY = 1u << 0,
	AGENT_FEATURE_EXECUTE = 1u << 1,
	AGENT_FEATURE_LOGS = 1u << 2,
	/* Paths may be any UTF-8 (agent.py 0.8 and later). */
	AGENT_FEATURE_UNICODEPATH = 1u << 7,
	/* nestbox-agent's extensions (tools/nestbox-agent/PROTOCOL.md). */
	AGENT_FEATURE_EXECUTE_EXITCODE = 1u << 3,
	AGENT_FEATURE_PROCESS = 1u << 4,
	AGENT_FEATURE_LIST = 1u << 5,
	AGENT_FEATURE_CLOCK = 1u << 6,
};

/* How this session runs a command, chosen at connect from the features. */
enum agent_run_method {
	AGENT_RUN_NONE,
	/* nestbox-agent: /execute with exit codes, /process to watch. */
	AGENT_RUN_EXTENDED,
	/* The helper script through /execpy (CAPE, Cuckoo 2). */
	AGENT_RUN_LAUNCHER_EXECPY,
	/* The helper script through /execute and a configured interpreter. */
	AGENT_RUN_LAUNCHER_EXECUTE,
	/* Plain /execute: output of a waited command, no exit code. */
	AGENT_RUN_EXECUTE,
};

struct agent_session {
	const struct nbx_host *host;
	const struct nbx_guest_context *context;
	/* The configured settings with the task's options applied. */
	struct agent_settings settings;
	AgentEndpoint endpoint;
	/* The deadline of the op running now (ops of a session never overlap). */
	int64_t deadline_us;
	uint32_t features;
	gboolean windows;
	enum agent_run_method run_method;
	/* char *: the launcher's directory of each command, by the index its handle names. */
	GPtrArray *launches;
};

typedef struct agent_session AgentSession;

/* Whether the agent announced all of @features. */
gboolean agent_has(const struct agent_session *session, uint32_t features);

/* The interpreter configured for the guest's platform, or NULL. */
const char *agent_interpreter(const struct agent_session *session);

/* A JSON answer: its HTTP status and its object (NULL when it had no body). */
typedef struct {
	guint status;
	JsonObject *object;
} AgentAnswer;

void agent_answer_clear(AgentAnswer *answer);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AgentAnswer, agent_answer_clear)

/*
 * @method @path with @form (name, value, ..., NULL; may be NULL), answered
 * with JSON of at most @max bytes (any status). False with @err when no
 * such answer came; *@failure (may be NULL) says how.
 */
bool agent_call(struct agent_session *session, const char *method, const char *path,
		AgentRequestKind kind, const char *const *form, gsize max, AgentAnswer *answer,
		AgentFailure *failure, struct nbx_error *err);

/* Fills @err for an answer whose status says the agent refused @what, with its words. */
void agent_fail_refused(struct agent_session *session, const char *what,
			const AgentAnswer *answer, struct nbx_error *err);

/* @dir + the guest's separator + @name. */
char *agent_guest_join(const struct agent_session *session, const char *dir, const char *name);

/* POST /mkdtemp: a fresh directory of the guest into *@dir (checked: printable, absolute). */
bool agent_make_temp_dir(struct agent_session *session, const char *prefix, char **dir,
			 struct nbx_error *err);

/* POST /store of @length bytes of @content as @guest_path, streamed. */
bool agent_store_stream(struct agent_session *session, const char *guest_path,
			GInputStream *content, goffset length, struct nbx_error *err);

/* POST /store of @data as @guest_path. */
bool agent_store_bytes(struct agent_session *session, const char *guest_path, GBytes *data,
		       struct nbx_error *err);

/*
 * POST /retrieve of @guest_path into @fd, at most @max bytes; *@missing
 * when the agent has no such file (404), *@too_large when it had more.
 */
bool agent_retrieve_to_fd(struct agent_session *session, const char *guest_path, int fd,
			  int64_t max, int64_t *written, gboolean *missing, gboolean *too_large,
			  struct nbx_error *err);

/* POST /retrieve of a small file (at most @max bytes); *@missing on 404. */
bool agent_retrieve_bytes(struct agent_session *session, const char *guest_path, gsize max,
			  GBytes **data, gboolean *missing, struct nbx_error *err);

/* Records @key = @value in the plugin's part of the report. */
void agent_report_string(struct agent_session *session, const char *key, const char *value);
void agent_report_boolean(struct agent_session *session, const char *key, gboolean value);
