/*
 * hs_push.c - the HubSpot connector's deliver(): feedback (role
 * marketing) and handoffs (role sales) become contact updates, 100
 * contacts a call at most, and handoffs deals as well.
 *
 * One batch goes like this:
 *   1. Items are grouped by lead key (the email); a group's properties are
 *      its items' in stream order (later values win, the lifecycle target
 *      is the highest one).  feedback.* sets lifecyclestage (forward only:
 *      accepted -> marketingqualifiedlead, sql -> salesqualifiedlead,
 *      opportunity, won -> customer; lost, rejected and recycled never
 *      move it), hs_lead_status (lead_status.* and its defaults) and
 *      baton_stage, baton_reason, baton_score, baton_owner, baton_updated
 *      (ISO 8601, as HubSpot shows datetime properties).  handoff.mql sets the mapped contact properties of the
 *      snapshot's attrs, lifecyclestage marketingqualifiedlead (forward
 *      only), baton_stage mql, baton_score, baton_owner, baton_updated
 *      and, as baton_reason, "Qualified because: " and the reasons.
 *      baton_stage is forward only too (mql < sal < sql < opportunity <
 *      customer), except that rejected, recycled and lost are explicit
 *      moves back and always written: a feedback.sql that the rules emit
 *      right after feedback.won leaves "customer".  Other types are not
 *      for HubSpot and are set OK.
 *   2. The baton_* properties are created the first time (POST
 *      /crm/v3/properties/contacts each; 409 means it exists).
 *   3. One batch read by email learns each contact's lifecyclestage and
 *      baton_stage, so a backward value is never sent.
 *   4. One batch upsert by email writes every group.  Each result is its
 *      items' result: OK with the contact id (delivery_set_record_id), and
 *      each property written is noted in the echo record; a per-item
 *      error of a 207 drops that contact's items with HubSpot's "CATEGORY:
 *      message"; a 400 refusing the whole call is retried contact by
 *      contact, so one bad value drops only its own items.  A call that
 *      fails as a whole sets all its items from the HTTP status (429:
 *      RETRY with the policy's wait).
 *   5. Role sales with `deals` (the default): a handoff's contact, once
 *      written, gets a deal too (hs_deals.c); its items' result waits
 *      for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/connector.h>
#include <baton/timestamp.h>

#include "hs_int.h"
#include "hs_push.h"

struct hs_write {                       /* one upsert call */
	struct hs_push *p;
	size_t *groups;
	size_t n;
};

static void push_write(struct hs_push *p);
static int push_lookup(struct hs_push *p);

/* ---- Results ----------------------------------------------------------- */

static void
push_free(struct hs_push *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->g != NULL && i < p->ng; i++) {
		json_decref(p->g[i].props);
		json_decref(p->g[i].deal_props);
		json_decref(p->g[i].deal_update);
	}
	free(p->group_of);
	free(p->g);
	free(p);
}

void
hs_push_group_result(struct hs_push *p, size_t gi, enum connector_result rc,
    int64_t retry_after_ms, const char *id, const char *msg)
{
	p->g[gi].done = true;
	delivery_set_group_result(p->b, p->group_of, gi, rc, retry_after_ms,
	    id, msg);
}

void
hs_push_finish(struct hs_push *p, enum connector_result rc,
    int64_t retry_after_ms, const char *msg)
{
	for (size_t gi = 0; gi < p->ng; gi++)
		if (!p->g[gi].done)
			hs_push_group_result(p, gi, rc, retry_after_ms, NULL,
			    msg);
	delivery_complete(p->b);
	push_free(p);
}

/* ---- Properties -------------------------------------------------------- */

static void
prop_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_push *p = arg;
	char *body;

	if (r->rc != CONNECTOR_OK && r->status != 409) {
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "creating the "
		    "baton_* properties: %s", r->message);
		hs_push_finish(p, r->rc == CONNECTOR_DROP ? CONNECTOR_RETRY :
		    r->rc, r->retry_after_ms, r->message);
		return;
	}
	if ((body = hs_property_body(++p->prop_next)) == NULL) {
		connector_log(ctx->ci, LOG_LEVEL_INFO, "the baton_* contact "
		    "properties exist");
		ctx->props_ready = true;
		(void)push_lookup(p);
		return;
	}
	if (hs_api(ctx, "POST", "/crm/v3/properties/contacts", body, 0,
	    prop_done, p) == -1)
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
	free(body);
}

