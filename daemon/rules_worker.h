/*
 * rules_worker.h - the rules worker: applies rules.conf to every event of
 * PREFIX:events exactly once, in order per lead, and runs the SLA timers.
 *
 * The worker reads the consumer group `rules` of PREFIX:events on a
 * Redis connection of its own (the blocking XREADGROUP never delays
 * anything else), applies each event to its lead with lead.h, and commits
 * the new lead state, the derived entries (decisions, handoffs, feedback),
 * the SLA timers and the XACK in one Lua script: all or nothing.  Several
 * batond processes on one Redis share the group; see rules_worker.c for
 * how order and exactly-once are kept across them and across crashes.
 */
#ifndef BATON_RULES_WORKER_H
#define BATON_RULES_WORKER_H

#include <stdbool.h>

struct event_base;
struct redis_opts;
struct rules;
struct rules_worker;

/*
 * Creates the worker and starts connecting its two Redis connections
 * (options copied).  prefix is the key prefix without ':' (copied);
 * stream_maxlen the approximate trim of the streams it writes (0: none);
 * consumer_name its name in the group (copied; NULL: "<hostname>-<pid>").
 * The worker is idle (events stay pending) until rules_worker_set_rules()
 * gives it rules.  Returns NULL only when out of memory.
 */
struct rules_worker *rules_worker_new(struct event_base *base,
    const struct redis_opts *o, const char *prefix, long long stream_maxlen,
    const char *consumer_name);

/*
 * The rules applied to events from now on (work already computed with the
 * previous rules still commits).  Borrowed: the caller keeps r alive and
 * unchanged until the next call or rules_worker_free().  NULL makes the
 * worker idle: it stops reading; held events stay pending in the group.
 */
void rules_worker_set_rules(struct rules_worker *w, struct rules *r);

/*
 * True when both Redis connections are up (or the worker is idle without
 * rules and its command connection is up).  Otherwise false, and *why
 * (when why is not NULL) points at a static sentence saying what is wrong.
 */
bool rules_worker_healthy(const struct rules_worker *w, const char **why);

/*
 * Stops reading, claiming and SLA handling, lets the commits already sent
 * finish, then calls done(arg) from the loop (never from inside this
 * call).  Events not committed stay pending in the group, for this
 * consumer's next start or another consumer's claim.  Call once.
 */
void rules_worker_stop(struct rules_worker *w, void (*done)(void *),
    void *arg);

/* Frees the worker and closes its connections (a pending commit's outcome
 * is then unknown, but atomic).  NULL is a no-op.  Not from inside a
 * callback of the worker's own connections; from `done` is fine. */
void rules_worker_free(struct rules_worker *w);

#endif
