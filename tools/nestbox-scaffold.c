/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox-scaffold - write the folder of a new machinery, auxiliary or guest
 * plugin that builds out of tree against the installed SDK and loads as it is.
 *
 * One source of truth: the example schema tables below are both printed as C
 * into NAME.c and handed, in memory, to nbx_config_template_for_plugin() for
 * NAME.conf. The printer walks every member of struct nbx_config_field, so the
 * template written here is exactly what `nestboxd --config-template NAME`
 * prints once the plugin is built, whatever the tables are changed to.
 *
 * The rest of the text (NAME.c around the tables, meson.build, README.md) is
 * in the templates of tools/scaffold-templates/, compiled in as a GResource
 * and filled in by scaffold_template.c; the descriptor the templates write
 * takes its name, version, description and order from the same values as
 * the in-memory one below.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nestbox/plugin.h>

#include "config_template.h"
#include "plugin_loader.h"
#include "scaffold_template.h"

#define SCAFFOLD_PROGRAM "nestbox-scaffold"
#define SCAFFOLD_PLUGIN_VERSION "0.1.0"

enum scaffold_exit {
	SCAFFOLD_EXIT_OK = 0,
	SCAFFOLD_EXIT_FAILED = 1,
	SCAFFOLD_EXIT_USAGE = 2,
};

/* ------------------------------------------------------------------------ */
/* The example schemas: the one description both outputs are made from.    */

static const struct nbx_config_field machinery_config_fields[] = {
	{ .name = "connect_timeout",
	  .type = NBX_FIELD_INTEGER,
	  .doc = "Seconds to wait for the hypervisor to answer a request",
	  .default_value = "30",
	  .min = 1,
	  .max = 3600 },
	{ 0 },
};

static const struct nbx_config_field machinery_machine_fields[] = {
	{ .name = "cpu_count",
	  .type = NBX_FIELD_INTEGER,
	  .doc = "Virtual CPUs of this machine; when absent, as many as in its snapshot",
	  .min = 1,
	  .max = 512 },
	{ 0 },
};

static const struct nbx_config_field guest_config_fields[] = {
	{ .name = "port",
	  .type = NBX_FIELD_INTEGER,
	  .doc = "TCP port of the agent in the guest when the machine's agent_port is 0",
	  .default_value = "8000",
	  .min = 1,
	  .max = 65535 },
	{ 0 },
};

static const struct nbx_config_field auxiliary_config_fields[] = {
	{ .name = "output_file",
	  .type = NBX_FIELD_STRING,
	  .flags = NBX_FIELD_NON_EMPTY,
	  .doc = "File this auxiliary writes in each analysis directory, relative to it",
	  .default_value = "output.log" },
	{ 0 },
};

/* ------------------------------------------------------------------------ */

/*
 * A kind of plugin: what the command line calls it, the descriptor's kind
 * and its example schemas. Its text is in tools/scaffold-templates/: WORD.c.in
 * for NAME.c and WORD-enable.md.in for the README's steps.
 */
struct scaffold_kind {
	/* The kind's word on the command line, and its member of the descriptor's ops. */
	const char *word;
	enum nbx_plugin_kind kind;
	/* Every kind has settings: each WORD.c.in declares @ID@_config_schema. */
	const struct nbx_config_field *config_fields;
	/* NULL for an auxiliary or a guest plugin, which declare no machines. */
	const struct nbx_config_field *machine_fields;
	/* The descriptor's start order (@ORDER@); only an auxiliary has one. */
	int32_t order;
	const char *what_it_lacks;
};

static const struct scaffold_kind scaffold_kinds[] = {
	{
		.word = "machinery",
		.kind = NBX_PLUGIN_MACHINERY,
		.config_fields = machinery_config_fields,
		.machine_fields = machinery_machine_fields,
		.what_it_lacks = "drives no hypervisor yet",
	},
	{
		.word = "auxiliary",
		.kind = NBX_PLUGIN_AUXILIARY,
		.config_fields = auxiliary_config_fields,
		.order = 1,
		.what_it_lacks = "records nothing yet",
	},
	{
		.word = "guest",
		.kind = NBX_PLUGIN_GUEST,
		.config_fields = guest_config_fields,
		.what_it_lacks = "speaks no protocol yet",
	},
};

