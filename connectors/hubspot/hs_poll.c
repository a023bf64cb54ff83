/*
 * hs_poll.c - the HubSpot connector's poll(): the webhooks' safety net.
 * Contacts modified since the watermark are read with CRM v3 search on
 * lastmodifieddate and become lead.upserted events (lead.status for role
 * sales, and lead.activity for a form submission or marketing email
 * engagement the contact shows: see hs_contact_activities).
 *
 * A round works through the cursor's windows, earliest first.  A new
 * round (no window pending) reads [wm - lookback, now]: HubSpot indexes
 * changes late under their real, earlier timestamp, so each round
 * re-reads the lookback, and the core drops what it already has (the
 * event id "<contact id>:<lastmodifieddate ms>" is the same for the same
 * version, from a poll or a webhook).  A window is read sorted ascending,
 * page after page through paging.next.after.  Its first page is a probe:
 * when its total is over the search API's 10,000-result cap (after may
 * not pass it), the window is split, recursively, and nothing is emitted
 * from the probe: it starts at the probe's earliest lastmodifieddate, a
 * full probe page of one millisecond makes that millisecond a window of
 * its own, else it is halved by time; a window of one millisecond still
 * over the cap (a bulk import) is read by hs_object_id keyset instead
 * (lastmodifieddate EQ t, hs_object_id GT last, sorted by id), which has
 * no cap.  If the total changes while a window is paged (a record
 * modified again leaves the window and the offsets shift), the window
 * restarts from the latest lastmodifieddate already read, so no record
 * is skipped.  The windows,
 * offsets and watermark live in the cursor; a round stops after
 * poll_pages pages with poll_again(), so a backlog of any size progresses
 * round by round and never loops.  Searches are paced by search_gap, and
 * a 429 of the search API's secondly limit waits 1 s and asks again.
 *
 * Echoes: a contact whose lastmodifieddate is within 30 s of a write of
 * this connector, and whose written properties still hold what was
 * written, is this connector's own write and is skipped.  A person's edit
 * in those 30 s reaches batond through the webhook instead.  Activities
 * are emitted before that check (their ids make repeats harmless).  Form
 * submissions and email engagement are known from HubSpot's roll-up
 * properties on the contact (the latest of each kind), not from the forms
 * and email events APIs: two submissions between two reads give one
 * event.
 */
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/connector.h>
#include <baton/event.h>
#include <baton/timestamp.h>

#include "hs_int.h"

#define ECHO_SLACK_MS   30000
#define SECONDLY_TRIES  10

struct hs_round {
	struct hs_ctx *ctx;
	struct poll_call *call;
	struct hs_cursor cur;
	struct event *timer;            /* search_gap, or a secondly wait */
	int pages;
	int tries;                      /* secondly 429s in a row */
	int emitted, skipped, splits;
};

static int page(struct hs_round *r);

/* ---- The end of a round ------------------------------------------------ */

