/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "schema.h"

#include <stddef.h>
#include <string.h>

#include "field_check.h"

G_DEFINE_QUARK(nbx-schema-error-quark, nbx_schema_error)

/* A table nested deeper than this is taken for a cycle. */
#define MAX_DEPTH 8
/* A table longer than this is taken for a missing terminator. */
#define MAX_FIELDS 1024

/* The size of a v1.0 field: a plugin's stride may not be smaller. */
#define FIELD_SIZE_1_0 (offsetof(struct nbx_config_field, element_type) + sizeof(uint32_t))
#define SCHEMA_SIZE_1_0 (offsetof(struct nbx_config_schema, fields) + sizeof(void *))

struct _NbxSchema {
	struct nbx_config_field *fields;
	/* Everything this schema allocated: child tables, copied strings. */
	GPtrArray *owned;
	/* Schemas its fields point into, freed with it (nbx_schema_adopt). */
	GPtrArray *sources;
};

static NbxSchema *
schema_new(void)
{
	NbxSchema *schema = g_new0(NbxSchema, 1);

	schema->owned = g_ptr_array_new_with_free_func(g_free);
	return schema;
}

static gpointer
schema_own(NbxSchema *schema, gpointer allocation)
{
	g_ptr_array_add(schema->owned, allocation);
	return allocation;
}

void
nbx_schema_free(NbxSchema *schema)
{
	if (schema == NULL)
		return;
	g_ptr_array_unref(schema->owned);
	if (schema->sources != NULL)
		g_ptr_array_unref(schema->sources);
	g_free(schema);
}

void
nbx_schema_adopt(NbxSchema *schema, NbxSchema *source)
{
	if (source == NULL)
		return;
	if (schema->sources == NULL)
		schema->sources = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_schema_free);
	g_ptr_array_add(schema->sources, source);
}

const struct nbx_config_field *
nbx_schema_fields(const NbxSchema *schema)
{
	return schema->fields;
}

const struct nbx_config_field *
nbx_schema_lookup(const NbxSchema *schema, const char *name)
{
	for (const struct nbx_config_field *f = schema->fields; f->type != NBX_FIELD_END; f++) {
		if (g_strcmp0(f->name, name) == 0)
			return f;
	}
	return NULL;
}

/* ---- import: copy with the plugin's stride, then check ------------------ */

static gboolean
key_name_is_valid(const char *name)
{
	if (name == NULL || !g_ascii_islower(name[0]))
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_')
			return FALSE;
	}
	return strlen(name) <= 63;
}

static guint32
flags_allowed_for(guint32 type)
{
	guint32 path_flags = NBX_FIELD_MUST_EXIST | NBX_FIELD_READABLE | NBX_FIELD_WRITABLE |
			     NBX_FIELD_EXECUTABLE;

	switch (type) {
	case NBX_FIELD_STRING:
		return NBX_FIELD_REQUIRED | NBX_FIELD_LOWERCASE | NBX_FIELD_NON_EMPTY;
	case NBX_FIELD_ENUM:
		return NBX_FIELD_REQUIRED | NBX_FIELD_LOWERCASE;
	case NBX_FIELD_FILE:
	case NBX_FIELD_DIRECTORY:
		return NBX_FIELD_REQUIRED | path_flags;
	case NBX_FIELD_UNIX_SOCKET:
		return NBX_FIELD_REQUIRED | NBX_FIELD_MUST_EXIST;
	case NBX_FIELD_INTERFACE:
		return NBX_FIELD_REQUIRED | NBX_FIELD_MUST_BE_UP;
	case NBX_FIELD_LIST:
		/* Element flags ride on the list field. */
		return NBX_FIELD_KNOWN_FLAGS;
	case NBX_FIELD_GROUP_LIST:
		return NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY;
	default:
		return NBX_FIELD_REQUIRED;
	}
}

static gboolean
is_scalar_type(guint32 type)
{
	return type >= NBX_FIELD_STRING && type <= NBX_FIELD_ENUM && type != NBX_FIELD_LIST;
}

/* Checks a default by validating it as a one-key file would be. */
static gboolean
default_is_valid(const struct nbx_config_field *field, GString *why)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	NbxValidation validation = { .diagnostics = diagnostics, .check_environment = FALSE };
	config_t config;
	gboolean ok;

	config_init(&config);
	ok = nbx_field_set_from_text(config_root_setting(&config), field, field->default_value,
				     why);
	if (ok) {
		config_setting_t *setting = config_setting_get_member(config_root_setting(&config),
								      field->name);
		ok = nbx_field_check_value(field, setting, field->name, &validation);
		if (!ok)
			g_string_append(why, nbx_diagnostics_get(diagnostics, 0));
	}
	config_destroy(&config);
	return ok;
}

static gboolean import_table(NbxSchema *schema, const struct nbx_config_field *fields,
			     guint32 stride, const char *const *reserved, const char *path,
			     guint depth, struct nbx_config_field **out, GError **error);