/* ---- Lookup ------------------------------------------------------------ */

static void
lookup_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_push *p = arg;
	struct hs_result res;
	char err[256], msg[HS_MESSAGE_MAX];

	if (r->rc != CONNECTOR_OK) {
		hs_push_finish(p, r->rc == CONNECTOR_DROP ? CONNECTOR_RETRY :
		    r->rc, r->retry_after_ms, r->message);
		return;
	}
	if (hs_result_parse(r->body, r->len, false, &res, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "contact lookup: %s", err);
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "%s", msg);
		hs_push_finish(p, CONNECTOR_RETRY, 0, msg);
		return;
	}
	for (size_t i = 0; i < res.n; i++) {
		const char *email = json_string_value(json_object_get(
		    res.v[i].props, "email"));
		const char *life = json_string_value(json_object_get(
		    res.v[i].props, "lifecyclestage"));
		const char *bs = json_string_value(json_object_get(
		    res.v[i].props, "baton_stage"));

		if (email == NULL)
			continue;
		hs_note_email(ctx, res.v[i].id, email);
		for (size_t gi = 0; gi < p->ng; gi++)
			if (strcasecmp(p->g[gi].key, email) == 0) {
				snprintf(p->g[gi].id, sizeof(p->g[gi].id),
				    "%s", res.v[i].id);
				snprintf(p->g[gi].current,
				    sizeof(p->g[gi].current), "%s",
				    life != NULL ? life : "");
				snprintf(p->g[gi].cur_stage,
				    sizeof(p->g[gi].cur_stage), "%s",
				    bs != NULL ? bs : "");
			}
	}
	hs_result_clear(&res);
	push_write(p);
}

/* Reads the groups' lifecycle stages.  Returns 0, or -1 when the batch
 * was completed instead (out of memory). */
static int
push_lookup(struct hs_push *p)
{
	static const char *const props[] = { "email", "lifecyclestage",
	    "hs_lead_status", "baton_stage" };
	const char **keys = calloc(p->ng, sizeof(*keys));
	char *body = NULL;

	for (size_t gi = 0; keys != NULL && gi < p->ng; gi++)
		keys[gi] = p->g[gi].key;
	if (keys != NULL)
		body = hs_batch_read_body(keys, p->ng, "email", props,
		    sizeof(props) / sizeof(props[0]));
	free(keys);
	if (body == NULL || hs_api(p->ctx, "POST",
	    "/crm/v3/objects/contacts/batch/read?archived=false", body, 0,
	    lookup_done, p) == -1) {
		free(body);
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
		return -1;
	}
	free(body);
	return 0;
}

/* ---- Write ------------------------------------------------------------- */

/* The properties group gi sends: its own plus a forward lifecycle and
 * baton_stage. */
static json_t *
group_props(struct hs_group *g)
{
	json_t *o = json_deep_copy(g->props);
	const char *life = hs_lifecycle_forward(g->current, g->want);

	if (o != NULL && life != NULL)
		json_object_set_new(o, "lifecyclestage", json_string(life));
	if (o != NULL && g->stage != NULL && (g->stage_reset ||
	    hs_baton_stage_rank(g->stage) > hs_baton_stage_rank(
	    g->cur_stage)))
		json_object_set_new(o, "baton_stage", json_string(g->stage));
	return o;
}

void
hs_push_note_written(struct hs_ctx *ctx, const char *id, const json_t *props)
{
	const char *k;
	json_t *v;
	int64_t now = timestamp_now_ms();

	json_object_foreach((json_t *)props, k, v)
		if (json_is_string(v))
			(void)hs_echo_add(&ctx->echo, id, k,
			    json_string_value(v), now);
}

static void write_send(struct hs_push *p, const size_t *groups, size_t n);

