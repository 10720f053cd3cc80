/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vnc_console.h"

#include <string.h>

typedef struct {
	LvVnc *vnc;
	/* Inside the <graphics type='vnc'> being read. */
	bool in_vnc;
} Reader;

void
lv_vnc_clear(LvVnc *vnc)
{
	g_clear_pointer(&vnc->address, g_free);
	g_clear_pointer(&vnc->socket, g_free);
	g_clear_pointer(&vnc->other, g_free);
	vnc->found = false;
	vnc->port = -1;
}

static const char *
attribute(const char **names, const char **values, const char *name)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

static void
read_graphics(LvVnc *vnc, const char **names, const char **values)
{
	const char *port = attribute(names, values, "port");
	const char *listen = attribute(names, values, "listen");
	const char *socket = attribute(names, values, "socket");
	gint64 number;

	vnc->found = true;
	if (port != NULL && g_ascii_string_to_signed(port, 10, 1, 65535, &number, NULL))
		vnc->port = (int)number;
	if (listen != NULL && listen[0] != '\0')
		vnc->address = g_strdup(listen);
	if (socket != NULL && socket[0] != '\0')
		vnc->socket = g_strdup(socket);
}

static void
read_listen(LvVnc *vnc, const char **names, const char **values)
{
	const char *type = attribute(names, values, "type");
	const char *address = attribute(names, values, "address");
	const char *socket = attribute(names, values, "socket");

	if (g_strcmp0(type, "address") == 0 && vnc->address == NULL && address != NULL &&
	    address[0] != '\0')
		vnc->address = g_strdup(address);
	else if (g_strcmp0(type, "socket") == 0 && vnc->socket == NULL && socket != NULL)
		vnc->socket = g_strdup(socket);
}

static void
on_start(GMarkupParseContext *context, const char *element, const char **names,
	 const char **values, gpointer data, GError **error)
{
	Reader *reader = data;
	LvVnc *vnc = reader->vnc;
	const char *type;

	if (reader->in_vnc) {
		if (strcmp(element, "listen") == 0)
			read_listen(vnc, names, values);
		return;
	}
	if (strcmp(element, "graphics") != 0)
		return;
	type = attribute(names, values, "type");
	if (g_strcmp0(type, "vnc") == 0 && !vnc->found) {
		read_graphics(vnc, names, values);
		reader->in_vnc = true;
	} else if (g_strcmp0(type, "vnc") != 0 && vnc->other == NULL) {
		vnc->other = g_strdup(type != NULL ? type : "(no type)");
	}
}

static void
on_end(GMarkupParseContext *context, const char *element, gpointer data, GError **error)
{
	Reader *reader = data;

	if (strcmp(element, "graphics") == 0)
		reader->in_vnc = false;
}

bool
lv_vnc_parse(const char *xml, LvVnc *vnc, GError **error)
{
	static const GMarkupParser parser = { .start_element = on_start, .end_element = on_end };
	Reader reader = { .vnc = vnc };
	GMarkupParseContext *context;
	bool ok;

	memset(vnc, 0, sizeof *vnc);
	vnc->port = -1;
	context = g_markup_parse_context_new(&parser, 0, &reader, NULL);
	ok = g_markup_parse_context_parse(context, xml, -1, error) &&
	     g_markup_parse_context_end_parse(context, error);
	g_markup_parse_context_free(context);
	/* On a socket there is no port, whatever libvirt wrote into the attribute. */
	if (vnc->socket != NULL)
		vnc->port = -1;
	if (!ok)
		lv_vnc_clear(vnc);
	return ok;
}

static bool
is_wildcard(const char *address)
{
	return address == NULL || address[0] == '\0' || strcmp(address, "0.0.0.0") == 0 ||
	       strcmp(address, "::") == 0 || strcmp(address, "[::]") == 0;
}

char *
lv_vnc_console(const LvVnc *vnc, const char *remote_host)
{
	const char *address = vnc->address;

	if (!vnc->found || vnc->port <= 0)
		return NULL;
	if (is_wildcard(address))
		address = remote_host != NULL ? remote_host : "127.0.0.1";
	if (strchr(address, ':') != NULL && address[0] != '[')
		return g_strdup_printf("vnc://[%s]:%d", address, vnc->port);
	return g_strdup_printf("vnc://%s:%d", address, vnc->port);
}
