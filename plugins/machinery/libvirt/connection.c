/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "connection.h"

#include <glib.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "domain_state.h"
#include "libvirt_error.h"

/*
 * Lock order: lock, then report_lock, then state_lock. libvirt's event
 * thread never takes @lock, so an open or an op holding it never waits for
 * a callback that waits for it.
 */
struct LvConnection {
	gint refs;
	LvSettings settings;
	char *dsn;

	/* Serialises (re)opening; guards @conn and @lifecycle_id. */
	GMutex lock;
	virConnectPtr conn;
	int lifecycle_id;

	/* Serialises "ask the state, tell the core"; guards @closing. */
	GMutex report_lock;
	bool closing;

	/* Guards @machines, @lost, @stop_reconnector; @wake signals changes of them. */
	GMutex state_lock;
	GCond wake;
	GPtrArray *machines;
	bool lost;
	bool stop_reconnector;
	GThread *reconnector;
};

void
lv_domain_state_clear(LvDomainState *state)
{
	g_clear_pointer(&state->description, g_free);
}

static LvConnection *
connection_ref(LvConnection *c)
{
	g_atomic_int_inc(&c->refs);
	return c;
}

static void
connection_unref(void *data)
{
	LvConnection *c = data;

	if (!g_atomic_int_dec_and_test(&c->refs))
		return;
	g_mutex_clear(&c->lock);
	g_mutex_clear(&c->report_lock);
	g_mutex_clear(&c->state_lock);
	g_cond_clear(&c->wake);
	g_ptr_array_unref(c->machines);
	g_free(c->dsn);
	g_free(c);
}

const char *
lv_connection_dsn(const LvConnection *c)
{
	return c->dsn;
}

void
lv_connection_add_machine(LvConnection *c, LvMachine *m)
{
	g_mutex_lock(&c->state_lock);
	g_ptr_array_add(c->machines, m);
	g_mutex_unlock(&c->state_lock);
}

/* The machines whose domain is @label, for a callback to report outside state_lock. */
static GPtrArray *
machines_named(LvConnection *c, const char *label)
{
	GPtrArray *found = g_ptr_array_new();

	g_mutex_lock(&c->state_lock);
	for (guint i = 0; i < c->machines->len; i++) {
		LvMachine *m = g_ptr_array_index(c->machines, i);

		if (label == NULL || strcmp(m->machine->label, label) == 0)
			g_ptr_array_add(found, m);
	}
	g_mutex_unlock(&c->state_lock);
	return found;
}

/* Tells the core, unless the plugin is shutting down; report_lock held. */
static void
tell_core(LvConnection *c, LvMachine *m, int32_t state, const char *reason)
{
	const struct nbx_host *host = c->settings.host;

	if (!c->closing)
		host->machine_state_changed(host, m->machine, state, reason);
}

bool
lv_connection_report(LvConnection *c, LvMachine *m, virDomainPtr dom, LvDomainState *out,
		     struct nbx_error *err)
{
	const struct nbx_host *host = c->settings.host;
	struct nbx_error failure = { 0 };
	int state = 0, reason = 0;

	g_mutex_lock(&c->report_lock);
	/*
	 * An event callback may have picked @m just before the plugin began to
	 * shut down; once closing is set the machines may be freed already.
	 */
	if (c->closing) {
		g_mutex_unlock(&c->report_lock);
		if (err != NULL && err->code == NBX_ERROR_NONE)
			host->error_set(host, err, NBX_ERROR_FAILED,
					"the libvirt machinery is shutting down");
		return false;
	}
	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		bool gone = lv_error_last_code() == VIR_ERR_NO_DOMAIN;

		lv_error_set(host, &failure, "cannot ask the state of domain %s on %s",
			     m->machine->label, c->dsn);
		tell_core(c, m, gone ? NBX_MACHINE_ERROR : NBX_MACHINE_UNKNOWN, failure.message);
		g_mutex_unlock(&c->report_lock);
		if (err != NULL && err->code == NBX_ERROR_NONE)
			*err = failure;
		return false;
	}
	out->libvirt_state = state;
	out->libvirt_reason = reason;
	out->state = lv_domain_state_map(state, reason, &out->description);
	tell_core(c, m, out->state, out->description);
	g_mutex_unlock(&c->report_lock);
	return true;
}

