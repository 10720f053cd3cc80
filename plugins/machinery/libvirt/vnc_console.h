/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where an operator reaches a domain's screen, from libvirt's live domain
 * XML: its first <graphics type='vnc'>. Pure: no connection behind it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
	/* The domain has a <graphics type='vnc'>. */
	bool found;
	/* Its TCP port; -1 when none is allocated (not running, or on a socket). */
	int port;
	/* Its listen address (attribute, or the first <listen type='address'>); NULL: none given. */
	char *address;
	/* The unix socket it listens on instead of a port (<listen type='socket'>), or NULL. */
	char *socket;
	/* The type of the first other graphics (spice, rdp, ...), for the log, or NULL. */
	char *other;
} LvVnc;

void lv_vnc_clear(LvVnc *vnc);

/* Reads @xml (virDomainGetXMLDesc of a running domain) into @vnc. */
bool lv_vnc_parse(const char *xml, LvVnc *vnc, GError **error);

/*
 * "vnc://ADDR:PORT" for @vnc, or NULL when it has no port. A wildcard or
 * missing address becomes @remote_host (the host of a remote dsn, where the
 * VNC server is) or, for a local dsn, 127.0.0.1. IPv6 addresses are
 * bracketed.
 */
char *lv_vnc_console(const LvVnc *vnc, const char *remote_host);