/*
 * Everything the outputs are made from. The descriptor is the in-memory twin
 * of the one NAME.c defines; its ops tables are empty because only the
 * template is made from it, never a call.
 */
struct scaffold_plugin {
	const struct scaffold_kind *kind;
	char *name;
	char *identifier;
	char *upper_identifier;
	char *description;
	struct nbx_config_schema config_schema;
	struct nbx_config_schema machine_schema;
	struct nbx_machinery_ops machinery_ops;
	struct nbx_auxiliary_ops auxiliary_ops;
	struct nbx_guest_ops guest_ops;
	struct nbx_plugin_descriptor descriptor;
};

static void
scaffold_plugin_free(struct scaffold_plugin *plugin)
{
	g_free(plugin->name);
	g_free(plugin->identifier);
	g_free(plugin->upper_identifier);
	g_free(plugin->description);
	g_free(plugin);
}
/* g_autoptr() wants a one-word type name. */
typedef struct scaffold_plugin scaffold_plugin;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(scaffold_plugin, scaffold_plugin_free)

static const struct scaffold_kind *
scaffold_kind_find(const char *word)
{
	for (gsize i = 0; i < G_N_ELEMENTS(scaffold_kinds); i++) {
		if (g_str_equal(scaffold_kinds[i].word, word))
			return &scaffold_kinds[i];
	}
	return NULL;
}

static struct scaffold_plugin *
scaffold_plugin_new(const struct scaffold_kind *kind, const char *name)
{
	struct scaffold_plugin *plugin = g_new0(struct scaffold_plugin, 1);

	plugin->kind = kind;
	plugin->name = g_strdup(name);
	/* A valid name is a valid C identifier once '-' is gone. */
	plugin->identifier = g_strdelimit(g_strdup(name), "-", '_');
	plugin->upper_identifier = g_ascii_strup(plugin->identifier, -1);
	plugin->description = g_strdup_printf("Skeleton %s generated by nestbox-scaffold (%s)",
					      kind->word, kind->what_it_lacks);

	plugin->config_schema.struct_size = sizeof(struct nbx_config_schema);
	plugin->config_schema.field_size = sizeof(struct nbx_config_field);
	plugin->config_schema.fields = kind->config_fields;
	plugin->machine_schema = plugin->config_schema;
	plugin->machine_schema.fields = kind->machine_fields;
	plugin->machinery_ops.struct_size = sizeof(struct nbx_machinery_ops);
	plugin->auxiliary_ops.struct_size = sizeof(struct nbx_auxiliary_ops);
	plugin->guest_ops.struct_size = sizeof(struct nbx_guest_ops);

	plugin->descriptor = (struct nbx_plugin_descriptor){
		.abi_major = NBX_ABI_MAJOR,
		.abi_minor = NBX_ABI_MINOR,
		.struct_size = sizeof(struct nbx_plugin_descriptor),
		.kind = kind->kind,
		.name = plugin->name,
		.version = SCAFFOLD_PLUGIN_VERSION,
		.description = plugin->description,
		.config_schema = kind->config_fields != NULL ? &plugin->config_schema : NULL,
		.machine_schema = kind->machine_fields != NULL ? &plugin->machine_schema : NULL,
		.order = kind->order,
	};
	if (kind->kind == NBX_PLUGIN_MACHINERY)
		plugin->descriptor.ops.machinery = &plugin->machinery_ops;
	else if (kind->kind == NBX_PLUGIN_AUXILIARY)
		plugin->descriptor.ops.auxiliary = &plugin->auxiliary_ops;
	else
		plugin->descriptor.ops.guest = &plugin->guest_ops;
	return plugin;
}

/* ------------------------------------------------------------------------ */
/* Printing a schema table as C.                                            */

