/*
 * test_rules_load.c - reading rules.conf: SPEC's example (embedded, and
 * conf/rules.conf) compiles to what it says; every problem in a rule line,
 * a decay, a stage or an SLA is reported with its exact FILE:LINE(:COL)
 * and text; columns survive indentation, tabs, UTF-8 and quoted values;
 * all problems of a file are reported in one pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "rules.h"

#include "spec_rules.h"

static struct rules *
parse(const char *text, struct diag *d)
{
	return rules_parse_buffer("rules.conf", text, strlen(text), d);
}

/* Parsing text must fail with exactly the messages given (NULL-ended). */
static void
expect_errors(const char *text, ...)
{
	struct diag d = { 0 };
	const char *want;
	size_t n = 0;
	va_list ap;

	assert_null(parse(text, &d));
	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (n >= d.n) {
			diag_print(&d, stderr);
			fail_msg("missing message: %s", want);
		}
		assert_string_equal(d.msgs[n], want);
		n++;
	}
	va_end(ap);
	if (n != diag_count(&d)) {
		diag_print(&d, stderr);
		fail_msg("%zu messages, expected %zu", diag_count(&d), n);
	}
	diag_clear(&d);
}

#define ERRS(text, ...) expect_errors((text), __VA_ARGS__, (const char *)NULL)
#define SCORE_ERR(line, msg) ERRS("[score]\n" line "\n", (msg))
#define RULE_ERR(line, msg) ERRS("[score]\nrule = " line "\n", (msg))

static void
check_spec(const struct rules *r, const char *file)
{
	char buf[256];

	assert_int_equal(r->nrules, 6);
	assert_int_equal(r->nfit, 3);
	assert_int_equal(r->nengagement, 3);

	assert_int_equal(r->rules[0].kind, RULES_FIT);
	assert_true(r->rules[0].points == 20);
	assert_non_null(r->rules[0].cond);
	assert_null(r->rules[0].activity);
	assert_string_equal(r->rules[0].text,
	    "+20 if title ~ \"vp|vice president|director|head of\"");
	assert_string_equal(r->rules[0].file, file);
	assert_true(r->rules[2].points == -30);

	assert_int_equal(r->rules[3].kind, RULES_ENGAGEMENT);
	assert_string_equal(r->rules[3].activity, "form_submit");
	assert_non_null(r->rules[3].cond);
	assert_true(r->rules[3].points == 40);
	assert_true(r->rules[3].cap == 0);

	assert_string_equal(r->rules[4].activity, "email_click");
	assert_null(r->rules[4].cond);
	assert_true(r->rules[4].points == 5);
	assert_true(r->rules[4].cap == 25);
	assert_int_equal(r->rules[4].cap_window_ms, 30LL * 86400 * 1000);
	assert_string_equal(r->rules[5].activity, "page_view");
	for (size_t i = 0; i < r->nrules; i++)
		assert_int_equal(r->rules[i].index, i);

	assert_true(r->decay_pct == 25);
	assert_int_equal(r->decay_period_ms, 30LL * 86400 * 1000);

	for (int s = 0; s < RULES_NSTAGES; s++)
		assert_int_equal(r->stages[s].defined,
		    s == RULES_STAGE_MQL || s == RULES_STAGE_SQL);
	assert_string_equal(r->stages[RULES_STAGE_MQL].text,
	    "score >= 60 and fit >= 15");
	assert_string_equal(r->stages[RULES_STAGE_SQL].text,
	    "sales.status == \"qualified\" or deal.stage != \"\"");

	assert_int_equal(r->nslas, 1);
	assert_string_equal(r->slas[0].name, "accept");
	assert_int_equal(r->slas[0].after, RULES_STAGE_MQL);
	assert_int_equal(r->slas[0].within_ms, 24LL * 3600 * 1000);
	assert_int_equal(r->slas[0].on_breach,
	    RULES_BREACH_NOTIFY | RULES_BREACH_RECYCLE);

	/* the slots the caller fills: fixed ones, then in order of use */
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "title"), 4);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "company_size"), 5);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "email"), 6);
	assert_int_equal(rules_slot_find(r, RULES_NS_ACTIVITY, "form"), 7);
	assert_int_equal(rules_slot_find(r, RULES_NS_ACTIVITY, "url"), 8);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "sales.status"), 9);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "deal.stage"), 10);
	assert_int_equal(r->nslots, 11);

	rules_rule_describe(&r->rules[0], buf, sizeof(buf));
	snprintf(buf + 128, 128, "+20 if title ~ \"vp|vice president|"
	    "director|head of\" (%s:%d)", file, r->rules[0].line);
	assert_string_equal(buf, buf + 128);
}

