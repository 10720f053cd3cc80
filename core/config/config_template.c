/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config_template.h"

#include <string.h>

#include "core_schema.h"
#include "schema.h"

char *
nbx_config_describe_field(const struct nbx_config_field *field)
{
	g_autoptr(GString) out = g_string_new(nbx_field_type_name(field->type));
	guint32 type = field->type == NBX_FIELD_LIST ? nbx_field_element_type(field) : field->type;

	if (field->type == NBX_FIELD_LIST)
		g_string_append_printf(out, " of %s", nbx_field_type_name(type));
	if (!(field->min == 0 && field->max == 0)) {
		const char *unit = field->type == NBX_FIELD_INTEGER ? "" : " elements";

		if (field->max == G_MAXINT64 || field->max == G_MAXINT32)
			g_string_append_printf(out, ", at least %" G_GINT64_FORMAT "%s", field->min,
					       unit);
		else
			g_string_append_printf(out, ", %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT "%s",
					       field->min, field->max, unit);
	}
	if (type == NBX_FIELD_ENUM) {
		g_autofree char *choices = g_strjoinv(", ", (char **)field->choices);

		g_string_append_printf(out, ", one of: %s", choices);
	}
	if (field->flags & NBX_FIELD_REQUIRED)
		g_string_append(out, ", required");
	if (field->flags & NBX_FIELD_NON_EMPTY)
		g_string_append(out, ", not empty");
	if (field->flags & NBX_FIELD_LOWERCASE)
		g_string_append(out, ", lower-cased");
	if (field->flags & NBX_FIELD_MUST_EXIST)
		g_string_append(out, ", must exist");
	if (field->flags & NBX_FIELD_READABLE)
		g_string_append(out, ", readable");
	if (field->flags & NBX_FIELD_WRITABLE)
		g_string_append(out, ", writable");
	if (field->flags & NBX_FIELD_EXECUTABLE)
		g_string_append(out, ", executable");
	if (field->flags & NBX_FIELD_MUST_BE_UP)
		g_string_append(out, ", must be up");
	return g_string_free(g_steal_pointer(&out), FALSE);
}

void
nbx_config_append_quoted(GString *out, const char *s)
{
	g_string_append_c(out, '"');
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		switch (*c) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\f':
			g_string_append(out, "\\f");
			break;
		default:
			if (*c < 0x20)
				g_string_append_printf(out, "\\x%02x", *c);
			else
				g_string_append_c(out, (char)*c);
		}
	}
	g_string_append_c(out, '"');
}

/* The value written for @field: its default, or a placeholder of its type. */
static void
append_value(GString *out, const struct nbx_config_field *field)
{
	const char *text = field->default_value;

	switch (field->type) {
	case NBX_FIELD_INTEGER:
		if (text != NULL)
			g_string_append(out, text);
		else
			g_string_append_printf(out, "%" G_GINT64_FORMAT,
					       field->min > 0 ? field->min : 0);
		return;
	case NBX_FIELD_BOOLEAN:
		g_string_append(out, text != NULL ? text : "false");
		return;
	case NBX_FIELD_LIST:
		g_string_append(out, text != NULL ? text : "[ ]");
		return;
	case NBX_FIELD_ENUM:
		nbx_config_append_quoted(out, text != NULL ? text : field->choices[0]);
		return;
	default:
		nbx_config_append_quoted(out, text != NULL ? text : "");
		return;
	}
}

static void render_fields(GString *out, const struct nbx_config_field *fields, guint indent,
			  gboolean commented);

static void
line_start(GString *out, guint indent, gboolean commented)
{
	g_string_append_printf(out, "%*s%s", (int)indent, "", commented ? "# " : "");
}

