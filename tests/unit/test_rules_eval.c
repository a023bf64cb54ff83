/*
 * test_rules_eval.c - SPEC's rules.conf applied to leads: fit with its
 * contributions, engagement rules an activity triggers, caps, decay math,
 * and the forward-only lifecycle (a VP at a 500-person company who
 * requests a demo is an MQL at 75; a gmail sign-up starts at -30).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "rules.h"

#define DAY_MS  (86400LL * 1000)

#include "spec_rules.h"

struct fixture {
	struct rules *r;
	struct rules_eval *ev;
	struct rules_value *vals;       /* r->nslots, all missing */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if ((f->r = spec_rules_compile()) == NULL) {
		free(f);
		return -1;
	}
	f->ev = rules_eval_new();
	f->vals = calloc(f->r->nslots, sizeof(*f->vals));
	*state = f;
	return f->ev == NULL || f->vals == NULL;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rules_eval_free(f->ev);
	rules_free(f->r);
	free(f->vals);
	free(f);
	return 0;
}

/* Sets a lead (or, with ns, an activity) field by name. */
static void
set(struct fixture *f, enum rules_ns ns, const char *name,
    struct rules_value v)
{
	int slot = rules_slot_find(f->r, ns, name);

	assert_true(slot >= 0);
	f->vals[slot] = v;
}

static struct rules_value
str(const char *s)
{
	return rules_string(s, strlen(s));
}

static void
reset(struct fixture *f)
{
	memset(f->vals, 0, f->r->nslots * sizeof(*f->vals));
}

/* Describes contributions as "+20 (rules.conf:2), +15 (rules.conf:3)". */
static void
describe(const struct rules_contrib *c, size_t n, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%+g (%s:%d)",
		    i ? ", " : "", c[i].points, c[i].rule->file,
		    c[i].rule->line);
}

/* ---- SPEC's leads ------------------------------------------------------- */

static void
test_vp_requests_demo(void **state)
{
	struct fixture *f = *state;
	struct rules_contrib c[8];
	char buf[256];
	double fit, engagement;
	size_t n;

	reset(f);
	set(f, RULES_NS_LEAD, "email", str("dana@acme.io"));
	set(f, RULES_NS_LEAD, "title", str("VP of Marketing"));
	set(f, RULES_NS_LEAD, "company_size", rules_number(500));
	fit = rules_fit(f->r, f->ev, f->vals, c, 8, &n);
	assert_true(fit == 35);
	assert_int_equal(n, 2);
	describe(c, n, buf, sizeof(buf));
	assert_string_equal(buf, "+20 (rules.conf:2), +15 (rules.conf:3)");
	rules_rule_describe(c[0].rule, buf, sizeof(buf));
	assert_string_equal(buf, "+20 if title ~ \"vp|vice president|"
	    "director|head of\" (rules.conf:2)");

	/* the demo request */
	set(f, RULES_NS_ACTIVITY, "form", str("demo-request"));
	n = rules_match_activity(f->r, f->ev, "form_submit", f->vals, c, 8);
	assert_int_equal(n, 1);
	assert_true(c[0].points == 40);
	assert_int_equal(c[0].rule->line, 5);
	assert_true(rules_cap_points(c[0].rule, 1000) == 40);
	engagement = c[0].points;

	/* stages see fit, engagement and score */
	f->vals[RULES_SLOT_FIT] = rules_number(fit);
	f->vals[RULES_SLOT_ENGAGEMENT] = rules_number(engagement);
	f->vals[RULES_SLOT_SCORE] = rules_number(fit + engagement);
	f->vals[RULES_SLOT_STAGE] = str("lead");
	assert_true(fit + engagement == 75);
	assert_true(rules_stage_holds(f->r, f->ev, RULES_STAGE_MQL, f->vals));
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL, f->vals));
	assert_int_equal(rules_stage_next(f->r, f->ev, RULES_STAGE_LEAD,
	    f->vals), RULES_STAGE_MQL);
	assert_int_equal(rules_stage_next(f->r, f->ev, -1, f->vals),
	    RULES_STAGE_MQL);
	/* already an MQL: nothing further */
	assert_int_equal(rules_stage_next(f->r, f->ev, RULES_STAGE_MQL,
	    f->vals), -1);

	/* 30 days later engagement decayed to 30: score 65, still >= 60;
	 * 60 days later 22.5: score 57.5, no longer an MQL by score */
	engagement = rules_decay(f->r, 40, 30 * DAY_MS);
	assert_true(fabs(engagement - 30) < 1e-9);
	engagement = rules_decay(f->r, 40, 60 * DAY_MS);
	assert_true(fabs(engagement - 22.5) < 1e-9);
	f->vals[RULES_SLOT_SCORE] = rules_number(fit + engagement);
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_MQL,
	    f->vals));
}

