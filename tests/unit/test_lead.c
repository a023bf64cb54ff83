/*
 * test_lead.c - SPEC's rules.conf applied to leads event by event: a VP
 * at a 500-person company who requests a demo is handed off once with
 * its reasons and an SLA timer; caps, the gmail penalty, decay and late
 * events; sales acceptance, qualification, rejection and recycling, a new
 * episode, a won deal; SLA breaches; disqualification; and the hash round
 * trip (every field written reads back into the same lead).
 *
 * Each test keeps a simulated hash: the effects of every application are
 * committed to it (HSET/HDEL) and it must read back into the lead the
 * application left, as the rules worker relies on.
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
#include "lead.h"
#include "rules.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS  (24 * HOUR_MS)
#define T0      INT64_C(1700000000000)

#include "spec_rules.h"

#define RULE_TITLE "+20 if title ~ \"vp|vice president|director|head of\""
#define RULE_SIZE  "+15 if company_size >= 200"
#define RULE_DEMO  "+40 on form_submit where form == \"demo-request\""
#define WHY_MQL    "score >= 60 and fit >= 15 (rules.conf:12)"
#define WHY_SQL    "sales.status == \"qualified\" or deal.stage != \"\" " \
	"(rules.conf:15)"

struct fixture {
	struct rules *r;
	struct rules_eval *ev;
	struct lead l;
	struct lead_effects fx;
	/* the simulated hash */
	char **hf, **hv;
	size_t hn;
	int seq;                        /* stream entry ids */
	char err[256];
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
	*state = f;
	return f->ev == NULL ? -1 : 0;
}

static void
hash_clear(struct fixture *f)
{
	for (size_t i = 0; i < f->hn; i++) {
		free(f->hf[i]);
		free(f->hv[i]);
	}
	free(f->hf);
	free(f->hv);
	f->hf = f->hv = NULL;
	f->hn = 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	lead_clear(&f->l);
	lead_effects_clear(&f->fx);
	hash_clear(f);
	rules_eval_free(f->ev);
	rules_free(f->r);
	free(f);
	return 0;
}

static const char *
hget(const struct fixture *f, const char *field)
{
	for (size_t i = 0; i < f->hn; i++)
		if (strcmp(f->hf[i], field) == 0)
			return f->hv[i];
	return NULL;
}

static void
hset(struct fixture *f, const char *field, const char *value)
{
	for (size_t i = 0; i < f->hn; i++)
		if (strcmp(f->hf[i], field) == 0) {
			free(f->hv[i]);
			f->hv[i] = strdup(value);
			return;
		}
	f->hf = realloc(f->hf, (f->hn + 1) * sizeof(char *));
	f->hv = realloc(f->hv, (f->hn + 1) * sizeof(char *));
	assert_non_null(f->hf);
	assert_non_null(f->hv);
	f->hf[f->hn] = strdup(field);
	f->hv[f->hn] = strdup(value);
	f->hn++;
}

static void
hdel(struct fixture *f, const char *field)
{
	for (size_t i = 0; i < f->hn; i++)
		if (strcmp(f->hf[i], field) == 0) {
			free(f->hf[i]);
			free(f->hv[i]);
			f->hf[i] = f->hf[f->hn - 1];
			f->hv[i] = f->hv[f->hn - 1];
			f->hn--;
			return;
		}
}

/* Whether two leads are the same state. */
static void
assert_lead_equal(const struct lead *a, const struct lead *b)
{
	assert_string_equal(a->key, b->key);
	assert_true(a->seq == b->seq && a->ver == b->ver);
	assert_true(json_equal(a->attrs, b->attrs));
	assert_true(json_equal(a->ids, b->ids));
	assert_true(a->fit == b->fit);
	assert_true(a->engagement == b->engagement);
	assert_true(a->engagement_at == b->engagement_at);
	assert_int_equal(a->stage, b->stage);
	assert_true(a->stage_at == b->stage_at);
	if (a->stage_reason == NULL || b->stage_reason == NULL)
		assert_ptr_equal(a->stage_reason, b->stage_reason);
	else
		assert_string_equal(a->stage_reason, b->stage_reason);
	assert_true(json_equal(a->sales, b->sales));
	assert_true(json_equal(a->deal, b->deal));
	assert_true(a->mql_episode == b->mql_episode);
	assert_true(a->created_at == b->created_at);
	assert_true(a->upserted_at == b->upserted_at);
	assert_true(a->handoff_at == b->handoff_at);
	assert_true(a->accepted_at == b->accepted_at);
	assert_true(json_equal(a->caps, b->caps));
	assert_true(json_equal(a->contribs, b->contribs));
}

/* Commits f->fx to the hash and checks it reads back into f->l. */
static void
commit(struct fixture *f)
{
	struct lead back;

	for (size_t i = 0; i < f->fx.nset; i++)
		hset(f, f->fx.set_fields[i], f->fx.set_values[i]);
	for (size_t i = 0; i < f->fx.ndel; i++)
		hdel(f, f->fx.del_fields[i]);
	if (lead_from_fields(&back, f->l.key, (const char *const *)f->hf,
	    (const char *const *)f->hv, f->hn, f->err,
	    sizeof(f->err)) == -1)
		fail_msg("%s", f->err);
	assert_lead_equal(&back, &f->l);
	lead_clear(&back);
}

