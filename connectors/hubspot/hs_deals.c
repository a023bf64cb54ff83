/*
 * hs_deals.c - the deal half of a handoff to HubSpot as the CRM (role
 * sales, key `deals`): once hs_push.c has upserted the handed-off
 * contacts, each gets a deal the sales team works from.
 *
 * For the groups whose contact was written, at most four calls:
 *   1. POST /crm/v4/associations/contacts/deals/batch/read: each
 *      contact's deals; the newest (highest id) is the one considered.
 *   2. POST /crm/v3/objects/deals/batch/read of those deals' dealstage:
 *      a deal not closedwon/closedlost is open.
 *   3. A contact whose newest deal is open has it updated (batch update:
 *      description = the reasons it qualified again); the others get a
 *      new deal (batch create: dealname, deal_pipeline, deal_stage,
 *      description), associated to the contact in the same call.
 *      Both calls go out together.
 * A retried handoff finds the deal it created in step 1, so a lost answer
 * does not make a second deal: a create that got no answer (a timeout, a
 * dropped connection) is retried only after create_settle, by when
 * HubSpot has committed it or not.  Every property written is noted in the
 * echo record under the deal's id, so the deal webhooks of these writes
 * are not ingested as a rep's work.  Results: OK with the contact's id
 * once its deal is written; a call refused with a 4xx drops its groups
 * with "deal: CATEGORY: message" (a bad deal_stage is a configuration
 * error the DLQ shows); any other failure retries the group, contact
 * upsert included (an upsert is idempotent).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/connector.h>

#include "hs_int.h"
#include "hs_push.h"

struct hs_deal_call {                   /* one create or update call */
	struct hs_push *p;
	size_t *groups;
	size_t n;
	bool create;
};

static void deals_write(struct hs_push *p);

/* Sets the result of every written group not done yet. */
static void
written_fail(struct hs_push *p, enum connector_result rc,
    int64_t retry_after_ms, const char *msg)
{
	for (size_t gi = 0; gi < p->ng; gi++)
		if (p->g[gi].written && !p->g[gi].done)
			hs_push_group_result(p, gi, rc, retry_after_ms, NULL,
			    msg);
}

/* A whole call's failure as the groups' result: a 4xx HubSpot explains
 * (a bad value) drops them, anything else retries. */
static void
call_failed(struct hs_push *p, const size_t *groups, size_t n,
    const struct hs_reply *r, bool create)
{
	char msg[HS_MESSAGE_MAX + 32];
	int64_t wait = r->retry_after_ms;

	/* No answer to a create: it may still commit, and the retry must
	 * find it in step 1. */
	if (create && r->status == 0 && wait < p->ctx->create_settle_ms)
		wait = p->ctx->create_settle_ms;
	if (r->rc == CONNECTOR_DROP && r->category[0] != '\0')
		snprintf(msg, sizeof(msg), "deal: %s: %s", r->category,
		    r->detail);
	else
		snprintf(msg, sizeof(msg), "deal: %s", r->message);
	for (size_t k = 0; k < n; k++)
		hs_push_group_result(p, groups[k], r->rc, wait, NULL, msg);
}

/* A read of step 1 or 2 failed (what/err: its answer could not be
 * parsed): every written group retries, and the batch completes. */
static void
read_failed(struct hs_push *p, const struct hs_reply *r, const char *what,
    const char *err)
{
	char msg[HS_MESSAGE_MAX + 32];

	if (what == NULL) {
		snprintf(msg, sizeof(msg), "deal: %s", r->message);
		written_fail(p, r->rc == CONNECTOR_DROP ? CONNECTOR_RETRY :
		    r->rc, r->retry_after_ms, msg);
	} else {
		snprintf(msg, sizeof(msg), "%s: %s", what, err);
		connector_log(p->ctx->ci, LOG_LEVEL_WARNING, "%s", msg);
		written_fail(p, CONNECTOR_RETRY, 0, msg);
	}
	hs_push_finish(p, CONNECTOR_RETRY, 0, msg);
}

/* Whether numeric id a is newer (greater) than b ("" is oldest). */
static bool
id_newer(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? la > lb : strcmp(a, b) > 0;
}

/* ---- 2. The newest deals' stages --------------------------------------- */

