/*
 * rules_worker.c - applies rules.conf to the events of PREFIX:events
 * exactly once and in order per lead, and runs the SLA timers (see
 * rules_worker.h).  This file: the worker's life, its connections and the
 * group, reading entries and the per-lead queues.  The other concerns
 * live beside it (rules_worker_int.h lists them): rules_job.c (one lead's
 * job), rules_commit.c (the commit script and the group commit),
 * rules_claim.c (XAUTOCLAIM, gaps), rules_sla.c (SLA timers).
 *
 * Connections.  Two, each reconnecting by itself: `rules-read` carries
 * only the blocking XREADGROUP GROUP rules <consumer> COUNT 256 BLOCK 2000
 * (its timeout is the block time plus a margin), so nothing ever queues
 * behind it; `rules` carries everything else (HGETALL, the commit script,
 * XACK, XAUTOCLAIM, the SLA claim script).  Each creates the group with
 * XGROUP CREATE PREFIX:events rules 0 MKSTREAM when it comes up
 * (BUSYGROUP is fine).  On start the worker first reads its own pending
 * entries (STREAMS PREFIX:events 0, then from the last id seen) and then
 * new ones (>).  Reading pauses while more than WORKER_HOLD_MAX entries
 * are held in memory, and while no rules are set.
 *
 * Order and exactly-once.  The intake writes each event with `seq`, the
 * lead's own counter (HINCRBY PREFIX:lead:<key> seq_in 1, atomic with the
 * XADD), and the lead hash keeps `seq`, the last sequence applied, and
 * `ver`, bumped by every commit.  Entries are queued per lead, sorted by
 * seq; one job per lead is in flight at a time (rules_job.c), different
 * leads go concurrently: their loads pipelined on the one connection,
 * their commits grouped into one script call per loop iteration
 * (rules_commit.c), each lead's part all or nothing with its own `ver`
 * check.  Entries without a usable `seq` or lead (not written by batond)
 * are acknowledged with an `event.invalid` decision saying why.
 *
 * Stop and free.  rules_worker_stop() stops reading, claiming and timers;
 * a load that answers afterwards goes no further; commits already queued
 * or sent finish; then `done` runs from a zero-timeout event.  Every
 * command callback runs exactly once (redis.h) and frees what its job
 * owns on every path, including the NULL reply redis_free() produces.
 */
#include "rules_worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rules_worker_int.h"

/* ---- Metrics ------------------------------------------------------------ */

struct metric_series *rules_m_applied, *rules_m_duplicate, *rules_m_deferred,
    *rules_m_invalid, *rules_m_conflicts, *rules_m_apply_seconds;
struct metric *rules_m_breaches;
static struct rules_worker *metrics_worker;     /* for the gauges */

static double
gauge_held(void *arg)
{
	(void)arg;
	return metrics_worker ? (double)metrics_worker->held : 0;
}

static double
gauge_deferred(void *arg)
{
	(void)arg;
	return metrics_worker ? (double)metrics_worker->ndeferred : 0;
}

static void
metrics_init(void)
{
	struct metric *ev = metric_counter("baton_rules_events_total",
	    "Events handled by the rules worker, by result.", "result");

	rules_m_applied = metric_series(ev, "applied");
	rules_m_duplicate = metric_series(ev, "duplicate");
	rules_m_deferred = metric_series(ev, "deferred");
	rules_m_invalid = metric_series(ev, "invalid");
	rules_m_conflicts = metric_series(metric_counter(
	    "baton_rules_commit_conflicts_total",
	    "Commits refused because another consumer changed the lead "
	    "first.", NULL));
	rules_m_apply_seconds = metric_series(metric_histogram(
	    "baton_rules_apply_seconds",
	    "Time from reading an event to its commit being acknowledged.",
	    NULL, NULL, 0));
	rules_m_breaches = metric_counter("baton_sla_breaches_total",
	    "SLA timers that ran out, by SLA.", "sla");
	metric_gauge_fn("baton_rules_held",
	    "Events and SLA timers held by the rules worker, not yet "
	    "committed.", gauge_held, NULL);
	metric_gauge_fn("baton_rules_deferred",
	    "Events waiting for an earlier event of their lead.",
	    gauge_deferred, NULL);
}

