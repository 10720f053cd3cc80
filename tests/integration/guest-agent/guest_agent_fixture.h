/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the guest plugin's tests share: the built agent.so loaded through the
 * core's loader and brought to life with a configuration validated against
 * its schema (as nestboxd does), a fake agent (fake_agent.py) started in the
 * guest namespace run-in-netns.sh made, and each plugin op run on a worker
 * thread that entered the machine's network namespace (this thread has no
 * route to the guest), while this thread runs the main loop the host's
 * timeouts need.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <nestbox/plugin.h>

#include "config.h"
#include "diagnostics.h"
#include "plugin_instance.h"
#include "plugin_loader.h"
#include "report.h"

#define GA_AGENT_PORT 8000

typedef struct {
	char *dir;
	NbxDiagnostics *diagnostics;
	NbxPluginRegistry *registry;
	NbxPlugin *plugin;
	NbxConfig *config;
	NbxConfigFile *guest_conf;
	NbxConfigFile *task_conf;
	NbxPluginSection section;
	NbxPluginInstance *instance;

	/* The fake agent: its pid, the directory its /mkdtemp uses, its state. */
	GPid agent_pid;
	char *agent_root;
	char *agent_state;

	/* The analysis, as the core would hand it; the machine's network namespace. */
	char *netns_path;
	struct nbx_task task;
	struct nbx_machine machine;
	struct nbx_guest_context context;
	struct nbx_report *report;
	struct nbx_guest_info info;
	void *session;
} Fixture;

/* The value of @name, which meson or run-in-netns.sh sets. */
const char *ga_env(const char *name);

void ga_set_up(Fixture *f, gconstpointer data);
void ga_tear_down(Fixture *f, gconstpointer data);

/*
 * Loads the plugin with @settings (the body of its group in guest.conf,
 * may be "") and @task_options (the body of the task's options group, or
 * NULL for none); both must validate.
 */
void ga_load(Fixture *f, const char *settings, const char *task_options);

/*
 * Starts fake_agent.py in the guest namespace with @args (NULL-terminated:
 * "--flavor", "cuckoo2", "--fault", "silent", ...) and waits until it listens.
 */
void ga_start_agent(Fixture *f, const char *const *args);
/* Like ga_start_agent(), but returns at once. */
void ga_spawn_agent(Fixture *f, const char *const *args);
void ga_wait_agent_ready(Fixture *f);
/* Kills the fake agent and everything still running in the guest namespace. */
void ga_stop_agent(Fixture *f);

/* The requests the fake agent saw (one JSON object each), in order. */
GPtrArray *ga_agent_requests(Fixture *f);
/* How many requests the fake agent saw for @method @path. */
guint ga_count_requests(Fixture *f, const char *method, const char *path);

/* The plugin's ops, each on a worker thread with a deadline @timeout_ms from now. */
gboolean ga_connect(Fixture *f, gint64 timeout_ms, struct nbx_error *err);
/* Connects (60 s) and fails the test if that fails. */
void ga_connect_ok(Fixture *f);
void ga_disconnect(Fixture *f);
gboolean ga_upload(Fixture *f, const char *host_path, const char *name, char *guest_path,
		   gsize guest_path_size, gint64 timeout_ms, struct nbx_error *err);
gboolean ga_execute(Fixture *f, const struct nbx_guest_command *command,
		    struct nbx_guest_process *process, gint64 timeout_ms, struct nbx_error *err);
gboolean ga_poll(Fixture *f, const struct nbx_guest_command *command,
		 struct nbx_guest_process *process, gint64 timeout_ms, struct nbx_error *err);
gboolean ga_set_clock(Fixture *f, gint64 unix_time_us, gint64 timeout_ms, struct nbx_error *err);
gboolean ga_download(Fixture *f, const char *guest_path, int fd, gint64 max_bytes, gint64 *size,
		     gint64 timeout_ms, struct nbx_error *err);
/* The matches (char *) into @found. */
gboolean ga_list_files(Fixture *f, const char *pattern, guint32 max_matches, GPtrArray *found,
		       gint64 timeout_ms, struct nbx_error *err);
gboolean ga_agent_log(Fixture *f, int fd, gint64 max_bytes, gint64 timeout_ms,
		      struct nbx_error *err);

/* The plugin's part of the report so far. */
JsonObject *ga_report(Fixture *f);

/* A new file in the fixture's directory with @size bytes of @contents (repeated). */
char *ga_write_file(Fixture *f, const char *name, const char *contents, gsize size);
/* A new empty file open for reading and writing, unlinked; its contents with ga_read_fd. */
int ga_temp_fd(Fixture *f);
char *ga_read_fd(int fd, gsize *length);

/* Fails the test unless @err has @code and its message contains @needle. */
void ga_assert_error(const struct nbx_error *err, int32_t code, const char *needle);