static void
stages_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_push *p = arg;
	struct hs_result res;
	char err[256];

	(void)ctx;
	if (r->rc != CONNECTOR_OK) {
		read_failed(p, r, NULL, NULL);
		return;
	}
	if (hs_result_parse(r->body, r->len, false, &res, err,
	    sizeof(err)) == -1) {
		read_failed(p, r, "deal read", err);
		return;
	}
	/* A deal missing from the answer (deleted meanwhile) is not open. */
	for (size_t i = 0; i < res.n; i++) {
		const char *stage = json_string_value(json_object_get(
		    res.v[i].props, "dealstage"));

		if (res.v[i].archived ||
		    strcmp(hs_deal_outcome(stage), "open") != 0)
			continue;
		for (size_t gi = 0; gi < p->ng; gi++)
			if (p->g[gi].written &&
			    strcmp(p->g[gi].latest, res.v[i].id) == 0)
				snprintf(p->g[gi].deal, sizeof(p->g[gi].deal),
				    "%s", res.v[i].id);
	}
	hs_result_clear(&res);
	deals_write(p);
}

/* ---- 1. Each contact's deals ------------------------------------------- */

static void
assoc_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	static const char *const props[] = { "dealstage", "pipeline" };
	struct hs_push *p = arg;
	struct hs_assoc a;
	const char **ids = NULL;
	size_t nids = 0;
	char err[256], *body = NULL;

	if (r->rc != CONNECTOR_OK) {
		read_failed(p, r, NULL, NULL);
		return;
	}
	if (hs_assoc_parse(r->body, r->len, &a, err, sizeof(err)) == -1) {
		read_failed(p, r, "deal associations", err);
		return;
	}
	for (size_t i = 0; i < a.n; i++)
		for (size_t gi = 0; gi < p->ng; gi++)
			if (p->g[gi].written &&
			    strcmp(p->g[gi].id, a.v[i].from) == 0 &&
			    id_newer(a.v[i].to, p->g[gi].latest))
				snprintf(p->g[gi].latest,
				    sizeof(p->g[gi].latest), "%s", a.v[i].to);
	hs_assoc_clear(&a);
	if ((ids = calloc(p->ng + 1, sizeof(*ids))) == NULL)
		goto oom;
	for (size_t gi = 0; gi < p->ng; gi++)
		if (p->g[gi].written && p->g[gi].latest[0] != '\0')
			ids[nids++] = p->g[gi].latest;
	if (nids == 0) {
		free(ids);
		deals_write(p);
		return;
	}
	body = hs_batch_read_body(ids, nids, NULL, props,
	    sizeof(props) / sizeof(props[0]));
	free(ids);
	if (body == NULL || hs_api(ctx, "POST",
	    "/crm/v3/objects/deals/batch/read?archived=false", body, 0,
	    stages_done, p) == -1)
		goto oom;
	free(body);
	return;
oom:
	free(body);
	written_fail(p, CONNECTOR_RETRY, 0, "out of memory");
	hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
}

void
hs_deals_push(struct hs_push *p)
{
	const char **ids = calloc(p->ng + 1, sizeof(*ids));
	size_t n = 0;
	char *body = NULL;

	for (size_t gi = 0; ids != NULL && gi < p->ng; gi++)
		if (p->g[gi].written && !p->g[gi].done)
			ids[n++] = p->g[gi].id;
	if (ids != NULL && n == 0) {
		free(ids);
		hs_push_finish(p, CONNECTOR_RETRY, 0, "no result");
		return;
	}
	if (ids != NULL)
		body = hs_assoc_read_body(ids, n);
	free(ids);
	if (body == NULL || hs_api(p->ctx, "POST",
	    "/crm/v4/associations/contacts/deals/batch/read", body, 0,
	    assoc_done, p) == -1) {
		written_fail(p, CONNECTOR_RETRY, 0, "out of memory");
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
	}
	free(body);
}

/* ---- 3. Create or update ----------------------------------------------- */

