/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-services table: the only way a plugin reaches the core. Each
 * function finds its plugin instance through host->core_private.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "diagnostics.h"
#include "host_children.h"
#include "host_services.h"
#include "plugin_instance_state.h"
#include "report.h"
#include "schema.h"
#include "structured_log.h"

static NbxPluginInstance *
instance_of(const struct nbx_host *host)
{
	return host->core_private;
}

/* ---- logging and errors ------------------------------------------------- */

static void G_GNUC_PRINTF(3, 4)
host_log(const struct nbx_host *host, int32_t level, const char *format, ...)
{
	static const GLogLevelFlags levels[] = { G_LOG_LEVEL_WARNING, G_LOG_LEVEL_WARNING,
						 G_LOG_LEVEL_INFO, G_LOG_LEVEL_DEBUG };
	const char *plugin = nbx_plugin_instance_name(instance_of(host));
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	if (level < 0 || level >= (int32_t)G_N_ELEMENTS(levels))
		level = NBX_LOG_INFO;
	/* PLUGIN= selects one plugin's lines in the journal. */
	nbx_log(levels[level], &(NbxLogFields){ .plugin = plugin }, "%s%s: %s",
		level == NBX_LOG_ERROR ? "error: " : "", plugin, message);
}

static void G_GNUC_PRINTF(4, 5)
host_error_set(const struct nbx_host *host, struct nbx_error *err, int32_t code,
	       const char *format, ...)
{
	va_list args;

	if (err == NULL || err->code != NBX_ERROR_NONE)
		return;
	err->code = code != NBX_ERROR_NONE ? code : NBX_ERROR_FAILED;
	va_start(args, format);
	vsnprintf(err->message, sizeof err->message, format, args);
	va_end(args);
}

/* ---- configuration ------------------------------------------------------ */

static config_setting_t *
lookup(const struct nbx_host *host, const struct nbx_config_node *node, const char *key)
{
	config_setting_t *base = node != NULL ? NBX_SETTING(node) : instance_of(host)->section->root;

	if (key == NULL)
		return base;
	return config_setting_lookup(base, key);
}

static const char *
host_config_string(const struct nbx_host *host, const struct nbx_config_node *node,
		   const char *key)
{
	config_setting_t *setting = lookup(host, node, key);

	if (setting == NULL || config_setting_type(setting) != CONFIG_TYPE_STRING)
		return NULL;
	return config_setting_get_string(setting);
}

static bool
host_config_integer(const struct nbx_host *host, const struct nbx_config_node *node,
		    const char *key, int64_t *out)
{
	config_setting_t *setting = lookup(host, node, key);

	if (setting == NULL || (config_setting_type(setting) != CONFIG_TYPE_INT &&
				config_setting_type(setting) != CONFIG_TYPE_INT64))
		return false;
	*out = config_setting_get_int64(setting);
	return true;
}

static bool
host_config_boolean(const struct nbx_host *host, const struct nbx_config_node *node,
		    const char *key, bool *out)
{
	config_setting_t *setting = lookup(host, node, key);

	if (setting == NULL || config_setting_type(setting) != CONFIG_TYPE_BOOL)
		return false;
	*out = config_setting_get_bool(setting);
	return true;
}

static size_t
host_config_list_length(const struct nbx_host *host, const struct nbx_config_node *node,
			const char *key)
{
	config_setting_t *setting = lookup(host, node, key);

	if (setting == NULL || (config_setting_type(setting) != CONFIG_TYPE_LIST &&
				config_setting_type(setting) != CONFIG_TYPE_ARRAY))
		return 0;
	return config_setting_length(setting);
}

static const char *
host_config_list_string(const struct nbx_host *host, const struct nbx_config_node *node,
			const char *key, size_t index)
{
	config_setting_t *element;
	g_autofree char *text = NULL;

	if (index >= host_config_list_length(host, node, key))
		return NULL;
	element = config_setting_get_elem(lookup(host, node, key), index);
	switch (config_setting_type(element)) {
	case CONFIG_TYPE_STRING:
		return config_setting_get_string(element);
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		text = g_strdup_printf("%" G_GINT64_FORMAT, (gint64)config_setting_get_int64(element));
		/* Interned: valid for the life of the process, safe from any thread. */
		return g_intern_string(text);
	case CONFIG_TYPE_BOOL:
		return config_setting_get_bool(element) ? "true" : "false";
	default:
		return NULL;
	}
}

