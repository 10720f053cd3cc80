/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dsn.h"

#include <glib.h>
#include <string.h>

bool
lv_dsn_is_remote(const char *dsn)
{
	g_autoptr(GUri) uri = g_uri_parse(dsn, G_URI_FLAGS_NON_DNS, NULL);
	const char *host;

	if (uri == NULL)
		return false;
	host = g_uri_get_host(uri);
	if (host == NULL || host[0] == '\0')
		return false;
	return g_ascii_strcasecmp(host, "localhost") != 0 && strcmp(host, "::1") != 0 &&
	       !g_str_has_prefix(host, "127.");
}

char *
lv_dsn_remote_host(const char *dsn)
{
	g_autoptr(GUri) uri = NULL;

	if (!lv_dsn_is_remote(dsn))
		return NULL;
	uri = g_uri_parse(dsn, G_URI_FLAGS_NON_DNS, NULL);
	return g_strdup(g_uri_get_host(uri));
}
