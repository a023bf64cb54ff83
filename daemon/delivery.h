/*
 * delivery.h - pushes a stream to one connector: the connector's own
 * consumer group on PREFIX:handoffs (roles sales and notify) or
 * PREFIX:feedback (role marketing), and on its replay stream.
 *
 * Entries are read into batches of up to batch_size (waiting up to
 * batch_linger for one to fill), each batch handed to the connector's
 * deliver() once a token of its rate budget is free.  An item the
 * connector accepts is acknowledged; one it refuses for good, or that
 * failed retry_max times, is written to PREFIX:dlq and acknowledged in the
 * same script (dlq.h); one that failed transiently is retried after a
 * capped exponential backoff with full jitter, never before a
 * Retry-After.  Entries a dead process had read are claimed
 * (XAUTOCLAIM) and finished; several batond processes share each group.
 */
#ifndef BATON_DELIVERY_H
#define BATON_DELIVERY_H

#include <stdbool.h>

struct connector_instance;
struct event_base;
struct redis_opts;
struct delivery;

/*
 * Creates the delivery of ci (which has a deliver callback) with its own
 * two Redis connections (options copied), prefix the key prefix without
 * ':' and consumer this process's name (both copied).  ci is borrowed and
 * must outlive the delivery.  NULL when out of memory.
 */
struct delivery *delivery_new(struct event_base *base,
    const struct redis_opts *o, struct connector_instance *ci,
    const char *prefix, long long stream_maxlen, const char *consumer);

/* True when both connections are up and the group exists; else false with
 * *why set. */
bool delivery_healthy(const struct delivery *d, const char **why);

/*
 * Stops reading; the batch in flight finishes (the connector's stop()
 * cancels its calls) and its results are committed; entries not finished
 * stay pending for the next start or another process.  Then done(arg)
 * runs from the loop.  Call once.
 */
void delivery_stop(struct delivery *d, void (*done)(void *), void *arg);

/* Frees.  NULL is a no-op. */
void delivery_free(struct delivery *d);

#endif
