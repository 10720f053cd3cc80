/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machine's part of an analysis: restored from its snapshot generation
 * through the restore gate, watched while the sample runs (state events, or
 * asking when the machinery sends none), its memory dumped on request, and
 * stopped, gracefully first when configured. Every op is one recorded step.
 */
#include "analysis_private.h"

#include <gio/gio.h>

#include "netns.h"

/*
 * A machine op as one recorded step. On failure the machine is counted as
 * failing when @counts, and *@failure (if given) gets the message.
 */
static gboolean
machine_step(NbxAnalysis *analysis, NbxMachineryOp op, gint64 timeout_s, gboolean counts,
	     char **failure)
{
	NbxAnalysisStep step = nbx_analysis_step_begin(analysis, nbx_machinery_op_name(op));
	g_autofree char *message = NULL;
	gboolean ok;

	ok = nbx_analysis_machine_op(analysis, op, timeout_s, &message);
	nbx_analysis_step_end(analysis, &step, message);
	if (!ok && counts)
		nbx_analysis_machine_failed(analysis, message);
	if (failure != NULL)
		*failure = g_steal_pointer(&message);
	return ok;
}

/*
 * The machine's own state machine (machine.h) records and persists each
 * move. UP and STOP are made under the analysis's lock: a hypervisor event
 * then sees the machine RUNNING or not, never in between (the lock order is
 * the analysis's, then the machine's).
 */
static void
machine_moves(NbxAnalysis *analysis, NbxMachineEvent event)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_machine_transition(analysis->machine, event, analysis->task->id, NULL, &error))
		g_warning("task %" G_GINT64_FORMAT ": %s", analysis->task->id, error->message);
}

typedef struct {
	GSocketClient *client;
	GSocketAddress *target;
} AgentProbe;

static gboolean
probe_agent(gpointer data, GError **error)
{
	AgentProbe *probe = data;
	g_autoptr(GSocketConnection) connection =
		g_socket_client_connect(probe->client, G_SOCKET_CONNECTABLE(probe->target), NULL,
					error);

	return connection != NULL;
}

/*
 * One attempt. A machine on a segment is reached from inside its namespace
 * (netns.h): its guest's address means nothing in the daemon's.
 */
static gboolean
probe_agent_once(const struct nbx_machine *m, AgentProbe *probe, GError **error)
{
	if (m->network_namespace == NULL)
		return probe_agent(probe, error);
	return nbx_netns_run(m->network_namespace, probe_agent, probe, error);
}

/* Connects to the guest agent's port until it answers or the timeout passes. */
gboolean
nbx_analysis_wait_for_agent(NbxAnalysis *analysis)
{
	const struct nbx_machine *m = &analysis->machine->machine;
	gint64 give_up = g_get_monotonic_time() +
			 analysis->settings.timeouts.agent * G_USEC_PER_SEC;
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(m->ip);
	g_autoptr(GSocketAddress) target = NULL;
	g_autofree char *message = NULL;
	g_autofree char *last = NULL;
	NbxAnalysisStep step = nbx_analysis_step_begin(analysis, "agent");
	gboolean answered = FALSE;

	/* The guest is reached directly; a proxy resolver (libproxy) would only get in the way. */
	g_socket_client_set_enable_proxy(client, FALSE);
	g_socket_client_set_timeout(client, 1);
	target = g_inet_socket_address_new(address, (guint16)m->agent_port);
	while (!answered && !nbx_analysis_cut_short(analysis) && g_get_monotonic_time() < give_up) {
		g_autoptr(GError) error = NULL;
		AgentProbe probe = { client, target };

		if (probe_agent_once(m, &probe, &error)) {
			answered = TRUE;
			break;
		}
		g_free(last);
		last = g_strdup(error->message);
		nbx_analysis_wait_until(analysis, MIN(give_up, g_get_monotonic_time() +
								       50 * G_TIME_SPAN_MILLISECOND));
	}
	if (!answered && !nbx_analysis_cut_short(analysis))
		message = g_strdup_printf("the guest agent at %s:%d did not answer within %" G_GINT64_FORMAT
					  " s (last: %s)",
					  m->ip, m->agent_port, analysis->settings.timeouts.agent,
					  last != NULL ? last : "no attempt");
	nbx_analysis_step_end(analysis, &step, message != NULL ? message
					       : answered     ? NULL
							      : "cut short");
	if (message != NULL)
		nbx_analysis_machine_failed(analysis, message);
	return answered;
}

static gboolean
has_state_events(NbxAnalysis *analysis)
{
	return nbx_machinery_has_state_events(analysis->machine->machinery);
}

