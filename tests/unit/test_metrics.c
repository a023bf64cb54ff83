/*
 * test_metrics.c - the metrics registry and its Prometheus text output:
 * exact rendered text for every kind, escaping, number spelling, sorting,
 * re-registration rules, series reuse and a clean metrics_free_all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <baton/log.h>

#include "metrics.h"

/* The rendered registry as a NUL-terminated string; caller frees. */
static char *
render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *s;

	assert_non_null(b);
	metrics_render(b);
	len = evbuffer_get_length(b);
	s = malloc(len + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return s;
}

#define assert_render(expected) do {                                   \
	char *got_ = render();                                         \
	assert_string_equal(got_, (expected));                         \
	free(got_);                                                    \
} while (0)

static int
setup(void **state)
{
	/* The misuse tests log on purpose; keep the output readable. */
	log_set_level(LOG_LEVEL_ERR - 1);
	return 0;
}

static int
teardown(void **state)
{
	metrics_free_all();
	return 0;
}

static void
test_counter_without_labels(void **state)
{
	struct metric *m = metric_counter("baton_events_total",
	    "Events written.", NULL);
	struct metric_series *s;

	assert_non_null(m);
	/* A family without labels renders 0 before its first update. */
	assert_render("# HELP baton_events_total Events written.\n"
	    "# TYPE baton_events_total counter\n"
	    "baton_events_total 0\n");
	s = metric_series(m);
	assert_non_null(s);
	metric_inc(s);
	metric_inc(s);
	metric_add(s, 3);
	assert_true(metric_value(s) == 5);
	assert_render("# HELP baton_events_total Events written.\n"
	    "# TYPE baton_events_total counter\n"
	    "baton_events_total 5\n");
}

static void
test_counter_with_labels(void **state)
{
	struct metric *m = metric_counter("baton_requests_total",
	    "HTTP requests.", "connector, status");

	assert_non_null(m);
	/* No series yet: nothing at all is rendered for the family. */
	assert_render("");
	metric_inc(metric_series(m, "hubspot", "200"));
	metric_add(metric_series(m, "acme", "400"), 2);
	metric_inc(metric_series(m, "hubspot", "200"));
	/* Series in creation order, not sorted. */
	assert_render("# HELP baton_requests_total HTTP requests.\n"
	    "# TYPE baton_requests_total counter\n"
	    "baton_requests_total{connector=\"hubspot\",status=\"200\"} 2\n"
	    "baton_requests_total{connector=\"acme\",status=\"400\"} 2\n");
}

static void
test_gauge_and_numbers(void **state)
{
	struct metric *m = metric_gauge("baton_value", NULL, "case");

	assert_non_null(m);
	metric_set(metric_series(m, "tenth"), 0.1);
	metric_set(metric_series(m, "third"), 1.0 / 3);
	metric_set(metric_series(m, "seventeen"), 0.1 + 0.2);
	metric_set(metric_series(m, "negative"), -42);
	metric_set(metric_series(m, "big"), 9007199254740992.0);
	metric_set(metric_series(m, "huge"), 1e20);
	metric_set(metric_series(m, "tiny"), 2.5e-7);
	metric_set(metric_series(m, "negzero"), -0.0);
	metric_set(metric_series(m, "inf"), INFINITY);
	metric_set(metric_series(m, "neginf"), -INFINITY);
	metric_set(metric_series(m, "nan"), NAN);
	metric_add(metric_series(m, "down"), -1.5);
	/* No help text: no HELP line. */
	assert_render("# TYPE baton_value gauge\n"
	    "baton_value{case=\"tenth\"} 0.1\n"
	    "baton_value{case=\"third\"} 0.3333333333333333\n"
	    "baton_value{case=\"seventeen\"} 0.30000000000000004\n"
	    "baton_value{case=\"negative\"} -42\n"
	    "baton_value{case=\"big\"} 9007199254740992\n"
	    "baton_value{case=\"huge\"} 1e+20\n"
	    "baton_value{case=\"tiny\"} 2.5e-07\n"
	    "baton_value{case=\"negzero\"} 0\n"
	    "baton_value{case=\"inf\"} +Inf\n"
	    "baton_value{case=\"neginf\"} -Inf\n"
	    "baton_value{case=\"nan\"} NaN\n"
	    "baton_value{case=\"down\"} -1.5\n");
}