static void
test_spec_example(void **state)
{
	struct diag d = { 0 };
	struct rules *r = parse(spec_example, &d);
	char buf[128];

	if (r == NULL)
		diag_print(&d, stderr);
	assert_non_null(r);
	assert_int_equal(diag_count(&d), 0);
	check_spec(r, "rules.conf");
	assert_int_equal(r->rules[0].line, 2);
	assert_int_equal(r->rules[5].line, 7);
	assert_int_equal(r->decay_line, 9);
	assert_int_equal(r->stages[RULES_STAGE_MQL].line, 12);
	assert_int_equal(r->stages[RULES_STAGE_SQL].line, 15);
	assert_int_equal(r->slas[0].line, 17);
	rules_rule_describe(&r->rules[4], buf, sizeof(buf));
	assert_string_equal(buf, "+5 on email_click cap 25 per 30d "
	    "(rules.conf:6)");
	rules_free(r);
}

/* conf/rules.conf holds SPEC's example with the language documented. */
static void
test_example_file(void **state)
{
	const char *path = BATON_TEST_DATA "/../../conf/rules.conf";
	struct diag d = { 0 };
	struct rules *r = rules_load(path, &d);

	if (r == NULL)
		diag_print(&d, stderr);
	assert_non_null(r);
	check_spec(r, path);
	rules_free(r);
}

static void
test_empty_and_defaults(void **state)
{
	struct diag d = { 0 };
	struct rules *r = parse("# nothing yet\n", &d);

	assert_non_null(r);
	assert_int_equal(r->nrules, 0);
	assert_int_equal(r->nslots, RULES_NFIXED_SLOTS);
	assert_true(r->decay_pct == 0);
	rules_free(r);
	r = parse("[sla x]\nafter = sql\nwithin = 7d\n", &d);
	assert_non_null(r);
	assert_int_equal(r->slas[0].on_breach, RULES_BREACH_NOTIFY);
	assert_int_equal(r->slas[0].after, RULES_STAGE_SQL);
	rules_free(r);
	/* a quoted value is unquoted first; points may be unsigned */
	r = parse("[score]\nrule = \"20 on x.y-z where a == \\\"b\\\"\"\n"
	    "[stage customer]\nwhen = \"deal.outcome == \\\"won\\\"\"\n", &d);
	if (r == NULL)
		diag_print(&d, stderr);
	assert_non_null(r);
	assert_true(r->rules[0].points == 20);
	assert_string_equal(r->rules[0].activity, "x.y-z");
	assert_string_equal(r->rules[0].text, "20 on x.y-z where a == \"b\"");
	assert_true(r->stages[RULES_STAGE_CUSTOMER].defined);
	rules_free(r);
	assert_int_equal(diag_count(&d), 0);
}

static void
test_load_missing_file(void **state)
{
	struct diag d = { 0 };

	assert_null(rules_load("/nonexistent/rules.conf", &d));
	assert_int_equal(diag_count(&d), 1);
	assert_string_equal(d.msgs[0], "/nonexistent/rules.conf: cannot open: "
	    "No such file or directory");
	diag_clear(&d);
	assert_null(rules_load("/", &d));
	assert_string_equal(d.msgs[0], "/: not a regular file");
	diag_clear(&d);
}

/* ---- Columns ------------------------------------------------------------ */