static void
write_done(struct hs_ctx *ctx, const struct hs_reply *r, void *arg)
{
	struct hs_write *w = arg;
	struct hs_push *p = w->p;
	struct hs_result res;
	char err[256], msg[HS_MESSAGE_MAX];

	memset(&res, 0, sizeof(res));
	if (r->rc != CONNECTOR_OK && r->status == 400 && w->n > 1) {
		/* The whole call was refused for some input: each contact
		 * alone, so only the bad one is dropped. */
		connector_log(ctx->ci, LOG_LEVEL_INFO, "contact upsert of %zu "
		    "refused (%s): sending them one by one", w->n, r->message);
		for (size_t k = 0; k < w->n; k++)
			write_send(p, &w->groups[k], 1);
	} else if (r->rc == CONNECTOR_DROP && r->category[0] != '\0') {
		/* One contact refused: HubSpot's "CATEGORY: message", as a
		 * 207's per-item error reads. */
		snprintf(msg, sizeof(msg), "%s: %s", r->category, r->detail);
		for (size_t k = 0; k < w->n; k++)
			hs_push_group_result(p, w->groups[k], r->rc, 0, NULL,
			    msg);
	} else if (r->rc != CONNECTOR_OK) {
		for (size_t k = 0; k < w->n; k++)
			hs_push_group_result(p, w->groups[k], r->rc,
			    r->retry_after_ms, NULL, r->message);
	} else if (hs_result_parse(r->body, r->len, false, &res, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "contact upsert: %s", err);
		connector_log(ctx->ci, LOG_LEVEL_WARNING, "%s", msg);
		for (size_t k = 0; k < w->n; k++)
			hs_push_group_result(p, w->groups[k],
			    CONNECTOR_RETRY, 0, NULL, msg);
	} else {
		for (size_t k = 0; k < w->n; k++) {
			struct hs_group *g = &p->g[w->groups[k]];
			const struct hs_object *o = NULL;
			const struct hs_item_error *e = NULL;

			for (size_t i = 0; o == NULL && i < res.n; i++) {
				const char *em = json_string_value(
				    json_object_get(res.v[i].props, "email"));

				if ((em != NULL && strcasecmp(em, g->key) ==
				    0) || (g->id[0] != '\0' &&
				    strcmp(res.v[i].id, g->id) == 0))
					o = &res.v[i];
			}
			if (o == NULL && res.n == w->n && res.nerrors == 0)
				o = &res.v[k];  /* answers in input order */
			for (size_t i = 0; o == NULL && e == NULL &&
			    i < res.nerrors; i++)
				if (hs_item_error_has(&res.errors[i], g->key) ||
				    (g->id[0] != '\0' && hs_item_error_has(
				    &res.errors[i], g->id)))
					e = &res.errors[i];
			if (o == NULL && e == NULL && res.nerrors == 1 &&
			    res.n + 1 == w->n)
				e = &res.errors[0];
			if (o != NULL) {
				json_t *sent = group_props(g);

				hs_push_note_written(ctx, o->id, sent);
				json_decref(sent);
				hs_note_email(ctx, o->id, g->key);
				if (p->deals) {
					snprintf(g->id, sizeof(g->id), "%s",
					    o->id);
					g->written = true;
				} else {
					hs_push_group_result(p, w->groups[k],
					    CONNECTOR_OK, 0, o->id, "");
				}
			} else if (e != NULL) {
				snprintf(msg, sizeof(msg), "%s: %s",
				    e->category[0] != '\0' ? e->category :
				    "ERROR", e->message);
				hs_push_group_result(p, w->groups[k],
				    CONNECTOR_DROP, 0, NULL, msg);
			} else {
				hs_push_group_result(p, w->groups[k],
				    CONNECTOR_RETRY, 0, NULL, "the upsert "
				    "answer has no result "
				    "for this contact");
			}
		}
	}
	hs_result_clear(&res);
	free(w->groups);
	free(w);
	if (--p->pending > 0)
		return;
	if (p->deals)
		hs_deals_push(p);
	else
		hs_push_finish(p, CONNECTOR_RETRY, 0, "no result");
}

