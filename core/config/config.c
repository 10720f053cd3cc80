/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_source.h"
#include "core_schema.h"
#include "schema_validate.h"

NbxConfigFile *
nbx_config_file_read(const char *path, gboolean required, NbxDiagnostics *diagnostics)
{
	NbxConfigFile *file;
	struct stat st;

	if (!required && lstat(path, &st) != 0 && errno == ENOENT)
		return NULL;
	file = g_new0(NbxConfigFile, 1);
	file->path = g_strdup(path);
	config_init(&file->config);
	if (!nbx_config_source_read_file(&file->config, path, diagnostics)) {
		nbx_config_file_free(file);
		return NULL;
	}
	return file;
}

void
nbx_config_file_free(NbxConfigFile *file)
{
	if (file == NULL)
		return;
	config_destroy(&file->config);
	g_free(file->path);
	g_free(file);
}

void
nbx_config_section_free(NbxPluginSection *section)
{
	nbx_schema_free(section->schema);
	g_free(section);
}

void
nbx_config_free(NbxConfig *config)
{
	if (config == NULL)
		return;
	g_ptr_array_unref(config->machineries);
	g_ptr_array_unref(config->auxiliaries);
	if (config->guests != NULL)
		g_ptr_array_unref(config->guests);
	g_ptr_array_unref(config->files);
	nbx_config_file_free(config->core_file);
	g_strfreev(config->plugin_dirs);
	g_strfreev(config->machinery_names);
	g_free(config->state_dir);
	g_free(config->run_dir);
	g_free(config->analyses_dir);
	g_free(config->log_level);
	nbx_api_settings_free(config->api);
	g_free(config->dir);
	g_free(config);
}

static char **
string_list(config_setting_t *root, const char *key)
{
	config_setting_t *list = config_setting_get_member(root, key);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		const char *value = config_setting_get_string_elem(list, i);

		if (value != NULL)
			g_strv_builder_add(builder, value);
	}
	return g_strv_builder_end(builder);
}

static char *
string_value(config_setting_t *root, const char *key)
{
	const char *value = NULL;

	config_setting_lookup_string(root, key, &value);
	return g_strdup(value);
}

static char **
plugin_search_path(config_setting_t *root, const char *builtin_plugin_dir)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	const char *env = g_getenv("NESTBOX_PLUGIN_PATH");
	g_auto(GStrv) configured = string_list(root, "plugin_dirs");
	int builtin = 1;

	if (env != NULL) {
		g_auto(GStrv) parts = g_strsplit(env, ":", -1);

		for (char **p = parts; *p != NULL; p++) {
			if (**p != '\0')
				g_strv_builder_add(builder, *p);
		}
	}
	/* A configured directory that is missing was reported by the schema. */
	for (char **dir = configured; *dir != NULL; dir++) {
		if (g_file_test(*dir, G_FILE_TEST_IS_DIR))
			g_strv_builder_add(builder, *dir);
	}
	config_setting_lookup_bool(root, "builtin_plugin_dir", &builtin);
	/* Not installed yet (a build tree): nothing to load from it, not an error. */
	if (builtin && builtin_plugin_dir != NULL &&
	    g_file_test(builtin_plugin_dir, G_FILE_TEST_IS_DIR))
		g_strv_builder_add(builder, builtin_plugin_dir);
	return g_strv_builder_end(builder);
}

/* ---- what start-up does with nestbox.conf ------------------------------- */

/* Start-up creates them (mkdir -p) and writes in them. */
static const char *const startup_dirs[] = { "state_dir", "run_dir", "analyses_dir" };

static config_setting_t *
setting_at(config_setting_t *root, const char *key_path)
{
	config_setting_t *setting = config_setting_lookup(root, key_path);

	return setting != NULL ? setting : root;
}

