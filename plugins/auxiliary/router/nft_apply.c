/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "nft_apply.h"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

static struct nft_ctx *
context_new(void)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);

	if (nft != NULL && (nft_ctx_buffer_output(nft) != 0 || nft_ctx_buffer_error(nft) != 0)) {
		nft_ctx_free(nft);
		return NULL;
	}
	return nft;
}

bool
nft_apply(const struct nbx_host *host, const char *commands, struct nbx_error *err)
{
	struct nft_ctx *nft = context_new();
	int rc;

	if (nft == NULL) {
		host->error_set(host, err, NBX_ERROR_FAILED, "libnftables: cannot make a context");
		return false;
	}
	rc = nft_run_cmd_from_buffer(nft, commands);
	if (rc != 0) {
		const char *why = nft_ctx_get_error_buffer(nft);

		host->error_set(host, err, NBX_ERROR_FAILED, "nftables refused the rules: %s",
				why != NULL && why[0] != '\0' ? why : "no reason given");
		host->log(host, NBX_LOG_DEBUG, "the batch nftables refused:\n%s", commands);
	}
	nft_ctx_free(nft);
	return rc == 0;
}

bool
nft_table_exists(const char *family)
{
	struct nft_ctx *nft = context_new();
	char command[64];
	int rc;

	if (nft == NULL)
		return false;
	snprintf(command, sizeof command, "list table %s nestbox", family);
	rc = nft_run_cmd_from_buffer(nft, command);
	nft_ctx_free(nft);
	return rc == 0;
}
