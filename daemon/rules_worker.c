/*
 * rules_worker.c - applies rules.conf to the events of PREFIX:events
 * exactly once and in order per lead, and runs the SLA timers (see
 * rules_worker.h).
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
 * seq; one job per lead is in flight at a time, different leads go
 * concurrently (pipelined on the one connection).  A job loads the lead
 * (HGETALL, or the copy kept from this worker's own last commit of that
 * lead), then:
 *   lead.seq >= entry.seq      already applied (a redelivery): XACK only;
 *   lead.seq == entry.seq - 1  apply: lead_apply_event() and one commit;
 *   lead.seq <  entry.seq - 1  an earlier event of this lead is not
 *                              applied yet (another consumer holds it, or
 *                              it is pending): defer, retry with backoff.
 * A deferred entry is applied anyway, with a `rules.gap` decision naming
 * the skipped sequences, once it has waited WORKER_GAP_MS *and* a full
 * XAUTOCLAIM pass that started after that wait has completed without
 * bringing the missing event: an event held by a dead consumer is claimed
 * by such a pass (it is idle longer than the claim's 30 s by then), so
 * only an event that is really gone (trimmed, deleted) is skipped, and a
 * trimmed stream cannot block a lead forever.  Entries without a usable
 * `seq` or lead (not written by batond) are acknowledged with an
 * `event.invalid` decision saying why; an entry with a seq whose event is
 * malformed for its type commits its seq with `event.invalid` and no
 * other change, so the lead's sequence stays contiguous.
 *
 * The commit script (commit_script below) does, atomically: compare
 * `ver` with the one the job loaded (a mismatch is a conflict: another
 * consumer committed first; the job reloads and retries up to
 * WORKER_CONFLICT_RETRIES times, then backs off), HSET the changed fields
 * with seq and ver + 1, HDEL, LPUSH + LTRIM the history, XADD each derived
 * entry (MAXLEN ~), ZADD / ZREM the SLA timers, XACK.  A crash anywhere
 * leaves all or nothing; a replay after a crash finds the seq applied.
 * Scripts go as EVALSHA, and as EVAL once when Redis answers NOSCRIPT.
 *
 * Crash recovery.  Every WORKER_CLAIM_INTERVAL_MS a pass of XAUTOCLAIM
 * PREFIX:events rules <consumer> 30000 <cursor> COUNT 100 takes over the
 * entries idle for 30 s (a dead consumer's, or a live one's deferred
 * entry: harmless, the ver check settles who commits) and queues them like
 * new ones; an entry already held here is not queued twice.
 *
 * SLA.  Every second a claim script takes up to 50 due members of
 * PREFIX:sla (score <= now) and pushes each one's score to now + 60 s (a
 * lease: if this process dies the timer comes due again), so processes
 * claim disjoint members.  Each member "<sla>|<key>|<episode>" becomes a
 * breach job on its lead's queue (before its events): lead_apply_breach()
 * and the same commit script without seq or XACK, plus the ZREM of the
 * member.  An SLA the rules no longer have is removed and logged.
 *
 * Stop and free.  rules_worker_stop() stops reading, claiming and timers;
 * a load that answers afterwards goes no further; commits already sent
 * finish; then `done` runs from a zero-timeout event.  Every command
 * callback runs exactly once (redis.h) and frees what its job owns on
 * every path, including the NULL reply redis_free() produces.
 */
#include "rules_worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <baton/event.h>
#include <baton/log.h>

#include "lead.h"
#include "metrics.h"
#include "redis.h"
#include "rules.h"

#define WORKER_GROUP                    "rules"
#define WORKER_READ_COUNT               "256"
#define WORKER_BLOCK_MS                 2000
#define WORKER_BLOCK_MARGIN_MS          3000
#define WORKER_HOLD_MAX                 4096    /* entries held; then no
                                                   more reads */
#define WORKER_CLAIM_INTERVAL_MS        10000
#define WORKER_CLAIM_IDLE_MS            30000
#define WORKER_CLAIM_COUNT              "100"
#define WORKER_GAP_MS                   30000
#define WORKER_SLA_INTERVAL_MS          1000
#define WORKER_SLA_BATCH                50
#define WORKER_SLA_LEASE_MS             60000
#define WORKER_CONFLICT_RETRIES         5
#define WORKER_BACKOFF_MIN_MS           10
#define WORKER_BACKOFF_MAX_MS           2000
#define WORKER_RETRY_READ_MS            200

/* ---- Scripts ------------------------------------------------------------- */

/*
 * The commit.  KEYS: 1 lead hash, 2 its history list, 3 PREFIX:sla,
 * 4 PREFIX:events, 5 PREFIX:decisions, 6 PREFIX:handoffs,
 * 7 PREFIX:feedback.  ARGV: 1 the ver loaded ('' = leave the hash alone:
 * no check, no ver bump), 2 the seq to set ('' = none), 3 the entry id
 * to XACK ('' = none), 4 the group, 5 MAXLEN (0 = no trim), 6 the history
 * cap, then counted lists: nset + field value pairs, ndel + fields,
 * nhist + texts (oldest first), nentries + (key index, type, lead, id,
 * at, data) each, nzadd + (score, member) pairs, nzrem + members.
 * Returns {1, new ver} or {0, ver found} (conflict).
 */
