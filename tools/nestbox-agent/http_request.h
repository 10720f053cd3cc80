/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request line and headers of one HTTP/1.0 or 1.1 request, read within
 * the bounds of request_limits.h. Only what the agent acts on is kept: the
 * method, the target, the version, and the body's framing and type.
 */
#ifndef NESTBOX_AGENT_HTTP_REQUEST_H
#define NESTBOX_AGENT_HTTP_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "byte_reader.h"
#include "request_error.h"
#include "request_limits.h"

struct nba_request {
	char method[16];
	char target[NBA_MAX_REQUEST_LINE + 2];
	int version_minor; /* HTTP/1.x */
	bool has_content_length;
	uint64_t content_length;
	bool has_transfer_encoding;
	bool expect_continue;
	char content_type[NBA_MAX_CONTENT_TYPE + 1];
};

/*
 * Reads the head from @r. False with @err filled when the request cannot be
 * served: 400 malformed, 414 request line too long, 431 headers too large,
 * 417 an Expect other than 100-continue, 505 not HTTP/1.x, status 0 when
 * the stream ended or failed before a whole head arrived.
 */
bool nba_request_read_head(struct nba_reader *r, struct nba_request *req, struct nba_error *err);

/* Case-insensitive ASCII comparison of at most @n bytes. */
bool nba_ascii_prefix(const char *s, const char *prefix);
bool nba_ascii_equal(const char *a, const char *b);

#endif
