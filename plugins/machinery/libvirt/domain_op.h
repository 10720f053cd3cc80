/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the libvirt machinery: what every machine op starts and ends with
 * (its machine, connection and domain), and the steps several ops share,
 * the machine ops (libvirt_machinery.c) and the snapshot generations
 * (snapshots.c) alike. Not part of any ABI.
 */
#pragma once

#include <libvirt/libvirt.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "libvirt_instance.h"

/* What every machine op starts with: its machine, connection and domain. */
typedef struct {
	LvMachine *m;
	virConnectPtr conn;
	virDomainPtr dom;
} Op;

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
