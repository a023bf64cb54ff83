/*
 * rules_job.c - one lead's job: the next item of a lead's queue, from the
 * lead's hash to the commit that rules_commit.c sends.
 *
 * A lead has one job at a time; different leads' jobs run concurrently
 * (their HGETALLs are sent as soon as their items are queued, so a read
 * batch's loads go out pipelined, and their commits are grouped).  A job
 * loads the hash with HGETALL, or uses the copy kept from this worker's
 * own last commit of the lead (a stale copy is harmless: the commit's
 * `ver` check refuses it and the job reloads), then:
 *   breach                     lead_apply_breach(), or the timer's removal
 *                              when the SLA is gone or nothing changes;
 *   entry without seq or lead  event.invalid and XACK, no lead state;
 *   lead.seq >= entry.seq      already applied (a redelivery): XACK only;
 *   lead.seq == entry.seq - 1  lead_apply_event() and its commit (a
 *                              malformed event commits its seq with
 *                              event.invalid and nothing else);
 *   lead.seq <  entry.seq - 1  an earlier event is missing: defer and
 *                              retry with backoff, until the gap may be
 *                              skipped (rules_claim.c), then apply with a
 *                              rules.gap decision naming what is skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules_worker_int.h"

void
rules_cache_clear(struct leadq *q)
{
	for (size_t i = 0; i < q->nc; i++) {
		free(q->cf[i]);
		free(q->cv[i]);
	}
	q->nc = 0;
	q->cached = false;
}

/* Replaces the kept hash with an HGETALL reply.  0 or -1. */
static int
cache_fill(struct leadq *q, const redisReply *r)
{
	size_t n = r->elements / 2;

	rules_cache_clear(q);
	if (n > q->ccap) {
		char **f = realloc(q->cf, n * sizeof(*f)), **v;

		if (f == NULL)
			return -1;
		q->cf = f;
		if ((v = realloc(q->cv, n * sizeof(*v))) == NULL)
			return -1;
		q->cv = v;
		q->ccap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *f = r->element[2 * i],
		    *v = r->element[2 * i + 1];

		if (!rules_is_string(f) || !rules_is_string(v))
			continue;
		if ((q->cf[q->nc] = strndup(f->str, f->len)) == NULL)
			return -1;
		if ((q->cv[q->nc] = strndup(v->str, v->len)) == NULL) {
			free(q->cf[q->nc]);
			return -1;
		}
		q->nc++;
	}
	q->cached = true;
	return 0;
}

void
rules_job_backoff(struct leadq *q)
{
	q->phase = JOB_IDLE;
	q->cur = NULL;
	q->conflicts = 0;
	q->backoff_ms = q->backoff_ms ? q->backoff_ms * 2 :
	    WORKER_BACKOFF_MIN_MS;
	if (q->backoff_ms > WORKER_BACKOFF_MAX_MS)
		q->backoff_ms = WORKER_BACKOFF_MAX_MS;
	if (q->w->freeing)
		return;
	q->waiting = true;
	clock_timer_in(q->ev_retry, q->backoff_ms);
}

void
rules_job_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct leadq *q = arg;

	(void)fd;
	(void)what;
	q->waiting = false;
	rules_job_kick(q);
	rules_leadq_maybe_drop(q);
}

static void job_process(struct leadq *q);

static void
load_reply(struct redisReply *reply, void *arg)
{
	struct leadq *q = arg;
	struct rules_worker *w = q->w;

	w->ncmd--;
	q->phase = JOB_IDLE;
	if (w->freeing)
		return;
	if (w->stopping || w->rules == NULL) {
		/* The item stays queued; nothing was sent for it. */
		q->cur = NULL;
		rules_worker_check_stopped(w);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    cache_fill(q, reply) == -1) {
		if (reply != NULL)
			log_warnx("rules: HGETALL %s failed: %s", q->k_hash,
			    reply->type == REDIS_REPLY_ERROR ? reply->str :
			    "unexpected reply or out of memory");
		rules_cache_clear(q);
		rules_job_backoff(q);
		return;
	}
	job_process(q);
}

