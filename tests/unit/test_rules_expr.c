/*
 * test_rules_expr.c - the rules expression language: precedence, every
 * comparison rule (numbers against strings, case, missing fields, stage
 * order), regexes (case, anchors, invalid UTF-8, catastrophic patterns),
 * `in`, slots, and every compile error with its exact FILE:LINE:COL and
 * quoted text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "rules.h"

/* ---- Helpers ------------------------------------------------------------ */

struct kv {
	const char *name;
	enum rules_ns ns;
	struct rules_value v;
};

#define STR(n, s)       { (n), RULES_NS_LEAD, { RULES_STRING, 0, (s), \
	sizeof(s) - 1 } }
#define NUM(n, x)       { (n), RULES_NS_LEAD, { RULES_NUMBER, (x), NULL, 0 } }
#define ASTR(n, s)      { (n), RULES_NS_ACTIVITY, { RULES_STRING, 0, (s), \
	sizeof(s) - 1 } }

static struct rules_eval *ev;

/* Compiles src in ctx and evaluates it with the given fields set (every
 * other slot missing). */
static bool
eval_ctx(enum rules_ctx ctx, const char *src, const struct kv *kvs,
    size_t n)
{
	struct diag d = { 0 };
	struct rules *r = rules_new("rules.conf");
	struct rules_expr *e;
	struct rules_value *vals;
	bool res;

	assert_non_null(r);
	e = rules_expr_compile(r, ctx, src, strlen(src), 1, 1, &d);
	if (e == NULL) {
		diag_print(&d, stderr);
		fail_msg("'%s' did not compile", src);
	}
	assert_int_equal(diag_count(&d), 0);
	vals = calloc(r->nslots, sizeof(*vals));
	assert_non_null(vals);
	for (size_t i = 0; i < n; i++) {
		int slot = rules_slot_find(r, kvs[i].ns, kvs[i].name);

		if (slot >= 0)
			vals[slot] = kvs[i].v;
	}
	res = rules_expr_eval(e, ev, vals);
	free(vals);
	rules_free(r);
	return res;
}

#define KVS(...)        ((const struct kv[]){ __VA_ARGS__ })
#define EVAL(src, ...)  eval_ctx(RULES_CTX_LEAD, (src), KVS(__VA_ARGS__), \
	sizeof(KVS(__VA_ARGS__)) / sizeof(struct kv))
#define EVAL0(src) eval_ctx(RULES_CTX_LEAD, (src), NULL, 0)

/* The single message compiling src (line 3, column col) produces. */
static void
expect_error(enum rules_ctx ctx, const char *src, int col,
    const char *expected)
{
	struct diag d = { 0 };
	struct rules *r = rules_new("rules.conf");

	assert_non_null(r);
	assert_null(rules_expr_compile(r, ctx, src, strlen(src), 3, col, &d));
	if (diag_count(&d) != 1) {
		diag_print(&d, stderr);
		fail_msg("'%s': %zu messages", src, diag_count(&d));
	}
	assert_string_equal(d.msgs[0], expected);
	diag_clear(&d);
	rules_free(r);
}

#define ERR(src, expected) expect_error(RULES_CTX_LEAD, (src), 1, (expected))

static int
setup(void **state)
{
	ev = rules_eval_new();
	return ev == NULL;
}

static int
teardown(void **state)
{
	rules_eval_free(ev);
	return 0;
}

/* ---- Logic -------------------------------------------------------------- */

static void
test_precedence(void **state)
{
	/* and binds tighter than or */
	assert_true(EVAL0("true or false and false"));
	assert_false(EVAL0("(true or false) and false"));
	assert_true(EVAL0("false and false or true"));
	/* not binds to what follows it, not to the whole chain */
	assert_false(EVAL0("not false and false"));
	assert_true(EVAL0("not (false and false)"));
	assert_true(EVAL0("not not true"));
	assert_false(EVAL0("not true or false"));
	/* keywords ignore case */
	assert_true(EVAL0("FALSE AND true Or NOT false"));
	/* comparisons bind tighter than and/or */
	assert_true(EVAL("score >= 60 and fit >= 15 or stage == \"sql\"",
	    NUM("score", 10), STR("stage", "sql")));
	assert_false(EVAL("score >= 60 and (fit >= 15 or stage == \"sql\")",
	    NUM("score", 10), STR("stage", "sql")));
	assert_true(EVAL("not score < 60", NUM("score", 60)));
	/* long flat chains */
	assert_true(EVAL0("false or false or false or false or true"));
	assert_false(EVAL0("true and true and true and true and false"));
}