static gint32
current_state(NbxAnalysis *analysis)
{
	if (has_state_events(analysis))
		return nbx_machine_get_hypervisor_state(analysis->machine, NULL);
	return nbx_analysis_state_op(analysis);
}

/* The generation the restore uses; a step only when it fails (a store write is not free). */
static gboolean
use_generation(NbxAnalysis *analysis)
{
	g_autoptr(GError) refused = NULL;
	g_autofree char *message = NULL;

	if (analysis->settings.snapshots == NULL)
		return TRUE;
	if (nbx_snapshot_manager_use(analysis->settings.snapshots, analysis->machine,
				     &analysis->generation, &analysis->generation_dir, &refused)) {
		analysis->generation_in_use = TRUE;
		return TRUE;
	}
	message = g_strdup_printf("machine %s: %s", analysis->machine->machine.name,
				  refused->message);
	nbx_analysis_step_now(analysis, "snapshot", message);
	nbx_analysis_machine_failed(analysis, message);
	return FALSE;
}

static gboolean
gate_interrupted(gpointer data)
{
	NbxAnalysis *analysis = data;
	gboolean stop;

	g_mutex_lock(&analysis->lock);
	stop = analysis->interrupted;
	g_mutex_unlock(&analysis->lock);
	return stop;
}

static void
gate_waiting(gpointer data, gint64 limit)
{
	nbx_analysis_record_wait(data, limit);
}

/* `restore_start`, then `handle_paused` when the machine came back paused. */
static gboolean
restore(NbxAnalysis *analysis)
{
	const NbxTimeouts *timeouts = &analysis->settings.timeouts;
	const char *no_resume = "the machine came back paused and its machinery "
				"cannot resume it (no handle_paused)";

	if (!machine_step(analysis, NBX_MACHINERY_OP_RESTORE_START, timeouts->restore, TRUE,
			  NULL))
		return FALSE;
	if (current_state(analysis) != NBX_MACHINE_PAUSED)
		return TRUE;
	if (nbx_machinery_has(analysis->machine->machinery, NBX_MACHINERY_OP_HANDLE_PAUSED))
		return machine_step(analysis, NBX_MACHINERY_OP_HANDLE_PAUSED, timeouts->restore,
				    TRUE, NULL);
	nbx_analysis_step_now(analysis, "handle_paused", no_resume);
	nbx_analysis_machine_failed(analysis, no_resume);
	return FALSE;
}

/* The machine is up: from now on a POWEROFF is a death, and one seen already counts. */
static void
machine_is_up(NbxAnalysis *analysis)
{
	g_autofree char *died = NULL;

	g_mutex_lock(&analysis->lock);
	machine_moves(analysis, NBX_MACHINE_EVENT_UP);
	/* However busy this host is, a death between the restore and now is not missed. */
	if (analysis->early_death != NULL && analysis->death == NULL) {
		analysis->death = g_steal_pointer(&analysis->early_death);
		died = g_strdup(analysis->death);
	}
	g_mutex_unlock(&analysis->lock);
	if (died != NULL)
		nbx_analysis_machine_failed(analysis, died);
}

gboolean
nbx_analysis_start_machine(NbxAnalysis *analysis)
{
	NbxRestoreGateWaiter waiter = { gate_interrupted, gate_waiting, analysis };
	gboolean ok;

	if (!use_generation(analysis) || !nbx_restore_gate_enter(analysis->gate, &waiter))
		return FALSE;
	/* Marked first: a daemon killed during the restore must stop it at restart. */
	machine_moves(analysis, NBX_MACHINE_EVENT_RESTORE);
	ok = restore(analysis);
	nbx_restore_gate_leave(analysis->gate);
	if (ok)
		machine_is_up(analysis);
	return ok;
}

/*
 * The guest plugin watches the sample, which may end the run early: soon
 * after it started, then less and less often, at most a second apart. A
 * sample that exits at once (an installer that forks, a script that
 * fails) is seen within tens of milliseconds, not a second late, and a
 * long run still costs the guest one request a second.
 */
#define WATCH_FIRST_US (50 * G_TIME_SPAN_MILLISECOND)
#define WATCH_LAST_US G_USEC_PER_SEC

static char *
watch_guest(NbxAnalysis *analysis, gint64 end)
{
	gint64 interval = WATCH_FIRST_US;
	char *error = NULL;

	while (nbx_analysis_wait_until(analysis, MIN(end, g_get_monotonic_time() + interval)) &&
	       g_get_monotonic_time() < end) {
		interval = MIN(interval * 2, WATCH_LAST_US);
		if (!nbx_guest_run_tick(analysis->guest, &error))
			break;
		if (!has_state_events(analysis))
			nbx_analysis_machine_state(analysis, nbx_analysis_state_op(analysis), NULL);
	}
	return error;
}

