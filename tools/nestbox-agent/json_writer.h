/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON answers, written the way agent.py's json.dumps writes them
 * (", " and ": " separators, ASCII only with \uXXXX escapes), with a bound
 * on the whole text. Bytes that are not UTF-8 become U+FFFD, as agent.py's
 * decode("utf8", "replace") makes them.
 */
#ifndef NESTBOX_AGENT_JSON_WRITER_H
#define NESTBOX_AGENT_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#define NBA_JSON_MAX_DEPTH 8

struct nba_json {
	char *buf;
	size_t len, cap, max;
	bool overflow; /* something did not fit in @max: the text is incomplete */
	int depth;
	bool first[NBA_JSON_MAX_DEPTH]; /* nothing written yet at this level */
	bool after_key;                 /* the next value follows a key: no ", " */
};

/* A point to come back to when an entry would not fit (see nba_json_rollback). */
struct nba_json_mark {
	size_t len;
	int depth;
	bool first;
	bool after_key;
};

void nba_json_init(struct nba_json *j, size_t max);
void nba_json_free(struct nba_json *j);

void nba_json_begin_object(struct nba_json *j);
void nba_json_end_object(struct nba_json *j);
void nba_json_begin_array(struct nba_json *j);
void nba_json_end_array(struct nba_json *j);
void nba_json_key(struct nba_json *j, const char *key);
void nba_json_string(struct nba_json *j, const char *s, size_t len);
void nba_json_cstring(struct nba_json *j, const char *s); /* NULL writes null */
void nba_json_int(struct nba_json *j, long long v);
void nba_json_bool(struct nba_json *j, bool v);
void nba_json_null(struct nba_json *j);
/* A number already formatted by the caller (e.g. "1700000000.25"). */
void nba_json_number_text(struct nba_json *j, const char *text);

struct nba_json_mark nba_json_mark(const struct nba_json *j);
void nba_json_rollback(struct nba_json *j, struct nba_json_mark mark);

/* Bytes @len bytes of @s take once escaped (for budgeting before writing). */
size_t nba_json_escaped_size(const char *s, size_t len);

#endif
