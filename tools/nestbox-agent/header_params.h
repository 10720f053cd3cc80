/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Header values of the form `value; name=token; name="quoted \" string"`
 * (Content-Type, a part's Content-Disposition), read strictly: a value that
 * does not follow that grammar, or names a parameter twice, is malformed.
 */
#ifndef NESTBOX_AGENT_HEADER_PARAMS_H
#define NESTBOX_AGENT_HEADER_PARAMS_H

#include <stddef.h>

enum nba_param_result {
	NBA_PARAM_FOUND,
	NBA_PARAM_ABSENT,
	NBA_PARAM_MALFORMED, /* bad grammar, a parameter given twice, or too long for @out */
};

/* The value before the first ';', blanks trimmed, lower-cased, into @out. */
enum nba_param_result nba_header_main_value(const char *header, char *out, size_t out_size);

/* Parameter @name (case-insensitive), unquoted, into @out. */
enum nba_param_result nba_header_param(const char *header, const char *name, char *out,
				       size_t out_size);

#endif