static const char *const field_type_names[] = {
	[NBX_FIELD_END] = "NBX_FIELD_END",
	[NBX_FIELD_STRING] = "NBX_FIELD_STRING",
	[NBX_FIELD_INTEGER] = "NBX_FIELD_INTEGER",
	[NBX_FIELD_BOOLEAN] = "NBX_FIELD_BOOLEAN",
	[NBX_FIELD_FILE] = "NBX_FIELD_FILE",
	[NBX_FIELD_DIRECTORY] = "NBX_FIELD_DIRECTORY",
	[NBX_FIELD_UNIX_SOCKET] = "NBX_FIELD_UNIX_SOCKET",
	[NBX_FIELD_INTERFACE] = "NBX_FIELD_INTERFACE",
	[NBX_FIELD_MAC_ADDRESS] = "NBX_FIELD_MAC_ADDRESS",
	[NBX_FIELD_IP_ADDRESS] = "NBX_FIELD_IP_ADDRESS",
	[NBX_FIELD_LIST] = "NBX_FIELD_LIST",
	[NBX_FIELD_ENUM] = "NBX_FIELD_ENUM",
	[NBX_FIELD_GROUP] = "NBX_FIELD_GROUP",
	[NBX_FIELD_GROUP_LIST] = "NBX_FIELD_GROUP_LIST",
};

static const struct {
	uint32_t bit;
	const char *name;
} field_flag_names[] = {
	{ NBX_FIELD_REQUIRED, "NBX_FIELD_REQUIRED" },
	{ NBX_FIELD_LOWERCASE, "NBX_FIELD_LOWERCASE" },
	{ NBX_FIELD_MUST_EXIST, "NBX_FIELD_MUST_EXIST" },
	{ NBX_FIELD_READABLE, "NBX_FIELD_READABLE" },
	{ NBX_FIELD_WRITABLE, "NBX_FIELD_WRITABLE" },
	{ NBX_FIELD_EXECUTABLE, "NBX_FIELD_EXECUTABLE" },
	{ NBX_FIELD_MUST_BE_UP, "NBX_FIELD_MUST_BE_UP" },
	{ NBX_FIELD_NON_EMPTY, "NBX_FIELD_NON_EMPTY" },
};

static const char *
field_type_name(uint32_t type)
{
	/* The tables are this file's own: an unknown type is a bug here. */
	g_assert(type < G_N_ELEMENTS(field_type_names) && field_type_names[type] != NULL);
	return field_type_names[type];
}

static void
print_c_string(GString *out, const char *value)
{
	g_autofree char *escaped = g_strescape(value, NULL);

	g_string_append_printf(out, "\"%s\"", escaped);
}

static void
print_flags(GString *out, uint32_t flags)
{
	uint32_t printed = 0;

	for (gsize i = 0; i < G_N_ELEMENTS(field_flag_names); i++) {
		if ((flags & field_flag_names[i].bit) == 0)
			continue;
		if (printed != 0)
			g_string_append(out, " | ");
		g_string_append(out, field_flag_names[i].name);
		printed |= field_flag_names[i].bit;
	}
	g_assert(printed == flags);
}

static void
print_int64(GString *out, int64_t value)
{
	if (value == INT64_MIN)
		g_string_append(out, "INT64_MIN");
	else if (value >= INT32_MIN && value <= INT32_MAX)
		g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)value);
	else
		g_string_append_printf(out, "INT64_C(%" G_GINT64_FORMAT ")", (gint64)value);
}

static void print_field_table(GString *out, const char *table_name,
			      const struct nbx_config_field *fields);

/* What a row refers to (choices, children) must be defined before the row. */
static void
print_field_dependencies(GString *out, const char *table_name, const struct nbx_config_field *field)
{
	if (field->choices != NULL) {
		g_string_append_printf(out, "static const char *const %s_%s_choices[] = {\n",
				       table_name, field->name);
		for (const char *const *choice = field->choices; *choice != NULL; choice++) {
			g_string_append(out, "\t");
			print_c_string(out, *choice);
			g_string_append(out, ",\n");
		}
		g_string_append(out, "\tNULL,\n};\n\n");
	}
	if (field->children != NULL) {
		g_autofree char *children_name = g_strdup_printf("%s_%s", table_name, field->name);

		print_field_table(out, children_name, field->children);
	}
}

