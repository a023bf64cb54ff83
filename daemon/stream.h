/*
 * stream.h - appending canonical events to a Redis stream exactly once.
 *
 * An append writes a batch of events (one webhook request, one poll round)
 * in one Lua script call: for each event, unless its dedupe mark
 * PREFIX:seen:<source>:<id> exists, XADD PREFIX:<stream> MAXLEN ~ N with
 * the flat fields v type lead source id at data seq (seq: the lead's next
 * sequence number, kept as seq_in in PREFIX:lead:<lead>), then set the
 * mark with a TTL.  The script runs atomically, so a crash of batond or Redis can
 * neither write an event without its mark nor mark one that is not
 * written; a redelivered event finds its mark and is acknowledged without
 * a second entry.
 */
#ifndef BATON_STREAM_H
#define BATON_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <baton/event.h>

struct event_base;
struct redis;

struct stream_target {
	const char *prefix;             /* key prefix, without ':' */
	const char *stream;             /* "events" */
	long long maxlen;               /* approximate trim */
	int64_t dedupe_ttl_ms;
};

/*
 * rc 0: Redis acknowledged the append; `written` events were added and
 * `duplicates` were already there.  rc -1: the batch failed (connection
 * lost, timeout, Redis error, logged); nothing can be assumed written,
 * and the caller must not acknowledge its source.
 */
typedef void (*stream_append_cb)(int rc, size_t written, size_t duplicates,
    void *arg);

/*
 * Starts an append of evs[0..n) (n >= 1; every event has type, lead,
 * source and id) as one script call of its own.  The events and their
 * strings must stay valid and unchanged until cb has run.  Returns 0 when
 * sent (cb runs exactly once, later), or -1 when Redis is not up or out
 * of memory (cb is not called).
 */
int stream_append(struct redis *r, const struct stream_target *t,
    struct baton_event *const *evs, size_t n, stream_append_cb cb,
    void *arg);

/*
 * A fenced append, for a poller's commit: the same per-event semantics as
 * stream_append() in one script call that first checks that fence_key
 * holds fence_value (the poller's lease) and writes nothing otherwise,
 * and after the events sets cursor_key to cursor (unless cursor is NULL).
 * n may be 0 (evs may then be NULL): only the cursor is set.  All strings
 * and events must stay valid until cb.  cb's rc is 0 (done, with the
 * counts), STREAM_FENCED (the fence did not hold: nothing written) or -1
 * (failed; events before the failure may be written, the cursor is not).
 * Returns 0 when sent (cb runs exactly once, later), or -1 when Redis is
 * not up, an event is incomplete, or out of memory (cb is not called).
 */
#define STREAM_FENCED 1
int stream_append_fenced(struct redis *r, const struct stream_target *t,
    struct baton_event *const *evs, size_t n, const char *fence_key,
    const char *fence_value, const char *cursor_key, const char *cursor,
    stream_append_cb cb, void *arg);

/*
 * A group commit: appends made while the loop handles one batch of
 * ready sockets are sent together, in one script call, when that batch
 * is done (or as soon as max_events are queued).  Each append still gets
 * its own callback with its own counts; all of them succeed or fail
 * together.  This spares Redis a script invocation and batond a round of
 * system calls per request, which is most of the cost of a small webhook.
 */
struct stream_batcher;

/* Returns NULL only when out of memory.  max_events 0 means 512. */
struct stream_batcher *stream_batcher_new(struct event_base *base,
    size_t max_events);

/*
 * Queues an append (same contract as stream_append; the events must stay
 * valid until cb).  Appends queued for another Redis connection or target
 * than those already queued flush the queue first.  Returns 0 (cb runs
 * exactly once, later) or -1 (Redis not up, out of memory; cb not
 * called).
 */
int stream_batcher_append(struct stream_batcher *b, struct redis *r,
    const struct stream_target *t, struct baton_event *const *evs, size_t n,
    stream_append_cb cb, void *arg);

/* Sends what is queued now (before the connection it is for goes away). */
void stream_batcher_flush(struct stream_batcher *b);

/* Fails every queued append (cb with -1) and frees.  NULL is a no-op. */
void stream_batcher_free(struct stream_batcher *b);

/* The key of a stream ("baton:events"), of a lead's hash
 * ("baton:lead:ada@example.com") and of a dedupe mark, malloc'd. */
char *stream_key(const char *prefix, const char *stream);
char *stream_lead_key(const char *prefix, const char *lead);
char *stream_dedupe_key(const char *prefix, const char *source,
    const char *id);

#endif
