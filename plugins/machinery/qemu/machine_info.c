/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machine_info.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void
machine_info_clear(MachineInfo *info)
{
	g_free(info->path);
	g_free(info->dir);
	g_free(info->disk);
	g_free(info->memory_snapshot);
	g_free(info->memory_snapshot_format);
	g_free(info->mac_address);
	g_free(info->host_mac);
	g_strfreev(info->start_args);
	if (info->files != NULL)
		g_array_unref(info->files);
	if (info->object != NULL)
		json_object_unref(info->object);
}

MachineInfo *
machine_info_ref(MachineInfo *info)
{
	return g_atomic_rc_box_acquire(info);
}

void
machine_info_free(MachineInfo *info)
{
	if (info != NULL)
		g_atomic_rc_box_release_full(info, (GDestroyNotify)machine_info_clear);
}

static void
invalid(GError **error, const MachineInfo *info, const char *member, const char *what)
{
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: \"%s%s\" %s", info->path,
		    info->prefix, member, what);
}

static char *
required_string(const MachineInfo *info, const char *member, GError **error)
{
	JsonNode *node = json_object_get_member(info->object, member);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING || *json_node_get_string(node) == '\0') {
		invalid(error, info, member, "must be a non-empty string");
		return NULL;
	}
	return g_strdup(json_node_get_string(node));
}

/* An optional string member: TRUE with *@out NULL when absent. */
static gboolean
optional_string(const MachineInfo *info, const char *member, char **out, GError **error)
{
	JsonNode *node = json_object_get_member(info->object, member);

	*out = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		invalid(error, info, member, "must be a string");
		return FALSE;
	}
	*out = g_ascii_strdown(json_node_get_string(node), -1);
	return TRUE;
}

static char **
string_array(const MachineInfo *info, const char *member, GError **error)
{
	JsonNode *node = json_object_get_member(info->object, member);
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	JsonArray *array;

	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
		invalid(error, info, member, "must be a list of strings");
		return NULL;
	}
	array = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);

		if (!JSON_NODE_HOLDS_VALUE(element) ||
		    json_node_get_value_type(element) != G_TYPE_STRING) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "%s: \"%s%s\"[%u] must be a string", info->path, info->prefix,
				    member, i);
			return NULL;
		}
		g_ptr_array_add(args, g_strdup(json_node_get_string(element)));
	}
	g_ptr_array_add(args, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&args), FALSE);
}

/* "--kernel" is "-kernel" to QEMU; "-M" is "-machine". */
const char *
machine_info_option_name(const char *arg)
{
	const char *name = g_str_has_prefix(arg, "--") ? arg + 1 : arg;

	return strcmp(name, "-M") == 0 ? "-machine" : name;
}

const char *
machine_info_file_option(const char *arg)
{
	static const char *const file_options[] = { "-kernel", "-initrd", "-bios", "-dtb", NULL };
	const char *name = machine_info_option_name(arg);

	for (size_t i = 0; file_options[i] != NULL; i++)
		if (strcmp(name, file_options[i]) == 0)
			return file_options[i];
	return NULL;
}

const char *
machine_info_option(const MachineInfo *info, const char *option)
{
	const char *value = NULL;

	for (size_t i = 0; info->start_args[i] != NULL && info->start_args[i + 1] != NULL; i++)
		if (strcmp(machine_info_option_name(info->start_args[i]), option) == 0)
			value = info->start_args[++i];
	return value;
}

int64_t
machine_info_memory_mb(const MachineInfo *info)
{
	const char *m = machine_info_option(info, "-m");
	g_autofree char *size = NULL;
	char *end = NULL;
	guint64 value;

	if (info->memory_mb > 0)
		return info->memory_mb;
	if (m == NULL)
		return 0;
	size = g_strdup(g_str_has_prefix(m, "size=") ? m + strlen("size=") : m);
	size[strcspn(size, ",")] = '\0';
	value = g_ascii_strtoull(size, &end, 10);
	if (end == size || value > G_MAXINT32)
		return 0;
	if (*end == 'G' || *end == 'g')
		return (int64_t)value * 1024;
	return *end == '\0' || *end == 'M' || *end == 'm' ? (int64_t)value : 0;
}

/* @value made absolute against the description's directory. */
static char *
resolve(const MachineInfo *info, const char *value)
{
	return g_canonicalize_filename(value, info->dir);
}

