/*
 * sf_push.c - the Salesforce connector's deliver(): handoff.mql entries
 * become Leads through sObject Collections, 200 records a call at most.
 *
 * One batch goes like this:
 *   1. Every handoff.mql item is grouped by its lead key (the email); a
 *      key seen twice in a batch is pushed once, with its latest snapshot,
 *      and every item of the group gets that record's outcome.  Other
 *      types (sla.breached, ...) are not for the CRM and are set OK.
 *   2. Lookup: one SOQL query (more only when the keys would make it too
 *      long) finds the Leads that already exist, by Email (open Leads
 *      only, the oldest first) or by the external id field of `match`.
 *   3. Write.  With match = Email: POST composite/sobjects creates the
 *      missing Leads and PATCH composite/sobjects updates the found ones
 *      by Id.  With an external id field: one PATCH
 *      composite/sobjects/Lead/<Field> upserts them all, which stays
 *      idempotent even when a create's answer was lost.  Created Leads
 *      get the placeholders for required fields, LeadSource and OwnerId;
 *      updates never overwrite what a rep filled in with a placeholder.
 *   4. Each record's result is its items' result: OK with the Lead's Id
 *      (delivery_set_record_id), RETRY for a transient statusCode, DROP
 *      with "STATUSCODE: message (fields)".  A call that fails as a whole
 *      sets all of its items from the HTTP status (http_classify,
 *      Retry-After, 403 REQUEST_LIMIT_EXCEEDED and 401 retried later).
 * The lookup after a lost answer finds the Lead the create made, so a
 * retried create updates instead of making a second Lead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/connector.h>

#include "sf_int.h"

#define LOOKUP_SOQL_MAX 8000    /* characters of one lookup query */

/* The items of one lead key in the batch. */
struct sf_group {
	const char *key;                /* the lead key (borrowed from b) */
	size_t item;                    /* the latest item: its snapshot */
	char id[SF_ID_MAX + 1];         /* existing Lead, "" when none */
	bool done;                      /* result set on the items */
};

struct sf_push {
	struct sf_ctx *ctx;
	struct delivery_batch *b;
	size_t n;                       /* items */
	size_t *group_of;               /* per item; SIZE_MAX: not pushed */
	struct sf_group *g;
	size_t ng;
	const char **keys;              /* group keys, for the lookup */
	size_t lookup_from, lookup_used;
	int pending;                    /* write calls out */
};

struct sf_write {                       /* one collections call */
	struct sf_push *p;
	bool create;                    /* POST: not idempotent */
	size_t *groups;                 /* the groups of its records */
	size_t n;
};

static void push_write(struct sf_push *p);

/* ---- Results ----------------------------------------------------------- */

static void
push_free(struct sf_push *p)
{
	if (p == NULL)
		return;
	free(p->group_of);
	free(p->g);
	free(p->keys);
	free(p);
}

/* Sets every item of group gi. */
static void
group_result(struct sf_push *p, size_t gi, enum connector_result rc,
    int64_t retry_after_ms, const char *id, const char *msg)
{
	p->g[gi].done = true;
	delivery_set_group_result(p->b, p->group_of, gi, rc, retry_after_ms,
	    id, msg);
}

/* Sets every group without a result yet; ends the batch. */
static void
push_finish(struct sf_push *p, enum connector_result rc,
    int64_t retry_after_ms, const char *msg)
{
	for (size_t gi = 0; gi < p->ng; gi++)
		if (!p->g[gi].done)
			group_result(p, gi, rc, retry_after_ms, NULL, msg);
	delivery_complete(p->b);
	push_free(p);
}

/* ---- Lookup ------------------------------------------------------------ */

static int lookup_next(struct sf_push *p);

/* Records the Ids a lookup page found; the oldest match per key wins. */
static void
lookup_page(struct sf_push *p, const json_t *records)
{
	const char *field = p->ctx->match;
	const json_t *rec;
	size_t i;

	json_array_foreach(records, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "Id"));
		const char *v = json_string_value(json_object_get(rec, field));

		if (v == NULL || !sf_id_valid(id))
			continue;
		for (size_t gi = 0; gi < p->ng; gi++)
			if (p->g[gi].id[0] == '\0' &&
			    strcasecmp(p->g[gi].key, v) == 0)
				snprintf(p->g[gi].id, sizeof(p->g[gi].id), "%s",
				    id);
	}
}

static void
lookup_done(struct sf_ctx *ctx, const struct sf_reply *r, void *arg)
{
	struct sf_push *p = arg;
	struct sf_page pg;
	char err[256], msg[SF_MESSAGE_MAX];

	if (r->rc != CONNECTOR_OK) {
		push_finish(p, r->rc, r->retry_after_ms, r->message);
		return;
	}
	if (sf_page_parse(r->body, r->len, &pg, err, sizeof(err)) == -1) {
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "lead lookup: %s",
		    err);
		snprintf(msg, sizeof(msg), "lead lookup: %s", err);
		push_finish(p, CONNECTOR_RETRY, 0, msg);
		return;
	}
	lookup_page(p, pg.records);
	if (pg.next_url != NULL) {
		if (sf_api(ctx, "GET", pg.next_url, NULL, NULL, lookup_done,
		    p) == -1)
			push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
		sf_page_clear(&pg);
		return;
	}
	sf_page_clear(&pg);
	p->lookup_from += p->lookup_used;
	if (p->lookup_from >= p->ng)
		push_write(p);
	else if (lookup_next(p) == -1)
		push_finish(p, CONNECTOR_RETRY, 0, "lead lookup: out of "
		    "memory");
}

