/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /clock (extension "clock"): after a restore the guest's clock is the
 * snapshot's; the host sets it to its own time before the sample runs.
 * The time is decimal Unix seconds with up to 9 fraction digits, between
 * 2000-01-01 and 2100-01-01 (anything else is a host bug, not a time).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "http_response.h"

#define EARLIEST 946684800LL  /* 2000-01-01T00:00:00Z */
#define LATEST 4102444800LL   /* 2100-01-01T00:00:00Z */

/* "S[.F]" into @ts; false if it is not that. */
static bool
parse_time(const struct nba_field *field, struct timespec *ts)
{
	const char *p = field->value;
	long long seconds = 0;
	long nanos = 0;
	int digits = 0;

	for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
		seconds = seconds * 10 + (*p - '0');
	if (digits == 0)
		return false;
	if (*p == '.') {
		long scale = 100000000;

		p++;
		for (digits = 0; *p >= '0' && *p <= '9' && digits < 9; p++, digits++) {
			nanos += (*p - '0') * scale;
			scale /= 10;
		}
		if (digits == 0)
			return false;
	}
	if ((size_t)(p - field->value) != field->len || seconds < EARLIEST || seconds >= LATEST)
		return false;
	ts->tv_sec = (time_t)seconds;
	ts->tv_nsec = nanos;
	return true;
}

static void
format_time(const struct timespec *ts, char *out, size_t size)
{
	snprintf(out, size, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
}

void
nba_route_clock(struct nba_call *call)
{
	static const char *const known[] = { "time", NULL };
	const struct nba_field *field = nba_form_get(&call->form, "time");
	struct timespec wanted, previous;
	char wanted_text[40], previous_text[40];
	struct nba_json j;

	if (!nba_call_only_fields(call, known))
		return;
	if (field == NULL || !parse_time(field, &wanted)) {
		nba_reply_error(call->conn, 400, "time must be Unix seconds (up to 9 decimals) "
				"from %lld to %lld", EARLIEST, LATEST - 1);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &previous);
	if (!call->agent->opt.dry_clock && clock_settime(CLOCK_REALTIME, &wanted) != 0) {
		nba_reply_exception(call->conn, "Error setting the clock", "clock_settime: %s",
				    strerror(errno));
		return;
	}
	format_time(&wanted, wanted_text, sizeof wanted_text);
	format_time(&previous, previous_text, sizeof previous_text);
	nba_log("clock %s to %s (it was %s)", call->agent->opt.dry_clock ? "not set (--dry-clock)"
		: "set", wanted_text, previous_text);
	nba_reply_begin(&j, 4096, call->agent->opt.dry_clock ? "Clock not set (--dry-clock)"
			: "Clock set");
	nba_json_key(&j, "time");
	nba_json_number_text(&j, wanted_text);
	nba_json_key(&j, "previous");
	nba_json_number_text(&j, previous_text);
	nba_json_key(&j, "set");
	nba_json_bool(&j, !call->agent->opt.dry_clock);
	nba_reply_finish(call->conn, 200, &j);
}
