/*
 * rules_worker_int.h - what the files of the rules worker share; private
 * to them (rules_worker.h is the API).
 *
 *   rules_worker.c   life (new, rules, health, stop, free), the two
 *                    connections and the group, reading PREFIX:events,
 *                    per-lead queues
 *   rules_job.c      one lead's job: load the hash (or use the copy kept
 *                    from our last commit), apply the item, hand the
 *                    commit over; duplicates, gaps, invalid entries
 *   rules_commit.c   script calls (EVALSHA with the NOSCRIPT fallback),
 *                    the commit script, building one lead's commit and
 *                    the group commit: every commit ready in one loop
 *                    iteration goes to Redis as one script call
 *   rules_claim.c    XAUTOCLAIM passes (a dead consumer's entries) and
 *                    when a gap may be skipped
 *   rules_sla.c      claiming due SLA timers, breach items
 */
#ifndef BATON_RULES_WORKER_INT_H
#define BATON_RULES_WORKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include <baton/event.h>
#include <baton/log.h>

#include "clock.h"
#include "lead.h"
#include "metrics.h"
#include "redis.h"
#include "rules.h"
#include "rules_worker.h"

#define WORKER_GROUP                    "rules"
#define WORKER_READ_COUNT               "256"
#define WORKER_BLOCK_MS                 2000
#define WORKER_BLOCK_MARGIN_MS          3000
#define WORKER_HOLD_MAX                 1024    /* entries held; then no
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
#define WORKER_GROUP_COMMIT_MAX         256     /* leads per commit call */

/* ---- Items and lead queues ---------------------------------------------- */

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

/* A growing argument vector; each argument owned or borrowed. */
struct cargs {
	const char **argv;
	size_t *len;
	bool *owned;
	int argc, cap;
	bool oom;                       /* an argument could not be added */
};

enum job_phase {
	JOB_IDLE,
	JOB_LOAD,               /* HGETALL out */
	JOB_COMMIT,             /* commit queued or out */
	JOB_ACK,                /* XACK of a duplicate out */
};

/* One lead's queue and its one job. */
struct leadq {
	struct leadq *next;             /* hash chain */
	struct rules_worker *w;
	char *key;
	char *k_hash, *k_history;       /* PREFIX:lead:<key>[:history] */
	struct item_list events;        /* ITEM_EVENT, ascending seq */
	struct item_list others;        /* breaches and invalid entries */
	size_t nitems;
	/* the job */
	enum job_phase phase;
	struct item *cur;               /* being processed (still queued) */
	int conflicts;                  /* reloads after a conflict */
	struct cargs part;              /* the commit's part of the group
	                                   call (borrows from fx, cur) */
	bool part_touch;                /* the commit checks and bumps ver */
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

/* ---- Script calls ------------------------------------------------------- */

enum script_id { SCRIPT_COMMIT = 0, SCRIPT_SLA, NSCRIPTS };

/* One script call: arguments kept for the NOSCRIPT fallback. */
struct call {
	struct rules_worker *w;
	enum script_id script;
	struct cargs a;
	bool eval_sent;
	void (*cb)(struct redisReply *, void *);
	void *arg;
};

/* The commits waiting for this loop iteration's group call. */
struct commit_batch {
	struct leadq **q;               /* owned array, n used */
	size_t n, cap;
	struct event *ev_flush;         /* zero-timeout: flush */
};

struct rules_worker {
	struct event_base *base;
	struct redis *rd;               /* XREADGROUP only */
	struct redis *rc;               /* everything else */
	char *prefix;
	char *consumer;
	long long maxlen;
	char maxlen_text[24];           /* maxlen as text, "0": no trim */
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
	/* committing */
	struct commit_batch batch;
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
	size_t ncmd;                    /* our commands out on rc, and
	                                   commits queued in batch */
	bool stopping, freeing;
	struct event *ev_done;
	void (*done)(void *);
	void *done_arg;
};

/* Metrics (rules_worker.c registers them). */
extern struct metric_series *rules_m_applied, *rules_m_duplicate,
    *rules_m_deferred, *rules_m_invalid, *rules_m_conflicts,
    *rules_m_apply_seconds;
extern struct metric *rules_m_breaches;

/* ---- Small helpers ------------------------------------------------------ */

static inline bool
rules_is_string(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS);
}

/* ---- rules_worker.c ----------------------------------------------------- */

/* vasprintf into a new string; NULL when out of memory. */
char *rules_asprintf(const char *fmt, ...) BATON_PRINTF(1, 2);

/* A whole decimal number (nothing else) into *out: true, or false. */
bool rules_parse_ll(const char *s, long long *out);

/*
 * A plain command on the command connection, counted in w->ncmd: cb must
 * decrement it (rules_worker_cmd_done() does only that).  argv strings
 * are copied.  0, or -1 when the connection is down (cb not called).
 */
int rules_worker_command(struct rules_worker *w, redis_reply_cb cb,
    void *arg, int argc, const char **argv);
/* The callback of a command whose reply does not matter. */
void rules_worker_cmd_done(struct redisReply *reply, void *arg);