static void
start(struct fixture *f, const char *key)
{
	lead_clear(&f->l);
	hash_clear(f);
	assert_int_equal(lead_from_fields(&f->l, key, NULL, NULL, 0, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(f->l.stage, -1);
}

/* Applies an event (data taken) and commits it; returns the entry id. */
static const char *
apply(struct fixture *f, const char *type, json_t *data, int64_t at,
    int64_t now)
{
	static char id[64];
	struct baton_event *e = baton_event_new(type, f->l.key, "src-1", at,
	    data);

	assert_non_null(e);
	assert_int_equal(baton_event_set_source(e, "crm"), 0);
	snprintf(id, sizeof(id), "%lld-%d", (long long)now, ++f->seq);
	if (lead_apply_event(f->r, f->ev, &f->l, e, id, now, &f->fx, f->err,
	    sizeof(f->err)) == -1)
		fail_msg("%s", f->err);
	baton_event_free(e);
	commit(f);
	return id;
}

static const char *
activity(struct fixture *f, const char *name, const char *k, const char *v,
    int64_t at)
{
	return apply(f, EVENT_LEAD_ACTIVITY, json_pack("{s:s, s:s}",
	    "activity", name, k, v), at, at);
}

static const char *
status(struct fixture *f, const char *st, const char *reason, int64_t at)
{
	json_t *d = json_pack("{s:s, s:s}", "status", st, "owner", "sam");

	if (reason != NULL)
		json_object_set_new(d, "reason", json_string(reason));
	return apply(f, EVENT_LEAD_STATUS, d, at, at);
}

/* The entries of f->fx, "stream:type" joined by spaces. */
static const char *
entry_list(const struct fixture *f)
{
	static char buf[1024];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->fx.nentries; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s:%s",
		    i ? " " : "", f->fx.entries[i].stream,
		    f->fx.entries[i].type);
	return buf;
}

/* The data of the nth entry as sorted compact JSON (static buffer). */
static const char *
entry_json(const struct fixture *f, size_t n)
{
	static char buf[4096];
	char *s;

	assert_true(n < f->fx.nentries);
	s = json_dumps(f->fx.entries[n].data, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(s);
	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	return buf;
}

static double
num(const json_t *v)
{
	return json_number_value(v);
}

/* ---- SPEC's example, end to end ------------------------------------------ */

static void
test_vp_demo_handoff_and_sales(void **state)
{
	struct fixture *f = *state;
	const char *id;
	char want[1024];

	start(f, "vp@acme.com");

	/* Upsert: fit 35, subscriber then lead. */
	id = apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s, s:i, s:s, s:s}",
	    "title", "VP Marketing", "company_size", 500, "first_name", "Ada",
	    "id", "00Q1"), T0, T0 + 5);
	assert_string_equal(entry_list(f), "decisions:lead.scored "
	    "decisions:lead.stage decisions:lead.stage");
	assert_true(f->l.fit == 35 && f->l.engagement == 0);
	assert_int_equal(f->l.stage, RULES_STAGE_LEAD);
	assert_string_equal(hget(f, "stage"), "lead");
	assert_string_equal(hget(f, "score"), "35");
	assert_string_equal(hget(f, "company_size"), "500");
	assert_string_equal(hget(f, "email"), "vp@acme.com");
	assert_string_equal(hget(f, "ids.crm"), "00Q1");
	assert_true(json_is_integer(json_object_get(f->l.attrs,
	    "company_size")));
	snprintf(want, sizeof(want), "{\"episode\":0,\"event\":\"%s\","
	    "\"from\":null,\"to\":\"subscriber\",\"why\":\"new lead\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	snprintf(want, sizeof(want), "{\"episode\":0,\"event\":\"%s\","
	    "\"from\":\"subscriber\",\"to\":\"lead\",\"why\":\"fit != 0 or "
	    "engagement > 0 (fit 35, engagement 0)\"}", id);
	assert_string_equal(entry_json(f, 2), want);
	assert_string_equal(f->fx.entries[0].id,
	    "1700000000005-1/1");
	assert_string_equal(f->fx.entries[2].id,
	    "1700000000005-1/3");
	assert_int_equal(f->fx.nhistory, 3);
	snprintf(want, sizeof(want), "{\"at\":1700000000005,\"data\":%s,"
	    "\"id\":\"%s/2\",\"stream\":\"decisions\",\"type\":"
	    "\"lead.stage\"}", entry_json(f, 1), id);
	assert_string_equal(f->fx.history[1], want);
	assert_int_equal(f->fx.nsla_add, 0);

	/* A demo request: +40, score 75, one handoff with its reasons. */
	id = activity(f, "form_submit", "form", "demo-request", T0 + HOUR_MS);
	assert_string_equal(entry_list(f), "decisions:lead.scored "
	    "decisions:lead.stage handoffs:handoff.mql");
	assert_true(f->l.engagement == 40);
	snprintf(want, sizeof(want), "{\"contributions\":[{\"at\":%lld,"
	    "\"event\":\"%s\",\"file\":\"rules.conf\",\"kind\":\"engagement\","
	    "\"line\":5,\"points\":40,\"rule\":\"%s\"}],\"engagement\":40,"
	    "\"event\":\"%s\",\"fit\":35,\"new\":75,\"old\":35}",
	    (long long)(T0 + HOUR_MS), id, "+40 on form_submit where form == "
	    "\\\"demo-request\\\"", id);
	assert_string_equal(entry_json(f, 0), want);
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"from\":\"lead\",\"to\":\"mql\",\"why\":\"score >= 60 and "
	    "fit >= 15 (rules.conf:12)\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	snprintf(want, sizeof(want), "{\"attrs\":{\"company_size\":500,"
	    "\"email\":\"vp@acme.com\",\"first_name\":\"Ada\",\"title\":"
	    "\"VP Marketing\"},\"engagement\":40,\"episode\":1,\"event\":"
	    "\"%s\",\"fit\":35,\"ids\":{\"crm\":\"00Q1\"},\"reasons\":["
	    "\"+20 if title ~ \\\"vp|vice president|director|head of\\\" "
	    "(rules.conf:2)\",\"+15 if company_size >= 200 (rules.conf:3)\","
	    "\"+40 on form_submit where form == \\\"demo-request\\\" "
	    "(rules.conf:5)\"],\"score\":75,\"stage\":\"mql\"}", id);
	assert_string_equal(entry_json(f, 2), want);
	assert_int_equal(f->fx.nsla_add, 1);
	assert_string_equal(f->fx.sla_add[0], "accept|vp@acme.com|1");
	assert_true(f->fx.sla_add_at[0] == T0 + HOUR_MS + 24 * HOUR_MS);
	assert_int_equal(f->fx.nsla_del, 0);
	assert_true(f->l.mql_episode == 1 && f->l.handoff_at == T0 + HOUR_MS);
	assert_string_equal(hget(f, "mql_episode"), "1");

	/* A second demo request that day scores, but no second handoff. */
	activity(f, "form_submit", "form", "demo-request", T0 + 2 * HOUR_MS);
	assert_string_equal(entry_list(f), "decisions:lead.scored");
	assert_true(f->l.engagement == rules_decay(f->r, 40, HOUR_MS) + 40);
	assert_true(fabs(f->l.engagement - 80) < 0.05);
	assert_int_equal(f->fx.nsla_add, 0);
	assert_int_equal(json_array_size(f->l.contribs), 4);

	/* An SLA timer of the episode, before acceptance: recycles... but
	 * first, sales accepts: working. */
	id = status(f, "working", NULL, T0 + 3 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.accepted "
	    "decisions:lead.stage");
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"mql_at\":%lld,\"owner\":\"sam\",\"score\":115,"
	    "\"status\":\"working\"}", id,
	    (long long)(T0 + HOUR_MS));
	assert_string_equal(entry_json(f, 0), want);
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"from\":\"mql\",\"to\":\"sal\",\"why\":\"sales.status "
	    "working\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	assert_int_equal(f->fx.nsla_del, 1);
	assert_string_equal(f->fx.sla_del[0], "accept|vp@acme.com|1");
	assert_true(f->l.accepted_at == T0 + 3 * HOUR_MS);

	/* The accepted episode's timer runs out: nothing. */
	assert_int_equal(lead_apply_breach(f->r, f->ev, &f->l, &f->r->slas[0],
	    1, "accept|vp@acme.com|1", T0 + 25 * HOUR_MS, &f->fx, f->err,
	    sizeof(f->err)), 0);
	assert_false(f->fx.changed);
	assert_int_equal(f->fx.nentries + f->fx.nset + f->fx.ndel, 0);

	/* Working again: no second acceptance. */
	status(f, "working", NULL, T0 + 4 * HOUR_MS);
	assert_string_equal(entry_list(f), "");

	/* Qualified: sql by [stage sql]. */
	id = status(f, "qualified", NULL, T0 + 5 * HOUR_MS);
	assert_string_equal(entry_list(f), "decisions:lead.stage "
	    "feedback:feedback.sql");
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"from\":\"sal\",\"to\":\"sql\",\"why\":\"%s\"}", id,
	    "sales.status == \\\"qualified\\\" or deal.stage != \\\"\\\" "
	    "(rules.conf:15)");
	assert_string_equal(entry_json(f, 0), want);
	assert_int_equal(f->l.stage, RULES_STAGE_SQL);

	/* Unqualified, no budget: rejected, recycled, engagement 0. */
	id = status(f, "unqualified", "no budget", T0 + 6 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.rejected "
	    "decisions:lead.stage feedback:feedback.recycled "
	    "decisions:lead.scored");
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"mql_at\":%lld,\"owner\":\"sam\",\"reason\":\"no budget\","
	    "\"score\":115,\"status\":\"unqualified\"}", id,
	    (long long)(T0 + HOUR_MS));
	assert_string_equal(entry_json(f, 0), want);
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"from\":\"sql\",\"reason\":\"no budget\",\"to\":\"recycled\","
	    "\"why\":\"sales.status unqualified\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	assert_int_equal(f->l.stage, LEAD_STAGE_RECYCLED);
	assert_string_equal(f->l.stage_reason, "no budget");
	assert_string_equal(hget(f, "stage_reason"), "no budget");
	assert_true(f->l.engagement == 0 && f->l.fit == 35);
	assert_string_equal(hget(f, "score"), "35");
	assert_int_equal(json_array_size(f->l.contribs), 2);
	assert_null(hget(f, "caps"));

	/* A page view: still recycled (score 45). */
	activity(f, "page_view", "url", "https://x.io/blog", T0 + DAY_MS);
	assert_string_equal(entry_list(f), "");
	assert_int_equal(f->l.stage, LEAD_STAGE_RECYCLED);

	/* Qualifies again: episode 2, a new handoff and timer. */
	id = activity(f, "form_submit", "form", "demo-request",
	    T0 + 2 * DAY_MS);
	assert_string_equal(entry_list(f), "decisions:lead.scored "
	    "decisions:lead.stage handoffs:handoff.mql");
	snprintf(want, sizeof(want), "{\"episode\":2,\"event\":\"%s\","
	    "\"from\":\"recycled\",\"to\":\"mql\",\"why\":\"%s\"}", id,
	    WHY_MQL);
	assert_string_equal(entry_json(f, 1), want);
	assert_true(num(json_object_get(f->fx.entries[2].data,
	    "episode")) == 2);
	assert_int_equal(f->fx.nsla_add, 1);
	assert_string_equal(f->fx.sla_add[0], "accept|vp@acme.com|2");
	assert_true(f->l.accepted_at == 0);
	assert_null(hget(f, "accepted_at"));
	assert_null(hget(f, "stage_reason"));

	/* The old episode's timer: nothing. */
	assert_int_equal(lead_apply_breach(f->r, f->ev, &f->l, &f->r->slas[0],
	    1, "accept|vp@acme.com|1", T0 + 3 * DAY_MS, &f->fx, f->err,
	    sizeof(f->err)), 0);
	assert_false(f->fx.changed);

	/* Accepted, then the deal is won: customer. */
	status(f, "converted", NULL, T0 + 2 * DAY_MS + HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.accepted "
	    "decisions:lead.stage");
	id = apply(f, EVENT_DEAL_STAGE, json_pack("{s:s, s:s, s:i, s:s}",
	    "stage", "Closed Won", "outcome", "won", "amount", 12000,
	    "currency", "EUR"), T0 + 9 * DAY_MS, T0 + 9 * DAY_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.won "
	    "decisions:lead.stage feedback:feedback.sql");
	snprintf(want, sizeof(want), "{\"amount\":12000,\"currency\":\"EUR\","
	    "\"episode\":2,\"event\":\"%s\",\"mql_at\":%lld,\"owner\":\"sam\","
	    "\"score\":72,\"stage\":\"Closed Won\",\"status\":\"converted\"}",
	    id,
	    (long long)(T0 + 2 * DAY_MS));
	assert_string_equal(entry_json(f, 0), want);
	snprintf(want, sizeof(want), "{\"episode\":2,\"event\":\"%s\","
	    "\"from\":\"sal\",\"to\":\"customer\",\"why\":\"deal.outcome "
	    "won\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	assert_int_equal(f->l.stage, RULES_STAGE_CUSTOMER);
	assert_string_equal(hget(f, "deal.amount"), "12000");

	/* The same deal again: no feedback, no move. */
	apply(f, EVENT_DEAL_STAGE, json_pack("{s:s, s:s, s:i}", "stage",
	    "Closed Won", "outcome", "won", "amount", 12500), T0 + 10 * DAY_MS,
	    T0 + 10 * DAY_MS);
	assert_string_equal(entry_list(f), "");
	assert_string_equal(hget(f, "deal.amount"), "12500");
}

