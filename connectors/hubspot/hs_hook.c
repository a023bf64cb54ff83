/*
 * hs_hook.c - the HubSpot connector's webhook(): a signed POST of up to
 * 100 events becomes canonical events.
 *
 * A request goes like this:
 *   1. The signature (signature_version: v3 by default, over public_url or
 *      http://<Host><path>, with the 5-minute timestamp window; v2 or v1
 *      only when configured) is checked before the body is parsed: 401.
 *   2. The body is parsed (hs_events_parse): 400 naming the bad event.
 *   3. Echoes are dropped: a change whose changeSource is INTEGRATION or
 *      API and whose sourceId is app_id, or a propertyChange matching a
 *      (contact, property, value) this connector wrote within echo_ttl.
 *   4. What the events need is read from HubSpot.  Contact ids of every
 *      request that arrives within read_linger are gathered into batch
 *      reads of at most 100 ids (archived=false for creations, changes and
 *      merge survivors; archived=true for deleted and merged-away ids
 *      whose email this process has not seen yet); a deal is read with its
 *      associated contact (role sales), whose email comes from the same
 *      batch reads.  The request waits for its reads (read_timeout, well
 *      inside HubSpot's 5 s); any failed read answers 503 so HubSpot sends
 *      the events again.  A deadline of its own (read_linger +
 *      read_timeout + 100 ms, at most 4.8 s) answers 503 even when a read
 *      waits in the HTTP client's queue past its timeout, which libcurl
 *      7.88 does not always notice in time.  While HubSpot asks the connector to wait (429),
 *      requests that need a read answer 503 at once.
 *   5. Events: contact.creation / propertyChange -> lead.upserted with the
 *      mapped properties (id "<contact id>:<lastmodifieddate ms>", the
 *      same id a poll gives the same version, so the two dedupe), and for
 *      role sales lead.status from hs_lead_status; contact.deletion ->
 *      lead.activity contact_deleted (the lead's state is kept);
 *      contact.merge -> lead.merged {from: merged-away email} on the
 *      survivor's email; contact.privacyDeletion -> lead.forget {reason:
 *      privacy}, on the email when this process knows it, else on
 *      "ref:<contact id>" (HubSpot erases the record for good; the
 *      intake finds the lead whose ids.<NAME> is that contact, see
 *      EVENT_LEAD_REF); deal.* (role sales) -> deal.stage on the
 *      associated contact's email.  Another event whose contact or email
 *      cannot be found any more is logged and acknowledged.
 */
#include <sys/queue.h>

#include <event2/event.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/connector.h>
#include <baton/event.h>
#include <baton/timestamp.h>

#include "hs_int.h"

/* One webhook request waiting for its reads. */
struct hs_hook {
	TAILQ_ENTRY(hs_hook) link;
	struct hs_ctx *ctx;
	struct webhook_call *call;
	struct hs_events ev;
	bool *skip;                     /* per event: an echo */
	json_t *active;                 /* contact id -> properties */
	json_t *archived;               /* contact id -> properties */
	json_t *deals;                  /* deal id -> {stage, ...} */
	int waiting;                    /* references: reads not answered,
	                                 * one while queued, one while
	                                 * webhook() runs */
	bool queued;                    /* has ids in the read queue */
	bool failed;
	bool answered;                  /* the deadline answered 503; call
	                                 * is NULL, reads still hold it */
	struct event *deadline;
	char why[HS_MESSAGE_MAX];       /* the first failure */
};

/* One id a hook needs, queued until the linger timer fires. */
struct hs_want {
	struct hs_hook *hook;
	char id[HS_ID_MAX + 1];
	bool archived;
};

struct hs_readq {
	struct hs_want *v;
	size_t n, cap;
	struct event *timer;
	bool armed;
	TAILQ_HEAD(, hs_hook) hooks;    /* every hook not completed */
};

/* One batch read call. */
struct hs_read {
	bool archived;
	struct hs_hook **hooks;         /* each hook once */
	size_t nhooks;
};

static void hook_done(struct hs_hook *h);

/* How long after its arrival a request that waits for reads is answered
 * at the latest: the linger, the reads' own timeout and a margin, within
 * HubSpot's 5 s. */