static const char commit_script[] =
    "local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')\n"
    "local touch = ARGV[1] ~= ''\n"
    "if touch and tonumber(ARGV[1]) ~= ver then return {0, ver} end\n"
    "local i = 7\n"
    "local function take() i = i + 1; return ARGV[i - 1] end\n"
    "local n = tonumber(take())\n"
    "local hs = {}\n"
    "for k = 1, n do hs[#hs + 1] = take(); hs[#hs + 1] = take() end\n"
    "if touch then\n"
    "  hs[#hs + 1] = 'ver'; hs[#hs + 1] = ver + 1\n"
    "  if ARGV[2] ~= '' then hs[#hs + 1] = 'seq'; hs[#hs + 1] = ARGV[2] end\n"
    "end\n"
    "if #hs > 0 then redis.call('HSET', KEYS[1], unpack(hs)) end\n"
    "n = tonumber(take())\n"
    "if n > 0 then\n"
    "  local d = {}\n"
    "  for k = 1, n do d[k] = take() end\n"
    "  redis.call('HDEL', KEYS[1], unpack(d))\n"
    "end\n"
    "n = tonumber(take())\n"
    "if n > 0 then\n"
    "  local h = {}\n"
    "  for k = 1, n do h[k] = take() end\n"
    "  redis.call('LPUSH', KEYS[2], unpack(h))\n"
    "  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)\n"
    "end\n"
    "local maxlen = tonumber(ARGV[5])\n"
    "n = tonumber(take())\n"
    "for k = 1, n do\n"
    "  local key = KEYS[tonumber(take())]\n"
    "  local t, l, id, at, data = take(), take(), take(), take(), take()\n"
    "  if maxlen > 0 then\n"
    "    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'v', '1',\n"
    "      'type', t, 'lead', l, 'source', 'rules', 'id', id, 'at', at,\n"
    "      'data', data)\n"
    "  else\n"
    "    redis.call('XADD', key, '*', 'v', '1', 'type', t, 'lead', l,\n"
    "      'source', 'rules', 'id', id, 'at', at, 'data', data)\n"
    "  end\n"
    "end\n"
    "n = tonumber(take())\n"
    "for k = 1, n do\n"
    "  local score = take()\n"
    "  redis.call('ZADD', KEYS[3], score, take())\n"
    "end\n"
    "n = tonumber(take())\n"
    "for k = 1, n do redis.call('ZREM', KEYS[3], take()) end\n"
    "if ARGV[3] ~= '' then redis.call('XACK', KEYS[4], ARGV[4], ARGV[3]) end\n"
    "if touch then return {1, ver + 1} end\n"
    "return {1, ver}\n";

/*
 * The SLA claim.  KEYS[1] PREFIX:sla; ARGV: now (ms), lease (ms), limit.
 * Returns the members that were due, each now leased until now + lease.
 */
static const char sla_script[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "  'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZADD', KEYS[1], 'XX', until_ms, m)\n"
    "end\n"
    "return due\n";

enum script_id { SCRIPT_COMMIT = 0, SCRIPT_SLA, NSCRIPTS };

static const char *const script_text[NSCRIPTS] = { commit_script,
    sla_script };
static char script_hex[NSCRIPTS][41];

/* The SHA-1 of a script in hex, computed on first use; NULL on failure. */
static const char *
script_sha(enum script_id id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (script_hex[id][0] != '\0')
		return script_hex[id];
	if (EVP_Digest(script_text[id], strlen(script_text[id]), md, &mdlen,
	    EVP_sha1(), NULL) != 1 || mdlen != 20)
		return NULL;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(script_hex[id] + 2 * i, 3, "%02x", md[i]);
	return script_hex[id];
}

/* ---- State ------------------------------------------------------------- */

enum item_kind {
	ITEM_EVENT,             /* an entry with a seq: applied in order */
	ITEM_INVALID,           /* an entry without seq or lead: acked with
	                           event.invalid, no lead state */
	ITEM_BREACH,            /* an SLA timer that came due */
};

struct item {
	TAILQ_ENTRY(item) link;
	enum item_kind kind;
	char *entry_id;                 /* event, invalid: stream entry id */
	long long seq;                  /* event */
	struct baton_event *ev;         /* event: parsed, NULL when the entry
	                                   is malformed (why says how) */
	char *why;                      /* event, invalid: what is wrong */
	char *type, *source, *id;       /* invalid: as written, may be NULL */
	char *member;                   /* breach: "<sla>|<key>|<episode>" */
	char *sla_name;                 /* breach */
	long long episode;              /* breach */
	int64_t read_ms;                /* monotonic, when it was read */
	int64_t deferred_since;         /* monotonic, first deferral; 0 */
};

TAILQ_HEAD(item_list, item);

enum job_phase { JOB_IDLE, JOB_LOAD, JOB_COMMIT, JOB_ACK };

/* One lead's queue and its one job. */
struct leadq {
	struct leadq *next;             /* hash chain */
	struct rules_worker *w;
	char *key;
	struct item_list events;        /* ITEM_EVENT, ascending seq */
	struct item_list others;        /* breaches and invalid entries */
	size_t nitems;
	/* the job */
	enum job_phase phase;
	struct item *cur;               /* being processed (still queued) */
	int conflicts;                  /* reloads after a conflict */
	struct call *call;              /* a script call in flight */
	char *zrem;                     /* breach: member removed on success
	                                   (borrowed from cur) */
	struct lead_effects fx;         /* of the commit in flight */
	long long commit_seq;           /* seq the commit sets, 0 */
	bool commit_breach;             /* the commit writes a breach */
	int64_t backoff_ms;
	struct event *ev_retry;         /* backoff timer */
	bool waiting;                   /* ev_retry armed */
	/* the hash as this worker last committed it (valid when cached) */
	bool cached;
	char **cf, **cv;                /* fields, values (owned) */
	size_t nc, ccap;
};

/* One script call: arguments kept for the NOSCRIPT fallback. */
struct call {
	struct rules_worker *w;
	enum script_id script;
	const char **argv;
	size_t *argvlen;
	bool *owned;
	int argc, cap;
	bool eval_sent;
	bool oom;                       /* an argument could not be added */
	void (*cb)(struct redisReply *, void *);
	void *arg;
};

struct rules_worker {
	struct event_base *base;
	struct redis *rd;               /* XREADGROUP only */
	struct redis *rc;               /* everything else */
	char *prefix;
	char *consumer;
	long long maxlen;
	char *k_events, *k_sla, *k_decisions, *k_handoffs, *k_feedback;
	struct rules *rules;            /* borrowed; NULL: idle */
	struct rules_eval *eval;
	/* leads */
	struct leadq **tab;
	size_t tabsize, nleads;
	size_t held;                    /* entries and breaches queued */
	size_t ndeferred;               /* entries waiting for an earlier one */
	/* reading */
	bool rd_group;                  /* the group exists (as far as rd
	                                   knows) */
	bool rc_group;
	bool reading;                   /* an XREADGROUP is out */
	bool pending_phase;             /* still reading our own pending */
	char *pending_from;             /* last pending id read */
	struct event *ev_read;          /* retry a read */
	/* claiming */
	struct event *ev_claim;
	int64_t claim_idle_ms;          /* WORKER_CLAIM_IDLE_MS */
	int64_t claim_interval_ms;      /* WORKER_CLAIM_INTERVAL_MS */
	int64_t gap_ms;                 /* WORKER_GAP_MS */
	char claim_idle[24];            /* claim_idle_ms as text */
	bool claiming;
	char *claim_cursor;
	int64_t claim_started;          /* monotonic start of the pass */
	int64_t claim_done_start;       /* start of the last complete pass */
	/* SLA */
	struct event *ev_sla;
	bool sla_busy;
	/* stop */
	size_t ncmd;                    /* our commands out on rc */
	bool stopping, freeing;
	struct event *ev_done;
	void (*done)(void *);
	void *done_arg;
};

/* ---- Metrics --------------------------------------------------------- */

static struct metric_series *m_applied, *m_duplicate, *m_deferred,
    *m_invalid, *m_conflicts, *m_apply_seconds;
static struct metric *m_breaches;
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

	m_applied = metric_series(ev, "applied");
	m_duplicate = metric_series(ev, "duplicate");
	m_deferred = metric_series(ev, "deferred");
	m_invalid = metric_series(ev, "invalid");
	m_conflicts = metric_series(metric_counter(
	    "baton_rules_commit_conflicts_total",
	    "Commits refused because another consumer changed the lead "
	    "first.", NULL));
	m_apply_seconds = metric_series(metric_histogram(
	    "baton_rules_apply_seconds",
	    "Time from reading an event to its commit being acknowledged.",
	    NULL, NULL, 0));
	m_breaches = metric_counter("baton_sla_breaches_total",
	    "SLA timers that ran out, by SLA.", "sla");
	metric_gauge_fn("baton_rules_held",
	    "Events and SLA timers held by the rules worker, not yet "
	    "committed.", gauge_held, NULL);
	metric_gauge_fn("baton_rules_deferred",
	    "Events waiting for an earlier event of their lead.",
	    gauge_deferred, NULL);
}