static void
test_columns(void **state)
{
	/* the example from the brief */
	ERRS("[score]\nrule = +5 on email_click\nrule = +20 if title \"vp\"\n",
	    "rules.conf:3:21: expected an operator after 'title', found "
	    "'\"vp\"'");
	/* indentation, spacing and tabs (one column each) */
	ERRS("[score]\n  rule\t=   +20 if titel ~ \"x\"\n",
	    "rules.conf:2:19: unknown field 'titel' (did you mean 'title'?)");
	/* UTF-8 counts as characters */
	ERRS("[score]\nrule = +20 if title == \"Geschäftsführer\" x\n",
	    "rules.conf:2:42: expected 'and' or 'or' after "
	    "'\"Geschäftsführer\"', found 'x'");
	/* a quoted value: its quote and escapes count */
	ERRS("[stage mql]\nwhen = \"score >= 60 and fitt >= 15\"\n",
	    "rules.conf:2:25: unknown field 'fitt' (did you mean 'fit'?)");
	ERRS("[stage mql]\nwhen = \"sales.status == \\\"x\\\" and foo == 1\"\n",
	    "rules.conf:2:35: unknown field 'foo' (known fields: email, "
	    "first_name, last_name, title, company, company_size, industry, "
	    "country, phone, custom.NAME, fit, engagement, score, stage, "
	    "sales.status, sales.reason, sales.owner, deal.stage, "
	    "deal.amount, deal.currency, deal.outcome)");
	/* a value that only starts with a string keeps its quotes */
	ERRS("[stage sql]\nwhen = \"qualified\" == sales.status and x\n",
	    "rules.conf:2:40: unknown field 'x' (known fields: email, "
	    "first_name, last_name, title, company, company_size, industry, "
	    "country, phone, custom.NAME, fit, engagement, score, stage, "
	    "sales.status, sales.reason, sales.owner, deal.stage, "
	    "deal.amount, deal.currency, deal.outcome)");
	{
		struct diag d = { 0 };
		struct rules *r = parse("[stage sql]\n"
		    "when = \"mql\" <= stage\n", &d);

		if (r == NULL)
			diag_print(&d, stderr);
		assert_non_null(r);
		rules_free(r);
		diag_clear(&d);
	}
	/* [stage disqualified]: off the ladder, compiled like the others */
	{
		struct diag d = { 0 };
		struct rules *r = parse("[stage disqualified]\n"
		    "when = sales.reason ~ \"spam|competitor\"\n", &d);

		assert_non_null(r);
		assert_true(r->disqualified.defined);
		assert_int_equal(r->disqualified.line, 2);
		assert_string_equal(r->disqualified.text,
		    "sales.reason ~ \"spam|competitor\"");
		rules_free(r);
		diag_clear(&d);
	}
	/* CRLF line ends */
	ERRS("[score]\r\nrule = +20 if fit\r\n",
	    "rules.conf:2:15: 'fit' cannot be used in a score rule (fit, "
	    "engagement and score are what these rules compute)");
}

/* ---- Rule lines --------------------------------------------------------- */

