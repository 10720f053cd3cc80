/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One persistent libvirt connection per dsn, shared by every machine that
 * names that dsn.
 *
 * The connection is opened once and kept, with keepalive. When it closes
 * (the daemon behind it restarted or died, keepalive timed out) its machines
 * are reported UNKNOWN and a thread of the connection reopens it, every
 * reconnect interval, until it is back; an op that needs the connection
 * meanwhile tries to reopen it itself. After every (re)open the domain
 * lifecycle callback is registered again and every machine's state is
 * asked afresh, so events missed while the connection was down are not.
 *
 * Domain lifecycle events are the only trigger of state reports besides the
 * ops themselves: no polling. Each report asks libvirt the domain's state
 * at that moment, under one lock per connection, so the last report the
 * core gets is always the newest state, whatever order events and ops run.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

typedef struct LvConnection LvConnection;

/* A machine, as the plugin keeps it in `struct nbx_machine.plugin_data`. */
typedef struct {
	struct nbx_machine *machine;
	LvConnection *connection;
	/*
	 * Held by the ops that start the domain and by snapshot_remove, which
	 * the core runs without the machine's lock: a snapshot is only deleted
	 * from a domain that stays off meanwhile. Taken before any lock of the
	 * connection.
	 */
	GMutex start_lock;
} LvMachine;

typedef struct {
	const struct nbx_host *host;
	/* Seconds between keepalive probes; 0 turns keepalive off. */
	int keepalive_interval;
	/* Probes that may go unanswered before the connection counts as dead. */
	unsigned keepalive_count;
	/* Milliseconds between attempts to reopen a lost connection. */
	unsigned reconnect_interval_ms;
} LvSettings;

/* What libvirt said about a domain, and what it means to nestbox. */
typedef struct {
	int32_t state;
	int libvirt_state;
	int libvirt_reason;
	char *description;
} LvDomainState;

void lv_domain_state_clear(LvDomainState *state);

/* A connection for @dsn, not opened yet. */
LvConnection *lv_connection_new(const LvSettings *settings, const char *dsn);

/* Releases @c: no state report and no host call happen once it returns. */
void lv_connection_free(LvConnection *c);

const char *lv_connection_dsn(const LvConnection *c);

/* Lifecycle events of @m's domain (by label) are reported for @m from now on. */
void lv_connection_add_machine(LvConnection *c, LvMachine *m);

/*
 * A reference to the open connection (virConnectClose it), opening it
 * first when it is not open or was lost. NULL with @err set when it cannot
 * be opened now.
 */
virConnectPtr lv_connection_get(LvConnection *c, struct nbx_error *err);

/*
 * Asks libvirt the state of @dom (the domain of @m) and tells the core.
 * Fills @out (clear it with lv_domain_state_clear). False with @err set
 * when the state could not be asked; the core is then told UNKNOWN, or
 * ERROR when the domain no longer exists.
 */
bool lv_connection_report(LvConnection *c, LvMachine *m, virDomainPtr dom, LvDomainState *out,
			  struct nbx_error *err);