/* ---- Helpers --------------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
xasprintf(const char *fmt, ...) BATON_PRINTF(1, 2);

static char *
xasprintf(const char *fmt, ...)
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

static void
timer_in(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
	    1000 };

	event_add(ev, &tv);
}

static bool
is_string(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS);
}

static void worker_check_stopped(struct rules_worker *w);
static void lead_kick(struct leadq *q);
static void read_more(struct rules_worker *w);
static void claim_pass_start(struct rules_worker *w);

/* ---- Script calls ------------------------------------------------------ */

static void
call_free(struct call *c)
{
	if (c == NULL)
		return;
	if (c->argv != NULL && c->owned != NULL)
		for (int i = 0; i < c->argc; i++)
			if (c->owned[i])
				free((char *)c->argv[i]);
	free(c->argv);
	free(c->argvlen);
	free(c->owned);
	free(c);
}

/* Adds one argument (owned: freed with the call; NULL marks the call
 * failed, as an allocation that did not succeed). */
static void
call_arg(struct call *c, const char *s, size_t len, bool owned)
{
	if (c->oom)
		goto drop;
	if (s == NULL) {
		c->oom = true;
		return;
	}
	if (c->argc == c->cap) {
		int cap = c->cap ? c->cap * 2 : 32;
		const char **a = realloc(c->argv, cap * sizeof(*a));
		size_t *l;
		bool *o;

		if (a == NULL)
			goto fail;
		c->argv = a;
		if ((l = realloc(c->argvlen, cap * sizeof(*l))) == NULL)
			goto fail;
		c->argvlen = l;
		if ((o = realloc(c->owned, cap * sizeof(*o))) == NULL)
			goto fail;
		c->owned = o;
		c->cap = cap;
	}
	c->argv[c->argc] = s;
	c->argvlen[c->argc] = len;
	c->owned[c->argc] = owned;
	c->argc++;
	return;
fail:
	c->oom = true;
drop:
	if (owned)
		free((char *)s);
}

static void
call_str(struct call *c, const char *s)
{
	call_arg(c, s, s ? strlen(s) : 0, false);
}

/* An owned string (may be NULL: out of memory). */
static void
call_own(struct call *c, char *s)
{
	call_arg(c, s, s ? strlen(s) : 0, true);
}

static void
call_ll(struct call *c, long long v)
{
	call_own(c, xasprintf("%lld", v));
}

/* EVALSHA sha numkeys: the start of a script call. */
static struct call *
call_new(struct rules_worker *w, enum script_id script, int numkeys)
{
	struct call *c;
	const char *sha = script_sha(script);

	if (sha == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->w = w;
	c->script = script;
	call_str(c, "EVALSHA");
	call_str(c, sha);
	call_ll(c, numkeys);
	return c;
}

static void call_reply(struct redisReply *reply, void *arg);

/*
 * Sends c (which the worker then owns until cb ran: cb runs exactly once
 * with the final reply, after a NOSCRIPT fallback when needed, and c is
 * freed after it).  Returns 0, or -1 (c freed, cb not called).
 */
static int
call_send(struct call *c, void (*cb)(struct redisReply *, void *),
    void *arg)
{
	struct rules_worker *w = c->w;

	c->cb = cb;
	c->arg = arg;
	if (c->oom || redis_command_argv(w->rc, 0, call_reply, c, c->argc,
	    c->argv, c->argvlen) == -1) {
		call_free(c);
		return -1;
	}
	w->ncmd++;
	return 0;
}

static void
call_reply(struct redisReply *reply, void *arg)
{
	struct call *c = arg;
	struct rules_worker *w = c->w;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    !c->eval_sent && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    !w->freeing) {
		c->eval_sent = true;
		c->argv[0] = "EVAL";
		c->argvlen[0] = 4;
		c->argv[1] = script_text[c->script];
		c->argvlen[1] = strlen(script_text[c->script]);
		log_debug("rules: script not cached on Redis; sending EVAL");
		if (redis_command_argv(w->rc, 0, call_reply, c, c->argc,
		    c->argv, c->argvlen) == 0)
			return;
		reply = NULL;
	}
	w->ncmd--;
	c->cb(reply, c->arg);
	call_free(c);
	worker_check_stopped(w);
}

