/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Answers. Every answer closes the connection (agent.py speaks HTTP/1.0 and
 * does the same); JSON answers carry a Content-Length, which agent.py's do
 * not, so a client may read either way. The JSON shapes are agent.py's:
 * success {"message": ..., extra keys}, error {"message", "error_code",
 * extra keys} with error_code as the HTTP status, an exception adds
 * "traceback" (here: what failed, with the system's reason).
 */
#ifndef NESTBOX_AGENT_HTTP_RESPONSE_H
#define NESTBOX_AGENT_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.h"
#include "json_writer.h"

/*
 * The client closed or reset its end, so nobody will read an answer (HTTP
 * clients do not half-close after a request; a long run stops waiting).
 */
bool nba_client_gone(const struct nba_conn *c);

/* Waits until the socket takes more bytes, at most the idle timeout; false if it did not. */
bool nba_wait_writable(struct nba_conn *c);

/* Sends all of @data within the connection's idle timeout; false if the client is gone. */
bool nba_send(struct nba_conn *c, const void *data, size_t len);

/* The status line and headers; @content_length < 0 sends none (the body ends at close). */
bool nba_send_head(struct nba_conn *c, int status, const char *content_type,
		   long long content_length);

/* A JSON text for answers that the route fills after "message". */
void nba_reply_begin(struct nba_json *j, size_t max, const char *message);
/* Closes the object begun by nba_reply_begin and sends it; frees @j. */
void nba_reply_finish(struct nba_conn *c, int status, struct nba_json *j);

/* {"message": @message} with status 200. */
void nba_reply_success(struct nba_conn *c, const char *message);
/* {"message": ..., "error_code": @code} with status @code. */
void nba_reply_error(struct nba_conn *c, int code, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
/* agent.py's json_exception: 500, "@what: detail", the detail also as "traceback". */
void nba_reply_exception(struct nba_conn *c, const char *what, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

#endif
