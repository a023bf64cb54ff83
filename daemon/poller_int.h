/*
 * poller_int.h - what poller.c (the lease, the poller's life) and
 * poller_round.c (rounds, the commit, the connector's side of a round)
 * share.  Not for other modules: they use poller.h.
 */
#ifndef BATON_POLLER_INT_H
#define BATON_POLLER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/connector.h>
#include <baton/log.h>

#include <event2/util.h>

#include "clock.h"
#include "poller.h"
#include "stream.h"

#define POLLER_LEASE_MS         15000   /* default lease TTL */
#define POLLER_CHUNK            256     /* events per commit script call */
#define POLLER_WARN_EVERY_MS    10000   /* repeated round warnings */

struct event;
struct metric_series;
struct redis;

struct poll_call {
	struct poller *p;               /* NULL once the poller is freed */
	bool active;                    /* a round is running */
	bool polled;                    /* poll() was called this round */
	bool in_poll;                   /* poll() has not returned yet */
	bool completed;                 /* poll_complete() was called */
	bool again;                     /* poll_again() */
	char *cursor;                   /* as read from Redis; NULL: none */
	struct baton_event **evs;       /* emitted, owned */
	size_t n, cap;
	size_t invalid;                 /* events dropped by validation */
	char invalid_why[320];          /* the first one's reason */
	enum connector_result rc;
	char *next_cursor;              /* owned; NULL keeps the old one */
	int64_t retry_after_ms;
	size_t sent;                    /* events handed to commit chunks */
	size_t chunk;                   /* events in the chunk in flight */
};

struct poller {
	struct event_base *base;
	struct redis *r;
	struct connector_instance *ci;  /* borrowed */
	const char *name;               /* the connector's NAME (ci's) */
	char *consumer;
	char *prefix, *stream;          /* t's strings */
	struct stream_target t;
	char *lease_key, *cursor_key;
	int64_t lease_ms;
	int64_t interval_ms;
	struct event *ev_lease;         /* every lease_ms / 3 */
	struct event *ev_round;         /* the next round is due */
	struct event *ev_done;          /* runs done from the loop */
	struct poll_call *call;

	bool held;                      /* we hold the lease ... */
	int64_t held_until;             /* ... until then at the latest */
	bool lease_busy;                /* a claim script is in flight */
	int64_t lease_sent_ms;          /* when it was sent */
	bool releasing;                 /* the release script is in flight */

	int64_t next_due_ms;            /* earliest start of the next round */
	int64_t last_start_ms;
	int64_t last_commit_ms;         /* 0: none yet in this process */
	unsigned failures;              /* consecutive failed rounds */
	int64_t warn_ms;                /* last round warning */
	unsigned warn_suppressed;

	bool stopping, done_queued, freeing;
	void (*done)(void *);
	void *done_arg;

	char why_down[160];             /* poller_healthy()'s sentence */
	struct metric_series *m_ok, *m_retry, *m_lost;
	struct metric_series *m_written, *m_dup, *m_invalid;
	struct metric_series *m_held, *m_age;
};

/* ---- poller.c ------------------------------------------------------------ */

/* A warning about a failed round, "[type:NAME] poll: ...", at most one
 * per POLLER_WARN_EVERY_MS (the next says how many were left out). */
void poller_warn(struct poller *p, const char *fmt, ...) BATON_PRINTF(2, 3);

/* The lease is ours and cannot have lapsed by now: rounds may start. */
bool poller_lease_valid(const struct poller *p, int64_t now);

/* No longer ours (logged at notice with why, once). */
void poller_lease_lost(struct poller *p, const char *why);

/* While stopping: once no round and no lease script is in flight,
 * releases the lease, then queues done.  Called again when they end. */
void poller_stop_continue(struct poller *p);

/* ---- poller_round.c ------------------------------------------------------ */

/* Arms the round timer for when the next round is due, unless none can
 * start (stopping, a round running, the lease not held). */
void poller_round_arm(struct poller *p);

/* The round timer's callback (arg: the poller). */
void poller_on_round_timer(evutil_socket_t fd, short what, void *arg);

/* Frees a call and what its round held.  NULL is a no-op. */
void poller_call_free(struct poll_call *c);

#endif
