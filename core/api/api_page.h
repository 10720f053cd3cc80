/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The status page at / (api_page.c): machines, the queue, recent tasks
 * with their steps, snapshot generations, as plain HTML tables that need
 * no JavaScript, made live by a small script on GET /events. Its files
 * are compiled in (GResource).
 *
 * A browser cannot send a bearer header with an EventSource: on the TCP
 * listener the token is entered once (POST /login) and exchanged for a
 * session cookie (HttpOnly, SameSite=Strict). A session may read (GET),
 * and change state only through the page's own forms, each of which
 * carries the session's CSRF token and is refused from another origin.
 */
#pragma once

#include "api_server.h"

typedef struct _NbxApiPage NbxApiPage;

NbxApiPage *nbx_api_page_new(void);
void nbx_api_page_free(NbxApiPage *page);

/* For NbxApiServerHandlers.authorize: what a request without the bearer token may do. */
gboolean nbx_api_page_authorize(NbxApiPage *page, NbxApiRequest *request);
