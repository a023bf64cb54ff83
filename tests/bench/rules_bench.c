/*
 * rules_bench.c - how fast compiled rules evaluate, on one core.
 *
 *   rules_bench [PASSES] [RULES_FILE]
 *
 * Compiles a 30-rule file (20 fit rules, 10 engagement rules with where
 * clauses; or RULES_FILE), prepares 8 leads as slot arrays, and evaluates
 * every rule's condition against the leads PASSES times (default 100000),
 * timed with clock_gettime(CLOCK_MONOTONIC) around the bounded loop.  The
 * same loop then runs over 30 constant-true rules (`+1 if true`): the
 * baseline of the loop and call overhead, printed as a ratio.  Last, whole
 * leads through rules_fit() + rules_match_activity() + rules_stage_next().
 *
 * Output: human lines, then one machine line
 *   RESULT rules=30 evals_per_sec=E baseline_evals_per_sec=B ratio=R
 *          leads_per_sec=L
 * The target is >= 1,000,000 evaluations/s; the bench prints whether it
 * was met and asserts nothing (exit 0 unless the rules fail to load).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "rules.h"

#define NLEADS  8

static const char bench_rules[] =
    "[score]\n"
    "rule = +20 if title ~ \"vp|vice president|director|head of\"\n"
    "rule = +10 if title ~ \"^(chief|c[eft]o)\\b\"\n"
    "rule = -10 if title ~ \"intern|student|assistant\"\n"
    "rule = +15 if company_size >= 200\n"
    "rule = +5 if company_size >= 50 and company_size < 200\n"
    "rule = -5 if company_size < 10\n"
    "rule = -30 if email ~ \"@(gmail|yahoo|hotmail)\\.\"\n"
    "rule = -50 if email ~ \"@(test|example)\\.(com|org)$\"\n"
    "rule = +10 if country in (\"US\", \"CA\", \"GB\", \"DE\", \"FR\")\n"
    "rule = -10 if country in (\"KP\", \"IR\")\n"
    "rule = +10 if industry == \"software\" or industry == \"saas\"\n"
    "rule = +5 if industry in (\"finance\", \"banking\", \"insurance\")\n"
    "rule = +5 if custom.plan == \"enterprise\"\n"
    "rule = +3 if custom.plan != \"\" and custom.plan != \"free\"\n"
    "rule = +5 if phone != \"\"\n"
    "rule = +2 if first_name != \"\" and last_name != \"\"\n"
    "rule = +8 if company ~ \"inc\\.?$|corp|gmbh|ltd\" and not "
    "email ~ \"gmail\"\n"
    "rule = +4 if deal.amount >= 10000\n"
    "rule = -20 if sales.status == \"unqualified\"\n"
    "rule = +6 if (title ~ \"engineer\" or title ~ \"developer\") and "
    "company_size >= 1000\n"
    "rule = +40 on form_submit where form == \"demo-request\"\n"
    "rule = +20 on form_submit where form in (\"contact-sales\", "
    "\"pricing-quote\")\n"
    "rule = +5 on form_submit where form ~ \"^newsletter\"\n"
    "rule = +5 on email_click cap 25 per 30d\n"
    "rule = +1 on email_open cap 10 per 30d\n"
    "rule = +10 on page_view where url ~ \"/pricing\"\n"
    "rule = +3 on page_view where url ~ \"/docs/\" and not "
    "url ~ \"/docs/legal\"\n"
    "rule = +25 on meeting_booked\n"
    "rule = +15 on webinar_attended where duration >= 30\n"
    "rule = -40 on unsubscribed\n"
    "decay = 25% per 30d\n"
    "[stage mql]\n"
    "when = score >= 60 and fit >= 15\n"
    "[stage sql]\n"
    "when = sales.status == \"qualified\" or deal.stage != \"\"\n";

struct lead {
	const char *fields[16][2];      /* name, value (NULL: missing) */
	double company_size;
	const char *activity;
	const char *attrs[3][2];        /* activity attributes */
};

