/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the libvirt machinery: the instance and what every machine op
 * starts and ends with, shared by the ops (libvirt_machinery.c) and the
 * snapshot generations (snapshots.c). Not part of any ABI.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "connection.h"

typedef struct {
	const struct nbx_host *host;
	LvSettings settings;
	const char *dsn;
	/* Guards @connections and @machines: ops on different machines run at once. */
	GMutex lock;
	/* dsn -> LvConnection *, owned. */
	GHashTable *connections;
	/* dsn -> the machine node that first named it (NULL: the plugin's own dsn). */
	GHashTable *dsn_nodes;
	/* LvMachine *, owned. */
	GPtrArray *machines;
} Libvirt;

/* What every machine op starts with: its machine, connection and domain. */
typedef struct {
	LvMachine *m;
	virConnectPtr conn;
	virDomainPtr dom;
} Op;

/* The dsn of a machine (its own `dsn`, else the plugin's). */
const char *lv_dsn_of(Libvirt *lv, const struct nbx_machine *machine);

/* The plugin's record of @machine (its connection), made on first use. */
LvMachine *lv_machine_of(Libvirt *lv, struct nbx_machine *machine);

/*
 * Fills @op for @machine: fails with NBX_ERROR_NOT_SUPPORTED on a bit of
 * @call->flags outside @allowed_flags, else on a connection that cannot be
 * opened or a domain that does not exist (then op->conn may be set: the
 * domain is gone, the hypervisor answered). Always pair with lv_op_end.
 */
bool lv_op_begin(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call,
		 uint32_t allowed_flags, Op *op, struct nbx_error *err);
void lv_op_end(Op *op);

/* True, with NBX_ERROR_TIMEOUT in @err, once @call's deadline has passed. */
bool lv_past_deadline(Libvirt *lv, const struct nbx_call *call, const char *what,
		      struct nbx_error *err);

/* After a start: RUNNING, or PAUSED for handle_paused; anything else fails (tells the core). */
bool lv_started(Libvirt *lv, Op *op, const char *how, struct nbx_error *err);

/*
 * Pulls the plug on @op's domain unless it is off already, and makes sure
 * the core knows it is POWEROFF; false when it could not be made so.
 */
bool lv_power_off(Libvirt *lv, Op *op, struct nbx_error *err);

/* Destroys the domain if it runs and tells the core; for undoing a failed start. */
void lv_undo_start(Op *op);
