/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* strdup, O_CLOEXEC */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sizes of the pcap file format (pcap-savefile(5)), for the size limit. */
#define PCAP_FILE_HEADER_SIZE 24
/*
 * Outside immediate mode (TPACKET_V3) the kernel hands packets over a block
 * at a time: when the block fills, or when its timer retires it. A partly
 * filled block was seen retired at most this long after its last packet
 * (Linux 6.18); older kernels skip a block opened since the timer's last
 * run, so up to twice that. Each retired block wakes the capture thread,
 * and at low rates those wakeups are most of the cost: single runs of the
 * sniffer-vs-tcpdump benchmark at 1000 packets/s gave 0.9 times tcpdump's
 * CPU per packet with 1000 ms (tcpdump's own choice), 1.1 times with 250 ms
 * and 1.8 to 2.3 times with 100 ms. The price: dump.pcap lags the traffic
 * by up to that, and stop may wait as long for the last block.
 */
#define BLOCK_TIMEOUT_MS 1000
#define BLOCK_SETTLE_MS (2 * BLOCK_TIMEOUT_MS + 50)
/* Longest time stop spends writing what the kernel still holds, beyond
 * waiting for the last block: traffic that never stops (a shared bridge)
 * cannot hold stop forever. */
#define DRAIN_EXTRA_MS 1000
/*
 * Records are gathered here and written with one write() per buffer, or per
 * pcap_dispatch at low rates: pcap_dump would take stdio's lock twice per
 * packet and write 4 KiB at a time. Writing from our own buffer also tells,
 * when a write fails half way, exactly which records reached the file.
 */
#define WRITE_BUFFER_SIZE (1024 * 1024)

/* A record's header in the file (pcap-savefile(5)), in host byte order like
 * the file header libpcap writes. */
struct record_header {
	uint32_t ts_sec;
	uint32_t ts_usec;
	uint32_t caplen;
	uint32_t len;
};

struct capture {
	const struct nbx_host *host;
	pcap_t *pcap;
	/* The file, written by the capture thread only; after a failed write
	 * it is cut back to its last complete record through it. */
	int fd;
	char *path;
	char *interface;
	int64_t max_capture_size;
	bool immediate_mode;
	pthread_t thread;
	atomic_bool stopping;
	struct timespec started;

	/* Touched by the capture thread only, until capture_stop joins it. */
	unsigned char *buffer;     /* WRITE_BUFFER_SIZE bytes of records */
	size_t buffered;
	uint64_t buffered_packets;
	uint64_t bytes_accounted;  /* file size once the buffer is written */
	uint64_t bytes_flushed;    /* file size known to be written, complete */
	uint64_t packets_seen;     /* handed over by libpcap */
	uint64_t packets_written;
	uint64_t packets_over_limit;
	int write_errno;           /* 0 while writing works */
	char loop_error[PCAP_ERRBUF_SIZE + 64];
};

/* After a write that failed once @written bytes of the buffer were in the
 * file: counts the complete records among them; cut_back_file cuts the rest. */
static void
keep_complete_records(struct capture *capture, size_t written)
{
	struct record_header record;
	size_t at = 0;

	while (at + sizeof record <= written) {
		memcpy(&record, capture->buffer + at, sizeof record);
		if (at + sizeof record + record.caplen > written)
			break;
		at += sizeof record + record.caplen;
		capture->packets_written++;
	}
	capture->bytes_flushed += at;
	capture->buffered = 0;
	capture->buffered_packets = 0;
}

/* Writes the buffered records, so the file is a valid pcap after every
 * write whatever happens next (disk full, daemon killed). */
static bool
write_buffer(struct capture *capture)
{
	size_t done = 0;
	ssize_t n;

	while (done < capture->buffered) {
		n = write(capture->fd, capture->buffer + done, capture->buffered - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			capture->write_errno = n < 0 ? errno : EIO;
			keep_complete_records(capture, done);
			return false;
		}
		done += (size_t)n;
	}
	capture->bytes_flushed += capture->buffered;
	capture->packets_written += capture->buffered_packets;
	capture->buffered = 0;
	capture->buffered_packets = 0;
	return true;
}

static void
on_packet(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes)
{
	struct capture *capture = (struct capture *)user;
	struct record_header record = {
		.ts_sec = (uint32_t)header->ts.tv_sec,
		.ts_usec = (uint32_t)header->ts.tv_usec,
		.caplen = header->caplen,
		.len = header->len,
	};
	size_t size = sizeof record + header->caplen;

	capture->packets_seen++;
	if (capture->write_errno != 0)
		return;
	/* Once one packet does not fit, none is written after it, however
	 * small: the file stays a prefix of the traffic, without holes. */
	if (capture->packets_over_limit > 0 ||
	    (capture->max_capture_size > 0 &&
	     capture->bytes_accounted + size > (uint64_t)capture->max_capture_size)) {
		capture->packets_over_limit++;
		return;
	}
	/* caplen <= snaplen <= 262144: a record always fits an empty buffer. */
	if (capture->buffered + size > WRITE_BUFFER_SIZE && !write_buffer(capture))
		return;
	memcpy(capture->buffer + capture->buffered, &record, sizeof record);
	memcpy(capture->buffer + capture->buffered + sizeof record, bytes, header->caplen);
	capture->buffered += size;
	capture->buffered_packets++;
	capture->bytes_accounted += size;
}