static int64_t
hook_deadline_ms(const struct hs_ctx *ctx)
{
	int64_t ms = ctx->read_linger_ms + ctx->read_timeout_ms + 100;

	return ms < HS_ANSWER_MAX_MS ? ms : HS_ANSWER_MAX_MS;
}

/* ---- Hooks ------------------------------------------------------------- */

static void
hook_free(struct hs_hook *h)
{
	if (h == NULL)
		return;
	if (h->deadline != NULL)
		event_free(h->deadline);
	hs_events_clear(&h->ev);
	free(h->skip);
	json_decref(h->active);
	json_decref(h->archived);
	json_decref(h->deals);
	free(h);
}

static void
hook_fail(struct hs_hook *h, const char *msg)
{
	if (!h->failed)
		snprintf(h->why, sizeof(h->why), "%s", msg);
	h->failed = true;
}

/* One fewer read to wait for; completes the hook after the last. */
static void
hook_release(struct hs_hook *h)
{
	if (--h->waiting == 0)
		hook_done(h);
}

static struct hs_readq *
readq(struct hs_ctx *ctx)
{
	struct hs_readq *q = ctx->readq;

	if (q != NULL)
		return q;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	TAILQ_INIT(&q->hooks);
	return ctx->readq = q;
}

/* ---- Reads ------------------------------------------------------------- */

static void
read_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_read *rd = arg;
	struct hs_result res;
	char err[256], msg[HS_MESSAGE_MAX];
	bool ok = r->rc == CONNECTOR_OK;

	memset(&res, 0, sizeof(res));
	if (!ok) {
		snprintf(msg, sizeof(msg), "%s", r->message);
	} else if (hs_result_parse(r->body, r->len, false, &res, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "batch read: %s", err);
		ok = false;
	}
	if (!ok && !ctx->stopping)
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "webhook: %s: "
		    "answering 503 so HubSpot retries", msg);
	for (size_t i = 0; ok && i < res.n; i++) {
		const struct hs_object *o = &res.v[i];
		const char *email = json_string_value(json_object_get(o->props,
		    "email"));
		json_t *p = json_object();

		hs_note_email(ctx, o->id, email);
		if (p == NULL)
			continue;
		if (o->props != NULL)
			json_object_update(p, o->props);
		json_object_set_new(p, "__modified",
		    json_integer(o->modified));
		for (size_t k = 0; k < rd->nhooks; k++)
			json_object_set(rd->archived ? rd->hooks[k]->archived :
			    rd->hooks[k]->active, o->id, p);
		json_decref(p);
	}
	for (size_t k = 0; k < rd->nhooks; k++) {
		if (!ok)
			hook_fail(rd->hooks[k], msg);
		hook_release(rd->hooks[k]);
	}
	hs_result_clear(&res);
	free(rd->hooks);
	free(rd);
}

/* Sends one batch read of ids (1..100) for the hooks that want them. */
static void
read_send(struct hs_ctx *ctx, const char **ids, size_t n, bool archived,
    struct hs_hook **hooks, size_t nhooks)
{
	struct hs_read *rd = calloc(1, sizeof(*rd));
	char *body = hs_batch_read_body(ids, n, NULL, ctx->props, ctx->nprops);
	const char *path = archived ?
	    "/crm/v3/objects/contacts/batch/read?archived=true" :
	    "/crm/v3/objects/contacts/batch/read?archived=false";

	if (rd == NULL || body == NULL || (rd->hooks = calloc(nhooks,
	    sizeof(*rd->hooks))) == NULL) {
		free(body);
		free(rd);
		for (size_t k = 0; k < nhooks; k++) {
			hook_fail(hooks[k], "out of memory");
			hook_release(hooks[k]);
		}
		return;
	}
	rd->archived = archived;
	memcpy(rd->hooks, hooks, nhooks * sizeof(*hooks));
	rd->nhooks = nhooks;
	if (hs_api(ctx, "POST", path, body, ctx->read_timeout_ms, read_done,
	    rd) == -1) {
		for (size_t k = 0; k < nhooks; k++) {
			hook_fail(hooks[k], "out of memory");
			hook_release(hooks[k]);
		}
		free(rd->hooks);
		free(rd);
	}
	free(body);
}

