/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sniffer auxiliary: one dump.pcap per analysis, with the machine's
 * traffic as seen on its interface, captured in-process with libpcap from
 * before the machine is restored until after it is down.
 */
#define _GNU_SOURCE /* asprintf */
#include <nestbox/plugin.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "capture_filter.h"

#define DUMP_FILE "dump.pcap"
#define REASON_SIZE 512
#define LIBPCAP_MAX_SNAPLEN 262144

static const struct nbx_config_field sniffer_fields[] = {
	{ .name = "interface", .type = NBX_FIELD_INTERFACE,
	  .doc = "Interface to capture on when a machine names none (usually the machines' bridge)" },
	{ .name = "resultserver_ip", .type = NBX_FIELD_IP_ADDRESS,
	  .doc = "Address of the result server; its traffic with the machine is left out "
		 "unless the task is a debug run" },
	{ .name = "resultserver_port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
	  .doc = "Port of the result server; without it, all traffic with resultserver_ip is "
		 "left out" },
	{ .name = "bpf", .type = NBX_FIELD_STRING,
	  .doc = "Extra BPF expression (pcap-filter(7)) that narrows every capture; a task's "
		 "option bpf narrows it further" },
	{ .name = "snaplen", .type = NBX_FIELD_INTEGER, .min = 64, .max = 262144,
	  .default_value = "262144", .doc = "Bytes kept of each packet" },
	/* In immediate mode libpcap's ring holds one snaplen-sized slot per
	 * packet on interfaces with offloads (veth, bridges, taps): its 2 MiB
	 * default keeps 8 packets and drops most of a burst. Blocks (the
	 * default) pack packets tightly; the 32 MiB is the headroom for a
	 * writer held up by a slow disk. */
	{ .name = "buffer_size", .type = NBX_FIELD_INTEGER, .min = 0, .max = INT_MAX,
	  .default_value = "33554432",
	  .doc = "Kernel capture buffer in bytes; 0 keeps libpcap's default of 2 MiB, which in "
		 "immediate mode holds only about 8 packets of snaplen 262144" },
	{ .name = "promiscuous", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Put the interface in promiscuous mode" },
	/* Measured by the sniffer-vs-tcpdump benchmark: see tests/bench. */
	{ .name = "immediate_mode", .type = NBX_FIELD_BOOLEAN, .default_value = "false",
	  .doc = "Hand each packet over as it arrives instead of in kernel-filled blocks. Off "
		 "(the default): packets reach dump.pcap a block at a time, up to 1 s late (2 s "
		 "on some kernels), and stop may wait that long for the last one; less CPU per "
		 "packet than tcpdump -w. On: packets are written at once, for 7 to 45 times "
		 "that CPU, and some are dropped from about 10000 packets/s" },
	{ .name = "max_capture_size", .type = NBX_FIELD_INTEGER, .min = 0, .max = INT64_MAX,
	  .default_value = "0",
	  .doc = "Largest dump.pcap in bytes; later packets are counted, not written; 0: no limit" },
	{ 0 },
};

static const struct nbx_config_schema sniffer_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = sniffer_fields,
};

/* A task's options (`"options": {"sniffer": {...}}`), checked at submission. */
static const struct nbx_config_field sniffer_task_fields[] = {
	{ .name = "bpf", .type = NBX_FIELD_STRING,
	  .doc = "A BPF expression (pcap-filter(7)) that narrows this analysis's capture" },
	{ 0 },
};

static const struct nbx_config_schema sniffer_task_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = sniffer_task_fields,
};

struct sniffer {
	const struct nbx_host *host;
};

/* One analysis's capture, and what stop reports about it. */
struct sniffer_run {
	struct capture *capture;
	char *interface;
	char *filter;
	int64_t max_capture_size;
};

/* The core validated the section: a key with a default has its value (the schema's). */
static int64_t
setting_integer(const struct nbx_host *host, const char *key)
{
	int64_t value = 0;

	host->config_integer(host, NULL, key, &value);
	return value;
}

static bool
setting_boolean(const struct nbx_host *host, const char *key)
{
	bool value = false;

	host->config_boolean(host, NULL, key, &value);
	return value;
}

static bool
sniffer_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	struct sniffer *sniffer = calloc(1, sizeof *sniffer);

	if (sniffer == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return false;
	}
	sniffer->host = host;
	*instance = sniffer;
	return true;
}

static void
sniffer_shutdown(void *instance)
{
	free(instance);
}

/* A BPF that does not compile would capture nothing at every analysis:
 * refuse it when the configuration is validated. */