static void
render_field(GString *out, const struct nbx_config_field *field, guint indent, gboolean commented)
{
	g_autofree char *constraints = nbx_config_describe_field(field);
	/* A key with no value to write is shown, commented out, as an example. */
	gboolean example = commented || (field->default_value == NULL &&
					 field->type != NBX_FIELD_GROUP &&
					 field->type != NBX_FIELD_GROUP_LIST);

	line_start(out, indent, commented);
	g_string_append_printf(out, "# %s\n", field->doc);
	line_start(out, indent, commented);
	g_string_append_printf(out, "# (%s)\n", constraints);

	switch (field->type) {
	case NBX_FIELD_GROUP:
		line_start(out, indent, commented);
		g_string_append_printf(out, "%s = {\n", field->name);
		render_fields(out, field->children, indent + 2, commented);
		line_start(out, indent, commented);
		g_string_append(out, "};\n");
		return;
	case NBX_FIELD_GROUP_LIST:
		line_start(out, indent, commented);
		g_string_append_printf(out, "%s = (\n", field->name);
		line_start(out, indent + 2, TRUE);
		g_string_append(out, "{\n");
		render_fields(out, field->children, indent + 4, TRUE);
		line_start(out, indent + 2, TRUE);
		g_string_append(out, "}\n");
		line_start(out, indent, commented);
		g_string_append(out, ");\n");
		return;
	default:
		line_start(out, indent, example);
		g_string_append_printf(out, "%s = ", field->name);
		append_value(out, field);
		g_string_append(out, ";\n");
	}
}

static void
render_fields(GString *out, const struct nbx_config_field *fields, guint indent,
	      gboolean commented)
{
	for (const struct nbx_config_field *f = fields; f != NULL && f->type != NBX_FIELD_END; f++) {
		if (f != fields && commented)
			g_string_append_printf(out, "%*s#\n", (int)indent, "");
		else if (f != fields)
			g_string_append(out, "\n");
		render_field(out, f, indent, commented);
	}
}

static gboolean
has_required_field(const struct nbx_config_field *fields)
{
	for (const struct nbx_config_field *f = fields; f != NULL && f->type != NBX_FIELD_END; f++) {
		if (f->flags & NBX_FIELD_REQUIRED)
			return TRUE;
	}
	return FALSE;
}

/* The plugin's own fields, imported: the loader already checked the schema. */
static NbxSchema *
import_or_empty(const struct nbx_config_schema *schema)
{
	if (schema == NULL)
		return nbx_schema_new_empty();
	return nbx_schema_import(schema, NULL, NULL);
}

/* Its own keys, then `machines`: the core's machine keys and its own. */
static NbxSchema *
machinery_schema(const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) own = import_or_empty(d->config_schema);
	g_autoptr(NbxSchema) machine_own = import_or_empty(d->machine_schema);
	g_autoptr(NbxSchema) core_machine = nbx_schema_new_static(nbx_core_machine_fields);
	g_autoptr(NbxSchema) machine = nbx_schema_concat(core_machine, machine_own);

	NbxSchema *file;

	g_return_val_if_fail(own != NULL && machine_own != NULL, NULL);
	file = nbx_schema_with_group_list(own, "machines",
					  "The machines of this machinery, one group each", machine,
					  0);
	nbx_schema_adopt(file, g_steal_pointer(&own));
	nbx_schema_adopt(file, g_steal_pointer(&machine_own));
	nbx_schema_adopt(file, g_steal_pointer(&core_machine));
	nbx_schema_adopt(file, g_steal_pointer(&machine));
	return file;
}

/* The core's enabled, order and required, then its own keys. */
static NbxSchema *
auxiliary_schema(const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) own = import_or_empty(d->config_schema);
	g_autoptr(NbxSchema) core = nbx_schema_new_static(nbx_core_auxiliary_fields);
	g_autofree char *order = g_strdup_printf("%d", d->order > 0 ? d->order : 1);
	NbxSchema *group;

	g_return_val_if_fail(own != NULL, NULL);
	group = nbx_schema_concat(core, own);
	nbx_schema_set_default(group, "order", order);
	/* A module that cannot run before the user sets something ships disabled. */
	nbx_schema_set_default(group, "enabled",
			       has_required_field(nbx_schema_fields(own)) ? "false" : "true");
	nbx_schema_adopt(group, g_steal_pointer(&own));
	nbx_schema_adopt(group, g_steal_pointer(&core));
	return group;
}

