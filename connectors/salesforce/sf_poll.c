/*
 * sf_poll.c - the Salesforce connector's poll(): Lead and Opportunity
 * changes read with SOQL on SystemModstamp, turned into lead.status and
 * deal.stage events.
 *
 * A round reads, for Lead and then Opportunity, the keyset window
 *   (SystemModstamp, Id) after the object's mark, SystemModstamp <= hi,
 *   ORDER BY SystemModstamp, Id
 * following nextRecordsUrl, where hi = now - poll_lag (changes younger
 * than the lag may still be committing) cut to a whole second.  A round
 * that reads everything moves the mark to (hi, ""); the next round starts
 * poll_overlap earlier (records at or just before the mark are read again,
 * and the core drops them: an event's id is "<Id>:<SystemModstamp ms>", so
 * only a new change makes a new event).  A round that reaches poll_pages
 * pages stops after the last record read, keeps the exact (SystemModstamp,
 * Id) of that record with `more`, asks for poll_again(), and the next
 * round resumes strictly after it without overlap: records sharing one
 * SystemModstamp across a page or round boundary are neither lost nor read
 * forever.
 *
 * A record the integration user changed last (LastModifiedById) is our own
 * push echoed back, but a poll sees only the last modifier: when a rep
 * changed a Lead and our update came before a poll read the change, the
 * Lead also holds the rep's change.  So the round keeps a record of what
 * it read of each Lead (sf_proto.h, struct sf_seen: a fingerprint of
 * Status, IsConverted, OwnerId and the reason field), carried in the
 * cursor, and reports a Lead we changed last only when that differs from
 * what was read before, or, for a Lead never read since the record began,
 * when it is not what our own create leaves (sf_own_version_report); the
 * event's id is that of our version, so a round read again does not
 * report it twice.  Any other Lead version is reported only when the
 * record has not seen it or its fingerprint changed: a rep's edit of a
 * phone number is not a new decision, which the rules would otherwise
 * take for one in a new MQL episode.  Batond's updates write none of
 * those fields (OwnerId
 * only on a create), so what differs is someone else's change.  It never
 * writes Opportunities: those the integration user changed last are
 * skipped, and so are records without a usable email (logged at debug).
 * An Opportunity has no email: it is the one a Lead was converted into
 * (Lead.ConvertedOpportunityId), looked up per page.  While API usage is
 * at or over api_budget no window is read: a round asks GET limits
 * whether usage came down, and retries after budget_pause if not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/connector.h>
#include <baton/event.h>
#include <baton/timestamp.h>

#include "sf_int.h"

#define OPP_LOOKUP_SOQL_MAX 8000

enum { OBJ_LEAD, OBJ_OPP, OBJ_END };

struct sf_round {
	struct sf_ctx *ctx;
	struct poll_call *call;
	struct sf_cursor cur;
	int obj;                        /* OBJ_* being read */
	int pages;                      /* pages read this round */
	int64_t hi;                     /* upper SystemModstamp bound */
	int emitted, skipped;
	struct sf_seen seen;            /* the Leads read, from the cursor */
	bool oom;                       /* the record could not be kept */
	/* An Opportunity page waiting for its emails. */
	json_t *opps;                   /* records kept (one reference) */
	char *opp_next;                 /* its nextRecordsUrl, or NULL */
	const char **opp_ids;           /* ids to look up */
	size_t opp_n, opp_from, opp_used;
	json_t *emails;                 /* opportunity id -> email */
};

static const char *const obj_name[] = { "Lead", "Opportunity" };

static int round_object(struct sf_round *r);
static void page_done(struct sf_ctx *ctx, const struct sf_reply *rep,
    void *arg);

/* ---- The end of a round ------------------------------------------------ */

static struct sf_mark *
mark_of(struct sf_round *r, int obj)
{
	return obj == OBJ_LEAD ? &r->cur.lead : &r->cur.opp;
}

static void
round_free(struct sf_round *r)
{
	if (r == NULL)
		return;
	json_decref(r->opps);
	json_decref(r->emails);
	sf_seen_clear(&r->seen);
	free(r->opp_next);
	free(r->opp_ids);
	free(r);
}

