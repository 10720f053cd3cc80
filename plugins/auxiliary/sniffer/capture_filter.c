/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* asprintf */
#include "capture_filter.h"

#include <stdarg.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends printf output to a malloc'ed string; frees it and yields NULL on failure. */
static char * __attribute__((format(printf, 2, 3)))
append(char *text, const char *format, ...)
{
	va_list args;
	char *more = NULL;
	char *joined = NULL;
	int length;

	if (text == NULL)
		return NULL;
	va_start(args, format);
	length = vasprintf(&more, format, args);
	va_end(args);
	if (length >= 0 && asprintf(&joined, "%s%s", text, more) < 0)
		joined = NULL;
	free(more);
	free(text);
	return joined;
}

static bool
is_set(const char *text)
{
	return text != NULL && text[0] != '\0';
}

char *
capture_filter_build(const struct capture_filter_spec *spec)
{
	char *filter = strdup("");

	/* Parenthesised so that each user expression narrows the capture and
	 * can never widen it with a top-level "or". */
	filter = append(filter, "(host %s", spec->machine_ip);
	if (!spec->debug && spec->agent_port > 0)
		filter = append(filter, " and not port %d", (int)spec->agent_port);
	if (!spec->debug && is_set(spec->resultserver_ip)) {
		if (spec->resultserver_port > 0)
			filter = append(filter, " and not (host %s and port %lld)",
					spec->resultserver_ip, (long long)spec->resultserver_port);
		else
			filter = append(filter, " and not host %s", spec->resultserver_ip);
	}
	filter = append(filter, ")");
	if (is_set(spec->config_bpf))
		filter = append(filter, " and (%s)", spec->config_bpf);
	if (is_set(spec->task_bpf))
		filter = append(filter, " and (%s)", spec->task_bpf);
	return filter;
}

bool
capture_filter_compiles(const char *expression, int snaplen, char *reason, size_t reason_size)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, snaplen);
	struct bpf_program program;
	bool ok;

	if (dead == NULL) {
		snprintf(reason, reason_size, "libpcap could not allocate a compiler");
		return false;
	}
	ok = pcap_compile(dead, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0;
	if (ok)
		pcap_freecode(&program);
	else
		snprintf(reason, reason_size, "%s", pcap_geterr(dead));
	pcap_close(dead);
	return ok;
}
