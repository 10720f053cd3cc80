/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

void
lv_generation_clear(LvGeneration *gen)
{
	g_clear_pointer(&gen->dsn, g_free);
	g_clear_pointer(&gen->domain, g_free);
	g_clear_pointer(&gen->snapshot, g_free);
	gen->memory = false;
}

static bool
invalid(GError **error, const char *path, const char *what)
{
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", path, what);
	return false;
}

static char *
string_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);
	const char *value;

	if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	value = json_node_get_string(node);
	return value != NULL && value[0] != '\0' ? g_strdup(value) : NULL;
}

bool
lv_generation_read(const char *dir, LvGeneration *gen, GError **error)
{
	g_autofree char *path = g_build_filename(dir, LV_GENERATION_FILE, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) parse_error = NULL;
	g_autofree char *text = NULL;
	JsonNode *memory;
	JsonObject *root;
	gsize length = 0;

	memset(gen, 0, sizeof *gen);
	/* Read first: a missing file keeps its own error code (G_FILE_ERROR_NOENT). */
	if (!g_file_get_contents(path, &text, &length, error))
		return false;
	if (!json_parser_load_from_data(parser, text, (gssize)length, &parse_error))
		return invalid(error, path, parse_error->message);
	if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return invalid(error, path, "not a JSON object");
	root = json_node_get_object(json_parser_get_root(parser));
	gen->dsn = string_member(root, "dsn");
	gen->domain = string_member(root, "domain");
	gen->snapshot = string_member(root, "snapshot");
	memory = json_object_get_member(root, "memory");
	if (gen->dsn == NULL || gen->domain == NULL || gen->snapshot == NULL) {
		const char *missing = gen->dsn == NULL ? "dsn" : gen->domain == NULL ? "domain" : "snapshot";
		g_autofree char *what = g_strdup_printf("\"%s\" is missing or not a non-empty string",
							missing);

		lv_generation_clear(gen);
		return invalid(error, path, what);
	}
	if (memory == NULL || json_node_get_value_type(memory) != G_TYPE_BOOLEAN) {
		lv_generation_clear(gen);
		return invalid(error, path, "\"memory\" is missing or not true/false");
	}
	gen->memory = json_node_get_boolean(memory);
	return true;
}

static bool
sync_fd_of(const char *path, int flags, GError **error)
{
	int fd = g_open(path, flags | O_CLOEXEC, 0);
	bool ok;

	if (fd < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
			    g_strerror(errno));
		return false;
	}
	ok = fsync(fd) == 0;
	if (!ok)
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "fsync of %s: %s",
			    path, g_strerror(errno));
	close(fd);
	return ok;
}

bool
lv_generation_write(const char *dir, const LvGeneration *gen, GError **error)
{
	g_autofree char *path = g_build_filename(dir, LV_GENERATION_FILE, NULL);
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "dsn");
	json_builder_add_string_value(builder, gen->dsn);
	json_builder_set_member_name(builder, "domain");
	json_builder_add_string_value(builder, gen->domain);
	json_builder_set_member_name(builder, "snapshot");
	json_builder_add_string_value(builder, gen->snapshot);
	json_builder_set_member_name(builder, "memory");
	json_builder_add_boolean_value(builder, gen->memory);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);

	/* g_file_set_contents_full syncs the file before the rename; the directory is ours to sync. */
	if (!g_file_set_contents_full(path, text, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				      0640, error))
		return false;
	return sync_fd_of(dir, O_RDONLY | O_DIRECTORY, error);
}

char *
lv_generation_snapshot_name(const char *machine)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *time = g_date_time_format(now, "%Y%m%dT%H%M%SZ");

	/* Readable in `virsh snapshot-list`; the random part keeps two in one second apart. */
	return g_strdup_printf("%s%s-%s-%08x", LV_GENERATION_PREFIX, machine, time,
			       g_random_int());
}
