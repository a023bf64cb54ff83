/*
 * runtime.h - the running daemon: one libevent loop, the current config,
 * the Redis connection, the HTTP listener, signals, reload and shutdown.
 */
#ifndef BATON_RUNTIME_H
#define BATON_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

struct config;
struct event;
struct event_base;
struct http_server;
struct metric_series;
struct outbound;
struct redis;
struct rules_worker;

struct runtime {
	struct event_base *base;
	char *conf_path;                /* re-read on SIGHUP */
	struct config *conf;            /* current; one reference */
	struct redis *redis;            /* intake writes */
	struct stream_batcher *batcher; /* group commit of intake appends */
	struct rules_worker *worker;    /* applies rules.conf to events */
	bool worker_running;            /* not yet stopped (shutdown) */
	struct outbound *outbound;      /* deliveries and pollers */
	bool outbound_running;          /* not yet stopped (shutdown) */
	char *consumer;                 /* name in groups and leases */
	char *redis_fingerprint;        /* what redis was built from */
	struct http_server *http;
	struct event *ev_term, *ev_int, *ev_hup;
	struct event *ev_drain;         /* shutdown deadline */
	struct event *ev_beat;          /* loop heartbeat */
	int64_t last_beat_ms;
	size_t inflight;                /* requests waiting on Redis */
	size_t parsing;                 /* requests a connector answers
	                                   later (CONNECTOR_PENDING) */
	struct http_server *old_http;   /* a listener replaced by a reload,
	                                   freed once no request waits */
	struct event *ev_old_http;      /* frees it after a grace */
	bool stopping;
	int exit_code;
};

/*
 * Builds the runtime: creates the loop, loads conf_path on it (problems
 * printed to stderr as FILE:LINE: message), opens the listener, starts
 * connecting to Redis, installs signal handlers.  Returns 0, or -1 having
 * said why (nothing is left open).
 */
int runtime_init(struct runtime *rt, const char *conf_path);

/* Runs the loop until shutdown completes; returns the exit code. */
int runtime_run(struct runtime *rt);

/* Frees everything runtime_init built. */
void runtime_free(struct runtime *rt);

/* Re-reads the config file; keeps the running config when the new one
 * has any problem.  Returns 0 when the new config is in force. */
int runtime_reload(struct runtime *rt);

/* Stops accepting, lets in-flight requests finish (bounded by
 * shutdown_timeout), then leaves the loop. */
void runtime_shutdown(struct runtime *rt);

/* Called by the intake when a request stops waiting on Redis. */
void runtime_request_done(struct runtime *rt);

/* Called by the intake when a connector takes a request to answer later,
 * and when it has answered. */
void runtime_parse_started(struct runtime *rt);
void runtime_parse_done(struct runtime *rt);

/* True when Redis answers and the loop is beating. */
bool runtime_healthy(const struct runtime *rt, const char **why);

/* Where the intake writes: PREFIX:events with the config's limits. */
void runtime_events_target(const struct runtime *rt, struct stream_target *t);

#endif