/* One upsert call for groups[0..n-1]. */
static void
write_send(struct hs_push *p, const size_t *groups, size_t n)
{
	struct hs_write *w = calloc(1, sizeof(*w));
	const char **keys = calloc(n, sizeof(*keys));
	json_t **props = calloc(n, sizeof(*props));
	char *body = NULL;
	size_t k;

	if (w == NULL || keys == NULL || props == NULL ||
	    (w->groups = calloc(n, sizeof(*w->groups))) == NULL)
		goto fail;
	w->p = p;
	w->n = n;
	memcpy(w->groups, groups, n * sizeof(*groups));
	for (k = 0; k < n; k++) {
		keys[k] = p->g[groups[k]].key;
		if ((props[k] = group_props(&p->g[groups[k]])) == NULL)
			goto fail;
	}
	if ((body = hs_batch_write_body(keys, props, n, false)) == NULL ||
	    hs_api(p->ctx, "POST", "/crm/v3/objects/contacts/batch/upsert",
	    body, 0, write_done, w) == -1)
		goto fail;
	p->pending++;
	w = NULL;
fail:
	if (w != NULL)
		for (k = 0; k < n; k++)
			hs_push_group_result(p, groups[k],
			    CONNECTOR_RETRY, 0, NULL, "out of memory");
	for (k = 0; props != NULL && k < n; k++)
		json_decref(props[k]);
	free(props);
	free(keys);
	free(body);
	if (w != NULL)
		free(w->groups);
	free(w);
}

static void
push_write(struct hs_push *p)
{
	size_t *all = calloc(p->ng, sizeof(*all));

	if (all == NULL) {
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
		return;
	}
	for (size_t gi = 0; gi < p->ng; gi++)
		all[gi] = gi;
	p->pending++;           /* held while the call starts */
	write_send(p, all, p->ng);
	free(all);
	if (--p->pending == 0)
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
}

/* ---- Grouping ---------------------------------------------------------- */

static size_t
group_for(struct hs_push *p, const char *key)
{
	for (size_t gi = 0; gi < p->ng; gi++)
		if (strcmp(p->g[gi].key, key) == 0)
			return gi;
	p->g[p->ng].key = key;
	p->g[p->ng].props = json_object();
	return p->g[p->ng].props != NULL ? p->ng++ : SIZE_MAX;
}

static void
set_str(json_t *o, const char *name, const json_t *v)
{
	char num[64];

	if (json_is_string(v) && json_string_length(v) > 0)
		json_object_set_new(o, name, json_string(json_string_value(v)));
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		json_object_set_new(o, name, json_string(num));
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		json_object_set_new(o, name, json_string(num));
	}
}

/* "Qualified because: a; b" of a handoff's reasons, or NULL. */
static json_t *
reasons_text(const json_t *reasons)
{
	static const char head[] = "Qualified because: ";
	char buf[4096];
	size_t len = 0, i;
	const json_t *r;

	if (json_array_size(reasons) == 0)
		return NULL;
	len = (size_t)snprintf(buf, sizeof(buf), "%s", head);
	json_array_foreach(reasons, i, r) {
		const char *s = json_string_value(r);
		int n;

		if (s == NULL)
			continue;
		n = snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    len > sizeof(head) - 1 ? "; " : "", s);
		if (n < 0 || (size_t)n >= sizeof(buf) - len) {
			len = sizeof(buf) - 1;
			break;
		}
		len += (size_t)n;
	}
	return json_stringn(buf, len);
}

/* A handoff's deal: what a new deal gets (dealname "<company> - <email>",
 * deal_pipeline, deal_stage, the reasons as description) and what an
 * open one gets (the reasons). */
static void
deal_props(struct hs_ctx *ctx, struct hs_group *g, const json_t *d,
    const json_t *why)
{
	const char *company = json_string_value(json_object_get(
	    json_object_get(d, "attrs"), "company"));
	char name[512];

	snprintf(name, sizeof(name), "%s%s%s", company != NULL ? company : "",
	    company != NULL && company[0] != '\0' ? " - " : "", g->key);
	json_decref(g->deal_props);
	json_decref(g->deal_update);
	g->deal_props = json_pack("{s:s,s:s,s:s}", "dealname", name,
	    "pipeline", ctx->deal_pipeline, "dealstage", ctx->deal_stage);
	g->deal_update = json_object();
	if (why != NULL && g->deal_props != NULL && g->deal_update != NULL) {
		json_object_set(g->deal_props, "description", (json_t *)why);
		json_object_set(g->deal_update, "description", (json_t *)why);
	}
}