static void
test_numbers_and_strings(void **state)
{
	/* numbers */
	assert_true(EVAL("company_size >= 200", NUM("company_size", 500)));
	assert_false(EVAL("company_size >= 200", NUM("company_size", 199)));
	assert_true(EVAL("company_size > 199.5", NUM("company_size", 200)));
	assert_true(EVAL("deal.amount > -5", NUM("deal.amount", 0)));
	assert_true(EVAL("deal.amount == 0.1", NUM("deal.amount", 0.1)));
	/* a numeric string compares as a number against a number */
	assert_true(EVAL("company_size >= 200", STR("company_size", "500")));
	assert_false(EVAL("company_size >= 200", STR("company_size", "50")));
	assert_true(EVAL("company_size == 500", STR("company_size",
	    "500.0")));
	assert_true(EVAL("company_size == \"500\"", NUM("company_size", 500)));
	assert_true(EVAL("company_size < 1000", STR("company_size", "-3")));
	/* against other text: == false, != true, ordering false */
	assert_false(EVAL("company_size >= 200", STR("company_size",
	    "201-500")));
	assert_false(EVAL("company_size < 200", STR("company_size",
	    "201-500")));
	assert_false(EVAL("company_size == 200", STR("company_size", "abc")));
	assert_true(EVAL("company_size != 200", STR("company_size", "abc")));
	assert_false(EVAL("company_size >= 200", STR("company_size", "1e3")));
	assert_false(EVAL("company_size >= 200", STR("company_size", " 500")));
	/* two strings: equality is textual, ordering textual unless both
	 * are numbers */
	assert_false(EVAL("custom.id == \"0123\"", STR("custom.id", "123")));
	assert_true(EVAL("custom.id < \"1000\"", STR("custom.id", "200")));
	assert_true(EVAL("custom.signup < \"2024-02-01\"",
	    STR("custom.signup", "2024-01-31")));
	assert_true(EVAL("custom.code >= \"B\"", STR("custom.code", "b")));
	/* string equality ignores ASCII case */
	assert_true(EVAL("sales.status == \"qualified\"",
	    STR("sales.status", "Qualified")));
	assert_false(EVAL("sales.status != \"QUALIFIED\"",
	    STR("sales.status", "qualified")));
	assert_false(EVAL("sales.status == \"qualified\"",
	    STR("sales.status", "qualified ")));
	/* fields on both sides */
	assert_true(EVAL("score >= fit", NUM("score", 20), NUM("fit", 15)));
	assert_true(EVAL("first_name == last_name", STR("first_name", "Lee"),
	    STR("last_name", "LEE")));
	/* literals on the left */
	assert_true(EVAL("200 <= company_size", NUM("company_size", 200)));
}

static void
test_missing(void **state)
{
	/* SPEC: deal.stage != "" is true only when a deal with a stage
	 * exists */
	assert_false(EVAL0("deal.stage != \"\""));
	assert_true(EVAL0("deal.stage == \"\""));
	assert_true(EVAL("deal.stage != \"\"", STR("deal.stage", "open")));
	assert_false(EVAL("deal.stage != \"\"", STR("deal.stage", "")));
	assert_false(EVAL0("sales.status == \"qualified\" or "
	    "deal.stage != \"\""));
	/* ordering and ~ are false, whichever way round */
	assert_false(EVAL0("company_size >= 0"));
	assert_false(EVAL0("company_size < 0"));
	assert_false(EVAL0("0 < company_size"));
	assert_false(EVAL0("title ~ \"\""));
	assert_false(EVAL0("title ~ \"^$\""));
	/* a missing field never equals a number */
	assert_false(EVAL0("deal.amount == 0"));
	assert_true(EVAL0("deal.amount != 0"));
	assert_true(EVAL0("not title ~ \"vp\""));
	assert_true(EVAL0("sales.status != \"rejected\""));
	/* an unknown value kind is treated as missing */
	{
		const struct kv kvs[] = { { "title", RULES_NS_LEAD,
			{ (enum rules_vkind)42, 0, "vp", 2 } } };

		assert_false(eval_ctx(RULES_CTX_LEAD, "title ~ \"vp\"", kvs,
		    1));
	}
}

