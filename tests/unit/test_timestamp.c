/*
 * test_timestamp.c - RFC 3339 parsing (offsets, fractions, leap years, every
 * range check), JSON time values in each form sources use, formatting,
 * and independence from the TZ environment variable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <baton/timestamp.h>

static void
expect_rfc(const char *s, int64_t want)
{
	int64_t ms = -12345;

	if (timestamp_parse_rfc3339(s, &ms) != 0)
		fail_msg("\"%s\" refused", s);
	if (ms != want)
		fail_msg("\"%s\": %lld, want %lld", s, (long long)ms,
		    (long long)want);
}

static void
expect_bad_rfc(const char *s)
{
	int64_t ms = 7;

	if (timestamp_parse_rfc3339(s, &ms) != -1)
		fail_msg("\"%s\" accepted as %lld", s, (long long)ms);
	assert_int_equal(ms, 7);
}

static void
test_rfc3339(void **state)
{
	(void)state;
	expect_rfc("2026-11-23T14:28:04Z", INT64_C(1795444084000));
	expect_rfc("2026-11-23t14:28:04z", INT64_C(1795444084000));
	expect_rfc("2026-11-23 14:28:04Z", INT64_C(1795444084000));
	expect_rfc("2026-11-23T14:28:04+00:00", INT64_C(1795444084000));
	expect_rfc("2026-11-23T14:28:04-00:00", INT64_C(1795444084000));
	expect_rfc("2026-11-23T14:28:04.123+01:00", INT64_C(1795440484123));
	expect_rfc("2000-02-29T23:59:59.999-05:30", INT64_C(951888599999));
	expect_rfc("2024-02-29T00:00:00Z", INT64_C(1709164800000));
	expect_rfc("1970-01-01T00:00:00Z", 0);
	expect_rfc("1969-12-31T23:59:59Z", -1000);
	expect_rfc("0001-01-01T00:00:00Z", INT64_C(-62135596800000));
	expect_rfc("9999-12-31T23:59:59.999Z", INT64_C(253402300799999));
	/* fractions: one digit, many digits (truncated to ms) */
	expect_rfc("1970-01-01T00:00:00.5Z", 500);
	expect_rfc("1970-01-01T00:00:00.12Z", 120);
	expect_rfc("1970-01-01T00:00:00.123999999Z", 123);
	/* a leap second counts as the next minute's first */
	expect_rfc("2026-11-23T14:28:60Z", INT64_C(1795444140000));
	/* extreme offsets */
	expect_rfc("1970-01-02T00:00:00+23:59", 60000);
}

static void
test_rfc3339_bad(void **state)
{
	(void)state;
	expect_bad_rfc("");
	expect_bad_rfc(NULL);
	expect_bad_rfc("2026-11-23");
	expect_bad_rfc("2026-11-23T14:28:04");          /* no offset */
	expect_bad_rfc("2026-11-23T14:28Z");
	expect_bad_rfc("2026-11-23X14:28:04Z");
	expect_bad_rfc("2026-11-23T14:28:04ZZ");
	expect_bad_rfc("2026-11-23T14:28:04.Z");
	expect_bad_rfc("2026-11-23T14:28:04+0100");
	expect_bad_rfc("2026-11-23T14:28:04+01");
	expect_bad_rfc("26-11-23T14:28:04Z");
	expect_bad_rfc("2026-1-23T14:28:04Z");
	expect_bad_rfc(" 2026-11-23T14:28:04Z");
	expect_bad_rfc("2026-11-23T14:28:04Z ");
	expect_bad_rfc("2026-00-23T14:28:04Z");
	expect_bad_rfc("2026-13-23T14:28:04Z");
	expect_bad_rfc("2026-11-00T14:28:04Z");
	expect_bad_rfc("2026-11-31T14:28:04Z");
	expect_bad_rfc("2026-04-31T00:00:00Z");
	expect_bad_rfc("2026-01-32T00:00:00Z");
	expect_bad_rfc("2026-11-23T24:00:00Z");
	expect_bad_rfc("2026-11-23T23:60:00Z");
	expect_bad_rfc("2026-11-23T23:59:61Z");
	expect_bad_rfc("2026-11-23T23:59:59+24:00");
	expect_bad_rfc("2026-11-23T23:59:59+00:60");
	/* February 29 only in leap years (divisible by 4, not by 100 unless
	 * by 400) */
	expect_bad_rfc("2025-02-29T00:00:00Z");
	expect_bad_rfc("1900-02-29T00:00:00Z");
	expect_bad_rfc("2100-02-29T00:00:00Z");
	expect_bad_rfc("2024-02-30T00:00:00Z");
	expect_rfc("2000-02-29T00:00:00Z", INT64_C(951782400000));
	expect_rfc("1600-02-29T00:00:00Z", INT64_C(-11670998400000));
}

