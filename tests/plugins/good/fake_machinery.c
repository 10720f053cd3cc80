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
 */
#include <fcntl.h>
#include <inttypes.h>
#include <nestbox/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fake {
	const struct nbx_host *host;
};

static const char *const faults[] = {
	"none",		   "restore_fails", "reject_in_check", "restore_hangs",
	"restore_times_out", "stop_fails",  "dies_while_running", "comes_back_paused",
	"paused_unresumable", "stop_hangs", "ignores_acpi", "dump_fails", NULL,
};

static const struct nbx_config_field fake_fields[] = {
	{ .name = "greeting", .type = NBX_FIELD_STRING, .default_value = "hello",
	  .doc = "A string the tests read back through the host" },
	{ .name = "speed", .type = NBX_FIELD_INTEGER, .min = 1, .max = 10, .default_value = "5",
	  .doc = "An integer the tests read back through the host" },
	{ .name = "ledger", .type = NBX_FIELD_STRING,
	  .doc = "File every op appends its begin and end to" },
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
	{ .name = "hang_s", .type = NBX_FIELD_INTEGER, .min = 0, .max = 3600, .default_value = "3",
	  .doc = "How long restore_hangs hangs, whatever the deadline" },
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
	return true;
}

static void
fake_shutdown(void *instance)
{
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

/* Main thread, 300 ms after the restore: the "hypervisor" lost the guest. */
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
	sleep_ms(machine_integer(fake, machine, "delay_ms"));
	if (strcmp(fault, "restore_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "injected failure");
		ok = false;
	} else if (strcmp(fault, "restore_hangs") == 0) {
		/* Ignores the deadline, as a buggy plugin would. */
		sleep_ms(machine_integer(fake, machine, "hang_s") * 1000);
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
		if (strcmp(fault, "dies_while_running") == 0) {
			struct death *death = malloc(sizeof *death);

			if (death != NULL) {
				death->fake = fake;
				death->machine = machine;
				fake->host->add_timeout(fake->host, 300, die_now, death);
			}
		}
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
	sleep_ms(machine_integer(fake, machine, "delay_ms"));
	if (strcmp(fault_of(fake, machine), "stop_hangs") == 0)
		sleep_ms(machine_integer(fake, machine, "hang_s") * 1000);
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

static const struct nbx_machinery_ops fake_ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.capabilities = NBX_MACHINERY_CAP_STATE_EVENTS,
	.init = fake_init,
	.shutdown = fake_shutdown,
	.check_machine = fake_check_machine,
	.restore_start = fake_restore_start,
	.handle_paused = fake_handle_paused,
	.stop = fake_stop,
	.acpi_stop = fake_acpi_stop,
	.dump_memory = fake_dump_memory,
	.state = fake_state,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "fake", .version = "1.0.0",
		  .description = "Machines that run in memory, for tests",
		  .config_schema = &fake_schema, .machine_schema = &fake_machine_schema,
		  .ops.machinery = &fake_ops);