static bool
sniffer_check(void *instance, struct nbx_check *check, struct nbx_error *err)
{
	struct sniffer *sniffer = instance;
	const struct nbx_host *host = sniffer->host;
	const char *bpf = host->config_string(host, NULL, "bpf");
	char reason[REASON_SIZE];
	int64_t port;

	if (host->config_integer(host, NULL, "resultserver_port", &port) &&
	    host->config_string(host, NULL, "resultserver_ip") == NULL)
		host->check_report(host, check, NULL, "resultserver_port",
				   "is set but resultserver_ip is not: set resultserver_ip too, "
				   "or nothing is left out of the capture");
	if (bpf != NULL && !capture_filter_compiles(bpf, LIBPCAP_MAX_SNAPLEN, reason, sizeof reason))
		host->check_report(host, check, NULL, "bpf",
				   "\"%s\" is not a valid BPF expression: %s; fix it (see "
				   "pcap-filter(7)) or remove the key",
				   bpf, reason);
	return true;
}

static const char *
capture_interface(const struct nbx_host *host, const struct nbx_machine *machine)
{
	if (machine->interface != NULL && machine->interface[0] != '\0')
		return machine->interface;
	return host->config_string(host, NULL, "interface");
}

/* The filter for this analysis, or NULL with @err set. */
static char *
analysis_filter(const struct nbx_host *host, const struct nbx_aux_context *context,
		struct nbx_error *err)
{
	const struct nbx_task *task = context->task;
	const char *task_bpf =
		task->options != NULL ? host->config_string(host, task->options, "bpf") : NULL;
	char reason[REASON_SIZE];
	int64_t resultserver_port = 0;
	struct capture_filter_spec spec;
	char *filter;

	/* The task's expression is checked alone first, so the error names
	 * what the submitter wrote rather than the whole composed filter. */
	if (task_bpf != NULL &&
	    !capture_filter_compiles(task_bpf, LIBPCAP_MAX_SNAPLEN, reason, sizeof reason)) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"task %lld: option bpf \"%s\" is not a valid BPF expression: %s; "
				"fix it (see pcap-filter(7)) and resubmit",
				(long long)task->id, task_bpf, reason);
		return NULL;
	}
	host->config_integer(host, NULL, "resultserver_port", &resultserver_port);
	spec = (struct capture_filter_spec){
		.machine_ip = context->machine->ip,
		.agent_port = context->machine->agent_port,
		.resultserver_ip = host->config_string(host, NULL, "resultserver_ip"),
		.resultserver_port = resultserver_port,
		.debug = task->debug,
		.config_bpf = host->config_string(host, NULL, "bpf"),
		.task_bpf = task_bpf,
	};
	filter = capture_filter_build(&spec);
	if (filter == NULL)
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
	return filter;
}

static void
run_free(struct sniffer_run *run)
{
	free(run->interface);
	free(run->filter);
	free(run);
}

static bool
sniffer_start(void *instance, const struct nbx_aux_context *context, void **analysis_data,
	      const struct nbx_call *call, struct nbx_error *err)
{
	const struct nbx_host *host = ((struct sniffer *)instance)->host;
	const struct nbx_machine *machine = context->machine;
	const char *interface = capture_interface(host, machine);
	struct capture_options options;
	struct sniffer_run *run;
	char *path = NULL;

	if (call->flags != 0) {
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				call->flags);
		return false;
	}
	if (interface == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s has no interface and the sniffer's interface setting is "
				"not set: set one of them to the interface the machine's traffic "
				"crosses",
				machine->name);
		return false;
	}
	if (machine->ip == NULL || machine->ip[0] == '\0') {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"machine %s has no ip: the capture filter needs it", machine->name);
		return false;
	}
	run = calloc(1, sizeof *run);
	if (run == NULL || (run->interface = strdup(interface)) == NULL ||
	    asprintf(&path, "%s/%s", context->analysis_dir, DUMP_FILE) < 0) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		if (run != NULL)
			run_free(run);
		return false;
	}
	run->filter = analysis_filter(host, context, err);
	if (run->filter == NULL) {
		free(path);
		run_free(run);
		return false;
	}
	options = (struct capture_options){
		.interface = interface,
		.filter = run->filter,
		.path = path,
		.snaplen = (int)setting_integer(host, "snaplen"),
		.buffer_size = (int)setting_integer(host, "buffer_size"),
		.promiscuous = setting_boolean(host, "promiscuous"),
		.immediate_mode = setting_boolean(host, "immediate_mode"),
		.max_capture_size = setting_integer(host, "max_capture_size"),
		.network_namespace = NBX_MACHINE_HAS(machine, network_namespace)
					     ? machine->network_namespace
					     : NULL,
	};
	run->max_capture_size = options.max_capture_size;
	run->capture = capture_start(host, &options, err);
	free(path);
	if (run->capture == NULL) {
		run_free(run);
		return false;
	}
	host->log(host, NBX_LOG_DEBUG, "task %lld: capturing on %s with filter %s",
		  (long long)context->task->id, interface, run->filter);
	*analysis_data = run;
	return true;
}

