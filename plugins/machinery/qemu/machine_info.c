/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machine_info.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define DISK_PLACEHOLDER "%DISPOSABLE_DISK_PATH%"
#define TAP_PLACEHOLDER "%TAP_INTERFACE%"

static void
machine_info_clear(MachineInfo *info)
{
	g_free(info->path);
	g_free(info->dir);
	g_free(info->disk);
	g_free(info->memory_snapshot);
	g_free(info->memory_snapshot_format);
	g_free(info->mac_address);
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

static char *
required_string(JsonObject *root, const char *path, const char *member, GError **error)
{
	JsonNode *node = json_object_get_member(root, member);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING || *json_node_get_string(node) == '\0') {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s: \"%s\" must be a non-empty string", path, member);
		return NULL;
	}
	return g_strdup(json_node_get_string(node));
}

static char **
string_array(JsonObject *root, const char *path, const char *member, GError **error)
{
	JsonNode *node = json_object_get_member(root, member);
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	JsonArray *array;

	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s: \"%s\" must be a list of strings", path, member);
		return NULL;
	}
	array = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);

		if (!JSON_NODE_HOLDS_VALUE(element) ||
		    json_node_get_value_type(element) != G_TYPE_STRING) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "%s: \"%s\"[%u] must be a string", path, member, i);
			return NULL;
		}
		g_ptr_array_add(args, g_strdup(json_node_get_string(element)));
	}
	g_ptr_array_add(args, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&args), FALSE);
}

/* "--kernel" is "-kernel" to QEMU; "-M" is "-machine". */
static const char *
option_name(const char *arg)
{
	const char *name = g_str_has_prefix(arg, "--") ? arg + 1 : arg;

	return strcmp(name, "-M") == 0 ? "-machine" : name;
}

const char *
machine_info_file_option(const char *arg)
{
	static const char *const file_options[] = { "-kernel", "-initrd", "-bios", "-dtb", NULL };
	const char *name = option_name(arg);

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
		if (strcmp(option_name(info->start_args[i]), option) == 0)
			value = info->start_args[++i];
	return value;
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

MachineInfo *
machine_info_load(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(MachineInfo) info = g_atomic_rc_box_new0(MachineInfo);
	g_autoptr(GError) parse_error = NULL;
	g_autofree char *absolute = NULL;
	g_autofree char *disk = NULL;
	JsonNode *root;
	JsonObject *object;

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
	object = json_node_get_object(root);
	info->object = json_object_ref(object);
	info->path = g_strdup(path);
	absolute = g_canonicalize_filename(path, NULL);
	info->dir = g_path_get_dirname(absolute);
	if ((disk = required_string(object, path, "disk", error)) == NULL ||
	    (info->start_args = string_array(object, path, "start_args", error)) == NULL)
		return NULL;
	info->disk = resolve(info, disk);
	/* Absent in a generation imported without its memory: such a one only cold-boots. */
	if (json_object_has_member(object, "memory_snapshot")) {
		g_autofree char *memory = required_string(object, path, "memory_snapshot", error);

		if (memory == NULL)
			return NULL;
		info->memory_snapshot = resolve(info, memory);
	}
	resolve_file_args(info);
	info->memory_snapshot_format =
		g_strdup(json_object_get_string_member_with_default(object, "memory_snapshot_format",
								    "raw"));
	info->memory_mb = json_object_get_int_member_with_default(object, "memory_mb", 0);
	if (json_object_has_member(object, "mac_address"))
		info->mac_address = g_ascii_strdown(
			json_object_get_string_member_with_default(object, "mac_address", ""), -1);
	return g_steal_pointer(&info);
}

const char *
machine_info_forbidden_arg(const char *arg)
{
	static const char *const forbidden[] = { "-incoming", "-monitor", "-qmp", "-loadvm",
						 "-no-shutdown", "-qmp-pretty", "-snapshot",
						 "-daemonize", NULL };
	const char *name = option_name(arg);

	for (size_t i = 0; forbidden[i] != NULL; i++)
		if (strcmp(name, forbidden[i]) == 0)
			return forbidden[i];
	return NULL;
}

static char *
escape_commas(const char *value)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", -1);

	return g_strjoinv(",,", parts);
}

static char *
replace_all(const char *text, const char *placeholder, const char *value)
{
	g_auto(GStrv) parts = g_strsplit(text, placeholder, -1);

	return g_strjoinv(value, parts);
}

/* "pc,accel=tcg,usb=off" -> the same with accel=@accelerator; NULL when it names none. */
static char *
with_accelerator(const char *machine, const char *accelerator)
{
	g_auto(GStrv) options = g_strsplit(machine, ",", -1);
	bool found = false;

	for (size_t i = 0; options[i] != NULL; i++) {
		if (g_str_has_prefix(options[i], "accel=")) {
			g_free(options[i]);
			options[i] = g_strconcat("accel=", accelerator, NULL);
			found = true;
		}
	}
	return found ? g_strjoinv(",", options) : NULL;
}

GPtrArray *
machine_info_start_args(const MachineInfo *info, const char *overlay, const char *tap,
			const char *accelerator, GError **error)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *disk = escape_commas(overlay);
	g_autofree char *tap_escaped = tap != NULL ? escape_commas(tap) : NULL;
	bool accel_set = false;

	for (size_t i = 0; info->start_args[i] != NULL; i++) {
		const char *arg = info->start_args[i];
		const char *previous = i > 0 ? info->start_args[i - 1] : "";
		g_autofree char *with_disk = replace_all(arg, DISK_PLACEHOLDER, disk);
		char *final;

		if (strstr(with_disk, TAP_PLACEHOLDER) != NULL && tap_escaped == NULL) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "%s: start_args use %%TAP_INTERFACE%%"
				    " but the machine has no `interface` (the tap device to use)",
				    info->path);
			return NULL;
		}
		final = tap_escaped != NULL ? replace_all(with_disk, TAP_PLACEHOLDER, tap_escaped)
					    : g_strdup(with_disk);
		if (*previous != '\0' && strcmp(option_name(previous), "-machine") == 0) {
			char *rewritten = with_accelerator(final, accelerator);

			if (rewritten != NULL) {
				g_free(final);
				final = rewritten;
				accel_set = true;
			}
		}
		g_ptr_array_add(args, final);
	}
	if (!accel_set) {
		g_ptr_array_add(args, g_strdup("-accel"));
		g_ptr_array_add(args, g_strdup(accelerator));
	}
	return g_steal_pointer(&args);
}