/* ---- Caps, penalty, decay, order ----------------------------------------- */

static void
test_email_click_cap(void **state)
{
	struct fixture *f = *state;
	double awarded = 0;
	size_t i;
	json_t *c;

	start(f, "clicker@acme.com");
	for (int k = 0; k < 6; k++) {
		activity(f, "email_click", "campaign", "nov", T0 + k * DAY_MS);
		if (k < 5)
			assert_string_equal(entry_list(f), k == 0 ?
			    "decisions:lead.scored decisions:lead.stage "
			    "decisions:lead.stage" : "decisions:lead.scored");
	}
	/* The sixth click is over the cap: no score change. */
	assert_string_equal(entry_list(f), "");
	json_array_foreach(f->l.contribs, i, c)
		awarded += num(json_object_get(c, "points"));
	assert_true(awarded == 25);
	assert_int_equal(json_array_size(json_object_get(f->l.caps, "4")), 5);
	/* Decayed sum of the five awards, each from its day. */
	{
		double want = 0;

		for (int k = 0; k < 5; k++) {
			want = rules_decay(f->r, want, k == 0 ? 0 : DAY_MS);
			want += 5;
		}
		want = rules_decay(f->r, want, DAY_MS);
		assert_true(fabs(f->l.engagement - want) < 1e-9);
	}
	/* 31 days after the first, it has left the window: +5 again, and
	 * the award outside any window is pruned. */
	activity(f, "email_click", "campaign", "dec", T0 + 31 * DAY_MS);
	assert_string_equal(entry_list(f), "decisions:lead.scored");
	assert_int_equal(json_array_size(json_object_get(f->l.caps, "4")), 5);
	assert_true(num(json_object_get(json_array_get(json_object_get(
	    f->fx.entries[0].data, "contributions"), 0), "points")) == 5);
}

