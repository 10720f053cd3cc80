/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tap_device.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns_call.h"

typedef struct {
	const char *bridge;
	char *name;
	int fd;
} TapRequest;

static bool
fail(GError **error, int code, const char *what, const char *detail)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(code), "%s%s: %s", what, detail,
		    g_strerror(code));
	return false;
}

/* A locally administered MAC starting fe:, above any a bridge would take. */
static void
set_mac(int sock, const char *name)
{
	struct ifreq ifr = { 0 };
	guint32 random = g_random_int();
	unsigned char mac[6] = { 0xfe, 0x54, 0x00, random & 0xff, (random >> 8) & 0xff,
				 (random >> 16) & 0xff };

	g_strlcpy(ifr.ifr_name, name, IFNAMSIZ);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, sizeof mac);
	/* Only the bridge's choice of address depends on it: a failure is harmless. */
	ioctl(sock, SIOCSIFHWADDR, &ifr);
}

static bool
join_and_up(int sock, const TapRequest *request, GError **error)
{
	struct ifreq ifr = { 0 };

	if (request->bridge != NULL) {
		g_strlcpy(ifr.ifr_name, request->bridge, IFNAMSIZ);
		ifr.ifr_ifindex = (int)if_nametoindex(request->name);
		if (ifr.ifr_ifindex == 0 || ioctl(sock, SIOCBRADDIF, &ifr) != 0)
			return fail(error, errno, "cannot add a tap to bridge ", request->bridge);
	}
	memset(&ifr, 0, sizeof ifr);
	g_strlcpy(ifr.ifr_name, request->name, IFNAMSIZ);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0)
		return fail(error, errno, "cannot read the flags of tap ", request->name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0)
		return fail(error, errno, "cannot bring up tap ", request->name);
	return true;
}

static bool
make_tap(void *data, GError **error)
{
	TapRequest *request = data;
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int sock;
	bool ok;

	g_strlcpy(ifr.ifr_name, "nbxt%d", IFNAMSIZ);
	request->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (request->fd < 0)
		return fail(error, errno, "cannot open ", "/dev/net/tun");
	if (ioctl(request->fd, TUNSETIFF, &ifr) != 0) {
		fail(error, errno, "cannot make a tap device", "");
		close(request->fd);
		request->fd = -1;
		return false;
	}
	g_strlcpy(request->name, ifr.ifr_name, IFNAMSIZ);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		ok = fail(error, errno, "cannot make a socket", "");
	} else {
		set_mac(sock, request->name);
		ok = join_and_up(sock, request, error);
		close(sock);
	}
	if (!ok) {
		/* Not persistent: closing its only descriptor removes the tap. */
		close(request->fd);
		request->fd = -1;
	}
	return ok;
}

int
tap_device_open(const char *netns, const char *bridge, char name[IFNAMSIZ], GError **error)
{
	TapRequest request = { .bridge = bridge, .name = name, .fd = -1 };

	name[0] = '\0';
	if (!netns_call(netns, make_tap, &request, error))
		return -1;
	return request.fd;
}

bool
tap_device_bridge_exists(const char *bridge, GError **error)
{
	g_autofree char *sys = g_strdup_printf("/sys/class/net/%s", bridge);
	g_autofree char *sys_bridge = g_strdup_printf("/sys/class/net/%s/bridge", bridge);

	if (strchr(bridge, '/') != NULL || !g_file_test(sys, G_FILE_TEST_EXISTS)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "bridge %s does not exist",
			    bridge);
		return false;
	}
	if (!g_file_test(sys_bridge, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s is a network interface but no bridge", bridge);
		return false;
	}
	return true;
}
