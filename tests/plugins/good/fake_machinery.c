/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "fake": a machinery with no hypervisor, for tests of the core's logic.
 * Its machines "run" in memory. It exists to inject what real machineries
 * cannot produce on demand; everything it does is visible in its state.
 */
#include <nestbox/plugin.h>
#include <stdlib.h>
#include <string.h>

struct fake {
	const struct nbx_host *host;
};

static const char *const faults[] = { "none", "restore_fails", "reject_in_check", NULL };

static const struct nbx_config_field fake_fields[] = {
	{ .name = "greeting", .type = NBX_FIELD_STRING, .default_value = "hello",
	  .doc = "A string the tests read back through the host" },
	{ .name = "speed", .type = NBX_FIELD_INTEGER, .min = 1, .max = 10, .default_value = "5",
	  .doc = "An integer the tests read back through the host" },
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

static bool
fake_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		   struct nbx_error *err)
{
	struct fake *fake = instance;

	if (call->flags != 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				      call->flags);
		return false;
	}
	if (strcmp(fault_of(fake, machine), "restore_fails") == 0) {
		fake->host->error_set(fake->host, err, NBX_ERROR_HYPERVISOR, "injected failure");
		return false;
	}
	machine->plugin_data = (void *)(uintptr_t)NBX_MACHINE_RUNNING;
	fake->host->machine_state_changed(fake->host, machine, NBX_MACHINE_RUNNING, NULL);
	return true;
}

static bool
fake_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	  struct nbx_error *err)
{
	struct fake *fake = instance;

	machine->plugin_data = (void *)(uintptr_t)NBX_MACHINE_POWEROFF;
	fake->host->machine_state_changed(fake->host, machine, NBX_MACHINE_POWEROFF, "stopped");
	return true;
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
	.stop = fake_stop,
	.state = fake_state,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "fake", .version = "1.0.0",
		  .description = "Machines that run in memory, for tests",
		  .config_schema = &fake_schema, .machine_schema = &fake_machine_schema,
		  .ops.machinery = &fake_ops);