/* ---- Helpers ------------------------------------------------------------ */

char *
rules_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static char *
xstrndup_or_null(const char *s, size_t len)
{
	return s == NULL ? NULL : strndup(s, len);
}

bool
rules_parse_ll(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s == '\0')
		return false;
	*out = strtoll(s, &end, 10);
	return *end == '\0';
}

int
rules_worker_command(struct rules_worker *w, redis_reply_cb cb, void *arg,
    int argc, const char **argv)
{
	size_t len[16];

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redis_command_argv(w->rc, 0, cb, arg, argc, argv, len) == -1)
		return -1;
	w->ncmd++;
	return 0;
}

void
rules_worker_cmd_done(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	(void)reply;
	w->ncmd--;
	rules_worker_check_stopped(w);
}

/* ---- Items and lead queues ---------------------------------------------- */

void
rules_item_free(struct item *it)
{
	if (it == NULL)
		return;
	free(it->entry_id);
	baton_event_free(it->ev);
	free(it->why);
	free(it->type);
	free(it->source);
	free(it->id);
	free(it->member);
	free(it->sla_name);
	free(it);
}

static uint64_t
key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
leadq_free(struct leadq *q)
{
	struct item *it;

	if (q == NULL)
		return;
	while ((it = TAILQ_FIRST(&q->events)) != NULL) {
		TAILQ_REMOVE(&q->events, it, link);
		rules_item_free(it);
	}
	while ((it = TAILQ_FIRST(&q->others)) != NULL) {
		TAILQ_REMOVE(&q->others, it, link);
		rules_item_free(it);
	}
	lead_effects_clear(&q->fx);
	rules_cargs_clear(&q->part);
	rules_cache_clear(q);
	free(q->cf);
	free(q->cv);
	if (q->ev_retry != NULL)
		event_free(q->ev_retry);
	free(q->key);
	free(q->k_hash);
	free(q->k_history);
	free(q);
}

static struct leadq *
leadq_find(struct rules_worker *w, const char *key)
{
	struct leadq *q;

	if (w->tabsize == 0)
		return NULL;
	for (q = w->tab[key_hash(key) % w->tabsize]; q != NULL; q = q->next)
		if (strcmp(q->key, key) == 0)
			return q;
	return NULL;
}

