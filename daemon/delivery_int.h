/*
 * delivery_int.h - what the files of the delivery share; private to them
 * (delivery.h is the API).
 *
 *   delivery.c         life, the two connections and the groups, reading
 *                      the main and replay streams, claiming, scheduling
 *   delivery_batch.c   a batch handed to the connector (the delivery_*
 *                      functions of connector.h), its results, and the
 *                      commit script (XACK, DLQ, record ids)
 */
#ifndef BATON_DELIVERY_INT_H
#define BATON_DELIVERY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/util.h>

#include <baton/connector.h>
#include <baton/event.h>

#include "clock.h"
#include "delivery.h"

struct event;
struct redis;
struct metric_series;

#define DELIVERY_BLOCK_MS           2000
#define DELIVERY_BLOCK_MARGIN_MS    3000
#define DELIVERY_CLAIM_INTERVAL_MS  10000
#define DELIVERY_CLAIM_IDLE_MS      60000
#define DELIVERY_RETRY_READ_MS      200
#define DELIVERY_COMMIT_RETRY_MS    500
#define DELIVERY_HOLD_MIN           256

/* Which stream an item came from. */
enum dstream { DSTREAM_MAIN = 0, DSTREAM_REPLAY = 1, NDSTREAMS };

/* One entry held by this process until it is acknowledged. */
struct ditem {
	TAILQ_ENTRY(ditem) link;
	enum dstream from;
	char *entry_id;
	struct baton_event *ev;         /* NULL: malformed (why says how) */
	char *why;                      /* malformed: what is wrong */
	char *v, *type, *lead, *source, *id, *at, *data;
	                                /* the fields as written (for the
	                                   DLQ; NULL when absent), owned */
	char *orig_entry;               /* a replayed entry: its id in the
	                                   main stream (field `entry`) */
	unsigned attempts;              /* deliver() calls so far, plus one
	                                   per earlier process that held it */
	bool lives;                     /* counted in PREFIX:lives:NAME */
	int64_t due_ms;                 /* monotonic: not before */
	int64_t touched_ms;             /* monotonic: read, claimed or
	                                   touched (idle time reset) */
	char *last_error;               /* of the last failed attempt */
	bool in_batch;                  /* in the batch in flight */
};

TAILQ_HEAD(ditem_list, ditem);

/* Per-item outcome of a batch. */
struct dresult {
	enum connector_result rc;
	bool set;
	int64_t retry_after_ms;
	char *msg;                      /* owned */
	char *record_id;                /* owned */
};

struct delivery_batch {
	struct delivery *d;
	struct ditem **items;           /* borrowed from d->items */
	struct dresult *res;
	size_t n;
	bool completed;                 /* delivery_complete() was called */
	bool in_call;                   /* deliver() is running */
	int64_t started_ms;             /* monotonic */
	/* the commit */
	bool committing;                /* the script is out */
	int commit_failures;
};

struct delivery {
	struct event_base *base;
	struct connector_instance *ci;
	char *name;                     /* connector NAME = group name */
	char *consumer;
	char *prefix;                   /* without ':' */
	char *stream_name;              /* "handoffs" or "feedback" */
	char *k_stream[NDSTREAMS];      /* main, replay */
	char *k_dlq, *k_prefix;         /* PREFIX:dlq, "PREFIX:" */
	char *k_lives;                  /* PREFIX:lives:NAME (hash) */
	long long maxlen;
	struct redis *rd;               /* XREADGROUP only */
	struct redis *rc;               /* everything else */
	bool group_ok;                  /* both groups exist */
	int group_asked;                /* XGROUP CREATEs out: 0 none, else
	                                   1 + the replies that succeeded */
	/* held items, in read order */
	struct ditem_list items;
	size_t held, hold_max;
	/* reading */
	bool reading;
	bool pending_phase;             /* re-reading our own pending */
	char *pending_from[NDSTREAMS];
	struct event *ev_read;
	/* scheduling */
	struct event *ev_kick;          /* timer: next batch */
	int64_t linger_since;           /* when items first waited; 0 */
	struct delivery_batch *batch;   /* in flight, or NULL */
	struct event *ev_batch_done;    /* zero-timeout: results in */
	struct event *ev_commit_retry;
	/* claiming */
	struct event *ev_claim;
	int64_t claim_idle_ms;
	bool claiming;
	int claim_stream;               /* stream of the pass */
	char *claim_cursor;
	size_t ncmd;                    /* commands out on rc */
	/* metrics */
	struct metric_series *m_ok, *m_retry, *m_dropped, *m_batches,
	    *m_seconds, *m_latency;
	/* stop */
	bool stopping;
	bool freeing;
	struct event *ev_done;
	void (*done)(void *);
	void *done_arg;
};

/* ---- delivery.c ---------------------------------------------------------- */

/* Frees an item (not linked). */
void delivery_item_free(struct ditem *it);
/* Unlinks and frees a finished item. */
void delivery_item_done(struct delivery *d, struct ditem *it);
/* Sends the next XREADGROUP unless one is out or reading must wait. */
void delivery_read_more(struct delivery *d);
/* Schedules the next batch (from the loop). */
void delivery_kick(struct delivery *d);
/* When stopping and nothing is out: runs done from the loop. */
void delivery_check_stopped(struct delivery *d);

/* ---- delivery_batch.c ---------------------------------------------------- */

/* Hands items (up to batch_size ready ones) to the connector. */
void delivery_batch_start(struct delivery *d, struct ditem **items, size_t n);
/* ev_batch_done: sorts the results and commits them. */
void delivery_batch_on_done(evutil_socket_t fd, short what, void *arg);
/* ev_commit_retry: sends the commit again. */
void delivery_batch_on_commit_retry(evutil_socket_t fd, short what,
    void *arg);
/* Frees a batch and its results (items stay). */
void delivery_batch_free(struct delivery_batch *b);

#endif
