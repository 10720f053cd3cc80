/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every machine op of the libvirt machinery starts and ends with, and
 * the few steps several ops share (domain_op.h).
 */
#include "domain_op.h"

#include <libvirt/virterror.h>

#include "domain_state.h"
#include "libvirt_error.h"

void
lv_op_end(Op *op)
{
	if (op->dom != NULL)
		virDomainFree(op->dom);
	if (op->conn != NULL)
		virConnectClose(op->conn);
}

bool
lv_op_begin(Libvirt *lv, struct nbx_machine *machine, const struct nbx_call *call,
	    uint32_t allowed_flags, Op *op, struct nbx_error *err)
{
	if ((call->flags & ~allowed_flags) != 0) {
		lv->host->error_set(lv->host, err, NBX_ERROR_NOT_SUPPORTED, "unknown flags 0x%x",
				    call->flags & ~allowed_flags);
		return false;
	}
	op->m = lv_machine_of(lv, machine);
	op->conn = lv_connection_get(op->m->connection, err);
	if (op->conn == NULL)
		return false;
	op->dom = virDomainLookupByName(op->conn, machine->label);
	if (op->dom == NULL) {
		lv_error_set(lv->host, err, "domain %s on %s", machine->label,
			     lv_connection_dsn(op->m->connection));
		return false;
	}
	return true;
}

bool
lv_past_deadline(Libvirt *lv, const struct nbx_call *call, const char *what, struct nbx_error *err)
{
	if (call->deadline_us == 0 || lv->host->monotonic_us(lv->host) < call->deadline_us)
		return false;
	lv->host->error_set(lv->host, err, NBX_ERROR_TIMEOUT, "deadline passed %s", what);
	return true;
}

/* A failed start leaves no running domain behind. */
void
lv_undo_start(Op *op)
{
	LvDomainState state = { 0 };

	if (virDomainIsActive(op->dom) == 1)
		virDomainDestroy(op->dom);
	virResetLastError();
	lv_connection_report(op->m->connection, op->m, op->dom, &state, NULL);
	lv_domain_state_clear(&state);
}

bool
lv_started(Libvirt *lv, Op *op, const char *how, struct nbx_error *err)
{
	LvDomainState state = { 0 };
	bool ok;

	if (!lv_connection_report(op->m->connection, op->m, op->dom, &state, err))
		return false;
	ok = state.state == NBX_MACHINE_RUNNING || state.state == NBX_MACHINE_PAUSED;
	if (!ok)
		lv->host->error_set(lv->host, err, NBX_ERROR_HYPERVISOR,
				    "domain %s is %s after %s", op->m->machine->label,
				    state.description, how);
	lv_domain_state_clear(&state);
	return ok;
}

bool
lv_power_off(Libvirt *lv, Op *op, struct nbx_error *err)
{
	const char *label = op->m->machine->label;
	LvDomainState state = { 0 };
	bool ok = true;

	/* "Not running" from destroy means someone was faster: off is what we want. */
	if (virDomainIsActive(op->dom) == 1 && virDomainDestroy(op->dom) < 0 &&
	    lv_error_last_code() != VIR_ERR_OPERATION_INVALID) {
		lv_error_set(lv->host, err, "destroy of domain %s on %s", label,
			     lv_connection_dsn(op->m->connection));
		ok = false;
	}
	if (ok && !lv_connection_report(op->m->connection, op->m, op->dom, &state, err))
		ok = false;
	else if (ok && state.state != NBX_MACHINE_POWEROFF) {
		lv->host->error_set(lv->host, err, NBX_ERROR_HYPERVISOR,
				    "domain %s is still %s after destroy", label, state.description);
		ok = false;
	}
	lv_domain_state_clear(&state);
	return ok;
}
