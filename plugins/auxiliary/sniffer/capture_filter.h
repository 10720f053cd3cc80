/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The BPF expression a capture runs with: the machine's own traffic, minus
 * nestbox's own channels to it, narrowed by the user's expressions.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture_filter_spec {
	const char *machine_ip;
	int32_t agent_port;         /* <= 0: none */
	const char *resultserver_ip; /* NULL: none */
	int64_t resultserver_port;  /* <= 0: the whole result-server host */
	bool debug;                 /* keep nestbox's own traffic */
	const char *config_bpf;     /* NULL or "": none */
	const char *task_bpf;       /* NULL or "": none */
};

/* The full expression, malloc'ed; NULL when out of memory. */
char *capture_filter_build(const struct capture_filter_spec *spec);

/*
 * Compiles @expression for an Ethernet link without opening any device, so
 * a bad expression is found at config validation and before a capture
 * starts. On failure writes libpcap's reason to @reason and returns false.
 */
bool capture_filter_compiles(const char *expression, int snaplen, char *reason,
			     size_t reason_size);