/*
 * Sends what the queue gathered: ids deduplicated, 100 a call, archived
 * and live reads apart.  Each hook holds one reference per read it is in
 * (taken here) plus the one it took when queueing, released at the end.
 * Read answers run from the loop, never before this returns.
 */
static void
readq_flush(struct hs_ctx *ctx)
{
	struct hs_readq *q = ctx->readq;
	struct hs_want *v;
	size_t n;

	if (q == NULL || q->n == 0)
		return;
	v = q->v;
	n = q->n;
	q->v = NULL;
	q->n = q->cap = 0;
	for (int archived = 0; archived <= 1; archived++) {
		const char *ids[HS_BATCH_MAX];
		struct hs_hook **hooks = calloc(n, sizeof(*hooks));
		size_t nids = 0, nhooks = 0;

		for (size_t i = 0; i <= n; i++) {
			bool dup = false;

			if (i < n && (v[i].archived != archived || hooks ==
			    NULL))
				continue;
			if (i < n) {
				for (size_t k = 0; k < nids; k++)
					dup = dup || strcmp(ids[k], v[i].id) ==
					    0;
				if (!dup && nids == HS_BATCH_MAX) {
					read_send(ctx, ids, nids, archived,
					    hooks, nhooks);
					nids = nhooks = 0;
				}
				if (!dup)
					ids[nids++] = v[i].id;
				dup = false;
				for (size_t k = 0; k < nhooks; k++)
					dup = dup || hooks[k] == v[i].hook;
				if (!dup) {
					hooks[nhooks++] = v[i].hook;
					v[i].hook->waiting++;
				}
			} else if (nids > 0) {
				read_send(ctx, ids, nids, archived, hooks,
				    nhooks);
			}
		}
		if (hooks == NULL)
			for (size_t i = 0; i < n; i++)
				if (v[i].archived == archived)
					hook_fail(v[i].hook, "out of memory");
		free(hooks);
	}
	/* The queueing references. */
	for (size_t i = 0; i < n; i++)
		if (v[i].hook->queued) {
			v[i].hook->queued = false;
			hook_release(v[i].hook);
		}
	free(v);
}

static void
readq_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hs_ctx *ctx = arg;

	(void)fd;
	(void)what;
	ctx->readq->armed = false;
	readq_flush(ctx);
}

/* Queues id for hook h.  Returns 0 or -1 (out of memory). */
static int
want(struct hs_hook *h, const char *id, bool archived)
{
	struct hs_readq *q = readq(h->ctx);
	void *nv;

	if (q == NULL)
		return -1;
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].hook == h && q->v[i].archived == archived &&
		    strcmp(q->v[i].id, id) == 0)
			return 0;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;

		if ((nv = realloc(q->v, cap * sizeof(*q->v))) == NULL)
			return -1;
		q->v = nv;
		q->cap = cap;
	}
	q->v[q->n].hook = h;
	snprintf(q->v[q->n].id, sizeof(q->v[q->n].id), "%s", id);
	q->v[q->n].archived = archived;
	q->n++;
	if (!h->queued) {
		h->queued = true;
		h->waiting++;
	}
	return 0;
}

/* Arms the linger timer (or flushes now when there is no loop). */
static void
readq_arm(struct hs_ctx *ctx)
{
	struct hs_readq *q = ctx->readq;
	struct event_base *base = connector_base(ctx->ci);
	struct timeval tv;

	if (q == NULL || q->armed)
		return;
	if (q->timer == NULL && base != NULL)
		q->timer = evtimer_new(base, readq_timer, ctx);
	tv.tv_sec = ctx->read_linger_ms / 1000;
	tv.tv_usec = (ctx->read_linger_ms % 1000) * 1000;
	if (q->timer == NULL || evtimer_add(q->timer, &tv) == -1) {
		readq_flush(ctx);
		return;
	}
	q->armed = true;
}

/* ---- Deals ------------------------------------------------------------- */

struct hs_deal_read {
	struct hs_hook *hook;
	char id[HS_ID_MAX + 1];
};