static void
test_gmail_signup(void **state)
{
	struct fixture *f = *state;
	struct rules_contrib c[8];
	size_t n;

	reset(f);
	set(f, RULES_NS_LEAD, "email", str("someone@gmail.com"));
	assert_true(rules_fit(f->r, f->ev, f->vals, c, 8, &n) == -30);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].rule->line, 4);
	/* hotmail too, any case; but not gmail.com lookalikes */
	set(f, RULES_NS_LEAD, "email", str("X@HOTMAIL.CO.UK"));
	assert_true(rules_fit(f->r, f->ev, f->vals, NULL, 0, NULL) == -30);
	set(f, RULES_NS_LEAD, "email", str("x@gmailer.com"));
	assert_true(rules_fit(f->r, f->ev, f->vals, NULL, 0, NULL) == 0);
	/* a gmail director at a big company: 20 + 15 - 30 */
	set(f, RULES_NS_LEAD, "email", str("boss@yahoo.com"));
	set(f, RULES_NS_LEAD, "title", str("Director of IT"));
	set(f, RULES_NS_LEAD, "company_size", str("1200"));
	assert_true(rules_fit(f->r, f->ev, f->vals, c, 1, &n) == 5);
	assert_int_equal(n, 1);         /* only room for one */
	f->vals[RULES_SLOT_FIT] = rules_number(5);
	f->vals[RULES_SLOT_SCORE] = rules_number(100);
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_MQL,
	    f->vals));
}

static void
test_activities(void **state)
{
	struct fixture *f = *state;
	struct rules_contrib c[4];

	reset(f);
	/* a newsletter form is not a demo request */
	set(f, RULES_NS_ACTIVITY, "form", str("newsletter"));
	assert_int_equal(rules_match_activity(f->r, f->ev, "form_submit",
	    f->vals, c, 4), 0);
	/* a form without a name */
	reset(f);
	assert_int_equal(rules_match_activity(f->r, f->ev, "form_submit",
	    f->vals, c, 4), 0);
	/* pricing page */
	set(f, RULES_NS_ACTIVITY, "url", str("https://acme.io/Pricing?x=1"));
	assert_int_equal(rules_match_activity(f->r, f->ev, "page_view",
	    f->vals, c, 4), 1);
	assert_true(c[0].points == 10);
	set(f, RULES_NS_ACTIVITY, "url", str("https://acme.io/blog"));
	assert_int_equal(rules_match_activity(f->r, f->ev, "page_view",
	    f->vals, c, 4), 0);
	/* email clicks always apply; the cap is applied by the caller */
	assert_int_equal(rules_match_activity(f->r, f->ev, "email_click",
	    f->vals, NULL, 0), 1);
	assert_int_equal(rules_match_activity(f->r, f->ev, "email_click",
	    f->vals, c, 4), 1);
	assert_true(c[0].points == 5);
	assert_true(rules_cap_points(c[0].rule, 0) == 5);
	assert_true(rules_cap_points(c[0].rule, 20) == 5);
	assert_true(rules_cap_points(c[0].rule, 22) == 3);
	assert_true(rules_cap_points(c[0].rule, 25) == 0);
	assert_true(rules_cap_points(c[0].rule, 40) == 0);
	/* unknown activities and exact names */
	assert_int_equal(rules_match_activity(f->r, f->ev, "webinar_attended",
	    f->vals, c, 4), 0);
	assert_int_equal(rules_match_activity(f->r, f->ev, "Email_Click",
	    f->vals, c, 4), 0);
	assert_int_equal(rules_match_activity(f->r, f->ev, NULL, f->vals, c,
	    4), 0);
}

static void
test_sql(void **state)
{
	struct fixture *f = *state;

	reset(f);
	f->vals[RULES_SLOT_STAGE] = str("mql");
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL,
	    f->vals));
	set(f, RULES_NS_LEAD, "sales.status", str("Qualified"));
	assert_true(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL, f->vals));
	assert_int_equal(rules_stage_next(f->r, f->ev, RULES_STAGE_MQL,
	    f->vals), RULES_STAGE_SQL);
	set(f, RULES_NS_LEAD, "sales.status", str("working"));
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL,
	    f->vals));
	/* a deal with a stage */
	set(f, RULES_NS_LEAD, "deal.stage", str("discovery"));
	assert_true(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL, f->vals));
	/* a deal without one */
	set(f, RULES_NS_LEAD, "deal.stage", str(""));
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_SQL,
	    f->vals));
	/* forward only: an opportunity does not go back to sql */
	set(f, RULES_NS_LEAD, "sales.status", str("qualified"));
	assert_int_equal(rules_stage_next(f->r, f->ev,
	    RULES_STAGE_OPPORTUNITY, f->vals), -1);
	/* stages without a section never hold */
	assert_false(rules_stage_holds(f->r, f->ev, RULES_STAGE_CUSTOMER,
	    f->vals));
	assert_false(rules_stage_holds(f->r, f->ev, 99, f->vals));
	assert_false(rules_stage_holds(f->r, f->ev, -1, f->vals));
}

/* ---- Decay and caps ------------------------------------------------------ */

