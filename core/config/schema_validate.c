/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validating a group against a schema: every key checked, unknown keys
 * named (with a "did you mean"), defaults filled in, groups and lists of
 * groups recursed into. The recursion lives here only; one value's checks
 * are field_check.c's.
 */
#include "schema_validate.h"

#include <string.h>

#include "field_check.h"

/* Levenshtein distance, for "did you mean"; small inputs only. */
static guint
edit_distance(const char *a, const char *b)
{
	gsize la = strlen(a), lb = strlen(b);
	g_autofree guint *row = g_new(guint, lb + 1);

	for (gsize j = 0; j <= lb; j++)
		row[j] = j;
	for (gsize i = 1; i <= la; i++) {
		guint diagonal = row[0];

		row[0] = i;
		for (gsize j = 1; j <= lb; j++) {
			guint above = row[j];
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diagonal + cost);
			diagonal = above;
		}
	}
	return row[lb];
}

static void
report_unknown_key(const NbxSchema *schema, config_setting_t *setting, const char *key_path,
		   const NbxValidation *validation)
{
	g_autofree char *location = nbx_setting_location(setting);
	const char *name = config_setting_name(setting);
	const char *best = NULL;
	guint best_distance = 3;

	for (const struct nbx_config_field *f = nbx_schema_fields(schema); f->type != NBX_FIELD_END; f++) {
		guint d = edit_distance(name, f->name);

		if (d < best_distance) {
			best = f->name;
			best_distance = d;
		}
	}
	if (best != NULL)
		nbx_diagnostics_add(validation->diagnostics, location, key_path,
				    "unknown key (did you mean \"%s\"?)", best);
	else
		nbx_diagnostics_add(validation->diagnostics, location, key_path, "unknown key");
}

static gboolean
group_is_disabled(const NbxSchema *schema, config_setting_t *group)
{
	const struct nbx_config_field *enabled = nbx_schema_lookup(schema, "enabled");
	config_setting_t *setting = config_setting_get_member(group, "enabled");

	return enabled != NULL && enabled->type == NBX_FIELD_BOOLEAN && setting != NULL &&
	       config_setting_type(setting) == CONFIG_TYPE_BOOL && !config_setting_get_bool(setting);
}

gboolean
nbx_schema_validate_group(const NbxSchema *schema, config_setting_t *group,
			  const char *key_prefix, const NbxValidation *validation)
{
	guint before = nbx_diagnostics_count(validation->diagnostics);

	if (group_is_disabled(schema, group))
		return TRUE;

	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *setting = config_setting_get_elem(group, i);
		const char *name = config_setting_name(setting);

		if (nbx_schema_lookup(schema, name) == NULL) {
			g_autofree char *path = nbx_key_path(key_prefix, name);

			report_unknown_key(schema, setting, path, validation);
		}
	}

	for (const struct nbx_config_field *f = nbx_schema_fields(schema); f->type != NBX_FIELD_END; f++) {
		config_setting_t *setting = config_setting_get_member(group, f->name);
		g_autofree char *path = nbx_key_path(key_prefix, f->name);

		if (setting == NULL) {
			nbx_field_apply_default(group, f, path, validation);
			continue;
		}
		nbx_field_check(f, setting, path, validation);
	}
	return nbx_diagnostics_count(validation->diagnostics) == before;
}

/* "machines.win10" when the element has a name, else "machines[2]". */
static char *
element_path(const char *key_path, config_setting_t *element, int index)
{
	const char *name = NULL;

	if (config_setting_lookup_string(element, "name", &name) && name[0] != '\0' &&
	    strpbrk(name, ". \t\n") == NULL && nbx_is_printable_name(name))
		return g_strdup_printf("%s.%s", key_path, name);
	return g_strdup_printf("%s[%d]", key_path, index);
}

static gboolean
check_group(const struct nbx_config_field *field, config_setting_t *setting,
	    const char *key_path, const NbxValidation *validation)
{
	g_autoptr(NbxSchema) children = nbx_schema_new_static(field->children);

	if (!nbx_field_expect_type(validation, setting, key_path, "a group { ... }",
			 config_setting_type(setting) == CONFIG_TYPE_GROUP))
		return FALSE;
	return nbx_schema_validate_group(children, setting, key_path, validation);
}

static gboolean
check_group_list(const struct nbx_config_field *field, config_setting_t *setting,
		 const char *key_path, const NbxValidation *validation)
{
	g_autoptr(NbxSchema) children = nbx_schema_new_static(field->children);
	int kind = config_setting_type(setting);
	gboolean ok;

	/* An empty `[ ]` parses as an array; accept it as an empty list. */
	if (!nbx_field_expect_type(validation, setting, key_path, "a list of groups ( { ... }, ... )",
			 kind == CONFIG_TYPE_LIST ||
				 (kind == CONFIG_TYPE_ARRAY && config_setting_length(setting) == 0)))
		return FALSE;
	ok = nbx_field_check_count(field, setting, key_path, validation);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *element = config_setting_get_elem(setting, i);
		g_autofree char *path = element_path(key_path, element, i);

		if (!nbx_field_expect_type(validation, element, path, "a group { ... }",
				 config_setting_type(element) == CONFIG_TYPE_GROUP)) {
			ok = FALSE;
			continue;
		}
		ok &= nbx_schema_validate_group(children, element, path, validation);
	}
	return ok;
}

gboolean
nbx_field_check(const struct nbx_config_field *field, config_setting_t *setting,
		const char *key_path, const NbxValidation *validation)
{
	switch (field->type) {
	case NBX_FIELD_GROUP:
		return check_group(field, setting, key_path, validation);
	case NBX_FIELD_GROUP_LIST:
		return check_group_list(field, setting, key_path, validation);
	default:
		return nbx_field_check_value(field, setting, key_path, validation);
	}
}

void
nbx_field_apply_default(config_setting_t *group, const struct nbx_config_field *field,
			const char *key_path, const NbxValidation *validation)
{
	if (field->flags & NBX_FIELD_REQUIRED) {
		nbx_field_report(validation, group, key_path, "required key is missing");
		return;
	}
	if (field->type == NBX_FIELD_GROUP) {
		config_setting_t *created = config_setting_add(group, field->name, CONFIG_TYPE_GROUP);

		nbx_field_check(field, created, key_path, validation);
		return;
	}
	if (field->default_value != NULL) {
		g_autoptr(GString) why = g_string_new(NULL);
		config_setting_t *setting;

		/* The default passed its syntax check when the plugin loaded. */
		if (!nbx_field_set_from_text(group, field, field->default_value, why))
			g_return_if_reached();
		/* Normalise it like a written value (lower case, absolute path). */
		setting = config_setting_get_member(group, field->name);
		nbx_field_check(field, setting, key_path, validation);
	}
}
