/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checks of one setting against one field: the type loaders. Kept apart
 * from schema.c, which walks tables, so each type's rule reads in one place.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/schema.h>

#include "schema.h"

/*
 * Checks @setting (present in the file) against @field, recursing into
 * groups; normalises it in place (lower case, absolute path). Every problem
 * goes to the validation's diagnostics. Returns TRUE when it passed.
 */
gboolean nbx_field_check(const struct nbx_config_field *field, config_setting_t *setting,
			 const char *key_path, const NbxValidation *validation);

/*
 * @field is absent from @group: reports it when required, adds its default
 * when it has one, creates an absent GROUP so its children get defaults.
 */
void nbx_field_apply_default(config_setting_t *group, const struct nbx_config_field *field,
			     const char *key_path, const NbxValidation *validation);

/*
 * Adds member @field->name to @group, parsed from @text with the field's
 * type (the syntax of `default_value`). On a syntax error, appends the
 * reason to @why and returns FALSE.
 */
gboolean nbx_field_set_from_text(config_setting_t *group, const struct nbx_config_field *field,
				 const char *text, GString *why);
