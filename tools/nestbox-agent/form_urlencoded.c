/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* application/x-www-form-urlencoded, read whole (it is bounded by NBA_MAX_FORM_BODY). */
#include <stdlib.h>
#include <string.h>

#include "form.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes "+" and "%XX" in place; the decoded length, or -1 on a bad escape. */
static long
percent_decode(char *s, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			s[out++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			s[out++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			s[out++] = s[i];
		}
	}
	return (long)out;
}

static bool
add_pair(struct nba_form *form, char *pair, size_t len, struct nba_error *err)
{
	char *eq = memchr(pair, '=', len);
	size_t name_len;
	long decoded_name, decoded_value;

	/* parse_qs(keep_blank_values=False): "a" and "a=" are not fields */
	if (eq == NULL || eq == pair + len - 1)
		return true;
	name_len = (size_t)(eq - pair);
	decoded_name = percent_decode(pair, name_len);
	decoded_value = percent_decode(eq + 1, len - name_len - 1);
	if (decoded_name < 0 || decoded_value < 0) {
		nba_error_set(err, 400, "urlencoded body: a %% is not followed by two hex digits");
		return false;
	}
	return nba_form_add(form, pair, (size_t)decoded_name, eq + 1, (size_t)decoded_value, err);
}

bool
nba_form_read_urlencoded(struct nba_reader *r, uint64_t length, struct nba_form *form,
			 struct nba_error *err)
{
	char *body;
	size_t have = 0;
	bool ok = true;

	if (length > NBA_MAX_FORM_BODY) {
		nba_error_set(err, 413, "an urlencoded body is limited to %d bytes",
			      NBA_MAX_FORM_BODY);
		return false;
	}
	body = malloc((size_t)length + 1);
	if (body == NULL) {
		nba_error_set(err, 503, "out of memory");
		return false;
	}
	while (have < length) {
		ssize_t got = nba_reader_read(r, body + have, (size_t)length - have);

		if (got <= 0) {
			nba_error_set(err, 0, "the body ended after %zu of %zu bytes", have,
				      (size_t)length);
			free(body);
			return false;
		}
		have += (size_t)got;
	}
	for (size_t start = 0; ok && start <= have;) {
		char *amp = memchr(body + start, '&', have - start);
		size_t end = amp != NULL ? (size_t)(amp - body) : have;

		ok = add_pair(form, body + start, end - start, err);
		start = end + 1;
	}
	free(body);
	return ok;
}