/* Adds item ev's properties to group g (see the top of this file). */
static void
group_add(struct hs_ctx *ctx, struct hs_group *g,
    const struct baton_event *ev, bool deals)
{
	const json_t *d = ev->data;
	const char *want = NULL, *status = NULL, *stage;
	json_t *why = NULL;
	char when[40];

	if (strncmp(ev->type, "feedback.", 9) == 0) {
		const struct hs_feedback_map *m = hs_feedback_map(ev->type);
		const struct conf_map_entry *e = conf_map_get(&ctx->lead_status,
		    ev->type + 9);

		want = m->lifecycle;
		status = m->lead_status;
		if (e != NULL)
			status = strcmp(e->value, "-") == 0 ? NULL : e->value;
		stage = m->stage;
	} else {
		json_t *p = hs_contact_props(&ctx->fields, json_object_get(d,
		    "attrs"));

		if (p != NULL)
			json_object_update(g->props, p);
		json_decref(p);
		want = "marketingqualifiedlead";
		stage = "mql";
		if (json_object_get(d, "reason") == NULL)
			why = reasons_text(json_object_get(d, "reasons"));
		if (deals)
			deal_props(ctx, g, d, why);
	}
	if (want != NULL && hs_lifecycle_rank(want) >
	    hs_lifecycle_rank(g->want))
		g->want = want;
	if (status != NULL)
		json_object_set_new(g->props, "hs_lead_status",
		    json_string(status));
	if (hs_baton_stage_rank(stage) == 0) {
		g->stage = stage;       /* an explicit move back */
		g->stage_reset = true;
	} else if (hs_baton_stage_rank(stage) > hs_baton_stage_rank(
	    g->stage)) {
		g->stage = stage;
	}
	set_str(g->props, "baton_reason", why != NULL ? why :
	    json_object_get(d, "reason"));
	json_decref(why);
	set_str(g->props, "baton_score", json_object_get(d, "score"));
	set_str(g->props, "baton_owner", json_object_get(d, "owner"));
	timestamp_format(ev->at_ms > 0 ? ev->at_ms : timestamp_now_ms(), when,
	    sizeof(when));
	json_object_set_new(g->props, "baton_updated", json_string(when));
}

int
hs_deliver(struct connector_instance *ci, struct delivery_batch *b)
{
	struct hs_ctx *ctx = connector_ctx(ci);
	struct hs_push *p = calloc(1, sizeof(*p));
	size_t n = delivery_count(b);
	bool sales = connector_role(ci) == CONNECTOR_ROLE_SALES;
	char *body;

	if (p == NULL || (p->group_of = calloc(n + 1,
	    sizeof(*p->group_of))) == NULL ||
	    (p->g = calloc(n + 1, sizeof(*p->g))) == NULL) {
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
	p->deals = sales && ctx->deals;
	for (size_t i = 0; i < n; i++) {
		const struct baton_event *ev = delivery_event(b, i);
		bool mine;

		p->group_of[i] = SIZE_MAX;
		mine = ev != NULL && ev->type != NULL && (sales ?
		    strcmp(ev->type, "handoff.mql") == 0 :
		    hs_feedback_map(ev->type) != NULL);
		if (!mine) {
			delivery_set_result(b, i, CONNECTOR_OK, 0, "%s",
			    "not for HubSpot");
			continue;
		}
		if (ev->lead == NULL || strchr(ev->lead, '@') == NULL) {
			delivery_set_result(b, i, CONNECTOR_DROP, 0, "%s",
			    "no lead email");
			continue;
		}
		if ((p->group_of[i] = group_for(p, ev->lead)) == SIZE_MAX) {
			delivery_set_result(b, i, CONNECTOR_RETRY, 0, "%s",
			    "out of memory");
			continue;
		}
		group_add(ctx, &p->g[p->group_of[i]], ev, p->deals);
	}
	if (p->ng == 0 || ctx->stopping) {
		hs_push_finish(p, CONNECTOR_RETRY, 0, "connector stopping");
		return 0;
	}
	if (ctx->props_ready)
		return push_lookup(p) == 0 ? CONNECTOR_PENDING : 0;
	body = hs_property_body(0);
	if (body == NULL || hs_api(ctx, "POST", "/crm/v3/properties/contacts",
	    body, 0, prop_done, p) == -1) {
		free(body);
		hs_push_finish(p, CONNECTOR_RETRY, 0, "out of memory");
		return 0;
	}
	free(body);
	return CONNECTOR_PENDING;
}
