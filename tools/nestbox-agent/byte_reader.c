/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "byte_reader.h"

#include <errno.h>
#include <string.h>

void
nba_reader_init(struct nba_reader *r, nba_read_fn read, void *ctx)
{
	memset(r, 0, sizeof *r);
	r->read = read;
	r->ctx = ctx;
}

void
nba_reader_limit(struct nba_reader *r, uint64_t length)
{
	r->limited = true;
	r->left = length;
}

/* Bytes the caller may still take from the buffer. */
static size_t
buffered(const struct nba_reader *r)
{
	size_t have = r->end - r->pos;

	if (r->limited && have > r->left)
		return (size_t)r->left;
	return have;
}

/* Refills an empty buffer: bytes now available, 0 at the end, -1 on an error. */
static ssize_t
fill(struct nba_reader *r)
{
	ssize_t got;

	if (r->limited && r->left == 0)
		return 0;
	r->pos = r->end = 0;
	do
		got = r->read(r->ctx, r->buf, sizeof r->buf);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		r->error = errno;
		return -1;
	}
	r->end = (size_t)got;
	return (ssize_t)buffered(r);
}

static void
consume(struct nba_reader *r, size_t n)
{
	r->pos += n;
	if (r->limited)
		r->left -= n;
}

enum nba_read_status
nba_reader_line(struct nba_reader *r, char *line, size_t max, size_t *len)
{
	size_t have = 0;

	for (;;) {
		size_t avail = buffered(r);
		const unsigned char *start = r->buf + r->pos;
		const unsigned char *nl;
		size_t take;

		if (avail == 0) {
			ssize_t got = fill(r);

			if (got < 0)
				return NBA_READ_ERROR;
			if (got == 0)
				return have == 0 ? NBA_READ_EOF : NBA_READ_TRUNCATED;
			continue;
		}
		nl = memchr(start, '\n', avail);
		take = nl != NULL ? (size_t)(nl - start) : avail;
		/* +1: room for a "\r" before the "\n", which does not count */
		if (have + take > max + 1)
			return NBA_READ_TOO_LONG;
		memcpy(line + have, start, take);
		have += take;
		consume(r, take + (nl != NULL));
		if (nl != NULL)
			break;
	}
	if (have > 0 && line[have - 1] == '\r')
		have--;
	if (have > max)
		return NBA_READ_TOO_LONG;
	line[have] = '\0';
	*len = have;
	return NBA_READ_OK;
}

ssize_t
nba_reader_read(struct nba_reader *r, void *dst, size_t len)
{
	size_t avail = buffered(r);

	if (len == 0)
		return 0;
	if (avail == 0) {
		ssize_t got = fill(r);

		if (got <= 0)
			return got;
		avail = (size_t)got;
	}
	if (len > avail)
		len = avail;
	memcpy(dst, r->buf + r->pos, len);
	consume(r, len);
	return (ssize_t)len;
}

bool
nba_reader_skip(struct nba_reader *r, uint64_t len)
{
	while (len > 0) {
		size_t avail = buffered(r);
		size_t n;

		if (avail == 0) {
			ssize_t got = fill(r);

			if (got < 0)
				return false;
			if (got == 0)
				return true;
			avail = (size_t)got;
		}
		n = len < avail ? (size_t)len : avail;
		consume(r, n);
		len -= n;
	}
	return true;
}
