/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest steps of an analysis on a run (guest_run.c): connect, set the
 * clock, upload and execute the sample, watch it, fetch the files
 * (guest_fetch.c) and disconnect, each op through guest_op.c.
 */
#include "guest_run_private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "guest_command.h"
#include "guest_file_name.h"
#include "report.h"
#include "sha256.h"

/* What the report shows of each output stream; the whole (bounded) stream is in output/. */
#define REPORT_OUTPUT_BYTES (64 * 1024)
#define DISCONNECT_TIMEOUT_S 10

/* ---- connect and clock ---------------------------------------------------- */

static JsonArray *
ability_names(guint32 abilities)
{
	static const char *const names[] = { "watch",	  "exit_code", "output",   "list",
					     "set_clock", "download",  "agent_log" };
	JsonArray *array = json_array_new();

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (abilities & (1u << i))
			json_array_add_string_element(array, names[i]);
	}
	return array;
}

/* A string from the guest, as valid UTF-8. */
static void
set_guest_text(JsonObject *object, const char *key, const char *text, gssize length)
{
	g_autofree char *valid = g_utf8_make_valid(text, length);

	json_object_set_string_member(object, key, valid);
}

static void
record_agent(NbxGuestRun *run, const struct nbx_guest_info *info)
{
	JsonObject *agent = json_object_new();

	run->info = *info;
	/* The plugin's strings are the guest's words: ended and made valid before use. */
	run->info.name[sizeof run->info.name - 1] = '\0';
	run->info.version[sizeof run->info.version - 1] = '\0';
	run->info.features[sizeof run->info.features - 1] = '\0';
	set_guest_text(agent, "name", run->info.name, -1);
	set_guest_text(agent, "version", run->info.version, -1);
	set_guest_text(agent, "features", run->info.features, -1);
	json_object_set_array_member(agent, "abilities", ability_names(run->info.abilities));
	json_object_set_object_member(run->summary, "agent", agent);
}

static gboolean
connect_agent(NbxGuestRun *run)
{
	NbxGuestCall *call = nbx_guest_call_new(run, NBX_GUEST_OP_CONNECT);
	NbxAnalysisStep step = nbx_guest_step_begin(run, "guest.connect");
	g_autofree char *message = NULL;
	gboolean ok;

	call->info.struct_size = sizeof call->info;
	ok = nbx_guest_call_run(&call, run->limits.connect_s, &message);
	if (ok) {
		g_mutex_lock(&run->lock);
		run->connected = TRUE;
		g_mutex_unlock(&run->lock);
		record_agent(run, &call->info);
	}
	nbx_guest_call_free(call);
	nbx_guest_step_end(run, &step, message);
	/* As the bare port wait did: a guest whose agent never answers counts against the machine. */
	if (!ok)
		nbx_guest_machine_failed(run, message);
	return ok;
}

/* The guest woke up at the time its snapshot was taken: tell it the time, or say why not. */
static void
set_clock(NbxGuestRun *run)
{
	JsonObject *clock = json_object_new();
	g_autofree char *message = NULL;
	gboolean ok = FALSE;

	if (!nbx_guest_has(run->guest, NBX_GUEST_OP_SET_CLOCK) ||
	    !(run->info.abilities & NBX_GUEST_CAN_SET_CLOCK)) {
		message = g_strdup_printf("not possible: guest plugin %s cannot set this agent's "
					  "clock",
					  nbx_plugin_instance_name(run->guest));
	} else {
		NbxAnalysisStep step = nbx_guest_step_begin(run, "guest.set_clock");
		NbxGuestCall *call = nbx_guest_call_new(run, NBX_GUEST_OP_SET_CLOCK);

		call->unix_time_us = g_get_real_time();
		ok = nbx_guest_call_run(&call, run->limits.op_s, &message);
		nbx_guest_call_free(call);
		/* A clock that could not be set does not fail the analysis: the report says so. */
		nbx_guest_step_end(run, &step, message);
	}
	json_object_set_boolean_member(clock, "set", ok);
	if (message != NULL)
		json_object_set_string_member(clock, "reason", message);
	json_object_set_object_member(run->summary, "clock", clock);
}

/* ---- the sample in ---------------------------------------------------------- */

static void
record_sample(NbxGuestRun *run, const char *original, const char *guest_name,
	      const char *guest_path)
{
	JsonObject *sample = json_object_new();
	g_autofree char *digest = g_path_get_basename(run->task->target);
	GStatBuf st;

	json_object_set_string_member(sample, "original_name", original);
	json_object_set_string_member(sample, "guest_name", guest_name);
	set_guest_text(sample, "guest_path", guest_path, -1);
	if (g_stat(run->task->target, &st) == 0)
		json_object_set_int_member(sample, "size", st.st_size);
	/* Samples are stored by content: the stored file's name is its SHA-256. */
	json_object_set_string_member(sample, "sha256", digest);
	json_object_set_object_member(run->summary, "sample", sample);
}