static void
print_field(GString *out, const char *table_name, const struct nbx_config_field *field)
{
	g_string_append(out, "\t{\n\t\t.name = ");
	print_c_string(out, field->name);
	g_string_append_printf(out, ",\n\t\t.type = %s,\n", field_type_name(field->type));
	if (field->flags != 0) {
		g_string_append(out, "\t\t.flags = ");
		print_flags(out, field->flags);
		g_string_append(out, ",\n");
	}
	if (field->doc != NULL) {
		g_string_append(out, "\t\t.doc = ");
		print_c_string(out, field->doc);
		g_string_append(out, ",\n");
	}
	if (field->default_value != NULL) {
		g_string_append(out, "\t\t.default_value = ");
		print_c_string(out, field->default_value);
		g_string_append(out, ",\n");
	}
	if (field->min != 0) {
		g_string_append(out, "\t\t.min = ");
		print_int64(out, field->min);
		g_string_append(out, ",\n");
	}
	if (field->max != 0) {
		g_string_append(out, "\t\t.max = ");
		print_int64(out, field->max);
		g_string_append(out, ",\n");
	}
	if (field->choices != NULL)
		g_string_append_printf(out, "\t\t.choices = %s_%s_choices,\n", table_name, field->name);
	if (field->children != NULL)
		g_string_append_printf(out, "\t\t.children = %s_%s,\n", table_name, field->name);
	if (field->element_type != 0)
		g_string_append_printf(out, "\t\t.element_type = %s,\n",
				       field_type_name(field->element_type));
	g_string_append(out, "\t},\n");
}

static void
print_field_table(GString *out, const char *table_name, const struct nbx_config_field *fields)
{
	for (const struct nbx_config_field *field = fields; field->type != NBX_FIELD_END; field++)
		print_field_dependencies(out, table_name, field);

	g_string_append_printf(out, "static const struct nbx_config_field %s[] = {\n", table_name);
	for (const struct nbx_config_field *field = fields; field->type != NBX_FIELD_END; field++)
		print_field(out, table_name, field);
	g_string_append(out, "\t{ 0 },\n};\n\n");
}

