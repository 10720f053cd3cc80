/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Python's shlex.split(s) (POSIX mode, no comments), which agent.py applies
 * to /execute's command: words split on blanks; '...' is literal; in "..."
 * a backslash escapes only " and \ (else it stays); outside quotes a
 * backslash escapes any character (so an unquoted Windows path loses its
 * backslashes, as it does with agent.py); '' is an empty word.
 */
#ifndef NESTBOX_AGENT_SHLEX_SPLIT_H
#define NESTBOX_AGENT_SHLEX_SPLIT_H

#include <stddef.h>

#define NBA_SHLEX_MAX_WORDS 8192

struct nba_words {
	char **argv;  /* NULL-terminated */
	size_t count;
	char *storage;
};

/*
 * Splits @len bytes of @s into @words. NULL on success; otherwise Python's
 * message ("No closing quotation", "No escaped character") or a bound.
 */
const char *nba_shlex_split(const char *s, size_t len, struct nba_words *words);

void nba_words_free(struct nba_words *words);

#endif