static gboolean
upload_sample(NbxGuestRun *run, char **guest_path)
{
	g_autofree char *original = run->task->target_name != NULL
					    ? g_strdup(run->task->target_name)
					    : g_path_get_basename(run->task->target);
	g_autofree char *name = nbx_guest_file_name(original, run->machine->platform);
	NbxAnalysisStep step = nbx_guest_step_begin(run, "guest.upload");
	NbxGuestCall *call = nbx_guest_call_new(run, NBX_GUEST_OP_UPLOAD);
	g_autofree char *message = NULL;
	gboolean ok;

	call->host_path = g_strdup(run->task->target);
	call->file_name = g_strdup(name);
	ok = nbx_guest_call_run(&call, run->limits.op_s, &message);
	if (ok) {
		*guest_path = g_strdup(call->guest_path);
		record_sample(run, original, name, call->guest_path);
	}
	nbx_guest_call_free(call);
	nbx_guest_step_end(run, &step, message);
	if (!ok)
		nbx_guest_fail(run, message);
	return ok;
}

/* ---- running it ----------------------------------------------------------------- */

/* A new file for one output stream, under output/ of the analysis directory. */
static int
open_output(NbxGuestRun *run, const char *name, char **message)
{
	g_autofree char *dir = g_build_filename(run->task->analysis_dir, "output", NULL);
	g_autofree char *path = g_build_filename(dir, name, NULL);
	int fd;

	if (g_mkdir_with_parents(dir, 0750) != 0 && *message == NULL) {
		*message = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 && *message == NULL)
		*message = g_strdup_printf("cannot create %s: %s", path, g_strerror(errno));
	return fd;
}

/* Whether the process can be watched to its end (else a run that waits does). */
static gboolean
can_watch(NbxGuestRun *run)
{
	return nbx_guest_has(run->guest, NBX_GUEST_OP_POLL) &&
	       (run->info.abilities & NBX_GUEST_CAN_WATCH);
}

static gboolean
build_command(NbxGuestRun *run, const char *guest_path, char **message)
{
	const char *template = run->options->command;
	g_autoptr(GError) error = NULL;
	g_autofree char *line = NULL;
	JsonObject *recorded = json_object_new();

	if (template == NULL)
		template = nbx_guest_package_template(run->options->package, run->machine->platform,
						      &error);
	if (template == NULL ||
	    !nbx_guest_command_expand(template, guest_path, (const char *const *)run->options->arguments,
				      &line, &run->argv, &error)) {
		*message = g_strdup_printf("the command to run the sample: %s", error->message);
		json_object_unref(recorded);
		return FALSE;
	}
	json_object_set_string_member(recorded, "template", template);
	if (run->options->package != NULL)
		json_object_set_string_member(recorded, "package", run->options->package);
	json_object_set_string_member(recorded, "line", line);
	json_object_set_boolean_member(recorded, "until_exit", run->options->until_exit);
	json_object_set_object_member(run->summary, "command", recorded);
	run->command = (struct nbx_guest_command){
		.struct_size = sizeof run->command,
		.command = g_steal_pointer(&line),
		.argv = (const char *const *)run->argv,
		.cwd = NULL,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.output_limit = run->limits.max_output_bytes,
	};
	return TRUE;
}

static gboolean
execute_sample(NbxGuestRun *run, const char *guest_path)
{
	g_autofree char *message = NULL;
	g_autofree char *cwd = nbx_guest_path_directory(guest_path);
	NbxAnalysisStep step = nbx_guest_step_begin(run, "guest.execute");
	gint64 timeout_s = run->limits.op_s;
	gboolean ok = build_command(run, guest_path, &message);
	NbxGuestCall *call;

	if (ok) {
		run->stdout_fd = open_output(run, "stdout", &message);
		run->stderr_fd = open_output(run, "stderr", &message);
		ok = run->stdout_fd >= 0 && run->stderr_fd >= 0;
	}
	if (ok) {
		run->command.cwd = cwd;
		run->command.stdout_fd = run->stdout_fd;
		run->command.stderr_fd = run->stderr_fd;
		/* An agent that cannot watch a process: wait for it, at most the duration. */
		if (run->options->until_exit && !can_watch(run)) {
			run->command.flags |= NBX_GUEST_COMMAND_WAIT;
			timeout_s = MAX(run->task->duration_s, 1);
		}
		call = nbx_guest_call_new(run, NBX_GUEST_OP_EXECUTE);
		ok = nbx_guest_call_run(&call, timeout_s, &message);
		if (ok)
			run->process = call->process;
		nbx_guest_call_free(call);
		run->executed = ok;
		/* The plugin keeps the directory only until execute returns. */
		run->command.cwd = NULL;
	}
	nbx_guest_step_end(run, &step, message);
	if (!ok)
		nbx_guest_fail(run, message);
	return ok;
}