/* A plain command on rc, counted for stop().  0 or -1. */
static int
worker_command(struct rules_worker *w, redis_reply_cb cb, void *arg,
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

/* ---- Items and lead queues ------------------------------------------- */

static void
item_free(struct item *it)
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
cache_clear(struct leadq *q)
{
	for (size_t i = 0; i < q->nc; i++) {
		free(q->cf[i]);
		free(q->cv[i]);
	}
	q->nc = 0;
	q->cached = false;
}

static void
leadq_free(struct leadq *q)
{
	struct item *it;

	if (q == NULL)
		return;
	while ((it = TAILQ_FIRST(&q->events)) != NULL) {
		TAILQ_REMOVE(&q->events, it, link);
		item_free(it);
	}
	while ((it = TAILQ_FIRST(&q->others)) != NULL) {
		TAILQ_REMOVE(&q->others, it, link);
		item_free(it);
	}
	lead_effects_clear(&q->fx);
	cache_clear(q);
	free(q->cf);
	free(q->cv);
	if (q->ev_retry != NULL)
		event_free(q->ev_retry);
	free(q->key);
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

static void lead_on_retry(evutil_socket_t fd, short what, void *arg);

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
	    (q->ev_retry = evtimer_new(w->base, lead_on_retry, q)) == NULL) {
		leadq_free(q);
		return NULL;
	}
	h = key_hash(key) % w->tabsize;
	q->next = w->tab[h];
	w->tab[h] = q;
	w->nleads++;
	return q;
}

/* Drops q when it holds nothing and does nothing. */
static void
leadq_maybe_drop(struct leadq *q)
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

/* Queues it on the lead key (events sorted by seq).  Takes it. */
static void
enqueue(struct rules_worker *w, const char *key, struct item *it)
{
	struct leadq *q;
	struct item *p;

	if ((q = leadq_get(w, key)) == NULL) {
		log_warnx("rules: out of memory queueing an event of %s; it "
		    "stays pending", key);
		item_free(it);
		return;
	}
	if ((it->entry_id != NULL && leadq_holds(q, it->entry_id)) ||
	    (it->member != NULL && leadq_holds_member(q, it->member))) {
		item_free(it);
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
	lead_kick(q);
}

/* Removes the job's item from its queue and frees it. */
static void
item_done(struct leadq *q, struct item *it)
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
	item_free(it);
}

/* ---- Reading entries ---------------------------------------------------- */

/* The value of field name in a flat field/value array, or NULL. */
static const redisReply *
entry_field(const redisReply *fv, const char *name)
{
	for (size_t i = 0; i + 1 < fv->elements; i += 2)
		if (is_string(fv->element[i]) &&
		    strcmp(fv->element[i]->str, name) == 0 &&
		    is_string(fv->element[i + 1]))
			return fv->element[i + 1];
	return NULL;
}

static bool
parse_ll(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s == '\0')
		return false;
	*out = strtoll(s, &end, 10);
	return *end == '\0';
}

static void
xack_done(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	(void)reply;
	w->ncmd--;
	worker_check_stopped(w);
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
	    !is_string(e->element[0]))
		return;
	idr = e->element[0];
	fv = e->element[1];
	if (fv == NULL || fv->type != REDIS_REPLY_ARRAY) {
		const char *argv[] = { "XACK", w->k_events, WORKER_GROUP,
		    idr->str };

		log_info("rules: entry %s is gone from %s; acknowledged",
		    idr->str, w->k_events);
		worker_command(w, xack_done, w, 4, argv);
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->entry_id = strdup(idr->str)) == NULL) {
		item_free(it);
		return;
	}
	it->read_ms = now;
	if ((f = entry_field(fv, "lead")) != NULL && f->len > 0 &&
	    f->len <= EVENT_LEAD_MAX && strlen(f->str) == f->len)
		lead = f->str;
	f = entry_field(fv, "seq");
	if (lead == NULL || f == NULL || !parse_ll(f->str, &it->seq) ||
	    it->seq < 1) {
		const redisReply *t = entry_field(fv, "type"),
		    *s = entry_field(fv, "source"), *i = entry_field(fv, "id");

		it->kind = ITEM_INVALID;
		if (lead == NULL)
			it->why = strdup(entry_field(fv, "lead") ? "field lead "
			    "is empty or longer than 254 bytes" :
			    "no field lead");
		else
			it->why = xasprintf(f == NULL ? "no field seq (the entry "
			    "was not written by batond)" : "field seq '%s' is "
			    "not a positive integer", f ? f->str : "");
		it->type = t ? xstrndup_or_null(t->str, t->len) : NULL;
		it->source = s ? xstrndup_or_null(s->str, s->len) : NULL;
		it->id = i ? xstrndup_or_null(i->str, i->len) : NULL;
		if (it->why == NULL) {
			item_free(it);
			return;
		}
		enqueue(w, lead ? lead : "", it);
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
		else if (a == NULL || !parse_ll(a->str, &at))
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
			item_free(it);
			return;
		}
	}
	if (it->ev == NULL && (it->why = strdup(why)) == NULL) {
		item_free(it);
		return;
	}
	enqueue(w, lead, it);
}

/* Queues the entries of an array [[id, fields], ...]; returns the last
 * id (borrowed from the reply) or NULL when there was none. */
static const char *
take_entries(struct rules_worker *w, const redisReply *arr)
{
	const char *last = NULL;
	int64_t now = mono_ms();

	if (arr == NULL || arr->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i < arr->elements; i++) {
		const redisReply *e = arr->element[i];

		take_entry(w, e, now);
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    is_string(e->element[0]))
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
		timer_in(w->ev_read, WORKER_RETRY_READ_MS);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOGROUP", 7) == 0)
			w->rd_group = false;
		log_warnx("rules: XREADGROUP on %s failed: %s", w->k_events,
		    reply->str);
		timer_in(w->ev_read, 1000);
		return;
	}
	streams = reply;
	if (streams->type == REDIS_REPLY_ARRAY && streams->elements >= 1 &&
	    streams->element[0]->type == REDIS_REPLY_ARRAY &&
	    streams->element[0]->elements == 2) {
		last = take_entries(w, streams->element[0]->element[1]);
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
	read_more(w);
}

/* Sends the next XREADGROUP when nothing stops it. */
static void
read_more(struct rules_worker *w)
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
	read_more(arg);
}

/* ---- The group --------------------------------------------------------- */

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
			read_more(w);
		else if (!w->freeing)
			timer_in(w->ev_read, 1000);
	} else
		w->rc_group = ok;
	free(g);
	worker_check_stopped(w);
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
			lead_kick(q);
}

/* ---- Claiming a dead consumer's entries ------------------------------ */

