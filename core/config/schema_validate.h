/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validating configuration groups against schemas (schema_validate.c).
 */
#pragma once

#include <glib.h>
#include <libconfig.h>

#include "field_check.h"
#include "schema.h"

/*
 * Validates every key of @group against @schema, reporting each problem as
 * `file:line: KEY_PREFIX.key: what is wrong`. Adds defaults for absent keys,
 * lower-cases LOWERCASE values and makes relative paths absolute, so that
 * afterwards every declared key with a default has a valid value. A group
 * whose schema declares `enabled` and that says `enabled = false` is not
 * validated beyond that key. Returns TRUE when nothing was reported.
 */
gboolean nbx_schema_validate_group(const NbxSchema *schema, config_setting_t *group,
				   const char *key_prefix, const NbxValidation *validation);

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