/* Hands every packet the ring holds to on_packet and writes them. */
static int
dispatch(struct capture *capture)
{
	int n = pcap_dispatch(capture->pcap, -1, on_packet, (u_char *)capture);

	if (capture->buffered > 0 && capture->write_errno == 0)
		write_buffer(capture);
	return n;
}

static bool
reached(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static struct timespec
in_ms(long ms)
{
	struct timespec when;

	clock_gettime(CLOCK_MONOTONIC, &when);
	when.tv_sec += ms / 1000;
	when.tv_nsec += (ms % 1000) * 1000000L;
	if (when.tv_nsec >= 1000000000L) {
		when.tv_sec++;
		when.tv_nsec -= 1000000000L;
	}
	return when;
}

/*
 * True when every packet the socket received is read or was dropped: the
 * ring holds nothing more. Packets that reached the ring before the filter
 * was set, and that libpcap then filters out, are counted as received but
 * never handed over; with them this stays false and drain() waits its time.
 * Counters are 32 bits in pcap_stat: compared modulo 2^32.
 */
static bool
all_received_seen(struct capture *capture)
{
	struct pcap_stat stats;

	if (pcap_stats(capture->pcap, &stats) != 0)
		return false;
	return (uint32_t)(stats.ps_recv - stats.ps_drop - (uint32_t)capture->packets_seen) == 0;
}

/*
 * Writes what the kernel captured before stop, or before the interface went
 * away: nothing captured may be lost. Outside immediate mode the last block
 * is handed over only when its timer retires it (BLOCK_SETTLE_MS). That
 * timer keeps running when the interface goes down or away, and libpcap
 * still hands a retired block over then, between its "The interface
 * disappeared" errors: so reading goes on, errors or not, until every
 * packet received is read, or that time has passed and the ring is empty.
 */
static void
drain(struct capture *capture)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	long settle_ms = capture->immediate_mode ? 0 : BLOCK_SETTLE_MS;
	struct timespec settled = in_ms(settle_ms);
	struct timespec limit = in_ms(settle_ms + DRAIN_EXTRA_MS);
	const struct timespec pause = { .tv_nsec = 10 * 1000000L };
	int n;

	if (pcap_setnonblock(capture->pcap, 1, errbuf) != 0) {
		capture->host->log(capture->host, NBX_LOG_ERROR,
				   "interface %s: cannot drain the capture: %s", capture->interface,
				   errbuf);
		return;
	}
	while (!reached(&limit)) {
		n = dispatch(capture);
		/* A pcap_breakloop that arrived between two dispatches is
		 * consumed here, once; the next call reads again. */
		if (n > 0 || n == PCAP_ERROR_BREAK)
			continue;
		if (reached(&settled) || all_received_seen(capture))
			break;
		nanosleep(&pause, NULL);
	}
}

static void *
capture_thread(void *data)
{
	struct capture *capture = data;
	int n;

	/* So that `top -H` and a debugger tell the captures apart. */
	pthread_setname_np(pthread_self(), "nbx-sniffer");
	while (!atomic_load(&capture->stopping)) {
		n = dispatch(capture);
		if (n == PCAP_ERROR) {
			snprintf(capture->loop_error, sizeof capture->loop_error, "%s",
				 pcap_geterr(capture->pcap));
			break;
		}
	}
	drain(capture);
	return NULL;
}

static void
capture_free(struct capture *capture)
{
	if (capture->pcap != NULL)
		pcap_close(capture->pcap);
	if (capture->fd >= 0)
		close(capture->fd);
	free(capture->buffer);
	free(capture->path);
	free(capture->interface);
	free(capture);
}

static void
report_activate_error(const struct nbx_host *host, const char *interface, int status,
		      const char *detail, struct nbx_error *err)
{
	switch (status) {
	case PCAP_ERROR_NO_SUCH_DEVICE:
		host->error_set(host, err, NBX_ERROR_NOT_FOUND,
				"interface %s does not exist (%s): set the machine's interface, or "
				"the sniffer's interface setting, to an existing interface",
				interface, detail);
		break;
	case PCAP_ERROR_PERM_DENIED:
	case PCAP_ERROR_PROMISC_PERM_DENIED:
		host->error_set(host, err, NBX_ERROR_PERMISSION,
				"capturing on interface %s needs CAP_NET_RAW and CAP_NET_ADMIN, "
				"which nestboxd lacks (%s): run it as root or grant them with "
				"`setcap cap_net_raw,cap_net_admin+ep nestboxd`",
				interface, detail);
		break;
	case PCAP_ERROR_IFACE_NOT_UP:
		host->error_set(host, err, NBX_ERROR_INVALID,
				"interface %s is down: bring it up (`ip link set %s up`) before "
				"analyses start",
				interface, interface);
		break;
	default:
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot capture on interface %s: %s",
				interface, detail);
		break;
	}
}

