/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "event_loop.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static const char *failure;

static void
ignore_timeout(int timer, void *opaque)
{
}

/* libvirt offers no "is a loop registered?": adding a timer fails when none is. */
static bool
loop_registered(void)
{
	int timer = virEventAddTimeout(-1, ignore_timeout, NULL, NULL);

	if (timer < 0)
		return false;
	virEventRemoveTimeout(timer);
	return true;
}

static gpointer
run_loop(gpointer data)
{
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			g_usleep(G_USEC_PER_SEC / 10);
	return NULL;
}

/* libvirt prints every error to stderr unless told otherwise; ours are reported. */
static void
quiet(void *data, virErrorPtr error)
{
}

static gpointer
start_once(gpointer data)
{
	if (virInitialize() < 0) {
		failure = "virInitialize failed";
		return NULL;
	}
	if (loop_registered())
		return NULL;
	if (virEventRegisterDefaultImpl() < 0) {
		failure = "virEventRegisterDefaultImpl failed";
		return NULL;
	}
	/* This process's libvirt is ours alone: its errors are ours to report. */
	virSetErrorFunc(NULL, quiet);
	g_thread_unref(g_thread_new("libvirt-events", run_loop, NULL));
	return NULL;
}

bool
lv_event_loop_ensure(const char **reason)
{
	static GOnce once = G_ONCE_INIT;

	g_once(&once, start_once, NULL);
	if (failure != NULL) {
		*reason = failure;
		return false;
	}
	return true;
}