void
nbx_analysis_run_duration(NbxAnalysis *analysis)
{
	gint64 end = g_get_monotonic_time() + analysis->task->duration_s * G_USEC_PER_SEC;
	NbxAnalysisStep step = nbx_analysis_step_begin(analysis, "run");
	g_autofree char *death = NULL;
	g_autofree char *guest_error = NULL;

	if (analysis->guest != NULL) {
		guest_error = watch_guest(analysis, end);
	} else if (has_state_events(analysis)) {
		nbx_analysis_wait_until(analysis, end);
	} else {
		/* No events: look every two seconds so a death is not missed for long. */
		while (nbx_analysis_wait_until(
			       analysis, MIN(end, g_get_monotonic_time() + 2 * G_USEC_PER_SEC)) &&
		       g_get_monotonic_time() < end)
			nbx_analysis_machine_state(analysis, nbx_analysis_state_op(analysis), NULL);
	}
	g_mutex_lock(&analysis->lock);
	death = g_strdup(analysis->death);
	g_mutex_unlock(&analysis->lock);
	nbx_analysis_step_end(analysis, &step, death != NULL ? death : guest_error);
	if (death != NULL)
		nbx_analysis_machine_failed(analysis, death);
	else if (guest_error != NULL)
		nbx_analysis_fail(analysis, guest_error);
}

void
nbx_analysis_dump_memory(NbxAnalysis *analysis)
{
	g_autofree char *path = g_build_filename(analysis->task->analysis_dir, "memory.dmp", NULL);
	NbxAnalysisStep step;
	g_autofree char *message = NULL;

	if (!nbx_machinery_has(analysis->machine->machinery, NBX_MACHINERY_OP_DUMP_MEMORY)) {
		nbx_analysis_step_now(analysis, "dump_memory", "not supported by this machinery");
		return;
	}
	step = nbx_analysis_step_begin(analysis, "dump_memory");
	/* A failed dump fails neither the task nor the machine: the rest is still worth having. */
	nbx_analysis_dump_memory_op(analysis, path, &message);
	nbx_analysis_step_end(analysis, &step, message);
}

/* `acpi_stop`, then waiting for the guest to power off, at most timeouts.acpi_stop. */
static void
stop_gracefully(NbxAnalysis *analysis)
{
	gint64 give_up;
	NbxAnalysisStep step;
	gint32 state;

	if (!machine_step(analysis, NBX_MACHINERY_OP_ACPI_STOP, analysis->settings.timeouts.stop,
			  FALSE, NULL))
		return;
	give_up = g_get_monotonic_time() + analysis->settings.timeouts.acpi_stop * G_USEC_PER_SEC;
	step = nbx_analysis_step_begin(analysis, "acpi_stop.wait");
	while ((state = current_state(analysis)) != NBX_MACHINE_POWEROFF &&
	       g_get_monotonic_time() < give_up) {
		/* Not wait_until: a cancel must not cut the grace period short. */
		g_usleep(200 * G_TIME_SPAN_MILLISECOND);
	}
	nbx_analysis_step_end(analysis, &step,
			      state == NBX_MACHINE_POWEROFF ? NULL
							    : "the guest did not power off in time; "
							      "pulling the plug");
}

/* Gracefully when configured, then (always) `stop`, which also cleans up. */
void
nbx_analysis_stop_machine(NbxAnalysis *analysis, gboolean was_started)
{
	g_autofree char *failure = NULL;

	g_mutex_lock(&analysis->lock);
	machine_moves(analysis, NBX_MACHINE_EVENT_STOP);
	g_mutex_unlock(&analysis->lock);

	if (was_started && analysis->settings.graceful_stop &&
	    nbx_machinery_has(analysis->machine->machinery, NBX_MACHINERY_OP_ACPI_STOP))
		stop_gracefully(analysis);
	if (nbx_analysis_machine_wedged(analysis))
		return;
	/*
	 * A failed stop does not fail the task (its results are complete) but
	 * takes the machine out of service at once: it may still be running.
	 */
	if (!machine_step(analysis, NBX_MACHINERY_OP_STOP, analysis->settings.timeouts.stop, FALSE,
			  &failure)) {
		analysis->outcome.machine_stuck = TRUE;
		if (analysis->outcome.machine_failure == NULL)
			analysis->outcome.machine_failure = g_steal_pointer(&failure);
	} else {
		machine_moves(analysis, NBX_MACHINE_EVENT_STOPPED);
	}
}