/* pcap_create .. pcap_activate: where the capture's socket is made. */
struct activation {
	struct capture *capture;
	const struct capture_options *options;
	char errbuf[PCAP_ERRBUF_SIZE];
	int status;
	/* Entering options->network_namespace failed: what, and errno. */
	const char *netns_failed;
	int netns_errno;
};

static void
activate(struct activation *a)
{
	const struct capture_options *options = a->options;
	pcap_t *pcap = pcap_create(options->interface, a->errbuf);

	a->capture->pcap = pcap;
	if (pcap == NULL)
		return;
	pcap_set_snaplen(pcap, options->snaplen);
	pcap_set_promisc(pcap, options->promiscuous);
	pcap_set_immediate_mode(pcap, options->immediate_mode);
	/* Without immediate mode the kernel hands packets over when a block
	 * fills or this timeout passes, whichever comes first. */
	pcap_set_timeout(pcap, BLOCK_TIMEOUT_MS);
	if (options->buffer_size > 0)
		pcap_set_buffer_size(pcap, options->buffer_size);
	a->status = pcap_activate(pcap);
}

/*
 * A packet socket belongs to the network namespace of the thread that made
 * it, for its whole life; setns is per thread. So a machine on a segment is
 * captured by a socket made on a thread of its own that entered the
 * segment and then exits: no thread of the daemon changes namespace.
 */
static void *
activate_in_namespace(void *data)
{
	struct activation *a = data;
	int ns = open(a->options->network_namespace, O_RDONLY | O_CLOEXEC);

	if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
		a->netns_failed = ns < 0 ? "cannot open" : "cannot enter";
		a->netns_errno = errno;
	} else {
		activate(a);
	}
	if (ns >= 0)
		close(ns);
	return NULL;
}

static bool
open_interface(struct capture *capture, const struct capture_options *options,
	       struct nbx_error *err)
{
	const struct nbx_host *host = capture->host;
	struct activation a = { .capture = capture, .options = options };
	struct bpf_program program;
	pthread_t thread;
	int status;

	if (options->network_namespace == NULL)
		activate(&a);
	else if ((status = pthread_create(&thread, NULL, activate_in_namespace, &a)) != 0)
		a.netns_failed = "no thread to enter", a.netns_errno = status;
	else
		pthread_join(thread, NULL);
	if (a.netns_failed != NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "%s network namespace %s: %s",
				a.netns_failed, options->network_namespace,
				strerror(a.netns_errno));
		return false;
	}
	if (capture->pcap == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot capture on interface %s: %s",
				options->interface, a.errbuf);
		return false;
	}
	status = a.status;
	if (status < 0) {
		report_activate_error(host, options->interface, status,
				      pcap_geterr(capture->pcap), err);
		return false;
	}
	if (status > 0)
		host->log(host, NBX_LOG_WARNING, "interface %s: %s", options->interface,
			  pcap_statustostr(status));
	if (pcap_compile(capture->pcap, &program, options->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"capture filter \"%s\" does not compile on interface %s: %s",
				options->filter, options->interface, pcap_geterr(capture->pcap));
		return false;
	}
	status = pcap_setfilter(capture->pcap, &program);
	pcap_freecode(&program);
	if (status != 0) {
		host->error_set(host, err, NBX_ERROR_FAILED,
				"cannot apply the capture filter on interface %s: %s",
				options->interface, pcap_geterr(capture->pcap));
		return false;
	}
	return true;
}

/*
 * Creates the file and writes its header. libpcap writes the header (it maps
 * the interface's DLT to the file's link type) through a duplicate of our
 * descriptor, closed at once: the two share the file offset, so our records
 * follow the header.
 */
