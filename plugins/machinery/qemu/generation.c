/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "generation.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "durable_file.h"
#include "fingerprint.h"

MachineInfo *
generation_load(const struct nbx_host *host, const char *dir, struct nbx_error *err)
{
	g_autofree char *path = g_build_filename(dir, GENERATION_DESCRIPTION, NULL);
	g_autoptr(GError) error = NULL;
	MachineInfo *info;

	if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
		host->error_set(host, err, NBX_ERROR_NOT_FOUND,
				"snapshot generation %s has no %s; it was not written by the qemu "
				"machinery",
				dir, GENERATION_DESCRIPTION);
		return NULL;
	}
	info = machine_info_load(path, &error);
	if (info == NULL)
		host->error_set(host, err, NBX_ERROR_INVALID, "%s", error->message);
	return info;
}

/* What changes between a description and the one derived from it. */
typedef struct {
	const char *disk;
	/* NULL: the new one has no memory state. */
	const char *memory;
	/* The new value of each of info->files, in order. */
	char **files;
	/* NULL: unchanged. */
	const char *mac;
	const char *qemu_version;
	/* The host side's MAC the guest knows (host_side.h); NULL: unchanged. */
	const char *host_mac;
} Edit;

/* "virtio-net-pci,netdev=net0,mac=OLD" with mac=@mac. */
static char *
with_mac(const char *arg, const char *mac)
{
	g_auto(GStrv) fields = g_strsplit(arg, ",", -1);

	for (size_t i = 0; fields[i] != NULL; i++) {
		if (g_str_has_prefix(fields[i], "mac=")) {
			g_free(fields[i]);
			fields[i] = g_strconcat("mac=", mac, NULL);
		}
	}
	return g_strjoinv(",", fields);
}

static JsonArray *
edited_args(const MachineInfo *info, const Edit *edit)
{
	JsonArray *args = json_array_new();

	for (guint i = 0; info->start_args[i] != NULL; i++) {
		g_autofree char *arg = g_strdup(info->start_args[i]);

		for (guint f = 0; f < info->files->len; f++) {
			if (g_array_index(info->files, MachineInfoFile, f).index == i) {
				g_free(arg);
				arg = g_strdup(edit->files[f]);
			}
		}
		if (edit->mac != NULL && strstr(arg, "mac=") != NULL) {
			char *changed = with_mac(arg, edit->mac);

			g_free(arg);
			arg = changed;
		}
		json_array_add_string_element(args, arg);
	}
	return args;
}

/*
 * VMCloak-style descriptions repeat the kernel and initrd as members; they
 * follow the start argument naming the same file.
 */
static void
edit_file_members(JsonObject *object, const MachineInfo *info, const Edit *edit)
{
	static const char *const members[] = { "kernel", "initrd", "bios", "dtb" };

	for (size_t m = 0; m < G_N_ELEMENTS(members); m++) {
		const char *value =
			json_object_get_string_member_with_default(object, members[m], NULL);
		g_autofree char *resolved = NULL;

		if (value == NULL)
			continue;
		resolved = g_canonicalize_filename(value, info->dir);
		for (guint f = 0; f < info->files->len; f++) {
			guint index = g_array_index(info->files, MachineInfoFile, f).index;

			if (strcmp(info->start_args[index], resolved) == 0) {
				json_object_set_string_member(object, members[m], edit->files[f]);
				break;
			}
		}
	}
}

static JsonObject *
edited(const MachineInfo *info, const Edit *edit)
{
	JsonObject *object = json_object_new();
	JsonObjectIter iter;
	const char *name;
	JsonNode *node;

	/* Always the flat shape: VMCloak's members come out of its "machine". */
	json_object_iter_init(&iter, info->object);
	while (json_object_iter_next(&iter, &name, &node))
		json_object_set_member(object, name, json_node_copy(node));
	if (json_object_has_member(object, "mac")) {
		json_object_remove_member(object, "mac");
		if (info->mac_address != NULL)
			json_object_set_string_member(object, "mac_address", info->mac_address);
	}
	json_object_set_string_member(object, "disk", edit->disk);
	if (edit->memory != NULL) {
		json_object_set_string_member(object, "memory_snapshot", edit->memory);
	} else {
		json_object_remove_member(object, "memory_snapshot");
		json_object_remove_member(object, "memory_snapshot_format");
	}
	json_object_set_array_member(object, "start_args", edited_args(info, edit));
	edit_file_members(object, info, edit);
	if (edit->mac != NULL)
		json_object_set_string_member(object, "mac_address", edit->mac);
	if (edit->qemu_version != NULL)
		json_object_set_string_member(object, "qemu_version", edit->qemu_version);
	if (edit->host_mac != NULL)
		json_object_set_string_member(object, "host_mac", edit->host_mac);
	return object;
}

static char *
to_text(JsonObject *object)
{
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);

	json_node_set_object(root, object);
	return json_to_string(root, TRUE);
}

/* The generation's own names, which no other file of it may take. */
static bool
reserved_name(const char *base)
{
	return strcmp(base, GENERATION_DESCRIPTION) == 0 || strcmp(base, GENERATION_DISK) == 0 ||
	       strcmp(base, GENERATION_MEMORY) == 0 || strcmp(base, FINGERPRINT_FILE) == 0;
}

