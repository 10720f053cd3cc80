/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placeholder substitution for nestbox-scaffold's templates. Deliberately
 * small: one pass, no conditionals, no includes; what varies with the kind
 * of plugin is a template of its own or a value the scaffold computes.
 */
#include <gio/gio.h>
#include <string.h>

#include "scaffold_template.h"

/* The prefix of scaffold-templates.gresource.xml. */
#define SCAFFOLD_RESOURCE_PREFIX "/org/nestbox/scaffold/"
/* Where a template is in the source tree: messages name the file to edit. */
#define SCAFFOLD_TEMPLATE_DIR "tools/scaffold-templates"

G_DEFINE_QUARK(scaffold-template-error-quark, scaffold_template_error)

struct scaffold_value {
	char *text;
	gboolean block;
};

struct scaffold_values {
	/* name without the '@'s -> struct scaffold_value */
	GHashTable *by_name;
};

/* One line of a template, without its newline. */
struct template_line {
	const char *template_name;
	guint number;
	const char *start;
	const char *end;
	gboolean has_newline;
};

static void
scaffold_value_free(gpointer data)
{
	struct scaffold_value *value = data;

	g_free(value->text);
	g_free(value);
}

struct scaffold_values *
scaffold_values_new(void)
{
	struct scaffold_values *values = g_new0(struct scaffold_values, 1);

	values->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, scaffold_value_free);
	return values;
}

void
scaffold_values_free(struct scaffold_values *values)
{
	if (values == NULL)
		return;
	g_hash_table_unref(values->by_name);
	g_free(values);
}

/* [A-Z][A-Z0-9_]*: what may stand between the two '@'s. */
static gboolean
placeholder_name_is_well_formed(const char *start, gsize length)
{
	if (length == 0 || !g_ascii_isupper(start[0]))
		return FALSE;
	for (gsize i = 1; i < length; i++) {
		if (!g_ascii_isupper(start[i]) && !g_ascii_isdigit(start[i]) && start[i] != '_')
			return FALSE;
	}
	return TRUE;
}

static void
values_insert(struct scaffold_values *values, const char *name, char *text, gboolean block)
{
	struct scaffold_value *value = g_new0(struct scaffold_value, 1);

	value->text = text;
	value->block = block;
	g_hash_table_insert(values->by_name, g_strdup(name), value);
}

void
scaffold_values_set(struct scaffold_values *values, const char *name, const char *value)
{
	g_return_if_fail(placeholder_name_is_well_formed(name, strlen(name)));
	values_insert(values, name, g_strdup(value), FALSE);
}

void
scaffold_values_set_block(struct scaffold_values *values, const char *name, const char *lines)
{
	gboolean complete = *lines == '\0' || g_str_has_suffix(lines, "\n");

	g_return_if_fail(placeholder_name_is_well_formed(name, strlen(name)));
	values_insert(values, name, g_strconcat(lines, complete ? "" : "\n", NULL), TRUE);
}

static gint
compare_names(gconstpointer a, gconstpointer b, gpointer unused)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *
known_placeholders(const struct scaffold_values *values)
{
	g_autofree const char **names =
		(const char **)g_hash_table_get_keys_as_array(values->by_name, NULL);
	g_autoptr(GString) out = g_string_new(NULL);

	g_qsort_with_data(names, g_hash_table_size(values->by_name), sizeof(*names),
			  compare_names, NULL);
	for (const char **name = names; *name != NULL; name++)
		g_string_append_printf(out, "%s@%s@", out->len > 0 ? " " : "", *name);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
line_error(const struct template_line *line, GError **error, gint code, const char *format, ...)
	G_GNUC_PRINTF(4, 5);

static gboolean
line_error(const struct template_line *line, GError **error, gint code, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, SCAFFOLD_TEMPLATE_ERROR, code, "%s/%s:%u: %s", SCAFFOLD_TEMPLATE_DIR,
		    line->template_name, line->number, message);
	return FALSE;
}

/*
 * Finds the placeholder opened by the '@' at @at and its value. Every '@'
 * opens one: a stray '@' or a misspelt name is refused, not copied.
 */
