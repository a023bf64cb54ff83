/*
 * test_ctl_stats.c - the pure parts of batonctl's verbs: the median of
 * MQL-to-acceptance durations, conversion rates, the top rejection
 * reasons (ties by name), and the shared helpers of ctl_util.c (entry
 * IDs, --since, numbers and durations for people).
 *
 * ctl_util.c and ctl_stats.c are compiled in here; ctl_redis_conf (in
 * batonctl.c, with main) is stubbed: nothing here connects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../daemon/ctl_util.c"
#include "../../daemon/ctl_stats.c"

int
ctl_redis_conf(const char *path, struct redis_conf *rc)
{
	(void)path;
	memset(rc, 0, sizeof(*rc));
	return -1;
}

void
ctl_redis_conf_release(struct redis_conf *rc)
{
	(void)rc;
}

static void
test_median(void **state)
{
	int64_t odd[] = { 300, 100, 200 };
	int64_t even[] = { 4000, 1000, 3000, 2000 };
	int64_t round_down[] = { 1, 2 };
	int64_t one[] = { 42 };
	int64_t same[] = { 5, 5, 5, 5 };

	(void)state;
	assert_int_equal(ctl_stats_median(odd, 3), 200);
	/* Sorted in place. */
	assert_int_equal(odd[0], 100);
	assert_int_equal(odd[2], 300);
	assert_int_equal(ctl_stats_median(even, 4), 2500);
	assert_int_equal(ctl_stats_median(round_down, 2), 1);
	assert_int_equal(ctl_stats_median(one, 1), 42);
	assert_int_equal(ctl_stats_median(same, 4), 5);
	assert_int_equal(ctl_stats_median(NULL, 0), -1);
}

static void
test_median_large_values(void **state)
{
	/* No overflow in the mean of two large durations. */
	int64_t v[] = { INT64_MAX - 2, INT64_MAX };

	(void)state;
	assert_true(ctl_stats_median(v, 2) == INT64_MAX - 1);
}

static void
test_rate(void **state)
{
	char buf[16];

	(void)state;
	assert_true(ctl_stats_rate(2, 4, buf, sizeof(buf)) == 50.0);
	assert_string_equal(buf, "50.0%");
	ctl_stats_rate(2, 3, buf, sizeof(buf));
	assert_string_equal(buf, "66.7%");
	ctl_stats_rate(1, 3, buf, sizeof(buf));
	assert_string_equal(buf, "33.3%");
	ctl_stats_rate(0, 7, buf, sizeof(buf));
	assert_string_equal(buf, "0.0%");
	/* More accepted than MQLs (a trimmed stream) is shown as it is. */
	ctl_stats_rate(3, 2, buf, sizeof(buf));
	assert_string_equal(buf, "150.0%");
	assert_true(ctl_stats_rate(5, 0, buf, sizeof(buf)) == -1);
	assert_string_equal(buf, "-");
}

static void
expect_top(const char *hist_text, size_t max, const char *want)
{
	json_t *hist = json_loads(hist_text, 0, NULL), *top;
	char *got;

	assert_non_null(hist);
	top = ctl_stats_top(hist, max);
	assert_non_null(top);
	got = json_dumps(top, JSON_COMPACT | JSON_SORT_KEYS);
	if (strcmp(got, want) != 0)
		fail_msg("top of %s: %s, want %s", hist_text, got, want);
	free(got);
	json_decref(top);
	json_decref(hist);
}

static void
test_top(void **state)
{
	(void)state;
	expect_top("{}", 5, "[]");
	expect_top("{\"budget\": 1}", 5,
	    "[{\"count\":1,\"reason\":\"budget\"}]");
	/* By count, then by name; at most max. */
	expect_top("{\"c\": 2, \"a\": 2, \"b\": 9, \"d\": 1}", 3,
	    "[{\"count\":9,\"reason\":\"b\"},{\"count\":2,\"reason\":\"a\"},"
	    "{\"count\":2,\"reason\":\"c\"}]");
	expect_top("{\"x\": 1}", 0, "[]");
}

static void
test_parse_id(void **state)
{
	uint64_t ms, seq;

	(void)state;
	assert_int_equal(ctl_parse_id("1763900000000-7", &ms, &seq), 0);
	assert_true(ms == 1763900000000ULL && seq == 7);
	assert_int_equal(ctl_parse_id("0-0", &ms, &seq), 0);
	assert_int_equal(ctl_parse_id("", &ms, &seq), -1);
	assert_int_equal(ctl_parse_id("12", &ms, &seq), -1);
	assert_int_equal(ctl_parse_id("12-", &ms, &seq), -1);
	assert_int_equal(ctl_parse_id("-1-2", &ms, &seq), -1);
	assert_int_equal(ctl_parse_id("1-2x", &ms, &seq), -1);
	assert_int_equal(ctl_parse_id("99999999999999999999999-0", &ms, &seq),
	    -1);
}

static void
test_since(void **state)
{
	int64_t from = 0;

	(void)state;
	assert_int_equal(ctl_since_ms("30d", 3000000000000LL, &from), 0);
	assert_true(from == 3000000000000LL - 30LL * 86400000);
	assert_int_equal(ctl_since_ms("500ms", 10000, &from), 0);
	assert_true(from == 9500);
	/* Clamped at the epoch. */
	assert_int_equal(ctl_since_ms("7d", 1000, &from), 0);
	assert_true(from == 0);
	from = 77;
	assert_int_equal(ctl_since_ms("soon", 1000, &from), -1);
	assert_int_equal(ctl_since_ms("", 1000, &from), -1);
	assert_true(from == 77);
}

static void
expect_number(double v, const char *want)
{
	char buf[32];

	ctl_format_number(v, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%g: \"%s\", want \"%s\"", v, buf, want);
}

static void
test_format_number(void **state)
{
	(void)state;
	expect_number(75, "75");
	expect_number(-10, "-10");
	expect_number(0, "0");
	expect_number(-0.0, "0");
	expect_number(37.5, "37.5");
	expect_number(1.0 / 3, "0.33");
	expect_number(2.999, "3");
	expect_number(-0.001, "0");
	expect_number(12000, "12000");
}

static void
expect_duration(int64_t ms, const char *want)
{
	char buf[32];

	ctl_format_duration(ms, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%lld ms: \"%s\", want \"%s\"", (long long)ms, buf,
		    want);
}

static void
test_format_duration(void **state)
{
	(void)state;
	expect_duration(0, "0ms");
	expect_duration(850, "850ms");
	expect_duration(1000, "1s");
	expect_duration(12345, "12s");
	expect_duration(245000, "4m 5s");
	expect_duration(5400000, "1h 30m");
	expect_duration(3600000, "1h");
	expect_duration(3600000 + 59000, "1h");
	expect_duration(14400000, "4h");
	expect_duration(2 * 86400000LL + 4 * 3600000, "2d 4h");
	expect_duration(-90000, "-1m 30s");
	expect_duration(INT64_MIN, "-106751991167d 7h");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_median_large_values),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_format_number),
		cmocka_unit_test(test_format_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