static void
write_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_deal_call *c = arg;
	struct hs_push *p = c->p;
	struct hs_result res;
	char err[256], msg[HS_MESSAGE_MAX + 32];

	memset(&res, 0, sizeof(res));
	if (r->rc != CONNECTOR_OK) {
		call_failed(p, c->groups, c->n, r, c->create);
	} else if (hs_result_parse(r->body, r->len, false, &res, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "deal %s: %s", c->create ?
		    "create" : "update", err);
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "%s", msg);
		for (size_t k = 0; k < c->n; k++)
			hs_push_group_result(p, c->groups[k], CONNECTOR_RETRY,
			    0, NULL, msg);
	} else {
		/* Created deals are noted by the ids the answer gives. */
		for (size_t i = 0; c->create && i < res.n; i++)
			hs_push_note_written(ctx, res.v[i].id, res.v[i].props);
		for (size_t k = 0; k < c->n; k++) {
			struct hs_group *g = &p->g[c->groups[k]];
			const struct hs_item_error *e = NULL;

			for (size_t i = 0; !c->create && i < res.nerrors; i++)
				if (hs_item_error_has(&res.errors[i], g->deal))
					e = &res.errors[i];
			if (e != NULL) {
				/* Deleted since step 2: the retry creates
				 * one. */
				snprintf(msg, sizeof(msg), "deal %s: %s: %s",
				    g->deal, e->category, e->message);
				hs_push_group_result(p, c->groups[k],
				    CONNECTOR_RETRY, 0, NULL, msg);
				continue;
			}
			if (!c->create)
				hs_push_note_written(ctx, g->deal,
				    g->deal_update);
			hs_push_group_result(p, c->groups[k], CONNECTOR_OK, 0,
			    g->id, "");
		}
	}
	hs_result_clear(&res);
	free(c->groups);
	free(c);
	if (--p->pending == 0)
		hs_push_finish(p, CONNECTOR_RETRY, 0, "no result");
}

/* Starts one create (or update) call for the written groups that need
 * it; groups it cannot start for are set to retry. */
static void
deals_send(struct hs_push *p, bool create)
{
	struct hs_deal_call *c = calloc(1, sizeof(*c));
	const char **keys = calloc(p->ng + 1, sizeof(*keys));
	json_t **props = calloc(p->ng + 1, sizeof(*props));
	char *body = NULL;

	if (c == NULL || keys == NULL || props == NULL ||
	    (c->groups = calloc(p->ng + 1, sizeof(*c->groups))) == NULL)
		goto fail;
	c->p = p;
	c->create = create;
	for (size_t gi = 0; gi < p->ng; gi++) {
		struct hs_group *g = &p->g[gi];

		if (!g->written || g->done || (g->deal[0] == '\0') != create)
			continue;
		if (!create && json_object_size(g->deal_update) == 0) {
			/* Nothing to say to an open deal. */
			hs_push_group_result(p, gi, CONNECTOR_OK, 0, g->id,
			    "");
			continue;
		}
		if ((create ? g->deal_props : g->deal_update) == NULL)
			goto fail;
		keys[c->n] = create ? g->id : g->deal;
		props[c->n] = create ? g->deal_props : g->deal_update;
		c->groups[c->n++] = gi;
	}
	if (c->n == 0) {
		free(c->groups);
		free(c);
		c = NULL;
		goto done;
	}
	body = create ? hs_deal_create_body(keys, props, c->n) :
	    hs_batch_write_body(keys, props, c->n, true);
	if (body == NULL || hs_api(p->ctx, "POST", create ?
	    "/crm/v3/objects/deals/batch/create" :
	    "/crm/v3/objects/deals/batch/update", body, 0, write_done,
	    c) == -1)
		goto fail;
	p->pending++;
	c = NULL;
	goto done;
fail:
	for (size_t gi = 0; gi < p->ng; gi++)
		if (p->g[gi].written && !p->g[gi].done &&
		    (p->g[gi].deal[0] == '\0') == create)
			hs_push_group_result(p, gi, CONNECTOR_RETRY, 0, NULL,
			    "out of memory");
done:
	if (c != NULL)
		free(c->groups);
	free(c);
	free(keys);
	free(props);
	free(body);
}

static void
deals_write(struct hs_push *p)
{
	p->pending++;           /* held while the calls start */
	deals_send(p, true);
	deals_send(p, false);
	if (--p->pending == 0)
		hs_push_finish(p, CONNECTOR_RETRY, 0, "no result");
}
