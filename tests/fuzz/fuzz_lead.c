/*
 * fuzz_lead.c - libFuzzer target for a lead's hash and what events do to
 * it (lead.c, lead_apply.c).
 *
 * The input is a Redis hash as lines: field, value, field, value, ...
 * ('\n' separated; a line is cut at a NUL byte).  When lead_from_fields()
 * accepts it, a fixed series of events (an upsert, activities, sales
 * statuses, deal stages) and SLA breaches is applied under SPEC's
 * rules.conf.  After each application the effects are committed to the
 * hash (HSET/HDEL) and the hash must read back into exactly the lead the
 * application left; anything else (a crash, a leak, undefined behaviour,
 * an effect that does not parse back) stops the fuzzer.  Seeds are in
 * tests/fuzz/corpus/lead/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "lead.h"
#include "rules.h"

#define KEY "fuzz@x.io"
#define T0  INT64_C(1700000000000)
#define DAY (INT64_C(86400000))

static const char spec_example[] =
    "[score]\n"
    "rule = +20 if title ~ \"vp|vice president|director|head of\"\n"
    "rule = +15 if company_size >= 200\n"
    "rule = -30 if email ~ \"@(gmail|yahoo|hotmail)\\.\"\n"
    "rule = +40 on form_submit where form == \"demo-request\"\n"
    "rule = +5 on email_click cap 25 per 30d\n"
    "rule = +10 on page_view where url ~ \"/pricing\"\n"
    "decay = 25% per 30d\n"
    "[stage mql]\n"
    "when = score >= 60 and fit >= 15\n"
    "[stage sql]\n"
    "when = sales.status == \"qualified\" or deal.stage != \"\"\n"
    "[sla accept]\n"
    "after = mql\n"
    "within = 24h\n"
    "on_breach = notify, recycle\n";

static struct rules *rules;
static struct rules_eval *ev;

struct hash {
	char **f, **v;
	size_t n;
};

static void
hash_free(struct hash *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->f[i]);
		free(h->v[i]);
	}
	free(h->f);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static void
hash_set(struct hash *h, const char *f, const char *v)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->f[i], f) == 0) {
			free(h->v[i]);
			if ((h->v[i] = strdup(v)) == NULL)
				abort();
			return;
		}
	h->f = realloc(h->f, (h->n + 1) * sizeof(char *));
	h->v = realloc(h->v, (h->n + 1) * sizeof(char *));
	if (h->f == NULL || h->v == NULL)
		abort();
	h->f[h->n] = strdup(f);
	h->v[h->n] = strdup(v);
	if (h->f[h->n] == NULL || h->v[h->n] == NULL)
		abort();
	h->n++;
}

static void
hash_del(struct hash *h, const char *f)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->f[i], f) == 0) {
			free(h->f[i]);
			free(h->v[i]);
			h->f[i] = h->f[h->n - 1];
			h->v[i] = h->v[h->n - 1];
			h->n--;
			return;
		}
}

static int
same_lead(const struct lead *a, const struct lead *b)
{
	return strcmp(a->key, b->key) == 0 && a->seq == b->seq &&
	    a->ver == b->ver && json_equal(a->attrs, b->attrs) &&
	    json_equal(a->ids, b->ids) && a->fit == b->fit &&
	    a->engagement == b->engagement &&
	    a->engagement_at == b->engagement_at && a->stage == b->stage &&
	    a->stage_at == b->stage_at &&
	    (a->stage_reason == NULL ? b->stage_reason == NULL :
	    b->stage_reason != NULL &&
	    strcmp(a->stage_reason, b->stage_reason) == 0) &&
	    json_equal(a->sales, b->sales) && json_equal(a->deal, b->deal) &&
	    a->mql_episode == b->mql_episode &&
	    a->created_at == b->created_at &&
	    a->upserted_at == b->upserted_at &&
	    a->handoff_at == b->handoff_at &&
	    a->accepted_at == b->accepted_at &&
	    json_equal(a->caps, b->caps) &&
	    json_equal(a->contribs, b->contribs);
}

/* Commits fx to h; h must read back into l. */
static void
commit_and_check(struct hash *h, const struct lead *l,
    const struct lead_effects *fx)
{
	struct lead back;
	char err[256];

	for (size_t i = 0; i < fx->nset; i++)
		hash_set(h, fx->set_fields[i], fx->set_values[i]);
	for (size_t i = 0; i < fx->ndel; i++)
		hash_del(h, fx->del_fields[i]);
	for (size_t i = 0; i < fx->nhistory; i++) {
		json_t *j = json_loads(fx->history[i], 0, NULL);

		if (j == NULL)
			abort();
		json_decref(j);
	}
	if (lead_from_fields(&back, KEY, (const char *const *)h->f,
	    (const char *const *)h->v, h->n, err, sizeof(err)) == -1) {
		fprintf(stderr, "effects do not parse back: %s\n", err);
		abort();
	}
	if (!same_lead(&back, l)) {
		fprintf(stderr, "effects read back into another lead\n");
		abort();
	}
	lead_clear(&back);
}