static void
claim_reply(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	w->ncmd--;
	if (w->freeing) {
		w->claiming = false;
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 2 || !is_string(reply->element[0])) {
		if (reply != NULL)
			log_warnx("rules: XAUTOCLAIM on %s failed: %s",
			    w->k_events, reply->type == REDIS_REPLY_ERROR ?
			    reply->str : "unexpected reply");
		w->claiming = false;
		worker_check_stopped(w);
		return;
	}
	if (reply->element[1]->type == REDIS_REPLY_ARRAY &&
	    reply->element[1]->elements > 0)
		log_info("rules: took over %zu entries idle for %lld ms or "
		    "more", reply->element[1]->elements,
		    (long long)w->claim_idle_ms);
	take_entries(w, reply->element[1]);
	free(w->claim_cursor);
	w->claim_cursor = strdup(reply->element[0]->str);
	if (w->claim_cursor == NULL || strcmp(w->claim_cursor, "0-0") == 0) {
		w->claiming = false;
		if (w->claim_cursor != NULL)
			w->claim_done_start = w->claim_started;
		worker_check_stopped(w);
		return;
	}
	/* More to look at: go on now, or next time when we hold enough. */
	w->claiming = false;
	if (!w->stopping && w->rules != NULL && w->held < WORKER_HOLD_MAX / 2)
		claim_pass_start(w);
	worker_check_stopped(w);
}

/* Sends the next XAUTOCLAIM of the current pass (a new pass when the
 * cursor is back at 0-0). */
static void
claim_pass_start(struct rules_worker *w)
{
	const char *argv[9];

	if (w->claiming || w->stopping || w->freeing || w->rules == NULL ||
	    !redis_is_up(w->rc) || !w->rc_group)
		return;
	if (w->claim_cursor == NULL || strcmp(w->claim_cursor, "0-0") == 0) {
		free(w->claim_cursor);
		if ((w->claim_cursor = strdup("0-0")) == NULL)
			return;
		w->claim_started = mono_ms();
	}
	argv[0] = "XAUTOCLAIM";
	argv[1] = w->k_events;
	argv[2] = WORKER_GROUP;
	argv[3] = w->consumer;
	argv[4] = w->claim_idle;
	argv[5] = w->claim_cursor;
	argv[6] = "COUNT";
	argv[7] = WORKER_CLAIM_COUNT;
	if (worker_command(w, claim_reply, w, 8, argv) == 0)
		w->claiming = true;
}

static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rules_worker *w = arg;

	(void)fd;
	(void)what;
	claim_pass_start(w);
	if (!w->stopping)
		timer_in(w->ev_claim, w->claim_interval_ms);
}

/* ---- SLA timers ---------------------------------------------------------- */

static void sla_tick(struct rules_worker *w);

static void
zrem_done(struct redisReply *reply, void *arg)
{
	xack_done(reply, arg);
}

/* Turns a due member into a breach job (or removes an unknown one). */
static void
take_member(struct rules_worker *w, const char *m, size_t len)
{
	const char *bar1 = memchr(m, '|', len), *bar2 = NULL;
	struct item *it;
	char *key = NULL;
	long long episode;
	char *ep = NULL;

	for (const char *p = m + len; p > m; p--)
		if (p[-1] == '|') {
			bar2 = p - 1;
			break;
		}
	if (bar1 == NULL || bar2 == bar1 || bar1 == m || bar2 - bar1 < 2 ||
	    (ep = strndup(bar2 + 1, (size_t)(m + len - bar2 - 1))) == NULL ||
	    !parse_ll(ep, &episode) ||
	    (key = strndup(bar1 + 1, (size_t)(bar2 - bar1 - 1))) == NULL ||
	    (it = calloc(1, sizeof(*it))) == NULL) {
		const char *argv[] = { "ZREM", w->k_sla, m };

		if (ep != NULL)
			log_warnx("rules: SLA timer '%s' in %s is not "
			    "<sla>|<lead>|<episode>; removed", m, w->k_sla);
		worker_command(w, zrem_done, w, 3, argv);
		free(ep);
		free(key);
		return;
	}
	free(ep);
	it->kind = ITEM_BREACH;
	it->episode = episode;
	it->read_ms = mono_ms();
	if ((it->member = strndup(m, len)) == NULL ||
	    (it->sla_name = strndup(m, (size_t)(bar1 - m))) == NULL) {
		item_free(it);
		free(key);
		return;
	}
	enqueue(w, key, it);
	free(key);
}

static void
sla_reply(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	w->sla_busy = false;
	if (w->freeing)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		if (reply != NULL)
			log_warnx("rules: claiming SLA timers in %s failed: %s",
			    w->k_sla, reply->type == REDIS_REPLY_ERROR ?
			    reply->str : "unexpected reply");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++)
		if (is_string(reply->element[i]))
			take_member(w, reply->element[i]->str,
			    reply->element[i]->len);
	/* A full batch: more may be due now. */
	if (reply->elements >= WORKER_SLA_BATCH && !w->stopping)
		sla_tick(w);
}

static void
sla_tick(struct rules_worker *w)
{
	struct call *c;

	if (w->sla_busy || w->stopping || w->freeing || w->rules == NULL ||
	    !redis_is_up(w->rc) || w->held >= WORKER_HOLD_MAX)
		return;
	if ((c = call_new(w, SCRIPT_SLA, 1)) == NULL)
		return;
	call_str(c, w->k_sla);
	call_ll(c, (long long)wall_ms());
	call_ll(c, WORKER_SLA_LEASE_MS);
	call_ll(c, WORKER_SLA_BATCH);
	if (call_send(c, sla_reply, w) == 0)
		w->sla_busy = true;
}

static void
on_sla_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rules_worker *w = arg;

	(void)fd;
	(void)what;
	sla_tick(w);
	if (!w->stopping)
		timer_in(w->ev_sla, WORKER_SLA_INTERVAL_MS);
}

/* ---- One lead's job ------------------------------------------------- */

static void load_reply(struct redisReply *reply, void *arg);
static void commit_reply(struct redisReply *reply, void *arg);
static void job_process(struct leadq *q);

/* Ends the job (its item stays queued) and retries after a backoff. */
static void
job_backoff(struct leadq *q)
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
	timer_in(q->ev_retry, q->backoff_ms);
}

static void
lead_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct leadq *q = arg;

	(void)fd;
	(void)what;
	q->waiting = false;
	lead_kick(q);
	leadq_maybe_drop(q);
}

