/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * multipart/form-data, streamed through a fixed window: fields are kept
 * (bounded), file parts go to the sink as they arrive, so a 4 GiB upload
 * needs no more memory than a 4 KiB one.
 *
 * The delimiter is CRLF "--" boundary; the body is read as if it began with
 * a CRLF, so the first boundary line needs no special case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "header_params.h"
#include "http_request.h"

#define WINDOW (64 * 1024)

enum part_target { TO_PREAMBLE, TO_FIELD, TO_FILE, TO_NOWHERE };

struct multipart {
	struct nba_reader *r;
	const struct nba_file_sink *sink;
	struct nba_form *form;
	struct nba_error *err;
	char delim[4 + NBA_MAX_BOUNDARY + 1];
	size_t delim_len;
	int parts;
	enum part_target target;
	char name[NBA_MAX_FIELD_NAME + 1];
	char *value; /* the field being read */
	size_t value_len;
	bool body_ended;
	size_t have;
	unsigned char window[WINDOW];
};

struct part_headers {
	bool has_disposition;
	bool is_file;
	char charset[64];
};

static bool
fill(struct multipart *mp)
{
	ssize_t got = nba_reader_read(mp->r, mp->window + mp->have, WINDOW - mp->have);

	if (got < 0) {
		nba_error_set(mp->err, 0, "reading the multipart body failed");
		return false;
	}
	if (got == 0)
		mp->body_ended = true;
	mp->have += (size_t)got;
	return true;
}

static void
consume(struct multipart *mp, size_t n)
{
	memmove(mp->window, mp->window + n, mp->have - n);
	mp->have -= n;
}

static bool
truncated(struct multipart *mp)
{
	nba_error_set(mp->err, 400, "the multipart body ends before its closing boundary");
	return false;
}

static bool
deliver(struct multipart *mp, const unsigned char *data, size_t n)
{
	if (n == 0)
		return true;
	switch (mp->target) {
	case TO_FIELD:
		if (mp->value_len + n > NBA_MAX_FIELD_VALUE) {
			nba_error_set(mp->err, 413, "form field \"%s\" is longer than %d bytes",
				      mp->name, NBA_MAX_FIELD_VALUE);
			return false;
		}
		memcpy(mp->value + mp->value_len, data, n);
		mp->value_len += n;
		return true;
	case TO_FILE:
		return mp->sink->write(mp->sink->ctx, data, n, mp->err);
	case TO_PREAMBLE:
	case TO_NOWHERE:
		break;
	}
	return true;
}

/* Hands the bytes before the next delimiter to deliver(), then drops the delimiter. */
static bool
copy_until_delimiter(struct multipart *mp)
{
	for (;;) {
		unsigned char *hit = memmem(mp->window, mp->have, mp->delim, mp->delim_len);
		size_t keep;

		if (hit != NULL) {
			size_t n = (size_t)(hit - mp->window);

			if (!deliver(mp, mp->window, n))
				return false;
			consume(mp, n + mp->delim_len);
			return true;
		}
		if (mp->body_ended)
			return truncated(mp);
		/* the tail may be the start of a delimiter split across reads */
		keep = mp->have < mp->delim_len - 1 ? mp->have : mp->delim_len - 1;
		if (!deliver(mp, mp->window, mp->have - keep))
			return false;
		consume(mp, mp->have - keep);
		if (!fill(mp))
			return false;
	}
}

/* One line of the window, its end removed; NULL-free checks are the caller's. */
static bool
window_line(struct multipart *mp, char *line, size_t max, size_t *len)
{
	for (;;) {
		unsigned char *nl = memchr(mp->window, '\n', mp->have);

		if (nl != NULL) {
			size_t n = (size_t)(nl - mp->window);
			size_t text = n > 0 && nl[-1] == '\r' ? n - 1 : n;

			if (text > max)
				break;
			memcpy(line, mp->window, text);
			line[text] = '\0';
			*len = text;
			consume(mp, n + 1);
			return true;
		}
		if (mp->have > max + 1)
			break;
		if (mp->body_ended)
			return truncated(mp);
		if (!fill(mp))
			return false;
	}
	nba_error_set(mp->err, 431, "a line of multipart headers is longer than %zu bytes", max);
	return false;
}

