/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The text nestbox-scaffold writes: template files compiled into it as a
 * GResource (tools/scaffold-templates/), with their @PLACEHOLDERS@ replaced.
 * The rules a template follows are in tools/scaffold-templates/README.md;
 * a template that breaks one is refused with its file and line, so no
 * placeholder ever reaches a generated file.
 */
#ifndef NESTBOX_SCAFFOLD_TEMPLATE_H
#define NESTBOX_SCAFFOLD_TEMPLATE_H

#include <glib.h>

#define SCAFFOLD_TEMPLATE_ERROR (scaffold_template_error_quark())

enum scaffold_template_error {
	/* No resource of that name: the file is missing from the .gresource.xml. */
	SCAFFOLD_TEMPLATE_ERROR_NOT_COMPILED_IN,
	/* An '@' that is not a well-formed placeholder, or a block not alone on its line. */
	SCAFFOLD_TEMPLATE_ERROR_SYNTAX,
	/* A well-formed placeholder this template is given no value for. */
	SCAFFOLD_TEMPLATE_ERROR_UNKNOWN_PLACEHOLDER,
};

GQuark scaffold_template_error_quark(void);

/* The placeholders one rendering knows, each with its value. */
struct scaffold_values;

struct scaffold_values *scaffold_values_new(void);
void scaffold_values_free(struct scaffold_values *values);

/* @NAME@ becomes @value wherever it stands on a line. */
void scaffold_values_set(struct scaffold_values *values, const char *name, const char *value);

/*
 * @NAME@ stands for whole lines: it must be alone on its line, and that line
 * (with its newline) becomes @lines; "" removes the line. A final newline
 * is added to @lines when it has none.
 */
void scaffold_values_set_block(struct scaffold_values *values, const char *name,
			       const char *lines);

/*
 * The template @template_name (its file name in tools/scaffold-templates/)
 * with every placeholder replaced once: values are copied as they are, never
 * searched for placeholders themselves. NULL with @error set when the
 * template is not compiled in or breaks a rule.
 */
char *scaffold_template_render(const char *template_name, const struct scaffold_values *values,
			       GError **error);

/* g_autoptr() wants a one-word type name. */
typedef struct scaffold_values scaffold_values;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(scaffold_values, scaffold_values_free)

#endif
