/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "fake": a machinery with no hypervisor, for tests of the core's logic.
 * It exists to inject what real machineries cannot produce on demand: ops
 * that fail, hang past their deadline, come back paused, die mid-run.
 *
 * A "running" machine is a file RUN_DIR/NAME.running, so a test can see
 * whether a machine was left running by a daemon it killed, and whether
 * the next daemon stopped it. With `ledger` set, every op appends
 * "begin|end OP MACHINE MONOTONIC_US" to that file (O_APPEND, one write per
 * line), so a test can check that ops on one machine never overlap.
 *
 * Barriers put an op at a known point, however busy the host: when
 * RUN_DIR/NAME.OP.barrier exists, the op stops at its barrier point, writes
 * RUN_DIR/NAME.OP.reached and waits there, whatever its deadline, until the
 * test removes the barrier file (a test may kill the daemon meanwhile).
 * restore_start and stop stop before they touch the machine (a running
 * machine is still running at the stop barrier); snapshot_commit once it
 * has written disk.img. The *_hangs faults put the barrier file there
 * themselves the first time (when there is no .reached file yet): the op
 * hangs until the test releases it, and the next call (the core stopping
 * the machine afterwards) goes through.
 *
 * A prepared run (ABI 1.2 prepare) is the file RUN_DIR/NAME.prepared,
 * holding the generation it was prepared for ("0": generation 0); discard,
 * restore_start, stop and snapshot_begin remove it, as machinery.h says a
 * plugin throws a prepared run away. prepare has a barrier on entry.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <nestbox/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"

struct fake {
	const struct nbx_host *host;
};

static const char *const faults[] = {
	"none",		   "restore_fails", "reject_in_check", "restore_hangs",
	"restore_times_out", "stop_fails",  "dies_while_running", "comes_back_paused",
	"paused_unresumable", "stop_hangs", "ignores_acpi", "dump_fails", "begin_fails",
	"commit_fails", "commit_hangs", "prepare_fails", NULL,
};

static const struct nbx_config_field fake_fields[] = {
	{ .name = "greeting", .type = NBX_FIELD_STRING, .default_value = "hello",
	  .doc = "A string the tests read back through the host" },
	{ .name = "speed", .type = NBX_FIELD_INTEGER, .min = 1, .max = 10, .default_value = "5",
	  .doc = "An integer the tests read back through the host" },
	{ .name = "ledger", .type = NBX_FIELD_STRING,
	  .doc = "File every op appends its begin and end to" },
	{ .name = "machine_type", .type = NBX_FIELD_STRING, .default_value = "fake-1",
	  .doc = "What snapshots say made them (their fingerprint's machine_type)" },
	{ 0 },
};
static const struct nbx_config_schema fake_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = fake_fields,
};

static const struct nbx_config_field fake_machine_fields[] = {
	{ .name = "fault", .type = NBX_FIELD_ENUM, .choices = faults, .default_value = "none",
	  .doc = "Fault to inject on this machine" },
	{ .name = "delay_ms", .type = NBX_FIELD_INTEGER, .min = 0, .max = 600000,
	  .default_value = "0", .doc = "How long restore_start and stop take" },
	{ .name = "death_ms", .type = NBX_FIELD_INTEGER, .min = 0, .max = 600000,
	  .default_value = "300",
	  .doc = "dies_while_running: when the machine dies after it started; 0: before "
		 "restore_start returns" },
	{ 0 },
};
static const struct nbx_config_schema fake_machine_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = fake_machine_fields,
};

static bool
fake_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	struct fake *fake = calloc(1, sizeof *fake);

	if (fake == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return false;
	}
	fake->host = host;
	*instance = fake;
	/* One line at each verbose level: log_level = "debug" must show both. */
	host->log(host, NBX_LOG_INFO, "ready to fake machines");
	host->log(host, NBX_LOG_DEBUG, "faults are read from each machine's `fault`");
	return true;
}

