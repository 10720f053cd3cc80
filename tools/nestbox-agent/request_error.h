/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why a request is refused: the HTTP status to answer with and a message
 * that names the field, header or bound. Status 0 means "answer nothing,
 * close" (the client is gone or timed out).
 */
#ifndef NESTBOX_AGENT_REQUEST_ERROR_H
#define NESTBOX_AGENT_REQUEST_ERROR_H

struct nba_error {
	int status;
	char message[512];
};

void nba_error_set(struct nba_error *e, int status, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

#endif