/* The queue of key, created when missing.  NULL when out of memory. */
static struct leadq *
leadq_get(struct rules_worker *w, const char *key)
{
	struct leadq *q;
	size_t h;

	if ((q = leadq_find(w, key)) != NULL)
		return q;
	if (w->nleads >= w->tabsize) {
		size_t n = w->tabsize ? w->tabsize * 2 : 256;
		struct leadq **t = calloc(n, sizeof(*t));

		if (t == NULL)
			return NULL;
		for (size_t i = 0; i < w->tabsize; i++)
			while ((q = w->tab[i]) != NULL) {
				w->tab[i] = q->next;
				h = key_hash(q->key) % n;
				q->next = t[h];
				t[h] = q;
			}
		free(w->tab);
		w->tab = t;
		w->tabsize = n;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->w = w;
	TAILQ_INIT(&q->events);
	TAILQ_INIT(&q->others);
	if ((q->key = strdup(key)) == NULL ||
	    (q->k_hash = rules_asprintf("%s:lead:%s", w->prefix, key)) ==
	    NULL ||
	    (q->k_history = rules_asprintf("%s:lead:%s:history", w->prefix,
	    key)) == NULL ||
	    (q->ev_retry = evtimer_new(w->base, rules_job_on_retry, q)) ==
	    NULL) {
		leadq_free(q);
		return NULL;
	}
	h = key_hash(key) % w->tabsize;
	q->next = w->tab[h];
	w->tab[h] = q;
	w->nleads++;
	return q;
}

void
rules_leadq_maybe_drop(struct leadq *q)
{
	struct rules_worker *w = q->w;
	struct leadq **pp;

	if (q->nitems > 0 || q->phase != JOB_IDLE || q->waiting)
		return;
	for (pp = &w->tab[key_hash(q->key) % w->tabsize]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			w->nleads--;
			break;
		}
	leadq_free(q);
}

/* Whether entry_id is held by q already. */
static bool
leadq_holds(const struct leadq *q, const char *entry_id)
{
	const struct item *it;

	TAILQ_FOREACH(it, &q->events, link)
		if (strcmp(it->entry_id, entry_id) == 0)
			return true;
	TAILQ_FOREACH(it, &q->others, link)
		if (it->entry_id != NULL && strcmp(it->entry_id, entry_id) == 0)
			return true;
	return false;
}

static bool
leadq_holds_member(const struct leadq *q, const char *member)
{
	const struct item *it;

	TAILQ_FOREACH(it, &q->others, link)
		if (it->member != NULL && strcmp(it->member, member) == 0)
			return true;
	return false;
}

void
rules_worker_enqueue(struct rules_worker *w, const char *key, struct item *it)
{
	struct leadq *q;
	struct item *p;

	if ((q = leadq_get(w, key)) == NULL) {
		log_warnx("rules: out of memory queueing an event of %s; it "
		    "stays pending", key);
		rules_item_free(it);
		return;
	}
	if ((it->entry_id != NULL && leadq_holds(q, it->entry_id)) ||
	    (it->member != NULL && leadq_holds_member(q, it->member))) {
		rules_item_free(it);
		return;
	}
	if (it->kind == ITEM_EVENT) {
		TAILQ_FOREACH_REVERSE(p, &q->events, item_list, link)
			if (p->seq <= it->seq)
				break;
		if (p == NULL)
			TAILQ_INSERT_HEAD(&q->events, it, link);
		else
			TAILQ_INSERT_AFTER(&q->events, p, it, link);
		/* A new head may be what a deferred job waited for. */
		if (TAILQ_FIRST(&q->events) == it && q->waiting) {
			event_del(q->ev_retry);
			q->waiting = false;
		}
	} else if (it->kind == ITEM_BREACH)
		TAILQ_INSERT_HEAD(&q->others, it, link);
	else
		TAILQ_INSERT_TAIL(&q->others, it, link);
	q->nitems++;
	w->held++;
	rules_job_kick(q);
}

void
rules_item_done(struct leadq *q, struct item *it)
{
	struct rules_worker *w = q->w;

	if (it->kind == ITEM_EVENT)
		TAILQ_REMOVE(&q->events, it, link);
	else
		TAILQ_REMOVE(&q->others, it, link);
	if (it->deferred_since != 0)
		w->ndeferred--;
	q->nitems--;
	w->held--;
	rules_item_free(it);
}

/* ---- Reading entries ---------------------------------------------------- */

/* The value of field name in a flat field/value array, or NULL. */
static const redisReply *
entry_field(const redisReply *fv, const char *name)
{
	for (size_t i = 0; i + 1 < fv->elements; i += 2)
		if (rules_is_string(fv->element[i]) &&
		    strcmp(fv->element[i]->str, name) == 0 &&
		    rules_is_string(fv->element[i + 1]))
			return fv->element[i + 1];
	return NULL;
}

/*
 * Turns one entry [id, [field, value, ...]] into an item on its lead's
 * queue.  A deleted entry (nil fields, what a claim of a trimmed entry
 * returns) is acknowledged and dropped.
 */
static void
take_entry(struct rules_worker *w, const redisReply *e, int64_t now)
{
	const redisReply *idr, *fv, *f;
	struct item *it;
	const char *lead = NULL;
	json_t *data = NULL;
	json_error_t jerr;
	long long at = 0;
	char why[300] = "";

	if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    !rules_is_string(e->element[0]))
		return;
	idr = e->element[0];
	fv = e->element[1];
	if (fv == NULL || fv->type != REDIS_REPLY_ARRAY) {
		const char *argv[] = { "XACK", w->k_events, WORKER_GROUP,
		    idr->str };

		log_info("rules: entry %s is gone from %s; acknowledged",
		    idr->str, w->k_events);
		rules_worker_command(w, rules_worker_cmd_done, w, 4, argv);
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->entry_id = strdup(idr->str)) == NULL) {
		rules_item_free(it);
		return;
	}
	it->read_ms = now;
	if ((f = entry_field(fv, "lead")) != NULL && f->len > 0 &&
	    f->len <= EVENT_LEAD_MAX && strlen(f->str) == f->len)
		lead = f->str;
	f = entry_field(fv, "seq");
	if (lead == NULL || f == NULL || !rules_parse_ll(f->str, &it->seq) ||
	    it->seq < 1) {
		const redisReply *t = entry_field(fv, "type"),
		    *s = entry_field(fv, "source"), *i = entry_field(fv, "id");

		it->kind = ITEM_INVALID;
		if (lead == NULL)
			it->why = strdup(entry_field(fv, "lead") ? "field lead "
			    "is empty or longer than 254 bytes" :
			    "no field lead");
		else
			it->why = rules_asprintf(f == NULL ? "no field seq "
			    "(the entry was not written by batond)" : "field "
			    "seq '%s' is not a positive integer",
			    f ? f->str : "");
		it->type = t ? xstrndup_or_null(t->str, t->len) : NULL;
		it->source = s ? xstrndup_or_null(s->str, s->len) : NULL;
		it->id = i ? xstrndup_or_null(i->str, i->len) : NULL;
		if (it->why == NULL) {
			rules_item_free(it);
			return;
		}
		rules_worker_enqueue(w, lead ? lead : "", it);
		return;
	}
	it->kind = ITEM_EVENT;
	{
		const redisReply *t = entry_field(fv, "type"),
		    *s = entry_field(fv, "source"), *i = entry_field(fv, "id"),
		    *a = entry_field(fv, "at"), *d = entry_field(fv, "data");

		if (t == NULL || t->len == 0)
			snprintf(why, sizeof(why), "no field type");
		else if (s == NULL || s->len == 0)
			snprintf(why, sizeof(why), "no field source");
		else if (i == NULL || i->len == 0)
			snprintf(why, sizeof(why), "no field id");
		else if (a == NULL || !rules_parse_ll(a->str, &at))
			snprintf(why, sizeof(why), "field at %s%.40s%s is not "
			    "milliseconds since the epoch", a ? "'" : "",
			    a ? a->str : "is missing;", a ? "'" : "");
		else if (d == NULL)
			snprintf(why, sizeof(why), "no field data");
		else if ((data = json_loadb(d->str, d->len, 0, &jerr)) ==
		    NULL)
			snprintf(why, sizeof(why), "field data is not JSON: "
			    "%s", jerr.text);
		else if (!json_is_object(data)) {
			snprintf(why, sizeof(why), "field data is not a JSON "
			    "object");
			json_decref(data);
		} else if ((it->ev = baton_event_new(t->str, lead, i->str, at,
		    data)) == NULL ||
		    baton_event_set_source(it->ev, s->str) == -1) {
			rules_item_free(it);
			return;
		}
	}
	if (it->ev == NULL && (it->why = strdup(why)) == NULL) {
		rules_item_free(it);
		return;
	}
	rules_worker_enqueue(w, lead, it);
}

