/*
 * digest.h - hashes, HMACs and encodings that webhook signatures and event
 * ids need, on OpenSSL's libcrypto.  Shared by every connector.
 */
#ifndef BATON_DIGEST_H
#define BATON_DIGEST_H

#include <stddef.h>

#define DIGEST_SHA256_LEN 32

/* out receives 32 bytes.  Returns 0 or -1. */
int digest_sha256(const void *data, size_t len,
    unsigned char out[DIGEST_SHA256_LEN]);
int digest_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[DIGEST_SHA256_LEN]);

/*
 * An HMAC-SHA256 key prepared once (a connector's secret), so that each
 * request pays for its own bytes only and not for the key schedule and
 * the digest lookup.  digest_hmac_new copies the key; NULL when libcrypto
 * fails.  digest_hmac_compute returns 0 or -1 and may be called any
 * number of times.
 */
struct digest_hmac;
struct digest_hmac *digest_hmac_new(const void *key, size_t keylen);
int digest_hmac_compute(const struct digest_hmac *h, const void *data,
    size_t len, unsigned char out[DIGEST_SHA256_LEN]);
void digest_hmac_free(struct digest_hmac *h);

/* Compares n bytes in time independent of where they differ: 1 equal. */
int digest_equal(const void *a, const void *b, size_t n);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void digest_hex(const unsigned char *in, size_t n, char *out);

/* Decodes exactly 2n hex digits (either case) into n bytes.  Returns 0,
 * or -1 when hex is not exactly 2n valid digits.  Constant-time in the
 * digits' values, not in the length. */
int digest_unhex(const char *hex, size_t hexlen, unsigned char *out,
    size_t n);

/* Standard base64 with padding of n bytes; returns a malloc'd string. */
char *digest_base64(const unsigned char *in, size_t n);

#endif