/* After a delimiter: "--" ends the body, else blanks and a line end start a part. */
static bool
after_delimiter(struct multipart *mp, bool *last)
{
	char line[66];
	size_t len;

	while (mp->have < 2 && !mp->body_ended) {
		if (!fill(mp))
			return false;
	}
	if (mp->have < 2)
		return truncated(mp);
	*last = mp->window[0] == '-' && mp->window[1] == '-';
	if (*last)
		return true;
	if (!window_line(mp, line, 64, &len))
		return false;
	if (strspn(line, " \t") != len) {
		nba_error_set(mp->err, 400, "multipart: a boundary line holds more than the boundary");
		return false;
	}
	return true;
}

static bool
part_disposition(struct multipart *mp, const char *value, struct part_headers *ph)
{
	char main_value[32], scratch[1024];
	enum nba_param_result name, filename, filename_ext;

	if (ph->has_disposition) {
		nba_error_set(mp->err, 400, "multipart part %d: two Content-Disposition headers",
			      mp->parts);
		return false;
	}
	ph->has_disposition = true;
	name = nba_header_param(value, "name", mp->name, sizeof mp->name);
	filename = nba_header_param(value, "filename", scratch, sizeof scratch);
	if (filename == NBA_PARAM_FOUND && scratch[0] == '\0')
		filename = NBA_PARAM_ABSENT; /* agent.py: an empty file name is a field */
	filename_ext = nba_header_param(value, "filename*", scratch, sizeof scratch);
	if (nba_header_main_value(value, main_value, sizeof main_value) != NBA_PARAM_FOUND ||
	    strcmp(main_value, "form-data") != 0 || name != NBA_PARAM_FOUND ||
	    mp->name[0] == '\0' || filename == NBA_PARAM_MALFORMED ||
	    filename_ext == NBA_PARAM_MALFORMED) {
		nba_error_set(mp->err, 400, "multipart part %d: Content-Disposition must be "
			      "form-data with a name (and at most 1023 bytes a parameter)", mp->parts);
		return false;
	}
	ph->is_file = filename == NBA_PARAM_FOUND || filename_ext == NBA_PARAM_FOUND;
	return true;
}

static bool
part_header(struct multipart *mp, char *line, size_t len, struct part_headers *ph)
{
	char *colon = memchr(line, ':', len);
	char *value;

	if (colon == NULL || memchr(line, '\0', len) != NULL) {
		nba_error_set(mp->err, 400, "multipart part %d: malformed header line", mp->parts);
		return false;
	}
	*colon = '\0';
	value = colon + 1;
	if (nba_ascii_equal(line, "Content-Disposition"))
		return part_disposition(mp, value, ph);
	if (nba_ascii_equal(line, "Content-Type")) {
		if (nba_header_param(value, "charset", ph->charset, sizeof ph->charset) ==
		    NBA_PARAM_MALFORMED) {
			nba_error_set(mp->err, 400, "multipart part %d: malformed Content-Type",
				      mp->parts);
			return false;
		}
	} else if (nba_ascii_equal(line, "Content-Transfer-Encoding")) {
		char cte[32];

		if (nba_header_main_value(value, cte, sizeof cte) != NBA_PARAM_FOUND ||
		    (strcmp(cte, "binary") != 0 && strcmp(cte, "8bit") != 0 &&
		     strcmp(cte, "7bit") != 0)) {
			nba_error_set(mp->err, 400, "multipart part %d: only binary, 8bit and 7bit "
				      "transfer encodings are accepted", mp->parts);
			return false;
		}
	}
	return true;
}