static void
format_iso8601(const struct timespec *when, char *out, size_t size)
{
	struct tm utc;
	char seconds[32];

	gmtime_r(&when->tv_sec, &utc);
	strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &utc);
	snprintf(out, size, "%s.%03ldZ", seconds, when->tv_nsec / 1000000);
}

static void
report_result(const struct nbx_host *host, struct nbx_report *report,
	      const struct sniffer_run *run, const struct capture_result *result)
{
	char when[64];

	host->report_set_integer(host, report, "packets_captured",
				 (int64_t)result->packets_written);
	host->report_set_integer(host, report, "packets_received",
				 (int64_t)result->packets_received);
	host->report_set_integer(host, report, "dropped_by_kernel",
				 (int64_t)result->dropped_by_kernel);
	host->report_set_integer(host, report, "dropped_by_interface",
				 (int64_t)result->dropped_by_interface);
	host->report_set_integer(host, report, "bytes_written", (int64_t)result->bytes_written);
	format_iso8601(&result->started, when, sizeof when);
	host->report_set_string(host, report, "capture_start", when);
	format_iso8601(&result->ended, when, sizeof when);
	host->report_set_string(host, report, "capture_end", when);
	host->report_set_string(host, report, "interface", run->interface);
	host->report_set_string(host, report, "filter", run->filter);
	if (result->packets_over_limit > 0) {
		host->report_set_integer(host, report, "packets_over_limit",
					 (int64_t)result->packets_over_limit);
		host->report_set_integer(host, report, "max_capture_size", run->max_capture_size);
	}
	if (result->interface_lost)
		host->report_set_string(host, report, "capture_ended",
					"the interface went down or away before stop");
	host->report_add_file(host, report, DUMP_FILE);
}

static bool
sniffer_stop(void *instance, const struct nbx_aux_context *context, void *analysis_data,
	     const struct nbx_call *call, struct nbx_error *err)
{
	const struct nbx_host *host = ((struct sniffer *)instance)->host;
	struct sniffer_run *run = analysis_data;
	struct capture_result result = { 0 };
	bool ok;

	/* Whatever the flags say, the capture must end and the file be kept. */
	ok = capture_stop(run->capture, &result, err);
	report_result(host, context->report, run, &result);
	if (result.packets_over_limit > 0)
		host->log(host, NBX_LOG_WARNING,
			  "task %lld: max_capture_size (%lld bytes) reached; %llu packets not written",
			  (long long)context->task->id, (long long)run->max_capture_size,
			  (unsigned long long)result.packets_over_limit);
	run_free(run);
	if (ok && call->flags != 0) {
		host->error_set(host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				call->flags);
		ok = false;
	}
	return ok;
}

/* A task's bpf must compile: refused at submission, not found at its capture. */
static bool
sniffer_check_task(void *instance, const struct nbx_config_node *options, struct nbx_check *check,
		   struct nbx_error *err)
{
	const struct nbx_host *host = ((struct sniffer *)instance)->host;
	const char *bpf = host->config_string(host, options, "bpf");
	char reason[REASON_SIZE];

	if (bpf != NULL && !capture_filter_compiles(bpf, LIBPCAP_MAX_SNAPLEN, reason, sizeof reason))
		host->check_report(host, check, options, "bpf",
				   "\"%s\" is not a valid BPF expression: %s (see pcap-filter(7))",
				   bpf, reason);
	return true;
}

static const struct nbx_auxiliary_ops sniffer_ops = {
	.struct_size = sizeof(struct nbx_auxiliary_ops),
	.init = sniffer_init,
	.shutdown = sniffer_shutdown,
	.check = sniffer_check,
	.start = sniffer_start,
	.stop = sniffer_stop,
	.check_task = sniffer_check_task,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_AUXILIARY, .name = "sniffer", .version = "1.0.0",
		  .description = "Captures each analysis's network traffic to dump.pcap with libpcap",
		  .config_schema = &sniffer_schema, .task_schema = &sniffer_task_schema,
		  .ops.auxiliary = &sniffer_ops, .order = 1);