static void
round_free(struct hs_round *r)
{
	if (r == NULL)
		return;
	if (r->ctx->round == r)
		r->ctx->round = NULL;
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

static void
round_fail(struct hs_round *r, int64_t retry_ms, const char *msg)
{
	connector_log(r->ctx->ci, r->ctx->stopping ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARNING, "poll: %s", msg);
	poll_complete(r->call, CONNECTOR_RETRY, NULL, retry_ms);
	round_free(r);
}

static void
round_commit(struct hs_round *r, bool again)
{
	char *c = hs_cursor_encode(&r->cur);

	if (c == NULL) {
		round_fail(r, 0, "out of memory");
		return;
	}
	connector_log(r->ctx->ci, LOG_LEVEL_DEBUG, "poll: %d event(s), %d "
	    "skipped, %d page(s), %d split(s)%s", r->emitted, r->skipped,
	    r->pages, r->splits, again ? ", more to read" : "");
	if (again)
		poll_again(r->call);
	poll_complete(r->call, CONNECTOR_OK, c, 0);
	free(c);
	round_free(r);
}

/* ---- Records to events ------------------------------------------------- */

static void
emit(struct hs_round *r, const char *type, const char *key, const char *id,
    int64_t at, json_t *data)
{
	struct baton_event *ev = baton_event_new(type, key, id, at, data);

	if (ev == NULL || poll_emit(r->call, ev) == -1) {
		connector_log(r->ctx->ci, LOG_LEVEL_WARNING, "poll: cannot add "
		    "event %s", id);
		return;
	}
	r->emitted++;
}

static void
record(struct hs_round *r, const struct hs_object *o, int64_t now)
{
	struct hs_ctx *ctx = r->ctx;
	const char *email = json_string_value(json_object_get(o->props,
	    "email"));
	char key[EVENT_LEAD_MAX + 1], err[128], eid[96];
	struct hs_activity acts[HS_ACTIVITIES_MAX];
	const char *st;
	size_t n;

	if (email == NULL || baton_event_lead_key(email, key, sizeof(key), err,
	    sizeof(err)) == -1) {
		r->skipped++;
		return;
	}
	hs_note_email(ctx, o->id, email);
	/* Before the echo check: a write of ours may have followed the
	 * form submission it would hide. */
	n = hs_contact_activities(o->props, o->modified, HS_ACTIVITY_WINDOW_MS,
	    acts);
	for (size_t i = 0; i < n; i++) {
		snprintf(eid, sizeof(eid), "%s:%s:%lld", acts[i].activity,
		    o->id, (long long)acts[i].at);
		emit(r, EVENT_LEAD_ACTIVITY, key, eid, acts[i].at,
		    acts[i].data);
	}
	if (hs_echo_poll_match(&ctx->echo, o->id, o->props, o->modified,
	    ECHO_SLACK_MS, now)) {
		r->skipped++;   /* our own write */
		return;
	}
	snprintf(eid, sizeof(eid), "%s:%lld", o->id, (long long)o->modified);
	emit(r, EVENT_LEAD_UPSERTED, key, eid, o->modified,
	    hs_contact_data(&ctx->fields, o->props, o->id));
	if (!(connector_role(ctx->ci) & CONNECTOR_ROLE_SALES))
		return;
	st = hs_status_map(&ctx->status, json_string_value(json_object_get(
	    o->props, "hs_lead_status")));
	if (st != NULL) {
		snprintf(eid, sizeof(eid), "%s:%lld:status", o->id,
		    (long long)o->modified);
		emit(r, EVENT_LEAD_STATUS, key, eid, o->modified,
		    json_pack("{s:s,s:s}", "status", st, "id", o->id));
	}
}

/* ---- Pages ------------------------------------------------------------- */

/* Restarts the first window from what it read so far. */
static void
restart(struct hs_window *w)
{
	if (w->seen > w->lo && w->seen <= w->hi)
		w->lo = w->seen;
	w->after[0] = '\0';
	w->total = -1;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)page(arg);
}

/* Runs page() after ms (from the loop in any case). */
static void
later(struct hs_round *r, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
	    1000 };
	struct event_base *base = connector_base(r->ctx->ci);

	if (r->timer == NULL && base != NULL)
		r->timer = evtimer_new(base, timer_cb, r);
	if (r->timer == NULL || evtimer_add(r->timer, &tv) == -1)
		round_fail(r, 0, "cannot arm a timer");
}