static void
test_escaping(void **state)
{
	struct metric *m = metric_gauge("baton_escape",
	    "Back\\slash, \"quotes\" stay,\nnew line.", "v");

	assert_non_null(m);
	metric_set(metric_series(m, "a\\b\"c\nd"), 1);
	metric_set(metric_series(m, NULL), 2);
	assert_render("# HELP baton_escape Back\\\\slash, \"quotes\" stay,"
	    "\\nnew line.\n"
	    "# TYPE baton_escape gauge\n"
	    "baton_escape{v=\"a\\\\b\\\"c\\nd\"} 1\n"
	    "baton_escape{v=\"\"} 2\n");
	/* NULL reads as "": the same series. */
	assert_ptr_equal(metric_series(m, NULL), metric_series(m, ""));
}

static void
test_histogram_cumulative(void **state)
{
	static const double b[] = { 0.1, 1, 2.5 };
	struct metric *m = metric_histogram("baton_latency_seconds",
	    "Latency.", "op", b, 3);
	struct metric_series *s;

	assert_non_null(m);
	s = metric_series(m, "xadd");
	metric_observe(s, 0.05);
	metric_observe(s, 0.1);         /* le is inclusive */
	metric_observe(s, 0.5);
	metric_observe(s, 3);
	metric_series(m, "xack");
	assert_true(metric_value(s) == 4);
	assert_render("# HELP baton_latency_seconds Latency.\n"
	    "# TYPE baton_latency_seconds histogram\n"
	    "baton_latency_seconds_bucket{op=\"xadd\",le=\"0.1\"} 2\n"
	    "baton_latency_seconds_bucket{op=\"xadd\",le=\"1\"} 3\n"
	    "baton_latency_seconds_bucket{op=\"xadd\",le=\"2.5\"} 3\n"
	    "baton_latency_seconds_bucket{op=\"xadd\",le=\"+Inf\"} 4\n"
	    "baton_latency_seconds_sum{op=\"xadd\"} 3.65\n"
	    "baton_latency_seconds_count{op=\"xadd\"} 4\n"
	    "baton_latency_seconds_bucket{op=\"xack\",le=\"0.1\"} 0\n"
	    "baton_latency_seconds_bucket{op=\"xack\",le=\"1\"} 0\n"
	    "baton_latency_seconds_bucket{op=\"xack\",le=\"2.5\"} 0\n"
	    "baton_latency_seconds_bucket{op=\"xack\",le=\"+Inf\"} 0\n"
	    "baton_latency_seconds_sum{op=\"xack\"} 0\n"
	    "baton_latency_seconds_count{op=\"xack\"} 0\n");
}

static void
test_histogram_default_buckets(void **state)
{
	struct metric *m = metric_histogram("baton_h", NULL, NULL, NULL, 0);
	struct metric_series *s = metric_series(m);

	assert_non_null(s);
	metric_observe(s, 0.003);
	metric_observe(s, 11);
	assert_render("# TYPE baton_h histogram\n"
	    "baton_h_bucket{le=\"0.0001\"} 0\n"
	    "baton_h_bucket{le=\"0.00025\"} 0\n"
	    "baton_h_bucket{le=\"0.0005\"} 0\n"
	    "baton_h_bucket{le=\"0.001\"} 0\n"
	    "baton_h_bucket{le=\"0.0025\"} 0\n"
	    "baton_h_bucket{le=\"0.005\"} 1\n"
	    "baton_h_bucket{le=\"0.01\"} 1\n"
	    "baton_h_bucket{le=\"0.025\"} 1\n"
	    "baton_h_bucket{le=\"0.05\"} 1\n"
	    "baton_h_bucket{le=\"0.1\"} 1\n"
	    "baton_h_bucket{le=\"0.25\"} 1\n"
	    "baton_h_bucket{le=\"0.5\"} 1\n"
	    "baton_h_bucket{le=\"1\"} 1\n"
	    "baton_h_bucket{le=\"2.5\"} 1\n"
	    "baton_h_bucket{le=\"5\"} 1\n"
	    "baton_h_bucket{le=\"10\"} 1\n"
	    "baton_h_bucket{le=\"+Inf\"} 2\n"
	    "baton_h_sum 11.003\n"
	    "baton_h_count 2\n");
}

