/*
 * stream_stats.h - what an operator watches on the streams: each consumer
 * group's lag and pending count and the dead-letter depth, sampled from
 * Redis every few seconds into /metrics gauges.
 *
 *   baton_stream_group_lag{stream,group}      entries not yet read
 *   baton_stream_group_pending{stream,group}  read, not acknowledged
 *   baton_dlq_entries                         entries in PREFIX:dlq
 *
 * Several batond processes on one Redis report the same values; that is
 * what a dashboard expects (take max, not sum).
 */
#ifndef BATON_STREAM_STATS_H
#define BATON_STREAM_STATS_H

#include <stdint.h>

struct event_base;
struct redis_opts;
struct stream_stats;

#define STREAM_STATS_INTERVAL_MS 5000

/* Starts sampling PREFIX:events, handoffs, feedback and dlq on a
 * connection of its own (options copied).  NULL when out of memory. */
struct stream_stats *stream_stats_new(struct event_base *base,
    const struct redis_opts *o, const char *prefix);

/* The rules group's lag on PREFIX:events at the last sample, or -1 when
 * not known yet. */
int64_t stream_stats_rules_lag(const struct stream_stats *s);

/* Stops and frees (pending replies are dropped).  NULL is a no-op. */
void stream_stats_free(struct stream_stats *s);

#endif