/* Fails with "malformed schema: WHERE: why" (in the functions below, which have @where and @error). */
#define FAIL(...)                                                                           \
	do {                                                                                \
		g_autofree char *reason_ = g_strdup_printf(__VA_ARGS__);                    \
		g_set_error(error, NBX_SCHEMA_ERROR, 0, "malformed schema: %s: %s", where,  \
			    reason_);                                                       \
		return FALSE;                                                               \
	} while (0)

/* A LIST's element type (STRING when unset), its choices, its flags. */
static gboolean
check_list_field(struct nbx_config_field *field, const char *where, GError **error)
{
	guint32 allowed;

	if (field->element_type == 0)
		field->element_type = NBX_FIELD_STRING;
	if (!is_scalar_type(field->element_type))
		FAIL("element_type must be a scalar type, not %s",
		     nbx_field_type_name(field->element_type));
	if (field->element_type == NBX_FIELD_ENUM &&
	    (field->choices == NULL || field->choices[0] == NULL))
		FAIL("a list of enum needs at least one choice");
	allowed = flags_allowed_for(field->element_type) | NBX_FIELD_NON_EMPTY;
	if (field->flags & ~allowed)
		FAIL("flags 0x%x do not apply to elements of type %s", field->flags & ~allowed,
		     nbx_field_type_name(field->element_type));
	return TRUE;
}

static gboolean
check_field(NbxSchema *schema, struct nbx_config_field *field, guint32 stride,
	    const char *const *reserved, const char *where, guint depth, GError **error)
{
	g_autoptr(GString) why = g_string_new(NULL);
	guint32 unknown = field->flags & ~flags_allowed_for(field->type);

	if (!key_name_is_valid(field->name))
		FAIL("name must match [a-z][a-z0-9_]* (at most 63 bytes)");
	if (reserved != NULL && g_strv_contains(reserved, field->name))
		FAIL("key is reserved for the core");
	if (field->type > NBX_FIELD_GROUP_LIST)
		FAIL("unknown type %u (this core knows types up to %u)", field->type,
		     NBX_FIELD_GROUP_LIST);
	if (field->doc == NULL || field->doc[0] == '\0')
		FAIL("doc is missing (every setting needs a one-line description)");
	if (field->flags & ~NBX_FIELD_KNOWN_FLAGS)
		FAIL("unknown flag bits 0x%x", field->flags & ~NBX_FIELD_KNOWN_FLAGS);
	if (unknown != 0)
		FAIL("flags 0x%x do not apply to type %s", unknown, nbx_field_type_name(field->type));
	if ((field->flags & NBX_FIELD_REQUIRED) && field->default_value != NULL)
		FAIL("a required key cannot have a default");
	if (!(field->min == 0 && field->max == 0) && field->min > field->max)
		FAIL("min %" G_GINT64_FORMAT " is greater than max %" G_GINT64_FORMAT, field->min,
		     field->max);

	switch (field->type) {
	case NBX_FIELD_ENUM:
		if (field->choices == NULL || field->choices[0] == NULL)
			FAIL("an enum needs at least one choice");
		break;
	case NBX_FIELD_LIST:
		if (!check_list_field(field, where, error))
			return FALSE;
		break;
	case NBX_FIELD_GROUP:
	case NBX_FIELD_GROUP_LIST: {
		g_autofree char *child_path = g_strdup_printf("%s.children", where);
		struct nbx_config_field *children = NULL;

		if (field->default_value != NULL)
			FAIL("a %s cannot have a default", nbx_field_type_name(field->type));
		if (field->children == NULL || field->children[0].type == NBX_FIELD_END)
			FAIL("a %s needs at least one child field",
			     nbx_field_type_name(field->type));
		if (depth >= MAX_DEPTH)
			FAIL("groups nested deeper than %d (a cycle?)", MAX_DEPTH);
		if (!import_table(schema, field->children, stride, NULL, child_path, depth + 1,
				  &children, error))
			return FALSE;
		field->children = children;
		return TRUE;
	}
	default:
		break;
	}

	if (field->default_value != NULL && !default_is_valid(field, why))
		FAIL("default \"%s\" is not valid: %s", field->default_value, why->str);
	return TRUE;
#undef FAIL
}