static void
round_fail(struct sf_round *r, enum connector_result rc, int64_t retry_ms,
    const char *msg)
{
	if (r->ctx->stopping)
		connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %s", msg);
	else
		connector_log(r->ctx->ci, LOG_LEVEL_WARNING, "poll: %s", msg);
	poll_complete(r->call, rc == CONNECTOR_OK ? CONNECTOR_RETRY : rc,
	    NULL, retry_ms);
	round_free(r);
}

/* Commits what was read; again: more remains. */
static void
round_commit(struct sf_round *r, bool again)
{
	char *c = sf_cursor_encode_seen(&r->cur, &r->seen, SF_SEEN_MAX);

	if (c == NULL) {
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		return;
	}
	connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %d event(s), %d "
	    "skipped, %d page(s)%s", r->emitted, r->skipped, r->pages,
	    again ? ", more to read" : "");
	if (again)
		poll_again(r->call);
	poll_complete(r->call, CONNECTOR_OK, c, 0);
	free(c);
	round_free(r);
}

/* ---- Records to events ------------------------------------------------- */

/* The lead key of an email value, or false (logged at debug). */
static bool
lead_key(struct sf_round *r, const char *what, const char *id,
    const char *email, char *key, size_t keylen)
{
	char err[128];

	if (email == NULL || email[0] == '\0') {
		connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %s %s has no "
		    "email: skipped", what, id);
		return false;
	}
	if (baton_event_lead_key(email, key, keylen, err, sizeof(err)) == -1) {
		connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %s %s: %s: "
		    "skipped", what, id, err);
		return false;
	}
	return true;
}

static void
emit(struct sf_round *r, const char *type, const char *key, const char *id,
    int64_t ts, json_t *data)
{
	struct baton_event *ev;
	char eid[64];

	snprintf(eid, sizeof(eid), "%s:%lld", id, (long long)ts);
	if ((ev = baton_event_new(type, key, eid, ts, data)) == NULL ||
	    poll_emit(r->call, ev) == -1) {
		connector_log(r->ctx->ci, LOG_LEVEL_WARNING, "poll: cannot "
		    "add the event of %s", id);
		return;
	}
	r->emitted++;
}

/* A dateTime field of rec in ms, or -1. */
static int64_t
field_ms(const json_t *rec, const char *field)
{
	int64_t ms;

	return sf_datetime_parse(json_string_value(json_object_get(rec,
	    field)), &ms) == 0 ? ms : -1;
}

/*
 * Whether a Lead version the integration user changed last is to be
 * reported (see the top of this file); logs the ones that are.
 */
static bool
own_version_report(struct sf_round *r, const json_t *rec, const char *id,
    const char *canon, const char *why, bool seen, uint32_t seen_fp,
    uint32_t fp)
{
	const char *me = r->ctx->token.user_id;
	const char *creator = json_string_value(json_object_get(rec,
	    "CreatedById"));
	struct sf_own_version v = {
		.seen = seen,
		.seen_fp = seen_fp,
		.fp = fp,
		.created_ms = field_ms(rec, "CreatedDate"),
		.modified_ms = field_ms(rec, "LastModifiedDate"),
		.created_by_us = creator != NULL && me != NULL &&
		    strcmp(creator, me) == 0,
		.status = canon,
		.has_reason = why != NULL && why[0] != '\0',
	};

	if (!sf_own_version_report(&v, r->seen.since))
		return false;
	connector_log(r->ctx->ci, LOG_LEVEL_INFO, "poll: Lead %s was changed "
	    "by someone else before our own update of it (Status '%s'): "
	    "reported", id, canon);
	return true;
}