static void
test_tz_independent(void **state)
{
	(void)state;
	setenv("TZ", "America/Los_Angeles", 1);
	tzset();
	expect_rfc("2026-07-01T12:00:00Z", INT64_C(1782907200000));
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	expect_rfc("2026-07-01T12:00:00Z", INT64_C(1782907200000));
	unsetenv("TZ");
	tzset();
}

/* timestamp_from_json on the JSON text js: the ms, or the error. */
static void
expect_json(const char *js, int64_t want)
{
	json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);
	char err[128] = "";
	int64_t ms = -1;

	assert_non_null(v);
	if (timestamp_from_json(v, &ms, err, sizeof(err)) != 0)
		fail_msg("%s: %s", js, err);
	if (ms != want)
		fail_msg("%s: %lld, want %lld", js, (long long)ms,
		    (long long)want);
	json_decref(v);
}

static void
expect_json_error(const char *js, const char *want)
{
	json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);
	char err[128] = "";
	int64_t ms = 99;

	assert_non_null(v);
	assert_int_equal(timestamp_from_json(v, &ms, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_int_equal(ms, 99);
	json_decref(v);
}

static void
test_from_json(void **state)
{
	char err[64];
	int64_t ms;

	(void)state;
	/* epoch seconds and milliseconds, as numbers */
	expect_json("1795444084", INT64_C(1795444084000));
	expect_json("1795444084123", INT64_C(1795444084123));
	expect_json("0", 0);
	expect_json("99999999999", INT64_C(99999999999000));
	expect_json("100000000000", INT64_C(100000000000));
	expect_json("1795444084.123", INT64_C(1795444084123));
	expect_json("1795444084123.4", INT64_C(1795444084123));
	expect_json("1.5", 1500);
	/* the same as digit strings */
	expect_json("\"1795444084\"", INT64_C(1795444084000));
	expect_json("\"1795444084123\"", INT64_C(1795444084123));
	expect_json("\"1795444084.5\"", INT64_C(1795444084500));
	expect_json("\"1795444084.123456\"", INT64_C(1795444084123));
	expect_json("\"1795444084123.9\"", INT64_C(1795444084123));
	/* RFC 3339 */
	expect_json("\"2026-11-23T14:28:04.123+01:00\"",
	    INT64_C(1795440484123));
	expect_json("\"2026-11-23T14:28:04Z\"", INT64_C(1795444084000));

	expect_json_error("-1", "-1 is before 1970");
	expect_json_error("-0.5", "-0.5 is before 1970");
	expect_json_error("253402300800000", "253402300800000 is after 9999");
	expect_json_error("1e300", "1.0000000000000001e+300 is after 9999");
	expect_json_error("\"1969-12-31T23:59:59Z\"",
	    "\"1969-12-31T23:59:59Z\" is before 1970");
	expect_json_error("\"99999999999999999999999\"",
	    "\"99999999999999999999999\" is after 9999");
	expect_json_error("\"yesterday\"", "\"yesterday\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_json_error("\"\"", "\"\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_json_error("\"-5\"", "\"-5\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_json_error("\"17.\"", "\"17.\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_json_error("\"2026-02-30T00:00:00Z\"", "\"2026-02-30T00:00:00Z\" "
	    "is not a time (epoch seconds, epoch milliseconds or RFC 3339)");
	expect_json_error("true", "expected a number or a string, got a "
	    "boolean");
	expect_json_error("null", "expected a number or a string, got null");
	expect_json_error("{}", "expected a number or a string, got an "
	    "object");
	expect_json_error("[1]", "expected a number or a string, got an "
	    "array");
	assert_int_equal(timestamp_from_json(NULL, &ms, err, sizeof(err)), -1);
	assert_string_equal(err, "expected a number or a string, got nothing");
}

static void
test_format(void **state)
{
	static const char *const samples[] = {
		"1970-01-01T00:00:00.000Z", "2026-11-23T14:28:04.123Z",
		"2000-02-29T23:59:59.999Z", "2024-12-31T00:00:00.001Z",
		"9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z",
		"0001-01-01T00:00:00.000Z",
	};
	char out[32];
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		assert_int_equal(timestamp_parse_rfc3339(samples[i], &ms), 0);
		timestamp_format(ms, out, sizeof(out));
		assert_string_equal(out, samples[i]);
	}
	timestamp_format(0, out, 25);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	/* every day of four centuries survives the round trip */
	for (int64_t d = -146097; d < 2 * 146097; d += 1) {
		int64_t back;

		timestamp_format(d * 86400000 + 3723004, out, sizeof(out));
		assert_int_equal(timestamp_parse_rfc3339(out, &back), 0);
		assert_int_equal(back, d * 86400000 + 3723004);
	}
}

static void
test_now(void **state)
{
	int64_t a = timestamp_now_ms();

	(void)state;
	assert_true(a > INT64_C(1700000000000));
	assert_true(timestamp_now_ms() >= a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_rfc3339_bad),
		cmocka_unit_test(test_tz_independent),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
