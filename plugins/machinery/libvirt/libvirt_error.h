/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt's errors as nestbox errors. */
#pragma once

#include <nestbox/plugin.h>
#include <stdbool.h>

/*
 * Fills @err with "WHAT: libvirt's message" (WHAT from @fmt), classed by
 * the code of the calling thread's last libvirt error: no such domain or
 * snapshot is NBX_ERROR_NOT_FOUND, an operation the domain's state does not
 * allow is NBX_ERROR_INVALID, and so on; anything else NBX_ERROR_HYPERVISOR.
 */
void lv_error_set(const struct nbx_host *host, struct nbx_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The virErrorNumber of the calling thread's last libvirt error, 0 for none. */
int lv_error_last_code(void);