static void
test_rule_errors(void **state)
{
	RULE_ERR("if title ~ \"x\"", "rules.conf:2:8: expected points like "
	    "+20 or -30 at the start of the rule, found 'if'");
	RULE_ERR("", "rules.conf:2:7: expected points like +20 or -30 at "
	    "the start of the rule, found the end of the rule");
	RULE_ERR("+2.5 if title ~ \"x\"", "rules.conf:2:8: expected points "
	    "like +20 or -30 at the start of the rule, found '+2.5'");
	RULE_ERR("+2000000 if title ~ \"x\"", "rules.conf:2:8: expected points "
	    "like +20 or -30 at the start of the rule, found '+2000000'");
	RULE_ERR("+20", "rules.conf:2:11: expected 'if' (a fit rule) or 'on' "
	    "(an engagement rule) after '+20', found the end of the rule");
	RULE_ERR("+20 when title ~ \"x\"", "rules.conf:2:12: expected 'if' (a "
	    "fit rule) or 'on' (an engagement rule) after '+20', found "
	    "'when'");
	RULE_ERR("+20 if", "rules.conf:2:14: expected a field, a number or a "
	    "string, found the end of the rule");
	RULE_ERR("+20 if title ~ \"x\" cap 5 per 1d", "rules.conf:2:27: a cap "
	    "applies to engagement rules (+N on ACTIVITY ... cap N per "
	    "DURATION), not to fit rules");
	RULE_ERR("+20 if title ~ \"x\" foo", "rules.conf:2:27: expected 'and' "
	    "or 'or' after '\"x\"', found 'foo'");
	RULE_ERR("+20 if score > 50", "rules.conf:2:15: 'score' cannot be "
	    "used in a score rule (fit, engagement and score are what these "
	    "rules compute)");
	RULE_ERR("+5 on", "rules.conf:2:13: expected an activity name after "
	    "'on', found the end of the rule");
	RULE_ERR("+5 on Form_Submit", "rules.conf:2:14: invalid activity name "
	    "'Form_Submit' (lower-case letters, digits, '_', '.' and '-', "
	    "starting with a letter or a digit, at most 64)");
	RULE_ERR("+5 on form_submit when form == \"x\"", "rules.conf:2:26: "
	    "expected 'where', 'cap' or the end of the rule after "
	    "'form_submit', found 'when'");
	RULE_ERR("+5 on form_submit where", "rules.conf:2:31: expected a "
	    "field, a number or a string, found the end of the rule");
	RULE_ERR("+5 on form_submit where form == \"x\" limit 3",
	    "rules.conf:2:44: expected 'and', 'or', 'cap' or the end of the "
	    "rule after '\"x\"', found 'limit'");
	RULE_ERR("+5 on form_submit where lead.score > 1", "rules.conf:2:32: "
	    "'lead.score' cannot be used in a score rule (fit, engagement "
	    "and score are what these rules compute)");
}

static void
test_cap_errors(void **state)
{
	RULE_ERR("+5 on email_click cap", "rules.conf:2:29: expected a "
	    "positive whole number of points after 'cap', found the end of "
	    "the rule");
	RULE_ERR("+5 on email_click cap 0 per 30d", "rules.conf:2:30: expected "
	    "a positive whole number of points after 'cap', found '0'");
	RULE_ERR("+5 on email_click cap -5 per 30d", "rules.conf:2:30: "
	    "expected a positive whole number of points after 'cap', found "
	    "'-5'");
	RULE_ERR("+5 on email_click cap 25 30d", "rules.conf:2:33: expected "
	    "'per' after '25', found '30d'");
	RULE_ERR("+5 on email_click cap 25 per", "rules.conf:2:36: expected a "
	    "duration like 30d after 'per', found the end of the rule");
	RULE_ERR("+5 on email_click cap 25 per 30x", "rules.conf:2:37: invalid "
	    "duration '30x' (write 500ms, 30s, 5m, 24h or 7d)");
	RULE_ERR("+5 on email_click cap 25 per 0s", "rules.conf:2:37: a cap "
	    "window must be longer than 0");
	RULE_ERR("+5 on email_click cap 25 per 30d where x == 1",
	    "rules.conf:2:41: expected the end of the rule after '30d', found "
	    "'where'");
	RULE_ERR("+5 on email_click where x == 1 cap 25 per 30d cap 1 per 1d",
	    "rules.conf:2:54: expected the end of the rule after '30d', found "
	    "'cap'");
	/* accepted forms */
	{
		struct diag d = { 0 };
		struct rules *r = parse("[score]\n"
		    "rule = -5 on unsubscribed cap 10 per 500ms\n"
		    "rule = +1 on page_view where url ~ \"a\" CAP 3 PER 1h\n",
		    &d);

		assert_non_null(r);
		assert_true(r->rules[0].points == -5);
		assert_true(r->rules[0].cap == 10);
		assert_int_equal(r->rules[0].cap_window_ms, 500);
		assert_true(r->rules[1].cap == 3);
		assert_int_equal(r->rules[1].cap_window_ms, 3600000);
		assert_non_null(r->rules[1].cond);
		rules_free(r);
	}
}