/* Queries the next keys.  Returns 0 (lookup_done runs later) or -1 when
 * out of memory (lead keys hold no byte SOQL cannot quote). */
static int
lookup_next(struct sf_push *p)
{
	struct sf_ctx *ctx = p->ctx;
	const char *tail = strcasecmp(ctx->match, "Email") == 0 ?
	    " AND IsConverted = false ORDER BY CreatedDate ASC, Id ASC" :
	    " ORDER BY CreatedDate ASC, Id ASC";
	char select[128], *soql, *q, *path = NULL;

	snprintf(select, sizeof(select), "Id, %s", ctx->match);
	soql = sf_soql_in(select, "Lead", ctx->match, p->keys + p->lookup_from,
	    p->ng - p->lookup_from, tail, LOOKUP_SOQL_MAX, &p->lookup_used);
	if (soql == NULL)
		return -1;
	q = sf_url_encode(soql);
	free(soql);
	if (q == NULL || asprintf(&path, "%s/query?q=%s", ctx->data_path,
	    q) == -1)
		path = NULL;
	free(q);
	if (path == NULL || sf_api(ctx, "GET", path, NULL, NULL, lookup_done,
	    p) == -1) {
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* ---- Write ------------------------------------------------------------- */

static void
write_done(struct sf_ctx *ctx, const struct sf_reply *r, void *arg)
{
	struct sf_write *w = arg;
	struct sf_push *p = w->p;
	struct sf_item_result *res = NULL;
	char err[256], msg[SF_MESSAGE_MAX];

	if (r->rc != CONNECTOR_OK) {
		int64_t wait = r->retry_after_ms;

		/* No answer to a create: Salesforce may still commit it, and
		 * the retry's lookup must come after that. */
		if (w->create && r->status == 0 && r->rc == CONNECTOR_RETRY &&
		    wait < ctx->create_settle_ms)
			wait = ctx->create_settle_ms;
		for (size_t k = 0; k < w->n; k++)
			group_result(p, w->groups[k], r->rc, wait, NULL,
			    r->message);
	} else if ((res = calloc(w->n, sizeof(*res))) == NULL ||
	    sf_collection_parse(r->body, r->len, w->n, res, err,
	    sizeof(err)) == -1) {
		if (res == NULL)
			snprintf(err, sizeof(err), "out of memory");
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "lead push: %s", err);
		snprintf(msg, sizeof(msg), "lead push: %s", err);
		for (size_t k = 0; k < w->n; k++)
			group_result(p, w->groups[k], CONNECTOR_RETRY, 0, NULL,
			    msg);
	} else {
		for (size_t k = 0; k < w->n; k++) {
			const struct sf_item_result *ir = &res[k];

			group_result(p, w->groups[k], ir->rc == SF_ITEM_OK ?
			    CONNECTOR_OK : ir->rc == SF_ITEM_RETRY ?
			    CONNECTOR_RETRY : CONNECTOR_DROP, 0, ir->id,
			    ir->message);
		}
	}
	free(res);
	free(w->groups);
	free(w);
	if (--p->pending == 0)
		push_finish(p, CONNECTOR_RETRY, 0, "no result");
}

/*
 * Sends one collections call for the groups marked in sel (create: the
 * ones without an Id).  Groups whose record cannot be built are dropped
 * here.  Returns 0 (a call is out, or nothing was left to send), -1 when
 * out of memory.
 */
static int
write_call(struct sf_push *p, const char *method, const char *path,
    bool with_ids, bool (*want)(const struct sf_push *, size_t))
{
	struct sf_ctx *ctx = p->ctx;
	struct sf_write *w;
	json_t **fields = calloc(p->ng, sizeof(*fields));
	const char **ids = calloc(p->ng, sizeof(*ids));
	char err[256], *body = NULL;
	const char *hdr;
	size_t k = 0;
	int rc = -1;

	w = calloc(1, sizeof(*w));
	if (w == NULL || fields == NULL || ids == NULL ||
	    (w->groups = calloc(p->ng, sizeof(*w->groups))) == NULL)
		goto out;
	w->p = p;
	w->create = strcmp(method, "POST") == 0;
	for (size_t gi = 0; gi < p->ng; gi++) {
		struct sf_group *g = &p->g[gi];
		const struct baton_event *ev;

		if (g->done || !want(p, gi))
			continue;
		ev = delivery_event(p->b, g->item);
		fields[k] = sf_lead_fields(ev->data, g->key, &ctx->lead_opts,
		    g->id[0] == '\0', err, sizeof(err));
		if (fields[k] == NULL) {
			group_result(p, gi, CONNECTOR_DROP, 0, NULL, err);
			continue;
		}
		ids[k] = g->id;
		w->groups[k++] = gi;
	}
	w->n = k;
	rc = 0;
	if (k == 0)
		goto out;
	if ((body = sf_collection_body(fields, with_ids ? ids : NULL, k, err,
	    sizeof(err))) == NULL) {
		rc = -1;
		goto out;
	}
	/* Assignment rules run on creates unless an owner is configured;
	 * an update never reassigns a Lead a rep already works. */
	hdr = strcmp(method, "PATCH") == 0 && with_ids ?
	    "Sforce-Auto-Assign: FALSE" : ctx->owner != NULL ?
	    "Sforce-Auto-Assign: FALSE" : "Sforce-Auto-Assign: TRUE";
	if (sf_api(ctx, method, path, body, hdr, write_done, w) == -1) {
		rc = -1;
		goto out;
	}
	p->pending++;
	w = NULL;
out:
	for (size_t i = 0; fields != NULL && i < k; i++)
		json_decref(fields[i]);
	free(fields);
	free(ids);
	free(body);
	if (w != NULL)
		free(w->groups);
	free(w);
	return rc;
}

static bool
want_new(const struct sf_push *p, size_t gi)
{
	return p->g[gi].id[0] == '\0';
}

static bool
want_found(const struct sf_push *p, size_t gi)
{
	return p->g[gi].id[0] != '\0';
}

static bool
want_all(const struct sf_push *p, size_t gi)
{
	(void)p;
	(void)gi;
	return true;
}

static void
push_write(struct sf_push *p)
{
	struct sf_ctx *ctx = p->ctx;
	char *path = NULL;
	int rc;

	p->pending++;           /* held while the calls are started */
	if (strcasecmp(ctx->match, "Email") == 0) {
		if (asprintf(&path, "%s/composite/sobjects",
		    ctx->data_path) == -1)
			path = NULL;
		rc = path == NULL ? -1 :
		    write_call(p, "POST", path, false, want_new);
		if (rc == 0)
			rc = write_call(p, "PATCH", path, true, want_found);
	} else {
		if (asprintf(&path, "%s/composite/sobjects/Lead/%s",
		    ctx->data_path, ctx->match) == -1)
			path = NULL;
		rc = path == NULL ? -1 :
		    write_call(p, "PATCH", path, false, want_all);
	}
	free(path);
	if (rc == -1)
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "lead push: out of "
		    "memory");
	/* Groups no call took (out of memory) retry; the batch ends when
	 * the last call answers. */
	if (--p->pending == 0)
		push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
}