const char *
rules_worker_take_entries(struct rules_worker *w, const redisReply *arr)
{
	const char *last = NULL;
	int64_t now = clock_mono_ms();

	if (arr == NULL || arr->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i < arr->elements; i++) {
		const redisReply *e = arr->element[i];

		take_entry(w, e, now);
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    rules_is_string(e->element[0]))
			last = e->element[0]->str;
	}
	return last;
}

static bool
can_read(const struct rules_worker *w)
{
	return w->rules != NULL && !w->stopping && !w->freeing &&
	    w->rd_group && redis_is_up(w->rd) && w->held < WORKER_HOLD_MAX -
	    256;
}

static void
read_reply(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;
	const redisReply *streams;
	const char *last;

	w->reading = false;
	if (w->freeing)
		return;
	if (reply == NULL) {
		/* redis.c logged it; the connection comes back by itself. */
		clock_timer_in(w->ev_read, WORKER_RETRY_READ_MS);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOGROUP", 7) == 0)
			w->rd_group = false;
		log_warnx("rules: XREADGROUP on %s failed: %s", w->k_events,
		    reply->str);
		clock_timer_in(w->ev_read, 1000);
		return;
	}
	streams = reply;
	if (streams->type == REDIS_REPLY_ARRAY && streams->elements >= 1 &&
	    streams->element[0]->type == REDIS_REPLY_ARRAY &&
	    streams->element[0]->elements == 2) {
		last = rules_worker_take_entries(w,
		    streams->element[0]->element[1]);
		if (w->pending_phase) {
			if (last == NULL) {
				w->pending_phase = false;
				log_debug("rules: own pending entries read; "
				    "reading new ones");
			} else {
				free(w->pending_from);
				w->pending_from = strdup(last);
			}
		}
	} else if (w->pending_phase)
		w->pending_phase = false;
	rules_worker_read_more(w);
}