static void
lead_record(struct sf_round *r, const json_t *rec, const char *id,
    int64_t ts, bool mine)
{
	const char *status = json_string_value(json_object_get(rec, "Status"));
	const char *owner = json_string_value(json_object_get(rec, "OwnerId"));
	const char *why = r->ctx->reason_field == NULL ? NULL :
	    json_string_value(json_object_get(rec, r->ctx->reason_field));
	bool converted = json_is_true(json_object_get(rec, "IsConverted"));
	const char *canon = sf_status_map(&r->ctx->status, status, converted);
	uint32_t fp = sf_seen_fingerprint(status, converted, owner, why);
	uint32_t seen_fp = 0;
	bool seen = sf_seen_get(&r->seen, id, &seen_fp);
	char key[EVENT_LEAD_MAX + 1];
	json_t *d;

	if (sf_seen_put(&r->seen, id, fp, ts) == -1) {
		r->oom = true;          /* the round retries */
		return;
	}
	if (mine && !own_version_report(r, rec, id, canon, why, seen,
	    seen_fp, fp)) {
		r->skipped++;           /* our own write, echoed */
		return;
	}
	if (!mine && seen && seen_fp == fp) {
		/* A change to nothing a lead.status carries (a phone, a
		 * note), or a version read before: no new decision. */
		r->skipped++;
		return;
	}
	if (!lead_key(r, "Lead", id, json_string_value(json_object_get(rec,
	    "Email")), key, sizeof(key))) {
		r->skipped++;
		return;
	}
	if (canon == NULL) {
		connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: Lead %s: "
		    "Status '%s' has no status.* mapping: skipped", id,
		    status != NULL ? status : "");
		r->skipped++;
		return;
	}
	d = json_pack("{s:s,s:s}", "status", canon, "id", id);
	if (d != NULL && owner != NULL)
		json_object_set_new(d, "owner", json_string(owner));
	if (d != NULL && why != NULL && why[0] != '\0')
		json_object_set_new(d, "reason", json_string(why));
	emit(r, EVENT_LEAD_STATUS, key, id, ts, d);
}

static void
opp_record(struct sf_round *r, const json_t *rec, const char *id,
    int64_t ts)
{
	const char *stage = json_string_value(json_object_get(rec,
	    "StageName"));
	const char *cur = json_string_value(json_object_get(rec,
	    "CurrencyIsoCode"));
	const json_t *amount = json_object_get(rec, "Amount");
	char key[EVENT_LEAD_MAX + 1];
	json_t *d;

	if (!lead_key(r, "Opportunity", id, json_string_value(
	    json_object_get(r->emails, id)), key, sizeof(key))) {
		r->skipped++;
		return;
	}
	if (stage == NULL || stage[0] == '\0') {
		r->skipped++;
		return;
	}
	d = json_pack("{s:s,s:s,s:s}", "stage", stage, "outcome",
	    sf_deal_outcome(json_is_true(json_object_get(rec, "IsWon")),
	    json_is_true(json_object_get(rec, "IsClosed"))), "opportunity",
	    id);
	if (d != NULL && json_is_number(amount))
		json_object_set_new(d, "amount",
		    json_real(json_number_value(amount)));
	if (d != NULL && cur != NULL)
		json_object_set_new(d, "currency", json_string(cur));
	emit(r, EVENT_DEAL_STAGE, key, id, ts, d);
}

/*
 * Turns one page's records into events and moves the object's mark to the
 * last record read (pages come in keyset order); keeps what was read of
 * each Lead in r->seen.
 */
static void
records(struct sf_round *r, const json_t *recs)
{
	struct sf_mark *m = mark_of(r, r->obj);
	const char *me = r->ctx->token.user_id;
	const json_t *rec;
	size_t i;

	json_array_foreach(recs, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "Id"));
		const char *by = json_string_value(json_object_get(rec,
		    "LastModifiedById"));
		bool mine;
		int64_t ts;

		if (!sf_id_valid(id) || sf_datetime_parse(json_string_value(
		    json_object_get(rec, "SystemModstamp")), &ts) == -1) {
			connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %s "
			    "record without Id or SystemModstamp: skipped",
			    obj_name[r->obj]);
			r->skipped++;
			continue;
		}
		/* Pages come in the server's (SystemModstamp, Id) order, so
		 * a record at or after the mark's second is the new mark (how
		 * Salesforce collates Ids is its business).  Records of the
		 * overlap, before the mark, leave it alone. */
		if (ts >= m->ts) {
			m->ts = ts;
			snprintf(m->id, sizeof(m->id), "%s", id);
		}
		mine = by != NULL && me != NULL && strcmp(by, me) == 0;
		if (r->obj == OBJ_LEAD)
			lead_record(r, rec, id, ts, mine);
		else if (mine)
			r->skipped++;   /* our own write, echoed */
		else
			opp_record(r, rec, id, ts);
	}
}

