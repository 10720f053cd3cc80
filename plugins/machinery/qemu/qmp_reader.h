/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Splits the byte stream of a QMP socket into JSON objects. QEMU writes one
 * object per line, but a socket hands them over in arbitrary pieces, and a
 * broken or hostile peer may send anything: the reader never trusts it.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of arrays and objects a line may have; a deeper one is dropped. */
#define QMP_MAX_DEPTH 1024u

/* Called for every complete line that parses as a JSON object. */
typedef void (*QmpMessageFn)(void *user_data, JsonObject *message);

typedef struct {
	GString *line;
	/* Longest line kept; a longer one is dropped up to its newline. */
	size_t max_line;
	bool discarding;
	/* Lines dropped so far: not JSON objects, too long, or nested too deep. */
	unsigned rejected;
} QmpReader;

void qmp_reader_init(QmpReader *reader, size_t max_line);
void qmp_reader_clear(QmpReader *reader);

/* Consumes @len bytes of @data, calling @fn for each complete object. */
void qmp_reader_feed(QmpReader *reader, const char *data, size_t len, QmpMessageFn fn,
		     void *user_data);