static void
deal_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_deal_read *dr = arg;
	struct hs_hook *h = dr->hook;
	struct hs_deal d;
	char err[256], msg[HS_MESSAGE_MAX];

	if (r->status == 404) {
		connector_log(ctx->ci, LOG_LEVEL_DEBUG, "webhook: deal %s is "
		    "gone: skipped", dr->id);
	} else if (r->rc != CONNECTOR_OK) {
		hook_fail(h, r->message);
	} else if (hs_deal_parse(r->body, r->len, &d, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "deal read: %s", err);
		hook_fail(h, msg);
	} else if (d.contact[0] != '\0' && d.stage[0] != '\0') {
		json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "stage", d.stage,
		    "contact", d.contact, "currency", d.currency, "modified",
		    (json_int_t)d.modified);

		if (o != NULL && d.has_amount)
			json_object_set_new(o, "amount", json_real(d.amount));
		if (ctx->stopping)
			hook_fail(h, "connector stopping");
		else if (o == NULL || json_object_set_new(h->deals, dr->id,
		    o) == -1 || want(h, d.contact, false) == -1)
			hook_fail(h, "out of memory");
		else
			readq_arm(ctx);
	} else {
		connector_log(ctx->ci, LOG_LEVEL_DEBUG, "webhook: deal %s has "
		    "no stage or contact: skipped", dr->id);
	}
	free(dr);
	hook_release(h);
}

static int
deal_read(struct hs_hook *h, long long id)
{
	struct hs_deal_read *dr = calloc(1, sizeof(*dr));
	char path[256];

	if (dr == NULL)
		return -1;
	dr->hook = h;
	snprintf(dr->id, sizeof(dr->id), "%lld", id);
	snprintf(path, sizeof(path), "/crm/v3/objects/deals/%lld?properties="
	    "dealstage,amount,deal_currency_code,pipeline,hs_lastmodifieddate"
	    "&associations=contacts", id);
	h->waiting++;
	if (hs_api(h->ctx, "GET", path, NULL, h->ctx->read_timeout_ms,
	    deal_done, dr) == -1) {
		h->waiting--;
		free(dr);
		return -1;
	}
	return 0;
}

/* ---- Events ------------------------------------------------------------ */

static void
emit(struct hs_hook *h, const char *type, const char *key, const char *id,
    int64_t at, json_t *data)
{
	struct baton_event *ev = baton_event_new(type, key, id, at, data);

	if (ev == NULL || webhook_emit(h->call, ev) == -1)
		connector_log(h->ctx->ci, LOG_LEVEL_WARNING, "webhook: cannot "
		    "add event %s", id);
}

/* The lead key of a contact's email, or false (logged at debug). */
static bool
lead_key(struct hs_ctx *ctx, const char *what, const char *id,
    const char *email, char *key)
{
	char err[128];

	if (email == NULL || email[0] == '\0') {
		connector_log(ctx->ci, LOG_LEVEL_DEBUG, "webhook: %s of contact "
		    "%s: no email known: skipped", what, id);
		return false;
	}
	if (baton_event_lead_key(email, key, EVENT_LEAD_MAX + 1, err,
	    sizeof(err)) == -1) {
		connector_log(ctx->ci, LOG_LEVEL_DEBUG, "webhook: %s of contact "
		    "%s: %s: skipped", what, id, err);
		return false;
	}
	return true;
}

/* The email of contact id: from a read of this request, else from what
 * this process saw before. */
static const char *
email_of(struct hs_hook *h, const char *id)
{
	const char *e;

	e = json_string_value(json_object_get(json_object_get(h->archived,
	    id), "email"));
	if (e == NULL)
		e = json_string_value(json_object_get(json_object_get(
		    h->active, id), "email"));
	if (e == NULL)
		e = hs_echo_value(&h->ctx->emails, id, "email",
		    timestamp_now_ms());
	return e;
}

