/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "conntrack_flush.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdlib.h>
#include <string.h>

static struct nfct_handle *
open_handle(const struct nbx_host *host, struct nbx_error *err)
{
	struct nfct_handle *handle = nfct_open(CONNTRACK, 0);

	if (handle == NULL)
		host->error_set(host, err, NBX_ERROR_IO, "cannot open a conntrack netlink socket: %s",
				strerror(errno));
	return handle;
}

bool
conntrack_flush_all(const struct nbx_host *host, struct nbx_error *err)
{
	struct nfct_handle *handle = open_handle(host, err);
	uint32_t family = AF_INET;
	bool ok;

	if (handle == NULL)
		return false;
	ok = nfct_query(handle, NFCT_Q_FLUSH, &family) == 0;
	if (!ok)
		host->error_set(host, err, NBX_ERROR_IO, "cannot flush conntrack: %s",
				strerror(errno));
	nfct_close(handle);
	return ok;
}

struct matches {
	uint32_t source;
	struct nf_conntrack **found;
	size_t n, size;
};

static int
collect(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct matches *matches = data;
	struct nf_conntrack **grown;

	if (nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC) != matches->source)
		return NFCT_CB_CONTINUE;
	if (matches->n == matches->size) {
		matches->size = matches->size ? 2 * matches->size : 16;
		grown = realloc(matches->found, matches->size * sizeof *grown);
		if (grown == NULL)
			return NFCT_CB_STOP;
		matches->found = grown;
	}
	matches->found[matches->n] = nfct_clone(ct);
	if (matches->found[matches->n] != NULL)
		matches->n++;
	return NFCT_CB_CONTINUE;
}

bool
conntrack_flush_source(const struct nbx_host *host, const char *ipv4, struct nbx_error *err)
{
	struct matches matches = { 0 };
	struct nfct_handle *handle;
	uint32_t family = AF_INET;
	bool ok;

	if (inet_pton(AF_INET, ipv4, &matches.source) != 1) {
		host->error_set(host, err, NBX_ERROR_INVALID, "\"%s\" is not an IPv4 address", ipv4);
		return false;
	}
	handle = open_handle(host, err);
	if (handle == NULL)
		return false;
	nfct_callback_register(handle, NFCT_T_ALL, collect, &matches);
	ok = nfct_query(handle, NFCT_Q_DUMP, &family) == 0;
	if (!ok)
		host->error_set(host, err, NBX_ERROR_IO, "cannot list conntrack entries: %s",
				strerror(errno));
	nfct_callback_unregister(handle);
	/* Destroyed after the dump: a handle cannot do both at once. An entry
	 * that ended meanwhile (ENOENT) is gone as wished. */
	for (size_t i = 0; i < matches.n; i++) {
		if (ok && nfct_query(handle, NFCT_Q_DESTROY, matches.found[i]) != 0 &&
		    errno != ENOENT) {
			host->error_set(host, err, NBX_ERROR_IO, "cannot delete a conntrack entry of %s: %s",
					ipv4, strerror(errno));
			ok = false;
		}
		nfct_destroy(matches.found[i]);
	}
	free(matches.found);
	nfct_close(handle);
	return ok;
}
