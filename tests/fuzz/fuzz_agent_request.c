/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: arbitrary bytes as what a client sends nestbox-agent,
 * through its request head parser, its form parsers (urlencoded and
 * streamed multipart, with a file sink), the path rule, shlex and the JSON
 * writer, delivered in pieces split at points derived from the input.
 *
 * Input layout: byte 0 seeds the piece sizes, the rest is the stream.
 *
 * Oracles besides the sanitizers:
 *  - every bound of request_limits.h holds for what the parsers return;
 *  - the outcome (status, message, fields, file bytes) does not depend on
 *    how the stream was split;
 *  - a path the rule accepts is absolute, NUL-free, without "."/".."
 *    components; shlex words fit in their text; JSON text is printable ASCII.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_reader.h"
#include "form.h"
#include "guest_path.h"
#include "http_request.h"
#include "json_writer.h"
#include "shlex_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(condition)                                                              \
	do {                                                                          \
		if (!(condition)) {                                                   \
			fprintf(stderr, "fuzz-agent: %s:%d: %s\n", __FILE__, __LINE__, \
				#condition);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

struct source {
	const uint8_t *data;
	size_t size, pos;
	unsigned seed; /* 0: whole reads */
};

static ssize_t
source_read(void *ctx, void *buf, size_t len)
{
	struct source *s = ctx;
	size_t n = s->size - s->pos;

	if (s->seed != 0) {
		size_t piece = 1 + (s->seed * 2654435761u + s->pos) % 97;

		if (n > piece)
			n = piece;
	}
	if (n > len)
		n = len;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

struct file_sink_state {
	uint64_t bytes;
	int files;
};

static enum nba_file_take
sink_begin(void *ctx, const char *name, const struct nba_form *form, struct nba_error *err)
{
	struct file_sink_state *st = ctx;

	(void)form;
	(void)err;
	check(strlen(name) <= NBA_MAX_FIELD_NAME);
	st->files++;
	return strcmp(name, "file") == 0 ? NBA_FILE_TAKE : NBA_FILE_DISCARD;
}

static bool
sink_write(void *ctx, const void *data, size_t len, struct nba_error *err)
{
	struct file_sink_state *st = ctx;

	(void)data;
	(void)err;
	st->bytes += len;
	return true;
}

static void
check_path_rule(const struct nba_field *f)
{
	if (nba_guest_path_problem(f->value, f->len) != NULL)
		return;
	check(f->len > 0 && f->value[0] == '/' && memchr(f->value, '\0', f->len) == NULL);
	check(strstr(f->value, "/../") == NULL && strstr(f->value, "/./") == NULL);
	check(!(f->len >= 3 && strcmp(f->value + f->len - 3, "/..") == 0));
	check(!(f->len >= 2 && strcmp(f->value + f->len - 2, "/.") == 0));
}

static void
check_shlex_and_json(const struct nba_field *f)
{
	struct nba_words words;
	struct nba_json j;

	if (nba_shlex_split(f->value, f->len, &words) == NULL) {
		check(words.count < NBA_SHLEX_MAX_WORDS && words.argv[words.count] == NULL);
		for (size_t i = 0; i < words.count; i++)
			check(strlen(words.argv[i]) <= f->len);
		nba_words_free(&words);
	}
	nba_json_init(&j, 8 * (size_t)NBA_MAX_FIELD_VALUE);
	nba_json_begin_object(&j);
	nba_json_key(&j, f->name);
	nba_json_string(&j, f->value, f->len);
	nba_json_end_object(&j);
	check(!j.overflow);
	for (size_t i = 0; i < j.len; i++)
		check(j.buf[i] >= 0x20 && j.buf[i] < 0x7f);
	nba_json_free(&j);
}

/* Runs the stream once; appends what came out to @outcome. */
static void
run(const uint8_t *data, size_t size, unsigned seed, char *outcome, size_t outcome_size)
{
	struct source src = { .data = data, .size = size, .seed = seed };
	struct file_sink_state st = { 0 };
	struct nba_file_sink sink = { .begin = sink_begin, .write = sink_write, .ctx = &st };
	struct nba_form form = { 0 };
	struct nba_error err = { 0 };
	struct nba_reader *r = malloc(sizeof *r);
	struct nba_request *req = malloc(sizeof *req);
	size_t n = 0;
	bool ok;

	nba_reader_init(r, source_read, &src);
	ok = nba_request_read_head(r, req, &err);
	if (ok) {
		check(strlen(req->target) <= NBA_MAX_REQUEST_LINE);
		check(strlen(req->content_type) <= NBA_MAX_CONTENT_TYPE);
		nba_reader_limit(r, req->content_length);
		ok = req->content_length <= 4 * NBA_MAX_FORM_BODY &&
		     nba_form_read(r, req->content_type, req->content_length, &sink, &form, &err);
		check(st.bytes <= req->content_length);
	}
	n += (size_t)snprintf(outcome + n, outcome_size - n, "%d %d %s|%d %llu|", ok, err.status,
			      err.message, st.files, (unsigned long long)st.bytes);
	check(form.count <= NBA_MAX_FIELDS);
	for (size_t i = 0; i < form.count; i++) {
		const struct nba_field *f = &form.fields[i];

		check(strlen(f->name) <= NBA_MAX_FIELD_NAME && f->len <= NBA_MAX_FIELD_VALUE);
		check(f->value[f->len] == '\0');
		check_path_rule(f);
		check_shlex_and_json(f);
		if (n < outcome_size)
			n += (size_t)snprintf(outcome + n, outcome_size - n, "%s=%zu:%.32s|", f->name,
					      f->len, f->value);
	}
	nba_form_clear(&form);
	free(req);
	free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char whole[65536], pieces[65536];

	if (size < 1)
		return 0;
	run(data + 1, size - 1, 0, whole, sizeof whole);
	run(data + 1, size - 1, 1u + data[0], pieces, sizeof pieces);
	if (strcmp(whole, pieces) != 0) {
		fprintf(stderr, "fuzz-agent: split-dependent outcome:\n  whole:  %s\n  pieces: %s\n",
			whole, pieces);
		abort();
	}
	return 0;
}
