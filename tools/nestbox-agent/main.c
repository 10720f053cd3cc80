/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox-agent [--bind ADDR] [--port N] [options]: the Cuckoo/CAPE agent
 * protocol (agent.py 0.22, the part nestbox uses, and nestbox's
 * extensions) for Linux guests, as one static binary. README.md says how
 * to install it; PROTOCOL.md is the protocol.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "guest_path.h"
#include "process_table.h"

static const char usage_text[] =
	"Usage: nestbox-agent [OPTION]...\n"
	"Serves the Cuckoo/CAPE agent HTTP protocol (agent.py 0.22) and nestbox's\n"
	"extensions inside a Linux guest. Run it as root; see README.md.\n"
	"\n"
	"  --bind ADDR            address to listen on (IPv4 or IPv6), default 0.0.0.0\n"
	"  --port N               TCP port, default 8000\n"
	"  --max-connections N    connections served at once, default 32 (1..1024)\n"
	"  --timeout SECONDS      for a request head to arrive, and the longest pause\n"
	"                         in a body or an answer, default 30 (1..3600)\n"
	"  --max-upload MIB       largest /store body, default 4096\n"
	"  --max-output MIB       stdout (and stderr) a synchronous /execute returns,\n"
	"                         default 4 (the rest is read and dropped)\n"
	"  --output-dir DIR       asynchronous /execute output and spooled uploads,\n"
	"                         default /tmp/nestbox-agent (made 0700, root's)\n"
	"  --allow-local          serve every route to the guest's own addresses too\n"
	"                         (unsafe: any process in the guest could act as root)\n"
	"  --dry-clock            /clock checks and answers but does not set the clock\n"
	"  --version, --help\n";

/* A decimal option in [@min, @max]; exits 2 naming it otherwise. */
static long long
number_option(const char *name, const char *text, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "nestbox-agent: --%s must be a number from %lld to %lld, not \"%s\"\n",
			name, min, max, text);
		exit(2);
	}
	return v;
}

static void
parse_options(int argc, char **argv, struct nba_options *opt)
{
	static const struct option longs[] = {
		{ "bind", required_argument, NULL, 'b' }, { "port", required_argument, NULL, 'p' },
		{ "max-connections", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-upload", required_argument, NULL, 'u' },
		{ "max-output", required_argument, NULL, 'o' },
		{ "output-dir", required_argument, NULL, 'd' },
		{ "allow-local", no_argument, NULL, 'L' }, { "dry-clock", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'b': snprintf(opt->bind, sizeof opt->bind, "%s", optarg); break;
		case 'p': opt->port = (int)number_option("port", optarg, 1, 65535); break;
		case 'c': opt->max_connections = (int)number_option("max-connections", optarg, 1, 1024); break;
		case 't': opt->timeout_s = (int)number_option("timeout", optarg, 1, 3600); break;
		case 'u': opt->max_upload = (uint64_t)number_option("max-upload", optarg, 1, 1 << 20) << 20; break;
		case 'o': opt->max_output = (size_t)number_option("max-output", optarg, 1, 256) << 20; break;
		case 'd':
			if (strlen(optarg) >= sizeof opt->output_dir) {
				fprintf(stderr, "nestbox-agent: --output-dir is longer than %zu bytes\n",
					sizeof opt->output_dir - 1);
				exit(2);
			}
			strcpy(opt->output_dir, optarg);
			break;
		case 'L': opt->allow_local = true; break;
		case 'C': opt->dry_clock = true; break;
		case 'V': printf("nestbox-agent %s (agent.py protocol %s)\n", NESTBOX_AGENT_VERSION,
				 NBA_PROTOCOL_VERSION); exit(0);
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nestbox-agent: unexpected argument \"%s\"\n%s", argv[optind], usage_text);
		exit(2);
	}
}

/* The output directory: made if missing, and refused unless a directory only we can write. */
static bool
prepare_output_dir(const char *dir)
{
	struct stat st;
	const char *problem = nba_guest_path_problem(dir, strlen(dir));

	if (problem != NULL) {
		fprintf(stderr, "nestbox-agent: --output-dir %s %s\n", dir, problem);
		return false;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "nestbox-agent: --output-dir %s: %s\n", dir, strerror(errno));
		return false;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		fprintf(stderr, "nestbox-agent: --output-dir %s must be a directory (not a link) owned "
			"by the agent's user and writable by nobody else\n", dir);
		return false;
	}
	return true;
}

static int
listen_on(const struct nba_options *opt)
{
	struct sockaddr_storage addr = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
	socklen_t len;
	int fd, one = 1;

	if (inet_pton(AF_INET, opt->bind, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)opt->port);
		len = sizeof *v4;
	} else if (inet_pton(AF_INET6, opt->bind, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)opt->port);
		len = sizeof *v6;
	} else {
		fprintf(stderr, "nestbox-agent: --bind wants an IPv4 or IPv6 address, not \"%s\"\n",
			opt->bind);
		return -1;
	}
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, 128) != 0) {
		fprintf(stderr, "nestbox-agent: cannot listen on %s port %d: %s\n", opt->bind,
			opt->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	static struct nba_agent agent = {
		.opt = {
			.bind = "0.0.0.0", .port = 8000, .max_connections = 32, .timeout_s = 30,
			.max_upload = 4096ull << 20, .max_output = 4u << 20,
			.output_dir = "/tmp/nestbox-agent",
		},
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.status = "init",
	};
	int fd;

	parse_options(argc, argv, &agent.opt);
	agent.umask = umask(022);
	umask(agent.umask);
	agent.description = strdup("");
	signal(SIGPIPE, SIG_IGN);
	/* orphans of a sample come back to the agent, which reaps them */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (!prepare_output_dir(agent.opt.output_dir) || (fd = listen_on(&agent.opt)) < 0)
		return 1;
	if (!nba_processes_start()) {
		fprintf(stderr, "nestbox-agent: cannot start the reaper thread: %s\n", strerror(errno));
		return 1;
	}
	nba_log("nestbox-agent %s listening on %s port %d%s", NESTBOX_AGENT_VERSION, agent.opt.bind,
		agent.opt.port, agent.opt.allow_local ? " (--allow-local)" : "");
	return nba_serve(&agent, fd);
}