static const struct nbx_config_node *
host_config_group(const struct nbx_host *host, const struct nbx_config_node *node,
		  const char *key)
{
	config_setting_t *setting = lookup(host, node, key);

	if (setting == NULL || config_setting_type(setting) != CONFIG_TYPE_GROUP)
		return NULL;
	return NBX_NODE(setting);
}

static const struct nbx_config_node *
host_config_list_group(const struct nbx_host *host, const struct nbx_config_node *node,
		       const char *key, size_t index)
{
	config_setting_t *element;

	if (index >= host_config_list_length(host, node, key))
		return NULL;
	element = config_setting_get_elem(lookup(host, node, key), index);
	if (config_setting_type(element) != CONFIG_TYPE_GROUP)
		return NULL;
	return NBX_NODE(element);
}

static const char *
host_config_location(const struct nbx_host *host, const struct nbx_config_node *node,
		     const char *key)
{
	config_setting_t *setting = lookup(host, node, key);
	g_autofree char *location = NULL;

	if (setting == NULL)
		setting = lookup(host, node, NULL);
	location = nbx_setting_location(setting);
	return g_intern_string(location);
}

static const char *
host_path(const struct nbx_host *host, int32_t kind)
{
	NbxPluginInstance *instance = instance_of(host);

	switch (kind) {
	case NBX_PATH_CONFIG_DIR:
		return instance->config->dir;
	case NBX_PATH_STATE_DIR:
		return instance->state_dir;
	case NBX_PATH_RUN_DIR:
		return instance->run_dir;
	case NBX_PATH_ANALYSES_DIR:
		return instance->config->analyses_dir;
	default:
		return NULL;
	}
}

/* ---- main-loop sources -------------------------------------------------- */

typedef struct {
	NbxPluginInstance *instance;
	GSource *source;
	nbx_fd_fn fd_fn;
	nbx_timeout_fn timeout_fn;
	nbx_main_fn main_fn;
	void *user_data;
} SourceClosure;

/* The source is gone (callback said stop, or removed): forget it. */
static void
closure_free(gpointer data)
{
	SourceClosure *closure = data;
	NbxPluginInstance *instance = closure->instance;
	gboolean tracked;

	g_mutex_lock(&instance->lock);
	tracked = g_hash_table_remove(instance->sources, closure->source);
	g_mutex_unlock(&instance->lock);
	if (tracked)
		g_source_unref(closure->source);
	g_free(closure);
}

/* Tracked before it is attached, so a callback that ends it at once is fine. */
static uint64_t
attach_tracked(NbxPluginInstance *instance, GSource *source, GSourceFunc callback,
	       SourceClosure *closure)
{
	closure->instance = instance;
	closure->source = source;
	g_source_set_callback(source, callback, closure, closure_free);
	g_mutex_lock(&instance->lock);
	g_hash_table_add(instance->sources, source);
	g_mutex_unlock(&instance->lock);
	return g_source_attach(source, NULL);
}

static gboolean
fd_ready(gint fd, GIOCondition condition, gpointer data)
{
	SourceClosure *closure = data;
	uint32_t events = 0;

	if (condition & G_IO_IN)
		events |= NBX_FD_IN;
	if (condition & G_IO_OUT)
		events |= NBX_FD_OUT;
	if (condition & G_IO_ERR)
		events |= NBX_FD_ERR;
	if (condition & G_IO_HUP)
		events |= NBX_FD_HUP;
	return closure->fd_fn(closure->user_data, fd, events) ? G_SOURCE_CONTINUE
							       : G_SOURCE_REMOVE;
}

