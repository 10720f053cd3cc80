/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A form's fields: added (by the parsers), looked up, cleared. */
#include "form.h"

#include <stdlib.h>
#include <string.h>

void
nba_form_clear(struct nba_form *form)
{
	for (size_t i = 0; i < form->count; i++) {
		free(form->fields[i].name);
		free(form->fields[i].value);
	}
	form->count = 0;
}

const struct nba_field *
nba_form_get(const struct nba_form *form, const char *name)
{
	for (size_t i = 0; i < form->count; i++) {
		if (strcmp(form->fields[i].name, name) == 0)
			return &form->fields[i];
	}
	return NULL;
}

static char *
copy_bytes(const char *data, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy != NULL) {
		memcpy(copy, data, len);
		copy[len] = '\0';
	}
	return copy;
}

bool
nba_form_add(struct nba_form *form, const char *name, size_t name_len, const char *value,
	     size_t value_len, struct nba_error *err)
{
	struct nba_field *field;

	if (name_len == 0 || name_len > NBA_MAX_FIELD_NAME || memchr(name, '\0', name_len)) {
		nba_error_set(err, 400, "a form field name is empty, holds a NUL byte or is longer "
			      "than %d bytes", NBA_MAX_FIELD_NAME);
		return false;
	}
	if (value_len > NBA_MAX_FIELD_VALUE) {
		nba_error_set(err, 413, "form field \"%.*s\" is longer than %d bytes",
			      (int)name_len, name, NBA_MAX_FIELD_VALUE);
		return false;
	}
	if (form->count == NBA_MAX_FIELDS) {
		nba_error_set(err, 413, "more than %d form fields", NBA_MAX_FIELDS);
		return false;
	}
	for (size_t i = 0; i < form->count; i++) {
		if (strlen(form->fields[i].name) == name_len &&
		    memcmp(form->fields[i].name, name, name_len) == 0) {
			nba_error_set(err, 400, "form field \"%.*s\" is given twice",
				      (int)name_len, name);
			return false;
		}
	}
	field = &form->fields[form->count];
	field->name = copy_bytes(name, name_len);
	field->value = copy_bytes(value, value_len);
	if (field->name == NULL || field->value == NULL) {
		free(field->name);
		free(field->value);
		nba_error_set(err, 503, "out of memory");
		return false;
	}
	field->len = value_len;
	form->count++;
	return true;
}