/*
 * "WHAT NAME ADDRESS" to LEDGER.lifecycle (not the ledger: its lines are
 * op intervals): which machine struct was freed, and when the instance ended.
 */
static void
lifecycle(struct fake *fake, const char *what, const struct nbx_machine *machine)
{
	const char *ledger = fake->host->config_string(fake->host, NULL, "ledger");
	char path[4096];
	FILE *f;

	if (ledger == NULL || snprintf(path, sizeof path, "%s.lifecycle", ledger) >= (int)sizeof path ||
	    (f = fopen(path, "ae")) == NULL)
		return;
	fprintf(f, "%s %s %p\n", what, machine != NULL ? machine->name : "-", (const void *)machine);
	fclose(f);
}

/* ABI 1.2: before `shutdown`, for each machine; it reads the name, so ASan sees a freed one. */
static void
fake_free_machine(void *instance, struct nbx_machine *machine)
{
	lifecycle(instance, "free_machine", machine);
}

static void
fake_shutdown(void *instance)
{
	lifecycle(instance, "shutdown", NULL);
	free(instance);
}

static const char *
fault_of(struct fake *fake, struct nbx_machine *machine)
{
	const char *fault = fake->host->config_string(fake->host, machine->config, "fault");

	return fault != NULL ? fault : "none";
}

static bool
fake_check_machine(void *instance, struct nbx_machine *machine, struct nbx_check *check,
		   struct nbx_error *err)
{
	struct fake *fake = instance;

	if (strcmp(fault_of(fake, machine), "reject_in_check") == 0)
		fake->host->check_report(fake->host, check, machine->config, "fault",
					 "machine %s rejected by the fake machinery", machine->name);
	return true;
}