/* Starts the next job of q when it can. */
static void
lead_kick(struct leadq *q)
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
	if ((argv[1] = xasprintf("%s:lead:%s", w->prefix, q->key)) == NULL ||
	    worker_command(w, load_reply, q, 2, argv) == -1) {
		free((char *)argv[1]);
		job_backoff(q);
		return;
	}
	free((char *)argv[1]);
	q->phase = JOB_LOAD;
}

/* Replaces the cached hash with an HGETALL reply.  0 or -1. */
static int
cache_fill(struct leadq *q, const redisReply *r)
{
	size_t n = r->elements / 2;

	cache_clear(q);
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

		if (!is_string(f) || !is_string(v))
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

/* Sets one field of the cached hash.  0 or -1. */
static int
cache_set(struct leadq *q, const char *field, const char *value)
{
	char *v;

	for (size_t i = 0; i < q->nc; i++)
		if (strcmp(q->cf[i], field) == 0) {
			if ((v = strdup(value)) == NULL)
				return -1;
			free(q->cv[i]);
			q->cv[i] = v;
			return 0;
		}
	if (q->nc == q->ccap) {
		size_t cap = q->ccap ? q->ccap * 2 : 16;
		char **f = realloc(q->cf, cap * sizeof(*f)), **vv;

		if (f == NULL)
			return -1;
		q->cf = f;
		if ((vv = realloc(q->cv, cap * sizeof(*vv))) == NULL)
			return -1;
		q->cv = vv;
		q->ccap = cap;
	}
	if ((q->cf[q->nc] = strdup(field)) == NULL)
		return -1;
	if ((q->cv[q->nc] = strdup(value)) == NULL) {
		free(q->cf[q->nc]);
		return -1;
	}
	q->nc++;
	return 0;
}

static void
cache_del(struct leadq *q, const char *field)
{
	for (size_t i = 0; i < q->nc; i++)
		if (strcmp(q->cf[i], field) == 0) {
			free(q->cf[i]);
			free(q->cv[i]);
			q->cf[i] = q->cf[q->nc - 1];
			q->cv[i] = q->cv[q->nc - 1];
			q->nc--;
			return;
		}
}

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
		worker_check_stopped(w);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    cache_fill(q, reply) == -1) {
		if (reply != NULL)
			log_warnx("rules: HGETALL %s:lead:%s failed: %s",
			    w->prefix, q->key, reply->type ==
			    REDIS_REPLY_ERROR ? reply->str : "unexpected reply "
			    "or out of memory");
		cache_clear(q);
		job_backoff(q);
		return;
	}
	job_process(q);
}

/* A history line for an entry we write ourselves. */
static char *
history_line(const char *stream, const char *type, const char *id,
    int64_t at, json_t *data)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:O}", "stream", stream,
	    "type", type, "id", id, "at", (json_int_t)at, "data", data);
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* The key index of a derived stream in the commit script, or 0. */
static int
stream_index(const char *stream)
{
	if (stream == NULL)
		return 0;
	if (strcmp(stream, "decisions") == 0)
		return 5;
	if (strcmp(stream, "handoffs") == 0)
		return 6;
	if (strcmp(stream, "feedback") == 0)
		return 7;
	return 0;
}

/* An entry this file adds beside lead.c's (event.invalid, rules.gap). */
struct extra_entry {
	const char *type;
	char *id;                       /* owned */
	json_t *data;                   /* owned */
};

/*
 * Builds the commit of q's current job: fx (may be NULL), plus extra
 * (written to decisions, mirrored in the history when history is true),
 * want_ver (-1: leave the hash alone), seq (0: none), ack (NULL: none),
 * zrem (NULL: none).  Returns the call, or NULL (out of memory, or an
 * entry for a stream the script does not know: logged).
 */
static struct call *
commit_build(struct leadq *q, const struct lead_effects *fx,
    struct extra_entry *extra, size_t nextra, bool history,
    long long want_ver, long long seq, const char *ack, const char *zrem,
    int64_t now)
{
	struct rules_worker *w = q->w;
	struct call *c;
	size_t nhist, nent, i;

	if ((c = call_new(w, SCRIPT_COMMIT, 7)) == NULL)
		return NULL;
	call_own(c, xasprintf("%s:lead:%s", w->prefix, q->key));
	call_own(c, xasprintf("%s:lead:%s:history", w->prefix, q->key));
	call_str(c, w->k_sla);
	call_str(c, w->k_events);
	call_str(c, w->k_decisions);
	call_str(c, w->k_handoffs);
	call_str(c, w->k_feedback);
	if (want_ver >= 0)
		call_ll(c, want_ver);
	else
		call_str(c, "");
	if (seq > 0)
		call_ll(c, seq);
	else
		call_str(c, "");
	call_str(c, ack ? ack : "");
	call_str(c, WORKER_GROUP);
	call_ll(c, w->maxlen > 0 ? w->maxlen : 0);
	call_ll(c, LEAD_HISTORY_MAX);
	/* HSET pairs */
	call_ll(c, fx ? (long long)fx->nset : 0);
	for (i = 0; fx && i < fx->nset; i++) {
		call_str(c, fx->set_fields[i]);
		call_str(c, fx->set_values[i]);
	}
	call_ll(c, fx ? (long long)fx->ndel : 0);
	for (i = 0; fx && i < fx->ndel; i++)
		call_str(c, fx->del_fields[i]);
	/* history */
	nhist = (fx ? fx->nhistory : 0) + (history ? nextra : 0);
	call_ll(c, (long long)nhist);
	for (i = 0; fx && i < fx->nhistory; i++)
		call_str(c, fx->history[i]);
	for (i = 0; history && i < nextra; i++)
		call_own(c, history_line("decisions", extra[i].type,
		    extra[i].id, now, extra[i].data));
	/* entries */
	nent = (fx ? fx->nentries : 0) + nextra;
	call_ll(c, (long long)nent);
	for (i = 0; fx && i < fx->nentries; i++) {
		const struct lead_entry *e = &fx->entries[i];
		int k = stream_index(e->stream);

		if (k == 0) {
			log_warnx("rules: lead %s: an entry of type %s is for "
			    "stream '%s', which the worker does not write",
			    q->key, e->type, e->stream ? e->stream : "(null)");
			call_free(c);
			return NULL;
		}
		call_ll(c, k);
		call_str(c, e->type);
		call_str(c, q->key);
		call_str(c, e->id);
		call_ll(c, (long long)e->at_ms);
		call_own(c, json_dumps(e->data, JSON_COMPACT |
		    JSON_SORT_KEYS));
	}
	for (i = 0; i < nextra; i++) {
		call_ll(c, 5);
		call_str(c, extra[i].type);
		call_str(c, q->key);
		call_own(c, strdup(extra[i].id));
		call_ll(c, (long long)now);
		call_own(c, json_dumps(extra[i].data, JSON_COMPACT |
		    JSON_SORT_KEYS));
	}
	/* SLA timers */
	call_ll(c, fx ? (long long)fx->nsla_add : 0);
	for (i = 0; fx && i < fx->nsla_add; i++) {
		call_ll(c, (long long)fx->sla_add_at[i]);
		call_str(c, fx->sla_add[i]);
	}
	call_ll(c, (fx ? (long long)fx->nsla_del : 0) + (zrem ? 1 : 0));
	for (i = 0; fx && i < fx->nsla_del; i++)
		call_str(c, fx->sla_del[i]);
	if (zrem != NULL)
		call_str(c, zrem);
	if (c->oom) {
		call_free(c);
		return NULL;
	}
	return c;
}

