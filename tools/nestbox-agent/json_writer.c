/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json_writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
nba_json_init(struct nba_json *j, size_t max)
{
	memset(j, 0, sizeof *j);
	j->max = max;
}

void
nba_json_free(struct nba_json *j)
{
	free(j->buf);
	j->buf = NULL;
	j->len = j->cap = 0;
}

static void
append(struct nba_json *j, const char *data, size_t n)
{
	if (j->overflow)
		return;
	if (j->len + n > j->max) {
		j->overflow = true;
		return;
	}
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 256;
		char *grown;

		while (cap < j->len + n + 1)
			cap *= 2;
		grown = realloc(j->buf, cap);
		if (grown == NULL) {
			j->overflow = true;
			return;
		}
		j->buf = grown;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, data, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

/* ", " before a key or an array element that is not the first of its level. */
static void
separate(struct nba_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth == 0)
		return;
	if (!j->first[j->depth - 1])
		append(j, ", ", 2);
	j->first[j->depth - 1] = false;
}

static void
open_level(struct nba_json *j, char c)
{
	if (j->depth == NBA_JSON_MAX_DEPTH) {
		j->overflow = true;
		return;
	}
	separate(j);
	append(j, &c, 1);
	j->first[j->depth++] = true;
}

void
nba_json_begin_object(struct nba_json *j)
{
	open_level(j, '{');
}

void
nba_json_end_object(struct nba_json *j)
{
	if (j->depth > 0)
		j->depth--;
	append(j, "}", 1);
}

void
nba_json_begin_array(struct nba_json *j)
{
	open_level(j, '[');
}

void
nba_json_end_array(struct nba_json *j)
{
	if (j->depth > 0)
		j->depth--;
	append(j, "]", 1);
}

/*
 * The code point at @s (at most @len bytes), strictly UTF-8: no overlong
 * forms, no surrogates, nothing above U+10FFFF. Returns the bytes it took,
 * or 0 for an invalid sequence.
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, c &= 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, c &= 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* The escape of one code point into @out (at most 12 bytes); its length. */
static size_t
escape_code_point(uint32_t c, char *out)
{
	static const char short_escape[] = "btn\0fr";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c >= 0x08 && c <= 0x0d && c != 0x0b) {
		out[0] = '\\';
		out[1] = short_escape[c - 0x08];
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x10000)
		return (size_t)snprintf(out, 13, "\\u%04x", (unsigned)c);
	c -= 0x10000;
	return (size_t)snprintf(out, 13, "\\u%04x\\u%04x", 0xd800u + (unsigned)(c >> 10),
				0xdc00u + (unsigned)(c & 0x3ff));
}

/* Appends @s escaped to @j (when not NULL); the escaped size. */
static size_t
escape_string(const char *s, size_t len, struct nba_json *j)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t total = 0;
	char piece[16];

	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t took = utf8_decode(p + i, len - i, &cp);
		size_t n;

		if (took == 0) {
			cp = 0xfffd;
			took = 1;
		}
		n = escape_code_point(cp, piece);
		if (j != NULL)
			append(j, piece, n);
		total += n;
		i += took;
	}
	return total;
}

size_t
nba_json_escaped_size(const char *s, size_t len)
{
	return escape_string(s, len, NULL) + 2;
}

void
nba_json_key(struct nba_json *j, const char *key)
{
	separate(j);
	append(j, "\"", 1);
	escape_string(key, strlen(key), j);
	append(j, "\": ", 3);
	j->after_key = true;
}

void
nba_json_string(struct nba_json *j, const char *s, size_t len)
{
	separate(j);
	append(j, "\"", 1);
	escape_string(s, len, j);
	append(j, "\"", 1);
}

void
nba_json_cstring(struct nba_json *j, const char *s)
{
	if (s == NULL)
		nba_json_null(j);
	else
		nba_json_string(j, s, strlen(s));
}

void
nba_json_number_text(struct nba_json *j, const char *text)
{
	separate(j);
	append(j, text, strlen(text));
}

void
nba_json_int(struct nba_json *j, long long v)
{
	char text[32];

	snprintf(text, sizeof text, "%lld", v);
	nba_json_number_text(j, text);
}

void
nba_json_bool(struct nba_json *j, bool v)
{
	nba_json_number_text(j, v ? "true" : "false");
}

void
nba_json_null(struct nba_json *j)
{
	nba_json_number_text(j, "null");
}

struct nba_json_mark
nba_json_mark(const struct nba_json *j)
{
	struct nba_json_mark mark = { .len = j->len, .depth = j->depth, .after_key = j->after_key };

	if (j->depth > 0)
		mark.first = j->first[j->depth - 1];
	return mark;
}

void
nba_json_rollback(struct nba_json *j, struct nba_json_mark mark)
{
	j->overflow = false;
	j->len = mark.len;
	if (j->buf != NULL)
		j->buf[j->len] = '\0';
	j->depth = mark.depth;
	j->after_key = mark.after_key;
	if (j->depth > 0)
		j->first[j->depth - 1] = mark.first;
}