NbxSchema *
nbx_config_plugin_schema(const struct nbx_plugin_descriptor *descriptor)
{
	switch (descriptor->kind) {
	case NBX_PLUGIN_MACHINERY:
		return machinery_schema(descriptor);
	case NBX_PLUGIN_AUXILIARY:
		return auxiliary_schema(descriptor);
	case NBX_PLUGIN_GUEST:
		/* A guest plugin's settings are its group in guest.conf (ABI 1.2). */
		return import_or_empty(descriptor->config_schema);
	default:
		g_return_val_if_reached(NULL);
	}
}

static char *
machinery_template(const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) file = nbx_config_plugin_schema(d);
	GString *out;

	g_return_val_if_fail(file != NULL, NULL);
	out = g_string_new(NULL);
	g_string_append_printf(out,
			       "# machinery/%s.conf: machinery \"%s\" %s\n"
			       "# %s\n"
			       "# Generated from the plugin's schema by "
			       "`nestboxd --config-template %s`.\n"
			       "# Enable it by adding \"%s\" to `machineries` in nestbox.conf.\n\n",
			       d->name, d->name, d->version, d->description, d->name, d->name);
	render_fields(out, nbx_schema_fields(file), 0, FALSE);
	return g_string_free(out, FALSE);
}

static char *
auxiliary_template(const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) group = nbx_config_plugin_schema(d);
	gboolean needs_settings;
	GString *out;

	g_return_val_if_fail(group != NULL, NULL);
	/* The core's keys are never required: this is the plugin's own. */
	needs_settings = has_required_field(nbx_schema_fields(group));
	out = g_string_new(NULL);
	g_string_append_printf(out,
			       "# Auxiliary module \"%s\" %s: %s\n"
			       "# Generated from the plugin's schema by "
			       "`nestboxd --config-template %s`.\n",
			       d->name, d->version, d->description, d->name);
	if (needs_settings)
		g_string_append(out, "# Set its required keys, then enable it.\n");
	g_string_append_printf(out, "%s = {\n", d->name);
	render_fields(out, nbx_schema_fields(group), 2, FALSE);
	g_string_append(out, "};\n");
	return g_string_free(out, FALSE);
}

/* A guest plugin's settings are its own file, guest/NAME.conf (ABI 1.2). */
static char *
guest_template(const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) own = nbx_config_plugin_schema(d);
	g_autoptr(NbxSchema) core = nbx_schema_new_static(nbx_core_guest_fields);
	g_autoptr(NbxSchema) file = NULL;
	GString *out = g_string_new(NULL);

	g_return_val_if_fail(own != NULL, NULL);
	file = nbx_schema_concat(core, own);
	g_string_append_printf(out,
			       "# guest/%s.conf: guest plugin \"%s\" %s\n"
			       "# %s\n"
			       "# Generated from the plugin's schema by "
			       "`nestboxd --config-template %s`.\n"
			       "# A machine uses it when its `guest` key, or nestbox.conf's "
			       "guest.PLATFORM, names \"%s\".\n\n",
			       d->name, d->name, d->version, d->description, d->name, d->name);
	render_fields(out, nbx_schema_fields(file), 0, FALSE);
	return g_string_free(out, FALSE);
}

gchar *
nbx_config_template_for_plugin(const struct nbx_plugin_descriptor *descriptor)
{
	switch (descriptor->kind) {
	case NBX_PLUGIN_MACHINERY:
		return machinery_template(descriptor);
	case NBX_PLUGIN_AUXILIARY:
		return auxiliary_template(descriptor);
	case NBX_PLUGIN_GUEST:
		return guest_template(descriptor);
	default:
		g_return_val_if_reached(NULL);
	}
}

gchar *
nbx_config_template_for_core(void)
{
	GString *out = g_string_new(
		"# nestbox.conf: settings of the nestbox daemon.\n"
		"# Generated from the core's schema by `nestboxd --config-template nestbox`.\n"
		"# Relative paths are relative to this file's directory.\n\n");

	render_fields(out, nbx_core_fields, 0, FALSE);
	return g_string_free(out, FALSE);
}
