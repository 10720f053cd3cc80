/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The form fields of a request body, as the CAPE and Cuckoo agents read
 * them: application/x-www-form-urlencoded, or multipart/form-data whose
 * parts with a file name are files and the others fields. Files are not
 * kept: they stream to a sink (the /store route's upload) or are dropped.
 *
 * Differences from agent.py, all refusals (400) where it would guess:
 * a field named twice, a part with no name, a part encoded with base64 or
 * quoted-printable, a charset other than UTF-8/ASCII, a bad %-escape.
 * Like agent.py (parse_qs with keep_blank_values=False), an urlencoded
 * field with an empty value, or without "=", is absent.
 */
#ifndef NESTBOX_AGENT_FORM_H
#define NESTBOX_AGENT_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byte_reader.h"
#include "request_error.h"
#include "request_limits.h"

struct nba_field {
	char *name;  /* NUL-terminated, at most NBA_MAX_FIELD_NAME bytes */
	char *value; /* NUL-terminated after @len bytes, which may hold NULs */
	size_t len;
};

struct nba_form {
	struct nba_field fields[NBA_MAX_FIELDS];
	size_t count;
};

enum nba_file_take { NBA_FILE_DISCARD, NBA_FILE_TAKE, NBA_FILE_ERROR };

/* Where the parts with a file name go; NULL drops them all. */
struct nba_file_sink {
	/* A file part named @name starts; @form holds the fields read so far. */
	enum nba_file_take (*begin)(void *ctx, const char *name, const struct nba_form *form,
				    struct nba_error *err);
	bool (*write)(void *ctx, const void *data, size_t len, struct nba_error *err);
	void *ctx;
};

/*
 * Reads a body of @length bytes of type @content_type (may be "") from @r
 * into @form (which the caller zeroed). An empty body is an empty form
 * whatever its type; any other type is refused with 415.
 */
bool nba_form_read(struct nba_reader *r, const char *content_type, uint64_t length,
		   const struct nba_file_sink *sink, struct nba_form *form, struct nba_error *err);

void nba_form_clear(struct nba_form *form);

/* The field called @name, or NULL. */
const struct nba_field *nba_form_get(const struct nba_form *form, const char *name);

/* For the parsers (below nba_form_read(), form_read.c): adds a field; false (400/413 in @err) on a duplicate or a bound. */
bool nba_form_add(struct nba_form *form, const char *name, size_t name_len, const char *value,
		  size_t value_len, struct nba_error *err);

bool nba_form_read_urlencoded(struct nba_reader *r, uint64_t length, struct nba_form *form,
			      struct nba_error *err);
bool nba_form_read_multipart(struct nba_reader *r, const char *content_type,
			     const struct nba_file_sink *sink, struct nba_form *form,
			     struct nba_error *err);

#endif