/* The nearest of @path and its ancestors that exists, with its status. */
static char *
nearest_existing(const char *path, struct stat *st, int *error)
{
	g_autofree char *existing = g_strdup(path);

	while (stat(existing, st) != 0) {
		g_autofree char *parent = g_path_get_dirname(existing);

		*error = errno;
		if ((errno != ENOENT && errno != ENOTDIR) || strcmp(parent, existing) == 0)
			return NULL;
		g_free(existing);
		existing = g_steal_pointer(&parent);
	}
	return g_steal_pointer(&existing);
}

/* The directory must be one start-up can write in, or can create. */
static void
check_startup_dir(config_setting_t *root, const char *key, NbxDiagnostics *diagnostics)
{
	config_setting_t *setting = config_setting_get_member(root, key);
	g_autofree char *location = nbx_setting_location(setting_at(root, key));
	g_autofree char *existing = NULL;
	const char *path;
	struct stat st;
	int error = 0;

	if (setting == NULL || config_setting_type(setting) != CONFIG_TYPE_STRING ||
	    !g_path_is_absolute(config_setting_get_string(setting)))
		return;
	path = config_setting_get_string(setting);
	existing = nearest_existing(path, &st, &error);
	if (existing == NULL) {
		g_autofree char *shown = nbx_diagnostics_shorten(path);

		nbx_diagnostics_add(diagnostics, location, key, "cannot reach %s: %s", shown,
				    g_strerror(error));
	}
	else if (strcmp(existing, path) == 0 && !S_ISDIR(st.st_mode))
		return; /* the schema said "not a directory" */
	else if (!S_ISDIR(st.st_mode))
		nbx_diagnostics_add(diagnostics, location, key,
				    "cannot be created: %s is not a directory", existing);
	else if (access(existing, W_OK | X_OK) != 0)
		nbx_diagnostics_add(diagnostics, location, key, "%s%s is not writable by uid %u (%s)",
				    strcmp(existing, path) == 0 ? "directory " : "cannot be created: ",
				    existing, (unsigned)geteuid(), g_strerror(errno));
}

/* A task that does not say how long would be refused: say it now. */
static void
check_durations(config_setting_t *root, NbxDiagnostics *diagnostics)
{
	config_setting_t *duration = config_setting_lookup(root, "scheduler.default_duration");
	config_setting_t *longest = config_setting_lookup(root, "scheduler.max_duration");
	g_autofree char *location = NULL;

	if (duration == NULL || longest == NULL ||
	    config_setting_get_int64(duration) <= config_setting_get_int64(longest))
		return;
	location = nbx_setting_location(duration);
	nbx_diagnostics_add(diagnostics, location, "scheduler.default_duration",
			    "%lld seconds is longer than scheduler.max_duration (%lld): a task "
			    "that does not say how long would be refused",
			    (long long)config_setting_get_int64(duration),
			    (long long)config_setting_get_int64(longest));
}

static gboolean
same_on_reload(config_setting_t *root, const char *key_path, const char *running,
	       const char *fresh, NbxDiagnostics *diagnostics)
{
	g_autofree char *location = NULL;
	g_autofree char *was = NULL, *now = NULL;

	if (g_strcmp0(running, fresh) == 0)
		return TRUE;
	location = nbx_setting_location(setting_at(root, key_path));
	was = running != NULL ? nbx_diagnostics_quote(running) : g_strdup("nothing");
	now = fresh != NULL ? nbx_diagnostics_quote(fresh) : g_strdup("nothing");
	nbx_diagnostics_add(diagnostics, location, key_path,
			    "a reload cannot change it (running with %s, the file now says %s); "
			    "restart nestboxd to apply it",
			    was, now);
	return FALSE;
}