gboolean
nbx_guest_run_begin(NbxGuestRun *run)
{
	g_autofree char *guest_path = NULL;

	if (!connect_agent(run))
		return FALSE;
	set_clock(run);
	if (nbx_guest_cut_short(run))
		return FALSE;
	/* A task without a file runs nothing: the guest is only watched and fetched from. */
	if (run->task->target == NULL)
		return TRUE;
	return upload_sample(run, &guest_path) && !nbx_guest_cut_short(run) &&
	       execute_sample(run, guest_path);
}

static gboolean
exited(NbxGuestRun *run)
{
	return run->process.state == NBX_GUEST_PROCESS_EXITED;
}

gboolean
nbx_guest_run_tick(NbxGuestRun *run, char **error)
{
	g_autofree char *message = NULL;
	NbxGuestCall *call;
	gboolean ok;

	if (run->executed && !exited(run) && can_watch(run)) {
		call = nbx_guest_call_new(run, NBX_GUEST_OP_POLL);
		ok = nbx_guest_call_run(&call, run->limits.op_s, &message);
		if (ok)
			run->process = call->process;
		nbx_guest_call_free(call);
		if (!ok) {
			run->broken = TRUE;
			*error = g_strdup_printf("the guest stopped answering during the run: %s",
						 message);
			return FALSE;
		}
	}
	if (run->executed && exited(run) && run->options->until_exit) {
		run->ended_early = TRUE;
		return FALSE;
	}
	return TRUE;
}

/* ---- the end ---------------------------------------------------------------------- */

static const char *
state_name(gint32 state)
{
	switch (state) {
	case NBX_GUEST_PROCESS_RUNNING:
		return "running";
	case NBX_GUEST_PROCESS_EXITED:
		return "exited";
	default:
		return "started";
	}
}

/* One output stream: its size, and its first REPORT_OUTPUT_BYTES as text. */
static void
record_output(JsonObject *process, const char *name, int fd)
{
	g_autofree char *buffer = g_malloc(REPORT_OUTPUT_BYTES);
	g_autofree char *size_key = g_strdup_printf("%s_bytes", name);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	ssize_t got;

	if (size < 0)
		return;
	got = pread(fd, buffer, REPORT_OUTPUT_BYTES, 0);
	set_guest_text(process, name, buffer, MAX(got, 0));
	json_object_set_int_member(process, size_key, size);
}

static void
record_process(NbxGuestRun *run)
{
	JsonObject *process = json_object_new();
	struct nbx_guest_process *p = &run->process;

	p->note[sizeof p->note - 1] = '\0';
	json_object_set_string_member(process, "state", state_name(p->state));
	if (p->pid > 0)
		json_object_set_int_member(process, "pid", p->pid);
	if (p->exit_code_known) {
		json_object_set_int_member(process, "exit_code", p->exit_code);
	} else {
		const char *why = p->note[0] != '\0' ? p->note
				  : !exited(run)      ? "it had not exited when the run ended"
				  : "the guest plugin reported none";
		g_autofree char *reason = g_strdup_printf("not available: %s (guest plugin %s)", why,
							  nbx_plugin_instance_name(run->guest));

		json_object_set_null_member(process, "exit_code");
		set_guest_text(process, "exit_code_reason", reason, -1);
	}
	json_object_set_boolean_member(process, "ended_early", run->ended_early);
	record_output(process, "stdout", run->stdout_fd);
	record_output(process, "stderr", run->stderr_fd);
	json_object_set_object_member(run->summary, "process", process);
}

/* Disconnects once, unless an op is pending (then its return does it). */
static void
run_disconnect(NbxGuestRun *run)
{
	gboolean now;

	g_mutex_lock(&run->lock);
	now = run->connected && !run->op_pending;
	if (now)
		run->connected = FALSE;
	else
		run->disconnect_on_return = TRUE;
	g_mutex_unlock(&run->lock);
	if (now) {
		NbxGuestCall *call = nbx_guest_call_new(run, NBX_GUEST_OP_DISCONNECT);

		/* Through the runner all the same: a disconnect that hangs must not hold the machine. */
		if (!nbx_guest_call_run(&call, DISCONNECT_TIMEOUT_S, NULL) && call != NULL) {
			/*
			 * Failed, not abandoned: the op never ran, the machine's
			 * namespace could not be entered (deleted under the
			 * daemon). The plugin frees its session in disconnect,
			 * which comes once for every connect (guest.h); closing
			 * needs no namespace.
			 */
			call->outside_namespace = TRUE;
			nbx_guest_call_run(&call, DISCONNECT_TIMEOUT_S, NULL);
		}
		nbx_guest_call_free(call);
	}
}

void
nbx_guest_run_end(NbxGuestRun *run)
{
	gboolean connected;

	if (run->executed)
		record_process(run);
	g_mutex_lock(&run->lock);
	connected = run->connected;
	g_mutex_unlock(&run->lock);
	/* A guest that stopped answering gets no more requests: each would wait its deadline. */
	if (connected && !run->broken)
		nbx_guest_fetch_files(run);
	else if (run->options->files[0] != NULL)
		json_object_set_string_member(run->summary, "files_error",
					      "not fetched: the guest did not answer");
	run_disconnect(run);
}
