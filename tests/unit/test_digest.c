/*
 * test_digest.c - SHA-256 and HMAC-SHA256 against published test vectors
 * (FIPS 180-2, RFC 4231), hex both ways, constant-time comparison, base64
 * (RFC 4648 section 10).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/digest.h>

static void
hex_of(const unsigned char *d, char out[2 * DIGEST_SHA256_LEN + 1])
{
	digest_hex(d, DIGEST_SHA256_LEN, out);
}

static void
test_sha256(void **state)
{
	unsigned char d[DIGEST_SHA256_LEN];
	char hex[2 * DIGEST_SHA256_LEN + 1];

	(void)state;
	assert_int_equal(digest_sha256("abc", 3, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(digest_sha256("", 0, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	assert_int_equal(digest_sha256(NULL, 0, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

static void
test_hmac_rfc4231(void **state)
{
	unsigned char key[20], d[DIGEST_SHA256_LEN];
	unsigned char key131[131], data50[50];
	char hex[2 * DIGEST_SHA256_LEN + 1];
	const char *long_msg = "Test Using Larger Than Block-Size Key - "
	    "Hash Key First";

	(void)state;
	/* Test case 1 */
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(digest_hmac_sha256(key, 20, "Hi There", 8, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	/* Test case 2: a key shorter than the block */
	assert_int_equal(digest_hmac_sha256("Jefe", 4,
	    "what do ya want for nothing?", 28, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	/* Test case 3 */
	memset(key, 0xaa, sizeof(key));
	memset(data50, 0xdd, sizeof(data50));
	assert_int_equal(digest_hmac_sha256(key, 20, data50, 50, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe");
	/* Test case 6: a key longer than the block is hashed first */
	memset(key131, 0xaa, sizeof(key131));
	assert_int_equal(digest_hmac_sha256(key131, 131, long_msg,
	    strlen(long_msg), d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
}

static void
test_hmac_empty(void **state)
{
	unsigned char d[DIGEST_SHA256_LEN];
	char hex[2 * DIGEST_SHA256_LEN + 1];

	(void)state;
	/* HMAC-SHA256("", "") */
	assert_int_equal(digest_hmac_sha256("", 0, "", 0, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5"
	    "ff1697c493715653c6c712144292c5ad");
	assert_int_equal(digest_hmac_sha256(NULL, 0, NULL, 0, d), 0);
	hex_of(d, hex);
	assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5"
	    "ff1697c493715653c6c712144292c5ad");
}

static void
test_equal(void **state)
{
	(void)state;
	assert_int_equal(digest_equal("abcd", "abcd", 4), 1);
	assert_int_equal(digest_equal("abcd", "abce", 4), 0);
	assert_int_equal(digest_equal("xbcd", "abcd", 4), 0);
	assert_int_equal(digest_equal("a", "b", 0), 1);
}

static void
test_hex(void **state)
{
	unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	unsigned char out[6];
	char hex[13];

	(void)state;
	digest_hex(in, sizeof(in), hex);
	assert_string_equal(hex, "00017f80abff");
	digest_hex(in, 0, hex);
	assert_string_equal(hex, "");

	memset(out, 0, sizeof(out));
	assert_int_equal(digest_unhex("00017f80abff", 12, out, 6), 0);
	assert_memory_equal(out, in, 6);
	assert_int_equal(digest_unhex("00017F80ABFF", 12, out, 6), 0);
	assert_memory_equal(out, in, 6);
	assert_int_equal(digest_unhex("0aFf", 4, out, 2), 0);
	assert_int_equal(out[0], 0x0a);
	assert_int_equal(out[1], 0xff);
	/* wrong lengths */
	assert_int_equal(digest_unhex("00017f80abf", 11, out, 6), -1);
	assert_int_equal(digest_unhex("00017f80abff00", 14, out, 6), -1);
	/* every kind of non-digit, including those next to the ranges */
	assert_int_equal(digest_unhex("0g", 2, out, 1), -1);
	assert_int_equal(digest_unhex("G0", 2, out, 1), -1);
	assert_int_equal(digest_unhex("/0", 2, out, 1), -1);
	assert_int_equal(digest_unhex(":0", 2, out, 1), -1);
	assert_int_equal(digest_unhex("@0", 2, out, 1), -1);
	assert_int_equal(digest_unhex("`0", 2, out, 1), -1);
	assert_int_equal(digest_unhex(" 0", 2, out, 1), -1);
	assert_int_equal(digest_unhex("\xff" "0", 2, out, 1), -1);
	assert_int_equal(digest_unhex("", 0, out, 0), 0);
}

static void
test_unhex_all_bytes(void **state)
{
	char hex[3];
	unsigned char b;

	(void)state;
	for (int c = 0; c < 256; c++) {
		int valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F');

		hex[0] = '0';
		hex[1] = (char)c;
		hex[2] = '\0';
		assert_int_equal(digest_unhex(hex, 2, &b, 1), valid ? 0 : -1);
		if (valid)
			assert_int_equal(b, c <= '9' ? c - '0' :
			    (c | 0x20) - 'a' + 10);
	}
}

static void
test_base64(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *s = digest_base64((const unsigned char *)v[i].in,
		    strlen(v[i].in));

		assert_non_null(s);
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_empty),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_unhex_all_bytes),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
