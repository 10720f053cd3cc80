/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the parts of an analysis in files of their own use of analysis.c:
 * recorded steps, the task's failure, and waiting that a cancel or the
 * machine's death cuts short. On the analysis thread only. The guest run
 * (guest/, below tasks/) gets them as the NbxGuestAnalysis it is handed
 * (analysis_steps.c).
 */
#pragma once

#include <json-glib/json-glib.h>

#include "analysis.h"
#include "guest_run.h"

NbxAnalysisStep nbx_analysis_step_begin(NbxAnalysis *analysis, const char *name);
/* @error NULL: the step worked. */
void nbx_analysis_step_end(NbxAnalysis *analysis, NbxAnalysisStep *step, const char *error);
/* The first failure is the task's reason. */
void nbx_analysis_fail(NbxAnalysis *analysis, const char *message);
/* Likewise, and it counts against the machine. */
void nbx_analysis_machine_failed(NbxAnalysis *analysis, const char *message);
/* Cancelled, shut down, or the machine died. */
gboolean nbx_analysis_cut_short(NbxAnalysis *analysis);
/* Until @until (monotonic) unless cut short or woken; FALSE when cut short. */
gboolean nbx_analysis_wait_until(NbxAnalysis *analysis, gint64 until);

/* The functions above as a guest run calls them, its data the NbxAnalysis. */
extern const NbxGuestAnalysis nbx_analysis_for_guest;