static void
test_histogram_bounds_checked(void **state)
{
	static const double desc[] = { 1, 0.5 };
	static const double dup[] = { 1, 1 };
	static const double nan[] = { NAN };
	static const double inf[] = { 1, INFINITY };
	struct metric *m;

	assert_null(metric_histogram("baton_h1", NULL, NULL, desc, 2));
	assert_null(metric_histogram("baton_h2", NULL, NULL, dup, 2));
	assert_null(metric_histogram("baton_h3", NULL, NULL, nan, 1));
	assert_null(metric_histogram("baton_h4", NULL, "le", NULL, 0));
	/* A trailing +Inf is implied anyway, so it is accepted. */
	m = metric_histogram("baton_h5", NULL, NULL, inf, 2);
	assert_non_null(m);
	metric_observe(metric_series(m), 2);
	assert_render("# TYPE baton_h5 histogram\n"
	    "baton_h5_bucket{le=\"1\"} 0\n"
	    "baton_h5_bucket{le=\"+Inf\"} 1\n"
	    "baton_h5_sum 2\n"
	    "baton_h5_count 1\n");
}

static double
answer(void *arg)
{
	return *(double *)arg;
}

static void
test_gauge_fn(void **state)
{
	static double v = 7, w = 0.25;

	metric_gauge_fn("baton_queue_depth", "Depth.", answer, &v);
	assert_render("# HELP baton_queue_depth Depth.\n"
	    "# TYPE baton_queue_depth gauge\n"
	    "baton_queue_depth 7\n");
	/* Computed at each render. */
	v = 8;
	assert_render("# HELP baton_queue_depth Depth.\n"
	    "# TYPE baton_queue_depth gauge\n"
	    "baton_queue_depth 8\n");
	/* Registering again replaces the function's argument. */
	metric_gauge_fn("baton_queue_depth", "Depth.", answer, &w);
	assert_render("# HELP baton_queue_depth Depth.\n"
	    "# TYPE baton_queue_depth gauge\n"
	    "baton_queue_depth 0.25\n");
	/* It is no plain gauge, and has no series. */
	assert_null(metric_gauge("baton_queue_depth", "Depth.", NULL));
	metric_gauge_fn("baton_no_fn", "x", NULL, NULL);
	assert_render("# HELP baton_queue_depth Depth.\n"
	    "# TYPE baton_queue_depth gauge\n"
	    "baton_queue_depth 0.25\n");
}