/* ---- Paging ------------------------------------------------------------ */

/*
 * After a page: the next one, the next object, or the end of the round.
 * next is the page's nextRecordsUrl (borrowed) or NULL.
 */
static void
page_next(struct sf_round *r, const char *next)
{
	struct sf_mark *m = mark_of(r, r->obj);

	if (r->oom) {
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		return;
	}
	r->pages++;
	if (next == NULL) {
		/* Everything up to hi is read. */
		if (r->hi >= m->ts) {
			m->ts = r->hi;
			m->id[0] = '\0';
		}
		m->more = false;
		r->obj++;
		round_object(r);
		return;
	}
	m->more = true;
	if (r->pages >= r->ctx->poll_pages || r->ctx->over_budget) {
		round_commit(r, !r->ctx->over_budget);
		return;
	}
	if (sf_api(r->ctx, "GET", next, NULL, NULL, page_done, r) == -1)
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
}

static int opp_lookup_next(struct sf_round *r);

static void
opp_lookup_done(struct sf_ctx *ctx, const struct sf_reply *rep, void *arg)
{
	struct sf_round *r = arg;
	struct sf_page pg;
	const json_t *rec;
	char err[256];
	size_t i;

	if (rep->rc != CONNECTOR_OK) {
		round_fail(r, rep->rc, rep->retry_after_ms, rep->message);
		return;
	}
	if (sf_page_parse(rep->body, rep->len, &pg, err, sizeof(err)) == -1) {
		round_fail(r, CONNECTOR_RETRY, 0, err);
		return;
	}
	json_array_foreach(pg.records, i, rec) {
		const char *opp = json_string_value(json_object_get(rec,
		    "ConvertedOpportunityId"));
		json_t *email = json_object_get(rec, "Email");

		if (opp != NULL && json_is_string(email) &&
		    json_object_get(r->emails, opp) == NULL)
			json_object_set(r->emails, opp, email);
	}
	if (pg.next_url != NULL) {
		if (sf_api(ctx, "GET", pg.next_url, NULL, NULL,
		    opp_lookup_done, r) == -1)
			round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		sf_page_clear(&pg);
		return;
	}
	sf_page_clear(&pg);
	r->opp_from += r->opp_used;
	if (r->opp_from < r->opp_n) {
		if (opp_lookup_next(r) == -1)
			round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		return;
	}
	/* Every email known: the page's events, then on. */
	{
		char *next = r->opp_next;
		json_t *opps = r->opps;

		r->opp_next = NULL;
		r->opps = NULL;
		records(r, opps);
		json_decref(opps);
		page_next(r, next);
		free(next);
	}
}

/* Looks up the emails of the next opportunity ids; 0 or -1. */
static int
opp_lookup_next(struct sf_round *r)
{
	struct sf_ctx *ctx = r->ctx;
	char *soql, *q, *path = NULL;
	int rc = -1;

	soql = sf_soql_in("Id, Email, ConvertedOpportunityId", "Lead",
	    "ConvertedOpportunityId", r->opp_ids + r->opp_from,
	    r->opp_n - r->opp_from, NULL, OPP_LOOKUP_SOQL_MAX, &r->opp_used);
	if (soql == NULL)
		return -1;
	q = sf_url_encode(soql);
	free(soql);
	if (q != NULL && asprintf(&path, "%s/query?q=%s", ctx->data_path,
	    q) != -1)
		rc = sf_api(ctx, "GET", path, NULL, NULL, opp_lookup_done, r);
	free(q);
	free(path);
	return rc;
}