static int64_t
machine_integer(struct fake *fake, struct nbx_machine *machine, const char *key)
{
	int64_t value = 0;

	fake->host->config_integer(fake->host, machine->config, key, &value);
	return value;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void
ledger(struct fake *fake, const char *what, const char *op, struct nbx_machine *machine)
{
	const char *path = fake->host->config_string(fake->host, NULL, "ledger");
	char line[512];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(line, sizeof line, "%s %s %s %" PRId64 "\n", what, op, machine->name,
		     fake->host->monotonic_us(fake->host));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		fake->host->log(fake->host, NBX_LOG_WARNING, "cannot write the ledger %s", path);
	close(fd);
}

/*
 * The barrier of @op (see the top of the file, and barrier.h); @arm puts the
 * barrier file there first unless the op was here before (a *_hangs fault).
 */
static void
barrier(struct fake *fake, struct nbx_machine *machine, const char *op, bool arm)
{
	char prefix[4096];

	snprintf(prefix, sizeof prefix, "%s/%s.%s", fake->host->path(fake->host, NBX_PATH_RUN_DIR),
		 machine->name, op);
	if (barrier_wait(prefix, arm))
		fake->host->log(fake->host, NBX_LOG_INFO, "machine %s: %s released from its barrier",
				machine->name, op);
}

static void
marker_path(struct fake *fake, struct nbx_machine *machine, char *path, size_t size)
{
	snprintf(path, size, "%s/%s.running", fake->host->path(fake->host, NBX_PATH_RUN_DIR),
		 machine->name);
}

static void
set_running(struct fake *fake, struct nbx_machine *machine, int32_t state, const char *reason)
{
	char path[4096];

	marker_path(fake, machine, path, sizeof path);
	if (state == NBX_MACHINE_POWEROFF) {
		unlink(path);
	} else {
		FILE *f = fopen(path, "w");

		if (f != NULL)
			fclose(f);
	}
	machine->plugin_data = (void *)(uintptr_t)state;
	fake->host->machine_state_changed(fake->host, machine, state, reason);
}

struct death {
	struct fake *fake;
	struct nbx_machine *machine;
};

/* Main thread, death_ms after the restore: the "hypervisor" lost the guest. */
static bool
die_now(void *user_data)
{
	struct death *death = user_data;

	if ((uintptr_t)death->machine->plugin_data == NBX_MACHINE_RUNNING)
		set_running(death->fake, death->machine, NBX_MACHINE_POWEROFF,
			    "killed from outside");
	free(death);
	return false;
}

static void
die_later(struct fake *fake, struct nbx_machine *machine, int64_t ms)
{
	struct death *death;

	/* Before the op returns: the core hears of the death before it sees the start end. */
	if (ms == 0) {
		set_running(fake, machine, NBX_MACHINE_POWEROFF, "killed from outside");
		return;
	}
	death = malloc(sizeof *death);
	if (death == NULL)
		return;
	death->fake = fake;
	death->machine = machine;
	fake->host->add_timeout(fake->host, (uint32_t)ms, die_now, death);
}

static bool file_exists(const char *dir, const char *name);
static void note_generation(struct fake *fake, struct nbx_machine *machine, const char *dir);

static void
prepared_path(struct fake *fake, struct nbx_machine *machine, char *path, size_t size)
{
	snprintf(path, size, "%s/%s.prepared", fake->host->path(fake->host, NBX_PATH_RUN_DIR),
		 machine->name);
}

/* The prepared run is used or thrown away: either way it is gone. */
static void
drop_prepared(struct fake *fake, struct nbx_machine *machine)
{
	char path[4096];

	prepared_path(fake, machine, path, sizeof path);
	unlink(path);
}

static bool
fake_prepare(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_error *err)
{
	struct fake *fake = instance;
	char path[4096];
	FILE *f;

	ledger(fake, "begin", "prepare", machine);
	barrier(fake, machine, "prepare", false);
	if (strcmp(fault_of(fake, machine), "prepare_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "injected failure");
		ledger(fake, "end", "prepare", machine);
		return false;
	}
	prepared_path(fake, machine, path, sizeof path);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(call->generation_dir != NULL ? call->generation_dir : "0", f);
		fclose(f);
	}
	ledger(fake, "end", "prepare", machine);
	return true;
}

static bool
fake_discard(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	     struct nbx_error *err)
{
	ledger(instance, "begin", "discard", machine);
	drop_prepared(instance, machine);
	ledger(instance, "end", "discard", machine);
	return true;
}

static bool
fake_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	struct fake *fake = instance;
	const char *fault = fault_of(fake, machine);
	bool ok = true;

	if (call->flags != 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				      call->flags);
		return false;
	}
	ledger(fake, "begin", "restore_start", machine);
	drop_prepared(fake, machine);
	note_generation(fake, machine, call->generation_dir);
	if (call->generation_dir != NULL && file_exists(call->generation_dir, "cold")) {
		fake->host->error_set(fake->host, err, NBX_ERROR_INVALID,
				      "generation %s has no memory: it needs a cold boot",
				      call->generation_dir);
		return false;
	}
	/* restore_hangs ignores the deadline, as a buggy plugin would. */
	barrier(fake, machine, "restore_start", strcmp(fault, "restore_hangs") == 0);
	sleep_ms(machine_integer(fake, machine, "delay_ms"));
	if (strcmp(fault, "restore_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "injected failure");
		ok = false;
	} else if (strcmp(fault, "restore_hangs") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "hung, then failed");
		ok = false;
	} else if (strcmp(fault, "restore_times_out") == 0) {
		int64_t left = call->deadline_us - fake->host->monotonic_us(fake->host);

		sleep_ms(left > 0 ? left / 1000 : 0);
		fake->host->error_set(fake->host, err, NBX_ERROR_TIMEOUT,
				      "the hypervisor did not answer before the deadline");
		ok = false;
	} else if (strcmp(fault, "comes_back_paused") == 0 ||
		   strcmp(fault, "paused_unresumable") == 0) {
		set_running(fake, machine, NBX_MACHINE_PAUSED, "paused by the hypervisor");
	} else {
		set_running(fake, machine, NBX_MACHINE_RUNNING, NULL);
		if (strcmp(fault, "dies_while_running") == 0)
			die_later(fake, machine, machine_integer(fake, machine, "death_ms"));
	}
	ledger(fake, "end", "restore_start", machine);
	return ok;
}

