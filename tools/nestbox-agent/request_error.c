/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "request_error.h"

#include <stdarg.h>
#include <stdio.h>

void
nba_error_set(struct nba_error *e, int status, const char *format, ...)
{
	va_list args;

	e->status = status;
	va_start(args, format);
	vsnprintf(e->message, sizeof e->message, format, args);
	va_end(args);
}