static const struct scaffold_value *
placeholder_at(const struct template_line *line, const char *at,
	       const struct scaffold_values *values, const char **after, GError **error)
{
	const char *close = memchr(at + 1, '@', (gsize)(line->end - (at + 1)));
	g_autofree char *name = NULL;
	const struct scaffold_value *value;

	if (close == NULL || !placeholder_name_is_well_formed(at + 1, (gsize)(close - (at + 1)))) {
		line_error(line, error, SCAFFOLD_TEMPLATE_ERROR_SYNTAX,
			   "'@' at column %td starts no placeholder (a placeholder is @NAME@, "
			   "capitals, digits and '_'; a template has no other '@')",
			   at - line->start + 1);
		return NULL;
	}
	name = g_strndup(at + 1, (gsize)(close - (at + 1)));
	value = g_hash_table_lookup(values->by_name, name);
	if (value == NULL) {
		g_autofree char *known = known_placeholders(values);

		line_error(line, error, SCAFFOLD_TEMPLATE_ERROR_UNKNOWN_PLACEHOLDER,
			   "unknown placeholder @%s@ (this template is given %s)", name, known);
		return NULL;
	}
	if (value->block && (at != line->start || close + 1 != line->end)) {
		line_error(line, error, SCAFFOLD_TEMPLATE_ERROR_SYNTAX,
			   "@%s@ stands for whole lines and must be alone on its line", name);
		return NULL;
	}
	*after = close + 1;
	return value;
}

static gboolean
substitute_line(GString *out, const struct template_line *line,
		const struct scaffold_values *values, GError **error)
{
	const char *cursor = line->start;
	const char *at;

	while ((at = memchr(cursor, '@', (gsize)(line->end - cursor))) != NULL) {
		const struct scaffold_value *value;

		g_string_append_len(out, cursor, at - cursor);
		value = placeholder_at(line, at, values, &cursor, error);
		if (value == NULL)
			return FALSE;
		g_string_append(out, value->text);
		/* A block brings its own newlines. */
		if (value->block)
			return TRUE;
	}
	g_string_append_len(out, cursor, line->end - cursor);
	if (line->has_newline)
		g_string_append_c(out, '\n');
	return TRUE;
}

static char *
substitute(const char *template_name, const char *text, const struct scaffold_values *values,
	   GError **error)
{
	g_autoptr(GString) out = g_string_sized_new(strlen(text));
	struct template_line line = { .template_name = template_name, .start = text };

	while (*line.start != '\0') {
		const char *newline = strchr(line.start, '\n');

		line.number++;
		line.has_newline = newline != NULL;
		line.end = newline != NULL ? newline : line.start + strlen(line.start);
		if (!substitute_line(out, &line, values, error))
			return NULL;
		line.start = line.has_newline ? line.end + 1 : line.end;
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

char *
scaffold_template_render(const char *template_name, const struct scaffold_values *values,
			 GError **error)
{
	g_autofree char *path = g_strconcat(SCAFFOLD_RESOURCE_PREFIX, template_name, NULL);
	g_autoptr(GError) lookup_error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	const char *text;
	gsize size;

	bytes = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, &lookup_error);
	if (bytes == NULL) {
		g_set_error(error, SCAFFOLD_TEMPLATE_ERROR, SCAFFOLD_TEMPLATE_ERROR_NOT_COMPILED_IN,
			    "%s/%s: not compiled into nestbox-scaffold (list it in "
			    "%s/scaffold-templates.gresource.xml): %s",
			    SCAFFOLD_TEMPLATE_DIR, template_name, SCAFFOLD_TEMPLATE_DIR,
			    lookup_error->message);
		return NULL;
	}
	/* A resource always ends in a NUL of its own; one inside would cut the text. */
	text = g_bytes_get_data(bytes, &size);
	if (size == 0)
		return g_strdup("");
	if (memchr(text, '\0', size) != NULL) {
		g_set_error(error, SCAFFOLD_TEMPLATE_ERROR, SCAFFOLD_TEMPLATE_ERROR_SYNTAX,
			    "%s/%s: contains a NUL byte; a template is text", SCAFFOLD_TEMPLATE_DIR,
			    template_name);
		return NULL;
	}
	return substitute(template_name, text, values, error);
}