/* lead.upserted (and lead.status for role sales) for a read contact. */
static void
contact_events(struct hs_hook *h, const char *id, const json_t *p,
    bool status_too, json_t *done)
{
	struct hs_ctx *ctx = h->ctx;
	char key[EVENT_LEAD_MAX + 1], eid[96];
	int64_t at = json_integer_value(json_object_get(p, "__modified"));
	struct hs_activity acts[HS_ACTIVITIES_MAX];
	const char *st;
	size_t n;

	if (json_object_get(done, id) != NULL)
		return;
	json_object_set_new(done, id, json_true());
	if (!lead_key(ctx, "change", id, json_string_value(json_object_get(p,
	    "email")), key))
		return;
	if (at <= 0)
		at = timestamp_now_ms();
	snprintf(eid, sizeof(eid), "%s:%lld", id, (long long)at);
	emit(h, EVENT_LEAD_UPSERTED, key, eid, at, hs_contact_data(
	    &ctx->fields, p, id));
	n = hs_contact_activities(p, at, HS_ACTIVITY_WINDOW_MS, acts);
	for (size_t i = 0; i < n; i++) {
		snprintf(eid, sizeof(eid), "%s:%s:%lld", acts[i].activity, id,
		    (long long)acts[i].at);
		emit(h, EVENT_LEAD_ACTIVITY, key, eid, acts[i].at,
		    acts[i].data);
	}
	if (!status_too || !(connector_role(ctx->ci) &
	    CONNECTOR_ROLE_SALES))
		return;
	st = hs_status_map(&ctx->status, json_string_value(json_object_get(p,
	    "hs_lead_status")));
	if (st != NULL) {
		json_t *d = json_pack("{s:s,s:s}", "status", st, "id", id);
		const char *owner = json_string_value(json_object_get(p,
		    "hubspot_owner_id"));

		if (d != NULL && owner != NULL && owner[0] != '\0')
			json_object_set_new(d, "owner", json_string(owner));
		snprintf(eid, sizeof(eid), "%s:%lld:status", id,
		    (long long)at);
		emit(h, EVENT_LEAD_STATUS, key, eid, at, d);
	}
}