/* ---- deliver() --------------------------------------------------------- */

/* The group of key, made when new; SIZE_MAX when out of memory. */
static size_t
group_for(struct sf_push *p, const char *key, size_t item)
{
	for (size_t gi = 0; gi < p->ng; gi++)
		if (strcmp(p->g[gi].key, key) == 0) {
			p->g[gi].item = item;
			return gi;
		}
	p->g[p->ng].key = key;
	p->g[p->ng].item = item;
	p->keys[p->ng] = key;
	return p->ng++;
}

/*
 * Pushes one batch (see the top of this file).  Returns CONNECTOR_PENDING,
 * or 0 when the batch was completed before returning (nothing to push,
 * stopping, or out of memory).
 */
int
sf_deliver(struct connector_instance *ci, struct delivery_batch *b)
{
	struct sf_ctx *ctx = connector_ctx(ci);
	struct sf_push *p = calloc(1, sizeof(*p));
	size_t n = delivery_count(b);

	if (p == NULL || (p->group_of = calloc(n + 1,
	    sizeof(*p->group_of))) == NULL ||
	    (p->g = calloc(n + 1, sizeof(*p->g))) == NULL ||
	    (p->keys = calloc(n + 1, sizeof(*p->keys))) == NULL) {
		push_free(p);
		for (size_t i = 0; i < n; i++)
			delivery_set_result(b, i, CONNECTOR_RETRY, 0,
			    "out of memory");
		delivery_complete(b);
		return 0;
	}
	p->ctx = ctx;
	p->b = b;
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		const struct baton_event *ev = delivery_event(b, i);

		p->group_of[i] = SIZE_MAX;
		if (ev == NULL || ev->type == NULL ||
		    strcmp(ev->type, "handoff.mql") != 0) {
			delivery_set_result(b, i, CONNECTOR_OK, 0, "%s",
			    "not for the CRM");
			continue;
		}
		if (ev->lead == NULL || ev->lead[0] == '\0' ||
		    !json_is_object(ev->data)) {
			delivery_set_result(b, i, CONNECTOR_DROP, 0, "%s",
			    "handoff without a lead email or data");
			continue;
		}
		p->group_of[i] = group_for(p, ev->lead, i);
	}
	if (p->ng == 0 || ctx->stopping) {
		push_finish(p, CONNECTOR_RETRY, 0, "connector stopping");
		return 0;
	}
	if (lookup_next(p) == -1) {
		push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
		return 0;
	}
	return CONNECTOR_PENDING;
}