static void
test_reregistration(void **state)
{
	struct metric *c = metric_counter("baton_c_total", "C.", "a,b");
	struct metric *h = metric_histogram("baton_h", "H.", NULL, NULL, 0);
	static const double b[] = { 1, 2 };

	assert_non_null(c);
	assert_non_null(h);
	/* Same kind and labels: the same family (spacing is free). */
	assert_ptr_equal(metric_counter("baton_c_total", "other help",
	    " a , b "), c);
	assert_ptr_equal(metric_histogram("baton_h", "H.", NULL, NULL, 0), h);
	/* Different kind, labels or buckets: NULL. */
	assert_null(metric_gauge("baton_c_total", "C.", "a,b"));
	assert_null(metric_histogram("baton_c_total", "C.", "a,b", NULL, 0));
	assert_null(metric_counter("baton_c_total", "C.", "a"));
	assert_null(metric_counter("baton_c_total", "C.", "b,a"));
	assert_null(metric_counter("baton_c_total", "C.", NULL));
	assert_null(metric_histogram("baton_h", "H.", NULL, b, 2));
	/* Bad names. */
	assert_null(metric_counter("9lives", "x", NULL));
	assert_null(metric_counter("baton-dash", "x", NULL));
	assert_null(metric_counter("", "x", NULL));
	assert_null(metric_counter(NULL, "x", NULL));
	assert_null(metric_counter("baton_l", "x", "ok,bad-label"));
	assert_null(metric_counter("baton_l", "x", "__reserved"));
	assert_null(metric_counter("baton_l", "x", "a,,b"));
	assert_null(metric_counter("baton_l", "x", "a,a"));
	/* Colons in metric names, underscores in label names are fine;
	 * a labelled family without a series renders nothing. */
	assert_non_null(metric_counter("baton:colon_ok", "x", "_x1"));
	/* The first help text stays. */
	metric_inc(metric_series(c, "1", "2"));
	assert_render("# HELP baton_c_total C.\n"
	    "# TYPE baton_c_total counter\n"
	    "baton_c_total{a=\"1\",b=\"2\"} 1\n"
	    "# HELP baton_h H.\n"
	    "# TYPE baton_h histogram\n"
	    "baton_h_bucket{le=\"0.0001\"} 0\n"
	    "baton_h_bucket{le=\"0.00025\"} 0\n"
	    "baton_h_bucket{le=\"0.0005\"} 0\n"
	    "baton_h_bucket{le=\"0.001\"} 0\n"
	    "baton_h_bucket{le=\"0.0025\"} 0\n"
	    "baton_h_bucket{le=\"0.005\"} 0\n"
	    "baton_h_bucket{le=\"0.01\"} 0\n"
	    "baton_h_bucket{le=\"0.025\"} 0\n"
	    "baton_h_bucket{le=\"0.05\"} 0\n"
	    "baton_h_bucket{le=\"0.1\"} 0\n"
	    "baton_h_bucket{le=\"0.25\"} 0\n"
	    "baton_h_bucket{le=\"0.5\"} 0\n"
	    "baton_h_bucket{le=\"1\"} 0\n"
	    "baton_h_bucket{le=\"2.5\"} 0\n"
	    "baton_h_bucket{le=\"5\"} 0\n"
	    "baton_h_bucket{le=\"10\"} 0\n"
	    "baton_h_bucket{le=\"+Inf\"} 0\n"
	    "baton_h_sum 0\n"
	    "baton_h_count 0\n");
}

static void
test_series_reuse(void **state)
{
	struct metric *m = metric_counter("baton_r_total", NULL, "a,b");
	struct metric_series *s1, *s2, *s3;

	s1 = metric_series(m, "x", "y");
	s2 = metric_series(m, "x", "z");
	s3 = metric_series(m, "x", "y");
	assert_non_null(s1);
	assert_non_null(s2);
	assert_ptr_equal(s1, s3);
	assert_ptr_not_equal(s1, s2);
	/* Values are copied, so a caller's buffer may change afterwards. */
	{
		char buf[8] = "tmp";
		struct metric_series *t = metric_series(m, buf, "y");

		strcpy(buf, "zzz");
		assert_ptr_equal(metric_series(m, "tmp", "y"), t);
		assert_ptr_not_equal(metric_series(m, buf, "y"), t);
	}
	metric_inc(s1);
	metric_inc(s3);
	assert_true(metric_value(s1) == 2);
	assert_true(metric_value(s2) == 0);
	/* A labelless family has one series, always the same. */
	m = metric_gauge("baton_g", NULL, NULL);
	assert_ptr_equal(metric_series(m), metric_series(m));
}

static void
test_sorting(void **state)
{
	metric_inc(metric_series(metric_counter("zeta", NULL, NULL)));
	metric_set(metric_series(metric_gauge("alpha", NULL, NULL)), 1);
	metric_inc(metric_series(metric_counter("mid_b", NULL, NULL)));
	metric_inc(metric_series(metric_counter("mid_a", NULL, NULL)));
	metric_inc(metric_series(metric_counter("Mid", NULL, NULL)));
	assert_render("# TYPE Mid counter\nMid 1\n"
	    "# TYPE alpha gauge\nalpha 1\n"
	    "# TYPE mid_a counter\nmid_a 1\n"
	    "# TYPE mid_b counter\nmid_b 1\n"
	    "# TYPE zeta counter\nzeta 1\n");
}

