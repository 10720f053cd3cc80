/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "shlex_split.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void
nba_words_free(struct nba_words *words)
{
	free(words->argv);
	free(words->storage);
	memset(words, 0, sizeof *words);
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct lexer {
	const char *s;
	size_t len, i;
	char *out; /* the word being built, in storage */
};

/* A quoted section after its opening @quote; NULL or Python's message. */
static const char *
quoted(struct lexer *lx, char quote)
{
	for (;;) {
		char c;

		if (lx->i == lx->len)
			return "No closing quotation";
		c = lx->s[lx->i++];
		if (c == quote)
			return NULL;
		if (c == '\\' && quote == '"') {
			char next;

			if (lx->i == lx->len)
				return "No closing quotation";
			next = lx->s[lx->i++];
			/* inside "...", only \" and \\ are escapes */
			if (next != '"' && next != '\\')
				*lx->out++ = '\\';
			*lx->out++ = next;
			continue;
		}
		*lx->out++ = c;
	}
}

/* One word starting at lx->i (not a blank); NULL or Python's message. */
static const char *
word(struct lexer *lx)
{
	while (lx->i < lx->len && !is_blank(lx->s[lx->i])) {
		char c = lx->s[lx->i++];
		const char *problem;

		if (c == '\'' || c == '"') {
			problem = quoted(lx, c);
			if (problem != NULL)
				return problem;
		} else if (c == '\\') {
			if (lx->i == lx->len)
				return "No escaped character";
			*lx->out++ = lx->s[lx->i++];
		} else {
			*lx->out++ = c;
		}
	}
	*lx->out++ = '\0';
	return NULL;
}

const char *
nba_shlex_split(const char *s, size_t len, struct nba_words *words)
{
	struct lexer lx = { .s = s, .len = len };
	size_t cap = 16;
	const char *problem = NULL;

	memset(words, 0, sizeof *words);
	/* a word is never longer than its text, plus one NUL per word */
	words->storage = malloc(2 * len + 1);
	words->argv = malloc(cap * sizeof *words->argv);
	if (words->storage == NULL || words->argv == NULL) {
		nba_words_free(words);
		return "out of memory";
	}
	lx.out = words->storage;
	for (;;) {
		while (lx.i < len && is_blank(s[lx.i]))
			lx.i++;
		if (lx.i == len)
			break;
		if (words->count + 1 == NBA_SHLEX_MAX_WORDS) {
			problem = "more than 8191 words";
			break;
		}
		if (words->count + 1 == cap) {
			char **grown = realloc(words->argv, 2 * cap * sizeof *grown);

			if (grown == NULL) {
				problem = "out of memory";
				break;
			}
			words->argv = grown;
			cap *= 2;
		}
		words->argv[words->count++] = lx.out;
		problem = word(&lx);
		if (problem != NULL)
			break;
	}
	if (problem != NULL) {
		nba_words_free(words);
		return problem;
	}
	words->argv[words->count] = NULL;
	return NULL;
}