NbxConfig *
nbx_config_load_core(const char *dir, const char *builtin_plugin_dir,
		     NbxDiagnostics *diagnostics)
{
	g_autofree char *path = g_build_filename(dir, "nestbox.conf", NULL);
	g_autoptr(NbxSchema) schema = nbx_schema_new_static(nbx_core_fields);
	g_autofree char *base_dir = g_canonicalize_filename(dir, NULL);
	NbxValidation validation = {
		.diagnostics = diagnostics, .base_dir = base_dir, .check_environment = TRUE
	};
	NbxConfigFile *file = nbx_config_file_read(path, TRUE, diagnostics);
	config_setting_t *root;
	NbxConfig *config;
	gboolean clean;

	if (file == NULL)
		return NULL;
	config = g_new0(NbxConfig, 1);
	/* Absolute, so relative paths in the files resolve the same from any cwd. */
	config->dir = g_canonicalize_filename(dir, NULL);
	config->core_file = file;
	config->files = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_config_file_free);
	config->machineries = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_config_section_free);
	config->auxiliaries = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_config_section_free);

	root = config_root_setting(&file->config);
	clean = nbx_schema_validate_group(schema, root, NULL, &validation);
	if (clean)
		nbx_settings_read(&config->settings, root);
	config->plugin_dirs = plugin_search_path(root, builtin_plugin_dir);
	config->machinery_names = string_list(root, "machineries");
	config->state_dir = string_value(root, "state_dir");
	config->run_dir = string_value(root, "run_dir");
	config->analyses_dir = string_value(root, "analyses_dir");
	config->log_level = string_value(root, "log_level");
	config->api = nbx_api_settings_read(root, &config->settings, config->dir,
					    config->run_dir != NULL ? config->run_dir : "",
					    diagnostics);
	for (guint i = 0; i < G_N_ELEMENTS(startup_dirs); i++)
		check_startup_dir(root, startup_dirs[i], diagnostics);
	/* Relations between keys mean something once each key is valid. */
	if (clean)
		check_durations(root, diagnostics);
	return config;
}

gboolean
nbx_config_check_reload(const NbxConfig *running, const NbxConfig *fresh,
			NbxDiagnostics *diagnostics)
{
	config_setting_t *root = config_root_setting(&fresh->core_file->config);
	const NbxApiSettings *was = running->api, *now = fresh->api;
	g_autofree char *was_mb = g_strdup_printf("%zu", was->max_body_bytes >> 20);
	g_autofree char *now_mb = g_strdup_printf("%zu", now->max_body_bytes >> 20);
	gboolean ok = same_on_reload(root, "state_dir", running->state_dir, fresh->state_dir,
				     diagnostics);

	ok &= same_on_reload(root, "run_dir", running->run_dir, fresh->run_dir, diagnostics);
	ok &= same_on_reload(root, "analyses_dir", running->analyses_dir, fresh->analyses_dir,
			     diagnostics);
	ok &= same_on_reload(root, "api.socket", was->socket_path, now->socket_path, diagnostics);
	ok &= same_on_reload(root, "api.socket_group", was->socket_group, now->socket_group,
			     diagnostics);
	ok &= same_on_reload(root, "api.tcp", was->tcp_address, now->tcp_address, diagnostics);
	ok &= same_on_reload(root, "api.token_file", was->token_file, now->token_file,
			     diagnostics);
	ok &= same_on_reload(root, "api.max_upload_mb", was_mb, now_mb, diagnostics);
	if (g_strcmp0(was->token_file, now->token_file) == 0 &&
	    g_strcmp0(was->token, now->token) != 0) {
		g_autofree char *location = nbx_setting_location(setting_at(root, "api.token_file"));

		nbx_diagnostics_add(diagnostics, location, "api.token_file",
				    "the token in %s changed; a reload cannot change it: restart "
				    "nestboxd to apply it", now->token_file);
		ok = FALSE;
	}
	return ok;
}

gint64
nbx_config_core_integer(const NbxConfig *config, const char *path, gint64 fallback)
{
	long long value;

	/* libconfig widens an int setting to int64 here: one look-up serves both. */
	if (config_lookup_int64(&config->core_file->config, path, &value) == CONFIG_TRUE)
		return value;
	return fallback;
}

const char *
nbx_config_core_string(const NbxConfig *config, const char *path, const char *fallback)
{
	const char *value = NULL;

	if (config_lookup_string(&config->core_file->config, path, &value) == CONFIG_TRUE &&
	    *value != '\0')
		return value;
	return fallback;
}