static bool
fake_handle_paused(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	struct fake *fake = instance;
	bool ok = true;

	ledger(fake, "begin", "handle_paused", machine);
	if (strcmp(fault_of(fake, machine), "paused_unresumable") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_INVALID,
				      "paused after an I/O error: not resumable");
		ok = false;
	} else {
		set_running(fake, machine, NBX_MACHINE_RUNNING, "resumed");
	}
	ledger(fake, "end", "handle_paused", machine);
	return ok;
}

static bool
fake_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	  struct nbx_error *err)
{
	struct fake *fake = instance;
	bool ok = true;

	ledger(fake, "begin", "stop", machine);
	drop_prepared(fake, machine);
	barrier(fake, machine, "stop", strcmp(fault_of(fake, machine), "stop_hangs") == 0);
	sleep_ms(machine_integer(fake, machine, "delay_ms"));
	if (strcmp(fault_of(fake, machine), "stop_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR,
				      "injected stop failure");
		ok = false;
	} else {
		set_running(fake, machine, NBX_MACHINE_POWEROFF, "stopped");
	}
	ledger(fake, "end", "stop", machine);
	return ok;
}

/* Powers off 200 ms after the "button" is pressed, unless told to ignore it. */
static bool
power_off_now(void *user_data)
{
	struct death *death = user_data;

	if ((uintptr_t)death->machine->plugin_data == NBX_MACHINE_RUNNING)
		set_running(death->fake, death->machine, NBX_MACHINE_POWEROFF, "shut down");
	free(death);
	return false;
}

static bool
fake_acpi_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	       struct nbx_error *err)
{
	struct fake *fake = instance;
	struct death *death;

	ledger(fake, "begin", "acpi_stop", machine);
	if (strcmp(fault_of(fake, machine), "ignores_acpi") != 0 &&
	    (death = malloc(sizeof *death)) != NULL) {
		death->fake = fake;
		death->machine = machine;
		fake->host->add_timeout(fake->host, 200, power_off_now, death);
	}
	ledger(fake, "end", "acpi_stop", machine);
	return true;
}

static bool
fake_dump_memory(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		 const char *path, struct nbx_error *err)
{
	struct fake *fake = instance;
	bool ok = false;
	FILE *f;

	ledger(fake, "begin", "dump_memory", machine);
	if (strcmp(fault_of(fake, machine), "dump_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_IO, "injected dump failure");
	} else if ((f = fopen(path, "w")) == NULL) {
		fake->host->error_set(fake->host, err, NBX_ERROR_IO, "cannot write %s", path);
	} else {
		fputs("fake memory of ", f);
		fputs(machine->name, f);
		ok = fclose(f) == 0;
	}
	ledger(fake, "end", "dump_memory", machine);
	return ok;
}

static bool
fake_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	   int32_t *state, struct nbx_error *err)
{
	*state = machine->plugin_data != NULL ? (int32_t)(uintptr_t)machine->plugin_data
					      : NBX_MACHINE_POWEROFF;
	return true;
}

/*
 * Snapshots. A generation is a directory with description.txt ("from=..."
 * and "machine_type=..." lines, and the files copied in), disk.img and,
 * unless imported minimal, memory.img. A machine has no generation 0 (no
 * configured snapshot files), so an import needs no --replace until there
 * is one. restore_start writes the generation it used to
 * RUN_DIR/NAME.generation ("0" for none), for tests to read back.
 */

