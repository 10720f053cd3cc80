/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "header_params.h"

#include <stdbool.h>
#include <string.h>

#include "http_request.h"

static const char *
skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

enum nba_param_result
nba_header_main_value(const char *header, char *out, size_t out_size)
{
	const char *start = skip_blanks(header);
	const char *end = strchr(start, ';');
	size_t len;

	if (end == NULL)
		end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - start);
	if (len == 0)
		return NBA_PARAM_ABSENT;
	if (len >= out_size)
		return NBA_PARAM_MALFORMED;
	for (size_t i = 0; i < len; i++) {
		char c = start[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return NBA_PARAM_FOUND;
}

/* A quoted-string at @p (after its opening quote); the end after the closing one. */
static const char *
read_quoted(const char *p, char *out, size_t out_size, size_t *len)
{
	size_t n = 0;

	for (;; p++) {
		char c = *p;

		if (c == '\0')
			return NULL;
		if (c == '"')
			break;
		if (c == '\\') {
			c = *++p;
			if (c == '\0')
				return NULL;
		}
		if (n + 1 >= out_size)
			return NULL;
		out[n++] = c;
	}
	out[n] = '\0';
	*len = n;
	return p + 1;
}

static const char *
read_token(const char *p, char *out, size_t out_size, size_t *len)
{
	size_t n = 0;

	while (is_token_char((unsigned char)p[n])) {
		if (n + 1 >= out_size)
			return NULL;
		out[n] = p[n];
		n++;
	}
	if (n == 0)
		return NULL;
	out[n] = '\0';
	*len = n;
	return p + n;
}

/* One "; name=value" at @p; NULL when malformed. */
static const char *
next_param(const char *p, char *name, size_t name_size, char *value, size_t value_size)
{
	size_t len;

	p = skip_blanks(p);
	if (*p != ';')
		return NULL;
	p = read_token(skip_blanks(p + 1), name, name_size, &len);
	if (p == NULL || *(p = skip_blanks(p)) != '=')
		return NULL;
	p = skip_blanks(p + 1);
	if (*p == '"')
		p = read_quoted(p + 1, value, value_size, &len);
	else
		p = read_token(p, value, value_size, &len);
	return p;
}

enum nba_param_result
nba_header_param(const char *header, const char *name, char *out, size_t out_size)
{
	const char *p = strchr(header, ';');
	char this_name[64];
	char scratch[1024];
	bool found = false;

	if (p == NULL)
		return NBA_PARAM_ABSENT;
	while (*skip_blanks(p) != '\0') {
		bool match;

		/* a trailing ";" ends the list, as senders often write it */
		if (*skip_blanks(p) == ';' && *skip_blanks(skip_blanks(p) + 1) == '\0')
			break;
		p = next_param(p, this_name, sizeof this_name, scratch, sizeof scratch);
		if (p == NULL)
			return NBA_PARAM_MALFORMED;
		match = nba_ascii_equal(this_name, name);
		if (match && found)
			return NBA_PARAM_MALFORMED;
		if (match) {
			if (strlen(scratch) >= out_size)
				return NBA_PARAM_MALFORMED;
			strcpy(out, scratch);
			found = true;
		}
	}
	return found ? NBA_PARAM_FOUND : NBA_PARAM_ABSENT;
}
