/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core_schema.h"

#include <stddef.h>
#include <stdint.h>

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

static const struct nbx_config_field api_fields[] = {
	{ .name = "socket", .type = NBX_FIELD_STRING, .default_value = "",
	  .doc = "UNIX socket of the control API (empty: RUN_DIR/api.sock); its directory must exist" },
	{ .name = "socket_group", .type = NBX_FIELD_STRING, .default_value = "",
	  .doc = "Group that owns the socket (mode 0660); empty: the daemon's group" },
	{ .name = "tcp", .type = NBX_FIELD_STRING, .default_value = "",
	  .doc = "Also listen on ADDRESS:PORT over TCP (empty: not at all); needs token_file" },
	{ .name = "token_file", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_MUST_EXIST,
	  .doc = "File with the bearer token TCP clients must send (16 characters or more, mode "
		 "600 or 640)" },
	{ .name = "max_upload_mb", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65536,
	  .default_value = "256",
	  .doc = "Largest sample upload accepted, in MiB (streamed to disk, never held in memory)" },
	{ .name = "max_json_kb", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65536,
	  .default_value = "1024",
	  .doc = "Largest JSON document accepted (a task, a request's body), in KiB" },
	{ .name = "max_header_kb", .type = NBX_FIELD_INTEGER, .min = 1, .max = 1024,
	  .default_value = "16",
	  .doc = "Largest request line plus headers, in KiB (more is answered 414 or 431)" },
	{ .name = "max_connections", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65536,
	  .default_value = "128",
	  .doc = "Client connections served at once; more wait in the listen backlog" },
	{ .name = "listen_backlog", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
	  .default_value = "1024",
	  .doc = "Connections the kernel queues for the API (capped by net.core.somaxconn)" },
	{ .name = "header_timeout", .type = NBX_FIELD_INTEGER, .min = 1, .max = 3600,
	  .default_value = "10",
	  .doc = "Seconds a connection has to send a request's headers (also between requests)" },
	{ .name = "idle_timeout", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "60", .doc = "Seconds a connection may go without a byte moving" },
	{ 0 },
};

static const char *const stop_methods[] = { "hard", "acpi", NULL };

