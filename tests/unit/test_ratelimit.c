/*
 * test_ratelimit.c - the rolling window of ratelimit.h: never more than
 * limit takes in any window-long stretch (what HubSpot's
 * TEN_SECONDLY_ROLLING counts), waits that end exactly when a take falls
 * out, vendor pauses, and a randomised check of the window property.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../daemon/ratelimit.h"

static void
test_window(void **state)
{
	struct rate_bucket b;

	(void)state;
	rate_bucket_init(&b, 3, 1000, 0);
	assert_int_equal(rate_bucket_take(&b, 0), 0);
	assert_int_equal(rate_bucket_take(&b, 10), 0);
	assert_int_equal(rate_bucket_take(&b, 500), 0);
	/* Full until the take at 0 is 1000 ms old. */
	assert_int_equal(rate_bucket_take(&b, 500), 500);
	assert_int_equal(rate_bucket_take(&b, 999), 1);
	assert_int_equal(rate_bucket_take(&b, 1000), 0);
	/* A token bucket would have refilled ~3 by 1400; the window holds
	 * 10, 500 and 1000, so the next one waits for 10 to fall out. */
	assert_int_equal(rate_bucket_take(&b, 1009), 1);
	assert_int_equal(rate_bucket_take(&b, 1010), 0);
	assert_int_equal(rate_bucket_take(&b, 1400), 100);
	rate_bucket_clear(&b);

	/* No limit: never waits, holds nothing. */
	rate_bucket_init(&b, 0, 1000, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rate_bucket_take(&b, 5), 0);
	assert_null(b.at);
	rate_bucket_clear(&b);
}

static void
test_pause(void **state)
{
	struct rate_bucket b;

	(void)state;
	rate_bucket_init(&b, 190, 10000, 0);
	assert_int_equal(rate_bucket_take(&b, 100), 0);
	assert_int_equal(rate_bucket_paused(&b, 100), 0);
	rate_bucket_pause(&b, 100, 10000);
	assert_int_equal(rate_bucket_paused(&b, 200), 9900);
	assert_int_equal(b.n, 1);               /* looking takes nothing */
	assert_int_equal(rate_bucket_take(&b, 200), 9900);
	rate_bucket_pause(&b, 200, 1000);         /* shorter: kept longer */
	assert_int_equal(rate_bucket_take(&b, 10099), 1);
	assert_int_equal(rate_bucket_take(&b, 10100), 0);
	rate_bucket_clear(&b);
}

/* Takes as fast as allowed with random gaps: every window-long stretch
 * holds at most limit, and the budget is used (no needless waiting). */
static void
test_random_never_over(void **state)
{
	static int64_t took[20000];
	struct rate_bucket b;
	size_t n = 0;
	int64_t now = 0;
	unsigned seed = 7;

	(void)state;
	rate_bucket_init(&b, 190, 10000, 0);
	while (n < sizeof(took) / sizeof(took[0])) {
		int64_t w = rate_bucket_take(&b, now);

		if (w == 0)
			took[n++] = now;
		else
			assert_true(w >= 1 && w <= 10000);
		seed = seed * 1103515245u + 12345u;
		now += w > 0 ? (seed >> 16) % 2 == 0 ? w : 1 :
		    (int64_t)((seed >> 16) % 60);
	}
	for (size_t i = 0, j = 0; i < n; i++) {
		while (took[j] <= took[i] - 10000)
			j++;
		assert_true(i - j + 1 <= 190);
	}
	/* Used: 20,000 takes need at least 105 windows, and no more than a
	 * few more than that. */
	assert_true(took[n - 1] >= 104 * 10000);
	assert_true(took[n - 1] <= 110 * 10000);
	rate_bucket_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_random_never_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