static bool
write_file(struct fake *fake, const char *dir, const char *name, const char *text,
	   struct nbx_error *err)
{
	char path[4096];
	FILE *f;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	ok = f != NULL && fputs(text, f) >= 0;
	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	if (!ok)
		fake->host->error_set(fake->host, err, NBX_ERROR_IO, "cannot write %s", path);
	return ok;
}

static bool
read_file(const char *dir, const char *name, char *out, size_t size)
{
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
	return true;
}

static bool
file_exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void
note_generation(struct fake *fake, struct nbx_machine *machine, const char *dir)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.generation",
		 fake->host->path(fake->host, NBX_PATH_RUN_DIR), machine->name);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(dir != NULL ? dir : "0", f);
		fclose(f);
	}
}

static bool
fake_snapshot_begin(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		    struct nbx_snapshot_session *session, struct nbx_error *err)
{
	struct fake *fake = instance;
	char text[4096];

	ledger(fake, "begin", "snapshot_begin", machine);
	drop_prepared(fake, machine);
	if (strcmp(fault_of(fake, machine), "begin_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "injected failure");
		return false;
	}
	snprintf(text, sizeof text, "from=%s\ncold_boot=%d\n",
		 session->from_dir != NULL ? session->from_dir : "0",
		 (call->flags & NBX_SNAPSHOT_COLD_BOOT) != 0);
	if (!write_file(fake, session->work_dir, "session.txt", text, err))
		return false;
	snprintf(session->console, sizeof session->console, "vnc://127.0.0.1:5999");
	set_running(fake, machine, NBX_MACHINE_RUNNING, NULL);
	ledger(fake, "end", "snapshot_begin", machine);
	return true;
}

static bool
fake_snapshot_copy_in(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		      struct nbx_snapshot_session *session, const char *const *paths,
		      struct nbx_error *err)
{
	struct fake *fake = instance;
	char text[4096] = "";

	read_file(session->work_dir, "copied.txt", text, sizeof text);
	for (const char *const *p = paths; *p != NULL; p++) {
		strncat(text, *p, sizeof text - strlen(text) - 2);
		strcat(text, "\n");
	}
	return write_file(fake, session->work_dir, "copied.txt", text, err);
}

static bool
fake_snapshot_commit(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     struct nbx_snapshot_session *session, struct nbx_error *err)
{
	struct fake *fake = instance;
	const char *fault = fault_of(fake, machine);
	const char *type = fake->host->config_string(fake->host, NULL, "machine_type");
	char copied[4096] = "", text[8192];

	ledger(fake, "begin", "snapshot_commit", machine);
	if (!write_file(fake, session->new_dir, "disk.img", "disk contents\n", err))
		return false;
	barrier(fake, machine, "snapshot_commit", strcmp(fault, "commit_hangs") == 0);
	if (strcmp(fault, "commit_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_IO,
				      "writing memory.img: No space left on device");
		return false;
	}
	read_file(session->work_dir, "copied.txt", copied, sizeof copied);
	snprintf(text, sizeof text, "from=%s\nmachine_type=%s\n%s",
		 session->from_dir != NULL ? session->from_dir : "0", type != NULL ? type : "",
		 copied);
	if (!write_file(fake, session->new_dir, "description.txt", text, err) ||
	    !write_file(fake, session->new_dir, "memory.img", "memory contents\n", err))
		return false;
	set_running(fake, machine, NBX_MACHINE_POWEROFF, NULL);
	ledger(fake, "end", "snapshot_commit", machine);
	return true;
}

static bool
fake_snapshot_rollback(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		       struct nbx_snapshot_session *session, struct nbx_error *err)
{
	struct fake *fake = instance;

	ledger(fake, "begin", "snapshot_rollback", machine);
	set_running(fake, machine, NBX_MACHINE_POWEROFF, NULL);
	ledger(fake, "end", "snapshot_rollback", machine);
	return true;
}

static bool
fake_snapshot_files(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		    const char *generation_dir, nbx_snapshot_file_fn emit, void *emit_data,
		    struct nbx_error *err)
{
	struct fake *fake = instance;
	static const struct {
		const char *name;
		int32_t role;
	} files[] = { { "description.txt", NBX_SNAPSHOT_FILE_DESCRIPTION },
		      { "disk.img", NBX_SNAPSHOT_FILE_DISK },
		      { "memory.img", NBX_SNAPSHOT_FILE_MEMORY } };

	if (generation_dir == NULL) {
		fake->host->error_set(fake->host, err, NBX_ERROR_NOT_FOUND,
				      "machine %s has no configured snapshot", machine->name);
		return false;
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[4096];

		if (!file_exists(generation_dir, files[i].name))
			continue;
		snprintf(path, sizeof path, "%s/%s", generation_dir, files[i].name);
		if (!emit(emit_data, files[i].role, path))
			return false;
	}
	return true;
}

static bool
fake_snapshot_fingerprint(void *instance, struct nbx_machine *machine,
			  const struct nbx_call *call, const char *generation_dir,
			  nbx_snapshot_fingerprint_fn emit, void *emit_data, struct nbx_error *err)
{
	struct fake *fake = instance;
	char text[8192], type[256] = "";
	const char *line;

	if ((call->flags & NBX_SNAPSHOT_FINGERPRINT_HOST) != 0 || generation_dir == NULL) {
		const char *configured = fake->host->config_string(fake->host, NULL, "machine_type");

		snprintf(type, sizeof type, "%s", configured != NULL ? configured : "");
	} else if (read_file(generation_dir, "description.txt", text, sizeof text) &&
		   (line = strstr(text, "machine_type=")) != NULL) {
		sscanf(line, "machine_type=%255[^\n]", type);
	}
	return emit(emit_data, "hypervisor", "fake") &&
	       emit(emit_data, "hypervisor_version", "1.0") &&
	       emit(emit_data, "machine_type", type) && emit(emit_data, "memory_mb", "64");
}

static bool
fake_snapshot_import(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     const char *generation_dir, struct nbx_error *err)
{
	struct fake *fake = instance;

	if (!file_exists(generation_dir, "description.txt")) {
		fake->host->error_set(fake->host, err, NBX_ERROR_INVALID, "no description.txt");
		return false;
	}
	if ((call->flags & NBX_SNAPSHOT_IMPORT_MINIMAL) != 0)
		return write_file(fake, generation_dir, "cold", "needs a cold boot\n", err);
	return true;
}

static bool
fake_snapshot_remove(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		     const char *generation_dir, struct nbx_error *err)
{
	ledger(instance, "remove", generation_dir, machine);
	return true;
}

static const struct nbx_machinery_ops fake_ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.capabilities = NBX_MACHINERY_CAP_STATE_EVENTS,
	.init = fake_init,
	.shutdown = fake_shutdown,
	.free_machine = fake_free_machine,
	.check_machine = fake_check_machine,
	.restore_start = fake_restore_start,
	.handle_paused = fake_handle_paused,
	.stop = fake_stop,
	.acpi_stop = fake_acpi_stop,
	.dump_memory = fake_dump_memory,
	.state = fake_state,
	.snapshot_begin = fake_snapshot_begin,
	.snapshot_commit = fake_snapshot_commit,
	.snapshot_rollback = fake_snapshot_rollback,
	.snapshot_copy_in = fake_snapshot_copy_in,
	.snapshot_files = fake_snapshot_files,
	.snapshot_fingerprint = fake_snapshot_fingerprint,
	.snapshot_import = fake_snapshot_import,
	.snapshot_remove = fake_snapshot_remove,
	.prepare = fake_prepare,
	.discard = fake_discard,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "fake", .version = "1.0.0",
		  .description = "Machines that run in memory, for tests",
		  .config_schema = &fake_schema, .machine_schema = &fake_machine_schema,
		  .ops.machinery = &fake_ops);
