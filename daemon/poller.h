/*
 * poller.h - runs a connector's poll() rounds: in exactly one batond
 * process at a time, every poll_interval, from a cursor kept in Redis.
 *
 * Which process polls is decided by a lease, PREFIX:lease:poll:<NAME>
 * (value: the holder's consumer name, with a TTL), taken with SET NX and
 * renewed by its holder well before it expires; when the holder dies the
 * lease lapses and another process takes over.  A round reads the cursor
 * PREFIX:cursor:<NAME>, calls poll(), and on CONNECTOR_OK writes the
 * events to PREFIX:events (deduplicated like webhook events: the same
 * source and id is written once) and the new cursor in one script, which
 * refuses to write anything unless this process still holds the lease.
 * CONNECTOR_RETRY backs off (capped exponential, full jitter, at least
 * retry_after_ms).  Each round takes a token from the connector's rate
 * budget.
 */
#ifndef BATON_POLLER_H
#define BATON_POLLER_H

#include <stdbool.h>
#include <stdint.h>

struct connector_instance;
struct event_base;
struct redis_opts;
struct stream_target;
struct poller;

/*
 * Creates the poller for ci (which must have a poll callback and a
 * poll_interval > 0) with a Redis connection of its own (options copied);
 * events go to `events` (copied: prefix, stream, maxlen, dedupe ttl);
 * consumer is this process's name (copied).  Starts trying for the lease
 * at once.  ci is borrowed and must outlive the poller.  NULL when out of
 * memory.
 */
struct poller *poller_new(struct event_base *base, const struct redis_opts *o,
    struct connector_instance *ci, const struct stream_target *events,
    const char *consumer);

/* True when its Redis connection is up; else false with *why set. */
bool poller_healthy(const struct poller *p, const char **why);

/*
 * Stops: no new round; a round in flight is left to finish (the
 * connector's stop() cancels its calls) and its commit to land; the lease
 * is released when held.  Then done(arg) runs from the loop, never from
 * inside this call.  Call once.
 */
void poller_stop(struct poller *p, void (*done)(void *), void *arg);

/* Frees (after done, or at exit).  NULL is a no-op. */
void poller_free(struct poller *p);

/* TEST ONLY hooks read from the environment by poller_new():
 * BATON_TEST_LEASE_MS overrides the lease TTL (default 15000). */

#endif