void
rules_job_kick(struct leadq *q)
{
	struct rules_worker *w = q->w;
	struct item *it;
	const char *argv[2];

	if (q->phase != JOB_IDLE || w->stopping || w->freeing ||
	    w->rules == NULL || !redis_is_up(w->rc))
		return;
	if ((it = TAILQ_FIRST(&q->others)) == NULL) {
		if (q->waiting || (it = TAILQ_FIRST(&q->events)) == NULL)
			return;
	}
	q->cur = it;
	q->conflicts = 0;
	if (it->kind == ITEM_INVALID || q->cached) {
		job_process(q);
		return;
	}
	argv[0] = "HGETALL";
	argv[1] = q->k_hash;
	if (rules_worker_command(w, load_reply, q, 2, argv) == -1) {
		rules_job_backoff(q);
		return;
	}
	q->phase = JOB_LOAD;
}

static json_t *
invalid_data(const struct item *it, const char *why)
{
	const struct baton_event *ev = it->ev;

	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "event",
	    it->entry_id, "error", why,
	    "type", ev ? ev->type : it->type,
	    "source", ev ? ev->source : it->source,
	    "id", ev ? ev->id : it->id);
}

/* An entry without seq or lead: event.invalid and XACK, nothing else. */
static void
job_invalid_noseq(struct leadq *q, struct item *it, int64_t now)
{
	struct extra_entry x = { "event.invalid", NULL, NULL };
	int built = -1;

	log_warnx("rules: entry %s of %s is not applied: %s", it->entry_id,
	    q->w->k_events, it->why);
	x.id = rules_asprintf("%s/invalid", it->entry_id);
	x.data = invalid_data(it, it->why);
	if (x.id != NULL && x.data != NULL)
		built = rules_commit_build(q, NULL, &x, 1, false, -1, 0,
		    it->entry_id, NULL, now);
	free(x.id);
	json_decref(x.data);
	rules_commit_send(q, built, 0);
}

/* XACK of an entry already applied. */
static void
ack_reply(struct redisReply *reply, void *arg)
{
	struct leadq *q = arg;
	struct rules_worker *w = q->w;

	w->ncmd--;
	q->phase = JOB_IDLE;
	if (w->freeing)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		rules_job_backoff(q);
		rules_worker_check_stopped(w);
		return;
	}
	metric_inc(rules_m_duplicate);
	rules_item_done(q, q->cur);
	q->cur = NULL;
	q->backoff_ms = 0;
	rules_job_kick(q);
	rules_leadq_maybe_drop(q);
	rules_worker_check_stopped(w);
}

/* A breach: lead_apply_breach() and its commit, or the timer's removal. */
static void
job_breach(struct leadq *q, struct item *it, struct lead *l, int64_t now)
{
	struct rules_worker *w = q->w;
	const struct rules_sla *sla = NULL;
	char err[512];
	int built;

	for (size_t i = 0; i < w->rules->nslas; i++)
		if (strcmp(w->rules->slas[i].name, it->sla_name) == 0)
			sla = &w->rules->slas[i];
	if (sla == NULL) {
		log_warnx("rules: SLA timer %s: the rules have no [sla %s]; "
		    "timer removed", it->member, it->sla_name);
		built = rules_commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
		    it->member, now);
	} else if (lead_apply_breach(w->rules, w->eval, l, sla, it->episode,
	    it->member, now, &q->fx, err, sizeof(err)) == -1) {
		log_warnx("rules: SLA timer %s: %s; timer removed", it->member,
		    err);
		lead_effects_clear(&q->fx);
		built = rules_commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
		    it->member, now);
	} else if (!q->fx.changed)
		built = rules_commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
		    it->member, now);
	else {
		q->commit_breach = true;
		built = rules_commit_build(q, &q->fx, NULL, 0, false, l->ver, 0,
		    NULL, it->member, now);
	}
	lead_clear(l);
	rules_commit_send(q, built, 0);
}

