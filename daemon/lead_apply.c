/*
 * lead_apply.c - what one event, or one SLA that ran out, does to a lead
 * under the shared rules: attributes, sales and deal fields, fit and
 * engagement (caps, decay), the forward-only lifecycle, handoffs,
 * feedback and SLA timers, each change recorded as a derived entry and a
 * history line (lead.h lists the shapes and the decisions).
 *
 * Pure: the time is a parameter and the result is a struct lead_effects
 * that the rules worker commits in one step.  The same inputs give
 * byte-identical effects (fields in name order, JSON with sorted keys,
 * entry ids numbered from 1), so a commit replayed after a crash writes
 * exactly what the first attempt would have.
 */
#include <baton/digest.h>
#include <baton/error.h>
#include "lead.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* One application in progress. */
struct apply {
	const struct rules *r;
	struct rules_eval *ev;
	struct lead *l;
	const char *cause;              /* entry id, or the timer's id */
	int64_t now;
	int64_t at;                     /* the event's time */
	struct lead_effects *fx;
	size_t n;                       /* derived entries made so far */
	struct rules_value *vals;       /* r->nslots */
	json_t *scored;                 /* this event's contributions */
	json_t *fresh;                  /* this event's engagement
	                                   contributions, to be appended */
	json_t *old_contribs;           /* l->contribs before (a reference:
	                                   never changed in place) */
	bool had_caps;                  /* l->caps was not empty before */
	bool caps_dirty;                /* l->caps may have changed */
	int oom;
	/* the event, for the lifecycle */
	const char *type;
	const char *status;             /* lead.status: the new status */
	const char *outcome;            /* deal.stage: "open" "won" "lost" */
	bool deal_changed;              /* stage or outcome differ */
};

static int64_t
add_sat(int64_t a, int64_t b)
{
	int64_t s;

	if (__builtin_add_overflow(a, b, &s))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return s;
}

static double
clamp_points(double x)
{
	if (!(x == x))
		return 0;
	if (x > LEAD_POINTS_MAX)
		return LEAD_POINTS_MAX;
	if (x < -LEAD_POINTS_MAX)
		return -LEAD_POINTS_MAX;
	return x == 0 ? 0 : x;
}

/* ---- Building effects --------------------------------------------------- */

/* obj[key] = v (stolen); remembers a failure. */
static void
jset(struct apply *a, json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || obj == NULL || json_object_set_new(obj, key, v) == -1)
		a->oom = 1;
}

static void
jnum(struct apply *a, json_t *obj, const char *key, double x)
{
	jset(a, obj, key, lead_json_number(x));
}

static void
jstr(struct apply *a, json_t *obj, const char *key, const char *s)
{
	jset(a, obj, key, json_string(s));
}

/* Copies obj[key] of src into dst when present. */
static void
jcopy(struct apply *a, json_t *dst, const char *key, const json_t *src,
    const char *skey)
{
	json_t *v = json_object_get(src, skey);

	if (v != NULL)
		jset(a, dst, key, json_deep_copy(v));
}

