/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every bound nestbox-agent puts on what a client sends, in one place, so
 * PROTOCOL.md and the fuzz target can name them. A request over a bound is
 * refused with a 4xx naming it, never truncated silently.
 */
#ifndef NESTBOX_AGENT_REQUEST_LIMITS_H
#define NESTBOX_AGENT_REQUEST_LIMITS_H

/* The request line ("POST /store HTTP/1.1"), without its CRLF. */
#define NBA_MAX_REQUEST_LINE 8192
/* One header line, and all header lines together. */
#define NBA_MAX_HEADER_LINE 8192
#define NBA_MAX_HEADER_BYTES 32768
#define NBA_MAX_HEADERS 64
/* Content-Type of the request (it carries the multipart boundary). */
#define NBA_MAX_CONTENT_TYPE 1024
/* RFC 2046: a boundary is 1..70 characters. */
#define NBA_MAX_BOUNDARY 70

/* A body that is only form fields (every route but /store). */
#define NBA_MAX_FORM_BODY (1024 * 1024)
/* Form fields of one request, the length of a field name and of a value. */
#define NBA_MAX_FIELDS 32
#define NBA_MAX_FIELD_NAME 256
#define NBA_MAX_FIELD_VALUE 65536
/* Parts of a multipart body, and the headers of one part. */
#define NBA_MAX_PARTS 32
#define NBA_MAX_PART_HEADER_LINE 8192
#define NBA_MAX_PART_HEADERS 16

#endif
