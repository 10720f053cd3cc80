/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plugin_loader.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_schema.h"
#include "plugin_ops.h"

/* The smallest struct a plugin built for ABI 1.0 can carry. */
#define END_OF(type, member) (offsetof(type, member) + sizeof(((type *)NULL)->member))
#define DESCRIPTOR_SIZE_1_0 END_OF(struct nbx_plugin_descriptor, order)
#define MACHINERY_OPS_SIZE_1_0 END_OF(struct nbx_machinery_ops, handle_paused)
#define AUXILIARY_OPS_SIZE_1_0 END_OF(struct nbx_auxiliary_ops, stop)
/* Guest plugins came with ABI 1.2: their smallest table is 1.2's. */
#define GUEST_OPS_SIZE_1_2 END_OF(struct nbx_guest_ops, check_task)
#define KNOWN_MACHINERY_CAPABILITIES NBX_MACHINERY_CAP_STATE_EVENTS

/* Names that `--config-template` uses for the core's own files. */
static const char *const reserved_plugin_names[] = { "nestbox", "auxiliary", NULL };

const char *
nbx_plugin_kind_name(guint32 kind)
{
	switch (kind) {
	case NBX_PLUGIN_MACHINERY:
		return "machinery";
	case NBX_PLUGIN_AUXILIARY:
		return "auxiliary";
	case NBX_PLUGIN_GUEST:
		return "guest";
	default:
		return "unknown";
	}
}

static void
plugin_free(NbxPlugin *plugin)
{
	g_free(plugin->path);
	nbx_schema_free(plugin->config_schema);
	nbx_schema_free(plugin->machine_schema);
	nbx_schema_free(plugin->task_schema);
	g_free(plugin->ops);
	g_free(plugin);
}

NbxPluginRegistry *
nbx_plugin_registry_new(void)
{
	NbxPluginRegistry *registry = g_new0(NbxPluginRegistry, 1);

	registry->plugins = g_ptr_array_new_with_free_func((GDestroyNotify)plugin_free);
	registry->refusals = g_ptr_array_new_with_free_func(g_free);
	return registry;
}

void
nbx_plugin_registry_free(NbxPluginRegistry *registry)
{
	if (registry == NULL)
		return;
	/* The modules stay resident: unloading is not safe in a threaded daemon. */
	g_ptr_array_unref(registry->plugins);
	g_ptr_array_unref(registry->refusals);
	g_free(registry);
}

NbxPlugin *
nbx_plugin_registry_lookup(const NbxPluginRegistry *registry, const char *name)
{
	for (guint i = 0; i < registry->plugins->len; i++) {
		NbxPlugin *plugin = g_ptr_array_index(registry->plugins, i);

		if (g_strcmp0(plugin->descriptor.name, name) == 0)
			return plugin;
	}
	return NULL;
}

static void G_GNUC_PRINTF(3, 4)
refuse(NbxPluginRegistry *registry, const char *path, const char *format, ...)
{
	g_autofree char *reason = NULL;
	va_list args;

	va_start(args, format);
	reason = g_strdup_vprintf(format, args);
	va_end(args);
	g_ptr_array_add(registry->refusals, g_strdup_printf("%s: refused: %s", path, reason));
}

/*
 * Code that anyone but root or the daemon's user can change would run with
 * the daemon's rights: refuse it, as sshd refuses a loose authorized_keys.
 * @name is how the message names @path ("file /x/a.so", "directory /x,
 * above /x/plugins"). A sticky directory (/tmp) lets nobody rename or
 * remove another's entries: as an ancestor it may be writable by all.
 */
static gboolean
owner_and_mode_are_safe(const char *path, const struct stat *st, const char *name,
			gboolean ancestor, GString *why)
{
	gboolean sticky = ancestor && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);

	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		g_string_append_printf(why, "%s is owned by uid %u, not by root or the daemon's "
				       "user (uid %u)",
				       name, (unsigned)st->st_uid, (unsigned)geteuid());
		return FALSE;
	}
	if ((st->st_mode & S_IWOTH) && !sticky) {
		g_string_append_printf(why, "%s is writable by any user (mode %04o); "
				       "run: chmod o-w %s",
				       name, (unsigned)(st->st_mode & 07777), path);
		return FALSE;
	}
	if ((st->st_mode & S_IWGRP) && st->st_gid != 0 && !sticky) {
		g_string_append_printf(why, "%s is writable by group %u (mode %04o); "
				       "run: chmod g-w %s",
				       name, (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777),
				       path);
		return FALSE;
	}
	return TRUE;
}