/* @CONFIG_SCHEMA@ or @MACHINE_SCHEMA@: the table and the schema that points to it. */
static char *
print_schema(const struct scaffold_plugin *plugin, const char *which,
	     const struct nbx_config_field *fields)
{
	g_autofree char *table_name = g_strdup_printf("%s_%s_fields", plugin->identifier, which);
	g_autoptr(GString) out = g_string_new(NULL);

	print_field_table(out, table_name, fields);
	g_string_append_printf(out,
			       "static const struct nbx_config_schema %s_%s_schema = {\n"
			       "\t.struct_size = sizeof(struct nbx_config_schema),\n"
			       "\t.field_size = sizeof(struct nbx_config_field),\n"
			       "\t.fields = %s,\n"
			       "};\n",
			       plugin->identifier, which, table_name);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ------------------------------------------------------------------------ */
/* The instance members and init's reads, made from the top-level settings. */

enum value_class {
	VALUE_NONE,
	VALUE_INTEGER,
	VALUE_BOOLEAN,
	VALUE_STRING,
};

static enum value_class
field_value_class(const struct nbx_config_field *field)
{
	switch (field->type) {
	case NBX_FIELD_INTEGER:
		return VALUE_INTEGER;
	case NBX_FIELD_BOOLEAN:
		return VALUE_BOOLEAN;
	case NBX_FIELD_STRING:
	case NBX_FIELD_FILE:
	case NBX_FIELD_DIRECTORY:
	case NBX_FIELD_UNIX_SOCKET:
	case NBX_FIELD_INTERFACE:
	case NBX_FIELD_MAC_ADDRESS:
	case NBX_FIELD_IP_ADDRESS:
	case NBX_FIELD_ENUM:
		return VALUE_STRING;
	default:
		/* Lists and groups are read where they are used, element by element. */
		return VALUE_NONE;
	}
}

static gboolean
field_always_set(const struct nbx_config_field *field)
{
	return field->default_value != NULL || (field->flags & NBX_FIELD_REQUIRED) != 0;
}

static void
print_members(GString *out, const struct nbx_config_field *fields)
{
	for (const struct nbx_config_field *field = fields; field->type != NBX_FIELD_END; field++) {
		switch (field_value_class(field)) {
		case VALUE_INTEGER:
			g_string_append_printf(out, "\tint64_t %s;\n", field->name);
			break;
		case VALUE_BOOLEAN:
			g_string_append_printf(out, "\tbool %s;\n", field->name);
			break;
		case VALUE_STRING:
			g_string_append_printf(out, "\t/* Owned by the core, valid until shutdown%s. */\n"
						    "\tconst char *%s;\n",
					       field_always_set(field) ? "" : "; NULL when not set",
					       field->name);
			continue;
		case VALUE_NONE:
			continue;
		}
		if (!field_always_set(field))
			g_string_append_printf(out, "\tbool has_%s;\n", field->name);
	}
}

static void
print_read_failure(GString *out, const char *key)
{
	g_string_append_printf(out,
			       "\t\thost->error_set(host, err, NBX_ERROR_FAILED,\n"
			       "\t\t\t\t\"%s: missing although it has a default\");\n"
			       "\t\tfree(self);\n"
			       "\t\treturn false;\n"
			       "\t}\n",
			       key);
}

static void
print_config_reads(GString *out, const struct nbx_config_field *fields)
{
	for (const struct nbx_config_field *field = fields; field->type != NBX_FIELD_END; field++) {
		const char *key = field->name;
		const char *getter = field_value_class(field) == VALUE_INTEGER ? "config_integer"
									       : "config_boolean";

		switch (field_value_class(field)) {
		case VALUE_INTEGER:
		case VALUE_BOOLEAN:
			if (field_always_set(field)) {
				g_string_append_printf(out,
						       "\tif (!host->%s(host, NULL, \"%s\", &self->%s)) {\n",
						       getter, key, key);
				print_read_failure(out, key);
			} else {
				g_string_append_printf(
					out, "\tself->has_%s = host->%s(host, NULL, \"%s\", &self->%s);\n",
					key, getter, key, key);
			}
			break;
		case VALUE_STRING:
			g_string_append_printf(out, "\tself->%s = host->config_string(host, NULL, \"%s\");\n",
					       key, key);
			if (field_always_set(field)) {
				g_string_append_printf(out, "\tif (self->%s == NULL) {\n", key);
				print_read_failure(out, key);
			}
			break;
		case VALUE_NONE:
			g_string_append_printf(out,
					       "\t/* %s: read with host->config_list_*() or config_group()"
					       " where it is used. */\n",
					       key);
			break;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* The files.                                                               */

/*
 * The values of every placeholder (tools/scaffold-templates/README.md lists
 * them). What the tables print is a value, never searched for placeholders:
 * a doc string reaches NAME.c as it reaches NAME.conf.
 */
static struct scaffold_values *
plugin_values_new(const struct scaffold_plugin *plugin)
{
	const struct scaffold_kind *kind = plugin->kind;
	struct scaffold_values *values = scaffold_values_new();
	g_autofree char *description = g_strescape(plugin->description, NULL);
	g_autofree char *config_schema = print_schema(plugin, "config", kind->config_fields);
	g_autoptr(GString) members = g_string_new(NULL);
	g_autoptr(GString) reads = g_string_new(NULL);

	scaffold_values_set(values, "NAME", plugin->name);
	scaffold_values_set(values, "ID", plugin->identifier);
	scaffold_values_set(values, "ID_UPPER", plugin->upper_identifier);
	scaffold_values_set(values, "KIND", kind->word);
	scaffold_values_set(values, "WHAT_IT_LACKS", kind->what_it_lacks);
	scaffold_values_set(values, "VERSION", SCAFFOLD_PLUGIN_VERSION);
	scaffold_values_set(values, "DESCRIPTION", description);
	if (kind->order != 0) {
		g_autofree char *order = g_strdup_printf("%" G_GINT32_FORMAT, (gint32)kind->order);

		scaffold_values_set(values, "ORDER", order);
	}
	scaffold_values_set_block(values, "CONFIG_SCHEMA", config_schema);
	if (kind->machine_fields != NULL) {
		g_autofree char *machine_schema =
			print_schema(plugin, "machine", kind->machine_fields);

		scaffold_values_set_block(values, "MACHINE_SCHEMA", machine_schema);
	}
	print_members(members, kind->config_fields);
	print_config_reads(reads, kind->config_fields);
	scaffold_values_set_block(values, "INSTANCE_MEMBERS", members->str);
	scaffold_values_set_block(values, "READ_CONFIG", reads->str);
	return values;
}

/*
 * @PLUGIN_HEAD@, @PLUGIN_INSTANCE@ and @ENABLE_STEPS@: parts of the files,
 * filled in before any of them is placed, so a part cannot place another.
 */
static gboolean
add_parts(struct scaffold_values *values, const char *word, GError **error)
{
	g_autofree char *steps_template = g_strconcat(word, "-enable.md.in", NULL);
	g_autofree char *head = NULL;
	g_autofree char *instance = NULL;
	g_autofree char *steps = NULL;

	head = scaffold_template_render("plugin-head.c.in", values, error);
	if (head != NULL)
		instance = scaffold_template_render("plugin-instance.c.in", values, error);
	if (instance != NULL)
		steps = scaffold_template_render(steps_template, values, error);
	if (steps == NULL)
		return FALSE;
	scaffold_values_set_block(values, "PLUGIN_HEAD", head);
	scaffold_values_set_block(values, "PLUGIN_INSTANCE", instance);
	scaffold_values_set_block(values, "ENABLE_STEPS", steps);
	return TRUE;
}

static gboolean
write_file(const char *dir, const char *basename, const char *contents, GError **error)
{
	g_autofree char *path = g_build_filename(dir, basename, NULL);

	return g_file_set_contents_full(path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0666,
					error);
}

static gboolean
write_rendered(const char *dir, const char *basename, const char *template_name,
	       const struct scaffold_values *values, GError **error)
{
	g_autofree char *text = scaffold_template_render(template_name, values, error);

	return text != NULL && write_file(dir, basename, text, error);
}

/* Into the staging directory, which is removed when this fails. */
static gboolean
write_plugin_files(const struct scaffold_plugin *plugin, const char *dir, GError **error)
{
	const char *word = plugin->kind->word;
	g_autofree char *c_name = g_strconcat(plugin->name, ".c", NULL);
	g_autofree char *c_template = g_strconcat(word, ".c.in", NULL);
	g_autofree char *conf_name = g_strconcat(plugin->name, ".conf", NULL);
	g_autofree char *conf_text = nbx_config_template_for_plugin(&plugin->descriptor);
	g_autoptr(scaffold_values) values = plugin_values_new(plugin);

	if (conf_text == NULL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "the core made no configuration template for %s", plugin->name);
		return FALSE;
	}
	return add_parts(values, word, error) &&
	       write_rendered(dir, c_name, c_template, values, error) &&
	       write_rendered(dir, "meson.build", "meson.build.in", values, error) &&
	       write_file(dir, conf_name, conf_text, error) &&
	       write_rendered(dir, "README.md", "README.md.in", values, error);
}

/* ------------------------------------------------------------------------ */
/* The output directory: all of it or nothing.                              */

static void
remove_staging_dir(const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
	const char *entry;

	while (handle != NULL && (entry = g_dir_read_name(handle)) != NULL) {
		g_autofree char *path = g_build_filename(dir, entry, NULL);

		g_unlink(path);
	}
	g_rmdir(dir);
}

/* Refuses what would mix the scaffold with someone's files. */
static gboolean
check_output_dir(const char *dir, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GDir) handle = NULL;

	if (!g_file_test(dir, G_FILE_TEST_EXISTS))
		return TRUE;
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "%s: exists and is not a directory; choose another --output", dir);
		return FALSE;
	}
	handle = g_dir_open(dir, 0, &local_error);
	if (handle == NULL) {
		g_propagate_error(error, g_steal_pointer(&local_error));
		return FALSE;
	}
	if (g_dir_read_name(handle) != NULL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "%s: exists and is not empty; remove it or choose another --output", dir);
		return FALSE;
	}
	return TRUE;
}

