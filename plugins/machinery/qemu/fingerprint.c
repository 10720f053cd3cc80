/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fingerprint.h"

#include <string.h>

#include "durable_file.h"

char *
fingerprint_machine_type(const MachineInfo *info)
{
	const char *machine = machine_info_option(info, "-machine");
	g_auto(GStrv) fields = NULL;

	if (machine == NULL)
		return NULL;
	fields = g_strsplit(machine, ",", -1);
	for (size_t i = 0; fields[i] != NULL; i++) {
		/* "type=q35" names it too; accel= and the other properties do not. */
		if (g_str_has_prefix(fields[i], "type="))
			return g_strdup(fields[i] + strlen("type="));
		if (i == 0 && *fields[i] != '\0' && strchr(fields[i], '=') == NULL)
			return g_strdup(fields[i]);
	}
	return NULL;
}

JsonObject *
fingerprint_compute(const MachineInfo *info, const char *version, const char *accelerator)
{
	JsonObject *fingerprint = json_object_new();
	g_autofree char *machine_type = fingerprint_machine_type(info);
	const char *cpu = machine_info_option(info, "-cpu");
	int64_t memory = machine_info_memory_mb(info);

	json_object_set_string_member(fingerprint, "hypervisor", "qemu");
	if (version != NULL)
		json_object_set_string_member(fingerprint, "hypervisor_version", version);
	if (machine_type != NULL)
		json_object_set_string_member(fingerprint, "machine_type", machine_type);
	if (cpu != NULL)
		json_object_set_string_member(fingerprint, "cpu_model", cpu);
	if (memory > 0)
		json_object_set_int_member(fingerprint, "memory_mb", memory);
	if (accelerator != NULL)
		json_object_set_string_member(fingerprint, "accelerator", accelerator);
	return fingerprint;
}

static JsonObject *
load(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;

	if (!json_parser_load_from_file(parser, path, error))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not a JSON object");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

JsonObject *
fingerprint_of(const struct nbx_host *host, const MachineInfo *info, QemuBinary *binary,
	       const char *accelerator, int64_t deadline_us, struct nbx_error *err)
{
	g_autofree char *path = g_build_filename(info->dir, FINGERPRINT_FILE, NULL);
	g_autofree char *version = NULL;
	const char *made_with = json_object_get_string_member_with_default(info->object,
									   "qemu_version", NULL);

	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_autoptr(GError) error = NULL;
		JsonObject *fingerprint = load(path, &error);

		if (fingerprint == NULL)
			host->error_set(host, err, NBX_ERROR_INVALID, "%s: %s", path,
					error->message);
		return fingerprint;
	}
	/* A description that says which QEMU made it knows better than today's binary. */
	version = qemu_version_number(made_with);
	if (version == NULL) {
		const char *current = qemu_binary_version(binary, deadline_us, err);

		if (current == NULL)
			return NULL;
		version = g_strdup(current);
	}
	/* Which accelerator made it is unknown: it is not in a description. */
	return fingerprint_compute(info, version, json_object_get_string_member_with_default(
							  info->object, "accel", accelerator));
}

/* @value, or "@value (not supported by this QEMU)" when @binary does not know its first field. */
static bool
check_name(const char *value, bool machine, QemuBinary *binary, int64_t deadline_us,
	   struct nbx_error *err, char **out)
{
	g_autofree char *name = g_strndup(value, strcspn(value, ","));
	bool known = false;

	if (!(machine ? qemu_binary_knows_machine : qemu_binary_knows_cpu)(binary, name, &known,
									    deadline_us, err))
		return false;
	*out = known ? g_strdup(value) : g_strdup_printf("%s (not supported by this QEMU)", value);
	return true;
}

JsonObject *
fingerprint_for_host(const struct nbx_host *host, const MachineInfo *info, QemuBinary *binary,
		     const char *accelerator, int64_t deadline_us, struct nbx_error *err)
{
	const char *version = qemu_binary_version(binary, deadline_us, err);
	g_autoptr(JsonObject) fingerprint = NULL;
	const char *keys[] = { "machine_type", "cpu_model" };

	if (version == NULL)
		return NULL;
	fingerprint = fingerprint_compute(info, version, accelerator);
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const char *value =
			json_object_get_string_member_with_default(fingerprint, keys[i], NULL);
		g_autofree char *checked = NULL;

		if (value == NULL)
			continue;
		if (!check_name(value, i == 0, binary, deadline_us, err, &checked))
			return NULL;
		json_object_set_string_member(fingerprint, keys[i], checked);
	}
	return g_steal_pointer(&fingerprint);
}

bool
fingerprint_write(JsonObject *fingerprint, const char *path, GError **error)
{
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;

	json_node_set_object(root, fingerprint);
	text = json_to_string(root, TRUE);
	return durable_file_write(path, text, strlen(text), error);
}

bool
fingerprint_emit(JsonObject *fingerprint, nbx_snapshot_fingerprint_fn emit, void *emit_data)
{
	JsonObjectIter iter;
	const char *key;
	JsonNode *node;

	json_object_iter_init(&iter, fingerprint);
	while (json_object_iter_next(&iter, &key, &node)) {
		g_autofree char *value = NULL;

		if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING)
			value = g_strdup(json_node_get_string(node));
		else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_INT64)
			value = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
		else
			value = json_to_string(node, FALSE);
		if (!emit(emit_data, key, value))
			return false;
	}
	return true;
}