/* Brings the files @from names relatively into @dir, and says what to call each there. */
static bool
carry_files(const struct nbx_host *host, const MachineInfo *from, const char *dir, char **names,
	    struct nbx_error *err)
{
	for (guint f = 0; f < from->files->len; f++) {
		const MachineInfoFile *file = &g_array_index(from->files, MachineInfoFile, f);
		const char *source = from->start_args[file->index];
		g_autofree char *base = g_path_get_basename(source);
		g_autofree char *dest = g_build_filename(dir, base, NULL);
		g_autoptr(GError) error = NULL;

		if (!file->relative) {
			names[f] = g_strdup(source);
			continue;
		}
		names[f] = g_strdup(base);
		if (reserved_name(base)) {
			host->error_set(host, err, NBX_ERROR_INVALID,
					"%s: the %s file %s has a name a generation uses for its own "
					"files; rename it",
					from->path, file->option, source);
			return false;
		}
		/* The same file named twice (-kernel and -initrd of one image) is there already. */
		if (g_file_test(dest, G_FILE_TEST_EXISTS))
			continue;
		if (!durable_file_link_or_copy(source, dest, &error)) {
			host->error_set(host, err, NBX_ERROR_IO, "carrying %s %s into %s: %s",
					file->option, source, dir, error->message);
			return false;
		}
	}
	return true;
}

bool
generation_write(const struct nbx_host *host, const MachineInfo *from, const char *dir,
		 const char *qemu_version, const char *host_mac, struct nbx_error *err)
{
	g_autofree char *path = g_build_filename(dir, GENERATION_DESCRIPTION, NULL);
	g_auto(GStrv) names = g_new0(char *, from->files->len + 1);
	g_autofree char *version_line =
		qemu_version != NULL ? g_strconcat("QEMU emulator version ", qemu_version, NULL)
				     : NULL;
	Edit edit = {
		.disk = GENERATION_DISK,
		.memory = GENERATION_MEMORY,
		.files = names,
		.qemu_version = version_line,
		.host_mac = host_mac,
	};
	g_autoptr(JsonObject) object = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (!carry_files(host, from, dir, names, err))
		return false;
	object = edited(from, &edit);
	/* The stream is zstd whatever the source was. */
	json_object_set_string_member(object, "memory_snapshot_format", "zstd");
	text = to_text(object);
	if (!durable_file_write(path, text, strlen(text), &error)) {
		host->error_set(host, err, NBX_ERROR_IO, "%s", error->message);
		return false;
	}
	return true;
}

/* The base name of @path, which must be a regular file in @dir. */
static char *
unpacked(const struct nbx_host *host, const char *dir, const char *what, const char *path,
	 struct nbx_error *err)
{
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *there = g_build_filename(dir, base, NULL);

	if (!g_file_test(there, G_FILE_TEST_IS_REGULAR)) {
		host->error_set(host, err, NBX_ERROR_NOT_FOUND,
				"%s has no %s, which its %s names as the %s; the archive is "
				"incomplete",
				dir, base, GENERATION_DESCRIPTION, what);
		return NULL;
	}
	return g_steal_pointer(&base);
}

/* A full snapshot cannot take another MAC: the guest's memory holds the one it booted with. */
static bool
check_mac(const struct nbx_host *host, const char *machine, const MachineInfo *info,
	  const char *mac, struct nbx_error *err)
{
	if (mac == NULL || info->mac_address == NULL ||
	    g_ascii_strcasecmp(mac, info->mac_address) == 0)
		return true;
	host->error_set(host, err, NBX_ERROR_INVALID,
			"machine %s has mac_address %s, but the snapshot's guest has %s in its "
			"memory state; set mac_address to %s (or remove it), or import the snapshot "
			"minimal (a cold boot takes any MAC)",
			machine, mac, info->mac_address, info->mac_address);
	return false;
}

bool
generation_import(const struct nbx_host *host, const char *machine, const char *dir,
		  bool minimal, const char *mac, struct nbx_error *err)
{
	g_autoptr(MachineInfo) info = generation_load(host, dir, err);
	g_autofree char *path = g_build_filename(dir, GENERATION_DESCRIPTION, NULL);
	g_autofree char *disk = NULL;
	g_autofree char *memory = NULL;
	g_auto(GStrv) names = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(MachineInfo) check = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	Edit edit = { 0 };

	if (info == NULL || (!minimal && !check_mac(host, machine, info, mac, err)))
		return false;
	if ((disk = unpacked(host, dir, "disk", info->disk, err)) == NULL)
		return false;
	if (!minimal && info->memory_snapshot == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"%s names no memory_snapshot: import it minimal", path);
		return false;
	}
	if (!minimal && (memory = unpacked(host, dir, "memory_snapshot", info->memory_snapshot,
					   err)) == NULL)
		return false;
	names = g_new0(char *, info->files->len + 1);
	for (guint f = 0; f < info->files->len; f++) {
		const MachineInfoFile *file = &g_array_index(info->files, MachineInfoFile, f);

		names[f] = unpacked(host, dir, file->option, info->start_args[file->index], err);
		if (names[f] == NULL)
			return false;
	}
	edit = (Edit){ .disk = disk, .memory = memory, .files = names,
		       .mac = minimal && mac != NULL ? mac : NULL };
	object = edited(info, &edit);
	text = to_text(object);
	if (!durable_file_replace(path, text, strlen(text), &error)) {
		host->error_set(host, err, NBX_ERROR_IO, "%s", error->message);
		return false;
	}
	/* What restore_start will read must load. */
	check = machine_info_load(path, &error);
	if (check == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID, "%s", error->message);
		return false;
	}
	return true;
}
