/*
 * rules_eval.c - what the rules say about one lead: fit points, the
 * engagement rules an activity triggers, caps, decay and lifecycle stages.
 *
 * Everything here is pure: the caller passes the lead's values (a slot
 * array, rules.h) and the time that elapsed; nothing reads a clock, Redis
 * or the environment, and nothing allocates except rules_eval_new().
 */
#include "rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

static const char *const stage_names[RULES_NSTAGES] = {
	[RULES_STAGE_SUBSCRIBER] = "subscriber",
	[RULES_STAGE_LEAD] = "lead",
	[RULES_STAGE_MQL] = "mql",
	[RULES_STAGE_SAL] = "sal",
	[RULES_STAGE_SQL] = "sql",
	[RULES_STAGE_OPPORTUNITY] = "opportunity",
	[RULES_STAGE_CUSTOMER] = "customer",
};

/* "subscriber" … "customer", or NULL outside the enum. */
const char *
rules_stage_name(int stage)
{
	if (stage < 0 || stage >= RULES_NSTAGES)
		return NULL;
	return stage_names[stage];
}

/* The stage named s (len bytes, ASCII case ignored), or -1. */
int
rules_stage_parse(const char *s, size_t len)
{
	for (int i = 0; i < RULES_NSTAGES; i++) {
		const char *n = stage_names[i];
		size_t j;

		if (strlen(n) != len)
			continue;
		for (j = 0; j < len; j++) {
			int c = (unsigned char)s[j];

			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			if (c != n[j])
				break;
		}
		if (j == len)
			return i;
	}
	return -1;
}

/* ---- Evaluators --------------------------------------------------------- */

/* Returns an evaluator (regex scratch space, counters), or NULL. */
struct rules_eval *
rules_eval_new(void)
{
	struct rules_eval *ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return NULL;
	if ((ev->rm = regex_matcher_new()) == NULL) {
		free(ev);
		return NULL;
	}
	return ev;
}

void
rules_eval_free(struct rules_eval *ev)
{
	if (ev == NULL)
		return;
	regex_matcher_free(ev->rm);
	free(ev);
}

/* ---- Score -------------------------------------------------------------- */

/* The sum of the matching fit rules, each stored in out while room lasts. */
double
rules_fit(const struct rules *r, struct rules_eval *ev,
    const struct rules_value *vals, struct rules_contrib *out, size_t max,
    size_t *nout)
{
	double fit = 0;
	size_t n = 0;

	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];

		if (rule->kind != RULES_FIT ||
		    !rules_expr_eval(rule->cond, ev, vals))
			continue;
		fit += rule->points;
		if (out != NULL && n < max) {
			out[n].rule = rule;
			out[n].points = rule->points;
		}
		n++;
	}
	if (nout != NULL)
		*nout = n < max ? n : max;
	return fit;
}

/* The engagement rules that activity triggers; returns their number. */
size_t
rules_match_activity(const struct rules *r, struct rules_eval *ev,
    const char *activity, const struct rules_value *vals,
    struct rules_contrib *out, size_t max)
{
	size_t n = 0;

	if (activity == NULL)
		return 0;
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];

		if (rule->kind != RULES_ENGAGEMENT ||
		    strcmp(rule->activity, activity) != 0)
			continue;
		if (rule->cond != NULL &&
		    !rules_expr_eval(rule->cond, ev, vals))
			continue;
		if (out != NULL && n < max) {
			out[n].rule = rule;
			out[n].points = rule->points;
		}
		n++;
	}
	return n;
}

/* The part of rule->points that its cap still allows. */
double
rules_cap_points(const struct rules_rule *rule, double awarded_in_window)
{
	double mag = fabs(rule->points), room;

	if (rule->cap <= 0)
		return rule->points;
	room = rule->cap - fabs(awarded_in_window);
	if (room <= 0)
		return 0;
	if (mag > room)
		mag = room;
	return rule->points < 0 ? -mag : mag;
}

/* engagement * (1 - P/100) ^ (elapsed_ms / period). */
double
rules_decay(const struct rules *r, double engagement, int64_t elapsed_ms)
{
	double keep;

	if (r->decay_pct <= 0 || r->decay_period_ms <= 0 || elapsed_ms <= 0)
		return engagement;
	keep = 1.0 - r->decay_pct / 100.0;
	if (keep <= 0)
		return 0;
	return engagement * pow(keep, (double)elapsed_ms /
	    (double)r->decay_period_ms);
}

/* ---- Stages ------------------------------------------------------------- */

bool
rules_stage_holds(const struct rules *r, struct rules_eval *ev, int stage,
    const struct rules_value *vals)
{
	if (stage < 0 || stage >= RULES_NSTAGES || !r->stages[stage].defined)
		return false;
	return rules_expr_eval(r->stages[stage].when, ev, vals);
}

/* The latest stage after current whose condition holds, or -1. */
int
rules_stage_next(const struct rules *r, struct rules_eval *ev, int current,
    const struct rules_value *vals)
{
	if (current < -1)
		current = -1;
	for (int s = RULES_NSTAGES - 1; s > current; s--)
		if (rules_stage_holds(r, ev, s, vals))
			return s;
	return -1;
}

/* "+20 if title ~ \"vp\" (rules.conf:2)" */
int
rules_rule_describe(const struct rules_rule *rule, char *buf, size_t size)
{
	return snprintf(buf, size, "%s (%s:%d)", rule->text,
	    rule->file != NULL ? rule->file : "?", rule->line);
}
