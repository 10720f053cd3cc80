/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What guest_run.c, guest_op.c, guest_fetch.c and guest_steps.c share of one run. */
#pragma once

#include <nestbox/guest.h>

#include "guest_client.h"
#include "guest_run.h"
#include "guest_task_options.h"

struct _NbxGuestRun {
	gint refs;
	NbxPluginInstance *guest;
	NbxGuestLimits limits;
	/* The analysis the run is part of, and what the run reports to it. */
	const NbxGuestAnalysis *analysis;
	gpointer analysis_data;
	NbxTask *task;
	const struct nbx_machine *machine;
	NbxGuestTaskOptions *options;
	/* What the plugin sees, valid until its disconnect returned. */
	struct nbx_task plugin_task;
	struct nbx_guest_context context;
	struct nbx_report *report;
	NbxGuestSession session;
	struct nbx_guest_info info;
	/* The command and its process, between execute and the end. */
	struct nbx_guest_command command;
	char **argv;
	struct nbx_guest_process process;
	int stdout_fd, stderr_fd;
	gboolean executed;

	/* Guards the three below: an abandoned op returns on its own thread. */
	GMutex lock;
	gboolean connected;
	/* An op was abandoned and has not returned: no op may run on the session. */
	gboolean op_pending;
	/* The run is over: the pending op's return disconnects. */
	gboolean disconnect_on_return;

	/* No further op: one was abandoned, or the guest stopped answering. */
	gboolean broken;
	gboolean ended_early;
	JsonObject *summary;
};

/* Runs @op of the session with a deadline @timeout_s from now; *@message on failure. */
typedef struct _NbxGuestCall NbxGuestCall;

NbxGuestCall *nbx_guest_call_new(NbxGuestRun *run, NbxGuestOp op);
/* FALSE: failed (or abandoned: *@call is then NULL, the runner owns it). */
gboolean nbx_guest_call_run(NbxGuestCall **call, gint64 timeout_s, char **message);
void nbx_guest_call_free(NbxGuestCall *call);

/* The op's arguments and results. */
struct _NbxGuestCall {
	NbxGuestRun *run;
	NbxGuestOp op;
	NbxOpContext context;
	gint64 unix_time_us;
	char *host_path;
	char *file_name;
	char guest_path[4096];
	struct nbx_guest_process process;
	struct nbx_guest_info info;
	char *pattern;
	guint32 max_matches;
	GPtrArray *matches;
	int fd;
	gint64 max_bytes;
	gint64 size;
	/*
	 * Run in the daemon's namespace, not the machine's: only a disconnect
	 * whose machine's namespace is gone (guest_run.c).
	 */
	gboolean outside_namespace;
};

/* guest_fetch.c: the task's files and the agent's log into files/. */
void nbx_guest_fetch_files(NbxGuestRun *run);

/* What the run reports to, and asks of, its analysis (NbxGuestAnalysis). */
static inline NbxAnalysisStep
nbx_guest_step_begin(NbxGuestRun *run, const char *name)
{
	return run->analysis->step_begin(run->analysis_data, name);
}

static inline void
nbx_guest_step_end(NbxGuestRun *run, NbxAnalysisStep *step, const char *error)
{
	run->analysis->step_end(run->analysis_data, step, error);
}

static inline void
nbx_guest_fail(NbxGuestRun *run, const char *message)
{
	run->analysis->fail(run->analysis_data, message);
}

static inline void
nbx_guest_machine_failed(NbxGuestRun *run, const char *message)
{
	run->analysis->machine_failed(run->analysis_data, message);
}

static inline gboolean
nbx_guest_cut_short(NbxGuestRun *run)
{
	return run->analysis->cut_short(run->analysis_data);
}