/* Keeps an Opportunity page and looks up its emails first. */
static void
opp_page(struct sf_round *r, struct sf_page *pg)
{
	const char *me = r->ctx->token.user_id;
	const json_t *rec;
	size_t i;

	r->opps = json_incref(pg->records);
	r->opp_next = pg->next_url;
	pg->next_url = NULL;
	json_decref(r->emails);
	r->emails = json_object();
	free(r->opp_ids);
	r->opp_ids = calloc(json_array_size(pg->records) + 1,
	    sizeof(*r->opp_ids));
	r->opp_n = r->opp_from = 0;
	if (r->emails == NULL || r->opp_ids == NULL) {
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		return;
	}
	json_array_foreach(pg->records, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "Id"));
		const char *by = json_string_value(json_object_get(rec,
		    "LastModifiedById"));

		if (sf_id_valid(id) && (by == NULL || me == NULL ||
		    strcmp(by, me) != 0))
			r->opp_ids[r->opp_n++] = id;
	}
	if (r->opp_n == 0) {
		char *next = r->opp_next;
		json_t *opps = r->opps;

		r->opp_next = NULL;
		r->opps = NULL;
		records(r, opps);
		json_decref(opps);
		page_next(r, next);
		free(next);
		return;
	}
	if (opp_lookup_next(r) == -1)
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
}

static void
page_done(struct sf_ctx *ctx, const struct sf_reply *rep, void *arg)
{
	struct sf_round *r = arg;
	struct sf_page pg;
	char err[256];

	(void)ctx;
	if (rep->rc != CONNECTOR_OK) {
		round_fail(r, rep->rc, rep->retry_after_ms, rep->message);
		return;
	}
	if (sf_page_parse(rep->body, rep->len, &pg, err, sizeof(err)) == -1) {
		round_fail(r, CONNECTOR_RETRY, 0, err);
		return;
	}
	if (r->obj == OBJ_OPP) {
		opp_page(r, &pg);
		sf_page_clear(&pg);
		return;
	}
	records(r, pg.records);
	page_next(r, pg.next_url);
	sf_page_clear(&pg);
}

/*
 * Starts reading the current object's window, or ends the round.  Returns
 * 1 when a call is out, 0 when the round was completed (r is then freed).
 */
static int
round_object(struct sf_round *r)
{
	struct sf_ctx *ctx = r->ctx;
	struct sf_mark *m;
	static const char lead_fields[] = "Id, Email, Status, IsConverted, "
	    "OwnerId, LastModifiedById, SystemModstamp, CreatedById, "
	    "CreatedDate, LastModifiedDate";
	char fields[256], *soql, *q, *path = NULL;
	int64_t lo;
	int rc = -1;

	if (r->obj == OBJ_END || ctx->over_budget) {
		round_commit(r, false);
		return 0;
	}
	m = mark_of(r, r->obj);
	lo = m->more ? m->ts : m->ts - ctx->poll_overlap_ms;
	if (lo < 0)
		lo = 0;
	if (lo > r->hi) {
		/* The clock went back: nothing to read until it catches up. */
		r->obj++;
		return round_object(r);
	}
	snprintf(fields, sizeof(fields), "%s", r->obj == OBJ_LEAD ?
	    lead_fields : "Id, StageName, IsWon, IsClosed, Amount, "
	    "LastModifiedById, SystemModstamp");
	if (r->obj == OBJ_LEAD && ctx->reason_field != NULL)
		snprintf(fields, sizeof(fields), "%s, %.80s", lead_fields,
		    ctx->reason_field);
	if (r->obj == OBJ_OPP && ctx->multi_currency)
		snprintf(fields, sizeof(fields), "Id, StageName, IsWon, "
		    "IsClosed, Amount, CurrencyIsoCode, LastModifiedById, "
		    "SystemModstamp");
	soql = sf_soql_window(fields, obj_name[r->obj], lo, m->more ? m->id :
	    "", r->hi);
	q = soql != NULL ? sf_url_encode(soql) : NULL;
	if (q != NULL && asprintf(&path, "%s/query?q=%s", ctx->data_path,
	    q) != -1)
		rc = sf_api(ctx, "GET", path, NULL, NULL, page_done, r);
	free(soql);
	free(q);
	free(path);
	if (rc == -1) {
		round_fail(r, CONNECTOR_RETRY, 0, "out of memory");
		return 0;
	}
	return 1;
}

