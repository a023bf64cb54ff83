/*
 * outbound.h - the work a configuration runs beside the intake: a
 * delivery for every connector that pushes, a poller for every connector
 * that polls, and the stream statistics.  Replaced as a whole on reload.
 */
#ifndef BATON_OUTBOUND_H
#define BATON_OUTBOUND_H

#include <stdbool.h>
#include <stdint.h>

struct config;
struct event_base;
struct outbound;

/*
 * Starts the deliveries and pollers of conf's connectors, each on Redis
 * connections of its own; consumer is this process's name in consumer
 * groups and leases (copied).  Holds a reference on conf until freed.
 * Returns NULL having logged why.
 */
struct outbound *outbound_start(struct event_base *base, struct config *conf,
    const char *consumer);

/* True when every delivery and poller is healthy; else false with *why. */
bool outbound_healthy(const struct outbound *ob, const char **why);

/*
 * Stops the connectors (their in-flight calls end) and then every delivery
 * and poller; done(arg) runs from the loop once all have finished (or
 * before this returns when there is nothing to stop).  Call once.
 */
void outbound_stop(struct outbound *ob, void (*done)(void *), void *arg);

/* Frees everything and drops the config reference.  NULL is a no-op. */
void outbound_free(struct outbound *ob);

/* The rules group's lag on PREFIX:events at the last sample (every 5 s),
 * or -1 when not known yet. */
int64_t outbound_rules_lag(const struct outbound *ob);

/* This process's consumer name: "<hostname>-<pid>", malloc'd. */
char *outbound_default_consumer(void);

#endif
