/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An analysis as its guest run sees it: the guest run (guest/) reports its
 * steps and failures through the NbxGuestAnalysis it is handed, so that it
 * calls nothing above it; these are the analysis's functions behind it.
 */
#include "analysis_steps.h"

static NbxAnalysisStep
step_begin(gpointer analysis, const char *name)
{
	return nbx_analysis_step_begin(analysis, name);
}

static void
step_end(gpointer analysis, NbxAnalysisStep *step, const char *error)
{
	nbx_analysis_step_end(analysis, step, error);
}

static void
fail(gpointer analysis, const char *message)
{
	nbx_analysis_fail(analysis, message);
}

static void
machine_failed(gpointer analysis, const char *message)
{
	nbx_analysis_machine_failed(analysis, message);
}

static gboolean
cut_short(gpointer analysis)
{
	return nbx_analysis_cut_short(analysis);
}

const NbxGuestAnalysis nbx_analysis_for_guest = {
	.step_begin = step_begin,
	.step_end = step_end,
	.fail = fail,
	.machine_failed = machine_failed,
	.cut_short = cut_short,
};