/* ---- The budget check -------------------------------------------------- */

static void
limits_done(struct sf_ctx *ctx, const struct sf_reply *rep, void *arg)
{
	struct sf_round *r = arg;

	if (rep->rc != CONNECTOR_OK) {
		round_fail(r, rep->rc, rep->retry_after_ms, rep->message);
		return;
	}
	/* sf_auth.c read Sforce-Limit-Info from this answer. */
	if (ctx->over_budget) {
		connector_log(ctx->ci, LOG_LEVEL_DEBUG, "poll: API usage "
		    "%lld/%lld still over api_budget", ctx->usage_used,
		    ctx->usage_max);
		poll_complete(r->call, CONNECTOR_RETRY, NULL,
		    ctx->budget_pause_ms);
		round_free(r);
		return;
	}
	round_object(r);
}

/* ---- poll() ------------------------------------------------------------ */

/* ms cut down to a whole second. */
static int64_t
whole_second(int64_t ms)
{
	return ms - ms % 1000;
}

/*
 * One round (see the top of this file).  Returns CONNECTOR_PENDING, or 0
 * when completed before returning (stopping, out of memory).
 */
int
sf_poll(struct connector_instance *ci, struct poll_call *call)
{
	struct sf_ctx *ctx = connector_ctx(ci);
	struct sf_round *r;
	const char *c = poll_cursor(call);
	char err[256], *path = NULL;
	int64_t now = timestamp_now_ms();
	int rc;

	if (ctx->stopping || (r = calloc(1, sizeof(*r))) == NULL) {
		poll_complete(call, CONNECTOR_RETRY, NULL, 0);
		return 0;
	}
	r->ctx = ctx;
	r->call = call;
	r->hi = whole_second(now - ctx->poll_lag_ms);
	if (c != NULL && sf_cursor_decode(c, &r->cur, err, sizeof(err)) == -1)
		connector_log(ci, LOG_LEVEL_WARNING, "poll: the stored cursor "
		    "is unusable (%s): starting again from now", err);
	if (c == NULL || r->cur.lead.ts == 0) {
		int64_t start = whole_second(now - ctx->poll_lag_ms -
		    ctx->poll_backfill_ms);

		r->cur.lead.ts = r->cur.opp.ts = start > 0 ? start : 1;
		r->cur.lead.id[0] = r->cur.opp.id[0] = '\0';
		r->cur.lead.more = r->cur.opp.more = false;
	}
	if (sf_seen_decode(c, &r->seen, err, sizeof(err)) == -1) {
		/* A new record covers the Leads read from here on. */
		if (c != NULL && strcmp(err, "cursor has no seen object") != 0)
			connector_log(ci, LOG_LEVEL_WARNING, "poll: the stored "
			    "record of Leads seen is unusable (%s): starting "
			    "a new one", err);
		if (sf_seen_init(&r->seen, r->cur.lead.ts + 1) == -1) {
			round_free(r);
			poll_complete(call, CONNECTOR_RETRY, NULL, 0);
			return 0;
		}
	}
	if (ctx->over_budget) {
		rc = asprintf(&path, "%s/limits", ctx->data_path);
		if (rc == -1 || sf_api(ctx, "GET", path, NULL, NULL,
		    limits_done, r) == -1) {
			free(path);
			round_free(r);
			poll_complete(call, CONNECTOR_RETRY, NULL, 0);
			return 0;
		}
		free(path);
		return CONNECTOR_PENDING;
	}
	r->obj = OBJ_LEAD;
	return round_object(r) == 1 ? CONNECTOR_PENDING : 0;
}
