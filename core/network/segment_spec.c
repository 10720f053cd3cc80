/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "segment_spec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean
invalid(GError **error, const char *key, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
invalid(GError **error, const char *key, const char *format, ...)
{
	g_autofree char *what = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NBX_NETWORK_ERROR, NBX_NETWORK_ERROR_INVALID, "%s: %s", key, what);
	return FALSE;
}

/* "A.B.C.D/LENGTH" with LENGTH in [@min, @max], into host-order address and length. */
static gboolean
parse_prefix(const char *text, guint min, guint max, guint32 *address, guint *length)
{
	g_autofree char *copy = g_strdup(text);
	char *slash = strchr(copy, '/');
	struct in_addr parsed;
	char *end;
	unsigned long value;

	if (slash == NULL)
		return FALSE;
	*slash = '\0';
	if (inet_pton(AF_INET, copy, &parsed) != 1 || !g_ascii_isdigit(slash[1]))
		return FALSE;
	value = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || value < min || value > max)
		return FALSE;
	*address = ntohl(parsed.s_addr);
	*length = (guint)value;
	return TRUE;
}

static guint32
network_mask(guint length)
{
	return length == 0 ? 0 : ~(guint32)0 << (32 - length);
}

static gboolean
valid_machine_name(const char *name)
{
	if (name == NULL || name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return FALSE;
	for (const char *c = name; *c != '\0'; c++)
		if (!g_ascii_isalnum(*c) && strchr("_.-", *c) == NULL)
			return FALSE;
	/* The namespace's file name: nbx-NAME, at most NAME_MAX. */
	return strlen(name) <= 250;
}

static gboolean
valid_mac(const char *mac)
{
	unsigned int bytes[6];
	char tail;

	return strlen(mac) == 17 &&
	       sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &bytes[0], &bytes[1], &bytes[2], &bytes[3],
		      &bytes[4], &bytes[5], &tail) == 6 &&
	       (bytes[0] & 1) == 0;
}

static gboolean
plan_host_side(const NbxSegmentSpec *spec, const NbxSegmentPlan *plan, GError **error)
{
	guint32 host, mask;
	guint length;

	if (spec->host_address == NULL)
		return invalid(error, "host_address",
			       "a machine with a segment needs the host side's address of its "
			       "subnet, e.g. \"10.213.0.1/24\"");
	if (!parse_prefix(spec->host_address, 8, 30, &host, &length))
		return invalid(error, "host_address",
			       "\"%s\" is not an IPv4 address with a prefix length from 8 to 30, "
			       "e.g. \"10.213.0.1/24\"",
			       spec->host_address);
	mask = network_mask(length);
	if ((host & ~mask) == 0 || (host & ~mask) == ~mask)
		return invalid(error, "host_address", "%s is its subnet's network or broadcast address",
			       spec->host_address);
	/* Overlapping subnets would route the guest's replies into the uplink. */
	mask = network_mask(MIN(length, plan->uplink_length));
	if ((host & mask) == (plan->uplink_base & mask))
		return invalid(error, "host_address", "%s overlaps network.uplink_prefix %s",
			       spec->host_address, plan->uplink_prefix);
	if (spec->host_mac != NULL && !valid_mac(spec->host_mac))
		return invalid(error, "host_mac",
			       "\"%s\" is not a unicast MAC address like 52:54:00:12:34:56",
			       spec->host_mac);
	return TRUE;
}

gboolean
nbx_segment_plan(const NbxSegmentSpec *spec, NbxSegmentPlan *plan, GError **error)
{
	*plan = (NbxSegmentPlan){
		.machine = spec->name,
		.host_address = spec->host_address,
		.uplink_prefix = spec->uplink_prefix != NULL ? spec->uplink_prefix
							     : NBX_SEGMENT_DEFAULT_UPLINK_PREFIX,
	};
	if (!valid_machine_name(spec->name))
		return invalid(error, "name",
			       "\"%s\" cannot name a network namespace: use [A-Za-z0-9_.-]",
			       spec->name != NULL ? spec->name : "");
	if (!parse_prefix(plan->uplink_prefix, 8, 30, &plan->uplink_base, &plan->uplink_length))
		return invalid(error, "network.uplink_prefix",
			       "\"%s\" is not an IPv4 prefix with a length from 8 to 30, e.g. "
			       "\"100.64.0.0/16\"",
			       plan->uplink_prefix);
	if ((plan->uplink_base & ~network_mask(plan->uplink_length)) != 0)
		return invalid(error, "network.uplink_prefix",
			       "%s has host bits set: write the network's first address",
			       plan->uplink_prefix);
	plan->capacity = 1u << (30 - plan->uplink_length);
	return plan_host_side(spec, plan, error);
}

gboolean
nbx_segment_spec_check(const NbxSegmentSpec *spec, GError **error)
{
	NbxSegmentPlan plan;

	return nbx_segment_plan(spec, &plan, error);
}

char *
nbx_segment_plan_uplink_address(const NbxSegmentPlan *plan, guint index, guint host,
				gboolean with_length)
{
	struct in_addr address = { .s_addr = htonl(plan->uplink_base + 4 * index + host) };
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &address, text, sizeof text);
	return with_length ? g_strconcat(text, "/30", NULL) : g_strdup(text);
}
