/*
 * fuzz_rules.c - libFuzzer target for the rules language and rules.conf.
 *
 * The first byte chooses what the rest is:
 *   '0', '1', '2' (mod 4 = 0, 1, 2): one expression, compiled in the
 *       context RULES_CTX_LEAD, RULES_CTX_FIT or RULES_CTX_WHERE and, when
 *       it compiles, evaluated against a fixed slot array;
 *   '3' (mod 4 = 3): a whole rules.conf, parsed by rules_parse_buffer()
 *       and, when it loads, evaluated: fit, every rule's activity, every
 *       stage, decay, caps and explanations.
 * Every problem must come out as a message (never a crash, a leak, a hang
 * or undefined behaviour); seeds are in tests/fuzz/corpus/rules/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "rules.h"

static struct rules_eval *ev;

/* Fills every slot with a value chosen by its number: missing, numbers,
 * numeric and other strings, stage names and invalid UTF-8. */
static struct rules_value *
fixed_values(const struct rules *r)
{
	static const char *const strs[] = {
		"VP of Sales", "200", "jo@gmail.com", "\xff\xfe\xc3 vp", "",
		"mql", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "-0.5",
	};
	struct rules_value *v = calloc(r->nslots + 1, sizeof(*v));

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < r->nslots; i++) {
		switch (i % 4) {
		case 0:
			break;  /* missing */
		case 1:
			v[i] = rules_number((double)i * 37.5 - 100);
			break;
		default:
			v[i] = rules_string(strs[(i / 2) % 8],
			    strlen(strs[(i / 2) % 8]));
			break;
		}
	}
	v[RULES_SLOT_STAGE] = rules_string("sal", 3);
	v[RULES_SLOT_SCORE] = rules_number(61);
	return v;
}

static void
exercise(const struct rules *r, const struct rules_value *v)
{
	struct rules_contrib c[4];
	char buf[128];
	size_t n;

	(void)rules_fit(r, ev, v, c, 4, &n);
	for (size_t i = 0; i < n; i++)
		rules_rule_describe(c[i].rule, buf, sizeof(buf));
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];

		if (rule->kind == RULES_ENGAGEMENT) {
			n = rules_match_activity(r, ev, rule->activity, v, c,
			    4);
			for (size_t j = 0; j < n && j < 4; j++)
				(void)rules_cap_points(c[j].rule, 7);
		}
	}
	for (int s = -1; s < RULES_NSTAGES; s++)
		(void)rules_stage_next(r, ev, s, v);
	(void)rules_decay(r, 40, 86400000);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d = { 0 };
	struct rules_value *v;
	struct rules_expr *e;
	struct rules *r;
	int mode;

	if (ev == NULL && (ev = rules_eval_new()) == NULL)
		abort();
	if (size == 0)
		return 0;
	mode = data[0] % 4;
	data++;
	size--;
	if (mode < 3) {
		if ((r = rules_new("fuzz.conf")) == NULL)
			abort();
		e = rules_expr_compile(r, (enum rules_ctx)mode,
		    (const char *)data, size, 1, 1, &d);
		if ((e == NULL) != (diag_count(&d) != 0))
			abort();        /* a failure always says why */
		if (e != NULL && (v = fixed_values(r)) != NULL) {
			(void)rules_expr_eval(e, ev, v);
			free(v);
		}
	} else {
		r = rules_parse_buffer("fuzz.conf", (const char *)data, size,
		    &d);
		if ((r == NULL) != (diag_count(&d) != 0))
			abort();
		if (r != NULL && (v = fixed_values(r)) != NULL) {
			exercise(r, v);
			free(v);
		}
	}
	rules_free(r);
	diag_clear(&d);
	return 0;
}