void
rules_worker_read_more(struct rules_worker *w)
{
	const char *argv[11];
	size_t len[11];
	int64_t timeout;

	if (w->reading || !can_read(w))
		return;
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = WORKER_GROUP;
	argv[3] = w->consumer;
	argv[4] = "COUNT";
	argv[5] = WORKER_READ_COUNT;
	if (w->pending_phase) {
		argv[6] = "STREAMS";
		argv[7] = w->k_events;
		argv[8] = w->pending_from ? w->pending_from : "0";
		timeout = 0;
		for (int i = 0; i < 9; i++)
			len[i] = strlen(argv[i]);
		if (redis_command_argv(w->rd, timeout, read_reply, w, 9, argv,
		    len) == 0)
			w->reading = true;
		return;
	}
	argv[6] = "BLOCK";
	argv[7] = "2000";
	argv[8] = "STREAMS";
	argv[9] = w->k_events;
	argv[10] = ">";
	for (int i = 0; i < 11; i++)
		len[i] = strlen(argv[i]);
	timeout = WORKER_BLOCK_MS + WORKER_BLOCK_MARGIN_MS;
	if (redis_command_argv(w->rd, timeout, read_reply, w, 11, argv, len)
	    == 0)
		w->reading = true;
}

static void
on_read_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rules_worker_read_more(arg);
}

/* ---- The group ---------------------------------------------------------- */

struct group_call {
	struct rules_worker *w;
	bool on_rd;
};

static void
group_reply(struct redisReply *reply, void *arg)
{
	struct group_call *g = arg;
	struct rules_worker *w = g->w;
	bool ok = reply != NULL && (reply->type == REDIS_REPLY_STATUS ||
	    (reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) == 0));

	if (!g->on_rd)
		w->ncmd--;
	if (reply != NULL && !ok)
		log_warnx("rules: XGROUP CREATE %s %s failed: %s", w->k_events,
		    WORKER_GROUP, reply->str);
	if (g->on_rd) {
		w->rd_group = ok;
		if (ok && !w->freeing)
			rules_worker_read_more(w);
		else if (!w->freeing)
			clock_timer_in(w->ev_read, 1000);
	} else
		w->rc_group = ok;
	free(g);
	rules_worker_check_stopped(w);
}

static void
group_create(struct rules_worker *w, bool on_rd)
{
	const char *argv[] = { "XGROUP", "CREATE", w->k_events, WORKER_GROUP,
	    "0", "MKSTREAM" };
	size_t len[6];
	struct group_call *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return;
	g->w = w;
	g->on_rd = on_rd;
	for (int i = 0; i < 6; i++)
		len[i] = strlen(argv[i]);
	if (redis_command_argv(on_rd ? w->rd : w->rc, 0, group_reply, g, 6,
	    argv, len) == -1) {
		free(g);
		return;
	}
	if (!on_rd)
		w->ncmd++;
}

