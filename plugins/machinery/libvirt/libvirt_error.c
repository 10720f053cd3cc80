/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "libvirt_error.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static int32_t
class_of(int code)
{
	switch (code) {
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_NO_DOMAIN_SNAPSHOT:
		return NBX_ERROR_NOT_FOUND;
	case VIR_ERR_OPERATION_INVALID:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_CONFIG_UNSUPPORTED:
		return NBX_ERROR_INVALID;
	case VIR_ERR_NO_SUPPORT:
	case VIR_ERR_OPERATION_UNSUPPORTED:
		return NBX_ERROR_NOT_SUPPORTED;
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_AGENT_UNRESPONSIVE:
		return NBX_ERROR_TIMEOUT;
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_AUTH_UNAVAILABLE:
	case VIR_ERR_ACCESS_DENIED:
		return NBX_ERROR_PERMISSION;
	case VIR_ERR_OPERATION_ABORTED:
		return NBX_ERROR_CANCELLED;
	case VIR_ERR_SYSTEM_ERROR:
		return NBX_ERROR_IO;
	default:
		return NBX_ERROR_HYPERVISOR;
	}
}

int
lv_error_last_code(void)
{
	virErrorPtr last = virGetLastError();

	return last != NULL ? last->code : 0;
}

void
lv_error_set(const struct nbx_host *host, struct nbx_error *err, const char *fmt, ...)
{
	virErrorPtr last = virGetLastError();
	g_autofree char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (last == NULL || last->message == NULL) {
		host->error_set(host, err, NBX_ERROR_HYPERVISOR, "%s: libvirt gave no reason",
				what);
		return;
	}
	host->error_set(host, err, class_of(last->code), "%s: %s", what, last->message);
}