/* Makes the values of file options absolute, and remembers which ones were relative. */
static void
resolve_file_args(MachineInfo *info)
{
	info->files = g_array_new(FALSE, FALSE, sizeof(MachineInfoFile));
	for (guint i = 0; info->start_args[i] != NULL && info->start_args[i + 1] != NULL; i++) {
		MachineInfoFile file = { .index = i + 1 };
		char *value = info->start_args[i + 1];

		file.option = machine_info_file_option(info->start_args[i]);
		if (file.option == NULL)
			continue;
		file.relative = !g_path_is_absolute(value);
		info->start_args[i + 1] = resolve(info, value);
		g_free(value);
		g_array_append_val(info->files, file);
		i++;
	}
}

/*
 * The object the machine's members are in: VMCloak's "machine" (its
 * machinery must be qemu), or @root itself in the flat shape.
 */
static gboolean
find_members(MachineInfo *info, JsonObject *root, GError **error)
{
	JsonNode *machine = json_object_get_member(root, "machine");
	JsonNode *machinery = json_object_get_member(root, "machinery");

	info->prefix = "";
	if (machine == NULL) {
		info->object = json_object_ref(root);
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(machine)) {
		invalid(error, info, "machine", "must be an object (VMCloak's machine description)");
		return FALSE;
	}
	if (machinery != NULL &&
	    (!JSON_NODE_HOLDS_VALUE(machinery) ||
	     json_node_get_value_type(machinery) != G_TYPE_STRING ||
	     strcmp(json_node_get_string(machinery), "qemu") != 0)) {
		invalid(error, info, "machinery",
			"must be \"qemu\": this machine was made by VMCloak for another "
			"hypervisor, which the qemu machinery cannot restore");
		return FALSE;
	}
	info->object = json_object_ref(json_node_get_object(machine));
	info->prefix = "machine.";
	return TRUE;
}

/* memory_mb, mac_address (VMCloak: mac) and host_mac, all optional. */
static gboolean
read_optional(MachineInfo *info, GError **error)
{
	JsonNode *memory = json_object_get_member(info->object, "memory_mb");

	if (memory != NULL && (!JSON_NODE_HOLDS_VALUE(memory) ||
			       json_node_get_value_type(memory) != G_TYPE_INT64 ||
			       json_node_get_int(memory) < 0)) {
		invalid(error, info, "memory_mb", "must be a whole number of MiB");
		return FALSE;
	}
	info->memory_mb = memory != NULL ? json_node_get_int(memory) : 0;
	if (!optional_string(info, "mac_address", &info->mac_address, error) ||
	    !optional_string(info, "host_mac", &info->host_mac, error))
		return FALSE;
	if (info->mac_address == NULL && !optional_string(info, "mac", &info->mac_address, error))
		return FALSE;
	info->memory_snapshot_format = g_strdup(json_object_get_string_member_with_default(
		info->object, "memory_snapshot_format", "raw"));
	return TRUE;
}

MachineInfo *
machine_info_load(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(MachineInfo) info = g_atomic_rc_box_new0(MachineInfo);
	g_autoptr(GError) parse_error = NULL;
	g_autofree char *absolute = NULL;
	g_autofree char *disk = NULL;
	JsonNode *root;

	info->path = g_strdup(path);
	info->prefix = "";
	if (!json_parser_load_from_mapped_file(parser, path, &parse_error)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", path,
			    parse_error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a JSON object", path);
		return NULL;
	}
	if (!find_members(info, json_node_get_object(root), error))
		return NULL;
	absolute = g_canonicalize_filename(path, NULL);
	info->dir = g_path_get_dirname(absolute);
	if ((disk = required_string(info, "disk", error)) == NULL ||
	    (info->start_args = string_array(info, "start_args", error)) == NULL)
		return NULL;
	info->disk = resolve(info, disk);
	/* Absent in a generation imported without its memory: such a one only cold-boots. */
	if (json_object_has_member(info->object, "memory_snapshot")) {
		g_autofree char *memory = required_string(info, "memory_snapshot", error);

		if (memory == NULL)
			return NULL;
		info->memory_snapshot = resolve(info, memory);
	}
	resolve_file_args(info);
	if (!read_optional(info, error))
		return NULL;
	return g_steal_pointer(&info);
}

const char *
machine_info_forbidden_arg(const char *arg)
{
	static const char *const forbidden[] = { "-incoming", "-monitor", "-qmp", "-loadvm",
						 "-no-shutdown", "-qmp-pretty", "-snapshot",
						 "-daemonize", NULL };
	const char *name = machine_info_option_name(arg);

	for (size_t i = 0; forbidden[i] != NULL; i++)
		if (strcmp(name, forbidden[i]) == 0)
			return forbidden[i];
	return NULL;
}
