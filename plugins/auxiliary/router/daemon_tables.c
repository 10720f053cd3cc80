/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* open_memstream */
#include "daemon_tables.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nft_apply.h"
#include "vpn_rule.h"

#define MAX_INTERFACES 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool stale_removed;
/* Guests running per interface, for the interface sets. */
static struct {
	char name[ROUTE_IFNAME_SIZE];
	unsigned guests;
} interfaces[MAX_INTERFACES];

char *
batch_build(batch_fn fn, const void *data)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	fn(out, data);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static unsigned *
guests_on(const char *ifname, bool create)
{
	for (size_t i = 0; i < MAX_INTERFACES; i++)
		if (strcmp(interfaces[i].name, ifname) == 0)
			return &interfaces[i].guests;
	for (size_t i = 0; create && i < MAX_INTERFACES; i++) {
		if (interfaces[i].guests == 0) {
			snprintf(interfaces[i].name, sizeof interfaces[i].name, "%s", ifname);
			return &interfaces[i].guests;
		}
	}
	return NULL;
}

static void
write_add(FILE *out, const void *data)
{
	ruleset_write_base(out, true, false);
	ruleset_write_machine(out, data);
}

static void
write_removal(FILE *out, const void *data)
{
	ruleset_write_machine_removal(out, data);
}

static bool
apply(const struct nbx_host *host, batch_fn fn, const struct machine_rules *rules,
      struct nbx_error *err)
{
	char *batch = batch_build(fn, rules);
	bool ok;

	if (batch == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "out of memory");
		return false;
	}
	ok = nft_apply(host, batch, err);
	free(batch);
	return ok;
}

bool
daemon_tables_add(const struct nbx_host *host, struct machine_rules *rules, struct nbx_error *err)
{
	unsigned *guests;
	bool ok = false;

	pthread_mutex_lock(&lock);
	guests = guests_on(rules->ifname, true);
	if (guests == NULL) {
		host->error_set(host, err, NBX_ERROR_BUSY,
				"guests run on %d interfaces already: the router handles at most that many",
				MAX_INTERFACES);
	} else {
		rules->first_on_interface = *guests == 0;
		ok = apply(host, write_add, rules, err);
		if (ok)
			(*guests)++;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

bool
daemon_tables_remove(const struct nbx_host *host, struct machine_rules *rules,
		     struct nbx_error *err)
{
	unsigned *guests;
	bool ok;

	pthread_mutex_lock(&lock);
	guests = guests_on(rules->ifname, false);
	rules->first_on_interface = guests == NULL || *guests <= 1;
	ok = apply(host, write_removal, rules, err);
	if (guests != NULL && *guests > 0)
		(*guests)--;
	pthread_mutex_unlock(&lock);
	return ok;
}

static void
write_remove_all(FILE *out, const void *data)
{
	ruleset_write_remove_all(out);
}

bool
daemon_tables_remove_stale(const struct nbx_host *host, struct nbx_error *err)
{
	bool ok = true;

	pthread_mutex_lock(&lock);
	if (!stale_removed) {
		char *batch = batch_build(write_remove_all, NULL);

		ok = batch != NULL && nft_apply(host, batch, err) && vpn_rules_remove_all(host, err);
		free(batch);
		stale_removed = ok;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}