static void
test_gmail_penalty(void **state)
{
	struct fixture *f = *state;

	start(f, "jo@gmail.com");
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s, s:s}", "email",
	    "jo@gmail.com", "title", "Director of Sales"), T0, T0);
	assert_true(f->l.fit == -10);
	assert_string_equal(hget(f, "fit"), "-10");
	assert_int_equal(f->l.stage, RULES_STAGE_LEAD);
	/* A demo request: 30, not an MQL (score < 60). */
	activity(f, "form_submit", "form", "demo-request", T0 + 1);
	assert_true(f->l.fit + f->l.engagement == 30);
	assert_int_equal(f->l.stage, RULES_STAGE_LEAD);
	/* The title changes: the +20 goes, listed as removed. */
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s}", "title", "Intern"),
	    T0 + 2, T0 + 2);
	assert_true(f->l.fit == -30);
	assert_string_equal(entry_list(f), "decisions:lead.scored");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(json_object_get(f->fx.entries[0].data,
	    "contributions"), 0), "rule")), RULE_TITLE);
	assert_true(num(json_object_get(json_array_get(json_object_get(
	    f->fx.entries[0].data, "contributions"), 0), "points")) == -20);
	/* An older upsert only fills what is missing. */
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s, s:s}", "title", "CEO",
	    "country", "FR"), T0 + 1, T0 + 3);
	assert_string_equal(hget(f, "title"), "Intern");
	assert_string_equal(hget(f, "country"), "FR");
}