/* Runs the job of q->cur with the lead's hash in the kept copy. */
static void
job_process(struct leadq *q)
{
	struct rules_worker *w = q->w;
	struct item *it = q->cur;
	struct lead l;
	char err[512];
	int64_t now = clock_wall_ms(), mnow = clock_mono_ms();
	struct extra_entry x[1] = { { NULL, NULL, NULL } };
	size_t nx = 0;
	int built;
	long long want_ver;

	lead_effects_clear(&q->fx);
	q->commit_breach = false;
	if (it->kind == ITEM_INVALID) {
		job_invalid_noseq(q, it, now);
		return;
	}
	if (lead_from_fields(&l, q->key, (const char *const *)q->cf,
	    (const char *const *)q->cv, q->nc, err, sizeof(err)) == -1) {
		log_warnx("rules: lead %s cannot be read: %s; its events wait",
		    q->k_hash, err);
		rules_cache_clear(q);
		q->backoff_ms = WORKER_BACKOFF_MAX_MS;
		rules_job_backoff(q);
		return;
	}
	if (it->kind == ITEM_BREACH) {
		job_breach(q, it, &l, now);
		return;
	}
	/* An event. */
	if (l.seq >= it->seq) {
		const char *argv[] = { "XACK", w->k_events, WORKER_GROUP,
		    it->entry_id };

		log_debug("rules: entry %s (seq %lld) of %s already applied "
		    "(lead seq %lld); acknowledged", it->entry_id, it->seq,
		    q->key, l.seq);
		lead_clear(&l);
		if (rules_worker_command(w, ack_reply, q, 4, argv) == -1) {
			rules_job_backoff(q);
			return;
		}
		q->phase = JOB_ACK;
		return;
	}
	if (l.seq < it->seq - 1) {
		long long have = l.seq;

		lead_clear(&l);
		if (it->deferred_since == 0) {
			it->deferred_since = mnow;
			w->ndeferred++;
			metric_inc(rules_m_deferred);
			log_debug("rules: entry %s (seq %lld) of %s waits for "
			    "seq %lld", it->entry_id, it->seq, q->key,
			    have + 1);
		}
		if (!rules_claim_gap_may_skip(w, it, mnow)) {
			/* The hash may be newer than our copy. */
			rules_cache_clear(q);
			rules_job_backoff(q);
			return;
		}
		log_warnx("rules: lead %s: seq %lld to %lld never arrived in "
		    "%lld ms; applying entry %s (seq %lld) anyway", q->key,
		    have + 1, it->seq - 1, (long long)w->gap_ms, it->entry_id,
		    it->seq);
		x[0].type = "rules.gap";
		x[0].id = rules_asprintf("%s/gap", it->entry_id);
		x[0].data = json_pack("{s:s, s:I, s:I, s:I}", "event",
		    it->entry_id, "expected", (json_int_t)(have + 1), "got",
		    (json_int_t)it->seq, "skipped",
		    (json_int_t)(it->seq - have - 1));
		nx = 1;
		if (x[0].id == NULL || x[0].data == NULL ||
		    lead_from_fields(&l, q->key, (const char *const *)q->cf,
		    (const char *const *)q->cv, q->nc, err, sizeof(err)) ==
		    -1) {
			free(x[0].id);
			json_decref(x[0].data);
			rules_job_backoff(q);
			return;
		}
	}
	want_ver = l.ver;
	if (it->ev == NULL || lead_apply_event(w->rules, w->eval, &l, it->ev,
	    it->entry_id, now, &q->fx, err, sizeof(err)) == -1) {
		const char *why = it->ev == NULL ? it->why : err;
		struct extra_entry all[2];
		size_t n = 0;

		log_warnx("rules: entry %s of lead %s is not applied: %s",
		    it->entry_id, q->key, why);
		lead_effects_clear(&q->fx);
		if (nx == 1)
			all[n++] = x[0];
		all[n].type = "event.invalid";
		all[n].id = rules_asprintf("%s/invalid", it->entry_id);
		all[n].data = invalid_data(it, why);
		built = -1;
		if (all[n].id != NULL && all[n].data != NULL)
			built = rules_commit_build(q, NULL, all, n + 1, true,
			    want_ver, it->seq, it->entry_id, NULL, now);
		free(all[n].id);
		json_decref(all[n].data);
		/* lead_apply_event may have changed l: our copy is unsure */
		rules_cache_clear(q);
	} else
		built = rules_commit_build(q, &q->fx, x, nx, true, want_ver,
		    it->seq, it->entry_id, NULL, now);
	if (nx == 1) {
		free(x[0].id);
		json_decref(x[0].data);
	}
	lead_clear(&l);
	rules_commit_send(q, built, it->seq);
}
