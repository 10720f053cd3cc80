/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Config schemas: a plugin's field table copied into the core's own layout,
 * checked for self-consistency once at load, then used to validate
 * libconfig groups (all problems reported, defaults filled in) and to
 * generate templates.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/schema.h>

#include "diagnostics.h"
#include "setting_names.h"

#define NBX_SCHEMA_ERROR (nbx_schema_error_quark())
GQuark nbx_schema_error_quark(void);

/* An owned, normalised table: fields use the core's struct layout. */
typedef struct _NbxSchema NbxSchema;

/*
 * Copies @schema (walking it with the plugin's own field_size) and checks
 * it: names, types, flags, docs, defaults, bounds, choices, children.
 * @reserved: NULL-terminated keys the table may not declare (owned by the
 * core), or NULL. Fails with a message naming the field (`fields[3]
 * "port"`) and what is wrong with it.
 */
NbxSchema *nbx_schema_import(const struct nbx_config_schema *schema, const char *const *reserved,
			     GError **error);

/* A schema with no field: a plugin that declares none. */
NbxSchema *nbx_schema_new_empty(void);

/* A schema over a core-owned table already in the core's layout. */
NbxSchema *nbx_schema_new_static(const struct nbx_config_field *fields);

/*
 * A new table with the fields of @first followed by those of @second (either
 * may be NULL). Used to put the core's keys (enabled, order, machines, the
 * core machine keys) in front of a plugin's own.
 */
NbxSchema *nbx_schema_concat(const NbxSchema *first, const NbxSchema *second);

/*
 * Like concat, plus one GROUP_LIST field @name whose children are
 * @children's fields: how a machinery's `machines` list is declared.
 */
NbxSchema *nbx_schema_with_group_list(const NbxSchema *base, const char *name, const char *doc,
				      const NbxSchema *children, guint32 flags);

/* Replaces the default of top-level field @name (the string is copied). */
void nbx_schema_set_default(NbxSchema *schema, const char *name, const char *default_value);

void nbx_schema_free(NbxSchema *schema);

/*
 * @schema takes @source (may be NULL) and frees it with itself: what a
 * concat or a group list made of temporary schemas needs, since it points
 * into their fields and strings.
 */
void nbx_schema_adopt(NbxSchema *schema, NbxSchema *source);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbxSchema, nbx_schema_free)

/* The fields, terminated by an NBX_FIELD_END entry. */
const struct nbx_config_field *nbx_schema_fields(const NbxSchema *schema);
const struct nbx_config_field *nbx_schema_lookup(const NbxSchema *schema, const char *name);