/* Turns the events and what was read into canonical events. */
static void
hook_events(struct hs_hook *h)
{
	struct hs_ctx *ctx = h->ctx;
	json_t *done = json_object();
	char id[HS_ID_MAX + 1], key[EVENT_LEAD_MAX + 1], eid[96];

	for (size_t i = 0; i < h->ev.n; i++) {
		const struct hs_event *e = &h->ev.v[i];
		const json_t *p;

		if (h->skip[i])
			continue;
		snprintf(id, sizeof(id), "%lld", e->object_id);
		if (strcmp(e->object, "contact") == 0 &&
		    (strcmp(e->action, "creation") == 0 ||
		    strcmp(e->action, "propertyChange") == 0 ||
		    strcmp(e->action, "restore") == 0)) {
			if ((p = json_object_get(h->active, id)) == NULL) {
				connector_log(ctx->ci, LOG_LEVEL_DEBUG,
				    "webhook: contact %s is gone: skipped", id);
				continue;
			}
			contact_events(h, id, p, strcmp(e->action,
			    "creation") == 0 || strcmp(e->property,
			    "hs_lead_status") == 0, done);
		} else if (strcmp(e->object, "contact") == 0 &&
		    strcmp(e->action, "deletion") == 0) {
			if (!lead_key(ctx, "deletion", id, email_of(h, id), key))
				continue;
			snprintf(eid, sizeof(eid), "deleted:%s:%lld", id,
			    (long long)e->occurred_at);
			emit(h, EVENT_LEAD_ACTIVITY, key, eid, e->occurred_at,
			    json_pack("{s:s,s:s}", "activity",
			    "contact_deleted", "id", id));
		} else if (strcmp(e->object, "contact") == 0 &&
		    strcmp(e->action, "privacyDeletion") == 0) {
			if (!lead_key(ctx, "privacy deletion", id, email_of(h,
			    id), key))
				/* HubSpot erased the email: the lead whose
				 * ids.<NAME> is this contact. */
				snprintf(key, sizeof(key), "%s%s",
				    EVENT_LEAD_REF, id);
			snprintf(eid, sizeof(eid), "forget:%s", id);
			emit(h, EVENT_LEAD_FORGET, key, eid, e->occurred_at,
			    json_pack("{s:s}", "reason", "privacy"));
		} else if (strcmp(e->object, "contact") == 0 &&
		    strcmp(e->action, "merge") == 0) {
			char pid[HS_ID_MAX + 1], from[EVENT_LEAD_MAX + 1];

			snprintf(pid, sizeof(pid), "%lld", e->primary_id);
			if ((p = json_object_get(h->active, pid)) != NULL)
				contact_events(h, pid, p, false, done);
			if (!lead_key(ctx, "merge", pid, email_of(h, pid), key))
				continue;
			for (size_t k = 0; k < e->nmerged; k++) {
				char mid[HS_ID_MAX + 1];

				snprintf(mid, sizeof(mid), "%lld",
				    e->merged[k]);
				if (!lead_key(ctx, "merge", mid, email_of(h,
				    mid), from) || strcmp(from, key) == 0)
					continue;
				snprintf(eid, sizeof(eid), "merge:%s:%s", pid,
				    mid);
				emit(h, EVENT_LEAD_MERGED, key, eid,
				    e->occurred_at, json_pack("{s:s,s:s,s:s}",
				    "from", from, "id", pid, "merged_id", mid));
			}
		} else if (strcmp(e->object, "deal") == 0) {
			const json_t *d = json_object_get(h->deals, id);
			const char *cid = json_string_value(json_object_get(d,
			    "contact"));
			const char *stage = json_string_value(json_object_get(d,
			    "stage"));
			const char *cur = json_string_value(json_object_get(d,
			    "currency"));
			int64_t at = json_integer_value(json_object_get(d,
			    "modified"));
			json_t *data;

			if (d == NULL || cid == NULL || !lead_key(ctx, "deal",
			    cid, email_of(h, cid), key))
				continue;
			/* A deal this connector created for a handoff. */
			if (strcmp(e->action, "creation") == 0 &&
			    hs_echo_match(&ctx->echo, id, "dealstage", stage,
			    timestamp_now_ms()))
				continue;
			if (at <= 0)
				at = e->occurred_at;
			data = json_pack("{s:s,s:s,s:s}", "stage", stage,
			    "outcome", hs_deal_outcome(stage), "deal", id);
			if (data != NULL && json_object_get(d, "amount"))
				json_object_set(data, "amount",
				    json_object_get(d, "amount"));
			if (data != NULL && cur != NULL && cur[0] != '\0')
				json_object_set_new(data, "currency",
				    json_string(cur));
			snprintf(eid, sizeof(eid), "deal:%s:%lld", id,
			    (long long)at);
			/* One deal event per request and version. */
			if (json_object_get(done, eid) != NULL) {
				json_decref(data);
				continue;
			}
			json_object_set_new(done, eid, json_true());
			emit(h, EVENT_DEAL_STAGE, key, eid, at, data);
		}
	}
	json_decref(done);
}

/* Completes a pending hook: its events, or 503. */
static void
hook_done(struct hs_hook *h)
{
	struct hs_ctx *ctx = h->ctx;
	int rc = 0;

	TAILQ_REMOVE(&ctx->readq->hooks, h, link);
	if (h->answered) {
		hook_free(h);
		return;
	}
	if (h->failed) {
		rc = webhook_reject(h->call, 503, "%s", h->why);
	} else {
		hook_events(h);
	}
	webhook_complete(h->call, rc);
	hook_free(h);
}

/* The hook's reads took too long: 503 now, so HubSpot hears back within
 * its 5 s whatever the HTTP client's queue does; the reads finish later
 * and only free the hook. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hs_hook *h = arg;
	int rc;

	(void)fd;
	(void)what;
	connector_log(h->ctx->ci, LOG_LEVEL_WARNING, "webhook: HubSpot's "
	    "reads did not answer within %lld ms: answering 503 so HubSpot "
	    "retries", (long long)hook_deadline_ms(h->ctx));
	rc = webhook_reject(h->call, 503, "HubSpot reads did not answer in "
	    "time");
	webhook_complete(h->call, rc);
	h->call = NULL;
	h->answered = true;
}

/* Arms the hook's deadline.  Without a loop, the reads' own timeouts
 * are all there is. */
static void
hook_arm_deadline(struct hs_hook *h)
{
	struct event_base *base = connector_base(h->ctx->ci);
	int64_t ms = hook_deadline_ms(h->ctx);
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	if (base != NULL && (h->deadline = evtimer_new(base, deadline_cb,
	    h)) != NULL && evtimer_add(h->deadline, &tv) == -1) {
		event_free(h->deadline);
		h->deadline = NULL;
	}
}