static const struct nbx_config_field scheduler_fields[] = {
	{ .name = "max_concurrent_restores", .type = NBX_FIELD_INTEGER, .min = 1, .max = 1024,
	  .default_value = "2", .doc = "Machines restored at the same time, at most" },
	{ .name = "machine_failure_limit", .type = NBX_FIELD_INTEGER, .min = 1, .max = 1000,
	  .default_value = "3",
	  .doc = "A machine whose operations fail this many times in a row is disabled" },
	{ .name = "retry_on_machine_death", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Run a task again, once, when its machine died under it" },
	{ .name = "max_attempts", .type = NBX_FIELD_INTEGER, .min = 1, .max = 10,
	  .default_value = "2",
	  .doc = "Analyses one task may start (crash recovery and retries count)" },
	{ .name = "default_duration", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "60",
	  .doc = "Seconds a task runs when it does not say; at most max_duration" },
	{ .name = "max_duration", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "3600", .doc = "Longest duration a task may ask for, in seconds" },
	{ .name = "shutdown_timeout", .type = NBX_FIELD_INTEGER, .min = 1, .max = 3600,
	  .default_value = "60",
	  .doc = "On SIGTERM, seconds to wait for running analyses to stop their machines" },
	{ .name = "stop_method", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = stop_methods, .default_value = "hard",
	  .doc = "hard: pull the plug; acpi: ask the guest to power off first (timeouts.acpi_stop)" },
	{ .name = "op_grace", .type = NBX_FIELD_INTEGER, .min = 0, .max = 3600,
	  .default_value = "5",
	  .doc = "Seconds a plugin op may overrun its deadline before it is abandoned" },
	{ 0 },
};

static const struct nbx_config_field timeout_fields[] = {
	{ .name = "auxiliary_start", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "60", .doc = "Seconds an auxiliary's start may take" },
	{ .name = "restore", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "300", .doc = "Seconds restore_start (and handle_paused) may take" },
	{ .name = "agent", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "120", .doc = "Seconds to wait for the guest agent's port to answer" },
	{ .name = "dump_memory", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "600", .doc = "Seconds dump_memory may take" },
	{ .name = "acpi_stop", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "30",
	  .doc = "Seconds a graceful (ACPI) stop may take before the plug is pulled" },
	{ .name = "stop", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "120", .doc = "Seconds stop may take" },
	{ .name = "auxiliary_stop", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "120", .doc = "Seconds an auxiliary's stop may take" },
	{ .name = "guest", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "300",
	  .doc = "Seconds each guest op but the first answer may take (upload, execute, fetch)" },
	{ .name = "snapshot_commit", .type = NBX_FIELD_INTEGER, .min = 1, .max = 86400,
	  .default_value = "1800",
	  .doc = "Seconds `nestbox snapshot commit` may take to save a machine's disk and memory" },
	{ 0 },
};

/* Guest plugin names: checked against the loaded plugins once machines are known. */
static const struct nbx_config_field guest_fields[] = {
	{ .name = "windows", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "",
	  .doc = "Guest plugin of machines with platform windows that name none (\"\": none, "
		 "only the agent's port is waited for)" },
	{ .name = "linux", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "", .doc = "Likewise for platform linux" },
	{ .name = "other", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "", .doc = "Likewise for every other platform" },
	{ .name = "max_files", .type = NBX_FIELD_INTEGER, .min = 0, .max = 4096,
	  .default_value = "64",
	  .doc = "Files one analysis may fetch from the guest (the task's `files`, globs expanded)" },
	{ .name = "max_file_mb", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65536,
	  .default_value = "64", .doc = "Largest file fetched from the guest, in MiB" },
	{ .name = "max_output_kb", .type = NBX_FIELD_INTEGER, .min = 0, .max = 1048576,
	  .default_value = "1024",
	  .doc = "The sample's stdout and stderr kept, each, in KiB (the report shows the first 64)" },
	{ 0 },
};

static const struct nbx_config_field network_fields[] = {
	{ .name = "uplink_prefix", .type = NBX_FIELD_STRING, .default_value = "100.64.0.0/16",
	  .doc = "IPv4 prefix the segments' uplinks are cut from, a /30 each (segment N: .4N+1 "
		 "on this side, .4N+2 inside)" },
	{ 0 },
};

/* Whole days and GB keep the values readable; 0 turns a limit off. */
static const struct nbx_config_field retention_fields[] = {
	{ .name = "days", .type = NBX_FIELD_INTEGER, .min = 0, .max = 36500,
	  .default_value = "0",
	  .doc = "Remove an ended task's analysis directory, and its sample once no kept task "
		 "uses it, this many days after it ended, and an old snapshot generation this "
		 "many days after it was made (0: keep them)" },
	{ .name = "max_disk_gb", .type = NBX_FIELD_INTEGER, .min = 0, .max = 1048576,
	  .default_value = "0",
	  .doc = "Remove old snapshot generations, then the oldest ended tasks' analyses and "
		 "samples, while analyses_dir, the samples and the old generations take more than "
		 "this many GB (10^9 bytes; 0: no limit)" },
	{ .name = "interval", .type = NBX_FIELD_INTEGER, .min = 1, .max = 10080,
	  .default_value = "60",
	  .doc = "Minutes between two sweeps (the first runs at start-up); running and queued "
		 "tasks are never touched" },
	{ 0 },
};

const struct nbx_config_field nbx_core_fields[] = {
	{ .name = "machineries", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "[ ]",
	  .doc = "Machinery plugins to enable; each reads machinery/NAME.conf beside this file" },
	{ .name = "plugin_dirs", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_DIRECTORY,
	  .flags = NBX_FIELD_MUST_EXIST, .default_value = "[ ]",
	  .doc = "Extra plugin directories, searched after NESTBOX_PLUGIN_PATH" },
	{ .name = "builtin_plugin_dir", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Also load the plugins installed with nestbox (searched last)" },
	{ .name = "state_dir", .type = NBX_FIELD_DIRECTORY, .default_value = "/var/lib/nestbox",
	  .doc = "Persistent state: the task store and each plugin's own directory (a reload cannot "
		 "change it)" },
	{ .name = "run_dir", .type = NBX_FIELD_DIRECTORY, .default_value = "/run/nestbox",
	  .doc = "Runtime files: sockets and each plugin's runtime directory (a reload cannot change "
		 "it)" },
	{ .name = "analyses_dir", .type = NBX_FIELD_DIRECTORY,
	  .default_value = "/var/lib/nestbox/analyses",
	  .doc = "Where each analysis gets its own directory (a reload cannot change it)" },
	{ .name = "log_level", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = log_levels, .default_value = "info",
	  .doc = "Least severe level that is logged" },
	{ .name = "api", .type = NBX_FIELD_GROUP, .children = api_fields,
	  .doc = "The control API (HTTP + JSON) that the nestbox CLI talks to (a reload cannot "
		 "change it)" },
	{ .name = "scheduler", .type = NBX_FIELD_GROUP, .children = scheduler_fields,
	  .doc = "How tasks are handed to machines" },
	{ .name = "timeouts", .type = NBX_FIELD_GROUP, .children = timeout_fields,
	  .doc = "The longest each step of an analysis may take" },
	{ .name = "retention", .type = NBX_FIELD_GROUP, .children = retention_fields,
	  .doc = "What is removed of ended tasks and old snapshot generations, and when (each "
		 "removal is logged)" },
	{ .name = "guest", .type = NBX_FIELD_GROUP, .children = guest_fields,
	  .doc = "Guest plugins (conf/guest/NAME.conf each): the default per platform, and limits "
		 "on what comes back from a guest" },
	{ .name = "network", .type = NBX_FIELD_GROUP, .children = network_fields,
	  .doc = "Network segments: a network namespace per machine that sets segment = true" },
	{ 0 },
};

const struct nbx_config_field nbx_core_machine_fields[] = {
	{ .name = "name", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY,
	  .doc = "Unique name of the machine across all machineries ([A-Za-z0-9_.-])" },
	{ .name = "label", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY,
	  .doc = "The hypervisor's name for the machine (e.g. the libvirt domain)" },
	{ .name = "ip", .type = NBX_FIELD_IP_ADDRESS, .flags = NBX_FIELD_REQUIRED,
	  .doc = "The guest's IP address" },
	{ .name = "platform", .type = NBX_FIELD_STRING,
	  .flags = NBX_FIELD_REQUIRED | NBX_FIELD_LOWERCASE | NBX_FIELD_NON_EMPTY,
	  .doc = "Guest platform: windows, linux, ..." },
	{ .name = "os_version", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .doc = "Guest OS version, e.g. win10" },
	{ .name = "architecture", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .doc = "Guest architecture, e.g. amd64" },
	{ .name = "tags", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "[ ]", .doc = "Tags a task can ask for; a task's tags must all be here" },
	{ .name = "interface", .type = NBX_FIELD_INTERFACE, .flags = NBX_FIELD_MUST_BE_UP,
	  .doc = "Host interface the guest's traffic crosses (for the sniffer)" },
	{ .name = "mac_address", .type = NBX_FIELD_MAC_ADDRESS, .doc = "The guest's MAC address" },
	{ .name = "agent_port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
	  .doc = "TCP port of the guest agent; the core waits for it after a restore" },
	{ .name = "snapshot", .type = NBX_FIELD_STRING,
	  .doc = "Snapshot to restore (default: the machinery's current snapshot)" },
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "A disabled machine is not validated and never used" },
	{ .name = "guest", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .doc = "Guest plugin that talks to the machine's agent (default: nestbox.conf "
		 "guest.PLATFORM; \"none\": only wait for agent_port)" },
	{ .name = "base_machine", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_NON_EMPTY,
	  .doc = "Restore from the snapshot generations of this other machine of the same "
		 "machinery (its base), as `nestbox snapshot commit` makes them; default: "
		 "its own" },
	{ .name = "segment", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Give the machine a network segment of its own: namespace /run/netns/nbx-NAME, "
		 "bridge nbx0 there, so clones with one IP and MAC run at once" },
	{ .name = "host_address", .type = NBX_FIELD_STRING,
	  .doc = "With segment: the host side's address on the guest's subnet, with its "
		 "length, e.g. 10.213.0.1/24" },
	{ .name = "host_mac", .type = NBX_FIELD_MAC_ADDRESS,
	  .doc = "With segment: the host side's MAC, the one the guest was saved with "
		 "(else each restore stalls until the guest's ARP entry expires)" },
	{ 0 },
};

const struct nbx_config_field nbx_core_auxiliary_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Run this module around every analysis (a disabled group is not validated)" },
	/* The default is replaced per plugin with its descriptor's order. */
	{ .name = "order", .type = NBX_FIELD_INTEGER, .min = 0, .max = INT32_MAX,
	  .default_value = "1",
	  .doc = "Start order: lower first, ties by name; stopped in reverse" },
	{ .name = "required", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "When this module fails to start, fail the analysis instead of going on" },
	{ 0 },
};

const struct nbx_config_field nbx_core_guest_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "A disabled guest plugin is not started; a machine that names it is refused" },
	{ 0 },
};

const char *const nbx_reserved_plugin_keys[] = { "enabled", "order", "required", "machines", NULL };

const char *const nbx_reserved_machine_keys[] = {
	"name",	     "label",	    "ip",      "platform",   "os_version", "architecture",
	"tags",	     "interface",   "mac_address", "agent_port", "snapshot",	   "enabled",
	"base_machine", "segment",  "host_address", "host_mac", "guest", NULL,
};