static void
rd_state(bool up, void *arg)
{
	struct rules_worker *w = arg;

	if (!up) {
		w->rd_group = false;
		return;
	}
	if (!w->freeing && !w->stopping)
		group_create(w, true);
}

static void
rc_state(bool up, void *arg)
{
	struct rules_worker *w = arg;

	if (!up) {
		w->rc_group = false;
		return;
	}
	if (w->freeing || w->stopping)
		return;
	group_create(w, false);
	/* Jobs that could not send while it was down. */
	for (size_t i = 0; i < w->tabsize; i++)
		for (struct leadq *q = w->tab[i]; q != NULL; q = q->next)
			rules_job_kick(q);
}

/* ---- Life --------------------------------------------------------------- */

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct rules_worker *w = arg;

	(void)fd;
	(void)what;
	if (w->done != NULL) {
		void (*done)(void *) = w->done;

		w->done = NULL;
		done(w->done_arg);
	}
}

void
rules_worker_check_stopped(struct rules_worker *w)
{
	if (!w->stopping || w->freeing || w->ncmd > 0 || w->done == NULL)
		return;
	event_active(w->ev_done, EV_TIMEOUT, 0);
}

static char *
default_consumer(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return rules_asprintf("%s-%ld", host, (long)getpid());
}

/*
 * The claim idle time, claim interval and gap timeout: 30 s, 10 s, 30 s,
 * or, for tests that kill batond and must not wait that long, all three
 * from BATON_TEST_RULES_IDLE_MS (100 ms to 10 min): idle and gap that
 * value, the interval a third of it.
 */
static void
worker_test_times(struct rules_worker *w)
{
	const char *env = getenv("BATON_TEST_RULES_IDLE_MS");
	long long v;

	w->claim_idle_ms = WORKER_CLAIM_IDLE_MS;
	w->claim_interval_ms = WORKER_CLAIM_INTERVAL_MS;
	w->gap_ms = WORKER_GAP_MS;
	if (env != NULL && rules_parse_ll(env, &v) && v >= 100 && v <= 600000) {
		w->claim_idle_ms = w->gap_ms = v;
		w->claim_interval_ms = v / 3;
		log_notice("rules: test timing: claim entries idle %lld ms, "
		    "every %lld ms", v, v / 3);
	} else if (env != NULL)
		log_warnx("rules: BATON_TEST_RULES_IDLE_MS '%s' ignored: not "
		    "100 to 600000", env);
	snprintf(w->claim_idle, sizeof(w->claim_idle), "%lld",
	    (long long)w->claim_idle_ms);
}

struct rules_worker *
rules_worker_new(struct event_base *base, const struct redis_opts *o,
    const char *prefix, long long stream_maxlen, const char *consumer_name)
{
	struct rules_worker *w;
	static bool metrics_done;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (!metrics_done) {
		metrics_init();
		metrics_done = true;
	}
	w->base = base;
	w->maxlen = stream_maxlen > 0 ? stream_maxlen : 0;
	snprintf(w->maxlen_text, sizeof(w->maxlen_text), "%lld", w->maxlen);
	w->pending_phase = true;
	w->prefix = strdup(prefix);
	w->consumer = consumer_name ? strdup(consumer_name) :
	    default_consumer();
	if (w->prefix == NULL || w->consumer == NULL)
		goto fail;
	w->k_events = rules_asprintf("%s:events", prefix);
	w->k_sla = rules_asprintf("%s:sla", prefix);
	w->k_decisions = rules_asprintf("%s:decisions", prefix);
	w->k_handoffs = rules_asprintf("%s:handoffs", prefix);
	w->k_feedback = rules_asprintf("%s:feedback", prefix);
	if (w->k_events == NULL || w->k_sla == NULL || w->k_decisions ==
	    NULL || w->k_handoffs == NULL || w->k_feedback == NULL)
		goto fail;
	if ((w->eval = rules_eval_new()) == NULL ||
	    (w->ev_read = evtimer_new(base, on_read_timer, w)) == NULL ||
	    (w->ev_claim = evtimer_new(base, rules_claim_on_timer, w)) ==
	    NULL ||
	    (w->ev_sla = evtimer_new(base, rules_sla_on_timer, w)) == NULL ||
	    (w->batch.ev_flush = event_new(base, -1, 0, rules_commit_on_flush,
	    w)) == NULL ||
	    (w->ev_done = evtimer_new(base, on_done, w)) == NULL)
		goto fail;
	if ((w->rc = redis_new(base, o, "rules", rc_state, w)) == NULL ||
	    (w->rd = redis_new(base, o, "rules-read", rd_state, w)) == NULL)
		goto fail;
	worker_test_times(w);
	clock_timer_in(w->ev_claim, w->claim_interval_ms);
	clock_timer_in(w->ev_sla, WORKER_SLA_INTERVAL_MS);
	metrics_worker = w;
	log_info("rules: worker %s on %s, group %s", w->consumer,
	    w->k_events, WORKER_GROUP);
	return w;
fail:
	rules_worker_free(w);
	return NULL;
}