static gboolean
import_table(NbxSchema *schema, const struct nbx_config_field *fields, guint32 stride,
	     const char *const *reserved, const char *path, guint depth,
	     struct nbx_config_field **out, GError **error)
{
	g_autoptr(GArray) copy = g_array_new(TRUE, TRUE, sizeof(struct nbx_config_field));
	const guint8 *cursor = (const guint8 *)fields;
	g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0;; i++, cursor += stride) {
		struct nbx_config_field field = { 0 };
		g_autofree char *where = NULL;

		if (i >= MAX_FIELDS) {
			g_set_error(error, NBX_SCHEMA_ERROR, 0,
				    "malformed schema: %s: more than %d fields (missing terminator?)",
				    path, MAX_FIELDS);
			return FALSE;
		}
		/* Fields newer than this core are ignored, older ones stay zero. */
		memcpy(&field, cursor, MIN(stride, sizeof field));
		if (field.type == NBX_FIELD_END && field.name == NULL)
			break;
		where = g_strdup_printf("%s[%u] \"%s\"", path, i,
					field.name != NULL ? field.name : "(null)");
		if (field.type == NBX_FIELD_END) {
			g_set_error(error, NBX_SCHEMA_ERROR, 0,
				    "malformed schema: %s: type is missing (0 ends the table)", where);
			return FALSE;
		}
		if (!check_field(schema, &field, stride, reserved, where, depth, error))
			return FALSE;
		if (!g_hash_table_add(names, (gpointer)field.name)) {
			g_set_error(error, NBX_SCHEMA_ERROR, 0,
				    "malformed schema: %s: name declared twice", where);
			return FALSE;
		}
		g_array_append_val(copy, field);
	}
	*out = schema_own(schema, g_array_steal(copy, NULL));
	return TRUE;
}

NbxSchema *
nbx_schema_import(const struct nbx_config_schema *plugin_schema, const char *const *reserved,
		  GError **error)
{
	g_autoptr(NbxSchema) schema = schema_new();

	if (plugin_schema->struct_size < SCHEMA_SIZE_1_0) {
		g_set_error(error, NBX_SCHEMA_ERROR, 0,
			    "malformed schema: struct_size %u is smaller than %zu",
			    plugin_schema->struct_size, (size_t)SCHEMA_SIZE_1_0);
		return NULL;
	}
	if (plugin_schema->field_size < FIELD_SIZE_1_0 ||
	    plugin_schema->field_size > sizeof(struct nbx_config_field)) {
		g_set_error(error, NBX_SCHEMA_ERROR, 0,
			    "malformed schema: field_size %u is not between %zu and %zu",
			    plugin_schema->field_size, (size_t)FIELD_SIZE_1_0,
			    sizeof(struct nbx_config_field));
		return NULL;
	}
	if (plugin_schema->fields == NULL) {
		g_set_error(error, NBX_SCHEMA_ERROR, 0, "malformed schema: fields is NULL");
		return NULL;
	}
	if (!import_table(schema, plugin_schema->fields, plugin_schema->field_size, reserved,
			  "fields", 0, &schema->fields, error))
		return NULL;
	return g_steal_pointer(&schema);
}

NbxSchema *
nbx_schema_new_empty(void)
{
	static const struct nbx_config_field none[] = { { 0 } };

	return nbx_schema_new_static(none);
}

NbxSchema *
nbx_schema_new_static(const struct nbx_config_field *fields)
{
	NbxSchema *schema = schema_new();

	schema->fields = (struct nbx_config_field *)fields;
	return schema;
}

static guint
table_length(const struct nbx_config_field *fields)
{
	guint n = 0;

	while (fields != NULL && fields[n].type != NBX_FIELD_END)
		n++;
	return n;
}

NbxSchema *
nbx_schema_concat(const NbxSchema *first, const NbxSchema *second)
{
	NbxSchema *schema = schema_new();
	guint n1 = first != NULL ? table_length(first->fields) : 0;
	guint n2 = second != NULL ? table_length(second->fields) : 0;
	struct nbx_config_field *fields = g_new0(struct nbx_config_field, n1 + n2 + 1);

	/* The sources own the children tables and strings, and outlive this. */
	if (n1 > 0)
		memcpy(fields, first->fields, n1 * sizeof *fields);
	if (n2 > 0)
		memcpy(fields + n1, second->fields, n2 * sizeof *fields);
	schema->fields = schema_own(schema, fields);
	return schema;
}

NbxSchema *
nbx_schema_with_group_list(const NbxSchema *base, const char *name, const char *doc,
			   const NbxSchema *children, guint32 flags)
{
	struct nbx_config_field extra[2] = {
		{
			.name = name,
			.type = NBX_FIELD_GROUP_LIST,
			.flags = flags,
			.doc = doc,
			.children = children->fields,
		},
		{ 0 },
	};
	guint n = table_length(children->fields);
	g_autoptr(NbxSchema) tail = NULL;
	NbxSchema *schema;

	/* The children table may be a temporary concat: own a copy of it. */
	tail = nbx_schema_new_static(extra);
	schema = nbx_schema_concat(base, tail);
	schema->fields[table_length(schema->fields) - 1].children =
		schema_own(schema, g_memdup2(children->fields, (n + 1) * sizeof *children->fields));
	return schema;
}

void
nbx_schema_set_default(NbxSchema *schema, const char *name, const char *default_value)
{
	for (struct nbx_config_field *f = schema->fields; f->type != NBX_FIELD_END; f++) {
		if (g_strcmp0(f->name, name) == 0) {
			f->default_value = schema_own(schema, g_strdup(default_value));
			return;
		}
	}
	g_return_if_reached();
}

