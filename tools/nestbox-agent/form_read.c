/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A request body's form: its Content-Type picks the parser (form_urlencoded.c, form_multipart.c). */
#include <string.h>

#include "form.h"
#include "header_params.h"

bool
nba_form_read(struct nba_reader *r, const char *content_type, uint64_t length,
	      const struct nba_file_sink *sink, struct nba_form *form, struct nba_error *err)
{
	char media[128];
	enum nba_param_result found;

	if (length == 0)
		return true;
	found = nba_header_main_value(content_type, media, sizeof media);
	if (found == NBA_PARAM_FOUND && strcmp(media, "application/x-www-form-urlencoded") == 0)
		return nba_form_read_urlencoded(r, length, form, err);
	if (found == NBA_PARAM_FOUND && strcmp(media, "multipart/form-data") == 0)
		return nba_form_read_multipart(r, content_type, sink, form, err);
	nba_error_set(err, 415, "the body must be multipart/form-data or "
		      "application/x-www-form-urlencoded, not \"%.80s\"", content_type);
	return false;
}