/* Sends a built commit; on failure backs off. */
static void
commit_send(struct leadq *q, struct call *c, long long seq)
{
	if (c == NULL) {
		lead_effects_clear(&q->fx);
		cache_clear(q);
		job_backoff(q);
		return;
	}
	q->commit_seq = seq;
	q->phase = JOB_COMMIT;
	if (call_send(c, commit_reply, q) == -1) {
		q->phase = JOB_IDLE;
		lead_effects_clear(&q->fx);
		job_backoff(q);
	}
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
	struct call *c = NULL;

	log_warnx("rules: entry %s of %s is not applied: %s", it->entry_id,
	    q->w->k_events, it->why);
	x.id = xasprintf("%s/invalid", it->entry_id);
	x.data = invalid_data(it, it->why);
	if (x.id != NULL && x.data != NULL)
		c = commit_build(q, NULL, &x, 1, false, -1, 0, it->entry_id,
		    NULL, now);
	free(x.id);
	json_decref(x.data);
	commit_send(q, c, 0);
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
		job_backoff(q);
		worker_check_stopped(w);
		return;
	}
	metric_inc(m_duplicate);
	item_done(q, q->cur);
	q->cur = NULL;
	q->backoff_ms = 0;
	lead_kick(q);
	leadq_maybe_drop(q);
	worker_check_stopped(w);
}

/* Whether a gap before it may be skipped now (see the top comment). */
static bool
gap_may_skip(struct rules_worker *w, const struct item *it, int64_t now)
{
	if (now - it->deferred_since < w->gap_ms)
		return false;
	if (w->claim_done_start >= it->deferred_since + w->gap_ms)
		return true;
	/* Ask for a pass that starts after the wait (a pass under way
	 * started before it: the next one will do). */
	claim_pass_start(w);
	return false;
}

/* Runs the job of q->cur with the lead's hash in the cache. */
static void
job_process(struct leadq *q)
{
	struct rules_worker *w = q->w;
	struct item *it = q->cur;
	struct lead l;
	char err[512];
	int64_t now = wall_ms(), mnow = mono_ms();
	struct extra_entry x[1] = { { NULL, NULL, NULL } };
	size_t nx = 0;
	struct call *c;
	long long want_ver;

	lead_effects_clear(&q->fx);
	q->commit_breach = false;
	if (it->kind == ITEM_INVALID) {
		job_invalid_noseq(q, it, now);
		return;
	}
	if (lead_from_fields(&l, q->key, (const char *const *)q->cf,
	    (const char *const *)q->cv, q->nc, err, sizeof(err)) == -1) {
		log_warnx("rules: lead %s:lead:%s cannot be read: %s; its "
		    "events wait", w->prefix, q->key, err);
		cache_clear(q);
		q->backoff_ms = WORKER_BACKOFF_MAX_MS;
		job_backoff(q);
		return;
	}
	if (it->kind == ITEM_BREACH) {
		const struct rules_sla *sla = NULL;

		for (size_t i = 0; i < w->rules->nslas; i++)
			if (strcmp(w->rules->slas[i].name, it->sla_name) == 0)
				sla = &w->rules->slas[i];
		if (sla == NULL) {
			log_warnx("rules: SLA timer %s: the rules have no "
			    "[sla %s]; timer removed", it->member,
			    it->sla_name);
			c = commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
			    it->member, now);
		} else if (lead_apply_breach(w->rules, w->eval, &l, sla,
		    it->episode, it->member, now, &q->fx, err, sizeof(err))
		    == -1) {
			log_warnx("rules: SLA timer %s: %s; timer removed",
			    it->member, err);
			lead_effects_clear(&q->fx);
			c = commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
			    it->member, now);
		} else if (!q->fx.changed)
			c = commit_build(q, NULL, NULL, 0, false, -1, 0, NULL,
			    it->member, now);
		else {
			q->commit_breach = true;
			c = commit_build(q, &q->fx, NULL, 0, false, l.ver, 0,
			    NULL, it->member, now);
		}
		lead_clear(&l);
		commit_send(q, c, 0);
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
		if (worker_command(w, ack_reply, q, 4, argv) == -1) {
			job_backoff(q);
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
			metric_inc(m_deferred);
			log_debug("rules: entry %s (seq %lld) of %s waits for "
			    "seq %lld", it->entry_id, it->seq, q->key,
			    have + 1);
		}
		if (!gap_may_skip(w, it, mnow)) {
			/* The hash may be newer than our copy. */
			cache_clear(q);
			job_backoff(q);
			return;
		}
		log_warnx("rules: lead %s: seq %lld to %lld never arrived in "
		    "%lld ms; applying entry %s (seq %lld) anyway", q->key,
		    have + 1, it->seq - 1, (long long)w->gap_ms, it->entry_id,
		    it->seq);
		x[0].type = "rules.gap";
		x[0].id = xasprintf("%s/gap", it->entry_id);
		x[0].data = json_pack("{s:s, s:I, s:I, s:I}", "event",
		    it->entry_id, "expected", (json_int_t)(have + 1), "got",
		    (json_int_t)it->seq, "skipped",
		    (json_int_t)(it->seq - have - 1));
		nx = 1;
		if (x[0].id == NULL || x[0].data == NULL) {
			free(x[0].id);
			json_decref(x[0].data);
			job_backoff(q);
			return;
		}
		if (lead_from_fields(&l, q->key, (const char *const *)q->cf,
		    (const char *const *)q->cv, q->nc, err, sizeof(err)) ==
		    -1) {
			free(x[0].id);
			json_decref(x[0].data);
			job_backoff(q);
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
		all[n].id = xasprintf("%s/invalid", it->entry_id);
		all[n].data = invalid_data(it, why);
		c = NULL;
		if (all[n].id != NULL && all[n].data != NULL)
			c = commit_build(q, NULL, all, n + 1, true, want_ver,
			    it->seq, it->entry_id, NULL, now);
		free(all[n].id);
		json_decref(all[n].data);
		/* lead_apply_event may have changed l: our copy is unsure */
		cache_clear(q);
	} else
		c = commit_build(q, &q->fx, x, nx, true, want_ver, it->seq,
		    it->entry_id, NULL, now);
	if (nx == 1) {
		free(x[0].id);
		json_decref(x[0].data);
	}
	lead_clear(&l);
	commit_send(q, c, it->seq);
}

