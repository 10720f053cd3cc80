/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How settings and field types are named in messages: "file:line", dotted
 * key paths, the names of the types. Below everything else of config/.
 */
#include "setting_names.h"

#include <string.h>

#include "config_source.h"

static const char *const field_type_names[] = {
	[NBX_FIELD_END] = "end",
	[NBX_FIELD_STRING] = "string",
	[NBX_FIELD_INTEGER] = "integer",
	[NBX_FIELD_BOOLEAN] = "boolean",
	[NBX_FIELD_FILE] = "file path",
	[NBX_FIELD_DIRECTORY] = "directory path",
	[NBX_FIELD_UNIX_SOCKET] = "unix socket path",
	[NBX_FIELD_INTERFACE] = "network interface",
	[NBX_FIELD_MAC_ADDRESS] = "MAC address",
	[NBX_FIELD_IP_ADDRESS] = "IP address",
	[NBX_FIELD_LIST] = "list",
	[NBX_FIELD_ENUM] = "enum",
	[NBX_FIELD_GROUP] = "group",
	[NBX_FIELD_GROUP_LIST] = "list of groups",
};

const char *
nbx_field_type_name(guint32 type)
{
	if (type < G_N_ELEMENTS(field_type_names))
		return field_type_names[type];
	return "unknown type";
}

guint32
nbx_field_element_type(const struct nbx_config_field *field)
{
	return field->element_type != 0 ? field->element_type : NBX_FIELD_STRING;
}

char *
nbx_setting_location(const config_setting_t *setting)
{
	for (const config_setting_t *s = setting; s != NULL; s = config_setting_parent(s)) {
		const char *file = config_setting_source_file(s);
		unsigned int line = config_setting_source_line(s);

		/* Read by config_source: the line is one of the spliced text. */
		if (nbx_config_source_find(s, line, &file, &line)) {
			if (line > 0)
				return g_strdup_printf("%s:%u", file, line);
			if (config_setting_parent(s) == NULL)
				return g_strdup(file);
			continue;
		}
		if (file != NULL && line > 0)
			return g_strdup_printf("%s:%u", file, line);
		if (file != NULL && config_setting_parent(s) == NULL)
			return g_strdup(file);
	}
	return g_strdup("(default)");
}

gboolean
nbx_text_is_printable(const char *text)
{
	if (!g_utf8_validate(text, -1, NULL))
		return FALSE;
	for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return TRUE;
}

gboolean
nbx_is_printable_name(const char *name)
{
	return strlen(name) <= 64 && nbx_text_is_printable(name);
}

char *
nbx_key_path(const char *prefix, const char *key)
{
	if (prefix == NULL || *prefix == '\0')
		return g_strdup(key);
	if (key[0] == '[')
		return g_strconcat(prefix, key, NULL);
	return g_strconcat(prefix, ".", key, NULL);
}

char *
nbx_setting_key_path(const config_setting_t *setting, const char *key)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
	GString *out = g_string_new(NULL);

	for (const config_setting_t *s = setting; s != NULL && config_setting_parent(s) != NULL;
	     s = config_setting_parent(s)) {
		const char *name = config_setting_name(s);
		const char *element_name = NULL;

		if (name != NULL)
			g_ptr_array_insert(parts, 0, g_strdup(name));
		else if (config_setting_lookup_string(s, "name", &element_name) &&
			 nbx_is_printable_name(element_name))
			g_ptr_array_insert(parts, 0, g_strdup(element_name));
		else
			g_ptr_array_insert(parts, 0, g_strdup_printf("[%d]", config_setting_index(s)));
	}
	if (key != NULL)
		g_ptr_array_add(parts, g_strdup(key));
	for (guint i = 0; i < parts->len; i++) {
		const char *part = g_ptr_array_index(parts, i);

		if (i > 0 && part[0] != '[')
			g_string_append_c(out, '.');
		g_string_append(out, part);
	}
	return g_string_free(out, FALSE);
}