static void
search_done(struct hs_ctx *ctx, const struct hs_reply *rep, void *arg)
{
	struct hs_round *r = arg;
	struct hs_window *w = &r->cur.win[0];
	struct hs_result res;
	char err[256];
	bool moved = false;
	int64_t now = timestamp_now_ms();

	if (rep->rc != CONNECTOR_OK) {
		if (rep->status == 429 && rep->retry_after_ms <= 1000 &&
		    ++r->tries <= SECONDLY_TRIES && !ctx->stopping) {
			later(r, 1000);
			return;
		}
		round_fail(r, rep->retry_after_ms, rep->message);
		return;
	}
	r->tries = 0;
	if (hs_result_parse(rep->body, rep->len, true, &res, err,
	    sizeof(err)) == -1) {
		round_fail(r, 0, err);
		return;
	}
	r->pages++;
	if (!w->by_id && w->total == -1) {
		w->total = res.total;
		if (res.total > HS_SEARCH_CAP) {
			/* Over the cap: split, emit nothing from the probe. */
			if (hs_cursor_split_probe(&r->cur, res.n > 0 ?
			    res.v[0].modified : 0, res.n > 0 ?
			    res.v[res.n - 1].modified : 0, res.n ==
			    (size_t)ctx->page_size) == -1) {
				hs_result_clear(&res);
				round_fail(r, 0, "too many search windows "
				    "pending");
				return;
			}
			r->splits++;
			hs_result_clear(&res);
			goto next;
		}
	} else if (!w->by_id && res.total != w->total) {
		moved = true;
	}
	for (size_t i = 0; i < res.n; i++) {
		if (res.v[i].modified > w->seen)
			w->seen = res.v[i].modified;
		record(r, &res.v[i], now);
	}
	if (w->by_id) {
		if (res.n > 0)
			snprintf(w->last_id, sizeof(w->last_id), "%s",
			    res.v[res.n - 1].id);
		if (res.n < (size_t)ctx->page_size)
			hs_cursor_pop(&r->cur);
	} else if (moved) {
		restart(w);
	} else if (res.after[0] != '\0') {
		if (strtoll(res.after, NULL, 10) + ctx->page_size >
		    HS_SEARCH_CAP)
			restart(w);     /* grew past the cap while paged */
		else
			snprintf(w->after, sizeof(w->after), "%s", res.after);
	} else {
		hs_cursor_pop(&r->cur);
	}
	hs_result_clear(&res);
next:
	if (r->cur.nwin == 0) {
		if (r->cur.round_hi > r->cur.wm)
			r->cur.wm = r->cur.round_hi;
		r->cur.round_hi = 0;
		round_commit(r, false);
	} else if (r->pages >= ctx->poll_pages) {
		round_commit(r, true);
	} else if (ctx->search_gap_ms > 0) {
		later(r, ctx->search_gap_ms);
	} else {
		(void)page(r);
	}
}

/* Searches the first window's next page.  Returns 0, or -1 when the
 * round was completed (failed) instead. */
static int
page(struct hs_round *r)
{
	struct hs_ctx *ctx = r->ctx;
	char *body;
	int64_t wait;

	if (ctx->stopping) {
		round_fail(r, 0, "connector stopping");
		return -1;
	}
	if (hs_api_paused(ctx, &wait)) {
		round_fail(r, wait, "HubSpot asked to wait");
		return -1;
	}
	body = hs_search_body(&r->cur.win[0], ctx->props, ctx->nprops,
	    (int)ctx->page_size);
	if (body == NULL || hs_api(ctx, "POST",
	    "/crm/v3/objects/contacts/search", body, 0, search_done,
	    r) == -1) {
		free(body);
		round_fail(r, 0, "out of memory");
		return -1;
	}
	free(body);
	return 0;
}

/* ---- poll() ------------------------------------------------------------ */

int
hs_poll(struct connector_instance *ci, struct poll_call *call)
{
	struct hs_ctx *ctx = connector_ctx(ci);
	struct hs_round *r;
	const char *c = poll_cursor(call);
	char err[256];
	int64_t now = timestamp_now_ms();

	if (ctx->stopping || (r = calloc(1, sizeof(*r))) == NULL) {
		poll_complete(call, CONNECTOR_RETRY, NULL, 0);
		return 0;
	}
	r->ctx = ctx;
	r->call = call;
	if (c != NULL && hs_cursor_decode(c, strlen(c), &r->cur, err,
	    sizeof(err)) == -1)
		connector_log(ci, LOG_LEVEL_WARNING, "poll: the stored cursor "
		    "is unusable (%s): starting again from now", err);
	if (r->cur.wm == 0) {
		r->cur.wm = now - ctx->backfill_ms;
		if (r->cur.wm < 1)
			r->cur.wm = 1;
	}
	if (r->cur.nwin == 0) {
		struct hs_window *w = &r->cur.win[0];

		memset(w, 0, sizeof(*w));
		w->lo = r->cur.wm - ctx->lookback_ms;
		if (w->lo < 0)
			w->lo = 0;
		w->hi = now;
		w->total = -1;
		if (w->lo > w->hi)
			w->lo = w->hi;  /* the clock went back */
		r->cur.nwin = 1;
		r->cur.round_hi = now;
	}
	ctx->round = r;
	return page(r) == 0 ? CONNECTOR_PENDING : 0;
}

/* Ends a round waiting on its timer; one with a search out ends when the
 * core cancels the search. */
void
hs_poll_stop(struct hs_ctx *ctx)
{
	struct hs_round *r = ctx->round;

	if (r != NULL && r->timer != NULL &&
	    evtimer_pending(r->timer, NULL))
		round_fail(r, 0, "connector stopping");
}