static void
test_decay(void **state)
{
	struct fixture *f = *state;

	start(f, "d1@x.io");
	activity(f, "form_submit", "form", "demo-request", T0);
	assert_true(f->l.engagement == 40);
	activity(f, "page_view", "url", "https://x.io/pricing",
	    T0 + 30 * DAY_MS);
	assert_true(f->l.engagement == 30 + 10);
	assert_string_equal(hget(f, "engagement"), "40");
	assert_true(f->l.engagement_at == T0 + 30 * DAY_MS);

	start(f, "d2@x.io");
	activity(f, "form_submit", "form", "demo-request", T0);
	activity(f, "page_view", "url", "https://x.io/pricing",
	    T0 + 60 * DAY_MS);
	assert_true(f->l.engagement == 22.5 + 10);
	assert_string_equal(hget(f, "engagement"), "32.5");
	/* An upsert decays too, without a lead.scored of its own. */
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s}", "country", "DE"),
	    T0 + 90 * DAY_MS, T0 + 90 * DAY_MS);
	assert_true(fabs(f->l.engagement - 32.5 * 0.75) < 1e-12);
	assert_string_equal(entry_list(f), "");
}

static void
test_late_event_same_total(void **state)
{
	struct fixture *f = *state;
	double in_order, late;
	int64_t at_in, at_late;

	start(f, "a@x.io");
	activity(f, "form_submit", "form", "demo-request", T0);
	activity(f, "page_view", "url", "/pricing", T0 + 10 * DAY_MS);
	in_order = f->l.engagement;
	at_in = f->l.engagement_at;

	start(f, "b@x.io");
	activity(f, "page_view", "url", "/pricing", T0 + 10 * DAY_MS);
	activity(f, "form_submit", "form", "demo-request", T0);
	late = f->l.engagement;
	at_late = f->l.engagement_at;
	assert_true(in_order == late);
	assert_true(at_in == at_late && at_in == T0 + 10 * DAY_MS);
	assert_true(fabs(late - (10 + 40 * pow(0.75, 1.0 / 3))) < 1e-9);
}

/* ---- SLA breach ---------------------------------------------------------- */

static void
to_mql(struct fixture *f, const char *key)
{
	start(f, key);
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s, s:s}", "title",
	    "Head of Growth", "company_size", "1200"), T0, T0);
	activity(f, "form_submit", "form", "demo-request", T0 + HOUR_MS);
	assert_int_equal(f->l.stage, RULES_STAGE_MQL);
}

static void
test_breach_unaccepted(void **state)
{
	struct fixture *f = *state;
	char want[1024];

	to_mql(f, "slow@acme.com");
	assert_true(json_is_integer(json_object_get(f->l.attrs,
	    "company_size")));
	/* Another episode's timer: nothing. */
	assert_int_equal(lead_apply_breach(f->r, f->ev, &f->l, &f->r->slas[0],
	    2, "accept|slow@acme.com|2", T0 + 25 * HOUR_MS, &f->fx, f->err,
	    sizeof(f->err)), 0);
	assert_false(f->fx.changed);

	assert_int_equal(lead_apply_breach(f->r, f->ev, &f->l, &f->r->slas[0],
	    1, "accept|slow@acme.com|1", T0 + 25 * HOUR_MS, &f->fx, f->err,
	    sizeof(f->err)), 0);
	commit(f);
	assert_true(f->fx.changed);
	assert_string_equal(entry_list(f), "decisions:sla.breached "
	    "handoffs:sla.breached decisions:lead.stage "
	    "feedback:feedback.recycled decisions:lead.scored");
	snprintf(want, sizeof(want), "{\"after\":\"mql\",\"deadline\":%lld,"
	    "\"episode\":1,\"event\":\"accept|slow@acme.com|1\","
	    "\"on_breach\":[\"notify\",\"recycle\"],\"sla\":\"accept\","
	    "\"within_ms\":86400000}", (long long)(T0 + 25 * HOUR_MS));
	assert_string_equal(entry_json(f, 0), want);
	assert_string_equal(entry_json(f, 1), want);
	assert_string_equal(f->fx.entries[1].id,
	    "accept|slow@acme.com|1/2");
	assert_string_equal(entry_json(f, 2), "{\"episode\":1,\"event\":"
	    "\"accept|slow@acme.com|1\",\"from\":\"mql\",\"reason\":\"sla\","
	    "\"to\":\"recycled\",\"why\":\"sla accept breached\"}");
	assert_string_equal(entry_json(f, 3), "{\"episode\":1,\"event\":"
	    "\"accept|slow@acme.com|1\",\"mql_at\":1700003600000,\"reason\":"
	    "\"sla\",\"score\":75}");
	assert_int_equal(f->fx.nsla_del, 1);
	assert_string_equal(f->fx.sla_del[0], "accept|slow@acme.com|1");
	assert_int_equal(f->l.stage, LEAD_STAGE_RECYCLED);
	assert_string_equal(f->l.stage_reason, "sla");
	assert_true(f->l.engagement == 0);

	/* Recycled already: the same timer again does nothing. */
	assert_int_equal(lead_apply_breach(f->r, f->ev, &f->l, &f->r->slas[0],
	    1, "accept|slow@acme.com|1", T0 + 26 * HOUR_MS, &f->fx, f->err,
	    sizeof(f->err)), 0);
	assert_false(f->fx.changed);
}

