/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NbxSettings holds every `timeouts`, `scheduler`, `guest`, `retention` key
 * and every number of `api` of the core schema, and no default of its own:
 * an empty nestbox.conf gives the schema's.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "core_schema.h"
#include "settings.h"
#include "test_support.h"

static const struct nbx_config_field *
group(const char *name)
{
	for (const struct nbx_config_field *f = nbx_core_fields; f->name != NULL; f++)
		if (g_strcmp0(f->name, name) == 0)
			return f->children;
	g_assert_not_reached();
}

/* Every key of the two groups is read, and nothing else is. */
static void
test_every_key(void)
{
	const char *const groups[] = { "timeouts", "scheduler", "guest", "retention", "api" };
	const char *const *paths = nbx_settings_paths();
	guint in_schema = 0;

	for (guint g = 0; g < G_N_ELEMENTS(groups); g++) {
		for (const struct nbx_config_field *f = group(groups[g]); f->name != NULL; f++) {
			g_autofree char *path = g_strdup_printf("%s.%s", groups[g], f->name);

			/*
			 * guest.PLATFORM names a plugin, api.socket and api.token_file
			 * are paths (api_settings.h): configuration, not settings.
			 */
			if (f->type == NBX_FIELD_STRING || f->type == NBX_FIELD_FILE)
				continue;

			g_assert_true(g_strv_contains((const char *const *)paths, path));
			g_assert_nonnull(f->default_value);
			in_schema++;
		}
	}
	g_assert_cmpuint(g_strv_length((char **)paths), ==, in_schema);
}

static NbxConfig *
load(const char *dir, const char *text)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	NbxConfig *config;

	test_write(dir, "nestbox.conf", text);
	config = nbx_config_load_core(dir, NULL, diagnostics);
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_test_message("%s", nbx_diagnostics_get(diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
	return config;
}

/* The schema's defaults arrive; what the file says wins. */
static void
test_values(void)
{
	g_autofree char *dir = test_dir_new();
	const char *base = "state_dir = \"state\";\nrun_dir = \"run\";\n"
			   "analyses_dir = \"analyses\";\nbuiltin_plugin_dir = false;\n";
	g_autofree char *custom = g_strconcat(base,
					      "timeouts = { restore = 7; snapshot_commit = 9; };\n"
					      "scheduler = { stop_method = \"acpi\"; "
					      "retry_on_machine_death = false; op_grace = 0; };\n",
					      NULL);
	NbxConfig *config;

	config = load(dir, base);
	g_assert_cmpint(config->settings.timeouts.restore, ==, 300);
	g_assert_cmpint(config->settings.timeouts.snapshot_commit, ==, 1800);
	g_assert_cmpint(config->settings.scheduler.max_concurrent_restores, ==, 2);
	g_assert_cmpint(config->settings.scheduler.shutdown_timeout, ==, 60);
	g_assert_cmpint(config->settings.scheduler.op_grace, ==, 5);
	g_assert_false(config->settings.scheduler.graceful_stop);
	g_assert_true(config->settings.scheduler.retry_on_machine_death);
	nbx_config_free(config);

	config = load(dir, custom);
	g_assert_cmpint(config->settings.timeouts.restore, ==, 7);
	g_assert_cmpint(config->settings.timeouts.snapshot_commit, ==, 9);
	g_assert_true(config->settings.scheduler.graceful_stop);
	g_assert_false(config->settings.scheduler.retry_on_machine_death);
	g_assert_cmpint(config->settings.scheduler.op_grace, ==, 0);
	nbx_config_free(config);
	test_dir_remove(dir);
}

/* Without a nestbox.conf (a test's control API), the defaults are those an empty one gives. */
static void
test_defaults(void)
{
	g_autofree char *dir = test_dir_new();
	NbxConfig *config = load(dir, "state_dir = \"state\";\nrun_dir = \"run\";\n"
				      "analyses_dir = \"analyses\";\nbuiltin_plugin_dir = false;\n");
	NbxSettings defaults;

	memset(&defaults, 0, sizeof defaults);
	nbx_settings_defaults(&defaults);
	g_assert_cmpmem(&defaults, sizeof defaults, &config->settings, sizeof config->settings);
	g_assert_cmpint(defaults.api.max_connections, ==, 128);
	g_assert_cmpint(defaults.api.max_json_kb, ==, 1024);
	g_assert_cmpint(defaults.retention.interval, ==, 60);
	g_assert_cmpint(defaults.retention.days, ==, 0);
	nbx_config_free(config);
	test_dir_remove(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/settings/every-key", test_every_key);
	g_test_add_func("/settings/values", test_values);
	g_test_add_func("/settings/defaults", test_defaults);
	return g_test_run();
}
