/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* strdup, O_CLOEXEC */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <pthread.h>
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
#define PCAP_RECORD_HEADER_SIZE 16
/* Longest time stop spends writing what the kernel still holds. */
#define DRAIN_LIMIT_S 2
/* The kernel's block timeout outside immediate mode (pcap_set_timeout). */
#define BLOCK_TIMEOUT_MS 100

struct capture {
	const struct nbx_host *host;
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	/* Our own descriptor of the file: after a failed write the file is cut
	 * back to its last flushed, complete record through it. */
	int fd;
	char *path;
	char *interface;
	int64_t max_capture_size;
	bool immediate_mode;
	pthread_t thread;
	atomic_bool stopping;
	struct timespec started;

	/* Touched by the capture thread only, until capture_stop joins it. */
	uint64_t bytes_accounted;  /* file size once the current batch is flushed */
	uint64_t bytes_flushed;    /* file size known to be on disk, complete */
	uint64_t batch_packets;
	uint64_t packets_written;
	uint64_t packets_over_limit;
	int write_errno;           /* 0 while writing works */
	char loop_error[PCAP_ERRBUF_SIZE + 64];
};

/*
 * Packets per batch, in both ring modes: a block of the non-immediate ring
 * can hold thousands, and a disk that fills mid-batch loses the batch, so
 * batches stay small enough that "what was captured" survives a full disk.
 */
#define BATCH_PACKETS 16

static void
on_packet(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes)
{
	struct capture *capture = (struct capture *)user;
	uint64_t record = PCAP_RECORD_HEADER_SIZE + (uint64_t)header->caplen;

	if (capture->write_errno != 0)
		return;
	/* Once one packet does not fit, none is written after it, however
	 * small: the file stays a prefix of the traffic, without holes. */
	if (capture->packets_over_limit > 0 ||
	    (capture->max_capture_size > 0 &&
	     capture->bytes_accounted + record > (uint64_t)capture->max_capture_size)) {
		capture->packets_over_limit++;
		return;
	}
	errno = 0;
	pcap_dump((u_char *)capture->dumper, header, bytes);
	/* stdio may have written (and failed) already: keep that errno, a
	 * later fflush would only report EIO. */
	if (ferror(pcap_dump_file(capture->dumper))) {
		capture->write_errno = errno != 0 ? errno : EIO;
		return;
	}
	capture->bytes_accounted += record;
	capture->batch_packets++;
}

/* Makes a batch durable, so the file is a valid pcap after every batch
 * whatever happens next (disk full, daemon killed). */
static void
flush_batch(struct capture *capture)
{
	if (capture->write_errno != 0 || capture->batch_packets == 0)
		return;
	errno = 0;
	if (pcap_dump_flush(capture->dumper) != 0 || ferror(pcap_dump_file(capture->dumper))) {
		capture->write_errno = errno != 0 ? errno : EIO;
		return;
	}
	capture->bytes_flushed = capture->bytes_accounted;
	capture->packets_written += capture->batch_packets;
	capture->batch_packets = 0;
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
 * Writes what the kernel has already captured: stop must lose nothing that
 * was captured before it was called. Outside immediate mode the kernel
 * hands a partly filled block over only when its timeout expires, so an
 * empty ring means "empty" only after that timeout. Bounded in time, so
 * that traffic that never stops (a shared bridge) cannot hold stop forever.
 */
static void
drain(struct capture *capture)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct timespec limit = in_ms(DRAIN_LIMIT_S * 1000L);
	struct timespec settled = in_ms(capture->immediate_mode ? 0 : BLOCK_TIMEOUT_MS + 50);
	const struct timespec pause = { .tv_nsec = 10 * 1000000L };
	int n;

	if (pcap_setnonblock(capture->pcap, 1, errbuf) != 0)
		return;
	while (!reached(&limit)) {
		n = pcap_dispatch(capture->pcap, BATCH_PACKETS, on_packet, (u_char *)capture);
		/* A pcap_breakloop that arrived between two dispatches is
		 * consumed here, once; the next call reads again. */
		if (n == PCAP_ERROR_BREAK)
			continue;
		if (n < 0)
			break;
		flush_batch(capture);
		if (n == 0) {
			if (reached(&settled))
				break;
			nanosleep(&pause, NULL);
		}
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
		n = pcap_dispatch(capture->pcap, BATCH_PACKETS, on_packet, (u_char *)capture);
		flush_batch(capture);
		if (n == PCAP_ERROR_BREAK)
			continue;
		if (n == PCAP_ERROR) {
			snprintf(capture->loop_error, sizeof capture->loop_error, "%s",
				 pcap_geterr(capture->pcap));
			return NULL;
		}
	}
	drain(capture);
	return NULL;
}

static void
capture_free(struct capture *capture)
{
	if (capture->dumper != NULL)
		pcap_dump_close(capture->dumper);
	if (capture->pcap != NULL)
		pcap_close(capture->pcap);
	if (capture->fd >= 0)
		close(capture->fd);
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

static bool
open_interface(struct capture *capture, const struct capture_options *options,
	       struct nbx_error *err)
{
	const struct nbx_host *host = capture->host;
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program program;
	int status;

	capture->pcap = pcap_create(options->interface, errbuf);
	if (capture->pcap == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "cannot capture on interface %s: %s",
				options->interface, errbuf);
		return false;
	}
	pcap_set_snaplen(capture->pcap, options->snaplen);
	pcap_set_promisc(capture->pcap, options->promiscuous);
	pcap_set_immediate_mode(capture->pcap, options->immediate_mode);
	/* Without immediate mode the kernel hands packets over when a block
	 * fills or this timeout passes, whichever comes first. */
	pcap_set_timeout(capture->pcap, BLOCK_TIMEOUT_MS);
	if (options->buffer_size > 0)
		pcap_set_buffer_size(capture->pcap, options->buffer_size);
	status = pcap_activate(capture->pcap);
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

static bool
open_file(struct capture *capture, struct nbx_error *err)
{
	const struct nbx_host *host = capture->host;
	FILE *file;
	int writer_fd;

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
	capture->dumper = pcap_dump_fopen(capture->pcap, file);
	if (capture->dumper == NULL) {
		fclose(file);
		host->error_set(host, err, NBX_ERROR_IO, "cannot write %s: %s", capture->path,
				pcap_geterr(capture->pcap));
		return false;
	}
	errno = 0;
	if (pcap_dump_flush(capture->dumper) != 0) {
		host->error_set(host, err, NBX_ERROR_IO, "cannot write the header of %s: %s",
				capture->path, strerror(errno != 0 ? errno : EIO));
		return false;
	}
	capture->bytes_accounted = capture->bytes_flushed = PCAP_FILE_HEADER_SIZE;
	return true;
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
	atomic_init(&capture->stopping, false);
	if (capture->path == NULL || capture->interface == NULL) {
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

/* Closes the file; after a failed write, cuts it back to the last complete
 * batch so that everything before the failure stays readable. */
static void
close_file(struct capture *capture)
{
	pcap_dump_close(capture->dumper);
	capture->dumper = NULL;
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
	close_file(capture);
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