/*
 * The files are written into a hidden sibling and renamed into place, so an
 * interrupted run leaves no half plugin, and rename(2), which replaces only
 * an empty directory, closes the race with anyone filling @dir meanwhile.
 */
static gboolean
write_plugin_dir(const struct scaffold_plugin *plugin, const char *dir, GError **error)
{
	g_autofree char *parent = g_path_get_dirname(dir);
	g_autofree char *base = g_path_get_basename(dir);
	g_autofree char *staging = NULL;
	int saved_errno;

	if (!check_output_dir(dir, error))
		return FALSE;
	if (g_mkdir_with_parents(parent, 0777) != 0) {
		saved_errno = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved_errno),
			    "%s: cannot create: %s", parent, g_strerror(saved_errno));
		return FALSE;
	}
	staging = g_strdup_printf("%s/.%s.scaffold-XXXXXX", parent, base);
	if (g_mkdtemp_full(staging, 0777) == NULL) {
		saved_errno = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved_errno),
			    "%s: cannot create a directory there: %s", parent,
			    g_strerror(saved_errno));
		return FALSE;
	}
	if (!write_plugin_files(plugin, staging, error)) {
		remove_staging_dir(staging);
		return FALSE;
	}
	if (g_rename(staging, dir) != 0) {
		saved_errno = errno;
		remove_staging_dir(staging);
		if (saved_errno == ENOTEMPTY || saved_errno == EEXIST)
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
				    "%s: exists and is not empty; remove it or choose another --output",
				    dir);
		else
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved_errno),
				    "%s: cannot create: %s", dir, g_strerror(saved_errno));
		return FALSE;
	}
	return TRUE;
}

