/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "settings.h"

#include "core_schema.h"
#include "schema_validate.h"

typedef enum { SETTING_INTEGER, SETTING_BOOLEAN, SETTING_CHOICE } SettingType;

/* One setting: where it is in nestbox.conf, where it goes in NbxSettings. */
typedef struct {
	const char *path;
	SettingType type;
	gsize offset;
	/* SETTING_CHOICE: the value that sets the gboolean. */
	const char *when;
} Setting;

#define INTEGER(path, field) { path, SETTING_INTEGER, G_STRUCT_OFFSET(NbxSettings, field), NULL }
#define BOOLEAN(path, field) { path, SETTING_BOOLEAN, G_STRUCT_OFFSET(NbxSettings, field), NULL }
#define CHOICE(path, field, when) \
	{ path, SETTING_CHOICE, G_STRUCT_OFFSET(NbxSettings, field), when }

static const Setting settings_table[] = {
	INTEGER("timeouts.auxiliary_start", timeouts.auxiliary_start),
	INTEGER("timeouts.restore", timeouts.restore),
	INTEGER("timeouts.agent", timeouts.agent),
	INTEGER("timeouts.dump_memory", timeouts.dump_memory),
	INTEGER("timeouts.acpi_stop", timeouts.acpi_stop),
	INTEGER("timeouts.stop", timeouts.stop),
	INTEGER("timeouts.auxiliary_stop", timeouts.auxiliary_stop),
	INTEGER("timeouts.snapshot_commit", timeouts.snapshot_commit),
	INTEGER("timeouts.guest", timeouts.guest),
	INTEGER("scheduler.max_concurrent_restores", scheduler.max_concurrent_restores),
	INTEGER("scheduler.machine_failure_limit", scheduler.machine_failure_limit),
	BOOLEAN("scheduler.retry_on_machine_death", scheduler.retry_on_machine_death),
	INTEGER("scheduler.max_attempts", scheduler.max_attempts),
	INTEGER("scheduler.default_duration", scheduler.default_duration),
	INTEGER("scheduler.max_duration", scheduler.max_duration),
	INTEGER("scheduler.shutdown_timeout", scheduler.shutdown_timeout),
	CHOICE("scheduler.stop_method", scheduler.graceful_stop, "acpi"),
	INTEGER("scheduler.op_grace", scheduler.op_grace),
	INTEGER("guest.max_files", guest.max_files),
	INTEGER("guest.max_file_mb", guest.max_file_mb),
	INTEGER("guest.max_output_kb", guest.max_output_kb),
	INTEGER("retention.days", retention.days),
	INTEGER("retention.max_disk_gb", retention.max_disk_gb),
	INTEGER("retention.interval", retention.interval),
	INTEGER("api.max_upload_mb", api.max_upload_mb),
	INTEGER("api.max_json_kb", api.max_json_kb),
	INTEGER("api.max_header_kb", api.max_header_kb),
	INTEGER("api.max_connections", api.max_connections),
	INTEGER("api.listen_backlog", api.listen_backlog),
	INTEGER("api.header_timeout", api.header_timeout),
	INTEGER("api.idle_timeout", api.idle_timeout),
};

static void
read_one(NbxSettings *settings, const config_setting_t *root, const Setting *setting)
{
	const config_setting_t *value =
		config_setting_lookup((config_setting_t *)root, setting->path);

	if (value == NULL)
		g_error("%s has no value after validation: its schema entry needs a default",
			setting->path);
	switch (setting->type) {
	case SETTING_INTEGER:
		G_STRUCT_MEMBER(gint64, settings, setting->offset) =
			config_setting_get_int64(value);
		break;
	case SETTING_BOOLEAN:
		G_STRUCT_MEMBER(gboolean, settings, setting->offset) =
			config_setting_get_bool(value) != 0;
		break;
	case SETTING_CHOICE:
		G_STRUCT_MEMBER(gboolean, settings, setting->offset) =
			g_strcmp0(config_setting_get_string(value), setting->when) == 0;
		break;
	}
}

void
nbx_settings_read(NbxSettings *settings, const config_setting_t *root)
{
	for (gsize i = 0; i < G_N_ELEMENTS(settings_table); i++)
		read_one(settings, root, &settings_table[i]);
}

const char *const *
nbx_settings_paths(void)
{
	static const char *paths[G_N_ELEMENTS(settings_table) + 1];

	if (paths[0] == NULL)
		for (gsize i = 0; i < G_N_ELEMENTS(settings_table); i++)
			paths[i] = settings_table[i].path;
	return paths;
}

void
nbx_settings_defaults(NbxSettings *settings)
{
	g_autoptr(NbxSchema) schema = nbx_schema_new_static(nbx_core_fields);
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	/* Nothing is checked against the machine: only the defaults are wanted. */
	NbxValidation validation = { .diagnostics = diagnostics, .base_dir = "/" };
	config_t empty;

	config_init(&empty);
	nbx_schema_validate_group(schema, config_root_setting(&empty), NULL, &validation);
	nbx_settings_read(settings, config_root_setting(&empty));
	config_destroy(&empty);
}