static bool
read_part_headers(struct multipart *mp, struct part_headers *ph)
{
	char line[NBA_MAX_PART_HEADER_LINE + 1];
	size_t len;

	memset(ph, 0, sizeof *ph);
	for (int count = 0;; count++) {
		if (!window_line(mp, line, NBA_MAX_PART_HEADER_LINE, &len))
			return false;
		if (len == 0)
			break;
		if (count == NBA_MAX_PART_HEADERS) {
			nba_error_set(mp->err, 431, "multipart part %d: more than %d headers",
				      mp->parts, NBA_MAX_PART_HEADERS);
			return false;
		}
		if (!part_header(mp, line, len, ph))
			return false;
	}
	if (!ph->has_disposition) {
		nba_error_set(mp->err, 400, "multipart part %d: no Content-Disposition", mp->parts);
		return false;
	}
	if (!ph->is_file && ph->charset[0] != '\0' && !nba_ascii_equal(ph->charset, "utf-8") &&
	    !nba_ascii_equal(ph->charset, "us-ascii")) {
		nba_error_set(mp->err, 400, "form field \"%s\": charset %s is not accepted (UTF-8 only)",
			      mp->name, ph->charset);
		return false;
	}
	return true;
}

static bool
start_part(struct multipart *mp, const struct part_headers *ph)
{
	mp->value_len = 0;
	if (!ph->is_file) {
		mp->target = TO_FIELD;
		return true;
	}
	mp->target = TO_NOWHERE;
	if (mp->sink == NULL)
		return true;
	switch (mp->sink->begin(mp->sink->ctx, mp->name, mp->form, mp->err)) {
	case NBA_FILE_TAKE:
		mp->target = TO_FILE;
		return true;
	case NBA_FILE_DISCARD:
		return true;
	case NBA_FILE_ERROR:
		break;
	}
	return false;
}

static bool
read_parts(struct multipart *mp)
{
	bool last = false;

	mp->target = TO_PREAMBLE;
	if (!copy_until_delimiter(mp))
		return false;
	for (;;) {
		struct part_headers ph;

		if (!after_delimiter(mp, &last))
			return false;
		if (last)
			return true; /* the epilogue is left unread */
		if (++mp->parts > NBA_MAX_PARTS) {
			nba_error_set(mp->err, 413, "more than %d multipart parts", NBA_MAX_PARTS);
			return false;
		}
		if (!read_part_headers(mp, &ph) || !start_part(mp, &ph) ||
		    !copy_until_delimiter(mp))
			return false;
		if (mp->target == TO_FIELD &&
		    !nba_form_add(mp->form, mp->name, strlen(mp->name), mp->value, mp->value_len,
				  mp->err))
			return false;
	}
}

bool
nba_form_read_multipart(struct nba_reader *r, const char *content_type,
			const struct nba_file_sink *sink, struct nba_form *form,
			struct nba_error *err)
{
	char boundary[NBA_MAX_BOUNDARY + 1];
	struct multipart *mp;
	bool ok;

	if (nba_header_param(content_type, "boundary", boundary, sizeof boundary) !=
	    NBA_PARAM_FOUND || boundary[0] == '\0') {
		nba_error_set(err, 400, "multipart/form-data needs a boundary of 1 to %d characters",
			      NBA_MAX_BOUNDARY);
		return false;
	}
	mp = calloc(1, sizeof *mp);
	if (mp == NULL || (mp->value = malloc(NBA_MAX_FIELD_VALUE)) == NULL) {
		free(mp);
		nba_error_set(err, 503, "out of memory");
		return false;
	}
	mp->r = r;
	mp->sink = sink;
	mp->form = form;
	mp->err = err;
	mp->delim_len = (size_t)snprintf(mp->delim, sizeof mp->delim, "\r\n--%s", boundary);
	memcpy(mp->window, "\r\n", 2);
	mp->have = 2;
	ok = read_parts(mp);
	free(mp->value);
	free(mp);
	return ok;
}
