/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checks of one value against one field: the type loaders, for scalars
 * and lists of scalars. Groups are schema_validate.c's (the recursion lives
 * there only), so this file needs nothing of it.
 */
#pragma once

#include <glib.h>
#include <libconfig.h>
#include <nestbox/schema.h>

#include "diagnostics.h"

/* How validation treats the world outside the file. */
typedef struct {
	NbxDiagnostics *diagnostics;
	/* Relative paths are made absolute against this directory. */
	const char *base_dir;
	/*
	 * FALSE: check syntax only (no stat(), no interface look-up); used
	 * for defaults and by the fuzzer.
	 */
	gboolean check_environment;
} NbxValidation;

/*
 * Checks @setting against @field, a scalar or a LIST (not a group);
 * normalises it in place (lower case, absolute path). Every problem goes to
 * the validation's diagnostics. Returns TRUE when it passed.
 */
gboolean nbx_field_check_value(const struct nbx_config_field *field, config_setting_t *setting,
			       const char *key_path, const NbxValidation *validation);

/*
 * Adds member @field->name to @group, parsed from @text with the field's
 * type (the syntax of `default_value`). On a syntax error, appends the
 * reason to @why and returns FALSE.
 */
gboolean nbx_field_set_from_text(config_setting_t *group, const struct nbx_config_field *field,
				 const char *text, GString *why);

/* Reports a problem of @setting as `file:line: KEY_PATH: message`. */
void nbx_field_report(const NbxValidation *validation, const config_setting_t *setting,
		      const char *key_path, const char *format, ...) G_GNUC_PRINTF(4, 5);

/* Reports "expected EXPECTED, found ..." unless @ok; returns @ok. */
gboolean nbx_field_expect_type(const NbxValidation *validation, const config_setting_t *setting,
			       const char *key_path, const char *expected, gboolean ok);

/* The NON_EMPTY flag and the min/max bounds of a list's length. */
gboolean nbx_field_check_count(const struct nbx_config_field *field, config_setting_t *setting,
			       const char *key_path, const NbxValidation *validation);
