/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "agent" guest plugin: the Cuckoo/CAPE agent protocol (agent.py of
 * CAPE 0.22 and of Cuckoo 2 0.10, and nestbox-agent). The ops live in one
 * file per concern; this header is what they share.
 */
#pragma once

#include <nestbox/plugin.h>

#include "agent_session.h"
#include "agent_settings.h"

/* One per configuration load. */
struct agent_plugin {
	const struct nbx_host *host;
	struct agent_settings settings;
};

/*
 * The common start of a session op: refuses call flags (none is defined)
 * and records the op's deadline for the requests it makes.
 */
bool agent_op_begin(struct agent_session *session, const struct nbx_call *call,
		    struct nbx_error *err);

/* agent_connect.c */
bool agent_op_connect(void *instance, const struct nbx_guest_context *context, void **session,
		      struct nbx_guest_info *info, const struct nbx_call *call,
		      struct nbx_error *err);
void agent_op_disconnect(void *instance, const struct nbx_guest_context *context, void *session);

/* agent_upload.c */
bool agent_op_upload(void *instance, void *session, const char *host_path, const char *file_name,
		     char *guest_path, size_t guest_path_size, const struct nbx_call *call,
		     struct nbx_error *err);

/* agent_run.c */
bool agent_op_execute(void *instance, void *session, const struct nbx_guest_command *command,
		      struct nbx_guest_process *process, const struct nbx_call *call,
		      struct nbx_error *err);
bool agent_op_poll(void *instance, void *session, const struct nbx_guest_command *command,
		   struct nbx_guest_process *process, const struct nbx_call *call,
		   struct nbx_error *err);

/* agent_clock.c */
bool agent_op_set_clock(void *instance, void *session, int64_t unix_time_us,
			const struct nbx_call *call, struct nbx_error *err);

/* agent_files.c */
bool agent_op_list_files(void *instance, void *session, const char *pattern,
			 uint32_t max_matches, nbx_guest_file_fn emit, void *emit_data,
			 const struct nbx_call *call, struct nbx_error *err);
bool agent_op_download(void *instance, void *session, const char *guest_path, int fd,
		       int64_t max_bytes, int64_t *size, const struct nbx_call *call,
		       struct nbx_error *err);
bool agent_op_agent_log(void *instance, void *session, int fd, int64_t max_bytes,
			const struct nbx_call *call, struct nbx_error *err);
