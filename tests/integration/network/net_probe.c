/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* sched_setaffinity */
#include "net_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct _NetServer {
	char *ns_path;
	char *address;
	guint16 port;
	char *banner;
	int tcp, udp;
	int stop[2];
	GThread *thread;
	GMutex lock;
	GCond arrived;
	/* "SOURCE PAYLOAD" of every datagram. */
	GPtrArray *received;
};

static struct sockaddr_in
ipv4(const char *address, guint16 port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	g_assert_cmpint(inet_pton(AF_INET, address, &sin.sin_addr), ==, 1);
	return sin;
}

static gboolean
open_server_sockets(gpointer data, GError **error)
{
	NetServer *server = data;
	struct sockaddr_in sin = ipv4(server->address, server->port);
	int one = 1;

	server->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	server->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(server->tcp, >=, 0);
	g_assert_cmpint(server->udp, >=, 0);
	setsockopt(server->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* The address may be one a test adds later (or a DNAT target). */
	setsockopt(server->tcp, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
	setsockopt(server->udp, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
	if (bind(server->tcp, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    bind(server->udp, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(server->tcp, 64) != 0)
		g_error("server %s on %s:%u: %s", server->banner, server->address, server->port,
			g_strerror(errno));
	return TRUE;
}

static void
serve_tcp(NetServer *server)
{
	int client = accept4(server->tcp, NULL, NULL, SOCK_CLOEXEC);

	if (client < 0)
		return;
	if (write(client, server->banner, strlen(server->banner)) < 0)
		g_debug("banner not sent: %s", g_strerror(errno));
	close(client);
}

static void
serve_udp(NetServer *server)
{
	char payload[512];
	struct sockaddr_in from;
	socklen_t length = sizeof from;
	char source[INET_ADDRSTRLEN];
	ssize_t got = recvfrom(server->udp, payload, sizeof payload - 1, MSG_DONTWAIT,
			       (struct sockaddr *)&from, &length);

	if (got < 0)
		return;
	payload[got] = '\0';
	inet_ntop(AF_INET, &from.sin_addr, source, sizeof source);
	g_mutex_lock(&server->lock);
	g_ptr_array_add(server->received, g_strdup_printf("%s %s", source, payload));
	g_cond_broadcast(&server->arrived);
	g_mutex_unlock(&server->lock);
	sendto(server->udp, server->banner, strlen(server->banner), 0, (struct sockaddr *)&from,
	       length);
}

static gpointer
serve(gpointer data)
{
	NetServer *server = data;
	struct pollfd fds[3] = {
		{ .fd = server->tcp, .events = POLLIN },
		{ .fd = server->udp, .events = POLLIN },
		{ .fd = server->stop[0], .events = POLLIN },
	};

	while (poll(fds, 3, -1) >= 0 && fds[2].revents == 0) {
		if (fds[0].revents & POLLIN)
			serve_tcp(server);
		if (fds[1].revents & POLLIN)
			serve_udp(server);
	}
	return NULL;
}

NetServer *
net_server_start(const char *ns_path, const char *address, guint16 port, const char *banner)
{
	NetServer *server = g_new0(NetServer, 1);
	g_autoptr(GError) error = NULL;

	server->ns_path = g_strdup(ns_path);
	server->address = g_strdup(address);
	server->port = port;
	server->banner = g_strdup(banner);
	server->received = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&server->lock);
	g_cond_init(&server->arrived);
	g_assert_cmpint(pipe2(server->stop, O_CLOEXEC), ==, 0);
	if (ns_path != NULL)
		nbx_netns_run(ns_path, open_server_sockets, server, &error);
	else
		open_server_sockets(server, &error);
	g_assert_no_error(error);
	/* The sockets stay in their namespace: this thread need not enter it. */
	server->thread = g_thread_new("net-server", serve, server);
	return server;
}

void
net_server_stop(NetServer *server)
{
	if (server == NULL)
		return;
	g_assert_cmpint(write(server->stop[1], "x", 1), ==, 1);
	g_thread_join(server->thread);
	close(server->tcp);
	close(server->udp);
	close(server->stop[0]);
	close(server->stop[1]);
	g_ptr_array_unref(server->received);
	g_mutex_clear(&server->lock);
	g_cond_clear(&server->arrived);
	g_free(server->ns_path);
	g_free(server->address);
	g_free(server->banner);
	g_free(server);
}

static gboolean
saw_locked(NetServer *server, const char *payload, const char *source)
{
	for (guint i = 0; i < server->received->len; i++) {
		const char *entry = g_ptr_array_index(server->received, i);
		const char *space = strchr(entry, ' ');

		if (strcmp(space + 1, payload) == 0 &&
		    (source == NULL || strncmp(entry, source, (size_t)(space - entry)) == 0))
			return TRUE;
	}
	return FALSE;
}

gboolean
net_server_saw_payload(NetServer *server, const char *payload, const char *source)
{
	gboolean saw;

	g_mutex_lock(&server->lock);
	saw = saw_locked(server, payload, source);
	g_mutex_unlock(&server->lock);
	return saw;
}

gboolean
net_server_wait_payload(NetServer *server, const char *payload)
{
	gint64 deadline = g_get_monotonic_time() + NET_PROBE_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
	gboolean saw;

	g_mutex_lock(&server->lock);
	while (!(saw = saw_locked(server, payload, NULL)) &&
	       g_cond_wait_until(&server->arrived, &server->lock, deadline))
		;
	g_mutex_unlock(&server->lock);
	return saw;
}

/* ---- probes --------------------------------------------------------------- */

static char *
read_answer(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buffer[256];
	ssize_t got;

	if (poll(&pfd, 1, NET_PROBE_TIMEOUT_MS) != 1)
		return NULL;
	got = recv(fd, buffer, sizeof buffer - 1, 0);
	if (got <= 0)
		return NULL;
	buffer[got] = '\0';
	return g_strdup(buffer);
}

static char *
probe_tcp(const NetProbe *probe)
{
	struct sockaddr_in to = ipv4(probe->address, probe->port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	char *answer = NULL;
	int error = 0;
	socklen_t length = sizeof error;

	g_assert_cmpint(fd, >=, 0);
	if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)
		goto out;
	if (poll(&pfd, 1, NET_PROBE_TIMEOUT_MS) != 1)
		goto out;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
	if (error == 0)
		answer = read_answer(fd);
out:
	close(fd);
	return answer;
}

static char *
probe_udp(const NetProbe *probe)
{
	struct sockaddr_in to = ipv4(probe->address, probe->port);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char *answer = NULL;

	g_assert_cmpint(fd, >=, 0);
	/* Connected: only an answer from where it was sent counts (a DNAT
	 * answers from the original address, conntrack sees to that). */
	if (connect(fd, (struct sockaddr *)&to, sizeof to) == 0 && send(fd, "probe", 5, 0) == 5)
		answer = read_answer(fd);
	close(fd);
	return answer;
}

static guint16
icmp_checksum(const guint8 *data, gsize length)
{
	guint32 sum = 0;

	for (gsize i = 0; i + 1 < length; i += 2)
		sum += (guint32)(data[i] | data[i + 1] << 8);
	if (length & 1)
		sum += data[length - 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (guint16)~sum;
}

static char *
probe_icmp(const NetProbe *probe)
{
	static gint next_id = 0x4e00;
	struct sockaddr_in to = ipv4(probe->address, 0);
	guint16 id = (guint16)g_atomic_int_add(&next_id, 1);
	struct icmphdr request = { .type = ICMP_ECHO, .un.echo.id = htons(id), .un.echo.sequence = htons(1) };
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	gint64 deadline = g_get_monotonic_time() + NET_PROBE_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
	char *answer = NULL;

	g_assert_cmpint(fd, >=, 0);
	request.checksum = icmp_checksum((const guint8 *)&request, sizeof request);
	if (sendto(fd, &request, sizeof request, 0, (struct sockaddr *)&to, sizeof to) < 0)
		goto out;
	/* A raw socket sees every ICMP message of the namespace: wait for ours. */
	for (gint64 left; answer == NULL && (left = deadline - g_get_monotonic_time()) > 0;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		guint8 packet[1500];
		struct sockaddr_in from;
		socklen_t length = sizeof from;
		ssize_t got;

		if (poll(&pfd, 1, (int)(left / 1000) + 1) != 1)
			break;
		got = recvfrom(fd, packet, sizeof packet, 0, (struct sockaddr *)&from, &length);
		if (got < (ssize_t)(sizeof(struct iphdr) + sizeof request))
			continue;
		const struct icmphdr *reply = (const void *)(packet + (packet[0] & 0xf) * 4);
		if (reply->type == ICMP_ECHOREPLY && ntohs(reply->un.echo.id) == id &&
		    from.sin_addr.s_addr == to.sin_addr.s_addr)
			answer = g_strdup("pong");
	}
out:
	close(fd);
	return answer;
}

typedef struct {
	const char *ns_path;
	NetProbe *probe;
} ProbeJob;

static gboolean
probe_inside(gpointer data, GError **error)
{
	NetProbe *probe = data;

	switch (probe->kind) {
	case NET_PROBE_TCP:
		probe->answer = probe_tcp(probe);
		break;
	case NET_PROBE_UDP:
		probe->answer = probe_udp(probe);
		break;
	case NET_PROBE_ICMP:
		probe->answer = probe_icmp(probe);
		break;
	}
	return TRUE;
}

static gpointer
probe_job(gpointer data)
{
	ProbeJob *job = data;
	g_autoptr(GError) error = NULL;

	if (job->ns_path != NULL)
		nbx_netns_run(job->ns_path, probe_inside, job->probe, &error);
	else
		probe_inside(job->probe, &error);
	g_assert_no_error(error);
	return NULL;
}

void
net_probe_run(const char *ns_path, NetProbe *probes, gsize n)
{
	g_autofree ProbeJob *jobs = g_new0(ProbeJob, n);
	g_autofree GThread **threads = g_new0(GThread *, n);

	for (gsize i = 0; i < n; i++) {
		g_clear_pointer(&probes[i].answer, g_free);
		jobs[i] = (ProbeJob){ .ns_path = ns_path, .probe = &probes[i] };
		threads[i] = g_thread_new("net-probe", probe_job, &jobs[i]);
	}
	for (gsize i = 0; i < n; i++)
		g_thread_join(threads[i]);
}

void
net_probe_clear(NetProbe *probes, gsize n)
{
	for (gsize i = 0; i < n; i++)
		g_clear_pointer(&probes[i].answer, g_free);
}

/* ---- guests and raw frames ----------------------------------------------- */

char *
net_command(const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;
	char *out = NULL;
	int status;

	g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
		     &status, &error);
	g_assert_no_error(error);
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("%s %s failed: %s", argv[0], argv[1], err);
	return out;
}

#define RUN(...) g_free(net_command((const char *const[]){ __VA_ARGS__, NULL }))

void
net_guest_create(const char *name, const char *machine, const char *ip, guint length,
		 const char *mac, const char *gateway)
{
	g_autofree char *segment = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, machine, NULL);
	g_autofree char *address = g_strdup_printf("%s/%u", ip, length);
	g_autoptr(GError) error = NULL;

	RUN("ip", "netns", "add", name);
	RUN("ip", "-n", name, "link", "set", "lo", "up");
	RUN("ip", "-n", name, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name",
	    NBX_SEGMENT_TAP, "netns", segment);
	RUN("ip", "-n", name, "addr", "add", address, "dev", "eth0");
	RUN("ip", "-n", name, "link", "set", "eth0", "up");
	RUN("ip", "-n", name, "route", "add", "default", "via", gateway);
	nbx_segment_attach(machine, NBX_SEGMENT_TAP, &error);
	g_assert_no_error(error);
}

void
net_guest_delete(const char *name)
{
	g_autoptr(GError) error = NULL;

	/* Its veth goes with it, and so does the other end in the segment. */
	nbx_netns_delete(name, &error);
	g_assert_no_error(error);
}

typedef struct {
	const char *ifname;
	const NetRawUdp *frames;
	gsize n;
} RawSend;

static gsize
build_frame(const NetRawUdp *spec, guint8 *frame)
{
	gsize payload_length = strlen(spec->payload);
	guint8 *ip = frame + ETH_HLEN;
	guint8 *udp = ip + 20;
	gsize ip_length = 20 + 8 + payload_length;
	struct ether_addr mac;
	guint16 checksum;

	memset(frame, 0, ETH_HLEN + ip_length);
	memcpy(frame, ether_aton_r(spec->destination_mac, &mac), ETH_ALEN);
	memcpy(frame + ETH_ALEN, ether_aton_r(spec->source_mac, &mac), ETH_ALEN);
	frame[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (guint8)(ip_length >> 8);
	ip[3] = (guint8)ip_length;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	inet_pton(AF_INET, spec->source_ip, ip + 12);
	inet_pton(AF_INET, spec->destination_ip, ip + 16);
	checksum = icmp_checksum(ip, 20);
	memcpy(ip + 10, &checksum, 2);
	udp[0] = (guint8)(spec->source_port >> 8);
	udp[1] = (guint8)spec->source_port;
	udp[2] = (guint8)(spec->destination_port >> 8);
	udp[3] = (guint8)spec->destination_port;
	udp[4] = (guint8)((8 + payload_length) >> 8);
	udp[5] = (guint8)(8 + payload_length);
	/* UDP checksum 0: none, which IPv4 allows. */
	memcpy(udp + 8, spec->payload, payload_length);
	return ETH_HLEN + ip_length;
}

static gboolean
raw_send_inside(gpointer data, GError **error)
{
	RawSend *send = data;
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	cpu_set_t one;

	/* One CPU: the frames take one backlog queue, in order. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	g_assert_cmpint(sched_setaffinity(0, sizeof one, &one), ==, 0);
	g_assert_cmpint(fd, >=, 0);
	to.sll_ifindex = (int)if_nametoindex(send->ifname);
	g_assert_cmpint(to.sll_ifindex, >, 0);
	for (gsize i = 0; i < send->n; i++) {
		guint8 frame[1514];
		gsize length = build_frame(&send->frames[i], frame);

		g_assert_cmpint(sendto(fd, frame, length, 0, (struct sockaddr *)&to, sizeof to), ==,
				(ssize_t)length);
	}
	close(fd);
	return TRUE;
}

void
net_raw_udp_send(const char *ns_path, const char *ifname, const NetRawUdp *frames, gsize n)
{
	RawSend send = { .ifname = ifname, .frames = frames, .n = n };
	g_autoptr(GError) error = NULL;

	nbx_netns_run(ns_path, raw_send_inside, &send, &error);
	g_assert_no_error(error);
}

struct _NetCapture {
	const char *ifname;
	int fd;
	GPtrArray *frames; /* GBytes */
};

static gboolean
capture_open_inside(gpointer data, GError **error)
{
	NetCapture *capture = data;
	struct sockaddr_ll address = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };

	capture->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	g_assert_cmpint(capture->fd, >=, 0);
	address.sll_ifindex = (int)if_nametoindex(capture->ifname);
	g_assert_cmpint(address.sll_ifindex, >, 0);
	g_assert_cmpint(bind(capture->fd, (struct sockaddr *)&address, sizeof address), ==, 0);
	return TRUE;
}

NetCapture *
net_capture_start(const char *ns_path, const char *ifname)
{
	NetCapture *capture = g_new0(NetCapture, 1);
	g_autoptr(GError) error = NULL;

	capture->ifname = ifname;
	capture->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	nbx_netns_run(ns_path, capture_open_inside, capture, &error);
	g_assert_no_error(error);
	return capture;
}

gboolean
net_capture_saw(NetCapture *capture, const char *payload)
{
	guint8 frame[2048];
	ssize_t got;

	while ((got = recv(capture->fd, frame, sizeof frame, 0)) > 0)
		g_ptr_array_add(capture->frames, g_bytes_new(frame, (gsize)got));
	for (guint i = 0; i < capture->frames->len; i++) {
		gsize size;
		const guint8 *data = g_bytes_get_data(g_ptr_array_index(capture->frames, i), &size);

		if (memmem(data, size, payload, strlen(payload)) != NULL)
			return TRUE;
	}
	return FALSE;
}

void
net_capture_stop(NetCapture *capture)
{
	close(capture->fd);
	g_ptr_array_unref(capture->frames);
	g_free(capture);
}