static uint64_t
host_watch_fd(const struct nbx_host *host, int fd, uint32_t events, nbx_fd_fn fn,
	      void *user_data)
{
	GIOCondition condition = G_IO_ERR | G_IO_HUP;
	SourceClosure *closure = g_new0(SourceClosure, 1);
	GSource *source;

	if (events & NBX_FD_IN)
		condition |= G_IO_IN;
	if (events & NBX_FD_OUT)
		condition |= G_IO_OUT;
	closure->fd_fn = fn;
	closure->user_data = user_data;
	source = g_unix_fd_source_new(fd, condition);
	return attach_tracked(instance_of(host), source, G_SOURCE_FUNC(fd_ready), closure);
}

static gboolean
timeout_fired(gpointer data)
{
	SourceClosure *closure = data;

	return closure->timeout_fn(closure->user_data) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static uint64_t
host_add_timeout(const struct nbx_host *host, uint32_t ms, nbx_timeout_fn fn, void *user_data)
{
	SourceClosure *closure = g_new0(SourceClosure, 1);

	closure->timeout_fn = fn;
	closure->user_data = user_data;
	return attach_tracked(instance_of(host), g_timeout_source_new(ms), timeout_fired, closure);
}

static gboolean
main_invoked(gpointer data)
{
	SourceClosure *closure = data;

	closure->main_fn(closure->user_data);
	return G_SOURCE_REMOVE;
}

static uint64_t
host_invoke_main(const struct nbx_host *host, nbx_main_fn fn, void *user_data)
{
	SourceClosure *closure = g_new0(SourceClosure, 1);

	closure->main_fn = fn;
	closure->user_data = user_data;
	return attach_tracked(instance_of(host), g_idle_source_new(), main_invoked, closure);
}

static void
host_remove_source(const struct nbx_host *host, uint64_t id)
{
	GSource *source;

	if (id == 0 || id > G_MAXUINT)
		return;
	source = g_main_context_find_source_by_id(NULL, (guint)id);
	if (source != NULL)
		g_source_destroy(source);
}

void
nbx_host_services_release(NbxPluginInstance *instance)
{
	g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func((GDestroyNotify)g_source_unref);
	GHashTableIter iter;
	gpointer value;

	nbx_host_children_release(instance);
	g_mutex_lock(&instance->lock);
	g_hash_table_iter_init(&iter, instance->sources);
	while (g_hash_table_iter_next(&iter, &value, NULL))
		g_ptr_array_add(sources, value);
	g_hash_table_remove_all(instance->sources);
	g_mutex_unlock(&instance->lock);
	/* Destroyed outside the lock: their destroy notify takes it. */
	for (guint i = 0; i < sources->len; i++)
		g_source_destroy(g_ptr_array_index(sources, i));
}

static int64_t
host_monotonic_us(const struct nbx_host *host)
{
	return g_get_monotonic_time();
}

/* ---- machines, checks, reports ------------------------------------------ */

static void
host_machine_state_changed(const struct nbx_host *host, struct nbx_machine *machine,
			   int32_t state, const char *reason)
{
	NbxPluginInstance *instance = instance_of(host);

	if (instance->machine_sink == NULL || machine == NULL)
		return;
	instance->machine_sink->state_changed(instance->machine_owner, machine, state, reason);
}

static bool
host_machine_declare(const struct nbx_host *host, struct nbx_machine_loader *loader,
		     const struct nbx_machine *machine, struct nbx_error *err)
{
	g_autoptr(NbxDiagnostics) problems = nbx_diagnostics_new();
	g_autofree char *location = NULL;
	struct nbx_machine copy = { 0 };

	if (loader == NULL || machine == NULL || loader->instance->machine_sink == NULL) {
		host_error_set(host, err, NBX_ERROR_INVALID,
			       "machine_declare is only valid inside load_machines");
		return false;
	}
	/* The plugin's struct may be older (smaller) than ours. */
	memcpy(&copy, machine, MIN(machine->struct_size, sizeof copy));
	location = copy.config != NULL
			   ? nbx_setting_location(NBX_SETTING(copy.config))
			   : g_strdup_printf("machinery %s", nbx_plugin_instance_name(loader->instance));
	if (!loader->instance->machine_sink->declare(loader->instance->machine_owner, loader->instance,
						     &copy, location, problems)) {
		host_error_set(host, err, NBX_ERROR_INVALID, "%s",
			       nbx_diagnostics_get(problems, 0));
		return false;
	}
	return true;
}

static void G_GNUC_PRINTF(5, 6)
host_check_report(const struct nbx_host *host, struct nbx_check *check,
		  const struct nbx_config_node *node, const char *key, const char *format, ...)
{
	config_setting_t *base;
	config_setting_t *setting;
	g_autofree char *location = NULL;
	g_autofree char *path = NULL;
	va_list args;

	if (check == NULL)
		return;
	base = node != NULL ? NBX_SETTING(node) : check->instance->section->root;
	setting = key != NULL ? config_setting_lookup(base, key) : NULL;
	location = nbx_setting_location(setting != NULL ? setting : base);
	path = nbx_setting_key_path(base, key);
	va_start(args, format);
	nbx_diagnostics_addv(check->diagnostics, location, path, format, args);
	va_end(args);
}

static void
host_report_set_string(const struct nbx_host *host, struct nbx_report *report, const char *key,
		       const char *value)
{
	if (report != NULL && key != NULL)
		nbx_report_set_string(report, key, value);
}

static void
host_report_set_integer(const struct nbx_host *host, struct nbx_report *report, const char *key,
			int64_t value)
{
	if (report != NULL && key != NULL)
		nbx_report_set_integer(report, key, value);
}

static void
host_report_add_file(const struct nbx_host *host, struct nbx_report *report,
		     const char *relative_path)
{
	if (report != NULL && relative_path != NULL)
		nbx_report_add_file(report, relative_path);
}

static void
host_report_set_boolean(const struct nbx_host *host, struct nbx_report *report, const char *key,
			bool value)
{
	if (report != NULL && key != NULL)
		nbx_report_set_boolean(report, key, value);
}

static bool
host_report_set_json(const struct nbx_host *host, struct nbx_report *report, const char *key,
		     const char *json, struct nbx_error *err)
{
	g_autoptr(GError) error = NULL;

	if (report == NULL || key == NULL || json == NULL) {
		host_error_set(host, err, NBX_ERROR_INVALID, "report_set_json: %s is NULL",
			       report == NULL ? "report" : key == NULL ? "key" : "json");
		return false;
	}
	if (!nbx_report_set_json(report, key, json, &error)) {
		host_error_set(host, err, NBX_ERROR_INVALID, "report key %s: %s", key,
			       error->message);
		return false;
	}
	return true;
}

void
nbx_host_services_fill(struct nbx_host *host, NbxPluginInstance *instance)
{
	*host = (struct nbx_host){
		.struct_size = sizeof(struct nbx_host),
		.abi_major = NBX_ABI_MAJOR,
		.abi_minor = NBX_ABI_MINOR,
		.core_version = NESTBOX_VERSION,
		.core_private = instance,
		.log = host_log,
		.error_set = host_error_set,
		.config_string = host_config_string,
		.config_integer = host_config_integer,
		.config_boolean = host_config_boolean,
		.config_list_length = host_config_list_length,
		.config_list_string = host_config_list_string,
		.config_group = host_config_group,
		.config_list_group = host_config_list_group,
		.config_location = host_config_location,
		.path = host_path,
		.spawn = nbx_host_spawn,
		.child_signal = nbx_host_child_signal,
		.watch_fd = host_watch_fd,
		.add_timeout = host_add_timeout,
		.remove_source = host_remove_source,
		.monotonic_us = host_monotonic_us,
		.machine_state_changed = host_machine_state_changed,
		.machine_declare = host_machine_declare,
		.check_report = host_check_report,
		.report_set_string = host_report_set_string,
		.report_set_integer = host_report_set_integer,
		.report_add_file = host_report_add_file,
		.run = nbx_host_run,
		.invoke_main = host_invoke_main,
		.report_set_boolean = host_report_set_boolean,
		.report_set_json = host_report_set_json,
	};
}