static void
report_machine(LvConnection *c, LvMachine *m, virDomainPtr dom)
{
	LvDomainState state = { 0 };

	lv_connection_report(c, m, dom, &state, NULL);
	lv_domain_state_clear(&state);
}

/* On libvirt's event thread: a domain changed; ask and report its machines. */
static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	LvConnection *c = opaque;
	g_autoptr(GPtrArray) machines = machines_named(c, virDomainGetName(dom));

	for (guint i = 0; i < machines->len; i++)
		report_machine(c, g_ptr_array_index(machines, i), dom);
	return 0;
}

static void
report_all(LvConnection *c, int32_t state, const char *reason)
{
	g_autoptr(GPtrArray) machines = machines_named(c, NULL);

	g_mutex_lock(&c->report_lock);
	for (guint i = 0; i < machines->len; i++)
		tell_core(c, g_ptr_array_index(machines, i), state, reason);
	g_mutex_unlock(&c->report_lock);
}

static const char *
close_reason(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR:
		return "I/O error";
	case VIR_CONNECT_CLOSE_REASON_EOF:
		return "the daemon closed it";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timed out";
	case VIR_CONNECT_CLOSE_REASON_CLIENT:
		return "closed by this side";
	default:
		return "unknown reason";
	}
}

/*
 * On libvirt's event thread: the connection is gone. Takes no @lock (an
 * op may hold it while talking to libvirt); the reconnector does the rest.
 */
static void
on_closed(virConnectPtr conn, int reason, void *opaque)
{
	LvConnection *c = opaque;
	g_autofree char *why = g_strdup_printf("connection to %s lost (%s); reconnecting", c->dsn,
					       close_reason(reason));

	g_mutex_lock(&c->state_lock);
	c->lost = true;
	g_cond_broadcast(&c->wake);
	g_mutex_unlock(&c->state_lock);
	g_mutex_lock(&c->report_lock);
	if (!c->closing)
		c->settings.host->log(c->settings.host, NBX_LOG_WARNING, "%s", why);
	g_mutex_unlock(&c->report_lock);
	report_all(c, NBX_MACHINE_UNKNOWN, why);
}

/* Drops the connection (lost or not) and everything registered on it; @lock held. */
static void
drop_locked(LvConnection *c)
{
	if (c->conn == NULL)
		return;
	/* On a dead connection these fail remotely but still unregister here. */
	if (c->lifecycle_id >= 0)
		virConnectDomainEventDeregisterAny(c->conn, c->lifecycle_id);
	virConnectUnregisterCloseCallback(c->conn, on_closed);
	virConnectClose(c->conn);
	virResetLastError();
	c->conn = NULL;
	c->lifecycle_id = -1;
}

/* Every machine's state, asked afresh on a new connection; @lock held. */
static void
resync_locked(LvConnection *c)
{
	g_autoptr(GPtrArray) machines = machines_named(c, NULL);

	for (guint i = 0; i < machines->len; i++) {
		LvMachine *m = g_ptr_array_index(machines, i);
		virDomainPtr dom = virDomainLookupByName(c->conn, m->machine->label);
		struct nbx_error err = { 0 };

		if (dom == NULL) {
			lv_error_set(c->settings.host, &err, "domain %s on %s", m->machine->label,
				     c->dsn);
			g_mutex_lock(&c->report_lock);
			tell_core(c, m, NBX_MACHINE_ERROR, err.message);
			g_mutex_unlock(&c->report_lock);
			continue;
		}
		report_machine(c, m, dom);
		virDomainFree(dom);
	}
}

static void
watch_connection(LvConnection *c, virConnectPtr conn)
{
	const struct nbx_host *host = c->settings.host;

	/* Local drivers (test, qemu:///embed) have no transport to keep alive. */
	if (c->settings.keepalive_interval > 0 &&
	    virConnectSetKeepAlive(conn, c->settings.keepalive_interval,
				   c->settings.keepalive_count) < 0) {
		host->log(host, NBX_LOG_DEBUG, "%s: no keepalive: %s", c->dsn,
			  virGetLastErrorMessage());
		virResetLastError();
	}
	/* Stored only by drivers that can lose their daemon; no reference needed:
	 * once unregistered it never runs again (libvirt holds its lock while calling it). */
	if (virConnectRegisterCloseCallback(conn, on_closed, c, NULL) < 0) {
		host->log(host, NBX_LOG_DEBUG, "%s: no close callback: %s", c->dsn,
			  virGetLastErrorMessage());
		virResetLastError();
	}
}