static void
test_decay(void **state)
{
	struct fixture *f = *state;
	struct rules none;
	double a, b;

	assert_true(rules_decay(f->r, 100, 0) == 100);
	assert_true(rules_decay(f->r, 100, -5 * DAY_MS) == 100);
	assert_true(fabs(rules_decay(f->r, 100, 30 * DAY_MS) - 75) < 1e-9);
	assert_true(fabs(rules_decay(f->r, 100, 60 * DAY_MS) - 56.25) < 1e-9);
	assert_true(fabs(rules_decay(f->r, 100, 15 * DAY_MS) -
	    100 * sqrt(0.75)) < 1e-9);
	assert_true(fabs(rules_decay(f->r, 100, 15 * DAY_MS) - 86.6025403784)
	    < 1e-9);
	/* negative engagement decays toward 0 too */
	assert_true(fabs(rules_decay(f->r, -40, 30 * DAY_MS) + 30) < 1e-9);
	/* decaying in steps equals decaying once */
	a = rules_decay(f->r, rules_decay(f->r, 80, 7 * DAY_MS), 11 * DAY_MS);
	b = rules_decay(f->r, 80, 18 * DAY_MS);
	assert_true(fabs(a - b) < 1e-9);
	/* a year and a half: almost nothing left, never negative */
	a = rules_decay(f->r, 100, 540 * DAY_MS);
	assert_true(a > 0 && a < 1);
	/* without decay, engagement stays */
	memset(&none, 0, sizeof(none));
	assert_true(rules_decay(&none, 42, 1000 * DAY_MS) == 42);
}

static void
test_caps(void **state)
{
	struct rules_rule r;

	memset(&r, 0, sizeof(r));
	r.points = 5;
	assert_true(rules_cap_points(&r, 1e9) == 5);   /* uncapped */
	r.cap = 12;
	assert_true(rules_cap_points(&r, 0) == 5);
	assert_true(rules_cap_points(&r, 10) == 2);
	assert_true(rules_cap_points(&r, 12) == 0);
	/* negative points: the cap bounds the magnitude */
	r.points = -10;
	r.cap = 25;
	assert_true(rules_cap_points(&r, 0) == -10);
	assert_true(rules_cap_points(&r, -20) == -5);
	assert_true(rules_cap_points(&r, 20) == -5);
	assert_true(rules_cap_points(&r, -30) == 0);
}

static void
test_stage_names(void **state)
{
	assert_string_equal(rules_stage_name(RULES_STAGE_SUBSCRIBER),
	    "subscriber");
	assert_string_equal(rules_stage_name(RULES_STAGE_CUSTOMER),
	    "customer");
	assert_null(rules_stage_name(RULES_NSTAGES));
	assert_null(rules_stage_name(-1));
	assert_int_equal(rules_stage_parse("SQL", 3), RULES_STAGE_SQL);
	assert_int_equal(rules_stage_parse("opportunity", 11),
	    RULES_STAGE_OPPORTUNITY);
	assert_int_equal(rules_stage_parse("mqlx", 3), RULES_STAGE_MQL);
	assert_int_equal(rules_stage_parse("recycled", 8), -1);
	assert_int_equal(rules_stage_parse("", 0), -1);
}

/* A stage condition using the lifecycle order, and `not in`. */
static void
test_custom_stages(void **state)
{
	const char *text = "[stage sal]\n"
	    "when = stage >= \"mql\" and sales.status not in (\"unqualified\", "
	    "\"open\") and sales.owner != \"\"\n"
	    "[stage customer]\n"
	    "when = deal.outcome == \"won\"\n";
	struct diag d = { 0 };
	struct rules *r = rules_parse_buffer("r.conf", text, strlen(text), &d);
	struct rules_eval *ev = rules_eval_new();
	struct rules_value *v;

	assert_non_null(r);
	assert_non_null(ev);
	v = calloc(r->nslots, sizeof(*v));
	assert_non_null(v);
	v[RULES_SLOT_STAGE] = str("mql");
	v[rules_slot_find(r, RULES_NS_LEAD, "sales.status")] = str("working");
	assert_int_equal(rules_stage_next(r, ev, RULES_STAGE_MQL, v), -1);
	v[rules_slot_find(r, RULES_NS_LEAD, "sales.owner")] = str("005xx");
	assert_int_equal(rules_stage_next(r, ev, RULES_STAGE_MQL, v),
	    RULES_STAGE_SAL);
	v[rules_slot_find(r, RULES_NS_LEAD, "deal.outcome")] = str("Won");
	assert_int_equal(rules_stage_next(r, ev, RULES_STAGE_MQL, v),
	    RULES_STAGE_CUSTOMER);
	v[RULES_SLOT_STAGE] = str("lead");
	v[rules_slot_find(r, RULES_NS_LEAD, "deal.outcome")] = str("lost");
	assert_int_equal(rules_stage_next(r, ev, RULES_STAGE_LEAD, v), -1);
	free(v);
	rules_eval_free(ev);
	rules_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vp_requests_demo),
		cmocka_unit_test(test_gmail_signup),
		cmocka_unit_test(test_activities),
		cmocka_unit_test(test_sql),
		cmocka_unit_test(test_decay),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_stage_names),
		cmocka_unit_test(test_custom_stages),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
