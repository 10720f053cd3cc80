/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core_schema.h"

#include <stddef.h>
#include <stdint.h>

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

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
	  .doc = "Persistent state: the task store and each plugin's own directory" },
	{ .name = "run_dir", .type = NBX_FIELD_DIRECTORY, .default_value = "/run/nestbox",
	  .doc = "Runtime files: sockets and each plugin's runtime directory" },
	{ .name = "analyses_dir", .type = NBX_FIELD_DIRECTORY,
	  .default_value = "/var/lib/nestbox/analyses",
	  .doc = "Where each analysis gets its own directory" },
	{ .name = "log_level", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = log_levels, .default_value = "info",
	  .doc = "Least severe level that is logged" },
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
	{ 0 },
};

const struct nbx_config_field nbx_core_auxiliary_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true",
	  .doc = "Run this module around every analysis (a disabled group is not validated)" },
	/* The default is replaced per plugin with its descriptor's order. */
	{ .name = "order", .type = NBX_FIELD_INTEGER, .min = 0, .max = INT32_MAX,
	  .default_value = "1",
	  .doc = "Start order: lower first, ties by name; stopped in reverse" },
	{ 0 },
};

const char *const nbx_reserved_plugin_keys[] = { "enabled", "order", "machines", NULL };

const char *const nbx_reserved_machine_keys[] = {
	"name",	     "label",	    "ip",      "platform",   "os_version", "architecture",
	"tags",	     "interface",   "mac_address", "agent_port", "snapshot",	   "enabled",
	NULL,
};