static void
test_wrong_use_ignored(void **state)
{
	struct metric *c = metric_counter("baton_c", NULL, NULL);
	struct metric *h = metric_histogram("baton_h", NULL, NULL, NULL, 0);
	struct metric_series *cs = metric_series(c), *hs = metric_series(h);

	/* NULL family and series: nothing happens. */
	assert_null(metric_series(NULL, "x"));
	metric_inc(NULL);
	metric_add(NULL, 1);
	metric_set(NULL, 1);
	metric_observe(NULL, 1);
	assert_true(metric_value(NULL) == 0);
	/* Counters only go up; observe is for histograms only. */
	metric_add(cs, 5);
	metric_add(cs, -1);
	metric_add(cs, NAN);
	metric_observe(cs, 1);
	assert_true(metric_value(cs) == 5);
	metric_inc(hs);
	metric_add(hs, 1);
	metric_set(hs, 1);
	assert_true(metric_value(hs) == 0);
	/* A counter may mirror a total kept elsewhere. */
	metric_set(cs, 40);
	assert_true(metric_value(cs) == 40);
}

static void
test_free_all_then_register(void **state)
{
	struct metric *m = metric_counter("baton_x", "X.", "a");
	double v = 3;

	metric_inc(metric_series(m, "1"));
	metric_histogram("baton_y", NULL, "a", NULL, 0);
	metric_observe(metric_series(metric_histogram("baton_y", NULL, "a",
	    NULL, 0), "b"), 1);
	metric_gauge_fn("baton_z", NULL, answer, &v);
	metrics_free_all();
	assert_render("");
	metrics_free_all();             /* twice is fine */
	/* The names are free again, even for another kind. */
	m = metric_gauge("baton_x", "X again.", NULL);
	assert_non_null(m);
	metric_set(metric_series(m), 2);
	assert_render("# HELP baton_x X again.\n"
	    "# TYPE baton_x gauge\n"
	    "baton_x 2\n");
}

static void
test_many_labels(void **state)
{
	/* More labels than metric_series keeps on its stack. */
	struct metric *m = metric_counter("baton_wide", NULL,
	    "a,b,c,d,e,f,g,h,i,j");
	struct metric_series *s;

	s = metric_series(m, "1", "2", "3", "4", "5", "6", "7", "8", "9",
	    "10");
	assert_non_null(s);
	assert_ptr_equal(metric_series(m, "1", "2", "3", "4", "5", "6", "7",
	    "8", "9", "10"), s);
	metric_inc(s);
	assert_render("# TYPE baton_wide counter\n"
	    "baton_wide{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\","
	    "g=\"7\",h=\"8\",i=\"9\",j=\"10\"} 1\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_counter_without_labels,
		    teardown),
		cmocka_unit_test_teardown(test_counter_with_labels, teardown),
		cmocka_unit_test_teardown(test_gauge_and_numbers, teardown),
		cmocka_unit_test_teardown(test_escaping, teardown),
		cmocka_unit_test_teardown(test_histogram_cumulative,
		    teardown),
		cmocka_unit_test_teardown(test_histogram_default_buckets,
		    teardown),
		cmocka_unit_test_teardown(test_histogram_bounds_checked,
		    teardown),
		cmocka_unit_test_teardown(test_gauge_fn, teardown),
		cmocka_unit_test_teardown(test_reregistration, teardown),
		cmocka_unit_test_teardown(test_series_reuse, teardown),
		cmocka_unit_test_teardown(test_sorting, teardown),
		cmocka_unit_test_teardown(test_wrong_use_ignored, teardown),
		cmocka_unit_test_teardown(test_free_all_then_register,
		    teardown),
		cmocka_unit_test_teardown(test_many_labels, teardown),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
