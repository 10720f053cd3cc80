/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sha256.h"

/*
 * GLib's SHA-256 is portable C: about 230 MB/s here, slower than zstd at
 * level 3, so it would set the pace of a snapshot export and import, and of
 * an upload over the UNIX socket. libcrypto's uses the CPU's SHA extensions
 * (1.5 GB/s); the build picks it when it defines NBX_HAVE_LIBCRYPTO and
 * links libcrypto.
 */
#ifdef NBX_HAVE_LIBCRYPTO
#include <openssl/evp.h>

NbxSha256 *
nbx_sha256_new(void)
{
	EVP_MD_CTX *context = EVP_MD_CTX_new();

	if (context == NULL || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1)
		g_error("libcrypto cannot compute SHA-256");
	return (NbxSha256 *)context;
}

void
nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length)
{
	EVP_DigestUpdate((EVP_MD_CTX *)sum, data, length);
}

char *
nbx_sha256_finish(NbxSha256 *sum)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	char *hex;

	EVP_DigestFinal_ex((EVP_MD_CTX *)sum, digest, &length);
	EVP_MD_CTX_free((EVP_MD_CTX *)sum);
	hex = g_malloc(length * 2 + 1);
	for (unsigned int i = 0; i < length; i++)
		g_snprintf(hex + i * 2, 3, "%02x", digest[i]);
	return hex;
}

void
nbx_sha256_free(NbxSha256 *sum)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)sum);
}
#else
NbxSha256 *
nbx_sha256_new(void)
{
	return (NbxSha256 *)g_checksum_new(G_CHECKSUM_SHA256);
}

void
nbx_sha256_update(NbxSha256 *sum, const void *data, gsize length)
{
	g_checksum_update((GChecksum *)sum, data, length);
}

char *
nbx_sha256_finish(NbxSha256 *sum)
{
	char *hex = g_strdup(g_checksum_get_string((GChecksum *)sum));

	g_checksum_free((GChecksum *)sum);
	return hex;
}

void
nbx_sha256_free(NbxSha256 *sum)
{
	if (sum != NULL)
		g_checksum_free((GChecksum *)sum);
}
#endif

char *
nbx_sha256_of(const void *data, gsize length)
{
	NbxSha256 *sum = nbx_sha256_new();

	nbx_sha256_update(sum, data, length);
	return nbx_sha256_finish(sum);
}
