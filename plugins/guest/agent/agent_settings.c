/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_settings.h"

#include <stddef.h>

#define MIB (INT64_C(1024) * 1024)
#define GIB (MIB * 1024)

static const struct nbx_config_field agent_config_fields[] = {
	{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
	  .default_value = "8000",
	  .doc = "TCP port of the agent in the guest when the machine's agent_port is 0" },
	{ .name = "retry_interval_ms", .type = NBX_FIELD_INTEGER, .min = 10, .max = 60000,
	  .default_value = "250",
	  .doc = "Milliseconds between two tries to reach an agent that does not answer yet" },
	{ .name = "request_timeout", .type = NBX_FIELD_INTEGER, .min = 1, .max = 3600,
	  .default_value = "30",
	  .doc = "Seconds a short request may take, and a transfer may stall, before it fails; "
		 "a command the agent runs to its end is bounded by the step's deadline only" },
	{ .name = "max_answer_bytes", .type = NBX_FIELD_INTEGER, .min = 4096, .max = 16 * MIB,
	  .default_value = "65536",
	  .doc = "Largest JSON answer read from the agent; a larger one is refused unread" },
	{ .name = "max_upload_bytes", .type = NBX_FIELD_INTEGER, .min = 1, .max = INT64_MAX,
	  .default_value = "1073741824",
	  .doc = "Largest sample uploaded (CAPE's agent holds a whole upload in memory)" },
	{ .name = "max_download_bytes", .type = NBX_FIELD_INTEGER, .min = 1, .max = INT64_MAX,
	  .default_value = "1073741824",
	  .doc = "Largest file fetched from the guest, whatever the core allows" },
	{ .name = "max_output_bytes", .type = NBX_FIELD_INTEGER, .min = 0, .max = GIB,
	  .default_value = "16777216",
	  .doc = "Most bytes of a command's stdout, and of its stderr, kept, whatever the core "
		 "allows" },
	{ .name = "max_log_answer_bytes", .type = NBX_FIELD_INTEGER, .min = 4096, .max = 256 * MIB,
	  .default_value = "8388608",
	  .doc = "Largest answer read to GET /logs (the agent's own log, as JSON)" },
	{ .name = "max_listing_bytes", .type = NBX_FIELD_INTEGER, .min = 4096, .max = 256 * MIB,
	  .default_value = "8388608",
	  .doc = "Largest file listing read (nestbox-agent's /list, the helper's glob, as JSON)" },
	{ .name = "use_launcher", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Run commands through a small Python launcher uploaded with them, so exit codes, "
		 "output and the end of a command can be had from agents that report none; "
		 "needs /execpy or an interpreter below" },
	{ .name = "interpreter_linux", .type = NBX_FIELD_STRING, .default_value = "",
	  .doc = "Python interpreter that runs the launcher through /execute on Linux guests "
		 "whose agent has no /execpy (e.g. python3); empty: none" },
	{ .name = "interpreter_windows", .type = NBX_FIELD_STRING, .default_value = "",
	  .doc = "Likewise for Windows guests (e.g. python.exe when it is in PATH); empty: none" },
	{ 0 },
};

const struct nbx_config_schema agent_config_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = agent_config_fields,
};

/* No defaults: an option the task leaves out keeps the configured value. */
static const struct nbx_config_field agent_task_fields[] = {
	{ .name = "use_launcher", .type = NBX_FIELD_BOOLEAN,
	  .doc = "Run this task's commands through the launcher (overrides the setting)" },
	{ 0 },
};

const struct nbx_config_schema agent_task_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = agent_task_fields,
};

static bool
read_integer(const struct nbx_host *host, const char *key, int64_t *out, struct nbx_error *err)
{
	if (host->config_integer(host, NULL, key, out))
		return true;
	host->error_set(host, err, NBX_ERROR_FAILED, "setting %s is missing although it has a default",
			key);
	return false;
}

static const char *
optional_string(const struct nbx_host *host, const char *key)
{
	const char *value = host->config_string(host, NULL, key);

	return value != NULL && value[0] != '\0' ? value : NULL;
}

bool
agent_settings_read(const struct nbx_host *host, struct agent_settings *settings,
		    struct nbx_error *err)
{
	const struct {
		const char *key;
		int64_t *value;
	} integers[] = {
		{ "port", &settings->port },
		{ "retry_interval_ms", &settings->retry_interval_ms },
		{ "request_timeout", &settings->request_timeout_s },
		{ "max_answer_bytes", &settings->max_answer_bytes },
		{ "max_upload_bytes", &settings->max_upload_bytes },
		{ "max_download_bytes", &settings->max_download_bytes },
		{ "max_output_bytes", &settings->max_output_bytes },
		{ "max_log_answer_bytes", &settings->max_log_answer_bytes },
		{ "max_listing_bytes", &settings->max_listing_bytes },
	};

	for (size_t i = 0; i < sizeof integers / sizeof integers[0]; i++) {
		if (!read_integer(host, integers[i].key, integers[i].value, err))
			return false;
	}
	if (!host->config_boolean(host, NULL, "use_launcher", &settings->use_launcher)) {
		host->error_set(host, err, NBX_ERROR_FAILED,
				"setting use_launcher is missing although it has a default");
		return false;
	}
	settings->interpreter_linux = optional_string(host, "interpreter_linux");
	settings->interpreter_windows = optional_string(host, "interpreter_windows");
	return true;
}

void
agent_settings_apply_task(const struct nbx_host *host, const struct nbx_task *task,
			  struct agent_settings *settings)
{
	bool use_launcher;

	if (task->options != NULL &&
	    host->config_boolean(host, task->options, "use_launcher", &use_launcher))
		settings->use_launcher = use_launcher;
}
