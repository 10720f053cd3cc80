/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How settings and field types are named in messages (setting_names.c).
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/schema.h>

/* "file:line" of @setting, or of the nearest ancestor that has a line. */
char *nbx_setting_location(const config_setting_t *setting);

/*
 * Dotted path of @key (may be NULL) below @setting, from the file's root:
 * list elements are named by their `name` member when they have one
 * ("machines.win10.snapshot"), else by index ("machines[2]").
 */
char *nbx_setting_key_path(const config_setting_t *setting, const char *key);

/* UTF-8 without a control character: one line a terminal or JSON shows as is. */
gboolean nbx_text_is_printable(const char *text);

/*
 * Whether a list element's `name` may stand for it in a key path: printable
 * text of at most 64 bytes (else it is named by its index).
 */
gboolean nbx_is_printable_name(const char *name);

/* Dotted path of a key under @prefix ("a.b"), prefix may be NULL or "". */
char *nbx_key_path(const char *prefix, const char *key);

/* The name of a type as users read it ("integer", "file path", ...). */
const char *nbx_field_type_name(guint32 type);

/* The element type of a LIST field (STRING when the table left it 0). */
guint32 nbx_field_element_type(const struct nbx_config_field *field);
