/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A buffered reader over a byte source (a socket in the agent, memory in the
 * fuzz target), with lines bounded by the caller and an optional limit that
 * makes the reader end where the request body ends (Content-Length).
 */
#ifndef NESTBOX_AGENT_BYTE_READER_H
#define NESTBOX_AGENT_BYTE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Reads up to @len bytes into @buf: the count (> 0), 0 at the end of the
 * stream, -1 on an error with errno set (ETIMEDOUT for a deadline).
 */
typedef ssize_t (*nba_read_fn)(void *ctx, void *buf, size_t len);

enum nba_read_status {
	NBA_READ_OK = 0,
	NBA_READ_EOF,       /* the stream (or the body) ended before the first byte */
	NBA_READ_TRUNCATED, /* it ended in the middle of a line */
	NBA_READ_TOO_LONG,  /* no line end within the caller's bound */
	NBA_READ_ERROR,     /* the source failed: errno says why */
};

struct nba_reader {
	nba_read_fn read;
	void *ctx;
	unsigned char buf[16384];
	size_t pos, end;
	bool limited;       /* reading a body: at most @left more bytes */
	uint64_t left;
	int error;          /* errno of the last NBA_READ_ERROR */
};

void nba_reader_init(struct nba_reader *r, nba_read_fn read, void *ctx);

/* From now on the reader ends after @length more bytes (the body). */
void nba_reader_limit(struct nba_reader *r, uint64_t length);

/*
 * One line, its end ("\n" or "\r\n") removed, NUL-terminated in @line (which
 * holds @max + 2 bytes); @len gets its length. A line of more than @max
 * bytes is NBA_READ_TOO_LONG.
 */
enum nba_read_status nba_reader_line(struct nba_reader *r, char *line, size_t max, size_t *len);

/* Up to @len bytes: the count, 0 at the end, -1 on an error (r->error). */
ssize_t nba_reader_read(struct nba_reader *r, void *dst, size_t len);

/* Reads and drops up to @len bytes of what is left; false on an error. */
bool nba_reader_skip(struct nba_reader *r, uint64_t len);

#endif