/* ---- webhook() --------------------------------------------------------- */

/* Whether e is a change this integration made (changeSource + sourceId). */
static bool
own_change(const struct hs_ctx *ctx, const struct hs_event *e)
{
	const char *s = e->source_id, *c;
	size_t al;

	if (ctx->app_id == NULL || (strcmp(e->change_source, "INTEGRATION") !=
	    0 && strcmp(e->change_source, "API") != 0))
		return false;
	if (strcmp(s, ctx->app_id) == 0)
		return true;
	/* "app:123456" and such */
	al = strlen(ctx->app_id);
	c = strrchr(s, ':');
	return c != NULL && strlen(c + 1) == al && strcmp(c + 1,
	    ctx->app_id) == 0 && strncmp(s, "userId", 6) != 0;
}

static int
check_signature(struct hs_ctx *ctx, struct webhook_call *call)
{
	struct hs_sig_input in = { 0 };
	char err[256], *uri = NULL;
	int rc;

	if (ctx->app_secret == NULL) {
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "webhook refused: no "
		    "app_secret is configured to verify it");
		return webhook_reject(call, 401, "no app_secret configured");
	}
	in.version = ctx->sig_version;
	in.secret = ctx->app_secret;
	in.method = webhook_method(call);
	in.body = webhook_body(call, &in.len);
	in.now_ms = timestamp_now_ms();
	if (ctx->sig_version == 3) {
		in.signature = webhook_header(call, "X-HubSpot-Signature-v3");
		in.timestamp = webhook_header(call,
		    "X-HubSpot-Request-Timestamp");
	} else {
		in.signature = webhook_header(call, "X-HubSpot-Signature");
	}
	if (ctx->sig_version >= 2 && (uri = hs_signed_uri(ctx->public_url,
	    webhook_header(call, "Host"), webhook_uri(call))) == NULL)
		return webhook_reject(call, 401, "no Host header and no "
		    "public_url: cannot rebuild the signed URL");
	in.uri = uri != NULL ? uri : "";
	rc = hs_signature_check(&in, err, sizeof(err));
	free(uri);
	if (rc == -1)
		return webhook_reject(call, 401, "%s", err);
	return 0;
}