static void
commit_reply(struct redisReply *reply, void *arg)
{
	struct leadq *q = arg;
	struct rules_worker *w = q->w;
	struct item *it = q->cur;
	char buf[32];
	long long ver;

	q->phase = JOB_IDLE;
	if (w->freeing) {
		lead_effects_clear(&q->fx);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		/* Unknown outcome: the reload will tell (seq, ver). */
		if (reply != NULL)
			log_warnx("rules: commit of lead %s failed: %s",
			    q->key, reply->type == REDIS_REPLY_ERROR ?
			    reply->str : "unexpected reply");
		lead_effects_clear(&q->fx);
		cache_clear(q);
		job_backoff(q);
		return;
	}
	if (reply->element[0]->integer == 0) {
		metric_inc(m_conflicts);
		log_debug("rules: lead %s changed under us (ver %lld); "
		    "reloading", q->key, reply->element[1]->integer);
		lead_effects_clear(&q->fx);
		cache_clear(q);
		if (w->stopping || ++q->conflicts > WORKER_CONFLICT_RETRIES) {
			job_backoff(q);
			return;
		}
		/* Reload and retry at once (lead_kick resets conflicts). */
		{
			int conflicts = q->conflicts;

			lead_kick(q);
			q->conflicts = conflicts;
		}
		return;
	}
	ver = reply->element[1]->integer;
	/* Our copy of the hash follows the commit. */
	if (q->cached) {
		bool ok = true;

		for (size_t i = 0; ok && i < q->fx.nset; i++)
			ok = cache_set(q, q->fx.set_fields[i],
			    q->fx.set_values[i]) == 0;
		for (size_t i = 0; ok && i < q->fx.ndel; i++)
			cache_del(q, q->fx.del_fields[i]);
		snprintf(buf, sizeof(buf), "%lld", ver);
		if (ok)
			ok = cache_set(q, "ver", buf) == 0;
		if (ok && q->commit_seq > 0) {
			snprintf(buf, sizeof(buf), "%lld", q->commit_seq);
			ok = cache_set(q, "seq", buf) == 0;
		}
		if (!ok)
			cache_clear(q);
	}
	lead_effects_clear(&q->fx);
	if (it->kind == ITEM_EVENT && it->ev != NULL)
		metric_inc(m_applied);
	else if (it->kind != ITEM_BREACH)
		metric_inc(m_invalid);
	if (it->kind == ITEM_BREACH && q->commit_breach)
		metric_inc(metric_series(m_breaches, it->sla_name));
	else if (it->kind != ITEM_BREACH)
		metric_observe(m_apply_seconds, (double)(mono_ms() -
		    it->read_ms) / 1000.0);
	item_done(q, it);
	q->cur = NULL;
	q->backoff_ms = 0;
	if (!w->stopping)
		lead_kick(q);
	leadq_maybe_drop(q);
	/* Room again for reading. */
	if (!w->reading)
		read_more(w);
}

/* ---- Life ------------------------------------------------------------ */

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

static void
worker_check_stopped(struct rules_worker *w)
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
	return xasprintf("%s-%ld", host, (long)getpid());
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
	if (env != NULL && parse_ll(env, &v) && v >= 100 && v <= 600000) {
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
	w->maxlen = stream_maxlen;
	w->pending_phase = true;
	w->prefix = strdup(prefix);
	w->consumer = consumer_name ? strdup(consumer_name) :
	    default_consumer();
	if (w->prefix == NULL || w->consumer == NULL)
		goto fail;
	w->k_events = xasprintf("%s:events", prefix);
	w->k_sla = xasprintf("%s:sla", prefix);
	w->k_decisions = xasprintf("%s:decisions", prefix);
	w->k_handoffs = xasprintf("%s:handoffs", prefix);
	w->k_feedback = xasprintf("%s:feedback", prefix);
	if (w->k_events == NULL || w->k_sla == NULL || w->k_decisions ==
	    NULL || w->k_handoffs == NULL || w->k_feedback == NULL)
		goto fail;
	if ((w->eval = rules_eval_new()) == NULL ||
	    (w->ev_read = evtimer_new(base, on_read_timer, w)) == NULL ||
	    (w->ev_claim = evtimer_new(base, on_claim_timer, w)) == NULL ||
	    (w->ev_sla = evtimer_new(base, on_sla_timer, w)) == NULL ||
	    (w->ev_done = evtimer_new(base, on_done, w)) == NULL)
		goto fail;
	if ((w->rc = redis_new(base, o, "rules", rc_state, w)) == NULL ||
	    (w->rd = redis_new(base, o, "rules-read", rd_state, w)) == NULL)
		goto fail;
	worker_test_times(w);
	timer_in(w->ev_claim, w->claim_interval_ms);
	timer_in(w->ev_sla, WORKER_SLA_INTERVAL_MS);
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
	read_more(w);
	for (size_t i = 0; i < w->tabsize; i++)
		for (struct leadq *q = w->tab[i]; q != NULL; q = q->next)
			lead_kick(q);
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
	/* Pending callbacks run now, with NULL, and release their calls. */
	redis_free(w->rd);
	redis_free(w->rc);
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
