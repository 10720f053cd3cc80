/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "qemu_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	const char *netns;
	const char *name;
	int fd;
	/* What failed and errno, for the message. */
	const char *failed;
	int error;
} TapOpen;

static bool
failed(TapOpen *open_, const char *what)
{
	open_->failed = what;
	open_->error = errno;
	return false;
}

static bool
open_tap(TapOpen *t)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return failed(t, "open /dev/net/tun");
	g_strlcpy(ifr.ifr_name, t->name, sizeof ifr.ifr_name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) != 0)
		return failed(t, "TUNSETIFF");
	return true;
}

/* Enslaves the new tap to the segment's bridge and sets it up (in the namespace). */
static bool
attach_tap(TapOpen *t)
{
	struct ifreq ifr = { 0 };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok = false;

	if (sock < 0)
		return failed(t, "socket");
	g_strlcpy(ifr.ifr_name, QEMU_TAP_SEGMENT_BRIDGE, sizeof ifr.ifr_name);
	ifr.ifr_ifindex = (int)if_nametoindex(t->name);
	if (ifr.ifr_ifindex == 0 || ioctl(sock, SIOCBRADDIF, &ifr) != 0) {
		failed(t, "adding it to bridge " QEMU_TAP_SEGMENT_BRIDGE);
		goto out;
	}
	memset(&ifr, 0, sizeof ifr);
	g_strlcpy(ifr.ifr_name, t->name, sizeof ifr.ifr_name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0)
		goto flags_failed;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0)
		goto flags_failed;
	ok = true;
	goto out;
flags_failed:
	failed(t, "setting it up");
out:
	close(sock);
	return ok;
}

/* On a thread of its own: enters the namespace, which that thread keeps until it exits. */
static gpointer
open_in_namespace(gpointer data)
{
	TapOpen *t = data;
	int ns = open(t->netns, O_RDONLY | O_CLOEXEC);

	if (ns < 0) {
		failed(t, "opening the network namespace");
		return NULL;
	}
	if (setns(ns, CLONE_NEWNET) != 0)
		failed(t, "entering the network namespace");
	else if (open_tap(t))
		attach_tap(t);
	close(ns);
	return NULL;
}

int
qemu_tap_open(const struct nbx_host *host, const struct nbx_machine *machine,
	      struct nbx_error *err)
{
	const char *netns = NBX_MACHINE_HAS(machine, network_namespace)
				    ? machine->network_namespace
				    : NULL;
	TapOpen t = { .netns = netns, .fd = -1 };

	if (netns != NULL) {
		t.name = QEMU_TAP_SEGMENT_NAME;
		g_thread_join(g_thread_new("nbx-qemu-tap", open_in_namespace, &t));
	} else if (machine->interface != NULL) {
		t.name = machine->interface;
		open_tap(&t);
	} else {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s has no interface (its tap device) and no network segment",
				machine->name);
		return -1;
	}
	if (t.failed == NULL)
		return t.fd;
	if (t.fd >= 0)
		close(t.fd);
	host->error_set(host, err, t.error == EPERM ? NBX_ERROR_PERMISSION : NBX_ERROR_IO,
			"machine %s: tap %s%s%s: %s: %s", machine->name, t.name,
			netns != NULL ? " in " : "", netns != NULL ? netns : "", t.failed,
			g_strerror(t.error));
	return -1;
}