/* a != b is exactly not (a == b), for every pair of kinds. */
static void
test_ne_is_not_eq(void **state)
{
	const struct rules_value v[] = {
		{ RULES_MISSING, 0, NULL, 0 },
		{ RULES_NUMBER, 0, NULL, 0 },
		{ RULES_NUMBER, 200, NULL, 0 },
		{ RULES_STRING, 0, "", 0 },
		{ RULES_STRING, 0, "200", 3 },
		{ RULES_STRING, 0, "200.0", 5 },
		{ RULES_STRING, 0, "abc", 3 },
		{ RULES_STRING, 0, "ABC", 3 },
	};
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct kv kvs[2] = {
				{ "custom.a", RULES_NS_LEAD, v[i] },
				{ "custom.b", RULES_NS_LEAD, v[j] },
			};
			bool eq = eval_ctx(RULES_CTX_LEAD,
			    "custom.a == custom.b", kvs, 2);
			bool ne = eval_ctx(RULES_CTX_LEAD,
			    "custom.a != custom.b", kvs, 2);

			assert_true(eq != ne);
			/* equality is symmetric */
			kvs[0].v = v[j];
			kvs[1].v = v[i];
			assert_true(eq == eval_ctx(RULES_CTX_LEAD,
			    "custom.a == custom.b", kvs, 2));
		}
}

/* ---- Regexes, in, stage ------------------------------------------------- */

static void
test_regex(void **state)
{
	const char *vp = "title ~ \"vp|vice president|director|head of\"";

	assert_true(EVAL(vp, STR("title", "Senior VP, Sales")));
	assert_true(EVAL(vp, STR("title", "VICE PRESIDENT")));
	assert_true(EVAL(vp, STR("title", "Head Of Growth")));
	assert_false(EVAL(vp, STR("title", "Developer")));
	/* \. is a literal dot; the regex is unanchored */
	assert_true(EVAL("email ~ \"@(gmail|yahoo|hotmail)\\.\"",
	    STR("email", "jo@GMail.com")));
	assert_false(EVAL("email ~ \"@(gmail|yahoo|hotmail)\\.\"",
	    STR("email", "jo@gmailcom.org")));
	/* anchors */
	assert_true(EVAL("email ~ \"^bob@\"", STR("email", "bob@x.io")));
	assert_false(EVAL("email ~ \"^bob@\"", STR("email", "jim.bob@x.io")));
	assert_true(EVAL("custom.url ~ \"/pricing$\"", STR("custom.url",
	    "/en/pricing")));
	/* \" inside the literal, and \d kept */
	assert_true(EVAL("title ~ \"say \\\"hi\\\"\"", STR("title",
	    "they say \"HI\"")));
	assert_true(EVAL("phone ~ \"^\\d+$\"", STR("phone", "5551234")));
	/* a number is matched in its shortest form */
	assert_true(EVAL("deal.amount ~ \"^1500$\"", NUM("deal.amount",
	    1500)));
	assert_true(EVAL("deal.amount ~ \"^0\\.25$\"", NUM("deal.amount",
	    0.25)));
	/* Unicode case folding; invalid UTF-8 subjects are harmless */
	assert_true(EVAL("title ~ \"geschäftsführer\"",
	    STR("title", "GESCHÄFTSFÜHRER")));
	assert_true(EVAL(vp, STR("title", "\xff\xfe VP \xc3")));
	assert_false(EVAL(vp, STR("title", "\xff\xfe\x80")));
	/* NUL bytes in a value */
	{
		const struct kv kvs[] = { { "title", RULES_NS_LEAD,
			{ RULES_STRING, 0, "a\0vp", 4 } } };

		assert_true(eval_ctx(RULES_CTX_LEAD, vp, kvs, 1));
	}
}