static bool
open_file(struct capture *capture, struct nbx_error *err)
{
	const struct nbx_host *host = capture->host;
	pcap_dumper_t *dumper;
	FILE *file;
	int writer_fd;
	bool ok;

	capture->fd = open(capture->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (capture->fd < 0 || (writer_fd = fcntl(capture->fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot create %s: %s", capture->path,
				strerror(errno));
		return false;
	}
	file = fdopen(writer_fd, "wb");
	if (file == NULL) {
		close(writer_fd);
		host->error_set(host, err, NBX_ERROR_IO, "cannot open %s: %s", capture->path,
				strerror(errno));
		return false;
	}
	dumper = pcap_dump_fopen(capture->pcap, file);
	if (dumper == NULL) {
		fclose(file);
		host->error_set(host, err, NBX_ERROR_IO, "cannot write %s: %s", capture->path,
				pcap_geterr(capture->pcap));
		return false;
	}
	errno = 0;
	ok = pcap_dump_flush(dumper) == 0;
	if (!ok)
		host->error_set(host, err, NBX_ERROR_IO, "cannot write the header of %s: %s",
				capture->path, strerror(errno != 0 ? errno : EIO));
	pcap_dump_close(dumper);
	capture->bytes_accounted = capture->bytes_flushed = PCAP_FILE_HEADER_SIZE;
	return ok;
}

/* The capture thread takes no signal: the daemon's handlers run elsewhere. */
static bool
start_thread(struct capture *capture, struct nbx_error *err)
{
	sigset_t all, previous;
	int status;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &previous);
	status = pthread_create(&capture->thread, NULL, capture_thread, capture);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (status != 0) {
		capture->host->error_set(capture->host, err, NBX_ERROR_FAILED,
					 "cannot start the capture thread: %s", strerror(status));
		return false;
	}
	return true;
}

struct capture *
capture_start(const struct nbx_host *host, const struct capture_options *options,
	      struct nbx_error *err)
{
	struct capture *capture = calloc(1, sizeof *capture);

	if (capture == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return NULL;
	}
	capture->host = host;
	capture->fd = -1;
	capture->max_capture_size = options->max_capture_size;
	capture->immediate_mode = options->immediate_mode;
	capture->path = strdup(options->path);
	capture->interface = strdup(options->interface);
	capture->buffer = malloc(WRITE_BUFFER_SIZE);
	atomic_init(&capture->stopping, false);
	if (capture->path == NULL || capture->interface == NULL || capture->buffer == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		capture_free(capture);
		return NULL;
	}
	if (!open_interface(capture, options, err) || !open_file(capture, err)) {
		capture_free(capture);
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &capture->started);
	if (!start_thread(capture, err)) {
		capture_free(capture);
		return NULL;
	}
	return capture;
}

static void
fill_stats(struct capture *capture, struct capture_result *result)
{
	struct pcap_stat stats = { 0 };

	if (pcap_stats(capture->pcap, &stats) == 0) {
		result->packets_received = stats.ps_recv;
		result->dropped_by_kernel = stats.ps_drop;
		result->dropped_by_interface = stats.ps_ifdrop;
	}
}

/* After a failed write, cuts the file back to its last complete record so
 * that everything before the failure stays readable. */
static void
cut_back_file(struct capture *capture)
{
	if (capture->write_errno != 0 && ftruncate(capture->fd, (off_t)capture->bytes_flushed) != 0)
		capture->host->log(capture->host, NBX_LOG_ERROR,
				   "cannot cut %s back to its last complete packet: %s",
				   capture->path, strerror(errno));
}

/* True when @interface no longer exists or is down: the end of a capture
 * on a machine's own tap device, not a failure. */
static bool
interface_gone(const char *interface)
{
	struct ifreq request = { 0 };
	int fd;
	bool gone;

	if (if_nametoindex(interface) == 0)
		return true;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(request.ifr_name, sizeof request.ifr_name, "%s", interface);
	gone = ioctl(fd, SIOCGIFFLAGS, &request) == 0 && !(request.ifr_flags & IFF_UP);
	close(fd);
	return gone;
}

bool
capture_stop(struct capture *capture, struct capture_result *result, struct nbx_error *err)
{
	const struct nbx_host *host = capture->host;
	bool ok = true;

	atomic_store(&capture->stopping, true);
	pcap_breakloop(capture->pcap);
	pthread_join(capture->thread, NULL);
	clock_gettime(CLOCK_REALTIME, &result->ended);
	result->started = capture->started;
	fill_stats(capture, result);
	cut_back_file(capture);
	result->packets_written = capture->packets_written;
	result->packets_over_limit = capture->packets_over_limit;
	result->bytes_written = capture->bytes_flushed;
	if (capture->write_errno != 0) {
		host->error_set(host, err, NBX_ERROR_IO,
				"writing %s failed: %s; it holds the %llu packets captured before",
				capture->path, strerror(capture->write_errno),
				(unsigned long long)capture->packets_written);
		ok = false;
	} else if (capture->loop_error[0] != '\0' && interface_gone(capture->interface)) {
		result->interface_lost = true;
	} else if (capture->loop_error[0] != '\0') {
		host->error_set(host, err, NBX_ERROR_FAILED,
				"capturing on interface %s stopped early: %s", capture->interface,
				capture->loop_error);
		ok = false;
	}
	capture_free(capture);
	return ok;
}