int
hs_webhook(struct connector_instance *ci, struct webhook_call *call)
{
	struct hs_ctx *ctx = connector_ctx(ci);
	struct hs_hook *h;
	struct hs_readq *q;
	const unsigned char *body;
	char err[512], id[HS_ID_MAX + 1];
	size_t len, skipped = 0, reads = 0;
	bool sales = (connector_role(ci) & CONNECTOR_ROLE_SALES) != 0;
	int64_t now = timestamp_now_ms(), wait;

	if (check_signature(ctx, call) == -1)
		return -1;
	if ((h = calloc(1, sizeof(*h))) == NULL || (q = readq(ctx)) == NULL) {
		free(h);
		return webhook_reject(call, 503, "out of memory");
	}
	h->ctx = ctx;
	h->call = call;
	body = webhook_body(call, &len);
	if (hs_events_parse((const char *)body, len, &h->ev, err,
	    sizeof(err)) == -1) {
		hook_free(h);
		return webhook_reject(call, 400, "%s", err);
	}
	h->active = json_object();
	h->archived = json_object();
	h->deals = json_object();
	h->skip = calloc(h->ev.n, sizeof(*h->skip));
	if (h->active == NULL || h->archived == NULL || h->deals == NULL ||
	    h->skip == NULL) {
		hook_free(h);
		return webhook_reject(call, 503, "out of memory");
	}
	TAILQ_INSERT_TAIL(&q->hooks, h, link);
	h->waiting = 1;         /* held until every read is queued */
	for (size_t i = 0; i < h->ev.n; i++) {
		const struct hs_event *e = &h->ev.v[i];
		bool contact = strcmp(e->object, "contact") == 0;
		int rc = 0;

		snprintf(id, sizeof(id), "%lld", e->object_id);
		if (own_change(ctx, e) || (e->property[0] != '\0' &&
		    hs_echo_match(&ctx->echo, id, e->property, e->value,
		    now))) {
			h->skip[i] = true;
			skipped++;
			continue;
		}
		if (contact && (strcmp(e->action, "creation") == 0 ||
		    strcmp(e->action, "propertyChange") == 0 ||
		    strcmp(e->action, "restore") == 0)) {
			rc = want(h, id, false);
			reads++;
		} else if (contact && (strcmp(e->action, "deletion") == 0 ||
		    strcmp(e->action, "privacyDeletion") == 0)) {
			if (hs_echo_value(&ctx->emails, id, "email",
			    now) == NULL) {
				rc = want(h, id, true);
				reads++;
			}
		} else if (contact && strcmp(e->action, "merge") == 0) {
			char pid[HS_ID_MAX + 1];

			snprintf(pid, sizeof(pid), "%lld", e->primary_id);
			rc = want(h, pid, false);
			reads++;
			for (size_t k = 0; rc == 0 && k < e->nmerged; k++) {
				snprintf(id, sizeof(id), "%lld", e->merged[k]);
				if (hs_echo_value(&ctx->emails, id, "email",
				    now) != NULL)
					continue;
				rc = want(h, id, true);
				reads++;
			}
		} else if (strcmp(e->object, "deal") == 0 && sales &&
		    strcmp(e->action, "deletion") != 0) {
			rc = deal_read(h, e->object_id);
			reads++;
		} else {
			h->skip[i] = true;
			connector_log(ci, LOG_LEVEL_DEBUG, "webhook: %s.%s "
			    "event %lld not used", e->object, e->action,
			    e->event_id);
		}
		if (rc == -1) {
			h->failed = true;
			snprintf(h->why, sizeof(h->why), "out of memory");
			break;
		}
	}
	if (skipped > 0)
		connector_log(ci, LOG_LEVEL_DEBUG, "webhook: %zu of %zu event(s) "
		    "are this integration's own changes: skipped", skipped,
		    h->ev.n);
	if (!h->failed && reads > 0 && hs_api_paused(ctx, &wait)) {
		h->failed = true;
		snprintf(h->why, sizeof(h->why), "HubSpot's rate limit: retry "
		    "in %lld s", (long long)(wait + 999) / 1000);
	}
	if (reads == 0 || h->failed) {
		/* Nothing to read (or nothing will be): take this hook's ids
		 * out of the queue again and answer now. */
		size_t k = 0;
		int rc = 0;

		for (size_t i = 0; i < q->n; i++)
			if (q->v[i].hook != h)
				q->v[k++] = q->v[i];
		q->n = k;
		if (h->queued) {
			h->queued = false;
			h->waiting--;
		}
		if (h->waiting > 1) {
			/* A deal read is out: it completes the hook. */
			h->waiting--;
			hook_arm_deadline(h);
			return CONNECTOR_PENDING;
		}
		TAILQ_REMOVE(&q->hooks, h, link);
		if (h->failed)
			rc = webhook_reject(call, 503, "%s", h->why);
		else
			hook_events(h);
		hook_free(h);
		return rc;
	}
	if (h->queued)
		readq_arm(ctx);
	hook_arm_deadline(h);
	h->waiting--;           /* webhook()'s own reference */
	return CONNECTOR_PENDING;
}

/* Fails every hook still queued (their in-flight reads are cancelled by
 * the core after stop). */
void
hs_hook_stop(struct hs_ctx *ctx)
{
	struct hs_readq *q = ctx->readq;
	struct hs_want *v;
	size_t n;

	if (q == NULL)
		return;
	if (q->timer != NULL) {
		event_free(q->timer);
		q->timer = NULL;
	}
	q->armed = false;
	v = q->v;
	n = q->n;
	q->v = NULL;
	q->n = q->cap = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].hook->queued) {
			v[i].hook->queued = false;
			hook_fail(v[i].hook, "connector stopping");
			hook_release(v[i].hook);
		}
	free(v);
}

void
hs_hook_free(struct hs_ctx *ctx)
{
	struct hs_readq *q = ctx->readq;

	if (q == NULL)
		return;
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->v);
	free(q);
	ctx->readq = NULL;
}