static void
test_decay_errors(void **state)
{
	SCORE_ERR("decay = 25 per 30d", "rules.conf:2:9: expected a "
	    "percentage like 25% (as in 'decay = 25% per 30d'), found '25'");
	SCORE_ERR("decay = %", "rules.conf:2:9: expected a percentage like "
	    "25% (as in 'decay = 25% per 30d'), found '%'");
	SCORE_ERR("decay = 100% per 30d", "rules.conf:2:9: decay must be "
	    "more than 0% and less than 100%, found '100%'");
	SCORE_ERR("decay = 0% per 30d", "rules.conf:2:9: decay must be more "
	    "than 0% and less than 100%, found '0%'");
	SCORE_ERR("decay = 25% every 30d", "rules.conf:2:13: expected 'per' "
	    "after '25%', found 'every'");
	SCORE_ERR("decay = 25% per month", "rules.conf:2:17: invalid "
	    "duration 'month' (write 500ms, 30s, 5m, 24h or 7d)");
	SCORE_ERR("decay = 25% per 30d please", "rules.conf:2:21: expected "
	    "the end of the value after '30d', found 'please'");
	ERRS("[score]\ndecay = 25% per 30d\ndecay = 10% per 7d\n",
	    "rules.conf:3: 'decay' is set twice in [score] (first at "
	    "rules.conf:2)");
	{
		struct diag d = { 0 };
		struct rules *r = parse("[score]\ndecay = 12.5% per 7d\n", &d);

		assert_non_null(r);
		assert_true(r->decay_pct == 12.5);
		assert_int_equal(r->decay_period_ms, 7LL * 86400000);
		rules_free(r);
	}
}

/* ---- Sections ----------------------------------------------------------- */

static void
test_section_errors(void **state)
{
	ERRS("[scores]\nrule = +1 if title ~ \"x\"\n", "rules.conf:1: unknown "
	    "section [scores] (a rules file has [score], [stage NAME] and "
	    "[sla NAME])");
	ERRS("[connector x]\n", "rules.conf:1: unknown section [connector x] "
	    "(a rules file has [score], [stage NAME] and [sla NAME])");
	ERRS("[score fit]\n", "rules.conf:1: [score fit]: the score section "
	    "takes no name; write [score]");
	ERRS("[score]\n[score]\n", "rules.conf:2: duplicate section [score] "
	    "(first at rules.conf:1); put every rule in one");
	ERRS("[score]\nrules = +1 if title ~ \"x\"\nweight = 3\n",
	    "rules.conf:2: unknown key 'rules' in [score] (did you mean "
	    "'rule'?)",
	    "rules.conf:3: unknown key 'weight' in [score] (valid keys: rule, "
	    "decay)");
	/* an INI problem is reported by the reader and fails the load */
	ERRS("[score\n", "rules.conf:1: section header '[score' lacks its "
	    "closing ']'");
}

static void
test_stage_errors(void **state)
{
	ERRS("[stage]\nwhen = fit > 1\n", "rules.conf:1: [stage] needs the "
	    "name of a stage: one of subscriber, lead, mql, sal, sql, "
	    "opportunity, customer, disqualified");
	ERRS("[stage qualified]\nwhen = fit > 1\n", "rules.conf:1: unknown "
	    "stage 'qualified' in [stage qualified] (valid stages: "
	    "subscriber, lead, mql, sal, sql, opportunity, customer, "
	    "disqualified)");
	ERRS("[stage mql]\nwhen = fit > 1\n[stage mql]\nwhen = fit > 2\n",
	    "rules.conf:3: duplicate section [stage mql] (first at "
	    "rules.conf:1)");
	ERRS("[stage mql]\n", "rules.conf:1: [stage mql] lacks 'when = "
	    "EXPRESSION'");
	ERRS("[stage mql]\nwen = fit > 1\n", "rules.conf:2: unknown key 'wen' "
	    "in [stage mql] (did you mean 'when'?)",
	    "rules.conf:1: [stage mql] lacks 'when = EXPRESSION'");
	ERRS("[stage mql]\nwhen = fit > 1\nwhen = fit > 2\n", "rules.conf:3: "
	    "'when' is set twice in [stage mql] (first at rules.conf:2)");
	ERRS("[stage mql]\nwhen = score > 1 2\n", "rules.conf:2:18: expected "
	    "'and' or 'or' after '1', found '2'");
	ERRS("[stage mql]\nwhen =\n", "rules.conf:2:7: expected a field, a "
	    "number or a string, found the end of the expression");
}