static void
apply(struct hash *h, struct lead *l, const char *type, json_t *data,
    int64_t at, int64_t now, int n)
{
	struct baton_event *e = baton_event_new(type, KEY, "e", at, data);
	struct lead_effects fx = { 0 };
	char id[32], err[256];

	if (e == NULL || baton_event_set_source(e, "crm") == -1)
		abort();
	snprintf(id, sizeof(id), "%d-0", n);
	if (lead_apply_event(rules, ev, l, e, id, now, &fx, err,
	    sizeof(err)) == 0)
		commit_and_check(h, l, &fx);
	lead_effects_clear(&fx);
	baton_event_free(e);
}

static void
breach(struct hash *h, struct lead *l, int64_t now)
{
	struct lead_effects fx = { 0 };
	char err[256];

	if (lead_apply_breach(rules, ev, l, &rules->slas[0], l->mql_episode,
	    "accept|" KEY "|x", now, &fx, err, sizeof(err)) == 0)
		commit_and_check(h, l, &fx);
	lead_effects_clear(&fx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hash h = { 0 };
	struct lead l;
	char *buf, *line, *save = NULL, *field = NULL, err[256];
	int64_t t;

	if (rules == NULL) {
		struct diag d = { 0 };

		rules = rules_parse_buffer("rules.conf", spec_example,
		    strlen(spec_example), &d);
		ev = rules_eval_new();
		if (rules == NULL || ev == NULL)
			abort();
	}
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (field == NULL)
			field = line;
		else {
			hash_set(&h, field, line);
			field = NULL;
		}
	}
	free(buf);
	if (lead_from_fields(&l, KEY, (const char *const *)h.f,
	    (const char *const *)h.v, h.n, err, sizeof(err)) == -1) {
		hash_free(&h);
		return 0;
	}
	/* Times around the lead's own, so late events happen too. */
	t = l.engagement_at > 0 ? l.engagement_at : T0;
	if (t > INT64_C(253402300800000) - 100 * DAY)
		t = T0;
	apply(&h, &l, EVENT_LEAD_UPSERTED, json_pack("{s:s, s:i, s:{s:s}}",
	    "title", "VP Marketing", "company_size", 500, "custom", "plan",
	    "pro"), t, t, 1);
	apply(&h, &l, EVENT_LEAD_ACTIVITY, json_pack("{s:s, s:s}", "activity",
	    "form_submit", "form", "demo-request"), t + DAY, t + DAY, 2);
	apply(&h, &l, EVENT_LEAD_ACTIVITY, json_pack("{s:s}", "activity",
	    "email_click"), t - DAY > 0 ? t - DAY : 0, t + DAY, 3);
	breach(&h, &l, t + 3 * DAY);
	apply(&h, &l, EVENT_LEAD_STATUS, json_pack("{s:s, s:s}", "status",
	    "working", "owner", "sam"), t + 4 * DAY, t + 4 * DAY, 4);
	apply(&h, &l, EVENT_DEAL_STAGE, json_pack("{s:s, s:f}", "stage",
	    "Proposal", "amount", 1e300), t + 5 * DAY, t + 5 * DAY, 5);
	apply(&h, &l, EVENT_LEAD_STATUS, json_pack("{s:s, s:s}", "status",
	    "unqualified", "reason", "no budget"), t + 6 * DAY, t + 6 * DAY, 6);
	apply(&h, &l, EVENT_LEAD_ACTIVITY, json_pack("{s:s, s:s}", "activity",
	    "form_submit", "form", "demo-request"), t + 7 * DAY, t + 7 * DAY,
	    7);
	apply(&h, &l, EVENT_DEAL_STAGE, json_pack("{s:s, s:s}", "stage",
	    "Closed Lost", "outcome", "lost"), t + 8 * DAY, t + 8 * DAY, 8);
	apply(&h, &l, EVENT_DEAL_STAGE, json_pack("{s:s, s:s}", "stage",
	    "Closed Won", "outcome", "won"), t + 9 * DAY, t + 9 * DAY, 9);
	breach(&h, &l, t + 10 * DAY);
	lead_clear(&l);
	hash_free(&h);
	return 0;
}
