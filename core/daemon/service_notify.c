/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "service_notify.h"

#include <glib.h>
#include <time.h>

#ifdef NBX_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static void
notify(const char *state)
{
	int status = sd_notify(0, state);

	/* The daemon runs on: systemd will say it never heard from it. */
	if (status < 0)
		g_warning("cannot notify the service manager (%s): %s", state, g_strerror(-status));
}
#else
static void
notify(const char *state)
{
}
#endif

void
nbx_service_notify_ready(const char *status)
{
	g_autofree char *state = g_strdup_printf("READY=1\nSTATUS=%s", status);

	notify(state);
}

/*
 * MONOTONIC_USEC: the time of the request, which Type=notify-reload
 * (systemd 253) needs to tell this reload from an older one.
 */
void
nbx_service_notify_reloading(void)
{
	struct timespec now;
	g_autofree char *state = NULL;

	clock_gettime(CLOCK_MONOTONIC, &now);
	state = g_strdup_printf("RELOADING=1\nSTATUS=reloading the configuration\n"
				"MONOTONIC_USEC=%" G_GUINT64_FORMAT,
				(guint64)now.tv_sec * G_USEC_PER_SEC + (guint64)now.tv_nsec / 1000);
	notify(state);
}

void
nbx_service_notify_stopping(void)
{
	notify("STOPPING=1\nSTATUS=stopping: running analyses stop their machines");
}
