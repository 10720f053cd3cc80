/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sha256.h"

#ifdef NBX_HAVE_LIBCRYPTO
#include <openssl/evp.h>

struct _NbxSha256 {
	EVP_MD_CTX *context;
};

NbxSha256 *
nbx_sha256_new(void)
{
	NbxSha256 *sum = g_new0(NbxSha256, 1);

	sum->context = EVP_MD_CTX_new();
	if (sum->context == NULL || EVP_DigestInit_ex(sum->context, EVP_sha256(), NULL) != 1)
		g_error("libcrypto cannot compute SHA-256");
	return sum;
}

void
nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length)
{
	EVP_DigestUpdate(sum->context, data, length);
}

char *
nbx_sha256_finish(NbxSha256 *sum)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	char *hex;

	EVP_DigestFinal_ex(sum->context, digest, &length);
	nbx_sha256_free(sum);
	hex = g_malloc(length * 2 + 1);
	for (unsigned int i = 0; i < length; i++)
		g_snprintf(hex + i * 2, 3, "%02x", digest[i]);
	return hex;
}

void
nbx_sha256_free(NbxSha256 *sum)
{
	if (sum == NULL)
		return;
	EVP_MD_CTX_free(sum->context);
	g_free(sum);
}
#else
struct _NbxSha256 {
	GChecksum *checksum;
};

NbxSha256 *
nbx_sha256_new(void)
{
	NbxSha256 *sum = g_new0(NbxSha256, 1);

	sum->checksum = g_checksum_new(G_CHECKSUM_SHA256);
	return sum;
}

void
nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length)
{
	g_checksum_update(sum->checksum, data, length);
}

char *
nbx_sha256_finish(NbxSha256 *sum)
{
	char *hex = g_strdup(g_checksum_get_string(sum->checksum));

	nbx_sha256_free(sum);
	return hex;
}

void
nbx_sha256_free(NbxSha256 *sum)
{
	if (sum == NULL)
		return;
	g_checksum_free(sum->checksum);
	g_free(sum);
}
#endif

char *
nbx_sha256_hex(const void *data, gsize length)
{
	NbxSha256 *sum = nbx_sha256_new();

	nbx_sha256_update(sum, data, length);
	return nbx_sha256_finish(sum);
}