static void
test_deal_lost_recycles(void **state)
{
	struct fixture *f = *state;

	to_mql(f, "deal@acme.com");
	apply(f, EVENT_DEAL_STAGE, json_pack("{s:s}", "stage", "Proposal"),
	    T0 + 2 * HOUR_MS, T0 + 2 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.opportunity "
	    "decisions:lead.stage feedback:feedback.sql");
	assert_int_equal(f->l.stage, RULES_STAGE_OPPORTUNITY);
	assert_int_equal(f->fx.nsla_del, 1);
	/* A new deal stage, still open: opportunity feedback once more. */
	apply(f, EVENT_DEAL_STAGE, json_pack("{s:s, s:f}", "stage",
	    "Negotiation", "amount", 999.5), T0 + 3 * HOUR_MS,
	    T0 + 3 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.opportunity");
	assert_string_equal(hget(f, "deal.amount"), "999.5");
	apply(f, EVENT_DEAL_STAGE, json_pack("{s:s, s:s}", "stage",
	    "Closed Lost", "outcome", "lost"), T0 + 4 * HOUR_MS,
	    T0 + 4 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.lost "
	    "decisions:lead.stage feedback:feedback.recycled "
	    "decisions:lead.scored");
	assert_string_equal(json_string_value(json_object_get(
	    f->fx.entries[0].data, "stage")), "Closed Lost");
	assert_int_equal(f->l.stage, LEAD_STAGE_RECYCLED);
	assert_string_equal(f->l.stage_reason, "lost");
	assert_int_equal(json_object_size(f->l.deal), 0);
	assert_null(hget(f, "deal.stage"));
	/* Not straight back to sql by the stale deal. */
	activity(f, "form_submit", "form", "demo-request", T0 + DAY_MS);
	assert_int_equal(f->l.stage, RULES_STAGE_MQL);
	assert_true(f->l.mql_episode == 2);
}

/* ---- Disqualified -------------------------------------------------------- */

static void
test_disqualified(void **state)
{
	struct fixture *f = *state;
	static const char src[] = "sales.reason ~ \"spam|competitor\"";
	struct diag d = { 0 };
	char want[512];
	const char *id;

	/* As rules_load() would build [stage disqualified] at line 30. */
	f->r->disqualified.when = rules_expr_compile(f->r, RULES_CTX_LEAD,
	    src, strlen(src), 30, 8, &d);
	assert_non_null(f->r->disqualified.when);
	f->r->disqualified.defined = true;
	f->r->disqualified.text = strdup(src);
	f->r->disqualified.file = "rules.conf";
	f->r->disqualified.line = 30;

	to_mql(f, "rival@acme.com");
	id = status(f, "unqualified", "competitor", T0 + 2 * HOUR_MS);
	assert_string_equal(entry_list(f), "feedback:feedback.rejected "
	    "decisions:lead.stage");
	snprintf(want, sizeof(want), "{\"episode\":1,\"event\":\"%s\","
	    "\"from\":\"mql\",\"reason\":\"competitor\",\"to\":"
	    "\"disqualified\",\"why\":\"sales.reason ~ \\\"spam|competitor"
	    "\\\" (rules.conf:30)\"}", id);
	assert_string_equal(entry_json(f, 1), want);
	assert_int_equal(f->fx.nsla_del, 1);
	assert_string_equal(hget(f, "stage"), "disqualified");
	/* Final: attributes and score still change, the stage never. */
	activity(f, "form_submit", "form", "demo-request", T0 + DAY_MS);
	assert_string_equal(entry_list(f), "decisions:lead.scored");
	apply(f, EVENT_LEAD_UPSERTED, json_pack("{s:s}", "title", "CTO"),
	    T0 + 2 * DAY_MS, T0 + 2 * DAY_MS);
	assert_string_equal(hget(f, "title"), "CTO");
	status(f, "qualified", NULL, T0 + 3 * DAY_MS);
	assert_int_equal(f->l.stage, LEAD_STAGE_DISQUALIFIED);
	assert_string_equal(entry_list(f), "");
	f->r->disqualified.defined = false;
}

/* ---- Fields, determinism, errors ----------------------------------------- */

static void
test_fields_round_trip(void **state)
{
	struct fixture *f = *state;
	static const char *const fields[] = {
		"seq", "ver", "email", "first_name", "company_size",
		"custom.plan", "custom.seats", "ids.hubspot", "fit",
		"engagement", "engagement_at", "stage", "stage_at",
		"stage_reason", "sales.status", "sales.owner", "deal.stage",
		"deal.amount", "mql_episode", "created_at", "handoff_at",
		"caps", "contribs", "score", "seq_in", "sales.unknown",
	};
	static const char *const values[] = {
		"12", "7", "x@y.io", "Zoë", "42.5", "pro", "10", "9001",
		"-12.25", "0.1", "1700000000000", "recycled", "1700000000001",
		"no budget", "unqualified", "sam", "Proposal", "1e+20", "3",
		"1600000000000", "1690000000000", "{\"4\":[[1,5],[2,2.5]]}",
		("[{\"at\":1,\"event\":\"e\",\"file\":\"rules.conf\",\"kind\":"
		"\"fit\",\"line\":2,\"points\":20,\"rule\":\"+20 if x\"}]"),
		"999", "44", "ignored",
	};
	struct lead l, back;
	struct lead_fields lf;

	assert_int_equal(lead_from_fields(&l, "x@y.io", fields, values,
	    sizeof(fields) / sizeof(fields[0]), f->err, sizeof(f->err)), 0);
	assert_true(l.seq == 12 && l.ver == 7 && l.mql_episode == 3);
	assert_true(l.fit == -12.25 && l.engagement == 0.1);
	assert_int_equal(l.stage, LEAD_STAGE_RECYCLED);
	assert_true(json_is_real(json_object_get(l.attrs, "company_size")));
	assert_true(json_is_string(json_object_get(l.attrs, "custom.seats")));
	assert_true(num(json_object_get(l.deal, "amount")) == 1e20);
	assert_int_equal(lead_to_fields(&l, &lf), 0);
	for (size_t i = 0; i + 1 < lf.n; i++)
		assert_true(strcmp(lf.fields[i], lf.fields[i + 1]) < 0);
	/* seq and ver are the worker's */
	for (size_t i = 0; i < lf.n; i++)
		assert_true(strcmp(lf.fields[i], "seq") != 0 &&
		    strcmp(lf.fields[i], "ver") != 0);
	assert_int_equal(lead_from_fields(&back, "x@y.io",
	    (const char *const *)lf.fields, (const char *const *)lf.values,
	    lf.n, f->err, sizeof(f->err)), 0);
	back.seq = l.seq;
	back.ver = l.ver;
	assert_lead_equal(&back, &l);
	lead_fields_clear(&lf);
	lead_clear(&back);
	lead_clear(&l);
}

static void
test_deterministic(void **state)
{
	struct fixture *f = *state;
	struct lead a, b;
	struct lead_effects fa = { 0 }, fb = { 0 };
	struct baton_event *e;

	to_mql(f, "same@acme.com");
	/* Two copies of the state, the same event: identical effects. */
	assert_int_equal(lead_from_fields(&a, f->l.key,
	    (const char *const *)f->hf, (const char *const *)f->hv, f->hn,
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(lead_from_fields(&b, f->l.key,
	    (const char *const *)f->hf, (const char *const *)f->hv, f->hn,
	    f->err, sizeof(f->err)), 0);
	e = baton_event_new(EVENT_LEAD_STATUS, f->l.key, "s", T0 + 7,
	    json_pack("{s:s, s:s}", "status", "unqualified", "reason", "x"));
	assert_int_equal(lead_apply_event(f->r, f->ev, &a, e, "9-0", T0 + 9,
	    &fa, f->err, sizeof(f->err)), 0);
	assert_int_equal(lead_apply_event(f->r, f->ev, &b, e, "9-0", T0 + 9,
	    &fb, f->err, sizeof(f->err)), 0);
	assert_int_equal(fa.nset, fb.nset);
	for (size_t i = 0; i < fa.nset; i++) {
		assert_string_equal(fa.set_fields[i], fb.set_fields[i]);
		assert_string_equal(fa.set_values[i], fb.set_values[i]);
	}
	assert_int_equal(fa.nhistory, fb.nhistory);
	assert_int_equal(fa.nhistory, 4);
	for (size_t i = 0; i < fa.nhistory; i++)
		assert_string_equal(fa.history[i], fb.history[i]);
	assert_int_equal(fa.nsla_del, 1);
	assert_string_equal(fa.sla_del[0], fb.sla_del[0]);
	baton_event_free(e);
	lead_effects_clear(&fa);
	lead_effects_clear(&fb);
	lead_clear(&a);
	lead_clear(&b);
}

static void
expect_event_error(struct fixture *f, const char *type, const char *lead,
    json_t *data, const char *want)
{
	struct baton_event *e = baton_event_new(type, lead, "s", T0, data);

	f->err[0] = '\0';
	assert_int_equal(lead_apply_event(f->r, f->ev, &f->l, e, "5-0", T0,
	    &f->fx, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, want);
	assert_false(f->fx.changed);
	baton_event_free(e);
}

static void
test_malformed_events(void **state)
{
	struct fixture *f = *state;

	start(f, "m@x.io");
	expect_event_error(f, EVENT_LEAD_ACTIVITY, "m@x.io",
	    json_pack("{s:s}", "form", "demo"), "lead.activity event 5-0: "
	    "data.activity: missing (lead.activity needs it)");
	expect_event_error(f, EVENT_LEAD_STATUS, "m@x.io",
	    json_pack("{s:s}", "status", "maybe"), "lead.status event 5-0: "
	    "data.status: \"maybe\" is not one of open working qualified "
	    "unqualified converted");
	expect_event_error(f, EVENT_DEAL_STAGE, "m@x.io",
	    json_pack("{s:s, s:s}", "stage", "x", "outcome", "tie"),
	    "deal.stage event 5-0: data.outcome: \"tie\" is not one of open "
	    "won lost");
	expect_event_error(f, "lead.renamed", "m@x.io", NULL,
	    "lead.renamed event 5-0: type: unknown event type "
	    "\"lead.renamed\"");
	expect_event_error(f, EVENT_LEAD_MERGED, "m@x.io",
	    json_pack("{s:s}", "from", "m@x.io"), "lead.merged event 5-0: "
	    "data.from: the lead itself");
	expect_event_error(f, EVENT_LEAD_MERGED, "m@x.io",
	    json_pack("{s:s}", "from", "Old@X.io"), "lead.merged event 5-0: "
	    "data.from: not normalized (expected \"old@x.io\")");
	expect_event_error(f, EVENT_LEAD_UPSERTED, "other@x.io", NULL,
	    "event 5-0 is for lead other@x.io, not m@x.io");
	assert_int_equal(f->l.stage, -1);
}

/* lead.merged: a decision and the alias for the commit; the score, the
 * stage and the history stay. */
static void
test_merged(void **state)
{
	struct fixture *f = *state;

	to_mql(f, "keep@acme.io");
	apply(f, EVENT_LEAD_MERGED, json_pack("{s:s}", "from",
	    "old@acme.io"), T0 + 5000, T0 + 5000);
	assert_string_equal(entry_list(f), "decisions:lead.merged");
	assert_string_equal(entry_json(f, 0), "{\"event\":\"1700000005000-3\","
	    "\"from\":\"old@acme.io\",\"source\":\"crm\"}");
	assert_string_equal(f->fx.alias_from, "old@acme.io");
	assert_false(f->fx.erase);
	assert_int_equal(f->l.stage, RULES_STAGE_MQL);
}

/* lead.forget: only a decision without the address, and the erase. */
static void
test_forget(void **state)
{
	struct fixture *f = *state;

	to_mql(f, "gone@acme.io");
	apply(f, EVENT_LEAD_FORGET, json_pack("{s:s}", "reason", "privacy"),
	    T0 + 5000, T0 + 5000);
	assert_true(f->fx.erase);
	assert_true(f->fx.changed);
	assert_int_equal(f->fx.nset, 0);
	assert_int_equal(f->fx.nhistory, 0);
	assert_string_equal(entry_list(f), "decisions:lead.forgotten");
	assert_string_equal(entry_json(f, 0), "{\"event\":\"1700000005000-3\","
	    "\"reason\":\"privacy\",\"source\":\"crm\"}");
	/* sha256("gone@acme.io") */
	assert_string_equal(f->fx.entries[0].lead, "sha256:"
	    "a9136c420cae409b3aba88f4aa9dff9a382201b441d771253d7c1b6c6cac1add");
	assert_null(strstr(f->fx.entries[0].data_text, "gone@"));
}

static void
expect_field_error(struct fixture *f, const char *field, const char *value,
    const char *want)
{
	struct lead l;
	const char *fields[] = { "stage", field };
	const char *values[] = { "lead", value };

	assert_int_equal(lead_from_fields(&l, "k@x.io", fields, values, 2,
	    f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, want);
	lead_clear(&l);
}

static void
test_malformed_fields(void **state)
{
	struct fixture *f = *state;

	expect_field_error(f, "fit", "abc", "lead k@x.io: field fit: not a "
	    "number from -1000000000000000 to 1000000000000000");
	expect_field_error(f, "engagement", "0x10", "lead k@x.io: field "
	    "engagement: not a number from -1000000000000000 to "
	    "1000000000000000");
	expect_field_error(f, "engagement", " 1", "lead k@x.io: field "
	    "engagement: not a number from -1000000000000000 to "
	    "1000000000000000");
	expect_field_error(f, "seq", "-1", "lead k@x.io: field seq: not a "
	    "whole number >= 0");
	expect_field_error(f, "stage_at", "12x", "lead k@x.io: field "
	    "stage_at: not a time in ms between 1970 and 9999");
	expect_field_error(f, "stage", "limbo", "lead k@x.io: field stage: "
	    "\"limbo\" is no stage");
	expect_field_error(f, "deal.amount", "lots", "lead k@x.io: field "
	    "deal.amount: not a number");
	expect_field_error(f, "caps", "{\"4\":[[1]]}", "lead k@x.io: field "
	    "caps: \"4\"[0]: expected [at_ms, points]");
	expect_field_error(f, "caps", "{\"x\":[]}", "lead k@x.io: field "
	    "caps: key \"x\" is not a rule number");
	expect_field_error(f, "contribs", "[{\"kind\":\"fit\"}]", "lead "
	    "k@x.io: field contribs: [0]: expected {\"kind\": "
	    "\"fit\"|\"engagement\", \"rule\", \"file\", \"line\", "
	    "\"points\"}");
	expect_field_error(f, "contribs", "[1,", "lead k@x.io: field "
	    "contribs: not JSON: ']' expected near end of file "
	    "(column 3)");
	expect_field_error(f, "title", "\xff", "lead k@x.io: field title: "
	    "not valid UTF-8");
}

static void
test_slot_values(void **state)
{
	struct fixture *f = *state;
	struct rules_value *v = calloc(f->r->nslots, sizeof(*v));
	json_t *act = json_pack("{s:s, s:{s:i}}", "form", "demo-request",
	    "custom", "n", 3);
	int s;

	assert_non_null(v);
	to_mql(f, "slots@acme.com");
	lead_slot_values(f->r, &f->l, act, v);
	assert_int_equal(v[RULES_SLOT_STAGE].kind, RULES_STRING);
	assert_memory_equal(v[RULES_SLOT_STAGE].s, "mql", 3);
	assert_true(v[RULES_SLOT_SCORE].num == 75);
	s = rules_slot_find(f->r, RULES_NS_LEAD, "company_size");
	assert_int_equal(v[s].kind, RULES_NUMBER);
	assert_true(v[s].num == 1200);
	s = rules_slot_find(f->r, RULES_NS_ACTIVITY, "form");
	assert_int_equal(v[s].kind, RULES_STRING);
	assert_int_equal(v[s].len, 12);
	s = rules_slot_find(f->r, RULES_NS_ACTIVITY, "url");
	assert_int_equal(v[s].kind, RULES_MISSING);
	s = rules_slot_find(f->r, RULES_NS_LEAD, "sales.status");
	assert_int_equal(v[s].kind, RULES_MISSING);
	json_decref(act);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vp_demo_handoff_and_sales,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_click_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gmail_penalty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_event_same_total,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_breach_unaccepted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deal_lost_recycles, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disqualified, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fields_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_slot_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