static const struct lead leads[NLEADS] = {
	{ { { "email", "dana@acme.io" }, { "title", "VP of Marketing" },
	    { "country", "US" }, { "industry", "software" },
	    { "company", "Acme Inc." }, { "first_name", "Dana" },
	    { "last_name", "Lee" } }, 500, "form_submit",
	    { { "form", "demo-request" } } },
	{ { { "email", "jo@gmail.com" }, { "title", "Student" },
	    { "country", "IN" } }, -1, "email_click", { { NULL, NULL } } },
	{ { { "email", "kim@bank.example" }, { "title", "Chief Risk Officer" },
	    { "industry", "banking" }, { "custom.plan", "enterprise" },
	    { "phone", "+1 555 0100" } }, 12000, "page_view",
	    { { "url", "https://x.io/pricing" } } },
	{ { { "email", "pat@startup.dev" }, { "title", "Senior Developer" },
	    { "company", "Startup GmbH" } }, 1500, "page_view",
	    { { "url", "https://x.io/docs/api" } } },
	{ { { "email", "al@test.com" }, { "title", "QA Intern" },
	    { "sales.status", "unqualified" } }, 5, "unsubscribed",
	    { { NULL, NULL } } },
	{ { { "email", "mo@corp.fr" }, { "title", "Head of Sales" },
	    { "country", "FR" }, { "custom.plan", "pro" },
	    { "deal.stage", "proposal" } }, 80, "webinar_attended",
	    { { "duration", "45" } } },
	{ { { "email", "zu@yahoo.co.uk" }, { "country", "GB" } }, -1,
	    "form_submit", { { "form", "newsletter-weekly" } } },
	{ { { "email", "ed@insure.de" }, { "title", "Director, IT" },
	    { "industry", "insurance" }, { "country", "DE" },
	    { "sales.status", "qualified" } }, 240, "meeting_booked",
	    { { NULL, NULL } } },
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Builds the slot arrays of the leads for r (lead fields and the
 * activity's attributes in one array, as the worker will). */
static struct rules_value *
build(const struct rules *r)
{
	struct rules_value *all = calloc(NLEADS * r->nslots, sizeof(*all));
	int slot;

	if (all == NULL)
		return NULL;
	for (size_t l = 0; l < NLEADS; l++) {
		struct rules_value *v = all + l * r->nslots;
		const struct lead *ld = &leads[l];

		for (size_t i = 0; i < 16 && ld->fields[i][0] != NULL; i++)
			if ((slot = rules_slot_find(r, RULES_NS_LEAD,
			    ld->fields[i][0])) >= 0)
				v[slot] = rules_string(ld->fields[i][1],
				    strlen(ld->fields[i][1]));
		if (ld->company_size >= 0 && (slot = rules_slot_find(r,
		    RULES_NS_LEAD, "company_size")) >= 0)
			v[slot] = rules_number(ld->company_size);
		for (size_t i = 0; i < 3 && ld->attrs[i][0] != NULL; i++)
			if ((slot = rules_slot_find(r, RULES_NS_ACTIVITY,
			    ld->attrs[i][0])) >= 0)
				v[slot] = rules_string(ld->attrs[i][1],
				    strlen(ld->attrs[i][1]));
		v[RULES_SLOT_FIT] = rules_number(20);
		v[RULES_SLOT_ENGAGEMENT] = rules_number(40);
		v[RULES_SLOT_SCORE] = rules_number(60);
		v[RULES_SLOT_STAGE] = rules_string("lead", 4);
	}
	return all;
}

/* Evaluates every rule's condition on every lead, passes times; returns
 * the number of evaluations and the seconds in *secs. */
static uint64_t
run(const struct rules *r, struct rules_eval *ev,
    const struct rules_value *all, long passes, double *secs,
    uint64_t *held)
{
	uint64_t n = 0, h = 0;
	double t0 = now();

	for (long p = 0; p < passes; p++)
		for (size_t l = 0; l < NLEADS; l++) {
			const struct rules_value *v = all + l * r->nslots;

			for (size_t i = 0; i < r->nrules; i++) {
				const struct rules_expr *e = r->rules[i].cond;

				if (e == NULL)
					continue;
				h += rules_expr_eval(e, ev, v);
				n++;
			}
		}
	*secs = now() - t0;
	*held = h;
	return n;
}

static struct rules *
load(const char *name, const char *text, size_t len)
{
	struct diag d = { 0 };
	struct rules *r = rules_parse_buffer(name, text, len, &d);

	if (r == NULL) {
		diag_print(&d, stderr);
		diag_clear(&d);
	}
	return r;
}

int
main(int argc, char *argv[])
{
	long passes = argc > 1 ? atol(argv[1]) : 100000;
	struct rules *r = NULL, *base = NULL;
	struct rules_value *vals = NULL, *bvals = NULL;
	struct rules_eval *ev = rules_eval_new();
	struct rules_contrib c[32];
	char *text = NULL, *btext = NULL;
	double secs, bsecs, lsecs, eps, beps, lps, sink = 0;
	uint64_t n, bn, held, bheld;
	size_t len = 0;
	int rc = 1;

	if (passes <= 0 || ev == NULL)
		goto out;
	if (argc > 2) {
		FILE *fp = fopen(argv[2], "r");

		if (fp == NULL) {
			perror(argv[2]);
			goto out;
		}
		text = malloc(1 << 20);
		len = text != NULL ? fread(text, 1, 1 << 20, fp) : 0;
		fclose(fp);
		r = text != NULL ? load(argv[2], text, len) : NULL;
	} else
		r = load("bench.conf", bench_rules, strlen(bench_rules));
	if (r == NULL)
		goto out;
	/* the baseline: as many constant-true rules */
	btext = malloc(32 + r->nrules * 20);
	if (btext == NULL)
		goto out;
	len = (size_t)sprintf(btext, "[score]\n");
	for (size_t i = 0; i < r->nrules; i++)
		len += (size_t)sprintf(btext + len, "rule = +1 if true\n");
	if ((base = load("baseline.conf", btext, len)) == NULL)
		goto out;
	if ((vals = build(r)) == NULL || (bvals = build(base)) == NULL)
		goto out;

	/* warm up, then measure */
	run(r, ev, vals, passes / 10 + 1, &secs, &held);
	n = run(r, ev, vals, passes, &secs, &held);
	run(base, ev, bvals, passes / 10 + 1, &bsecs, &bheld);
	bn = run(base, ev, bvals, passes, &bsecs, &bheld);
	eps = n / secs;
	beps = bn / bsecs;

	/* whole leads: fit, the lead's activity, stages */
	{
		double t0 = now();

		for (long p = 0; p < passes / 10 + 1; p++)
			for (size_t l = 0; l < NLEADS; l++) {
				const struct rules_value *v = vals +
				    l * r->nslots;
				size_t nc;

				sink += rules_fit(r, ev, v, c, 32, &nc);
				sink += rules_match_activity(r, ev,
				    leads[l].activity, v, c, 32);
				sink += rules_stage_next(r, ev,
				    RULES_STAGE_LEAD, v);
			}
		lsecs = now() - t0;
		lps = (passes / 10 + 1) * NLEADS / lsecs;
	}

	printf("rules_bench: %zu rules (%zu fit, %zu engagement), %d leads, "
	    "%ld passes\n", r->nrules, r->nfit, r->nengagement, NLEADS,
	    passes);
	printf("  rules:     %12.0f evaluations/s  (%6.1f ns each, %llu of "
	    "%llu held)\n", eps, 1e9 / eps, (unsigned long long)held,
	    (unsigned long long)n);
	printf("  baseline:  %12.0f evaluations/s  (%6.1f ns each, constant "
	    "true)\n", beps, 1e9 / beps);
	printf("  ratio:     %12.2f x the baseline's cost\n", beps / eps);
	printf("  leads:     %12.0f leads/s (fit + activity + stages)\n", lps);
	printf("  target:    >= 1000000 evaluations/s: %s\n",
	    eps >= 1e6 ? "met" : "NOT met");
	printf("RESULT rules=%zu evals_per_sec=%.0f baseline_evals_per_sec="
	    "%.0f ratio=%.2f leads_per_sec=%.0f regex_aborts=%llu sink=%g\n",
	    r->nrules, eps, beps, beps / eps, lps,
	    (unsigned long long)ev->regex_aborts, sink);
	rc = 0;
out:
	free(vals);
	free(bvals);
	free(text);
	free(btext);
	rules_free(r);
	rules_free(base);
	rules_eval_free(ev);
	return rc;
}