/* ------------------------------------------------------------------------ */

static int
usage_error(const char *format, ...) G_GNUC_PRINTF(1, 2);

static int
usage_error(const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_printerr("%s: %s (see --help)\n", SCAFFOLD_PROGRAM, message);
	return SCAFFOLD_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	g_autofree char *output = NULL;
	const GOptionEntry entries[] = {
		{ "output", 'o', G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &output,
		  "Directory to create (default: ./NAME); must not exist or be empty", "DIR" },
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = g_option_context_new("machinery|auxiliary|guest NAME");
	g_autoptr(GError) error = NULL;
	g_autoptr(scaffold_plugin) plugin = NULL;
	const struct scaffold_kind *kind;
	const char *name;

	g_set_prgname(SCAFFOLD_PROGRAM);
	g_option_context_set_summary(
		context,
		"Writes the folder of a new nestbox plugin: NAME.c, meson.build, NAME.conf\n"
		"(its configuration template) and README.md. It builds out of tree against\n"
		"the installed SDK (pkg-config nestbox-plugin) and loads as it is.\n"
		"\n"
		"NAME must match [a-z][a-z0-9_-]*, be at most 63 bytes, and be neither\n"
		"\"nestbox\" nor \"auxiliary\" (the names of the core's own files).");
	g_option_context_set_description(context,
					 "Exit status: 0 done, 1 failed, 2 usage error.\n");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error))
		return usage_error("%s", error->message);
	if (argc != 3)
		return usage_error("expected 2 arguments, machinery|auxiliary|guest and NAME; got %d",
				   argc - 1);

	kind = scaffold_kind_find(argv[1]);
	if (kind == NULL)
		return usage_error("unknown plugin kind '%s': expected machinery, auxiliary or guest",
				   argv[1]);
	name = argv[2];
	/* The loader's own rule, so what is scaffolded can load. */
	if (strlen(name) > NBX_PLUGIN_NAME_MAX)
		return usage_error("plugin name '%s' is %zu bytes long, at most %d are allowed", name,
				   strlen(name), NBX_PLUGIN_NAME_MAX);
	if (!nbx_plugin_name_is_well_formed(name))
		return usage_error("invalid plugin name '%s': it must match [a-z][a-z0-9_-]*", name);
	if (nbx_plugin_name_is_reserved(name))
		return usage_error("plugin name '%s' is reserved for the core's own configuration",
				   name);
	if (output == NULL)
		output = g_strdup(name);
	/* "dir/" names dir, whose parent is where the staging sibling goes. */
	while (strlen(output) > 1 && g_str_has_suffix(output, G_DIR_SEPARATOR_S))
		output[strlen(output) - 1] = '\0';
	if (*output == '\0')
		return usage_error("--output: empty directory name");

	plugin = scaffold_plugin_new(kind, name);
	if (!write_plugin_dir(plugin, output, &error)) {
		g_printerr("%s: %s\n", SCAFFOLD_PROGRAM, error->message);
		return SCAFFOLD_EXIT_FAILED;
	}
	g_print("%s: wrote %s plugin %s in %s\n", SCAFFOLD_PROGRAM, kind->word, name, output);
	return SCAFFOLD_EXIT_OK;
}
