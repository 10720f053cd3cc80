/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Standard base64 (RFC 4648, with padding), for encoding=base64 answers. */
#ifndef NESTBOX_AGENT_BASE64_H
#define NESTBOX_AGENT_BASE64_H

#include <stddef.h>

/* The encoded size of @len bytes. */
size_t nba_base64_size(size_t len);

/* Encodes @len bytes of @in into @out (nba_base64_size(@len) bytes); that size. */
size_t nba_base64_encode(const unsigned char *in, size_t len, char *out);

#endif