static void
test_regex_catastrophic(void **state)
{
	const char *s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
	struct timespec t0, t1;
	uint64_t before = ev->regex_aborts;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	{
		const struct kv kvs[] = { { "title", RULES_NS_LEAD,
			{ RULES_STRING, 0, s, strlen(s) } } };

		assert_false(eval_ctx(RULES_CTX_LEAD, "title ~ \"^(a+)+$\"",
		    kvs, 1));
		assert_true(eval_ctx(RULES_CTX_LEAD,
		    "not title ~ \"^(a|aa)+$\"", kvs, 1));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ev->regex_aborts >= before + 1);
	assert_true(ms < 2000);
}

static void
test_in(void **state)
{
	assert_true(EVAL("country in (\"US\", \"CA\", 3)",
	    STR("country", "us")));
	assert_false(EVAL("country in (\"US\", \"CA\", 3)",
	    STR("country", "DE")));
	assert_true(EVAL("country in (\"US\", \"CA\", 3)",
	    NUM("country", 3)));
	assert_true(EVAL("country in (\"US\", \"CA\", 3)",
	    STR("country", "3")));
	assert_false(EVAL0("country in (\"US\", \"CA\")"));
	assert_true(EVAL0("country in (\"US\", \"\")"));
	assert_true(EVAL("country not in (\"US\", \"CA\")",
	    STR("country", "DE")));
	assert_false(EVAL("country NOT IN (\"US\", \"CA\")",
	    STR("country", "ca")));
	assert_true(EVAL0("country not in (\"US\")"));
	assert_true(EVAL("company_size in (10, 200.5)",
	    NUM("company_size", 200.5)));
}

static void
test_stage_order(void **state)
{
	assert_true(EVAL("stage >= \"mql\"", STR("stage", "sql")));
	assert_true(EVAL("stage >= \"mql\"", STR("stage", "MQL")));
	assert_false(EVAL("stage >= \"mql\"", STR("stage", "lead")));
	assert_true(EVAL("stage < \"customer\"",
	    STR("stage", "opportunity")));
	assert_true(EVAL("\"mql\" <= stage", STR("stage", "customer")));
	assert_false(EVAL("\"mql\" > stage", STR("stage", "customer")));
	/* not a lifecycle stage, or none: false */
	assert_false(EVAL("stage >= \"subscriber\"",
	    STR("stage", "recycled")));
	assert_false(EVAL0("stage >= \"subscriber\""));
	/* equality stays textual */
	assert_true(EVAL("stage == \"Recycled\"", STR("stage", "recycled")));
}

static void
test_slots(void **state)
{
	struct diag d = { 0 };
	struct rules *r = rules_new("rules.conf");
	const char *src = "title ~ \"vp\" and lead.title != \"\" and "
	    "custom.plan == \"pro\" and score > 1 and stage == \"lead\"";
	const char *w = "form == \"demo\" and lead.title ~ \"x\" and "
	    "title == \"page\" and custom.plan == \"y\"";

	assert_non_null(r);
	assert_int_equal(r->nslots, RULES_NFIXED_SLOTS);
	assert_string_equal(r->slots[RULES_SLOT_FIT].name, "fit");
	assert_string_equal(r->slots[RULES_SLOT_ENGAGEMENT].name,
	    "engagement");
	assert_string_equal(r->slots[RULES_SLOT_SCORE].name, "score");
	assert_string_equal(r->slots[RULES_SLOT_STAGE].name, "stage");
	assert_non_null(rules_expr_compile(r, RULES_CTX_LEAD, src,
	    strlen(src), 1, 1, &d));
	assert_non_null(rules_expr_compile(r, RULES_CTX_WHERE, w, strlen(w),
	    1, 1, &d));
	assert_int_equal(diag_count(&d), 0);
	/* title once (lead. is the same field), custom.plan, then the
	 * activity's form, title and custom.plan */
	assert_int_equal(r->nslots, RULES_NFIXED_SLOTS + 5);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "title"), 4);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "custom.plan"), 5);
	assert_int_equal(rules_slot_find(r, RULES_NS_ACTIVITY, "form"), 6);
	assert_int_equal(rules_slot_find(r, RULES_NS_ACTIVITY, "title"), 7);
	assert_int_equal(rules_slot_find(r, RULES_NS_ACTIVITY, "custom.plan"),
	    8);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "score"),
	    RULES_SLOT_SCORE);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "form"), -1);
	assert_int_equal(rules_slot_find(r, RULES_NS_LEAD, "lead.title"), -1);
	rules_free(r);
}