void
rules_worker_set_rules(struct rules_worker *w, struct rules *r)
{
	bool was_idle = w->rules == NULL;

	w->rules = r;
	if (r == NULL || !was_idle || w->stopping)
		return;
	rules_worker_read_more(w);
	for (size_t i = 0; i < w->tabsize; i++)
		for (struct leadq *q = w->tab[i]; q != NULL; q = q->next)
			rules_job_kick(q);
}

bool
rules_worker_healthy(const struct rules_worker *w, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (w == NULL) {
		*why = "the rules worker is not running";
		return false;
	}
	if (!redis_is_up(w->rc)) {
		*why = "the rules worker's Redis connection is down";
		return false;
	}
	if (w->rules != NULL && !redis_is_up(w->rd)) {
		*why = "the rules worker's reading connection to Redis is "
		    "down";
		return false;
	}
	*why = NULL;
	return true;
}

void
rules_worker_stop(struct rules_worker *w, void (*done)(void *), void *arg)
{
	w->stopping = true;
	w->done = done;
	w->done_arg = arg;
	event_del(w->ev_read);
	event_del(w->ev_claim);
	event_del(w->ev_sla);
	for (size_t i = 0; i < w->tabsize; i++)
		for (struct leadq *q = w->tab[i]; q != NULL; q = q->next)
			if (q->waiting) {
				event_del(q->ev_retry);
				q->waiting = false;
			}
	log_info("rules: stopping; %zu commands to finish, %zu entries left "
	    "pending", w->ncmd, w->held);
	if (w->ncmd == 0)
		event_active(w->ev_done, EV_TIMEOUT, 0);
}

void
rules_worker_free(struct rules_worker *w)
{
	if (w == NULL)
		return;
	w->freeing = true;
	if (metrics_worker == w)
		metrics_worker = NULL;
	/* Pending callbacks run now, with NULL, and release their calls;
	 * then the commits queued and not sent. */
	redis_free(w->rd);
	redis_free(w->rc);
	rules_commit_batch_drop(w);
	for (size_t i = 0; i < w->tabsize; i++) {
		struct leadq *q;

		while ((q = w->tab[i]) != NULL) {
			w->tab[i] = q->next;
			leadq_free(q);
		}
	}
	free(w->tab);
	rules_eval_free(w->eval);
	if (w->ev_read != NULL)
		event_free(w->ev_read);
	if (w->ev_claim != NULL)
		event_free(w->ev_claim);
	if (w->ev_sla != NULL)
		event_free(w->ev_sla);
	if (w->ev_done != NULL)
		event_free(w->ev_done);
	if (w->batch.ev_flush != NULL)
		event_free(w->batch.ev_flush);
	free(w->pending_from);
	free(w->claim_cursor);
	free(w->prefix);
	free(w->consumer);
	free(w->k_events);
	free(w->k_sla);
	free(w->k_decisions);
	free(w->k_handoffs);
	free(w->k_feedback);
	free(w);
}