static void
test_sla_errors(void **state)
{
	ERRS("[sla]\nafter = mql\nwithin = 1h\n", "rules.conf:1: [sla] needs "
	    "a name, as in [sla accept]");
	ERRS("[sla a]\n", "rules.conf:1: [sla a] lacks 'after = STAGE'",
	    "rules.conf:1: [sla a] lacks 'within = DURATION'");
	ERRS("[sla a]\nafter = qualified\nwithin = 1 day\n"
	    "on_breach = notify, email\n",
	    "rules.conf:2: unknown stage 'qualified' in 'after' (valid "
	    "stages: subscriber, lead, mql, sal, sql, opportunity, customer)",
	    "rules.conf:3: invalid duration '1 day' in 'within' (write 500ms, "
	    "30s, 5m, 24h or 7d)",
	    "rules.conf:4: unknown action 'email' in 'on_breach' (valid "
	    "actions: notify, recycle)");
	ERRS("[sla a]\nafter = mql\nwithin = 0s\n", "rules.conf:3: 'within' "
	    "must be longer than 0");
	ERRS("[sla a]\nafter = mql\nwithin = 1h\non_breach = notify,,recycle\n",
	    "rules.conf:4: empty action in 'on_breach' (write notify, recycle "
	    "or both, separated by a comma)");
	ERRS("[sla a]\nafter = mql\nwithin = 1h\non_breach =\n",
	    "rules.conf:4: empty action in 'on_breach' (write notify, recycle "
	    "or both, separated by a comma)");
	ERRS("[sla a]\nafter = mql\nwithin = 1h\non_breach = recycle, "
	    "recycle\n", "rules.conf:4: 'recycle' is listed twice in "
	    "'on_breach'");
	ERRS("[sla a]\nafter = mql\nafter = sql\nwithin = 1h\nwhithin = 2h\n",
	    "rules.conf:3: 'after' is set twice in [sla a] (first at "
	    "rules.conf:2)",
	    "rules.conf:5: unknown key 'whithin' in [sla a] (did you mean "
	    "'within'?)");
	ERRS("[sla a]\nafter = mql\nwithin = 1h\n[sla a]\nafter = mql\n"
	    "within = 2h\n", "rules.conf:4: duplicate section [sla a] (first "
	    "at rules.conf:1)");
}

/* Every problem of a file comes out of one pass, in file order. */
static void
test_all_problems(void **state)
{
	ERRS("[score]\n"
	    "rule = +20 if titel ~ \"vp\"\n"
	    "rule = +15 if company_size >= 200\n"
	    "rule = -30 if email ~ \"@(gmail\"\n"
	    "rule = +5 on email_click cap 25 per 30days\n"
	    "decay = 25%\n"
	    "[stage mql]\n"
	    "when = score >= 60 and fit => 15\n"
	    "[stage sqll]\n"
	    "when = true\n"
	    "[sla accept]\n"
	    "after = mql\n",
	    "rules.conf:2:15: unknown field 'titel' (did you mean 'title'?)",
	    "rules.conf:4:23: invalid regular expression '\"@(gmail\"': "
	    "missing closing parenthesis",
	    "rules.conf:5:37: invalid duration '30days' (write 500ms, 30s, "
	    "5m, 24h or 7d)",
	    "rules.conf:6:12: expected 'per' after '25%', found the end of "
	    "the value",
	    "rules.conf:8:28: unexpected '=' (did you mean '=='?)",
	    "rules.conf:9: unknown stage 'sqll' in [stage sqll] (valid "
	    "stages: subscriber, lead, mql, sal, sql, opportunity, customer, "
	    "disqualified)",
	    "rules.conf:11: [sla accept] lacks 'within = DURATION'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_empty_and_defaults),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_cap_errors),
		cmocka_unit_test(test_decay_errors),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_stage_errors),
		cmocka_unit_test(test_sla_errors),
		cmocka_unit_test(test_all_problems),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
