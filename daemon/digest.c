/*
 * digest.c - SHA-256, HMAC-SHA256, constant-time comparison and the hex and
 * base64 encodings that webhook signatures and event ids need.
 *
 * Built on OpenSSL 3's libcrypto through its current interfaces only
 * (EVP_Digest, EVP_MAC), never the deprecated HMAC_CTX/SHA256_* calls.
 * The HMAC implementation is fetched once and kept: the daemon is single
 * threaded and fetching on every request would cost a lookup each time.
 */
#include <baton/digest.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static EVP_MAC *hmac_impl;      /* fetched on first use, kept for the process */

/*
 * Hashes len bytes of data with SHA-256 into out.  Returns 0, or -1 when
 * libcrypto fails (out of memory).
 */
int
digest_sha256(const void *data, size_t len,
    unsigned char out[DIGEST_SHA256_LEN])
{
	unsigned int outlen = 0;
	static const unsigned char empty[1];

	if (data == NULL)
		data = empty;
	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1 ||
	    outlen != DIGEST_SHA256_LEN)
		return -1;
	return 0;
}

struct digest_hmac {
	EVP_MAC_CTX *keyed;             /* initialized with the key; dup'd */
};

struct digest_hmac *
digest_hmac_new(const void *key, size_t keylen)
{
	static const unsigned char empty[1];
	char digest_name[] = "SHA256";
	OSSL_PARAM params[2];
	struct digest_hmac *h;

	if (hmac_impl == NULL &&
	    (hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest_name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((h->keyed = EVP_MAC_CTX_new(hmac_impl)) == NULL ||
	    EVP_MAC_init(h->keyed, key != NULL ? key : empty, keylen,
	    params) != 1) {
		digest_hmac_free(h);
		return NULL;
	}
	return h;
}

int
digest_hmac_compute(const struct digest_hmac *h, const void *data,
    size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
	static const unsigned char empty[1];
	EVP_MAC_CTX *ctx;
	size_t outlen = 0;
	int rc = -1;

	/* A copy of the keyed state: the key is not processed again. */
	if ((ctx = EVP_MAC_CTX_dup(h->keyed)) == NULL)
		return -1;
	if (EVP_MAC_update(ctx, data != NULL ? data : empty, len) == 1 &&
	    EVP_MAC_final(ctx, out, &outlen, DIGEST_SHA256_LEN) == 1 &&
	    outlen == DIGEST_SHA256_LEN)
		rc = 0;
	EVP_MAC_CTX_free(ctx);
	return rc;
}

void
digest_hmac_free(struct digest_hmac *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->keyed);
	free(h);
}

/*
 * HMAC-SHA256 of data under key into out.  An empty key (keylen 0) is
 * valid.  Returns 0, or -1 when libcrypto fails.
 */
int
digest_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
	struct digest_hmac *h = digest_hmac_new(key, keylen);
	int rc;

	if (h == NULL)
		return -1;
	rc = digest_hmac_compute(h, data, len, out);
	digest_hmac_free(h);
	return rc;
}

/* 1 when the n bytes at a and b are equal, in time independent of where
 * they differ. */
int
digest_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* Writes the lower-case hex of n bytes and a NUL into out (2n + 1). */
void
digest_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * The value of one hex digit, or -1, without branching on the digit: each
 * range test is turned into an all-ones or all-zeros mask by arithmetic.
 */
static int
hex_value(unsigned char c)
{
	int v = c;
	/* (x - lo) and (hi - x) are both non-negative only inside [lo, hi];
	 * the sign bit of their OR, inverted and spread, is the mask. */
	int is_dig = ~((v - '0') | ('9' - v)) >> 8 & 1;
	int is_low = ~((v - 'a') | ('f' - v)) >> 8 & 1;
	int is_up = ~((v - 'A') | ('F' - v)) >> 8 & 1;
	int val = (-is_dig & (v - '0')) | (-is_low & (v - 'a' + 10)) |
	    (-is_up & (v - 'A' + 10));
	int ok = is_dig | is_low | is_up;

	return (-ok & val) | (~(-ok) & -1);
}

/*
 * Decodes exactly 2n hex digits (either case) into n bytes.  Returns 0, or
 * -1 when hexlen is not 2n or a character is not a hex digit (out is then
 * partly written).  Every digit is examined even after a bad one.
 */
int
digest_unhex(const char *hex, size_t hexlen, unsigned char *out, size_t n)
{
	int bad = 0;

	if (n > SIZE_MAX / 2 || hexlen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value((unsigned char)hex[2 * i]);
		int lo = hex_value((unsigned char)hex[2 * i + 1]);

		bad |= (hi | lo) < 0;
		out[i] = (unsigned char)(((hi & 0xf) << 4) | (lo & 0xf));
	}
	return bad ? -1 : 0;
}

/*
 * Standard base64 (with '=' padding) of n bytes.  Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL when out of memory or
 * when n is too large for libcrypto.
 */
char *
digest_base64(const unsigned char *in, size_t n)
{
	size_t outlen;
	char *out;

	if (n > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	outlen = (n + 2) / 3 * 4 + 1;
	if ((out = malloc(outlen)) == NULL)
		return NULL;
	if (n == 0) {
		out[0] = '\0';
		return out;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}