static void
test_where(void **state)
{
	const struct kv page[] = {
		ASTR("url", "https://x.io/pricing?a=1"),
		ASTR("title", "Pricing"),
		STR("title", "VP Sales"),
	};

	assert_true(eval_ctx(RULES_CTX_WHERE, "url ~ \"/pricing\"", page, 3));
	assert_true(eval_ctx(RULES_CTX_WHERE, "title == \"pricing\" and "
	    "lead.title ~ \"^vp\"", page, 3));
	assert_false(eval_ctx(RULES_CTX_WHERE, "lead.title == \"pricing\"",
	    page, 3));
	/* any name is an attribute; a missing one is missing */
	assert_false(eval_ctx(RULES_CTX_WHERE, "utm.source == \"ads\"", page,
	    3));
	assert_true(eval_ctx(RULES_CTX_WHERE, "form-id == \"\"", page, 3));
}

/* ---- Errors ------------------------------------------------------------- */

static void
test_errors_syntax(void **state)
{
	ERR("title \"vp\"", "rules.conf:3:7: expected an operator after "
	    "'title', found '\"vp\"'");
	ERR("title", "rules.conf:3:6: expected an operator after 'title', "
	    "found the end of the expression");
	ERR("", "rules.conf:3:1: expected a field, a number or a string, "
	    "found the end of the expression");
	ERR("and fit > 1", "rules.conf:3:1: expected a field, a number or a "
	    "string, found 'and'");
	ERR("fit > ", "rules.conf:3:7: expected a field, a number or a string "
	    "after '>', found the end of the expression");
	ERR("fit >= )", "rules.conf:3:8: expected a field, a number or a "
	    "string after '>=', found ')'");
	ERR("fit > 1 fit", "rules.conf:3:9: expected 'and' or 'or' after '1', "
	    "found 'fit'");
	ERR("fit > 1 < 2", "rules.conf:3:9: expected 'and' or 'or' after '1', "
	    "found '<'");
	ERR("(fit > 1", "rules.conf:3:9: expected ')' to close the '(' at "
	    "column 1, found the end of the expression");
	ERR("fit > 1 and (fit < 2 or (fit > 3)", "rules.conf:3:34: expected "
	    "')' to close the '(' at column 13, found the end of the "
	    "expression");
	ERR("fit > 1)", "rules.conf:3:8: expected 'and' or 'or' after '1', "
	    "found ')'");
	ERR("not", "rules.conf:3:4: expected a field, a number or a string, "
	    "found the end of the expression");
	ERR("fit > 1 and", "rules.conf:3:12: expected a field, a number or a "
	    "string, found the end of the expression");
	ERR("true == fit", "rules.conf:3:6: expected 'and' or 'or' after "
	    "'true', found '=='");
}

