/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /list (extension "list"): the regular files matching "pattern" (an
 * absolute glob, file_glob.h), at most "limit" of them (default 1000, up
 * to 10000), with their sizes, so the host can fetch "files to fetch"
 * given as globs. "truncated" says a bound was reached.
 */
#include <errno.h>
#include <string.h>

#include "agent.h"
#include "file_glob.h"
#include "guest_path.h"
#include "http_response.h"

#define MAX_ENTRIES_READ 100000
#define MAX_ANSWER (16 * 1024 * 1024)

static void
reply_files(struct nba_call *call, const struct nba_glob_result *found)
{
	bool truncated = found->truncated;
	struct nba_json j;

	nba_reply_begin(&j, MAX_ANSWER, "Files matching the pattern");
	nba_json_key(&j, "files");
	nba_json_begin_array(&j);
	for (size_t i = 0; i < found->count; i++) {
		struct nba_json_mark mark = nba_json_mark(&j);

		nba_json_begin_object(&j);
		nba_json_key(&j, "path");
		nba_json_cstring(&j, found->files[i].path);
		nba_json_key(&j, "size");
		nba_json_int(&j, (long long)found->files[i].size);
		nba_json_end_object(&j);
		/* keep room for the closing keys */
		if (j.overflow || j.len > MAX_ANSWER - 256) {
			nba_json_rollback(&j, mark);
			truncated = true;
			break;
		}
	}
	nba_json_end_array(&j);
	nba_json_key(&j, "truncated");
	nba_json_bool(&j, truncated);
	nba_reply_finish(call->conn, 200, &j);
}

void
nba_route_list(struct nba_call *call)
{
	static const char *const known[] = { "pattern", "limit", NULL };
	struct nba_glob_result found;
	const char *pattern;
	long long limit;
	int rc;

	if (!nba_call_only_fields(call, known) ||
	    !nba_call_path(call, "pattern", "No pattern has been provided", &pattern) ||
	    !nba_call_integer(call, "limit", 1, 10000, 1000, &limit))
		return;
	rc = nba_glob(pattern, (size_t)limit, MAX_ENTRIES_READ, &found);
	if (rc == E2BIG) {
		nba_reply_error(call->conn, 400, "pattern has more than %d components",
				NBA_GLOB_MAX_COMPONENTS);
		return;
	}
	if (rc != 0) {
		nba_reply_exception(call->conn, "Error listing files", "%s: %s", pattern,
				    strerror(rc));
		return;
	}
	reply_files(call, &found);
	nba_glob_free(&found);
}
