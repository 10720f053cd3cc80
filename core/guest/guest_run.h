/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's part of an analysis, through the machine's guest plugin
 * (nestbox/guest.h), every op on the op runner with its deadline:
 *
 *   begin  connect (the agent answers: name, version, features), set the
 *          clock (the report says whether it could), upload the sample under
 *          its sanitised name into a fresh guest directory, execute it;
 *   tick   once a second during the run: poll it (exit code), and end the
 *          run early when the task asked `until_exit` and it exited;
 *   end    fetch the task's files and the agent's log into
 *          ANALYSIS_DIR/files/ (names the core makes, sizes bounded,
 *          SHA-256 each), then disconnect.
 *
 * A guest op that fails fails the task with the plugin's words; one that
 * does not return is abandoned (the task fails, saying so), no further op
 * of the session runs, and the session is disconnected when the op returns.
 * Everything runs on the analysis thread.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"
#include "task.h"

typedef struct {
	/* Seconds the agent has to answer at all (timeouts.agent). */
	gint64 connect_s;
	/* Seconds every other op has (timeouts.guest); upload and fetch per file. */
	gint64 op_s;
	gint64 grace_s;
	/* guest.max_files, guest.max_file_mb, guest.max_output_kb, in files and bytes. */
	gint64 max_files;
	gint64 max_file_bytes;
	gint64 max_output_bytes;
} NbxGuestLimits;

/* A step of the analysis as its report records it: begun, then ended. */
typedef struct {
	JsonObject *object;
	gint64 start_us;
} NbxAnalysisStep;

/*
 * What a run reports to, and asks of, the analysis it is part of (@data
 * is the analysis): recorded steps, the task's failure, and whether a
 * cancel or the machine's death cut it short. The analysis (tasks/) hands
 * it in, so guest/ calls nothing above it. On the analysis thread only.
 */
typedef struct {
	NbxAnalysisStep (*step_begin)(gpointer data, const char *name);
	/* @error NULL: the step worked. */
	void (*step_end)(gpointer data, NbxAnalysisStep *step, const char *error);
	/* The first failure is the task's reason. */
	void (*fail)(gpointer data, const char *message);
	/* Likewise, and it counts against the machine. */
	void (*machine_failed)(gpointer data, const char *message);
	/* Cancelled, shut down, or the machine died. */
	gboolean (*cut_short)(gpointer data);
} NbxGuestAnalysis;

typedef struct _NbxGuestRun NbxGuestRun;

/*
 * @task, @machine and @options (this plugin's per-task options, or NULL)
 * are copied or must outlive the run's last op; @task->analysis_dir exists.
 * The run reports to @analysis with @analysis_data, both outliving it.
 */
NbxGuestRun *nbx_guest_run_new(NbxPluginInstance *guest, const NbxTask *task,
			       const struct nbx_machine *machine,
			       const struct nbx_config_node *options, const NbxGuestLimits *limits,
			       const NbxGuestAnalysis *analysis, gpointer analysis_data);

/* Connect, clock, upload, execute: FALSE when the analysis cannot go on. */
gboolean nbx_guest_run_begin(NbxGuestRun *run);

/*
 * During the run, about once a second: FALSE ends the run now (the sample
 * exited and the task asked `until_exit`, or the guest stopped answering:
 * then *@error says so and the task has failed).
 */
gboolean nbx_guest_run_tick(NbxGuestRun *run, char **error);

/* Fetch what the task asked for, then disconnect. Always, after a successful begin or not. */
void nbx_guest_run_end(NbxGuestRun *run);

/* The report's "guest" object. */
JsonObject *nbx_guest_run_summary(NbxGuestRun *run);

NbxGuestRun *nbx_guest_run_ref(NbxGuestRun *run);
void nbx_guest_run_unref(NbxGuestRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxGuestRun, nbx_guest_run_unref)