static bool
reopen_locked(LvConnection *c, struct nbx_error *err)
{
	const struct nbx_host *host = c->settings.host;
	virConnectPtr conn;
	bool was_lost;
	int id;

	drop_locked(c);
	conn = virConnectOpen(c->dsn);
	if (conn == NULL) {
		lv_error_set(host, err, "cannot open libvirt connection %s", c->dsn);
		return false;
	}
	watch_connection(c, conn);
	/* The callback may outlive the unregistration by one running call: it holds a reference. */
	id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
					      connection_ref(c), connection_unref);
	if (id < 0) {
		lv_error_set(host, err, "cannot watch domain events on %s", c->dsn);
		connection_unref(c);
		virConnectUnregisterCloseCallback(conn, on_closed);
		virConnectClose(conn);
		return false;
	}
	c->conn = conn;
	c->lifecycle_id = id;
	g_mutex_lock(&c->state_lock);
	was_lost = c->lost;
	c->lost = false;
	g_mutex_unlock(&c->state_lock);
	if (was_lost)
		host->log(host, NBX_LOG_WARNING, "connection to %s is back", c->dsn);
	resync_locked(c);
	return true;
}

static bool
is_lost(LvConnection *c)
{
	bool lost;

	g_mutex_lock(&c->state_lock);
	lost = c->lost;
	g_mutex_unlock(&c->state_lock);
	return lost;
}

virConnectPtr
lv_connection_get(LvConnection *c, struct nbx_error *err)
{
	virConnectPtr conn = NULL;

	g_mutex_lock(&c->lock);
	/* IsAlive catches a death the close callback has not been told of yet. */
	if ((c->conn != NULL && !is_lost(c) && virConnectIsAlive(c->conn) == 1) ||
	    reopen_locked(c, err)) {
		conn = c->conn;
		virConnectRef(conn);
	}
	g_mutex_unlock(&c->lock);
	return conn;
}

/* Reopens a lost connection every reconnect interval until it is back. */
static gpointer
reconnect_loop(gpointer data)
{
	LvConnection *c = data;

	g_mutex_lock(&c->state_lock);
	while (!c->stop_reconnector) {
		struct nbx_error err = { 0 };
		virConnectPtr conn;
		gint64 next;

		if (!c->lost) {
			g_cond_wait(&c->wake, &c->state_lock);
			continue;
		}
		g_mutex_unlock(&c->state_lock);
		conn = lv_connection_get(c, &err);
		if (conn != NULL)
			virConnectClose(conn);
		g_mutex_lock(&c->state_lock);
		next = g_get_monotonic_time() + (gint64)c->settings.reconnect_interval_ms * 1000;
		while (c->lost && !c->stop_reconnector && g_cond_wait_until(&c->wake, &c->state_lock, next))
			;
	}
	g_mutex_unlock(&c->state_lock);
	return NULL;
}

LvConnection *
lv_connection_new(const LvSettings *settings, const char *dsn)
{
	LvConnection *c = g_new0(LvConnection, 1);

	c->refs = 1;
	c->settings = *settings;
	c->dsn = g_strdup(dsn);
	c->lifecycle_id = -1;
	g_mutex_init(&c->lock);
	g_mutex_init(&c->report_lock);
	g_mutex_init(&c->state_lock);
	g_cond_init(&c->wake);
	c->machines = g_ptr_array_new();
	c->reconnector = g_thread_new("libvirt-reconnect", reconnect_loop, c);
	return c;
}

void
lv_connection_free(LvConnection *c)
{
	if (c == NULL)
		return;
	g_mutex_lock(&c->state_lock);
	c->stop_reconnector = true;
	g_cond_broadcast(&c->wake);
	g_mutex_unlock(&c->state_lock);
	g_thread_join(c->reconnector);

	/* A callback still running finds closing set and calls nothing of the host's. */
	g_mutex_lock(&c->report_lock);
	c->closing = true;
	g_mutex_unlock(&c->report_lock);
	g_mutex_lock(&c->lock);
	drop_locked(c);
	g_mutex_unlock(&c->lock);
	g_mutex_lock(&c->state_lock);
	g_ptr_array_set_size(c->machines, 0);
	g_mutex_unlock(&c->state_lock);
	connection_unref(c);
}