/* Appends s (taken) to (*v)[*n]. */
static void
push_str(struct apply *a, char ***v, size_t *n, char *s)
{
	char **nv;

	if (s == NULL || (nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		free(s);
		a->oom = 1;
		return;
	}
	nv[(*n)++] = s;
	*v = nv;
}

/* s as a JSON string literal, appended to *buf (malloc'd, grown); what
 * json_dumps() writes for it (quotes, backslash and control characters
 * escaped).  0 or -1. */
static int
json_quote_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	json_t *j;
	char *q = NULL;
	size_t n = strlen(s), need;
	const unsigned char *p;
	char *nb;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || *p < 0x20 || *p >= 0x80)
			break;
	if (*p != '\0') {
		/* Rare: let jansson escape (and check UTF-8). */
		if ((j = json_string(s)) == NULL)
			return -1;
		q = json_dumps(j, JSON_FLAGS | JSON_ENCODE_ANY);
		json_decref(j);
		if (q == NULL)
			return -1;
		n = strlen(q);
	}
	need = *len + n + 3;
	if (need > *cap) {
		size_t c = *cap ? *cap : 256;

		while (c < need)
			c *= 2;
		if ((nb = realloc(*buf, c)) == NULL) {
			free(q);
			return -1;
		}
		*buf = nb;
		*cap = c;
	}
	if (q != NULL) {
		memcpy(*buf + *len, q, n);
		*len += n;
		free(q);
	} else {
		(*buf)[(*len)++] = '"';
		memcpy(*buf + *len, s, n);
		*len += n;
		(*buf)[(*len)++] = '"';
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* raw text appended to *buf as it is.  0 or -1. */
static int
text_append(char **buf, size_t *len, size_t *cap, const char *raw)
{
	size_t n = strlen(raw), need = *len + n + 1;
	char *nb;

	if (need > *cap) {
		size_t c = *cap ? *cap : 256;

		while (c < need)
			c *= 2;
		if ((nb = realloc(*buf, c)) == NULL)
			return -1;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *len, raw, n + 1);
	*len += n;
	return 0;
}

/*
 * The history line {"at", "data", "id", "stream", "type"} of an entry
 * whose data is already text: the same text json_dumps() makes of the
 * object with JSON_FLAGS (keys sorted), without building or dumping the
 * data a second time.  Malloc'd, NULL when out of memory.
 */
static char *
history_text(const char *stream, const char *type, const char *id,
    int64_t at, const char *data_text)
{
	char *buf = NULL, num[32];
	size_t len = 0, cap = 0;

	snprintf(num, sizeof(num), "{\"at\":%" PRId64 ",\"data\":", at);
	if (text_append(&buf, &len, &cap, num) == -1 ||
	    text_append(&buf, &len, &cap, data_text) == -1 ||
	    text_append(&buf, &len, &cap, ",\"id\":") == -1 ||
	    json_quote_append(&buf, &len, &cap, id) == -1 ||
	    text_append(&buf, &len, &cap, ",\"stream\":") == -1 ||
	    json_quote_append(&buf, &len, &cap, stream) == -1 ||
	    text_append(&buf, &len, &cap, ",\"type\":") == -1 ||
	    json_quote_append(&buf, &len, &cap, type) == -1 ||
	    text_append(&buf, &len, &cap, "}") == -1) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A derived entry "<cause>/<n>" in stream, data taken; plus its history
 * line.  The data is dumped once: the entry keeps the text (data_text)
 * and the history line embeds it. */
static void
add_entry(struct apply *a, const char *stream, const char *type,
    json_t *data)
{
	struct lead_effects *fx = a->fx;
	struct lead_entry *e, *ne;
	char *id = NULL;

	if (data == NULL || a->oom) {
		json_decref(data);
		a->oom = 1;
		return;
	}
	if (asprintf(&id, "%s/%zu", a->cause, a->n + 1) == -1) {
		json_decref(data);
		a->oom = 1;
		return;
	}
	if ((ne = realloc(fx->entries, (fx->nentries + 1) *
	    sizeof(*ne))) == NULL) {
		free(id);
		json_decref(data);
		a->oom = 1;
		return;
	}
	fx->entries = ne;
	e = &fx->entries[fx->nentries];
	e->stream = stream;
	e->type = strdup(type);
	e->id = id;
	e->at_ms = a->now;
	e->data = data;
	e->lead = NULL;
	e->data_text = json_dumps(data, JSON_FLAGS);
	if (e->type == NULL || e->data_text == NULL) {
		free(e->type);
		free(e->data_text);
		free(id);
		json_decref(data);
		a->oom = 1;
		return;
	}
	fx->nentries++;
	a->n++;
	push_str(a, &fx->history, &fx->nhistory, history_text(stream, type,
	    id, a->now, e->data_text));
}

static char *
sla_member(const struct rules_sla *sla, const char *key, long long episode)
{
	char *m = NULL;

	if (asprintf(&m, "%s|%s|%lld", sla->name, key, episode) == -1)
		return NULL;
	return m;
}

static void
sla_del(struct apply *a, const struct rules_sla *sla, long long episode)
{
	struct lead_effects *fx = a->fx;
	char *m = sla_member(sla, a->l->key, episode);

	if (m == NULL) {
		a->oom = 1;
		return;
	}
	for (size_t i = 0; i < fx->nsla_del; i++)
		if (strcmp(fx->sla_del[i], m) == 0) {
			free(m);
			return;
		}
	push_str(a, &fx->sla_del, &fx->nsla_del, m);
}

static void
sla_add(struct apply *a, const struct rules_sla *sla, long long episode)
{
	struct lead_effects *fx = a->fx;
	int64_t *nat;
	char *m = sla_member(sla, a->l->key, episode);

	if (m == NULL || (nat = realloc(fx->sla_add_at, (fx->nsla_add + 1) *
	    sizeof(*nat))) == NULL) {
		free(m);
		a->oom = 1;
		return;
	}
	fx->sla_add_at = nat;
	nat[fx->nsla_add] = add_sat(a->now, sla->within_ms);
	push_str(a, &fx->sla_add, &fx->nsla_add, m);
}

/* Adds field = value (taken) to the HSET list, kept in name order. */
static void
set_sorted(struct apply *a, const char *field, char *value)
{
	struct lead_effects *fx = a->fx;
	char *f = strdup(field);
	size_t k;

	if (f == NULL || value == NULL) {
		free(f);
		free(value);
		a->oom = 1;
		return;
	}
	for (k = fx->nset; k > 0 && strcmp(fx->set_fields[k - 1], f) > 0; k--) {
		fx->set_fields[k] = fx->set_fields[k - 1];
		fx->set_values[k] = fx->set_values[k - 1];
	}
	fx->set_fields[k] = f;
	fx->set_values[k] = value;
	fx->nset++;
}

static void
del_sorted(struct apply *a, const char *field)
{
	struct lead_effects *fx = a->fx;
	char *f = strdup(field);
	size_t k;

	if (f == NULL) {
		a->oom = 1;
		return;
	}
	for (k = fx->ndel; k > 0 && strcmp(fx->del_fields[k - 1], f) > 0; k--)
		fx->del_fields[k] = fx->del_fields[k - 1];
	fx->del_fields[k] = f;
	fx->ndel++;
}

/*
 * Hash fields that differ between before and the lead now.  caps and
 * contribs are compared as JSON (before: a->old_contribs, a->had_caps)
 * and printed only when they changed.
 */
static void
diff_fields(struct apply *a, const struct lead_fields *before)
{
	struct lead_effects *fx = a->fx;
	struct lead *l = a->l;
	struct lead_fields after;
	size_t i = 0, j = 0;

	if (lead_fields_build(l, &after, false) == -1) {
		a->oom = 1;
		return;
	}
	if ((fx->set_fields = calloc(after.n + 2, sizeof(char *))) == NULL ||
	    (fx->set_values = calloc(after.n + 2, sizeof(char *))) == NULL ||
	    (fx->del_fields = calloc(before->n + 2, sizeof(char *))) == NULL) {
		lead_fields_clear(&after);
		a->oom = 1;
		return;
	}
	while (i < before->n || j < after.n) {
		int c = i == before->n ? 1 : j == after.n ? -1 :
		    strcmp(before->fields[i], after.fields[j]);

		if (c < 0) {
			del_sorted(a, before->fields[i]);
			i++;
			continue;
		}
		if (c > 0 || strcmp(before->values[i],
		    after.values[j]) != 0) {
			set_sorted(a, after.fields[j], after.values[j]);
			after.values[j] = NULL;
		}
		if (c == 0)
			i++;
		j++;
	}
	lead_fields_clear(&after);

	if (json_object_size(l->caps) == 0) {
		if (a->had_caps)
			del_sorted(a, "caps");
	} else if (a->caps_dirty || !a->had_caps)
		set_sorted(a, "caps", json_dumps(l->caps, JSON_FLAGS));
	if (json_array_size(l->contribs) == 0) {
		if (json_array_size(a->old_contribs) > 0)
			del_sorted(a, "contribs");
	} else if (l->contribs != a->old_contribs &&
	    !json_equal(l->contribs, a->old_contribs))
		set_sorted(a, "contribs", json_dumps(l->contribs, JSON_FLAGS));
}

static void
finish(struct apply *a)
{
	struct lead_effects *fx = a->fx;

	fx->changed = fx->nset > 0 || fx->ndel > 0 || fx->nentries > 0 ||
	    fx->nsla_add > 0 || fx->nsla_del > 0 || fx->alias_from != NULL;
}

/* ---- Contributions ------------------------------------------------------ */

static json_t *
make_contrib(struct apply *a, const struct rules_rule *rule, double points,
    const char *event, int64_t at)
{
	json_t *c = json_object();

	jstr(a, c, "rule", rule->text);
	jstr(a, c, "file", rule->file != NULL ? rule->file : "?");
	jset(a, c, "line", json_integer(rule->line));
	jnum(a, c, "points", points);
	jstr(a, c, "kind", rule->kind == RULES_FIT ? "fit" : "engagement");
	jstr(a, c, "event", event);
	jset(a, c, "at", json_integer(at));
	return c;
}

static bool
is_kind(const json_t *c, const char *kind)
{
	const char *k = json_string_value(json_object_get(c, "kind"));

	return k != NULL && strcmp(k, kind) == 0;
}

/* Whether contribution c is rule's (same text, file and line). */
static bool
same_rule(const json_t *c, const struct rules_rule *rule)
{
	const char *t = json_string_value(json_object_get(c, "rule"));
	const char *f = json_string_value(json_object_get(c, "file"));

	return t != NULL && f != NULL && strcmp(t, rule->text) == 0 &&
	    strcmp(f, rule->file != NULL ? rule->file : "?") == 0 &&
	    json_integer_value(json_object_get(c, "line")) == rule->line;
}

static void
scored_add(struct apply *a, json_t *c)
{
	if (c == NULL || json_array_append_new(a->scored, c) == -1)
		a->oom = 1;
}

/* Keeps the newest LEAD_CONTRIBS_ENGAGEMENT_MAX engagement contributions
 * (of the array recompute_fit() just made). */
static void
prune_engagement(struct apply *a)
{
	size_t i, n = 0;
	json_t *c;

	json_array_foreach(a->l->contribs, i, c)
		if (!is_kind(c, "fit"))
			n++;
	for (i = 0; n > LEAD_CONTRIBS_ENGAGEMENT_MAX &&
	    i < json_array_size(a->l->contribs);) {
		if (!is_kind(json_array_get(a->l->contribs, i), "fit")) {
			json_array_remove(a->l->contribs, i);
			n--;
		} else
			i++;
	}
}

/* Recomputes fit from the attributes: fit contributions replaced (a rule
 * that still holds keeps its event and time), changes to a->scored. */
static void
recompute_fit(struct apply *a)
{
	struct lead *l = a->l;
	struct rules_contrib *out;
	json_t *next, *c;
	size_t nout = 0, i;
	double fit;

	if ((out = calloc(a->r->nfit + 1, sizeof(*out))) == NULL ||
	    (next = json_array()) == NULL) {
		free(out);
		a->oom = 1;
		return;
	}
	lead_slot_values(a->r, l, NULL, a->vals);
	fit = rules_fit(a->r, a->ev, a->vals, out, a->r->nfit, &nout);
	for (size_t k = 0; k < nout; k++) {
		const struct rules_rule *rule = out[k].rule;
		json_t *old = NULL, *nc;

		json_array_foreach(l->contribs, i, c)
			if (is_kind(c, "fit") && same_rule(c, rule)) {
				old = c;
				break;
			}
		if (old != NULL) {
			const char *ev = json_string_value(json_object_get(old,
			    "event"));
			json_t *at = json_object_get(old, "at");

			nc = make_contrib(a, rule, out[k].points,
			    ev != NULL ? ev : a->cause, json_is_integer(at) ?
			    json_integer_value(at) : a->at);
		} else {
			nc = make_contrib(a, rule, out[k].points, a->cause,
			    a->at);
			scored_add(a, json_deep_copy(nc));
		}
		if (json_array_append_new(next, nc) == -1)
			a->oom = 1;
	}
	/* Fit rules that stopped holding. */
	json_array_foreach(l->contribs, i, c) {
		bool kept = false;
		json_t *gone;

		if (!is_kind(c, "fit"))
			continue;
		for (size_t k = 0; k < nout && !kept; k++)
			kept = same_rule(c, out[k].rule);
		if (kept)
			continue;
		if ((gone = json_deep_copy(c)) == NULL) {
			a->oom = 1;
			continue;
		}
		jnum(a, gone, "points", -json_number_value(json_object_get(c,
		    "points")));
		jset(a, gone, "removed", json_true());
		jstr(a, gone, "event", a->cause);
		jset(a, gone, "at", json_integer(a->at));
		scored_add(a, gone);
	}
	json_array_foreach(l->contribs, i, c)
		if (!is_kind(c, "fit") &&
		    json_array_append(next, c) == -1)
			a->oom = 1;
	if (a->fresh != NULL && json_array_extend(next, a->fresh) == -1)
		a->oom = 1;
	json_decref(l->contribs);
	l->contribs = next;
	prune_engagement(a);
	l->fit = clamp_points(fit);
	free(out);
}

/* ---- What each type changes --------------------------------------------- */

static void
apply_upsert(struct apply *a, const struct baton_event *event)
{
	struct lead *l = a->l;
	bool newer = event->at_ms >= l->upserted_at;
	const char *k;
	json_t *v, *idv;

	json_object_foreach(event->data, k, v) {
		const char *ck;
		json_t *cv;

		if (strcmp(k, "custom") == 0 && json_is_object(v)) {
			json_object_foreach(v, ck, cv) {
				char *field = NULL, *text;

				if (asprintf(&field, "custom.%s", ck) == -1) {
					a->oom = 1;
					continue;
				}
				text = lead_scalar_text(cv);
				if (text != NULL && lead_attr_field(field) &&
				    (newer || json_object_get(l->attrs,
				    field) == NULL))
					jset(a, l->attrs, field,
					    lead_attr_value(field, text));
				free(text);
				free(field);
			}
			continue;
		}
		if (!lead_attr_field(k) || strncmp(k, "custom.", 7) == 0)
			continue;
		if (!newer && json_object_get(l->attrs, k) != NULL)
			continue;
		char *text = lead_scalar_text(v);
		if (text != NULL)
			jset(a, l->attrs, k, lead_attr_value(k, text));
		free(text);
	}
	if (event->source != NULL && event->source[0] != '\0' &&
	    (idv = json_object_get(event->data, "id")) != NULL &&
	    (newer || json_object_get(l->ids, event->source) == NULL)) {
		char *text = lead_scalar_text(idv);

		if (text != NULL)
			jset(a, l->ids, event->source, json_string(text));
		free(text);
	}
	if (newer)
		l->upserted_at = event->at_ms;
}

/* Engagement rules the activity triggers, capped, added with decay. */
static void
apply_activity(struct apply *a, const struct baton_event *event)
{
	struct lead *l = a->l;
	const char *activity = json_string_value(json_object_get(event->data,
	    "activity"));
	struct rules_contrib *out;
	size_t n;
	double total = 0;

	lead_slot_values(a->r, l, event->data, a->vals);
	n = rules_match_activity(a->r, a->ev, activity, a->vals, NULL, 0);
	if (n == 0)
		return;
	if ((out = calloc(n, sizeof(*out))) == NULL) {
		a->oom = 1;
		return;
	}
	n = rules_match_activity(a->r, a->ev, activity, a->vals, out, n);
	for (size_t k = 0; k < n; k++) {
		const struct rules_rule *rule = out[k].rule;
		double pts = rule->points;
		json_t *c;

		if (rule->cap > 0) {
			char key[32];
			int64_t from = add_sat(a->at, -rule->cap_window_ms);
			json_t *old, *keep = json_array(), *aw;
			double sum = 0;
			size_t i;

			snprintf(key, sizeof(key), "%zu", rule->index);
			old = json_object_get(l->caps, key);
			json_array_foreach(old, i, aw) {
				json_int_t t = json_integer_value(
				    json_array_get(aw, 0));

				if (t < from)
					continue;       /* out of any window */
				if (t <= a->at)
					sum += fabs(json_number_value(
					    json_array_get(aw, 1)));
				if (json_array_append(keep, aw) == -1)
					a->oom = 1;
			}
			pts = rules_cap_points(rule, sum);
			a->caps_dirty = true;
			if (pts != 0 && json_array_append_new(keep, json_pack(
			    "[I, o]", (json_int_t)a->at,
			    lead_json_number(pts))) == -1)
				a->oom = 1;
			if (json_array_size(keep) > 0)
				jset(a, l->caps, key, keep);
			else {
				json_decref(keep);
				json_object_del(l->caps, key);
			}
		}
		if (pts == 0)
			continue;
		total += pts;
		c = make_contrib(a, rule, pts, a->cause, a->at);
		if (c == NULL || json_array_append(a->fresh, c) == -1)
			a->oom = 1;
		scored_add(a, c);
	}
	free(out);
	/* Decay ran to max(at, engagement_at) already. */
	if (a->at >= l->engagement_at)
		l->engagement += total;
	else
		l->engagement += rules_decay(a->r, total,
		    l->engagement_at - a->at);
	l->engagement = clamp_points(l->engagement);
}

/* Sets obj[key] to the text of data[dkey], or removes it (remove) or
 * keeps it (!remove) when data has no such scalar. */
static void
take_text(struct apply *a, json_t *obj, const char *key, const json_t *data,
    const char *dkey, bool remove)
{
	char *text = lead_scalar_text(json_object_get(data, dkey));

	if (text != NULL)
		jset(a, obj, key, json_string(text));
	else if (remove)
		json_object_del(obj, key);
	free(text);
}

static void
apply_status(struct apply *a, const struct baton_event *event)
{
	json_t *sales = a->l->sales;

	take_text(a, sales, "status", event->data, "status", true);
	take_text(a, sales, "reason", event->data, "reason", true);
	take_text(a, sales, "owner", event->data, "owner", false);
	a->status = json_string_value(json_object_get(sales, "status"));
}

/* lead.merged: the decision here; the alias is the commit's (fx). */
static void
apply_merged(struct apply *a, const struct baton_event *event)
{
	const char *from = json_string_value(json_object_get(event->data,
	    "from"));
	json_t *d = json_object();

	jstr(a, d, "from", from);
	jstr(a, d, "source", event->source != NULL ? event->source : "");
	jstr(a, d, "event", a->cause);
	add_entry(a, "decisions", "lead.merged", d);
	if ((a->fx->alias_from = strdup(from)) == NULL)
		a->oom = 1;
}

/*
 * lead.forget: one decision without personal data, and the erase.  The
 * lead field of the decision is the key's SHA-256, so an operator can
 * check that a given address was forgotten without the stream naming it.
 */
static int
apply_forget(struct lead *l, const struct baton_event *event,
    const char *entry_id, int64_t now_ms, struct lead_effects *fx)
{
	unsigned char md[32];
	char hex[65];
	json_t *d = json_object();
	struct lead_entry *e;
	const char *reason = json_string_value(json_object_get(event->data,
	    "reason"));

	if (d == NULL || (fx->entries = calloc(1, sizeof(*e))) == NULL)
		goto oom;
	e = &fx->entries[0];
	if (digest_sha256(l->key, strlen(l->key), md) == -1)
		goto oom;
	digest_hex(md, sizeof(md), hex);
	if (json_object_set_new(d, "reason", json_string(reason != NULL ?
	    reason : "")) == -1 || json_object_set_new(d, "source",
	    json_string(event->source != NULL ? event->source : "")) == -1 ||
	    json_object_set_new(d, "event", json_string(entry_id)) == -1)
		goto oom;
	e->stream = "decisions";
	e->type = strdup("lead.forgotten");
	e->at_ms = now_ms;
	e->data = d;
	d = NULL;
	e->data_text = json_dumps(e->data, JSON_FLAGS);
	if (asprintf(&e->id, "%s/1", entry_id) == -1)
		e->id = NULL;
	if (asprintf(&e->lead, "sha256:%s", hex) == -1)
		e->lead = NULL;
	fx->nentries = 1;
	if (e->type == NULL || e->data_text == NULL || e->id == NULL ||
	    e->lead == NULL)
		goto oom;
	fx->erase = true;
	fx->changed = true;
	return 0;
oom:
	json_decref(d);
	lead_effects_clear(fx);
	return -1;
}

static void
apply_deal(struct apply *a, const struct baton_event *event)
{
	json_t *deal = a->l->deal, *amount;
	const char *s;
	char *pstage, *pout;

	s = json_string_value(json_object_get(deal, "stage"));
	pstage = strdup(s != NULL ? s : "");
	s = json_string_value(json_object_get(deal, "outcome"));
	pout = strdup(s != NULL ? s : "open");
	if (pstage == NULL || pout == NULL) {
		free(pstage);
		free(pout);
		a->oom = 1;
		return;
	}
	take_text(a, deal, "stage", event->data, "stage", true);
	take_text(a, deal, "currency", event->data, "currency", false);
	take_text(a, deal, "outcome", event->data, "outcome", true);
	if ((amount = json_object_get(event->data, "amount")) != NULL &&
	    json_is_number(amount))
		jnum(a, deal, "amount", json_number_value(amount));
	s = json_string_value(json_object_get(deal, "outcome"));
	a->outcome = s != NULL ? s : "open";
	s = json_string_value(json_object_get(deal, "stage"));
	a->deal_changed = strcmp(pstage, s != NULL ? s : "") != 0 ||
	    strcmp(pout, a->outcome) != 0;
	free(pstage);
	free(pout);
}

/* ---- Lifecycle ---------------------------------------------------------- */

/* lead.scored for a change from old to the lead's score now. */
static void
write_scored(struct apply *a, double old, bool reset)
{
	struct lead *l = a->l;
	double now = l->fit + l->engagement;
	json_t *d;

	if (fabs(now - old) <= 1e-9)
		return;
	d = json_object();
	jnum(a, d, "old", old);
	jnum(a, d, "new", now);
	jnum(a, d, "fit", l->fit);
	jnum(a, d, "engagement", l->engagement);
	jset(a, d, "contributions", reset ? json_array() :
	    json_incref(a->scored));
	if (reset)
		jset(a, d, "reset", json_true());
	jstr(a, d, "event", a->cause);
	add_entry(a, "decisions", "lead.scored", d);
}

static void
feedback(struct apply *a, const char *type, const char *reason)
{
	struct lead *l = a->l;
	json_t *d = json_object();

	jset(a, d, "episode", json_integer(l->mql_episode));
	jcopy(a, d, "status", l->sales, "status");
	if (reason != NULL)
		jstr(a, d, "reason", reason);
	else
		jcopy(a, d, "reason", l->sales, "reason");
	jcopy(a, d, "owner", l->sales, "owner");
	jcopy(a, d, "stage", l->deal, "stage");
	jcopy(a, d, "amount", l->deal, "amount");
	jcopy(a, d, "currency", l->deal, "currency");
	/* Whole points: what a marketing platform's score field shows. */
	jset(a, d, "score", json_integer((json_int_t)llround(l->fit +
	    l->engagement)));
	if (l->mql_episode > 0 && l->handoff_at != 0)
		jset(a, d, "mql_at", json_integer(l->handoff_at));
	jstr(a, d, "event", a->cause);
	add_entry(a, "feedback", type, d);
}

/* Moves to stage `to`: the timers of the stage left go (those of episode
 * leave_ep), a lead.stage entry records from, to and why. */
static void
move(struct apply *a, int to, const char *why, const char *reason,
    long long leave_ep)
{
	struct lead *l = a->l;
	const char *from = lead_stage_name(l->stage);
	json_t *d;
	char *r = NULL;

	if (l->stage >= 0 && l->stage < RULES_NSTAGES)
		for (size_t i = 0; i < a->r->nslas; i++)
			if (a->r->slas[i].after == l->stage)
				sla_del(a, &a->r->slas[i], leave_ep);
	if (reason != NULL && (r = strdup(reason)) == NULL)
		a->oom = 1;
	d = json_object();
	jset(a, d, "from", from != NULL ? json_string(from) : json_null());
	jstr(a, d, "to", lead_stage_name(to));
	jstr(a, d, "why", why);
	if (reason != NULL)
		jstr(a, d, "reason", reason);
	jstr(a, d, "event", a->cause);
	jset(a, d, "episode", json_integer(l->mql_episode));
	l->stage = to;
	l->stage_at = a->now;
	free(l->stage_reason);
	l->stage_reason = r;
	add_entry(a, "decisions", "lead.stage", d);
}

/* Back to nurture: engagement restarts from 0 without caps. */
static void
reset_engagement(struct apply *a)
{
	struct lead *l = a->l;
	double old = l->fit + l->engagement;
	json_t *next = json_array(), *c;
	size_t i;

	l->engagement = 0;
	json_object_clear(l->caps);
	a->caps_dirty = true;
	json_array_foreach(l->contribs, i, c)
		if (is_kind(c, "fit") && json_array_append(next, c) == -1)
			a->oom = 1;
	if (next == NULL)
		a->oom = 1;
	else {
		json_decref(l->contribs);
		l->contribs = next;
	}
	write_scored(a, old, true);
}

static void
recycle(struct apply *a, const char *reason, const char *why)
{
	move(a, LEAD_STAGE_RECYCLED, why, reason, a->l->mql_episode);
	feedback(a, "feedback.recycled", reason);
	reset_engagement(a);
}

/* The `why` of a [stage] definition: "score >= 60 (rules.conf:10)". */
static void
def_why(const struct rules_stage_def *def, char *buf, size_t size)
{
	snprintf(buf, size, "%s (%s:%d)", def->text != NULL ? def->text : "",
	    def->file != NULL ? def->file : "?", def->line);
}

/* Whether stage s is reached by a lead whose effective stage is eff;
 * why gets the reason. */
static bool
reached(struct apply *a, int s, int eff, char *why, size_t size)
{
	const struct rules_stage_def *def = &a->r->stages[s];
	struct lead *l = a->l;
	const char *v;

	if (def->defined) {
		if (!rules_stage_holds(a->r, a->ev, s, a->vals))
			return false;
		def_why(def, why, size);
		return true;
	}
	switch (s) {
	case RULES_STAGE_LEAD:
		if (l->fit == 0 && !(l->engagement > 0))
			return false;
		snprintf(why, size, "fit != 0 or engagement > 0 (fit %g, "
		    "engagement %g)", l->fit, l->engagement);
		return true;
	case RULES_STAGE_SAL:
		if (l->accepted_at == 0 || l->mql_episode == 0 ||
		    eff < RULES_STAGE_MQL)
			return false;
		v = json_string_value(json_object_get(l->sales, "status"));
		snprintf(why, size, "sales.status %s", v != NULL ? v : "?");
		return true;
	case RULES_STAGE_OPPORTUNITY:
		v = json_string_value(json_object_get(l->deal, "outcome"));
		if (json_object_get(l->deal, "stage") == NULL ||
		    (v != NULL && strcmp(v, "open") != 0))
			return false;
		snprintf(why, size, "deal.stage %s", json_string_value(
		    json_object_get(l->deal, "stage")));
		return true;
	case RULES_STAGE_CUSTOMER:
		v = json_string_value(json_object_get(l->deal, "outcome"));
		if (v == NULL || strcmp(v, "won") != 0)
			return false;
		snprintf(why, size, "deal.outcome won");
		return true;
	default:
		return false;   /* mql, sql: only by their definition */
	}
}

/* handoff.mql: a snapshot and the contributions in plain words. */
static void
handoff(struct apply *a)
{
	struct lead *l = a->l;
	json_t *d = json_object(), *reasons = json_array(), *c;
	size_t i, n = json_array_size(l->contribs);
	char **desc = calloc(n + 1, sizeof(*desc));
	size_t *count = calloc(n + 1, sizeof(*count)), nd = 0;

	if (desc == NULL || count == NULL)
		a->oom = 1;
	/* Identical descriptions once, in order, with their number. */
	json_array_foreach(l->contribs, i, c) {
		char *s = NULL;
		size_t k;

		if (desc == NULL || count == NULL)
			break;
		if (asprintf(&s, "%s (%s:%lld)", json_string_value(
		    json_object_get(c, "rule")), json_string_value(
		    json_object_get(c, "file")), (long long)
		    json_integer_value(json_object_get(c, "line"))) == -1) {
			a->oom = 1;
			break;
		}
		for (k = 0; k < nd && strcmp(desc[k], s) != 0; k++)
			;
		if (k < nd) {
			free(s);
			count[k]++;
		} else {
			desc[nd] = s;
			count[nd++] = 1;
		}
	}
	for (i = 0; i < nd; i++) {
		char *s = NULL;

		if (count[i] > 1 ? asprintf(&s, "%s x%zu", desc[i],
		    count[i]) == -1 : (s = strdup(desc[i])) == NULL)
			a->oom = 1;
		else if (json_array_append_new(reasons, json_string(s)) == -1)
			a->oom = 1;
		free(s);
		free(desc[i]);
	}
	free(desc);
	free(count);
	jset(a, d, "episode", json_integer(l->mql_episode));
	jnum(a, d, "score", l->fit + l->engagement);
	jnum(a, d, "fit", l->fit);
	jnum(a, d, "engagement", l->engagement);
	jstr(a, d, "stage", lead_stage_name(l->stage));
	jset(a, d, "attrs", json_deep_copy(l->attrs));
	jset(a, d, "ids", json_deep_copy(l->ids));
	jcopy(a, d, "owner", l->sales, "owner");
	jset(a, d, "reasons", reasons);
	jstr(a, d, "event", a->cause);
	add_entry(a, "handoffs", "handoff.mql", d);
}

/* Forward only: the highest stage above the current one that is reached
 * (a recycled lead moves as if it were at `lead`). */
static void
ladder(struct apply *a)
{
	struct lead *l = a->l;
	int eff = l->stage == LEAD_STAGE_RECYCLED ? RULES_STAGE_LEAD :
	    l->stage, target = -1;
	long long leave_ep = l->mql_episode;
	char why[512];

	if (eff < 0 || eff >= RULES_NSTAGES)
		return;
	lead_slot_values(a->r, l, NULL, a->vals);
	for (int s = RULES_NSTAGES - 1; s > eff && target < 0; s--)
		if (reached(a, s, eff, why, sizeof(why)))
			target = s;
	if (target < 0)
		return;
	if (target == RULES_STAGE_MQL) {
		l->mql_episode++;
		l->handoff_at = a->now;
		l->accepted_at = 0;
	}
	move(a, target, why, NULL, leave_ep);
	if (target == RULES_STAGE_MQL)
		handoff(a);
	if (eff < RULES_STAGE_SQL && target >= RULES_STAGE_SQL)
		feedback(a, "feedback.sql", NULL);
	for (size_t i = 0; i < a->r->nslas; i++)
		if (a->r->slas[i].after == target)
			sla_add(a, &a->r->slas[i], l->mql_episode);
}

/* Sales accepted the MQL of the current episode. */
static void
accept_mql(struct apply *a)
{
	struct lead *l = a->l;

	l->accepted_at = a->now;
	feedback(a, "feedback.accepted", NULL);
	for (size_t i = 0; i < a->r->nslas; i++)
		if (a->r->slas[i].after == RULES_STAGE_MQL)
			sla_del(a, &a->r->slas[i], l->mql_episode);
}

/* Stages after an event: the sales decisions, disqualified, the ladder. */
static void
lifecycle(struct apply *a)
{
	struct lead *l = a->l;
	const struct rules_stage_def *disq = &a->r->disqualified;
	bool reject = false, lost = false;
	char why[512];

	if (l->stage < 0)
		move(a, RULES_STAGE_SUBSCRIBER, "new lead", NULL, 0);
	if (l->stage == LEAD_STAGE_DISQUALIFIED)
		return;
	if (a->status != NULL && strcmp(a->status, "open") != 0) {
		if (strcmp(a->status, "unqualified") != 0) {
			if (l->stage >= RULES_STAGE_MQL &&
			    l->stage < RULES_NSTAGES && l->mql_episode > 0 &&
			    l->accepted_at == 0)
				accept_mql(a);
		} else if (l->stage < RULES_STAGE_CUSTOMER) {
			reject = true;
			feedback(a, "feedback.rejected", NULL);
		}
	}
	if (a->outcome != NULL && a->deal_changed) {
		if (strcmp(a->outcome, "won") == 0)
			feedback(a, "feedback.won", NULL);
		else if (strcmp(a->outcome, "lost") == 0) {
			feedback(a, "feedback.lost", NULL);
			lost = l->stage != RULES_STAGE_CUSTOMER &&
			    l->stage != LEAD_STAGE_RECYCLED;
		} else
			feedback(a, "feedback.opportunity", NULL);
	}
	if (disq->defined && disq->when != NULL) {
		lead_slot_values(a->r, l, NULL, a->vals);
		if (rules_expr_eval(disq->when, a->ev, a->vals)) {
			def_why(disq, why, sizeof(why));
			move(a, LEAD_STAGE_DISQUALIFIED, why, json_string_value(
			    json_object_get(l->sales, "reason")),
			    l->mql_episode);
			return;
		}
	}
	if (reject) {
		const char *reason = json_string_value(json_object_get(
		    l->sales, "reason"));

		recycle(a, reason != NULL ? reason : "unqualified",
		    "sales.status unqualified");
		return;
	}
	if (lost) {
		json_object_clear(l->deal);
		json_object_del(l->sales, "status");
		json_object_del(l->sales, "reason");
		recycle(a, "lost", "deal.outcome lost");
		return;
	}
	ladder(a);
}

/* ---- Entry points ------------------------------------------------------- */

static int
check_lead(const struct lead *l, char *err, size_t errlen)
{
	if (l->attrs == NULL || l->ids == NULL || l->sales == NULL ||
	    l->deal == NULL || !json_is_object(l->caps) ||
	    !json_is_array(l->contribs)) {
		error_set(err, errlen, "lead %s: not initialized", l->key);
		return -1;
	}
	if (l->mql_episode < 0 ||
	    l->mql_episode >= (long long)LEAD_POINTS_MAX) {
		error_set(err, errlen, "lead %s: mql_episode %lld out of range",
		    l->key, l->mql_episode);
		return -1;
	}
	return 0;
}

/* Applies one event; lead.h says what each type does. */
int
lead_apply_event(const struct rules *r, struct rules_eval *ev,
    struct lead *l, const struct baton_event *event, const char *entry_id,
    int64_t now_ms, struct lead_effects *fx, char *err, size_t errlen)
{
	struct apply a;
	struct lead_fields before;
	char why[256];
	double old_score;
	int rc = -1;

	lead_effects_clear(fx);
	if (r == NULL || ev == NULL || l == NULL || event == NULL ||
	    entry_id == NULL || entry_id[0] == '\0') {
		error_set(err, errlen, "lead_apply_event: missing %s",
		    entry_id == NULL || entry_id[0] == '\0' ? "entry id" :
		    "argument");
		return -1;
	}
	if (baton_event_validate(event, why, sizeof(why)) == -1) {
		error_set(err, errlen, "%s event %s: %s", event->type != NULL ?
		    event->type : "an", entry_id, why);
		return -1;
	}
	if (baton_event_lead_ref(event->lead) != NULL) {
		error_set(err, errlen, "event %s names its lead as %s, which "
		    "only the intake resolves", entry_id, event->lead);
		return -1;
	}
	if (strcmp(event->lead, l->key) != 0) {
		error_set(err, errlen, "event %s is for lead %s, not %s",
		    entry_id, event->lead, l->key);
		return -1;
	}
	if (now_ms < 0 || now_ms >= LEAD_TIME_END) {
		error_set(err, errlen, "now %lld is not between 1970 and 9999",
		    (long long)now_ms);
		return -1;
	}
	if (check_lead(l, err, errlen) == -1)
		return -1;
	if (strcmp(event->type, EVENT_LEAD_FORGET) == 0) {
		if (apply_forget(l, event, entry_id, now_ms, fx) == -1) {
			error_set(err, errlen, "out of memory applying %s to "
			    "lead %s", entry_id, l->key);
			return -1;
		}
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.r = r;
	a.ev = ev;
	a.l = l;
	a.cause = entry_id;
	a.now = now_ms;
	a.at = event->at_ms;
	a.fx = fx;
	a.type = event->type;
	if (lead_fields_build(l, &before, false) == -1) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	a.old_contribs = json_incref(l->contribs);
	a.had_caps = json_object_size(l->caps) > 0;
	a.vals = calloc(r->nslots + 1, sizeof(*a.vals));
	a.scored = json_array();
	a.fresh = json_array();
	if (a.vals == NULL || a.scored == NULL || a.fresh == NULL)
		goto oom;

	if (l->stage < 0)
		l->created_at = a.at;
	/* Decay runs to the evaluation time max(at, engagement_at). */
	if (a.at > l->engagement_at) {
		l->engagement = clamp_points(rules_decay(r, l->engagement,
		    a.at - l->engagement_at));
		l->engagement_at = a.at;
	}
	old_score = l->fit + l->engagement;

	if (strcmp(event->type, EVENT_LEAD_UPSERTED) == 0)
		apply_upsert(&a, event);
	else if (strcmp(event->type, EVENT_LEAD_ACTIVITY) == 0)
		apply_activity(&a, event);
	else if (strcmp(event->type, EVENT_LEAD_STATUS) == 0)
		apply_status(&a, event);
	else if (strcmp(event->type, EVENT_LEAD_MERGED) == 0)
		apply_merged(&a, event);
	else
		apply_deal(&a, event);
	if (json_object_get(l->attrs, "email") == NULL)
		jstr(&a, l->attrs, "email", l->key);
	recompute_fit(&a);
	write_scored(&a, old_score, false);
	lifecycle(&a);
	diff_fields(&a, &before);
	if (a.oom)
		goto oom;
	finish(&a);
	rc = 0;
	goto done;
oom:
	error_set(err, errlen, "out of memory applying %s to lead %s", entry_id,
	    l->key);
	lead_effects_clear(fx);
done:
	lead_fields_clear(&before);
	json_decref(a.scored);
	json_decref(a.fresh);
	json_decref(a.old_contribs);
	free(a.vals);
	return rc;
}

/* An SLA timer ran out; see lead.h. */
int
lead_apply_breach(const struct rules *r, struct rules_eval *ev,
    struct lead *l, const struct rules_sla *sla, long long episode,
    const char *timer_id, int64_t now_ms, struct lead_effects *fx,
    char *err, size_t errlen)
{
	struct apply a;
	struct lead_fields before;
	json_t *d, *on;
	int rc = -1;

	lead_effects_clear(fx);
	if (r == NULL || ev == NULL || l == NULL || sla == NULL ||
	    timer_id == NULL || timer_id[0] == '\0') {
		error_set(err, errlen, "lead_apply_breach: missing %s",
		    timer_id == NULL || timer_id[0] == '\0' ? "timer id" :
		    "argument");
		return -1;
	}
	if (now_ms < 0 || now_ms >= LEAD_TIME_END) {
		error_set(err, errlen, "now %lld is not between 1970 and 9999",
		    (long long)now_ms);
		return -1;
	}
	if (check_lead(l, err, errlen) == -1)
		return -1;
	/* A timer of another episode, or a stage left already: nothing. */
	if (l->stage < 0 || episode != l->mql_episode ||
	    l->stage != sla->after ||
	    (sla->after == RULES_STAGE_MQL && l->accepted_at != 0))
		return 0;
	memset(&a, 0, sizeof(a));
	a.r = r;
	a.ev = ev;
	a.l = l;
	a.cause = timer_id;
	a.now = now_ms;
	a.at = now_ms;
	a.fx = fx;
	if (lead_fields_build(l, &before, false) == -1) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	a.old_contribs = json_incref(l->contribs);
	a.had_caps = json_object_size(l->caps) > 0;
	if ((a.scored = json_array()) == NULL)
		goto oom;

	d = json_object();
	on = json_array();
	jstr(&a, d, "sla", sla->name);
	jset(&a, d, "episode", json_integer(episode));
	jstr(&a, d, "after", lead_stage_name(sla->after));
	jset(&a, d, "within_ms", json_integer(sla->within_ms));
	jset(&a, d, "deadline", json_integer(add_sat(l->stage_at,
	    sla->within_ms)));
	if (sla->on_breach & RULES_BREACH_NOTIFY)
		json_array_append_new(on, json_string("notify"));
	if (sla->on_breach & RULES_BREACH_RECYCLE)
		json_array_append_new(on, json_string("recycle"));
	jset(&a, d, "on_breach", on);
	jcopy(&a, d, "owner", l->sales, "owner");
	jstr(&a, d, "event", timer_id);
	{
		json_t *copy = sla->on_breach & RULES_BREACH_NOTIFY ?
		    json_deep_copy(d) : NULL;

		add_entry(&a, "decisions", "sla.breached", d);
		if (sla->on_breach & RULES_BREACH_NOTIFY)
			add_entry(&a, "handoffs", "sla.breached", copy);
	}
	sla_del(&a, sla, episode);
	if (sla->on_breach & RULES_BREACH_RECYCLE) {
		char why[256];

		snprintf(why, sizeof(why), "sla %s breached", sla->name);
		recycle(&a, "sla", why);
	}
	diff_fields(&a, &before);
	if (a.oom)
		goto oom;
	finish(&a);
	rc = 0;
	goto done;
oom:
	error_set(err, errlen, "out of memory applying %s to lead %s",
	    timer_id, l->key);
	lead_effects_clear(fx);
done:
	lead_fields_clear(&before);
	json_decref(a.scored);
	json_decref(a.old_contribs);
	return rc;
}