static void
test_errors_lexical(void **state)
{
	ERR("fit = 1", "rules.conf:3:5: unexpected '=' (did you mean '=='?)");
	ERR("fit ! 1", "rules.conf:3:5: unexpected '!' (did you mean '!=' or "
	    "'not'?)");
	ERR("fit > 1 && fit < 2", "rules.conf:3:9: unexpected '&' (write "
	    "'and')");
	ERR("fit > 1 || fit < 2", "rules.conf:3:9: unexpected '|' (write "
	    "'or')");
	ERR("fit > 1 # big", "rules.conf:3:9: unexpected '#' (a comment must "
	    "be on a line of its own)");
	ERR("title == 'vp'", "rules.conf:3:10: unexpected ''' (strings are in "
	    "double quotes)");
	ERR("title == \xe2\x80\x9cvp\xe2\x80\x9d", "rules.conf:3:10: "
	    "unexpected '\xe2\x80\x9c' (strings are in straight double "
	    "quotes \")");
	ERR("fit > $", "rules.conf:3:7: unexpected character '$'");
	ERR("fit > \x01", "rules.conf:3:7: unexpected character '\\x01'");
	ERR("title == \"vp", "rules.conf:3:10: unterminated string (no "
	    "closing '\"')");
	ERR("title == \"vp\\\"", "rules.conf:3:10: unterminated string (no "
	    "closing '\"')");
	ERR("fit > 30d", "rules.conf:3:7: invalid number '30d'");
	ERR("fit > 1.2.3", "rules.conf:3:7: invalid number '1.2.3'");
	ERR("fit > 1.", "rules.conf:3:7: invalid number '1.'");
	/* columns count characters, not bytes, and start at col */
	ERR("title == \"é\" x", "rules.conf:3:14: expected 'and' or 'or' "
	    "after '\"é\"', found 'x'");
	expect_error(RULES_CTX_LEAD, "fit > 1 fit", 21,
	    "rules.conf:3:29: expected 'and' or 'or' after '1', found 'fit'");
	/* long tokens are cut */
	ERR("title \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
	    "rules.conf:3:7: expected an operator after 'title', found "
	    "'\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
}

static void
test_errors_operators(void **state)
{
	ERR("title ~ vp", "rules.conf:3:9: expected a regular expression in "
	    "double quotes after '~', found 'vp'");
	ERR("title ~ 3", "rules.conf:3:9: expected a regular expression in "
	    "double quotes after '~', found '3'");
	ERR("title ~ \"(vp\"", "rules.conf:3:9: invalid regular expression "
	    "'\"(vp\"': missing closing parenthesis");
	ERR("fit > 1 and title ~ \"[a-\"", "rules.conf:3:21: invalid regular "
	    "expression '\"[a-\"': missing terminating ] for character "
	    "class");
	ERR("title ~ \"\xff\"", "rules.conf:3:9: invalid regular expression "
	    "'\"\xff\"': UTF-8 error: illegal byte (0xfe or 0xff)");
	ERR("country in \"US\"", "rules.conf:3:12: expected '(' after 'in', "
	    "found '\"US\"'");
	ERR("country in (\"US\" \"CA\")", "rules.conf:3:18: expected ',' or "
	    "')' in the 'in' list, found '\"CA\"'");
	ERR("country in (title)", "rules.conf:3:13: expected a number or a "
	    "string in the 'in' list, found 'title'");
	ERR("country in ()", "rules.conf:3:13: expected a number or a string "
	    "in the 'in' list, found ')'");
	ERR("country in (\"US\",", "rules.conf:3:18: expected a number or a "
	    "string in the 'in' list, found the end of the expression");
	ERR("country not \"US\"", "rules.conf:3:13: expected 'in' after "
	    "'not', found '\"US\"'");
	ERR("stage >= \"foo\"", "rules.conf:3:10: 'stage' is compared in "
	    "lifecycle order with a stage name: subscriber, lead, mql, sal, "
	    "sql, opportunity or customer in double quotes");
	ERR("2 < stage", "rules.conf:3:1: 'stage' is compared in lifecycle "
	    "order with a stage name: subscriber, lead, mql, sal, sql, "
	    "opportunity or customer in double quotes");
}

static void
test_errors_fields(void **state)
{
	ERR("titel == \"x\"", "rules.conf:3:1: unknown field 'titel' (did you "
	    "mean 'title'?)");
	ERR("fit > 1 and sales.statu == \"x\"", "rules.conf:3:13: unknown "
	    "field 'sales.statu' (did you mean 'sales.status'?)");
	ERR("Title == \"x\"", "rules.conf:3:1: unknown field 'Title' (did you "
	    "mean 'title'?)");
	ERR("form == \"demo\"", "rules.conf:3:1: unknown field 'form' (known "
	    "fields: email, first_name, last_name, title, company, "
	    "company_size, industry, country, phone, custom.NAME, fit, "
	    "engagement, score, stage, sales.status, sales.reason, "
	    "sales.owner, deal.stage, deal.amount, deal.currency, "
	    "deal.outcome)");
	ERR("custom. == 1", "rules.conf:3:1: unknown field 'custom.' (known "
	    "fields: email, first_name, last_name, title, company, "
	    "company_size, industry, country, phone, custom.NAME, fit, "
	    "engagement, score, stage, sales.status, sales.reason, "
	    "sales.owner, deal.stage, deal.amount, deal.currency, "
	    "deal.outcome)");
	ERR("lead.form == 1", "rules.conf:3:1: unknown field 'lead.form' "
	    "(known fields: email, first_name, last_name, title, company, "
	    "company_size, industry, country, phone, custom.NAME, fit, "
	    "engagement, score, stage, sales.status, sales.reason, "
	    "sales.owner, deal.stage, deal.amount, deal.currency, "
	    "deal.outcome)");
	/* fit rules cannot use what they compute */
	expect_error(RULES_CTX_FIT, "title ~ \"x\" and score > 1", 1,
	    "rules.conf:3:17: 'score' cannot be used in a score rule (fit, "
	    "engagement and score are what these rules compute)");
	expect_error(RULES_CTX_FIT, "fit > 1", 1, "rules.conf:3:1: 'fit' "
	    "cannot be used in a score rule (fit, engagement and score are "
	    "what these rules compute)");
	expect_error(RULES_CTX_WHERE, "lead.engagement > 1", 1,
	    "rules.conf:3:1: 'lead.engagement' cannot be used in a score "
	    "rule (fit, engagement and score are what these rules compute)");
	expect_error(RULES_CTX_WHERE, "lead.titel == 1", 1,
	    "rules.conf:3:1: unknown field 'lead.titel' (did you mean "
	    "'title'?)");
	/* but a where clause's own attributes may be called anything */
	assert_false(eval_ctx(RULES_CTX_WHERE, "score > 1", NULL, 0));
}

static void
test_errors_depth(void **state)
{
	char src[512];
	size_t n = 0;

	/* 64 levels are fine, 65 are not */
	for (int i = 0; i < 64; i++)
		src[n++] = '(';
	n += snprintf(src + n, sizeof(src) - n, "true");
	for (int i = 0; i < 64; i++)
		src[n++] = ')';
	src[n] = '\0';
	assert_true(EVAL0(src));
	n = 0;
	for (int i = 0; i < 65; i++)
		src[n++] = '(';
	snprintf(src + n, sizeof(src) - n, "true");
	ERR(src, "rules.conf:3:65: expression nested more than 64 levels "
	    "deep");
	n = 0;
	for (int i = 0; i < 65; i++)
		n += snprintf(src + n, sizeof(src) - n, "not ");
	snprintf(src + n, sizeof(src) - n, "true");
	ERR(src, "rules.conf:3:257: expression nested more than 64 levels "
	    "deep");
}

static void
test_numbers_parse(void **state)
{
	double d;

	assert_int_equal(rules_parse_number("42", 2, &d), 0);
	assert_true(d == 42);
	assert_int_equal(rules_parse_number("-0.5", 4, &d), 0);
	assert_true(d == -0.5);
	assert_int_equal(rules_parse_number("+3.25", 5, &d), 0);
	assert_true(d == 3.25);
	assert_int_equal(rules_parse_number("0.1", 3, &d), 0);
	assert_true(d == 0.1);
	assert_int_equal(rules_parse_number("1.15", 4, &d), 0);
	assert_true(d == 1.15);
	assert_int_equal(rules_parse_number("12345678901234567890", 20, &d),
	    0);
	assert_true(d == 12345678901234567890.0);
	assert_int_equal(rules_parse_number("0.000000000000000000000001", 26,
	    &d), 0);
	assert_true(d == 1e-24);
	assert_int_equal(rules_parse_number("", 0, &d), -1);
	assert_int_equal(rules_parse_number("-", 1, &d), -1);
	assert_int_equal(rules_parse_number("1.", 2, &d), -1);
	assert_int_equal(rules_parse_number(".5", 2, &d), -1);
	assert_int_equal(rules_parse_number("1e3", 3, &d), -1);
	assert_int_equal(rules_parse_number("nan", 3, &d), -1);
	assert_int_equal(rules_parse_number("0x10", 4, &d), -1);
	assert_int_equal(rules_parse_number("1 ", 2, &d), -1);
	assert_int_equal(rules_parse_number("1,000", 5, &d), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_numbers_and_strings),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_ne_is_not_eq),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_regex_catastrophic),
		cmocka_unit_test(test_in),
		cmocka_unit_test(test_stage_order),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_lexical),
		cmocka_unit_test(test_errors_operators),
		cmocka_unit_test(test_errors_fields),
		cmocka_unit_test(test_errors_depth),
		cmocka_unit_test(test_numbers_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