/*
 * Whoever can replace a directory above a plugin can replace the plugin:
 * every ancestor of @path's real location, up to /, is checked too, as
 * sshd's StrictModes does, and the one at fault is named.
 */
static gboolean
ancestors_are_trusted(const char *path, GString *why)
{
	g_autofree char *real = realpath(path, NULL);
	g_autofree char *dir = NULL;

	if (real == NULL) {
		g_string_append_printf(why, "cannot resolve %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	dir = g_path_get_dirname(real);
	for (;;) {
		g_autofree char *name = g_strdup_printf("directory %s, above %s,", dir, path);
		g_autofree char *parent = NULL;
		struct stat st;

		if (stat(dir, &st) != 0) {
			g_string_append_printf(why, "cannot stat %s: %s", name, g_strerror(errno));
			return FALSE;
		}
		if (!owner_and_mode_are_safe(dir, &st, name, TRUE, why))
			return FALSE;
		parent = g_path_get_dirname(dir);
		if (strcmp(parent, dir) == 0)
			return TRUE;
		g_free(dir);
		dir = g_steal_pointer(&parent);
	}
}

static gboolean
is_trusted(const char *path, const char *what, GString *why)
{
	g_autofree char *name = g_strdup_printf("%s %s", what, path);
	struct stat st;

	if (stat(path, &st) != 0) {
		g_string_append_printf(why, "cannot stat %s: %s", name, g_strerror(errno));
		return FALSE;
	}
	return owner_and_mode_are_safe(path, &st, name, FALSE, why) &&
	       ancestors_are_trusted(path, why);
}

gboolean
nbx_plugin_name_is_well_formed(const char *name)
{
	if (name == NULL || !g_ascii_islower(name[0]) || strlen(name) > NBX_PLUGIN_NAME_MAX)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_' && *p != '-')
			return FALSE;
	}
	return TRUE;
}

gboolean
nbx_plugin_name_is_reserved(const char *name)
{
	return g_strv_contains(reserved_plugin_names, name);
}

/* Copies a size-tagged struct into zeroed storage of the core's size. */
static gboolean
copy_sized(void *to, size_t to_size, const void *from, uint32_t from_size, size_t min_size,
	   const char *what, GString *why)
{
	if (from_size < min_size) {
		g_string_append_printf(why, "%s struct_size %u is smaller than %zu, the size in "
				       "ABI %d.0 (corrupt or hand-made descriptor)",
				       what, from_size, min_size, NBX_ABI_MAJOR);
		return FALSE;
	}
	if (from_size > to_size) {
		g_string_append_printf(why, "%s struct_size %u is larger than %zu, the size in "
				       "this nestbox's ABI %d.%d",
				       what, from_size, to_size, NBX_ABI_MAJOR, NBX_ABI_MINOR);
		return FALSE;
	}
	memset(to, 0, to_size);
	memcpy(to, from, from_size);
	return TRUE;
}

static gboolean
check_version(const struct nbx_plugin_descriptor *raw, GString *why)
{
	if (raw->abi_major != NBX_ABI_MAJOR) {
		g_string_append_printf(why, "built for plugin ABI %u.%u, this nestbox has ABI %d.%d; "
				       "rebuild the plugin against this nestbox",
				       raw->abi_major, raw->abi_minor, NBX_ABI_MAJOR, NBX_ABI_MINOR);
		return FALSE;
	}
	if (raw->abi_minor > NBX_ABI_MINOR) {
		g_string_append_printf(why, "built for plugin ABI %u.%u, newer than this nestbox's "
				       "%d.%d; upgrade nestbox or rebuild the plugin",
				       raw->abi_major, raw->abi_minor, NBX_ABI_MAJOR, NBX_ABI_MINOR);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_identity(const struct nbx_plugin_descriptor *d, GString *why)
{
	if (d->kind != NBX_PLUGIN_MACHINERY && d->kind != NBX_PLUGIN_AUXILIARY &&
	    d->kind != NBX_PLUGIN_GUEST) {
		g_string_append_printf(why,
				       "unknown plugin kind %u (%d = machinery, %d = auxiliary, "
				       "%d = guest)",
				       d->kind, NBX_PLUGIN_MACHINERY, NBX_PLUGIN_AUXILIARY,
				       NBX_PLUGIN_GUEST);
		return FALSE;
	}
	if (d->kind == NBX_PLUGIN_GUEST && d->abi_minor < 2) {
		g_string_append_printf(why, "a guest plugin needs plugin ABI 1.2 or newer, it was "
				       "built for %u.%u",
				       d->abi_major, d->abi_minor);
		return FALSE;
	}
	if (!nbx_plugin_name_is_well_formed(d->name) || nbx_plugin_name_is_reserved(d->name)) {
		g_string_append_printf(why, "plugin name \"%s\" is not valid: it must match "
				       "[a-z][a-z0-9_-]*, at most 63 bytes, and not be "
				       "\"nestbox\" or \"auxiliary\"",
				       d->name != NULL ? d->name : "(null)");
		return FALSE;
	}
	if (d->version == NULL || d->version[0] == '\0') {
		g_string_append(why, "descriptor has no version");
		return FALSE;
	}
	if (d->description == NULL || d->description[0] == '\0') {
		g_string_append(why, "descriptor has no description");
		return FALSE;
	}
	if (d->order < 0) {
		g_string_append_printf(why, "order %d is negative", d->order);
		return FALSE;
	}
	return TRUE;
}

/* Names every missing required op, so one rebuild fixes them all. */
static gboolean
check_required_ops(const char *kind, const char *const *names, const void *const *slots,
		   guint n, GString *why)
{
	g_autoptr(GPtrArray) missing = g_ptr_array_new();

	for (guint i = 0; i < n; i++) {
		if (slots[i] == NULL)
			g_ptr_array_add(missing, (gpointer)names[i]);
	}
	if (missing->len == 0)
		return TRUE;
	g_ptr_array_add(missing, NULL);
	g_autofree char *list = g_strjoinv(", ", (char **)missing->pdata);
	g_string_append_printf(why, "%s without required op%s: %s", kind,
			       missing->len > 2 ? "s" : "", list);
	return FALSE;
}

static gboolean
check_machinery_ops(NbxPlugin *plugin, const struct nbx_machinery_ops *raw, GString *why)
{
	static const char *const names[] = { "restore_start", "stop", "state" };

	if (!copy_sized(&plugin->ops->machinery, sizeof plugin->ops->machinery, raw,
			raw->struct_size, MACHINERY_OPS_SIZE_1_0, "machinery ops", why))
		return FALSE;
	if (plugin->ops->machinery.capabilities & ~KNOWN_MACHINERY_CAPABILITIES) {
		g_string_append_printf(why, "unknown machinery capability bits 0x%x",
				       plugin->ops->machinery.capabilities &
					       ~KNOWN_MACHINERY_CAPABILITIES);
		return FALSE;
	}
	const void *const slots[] = { (const void *)plugin->ops->machinery.restore_start,
				      (const void *)plugin->ops->machinery.stop,
				      (const void *)plugin->ops->machinery.state };
	return check_required_ops("machinery", names, slots, G_N_ELEMENTS(names), why);
}

static gboolean
check_auxiliary_ops(NbxPlugin *plugin, const struct nbx_auxiliary_ops *raw, GString *why)
{
	static const char *const names[] = { "start", "stop" };

	if (!copy_sized(&plugin->ops->auxiliary, sizeof plugin->ops->auxiliary, raw,
			raw->struct_size, AUXILIARY_OPS_SIZE_1_0, "auxiliary ops", why))
		return FALSE;
	if (plugin->ops->auxiliary.capabilities != 0) {
		g_string_append_printf(why, "unknown auxiliary capability bits 0x%x",
				       plugin->ops->auxiliary.capabilities);
		return FALSE;
	}
	const void *const slots[] = { (const void *)plugin->ops->auxiliary.start,
				      (const void *)plugin->ops->auxiliary.stop };
	return check_required_ops("auxiliary", names, slots, G_N_ELEMENTS(names), why);
}

static gboolean
check_guest_ops(NbxPlugin *plugin, const struct nbx_guest_ops *raw, GString *why)
{
	static const char *const names[] = { "connect", "disconnect", "upload", "execute" };

	if (!copy_sized(&plugin->ops->guest, sizeof plugin->ops->guest, raw,
			raw->struct_size, GUEST_OPS_SIZE_1_2, "guest ops", why))
		return FALSE;
	if (plugin->ops->guest.capabilities != 0) {
		g_string_append_printf(why, "unknown guest capability bits 0x%x",
				       plugin->ops->guest.capabilities);
		return FALSE;
	}
	const void *const slots[] = { (const void *)plugin->ops->guest.connect,
				      (const void *)plugin->ops->guest.disconnect,
				      (const void *)plugin->ops->guest.upload,
				      (const void *)plugin->ops->guest.execute };
	return check_required_ops("guest", names, slots, G_N_ELEMENTS(names), why);
}

static gboolean
check_ops(NbxPlugin *plugin, const struct nbx_plugin_descriptor *d, GString *why)
{
	if (d->ops.machinery == NULL) {
		g_string_append(why, "descriptor has no ops table");
		return FALSE;
	}
	switch (d->kind) {
	case NBX_PLUGIN_MACHINERY:
		return check_machinery_ops(plugin, d->ops.machinery, why);
	case NBX_PLUGIN_AUXILIARY:
		return check_auxiliary_ops(plugin, d->ops.auxiliary, why);
	default:
		return check_guest_ops(plugin, d->ops.guest, why);
	}
}

static NbxSchema *
import_schema(const struct nbx_config_schema *schema, const char *const *reserved,
	      const char *what, GString *why)
{
	g_autoptr(GError) error = NULL;
	NbxSchema *imported;

	if (schema == NULL)
		return nbx_schema_new_empty();
	imported = nbx_schema_import(schema, reserved, &error);
	if (imported == NULL)
		g_string_append_printf(why, "%s: %s", what, error->message);
	return imported;
}

/*
 * A task's options come from a client over the network: nothing in them may
 * name a host path that must exist, and they are flat (no groups).
 */
static gboolean
task_field_is_allowed(const struct nbx_config_field *field, GString *why)
{
	guint32 type = field->type == NBX_FIELD_LIST ? nbx_field_element_type(field) : field->type;

	switch (type) {
	case NBX_FIELD_GROUP:
	case NBX_FIELD_GROUP_LIST:
	case NBX_FIELD_FILE:
	case NBX_FIELD_DIRECTORY:
	case NBX_FIELD_UNIX_SOCKET:
	case NBX_FIELD_INTERFACE:
		g_string_append_printf(why, "task_schema: %s: a %s cannot be a per-task option",
				       field->name, nbx_field_type_name(type));
		return FALSE;
	default:
		return TRUE;
	}
}

static NbxSchema *
import_task_schema(const struct nbx_config_schema *schema, GString *why)
{
	NbxSchema *imported = import_schema(schema, NULL, "task_schema", why);

	if (imported == NULL)
		return NULL;
	for (const struct nbx_config_field *f = nbx_schema_fields(imported);
	     f->type != NBX_FIELD_END; f++) {
		if (!task_field_is_allowed(f, why)) {
			nbx_schema_free(imported);
			return NULL;
		}
	}
	return imported;
}

static gboolean
check_schemas(NbxPlugin *plugin, const struct nbx_plugin_descriptor *d, GString *why)
{
	if (d->kind != NBX_PLUGIN_MACHINERY && d->machine_schema != NULL) {
		g_string_append(why, "machine_schema is only for machineries");
		return FALSE;
	}
	if (d->kind == NBX_PLUGIN_MACHINERY && d->task_schema != NULL) {
		g_string_append(why, "task_schema is only for auxiliaries and guest plugins");
		return FALSE;
	}
	plugin->config_schema =
		import_schema(d->config_schema, nbx_reserved_plugin_keys, "config_schema", why);
	if (plugin->config_schema == NULL)
		return FALSE;
	plugin->machine_schema = import_schema(d->machine_schema, nbx_reserved_machine_keys,
					       "machine_schema", why);
	if (plugin->machine_schema == NULL)
		return FALSE;
	plugin->task_schema = import_task_schema(d->task_schema, why);
	return plugin->task_schema != NULL;
}

/* Every check of the descriptor, in the order the ABI needs them done. */
static gboolean
check_descriptor(NbxPlugin *plugin, const struct nbx_plugin_descriptor *raw, GString *why)
{
	if (!check_version(raw, why))
		return FALSE;
	if (!copy_sized(&plugin->descriptor, sizeof plugin->descriptor, raw, raw->struct_size,
			DESCRIPTOR_SIZE_1_0, "descriptor", why))
		return FALSE;
	return check_identity(&plugin->descriptor, why) &&
	       check_ops(plugin, &plugin->descriptor, why) &&
	       check_schemas(plugin, &plugin->descriptor, why);
}

gboolean
nbx_plugin_registry_load_file(NbxPluginRegistry *registry, const char *path)
{
	g_autoptr(GString) why = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	const struct nbx_plugin_descriptor *raw = NULL;
	NbxPlugin *plugin, *existing;
	GModule *module;

	if (!is_trusted(dir, "directory", why) || !is_trusted(path, "file", why)) {
		refuse(registry, path, "%s", why->str);
		return FALSE;
	}
	module = g_module_open_full(path, G_MODULE_BIND_LOCAL, &error);
	if (module == NULL) {
		refuse(registry, path, "cannot load: %s", error->message);
		return FALSE;
	}
	/* Never unloaded: code of it may have run (constructors) and be referenced. */
	g_module_make_resident(module);
	if (!g_module_symbol(module, NBX_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *)&raw) ||
	    raw == NULL) {
		refuse(registry, path,
		       "no symbol %s: not a nestbox plugin, or built without NBX_PLUGIN_DEFINE",
		       NBX_PLUGIN_DESCRIPTOR_SYMBOL);
		return FALSE;
	}

	plugin = g_new0(NbxPlugin, 1);
	plugin->ops = g_new0(struct _NbxPluginOps, 1);
	plugin->path = g_strdup(path);
	if (!check_descriptor(plugin, raw, why)) {
		refuse(registry, path, "%s", why->str);
		plugin_free(plugin);
		return FALSE;
	}
	existing = nbx_plugin_registry_lookup(registry, plugin->descriptor.name);
	if (existing != NULL) {
		refuse(registry, path, "plugin name \"%s\" is already taken by %s",
		       plugin->descriptor.name, existing->path);
		plugin_free(plugin);
		return FALSE;
	}
	g_ptr_array_add(registry->plugins, plugin);
	return TRUE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
nbx_plugin_registry_scan_dir(NbxPluginRegistry *registry, const char *dir)
{
	g_autoptr(GString) why = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) handle = g_dir_open(dir, 0, &error);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	if (handle == NULL) {
		refuse(registry, dir, "cannot read plugin directory: %s", error->message);
		return;
	}
	while ((name = g_dir_read_name(handle)) != NULL) {
		if (g_str_has_suffix(name, ".so"))
			g_ptr_array_add(names, g_strdup(name));
	}
	if (names->len == 0)
		return;
	if (!is_trusted(dir, "directory", why)) {
		refuse(registry, dir, "%s; none of its %u plugins is loaded", why->str, names->len);
		return;
	}
	g_ptr_array_sort(names, compare_names);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);

		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		nbx_plugin_registry_load_file(registry, path);
	}
}

const struct nbx_machinery_ops *
nbx_plugin_machinery_ops(const NbxPlugin *plugin)
{
	return &plugin->ops->machinery;
}

const struct nbx_auxiliary_ops *
nbx_plugin_auxiliary_ops(const NbxPlugin *plugin)
{
	return &plugin->ops->auxiliary;
}

const struct nbx_guest_ops *
nbx_plugin_guest_ops(const NbxPlugin *plugin)
{
	return &plugin->ops->guest;
}
