/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent plugin's settings (its group in conf/guest.conf) and per-task
 * options, declared once as schema tables and read once into a typed struct.
 */
#pragma once

#include <nestbox/plugin.h>

#include <stdbool.h>
#include <stdint.h>

struct agent_settings {
	/* The agent's port when the machine names none (agent_port 0). */
	int64_t port;
	int64_t retry_interval_ms;
	/* Seconds a short request may take, and a transfer may stall. */
	int64_t request_timeout_s;
	int64_t max_answer_bytes;
	int64_t max_upload_bytes;
	int64_t max_download_bytes;
	int64_t max_output_bytes;
	int64_t max_log_answer_bytes;
	int64_t max_listing_bytes;
	/* Run commands through the helper script (exit codes, watching). */
	bool use_launcher;
	/* Interpreter that runs the helper through /execute when the agent has
	 * no /execpy; NULL: none. Owned by the core, valid until shutdown. */
	const char *interpreter_linux;
	const char *interpreter_windows;
};

extern const struct nbx_config_schema agent_config_schema;
extern const struct nbx_config_schema agent_task_schema;

/* Reads the validated settings; false (with @err) only when the core lacks a defaulted key. */
bool agent_settings_read(const struct nbx_host *host, struct agent_settings *settings,
			 struct nbx_error *err);

/* Applies @task's options (those it set; the others keep the configured value). */
void agent_settings_apply_task(const struct nbx_host *host, const struct nbx_task *task,
			       struct agent_settings *settings);