/* Queues it on the lead key (events sorted by seq, breaches first) and
 * kicks the lead's job.  Takes it (freed when it is held already or out
 * of memory). */
void rules_worker_enqueue(struct rules_worker *w, const char *key,
    struct item *it);
void rules_item_free(struct item *it);
/* Removes the job's finished item from q and frees it. */
void rules_item_done(struct leadq *q, struct item *it);
/* Frees q when it holds nothing, does nothing and waits for nothing. */
void rules_leadq_maybe_drop(struct leadq *q);

/* Queues the entries of an array [[id, fields], ...]; returns the last
 * id (borrowed from the reply) or NULL when there was none. */
const char *rules_worker_take_entries(struct rules_worker *w,
    const redisReply *arr);

/* Sends the next XREADGROUP unless one is out or reading must wait. */
void rules_worker_read_more(struct rules_worker *w);

/* When stopping and nothing is out any more: runs done from the loop. */
void rules_worker_check_stopped(struct rules_worker *w);

/* ---- rules_job.c -------------------------------------------------------- */

/* Starts the next job of q when it can (loads the hash or uses the kept
 * copy, then applies).  Safe to call at any time. */
void rules_job_kick(struct leadq *q);
/* Ends the job (its item stays queued) and retries after a backoff. */
void rules_job_backoff(struct leadq *q);
/* The backoff timer of a lead (ev_retry). */
void rules_job_on_retry(evutil_socket_t fd, short what, void *arg);
/* Forgets the kept copy of the lead's hash. */
void rules_cache_clear(struct leadq *q);

/* ---- rules_commit.c ----------------------------------------------------- */

/* The SHA-1 hex of a script, computed on first use; NULL on failure. */
const char *rules_script_sha(enum script_id id);

void rules_cargs_clear(struct cargs *a);
/* Adds an argument (owned: freed with the vector; NULL marks the vector
 * failed, as an allocation that did not succeed). */
void rules_cargs_add(struct cargs *a, const char *s, size_t len,
    bool owned);
void rules_cargs_str(struct cargs *a, const char *s);
void rules_cargs_ll(struct cargs *a, long long v);

/* EVALSHA sha numkeys: a new script call, NULL when out of memory. */
struct call *rules_call_new(struct rules_worker *w, enum script_id script,
    int numkeys);
/*
 * Sends c; the worker owns it until cb ran: cb runs exactly once with the
 * final reply (after a NOSCRIPT fallback when needed; NULL when the
 * connection failed), then c is freed.  Counted in w->ncmd.  Returns 0,
 * or -1 (c freed, cb not called).
 */
int rules_call_send(struct call *c, void (*cb)(struct redisReply *,
    void *), void *arg);

/* An entry the worker adds beside lead.c's (event.invalid, rules.gap),
 * always to PREFIX:decisions. */
struct extra_entry {
	const char *type;
	char *id;                       /* owned by the caller */
	json_t *data;                   /* owned by the caller */
};

/*
 * Builds q's part of the group commit into q->part: fx (may be NULL),
 * extra (written to decisions, mirrored in the history when history is
 * true), want_ver (-1: leave the hash alone, no check), seq (0: none),
 * ack (NULL: none), zrem (NULL: none).  The part borrows from fx and the
 * strings passed until the commit's result.  Returns 0, or -1 (out of
 * memory, or an entry for a stream the script does not know: logged;
 * q->part cleared).
 */
int rules_commit_build(struct leadq *q, const struct lead_effects *fx,
    const struct extra_entry *extra, size_t nextra, bool history,
    long long want_ver, long long seq, const char *ack, const char *zrem,
    int64_t now);

/*
 * Queues q's built part (built is the result of rules_commit_build) for
 * this loop iteration's group call; seq is what it sets (0: none).  A
 * part that could not be built, or a queue that cannot grow, ends the job
 * with a backoff.  The result comes back to the job in rules_commit.c.
 */
void rules_commit_send(struct leadq *q, int built, long long seq);

/* Sends the queued group call now (on stop and free). */
void rules_commit_flush(struct rules_worker *w);
/* The batch's flush event (ev_flush). */
void rules_commit_on_flush(evutil_socket_t fd, short what, void *arg);
/* Drops the queued parts without a reply (only from rules_worker_free,
 * before the queues are freed). */
void rules_commit_batch_drop(struct rules_worker *w);

/* ---- rules_claim.c ------------------------------------------------------ */

/* Sends the next XAUTOCLAIM of the current pass (a new pass when the
 * cursor is back at 0-0), unless one is out or the worker is idle. */
void rules_claim_pass_start(struct rules_worker *w);
/* The claim timer (ev_claim). */
void rules_claim_on_timer(evutil_socket_t fd, short what, void *arg);
/* Whether the gap before it (deferred) may be skipped now: it waited
 * w->gap_ms and a claim pass that started after that wait completed. */
bool rules_claim_gap_may_skip(struct rules_worker *w, const struct item *it,
    int64_t now);

/* ---- rules_sla.c -------------------------------------------------------- */

/* The SLA timer (ev_sla): claims due members as breach items. */
void rules_sla_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
