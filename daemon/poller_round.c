/*
 * poller_round.c - one poll round (see poller.c for the lease and the
 * poller's life) and the connector's side of it (include/baton/
 * connector.h: poll_cursor, poll_emit, poll_complete, poll_again).
 *
 * A round.  When the lease is held and the round is due (at once the
 * first time, then poll_interval after the previous round started, right
 * after it with poll_again(), or after a backoff), it takes a token from
 * the connector's rate budget (waiting when there is none), GETs the
 * cursor, calls poll(), and on CONNECTOR_OK commits the events and the
 * next cursor: in chunks of POLLER_CHUNK events, each a fenced script
 * call, the cursor with the last one.  A chunk that fails leaves the
 * cursor where it was; the retry finds the events already written as
 * duplicates.  CONNECTOR_RETRY and a failed commit back off (capped
 * exponential, full jitter, at least retry_after_ms, which also pauses
 * the connector's rate budget).
 *
 * The call object is one per poller, reused by every round, and outlives
 * the poller when poller_free() finds the connector still owing
 * poll_complete(): the completion then only frees it.  So a connector
 * that misuses the API (completes twice, emits after completing, returns
 * 0 without completing) gets a logged error, never a crash.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include <baton/connector.h>
#include <baton/event.h>
#include <baton/log.h>

#include "connectors.h"
#include "metrics.h"
#include "event_count.h"
#include "poller_int.h"
#include "ratelimit.h"
#include "redis.h"
#include "stream.h"

static void round_finish(struct poller *p);

/* Empties the call for the next round. */
static void
call_reset(struct poll_call *c)
{
	for (size_t i = 0; i < c->n; i++)
		baton_event_free(c->evs[i]);
	free(c->evs);
	free(c->cursor);
	free(c->next_cursor);
	*c = (struct poll_call){ .p = c->p };
}

void
poller_call_free(struct poll_call *c)
{
	if (c == NULL)
		return;
	call_reset(c);
	free(c);
}

/* Arms the round timer for the next due round, unless one cannot start. */
void
poller_round_arm(struct poller *p)
{
	if (p->stopping || p->freeing || p->call->active ||
	    !poller_lease_valid(p, clock_mono_ms()))
		return;
	clock_timer_in(p->ev_round, p->next_due_ms - clock_mono_ms());
}

/* The round is committed (or had nothing to commit). */
static void
round_ok(struct poller *p)
{
	struct poll_call *c = p->call;
	int64_t now = clock_mono_ms();

	metric_inc(p->m_ok);
	metric_set(p->m_age, 0);
	p->last_commit_ms = now;
	p->failures = 0;
	p->next_due_ms = c->again ? now : p->last_start_ms + p->interval_ms;
	round_finish(p);
}

/* The round failed: back off (at least retry_after_ms, which also pauses
 * the connector's rate budget). */
static void
round_retry(struct poller *p, int64_t retry_after_ms, const char *why)
{
	const struct connector_settings *st = connector_settings(p->ci);
	int64_t now = clock_mono_ms(), delay;

	metric_inc(p->m_retry);
	if (p->failures < 64)
		p->failures++;
	delay = retry_backoff_ms(st->retry_base_ms, st->retry_cap_ms,
	    p->failures, arc4random());
	if (retry_after_ms > 0) {
		rate_bucket_pause(connector_rate(p->ci), now, retry_after_ms);
		if (delay < retry_after_ms)
			delay = retry_after_ms;
	}
	p->next_due_ms = now + delay;
	if (!p->stopping)
		poller_warn(p, "round failed (%s, %u in a row); next in "
		    "%" PRId64 " ms", why, p->failures, delay);
	round_finish(p);
}

/* The commit was refused: the lease is no longer ours. */
static void
round_lost(struct poller *p)
{
	metric_inc(p->m_lost);
	poller_lease_lost(p, "the commit found it no longer ours; nothing "
	    "was written");
	p->next_due_ms = clock_mono_ms();
	round_finish(p);
}

/* Ends the round: frees what it held, then the next one or the stop. */
static void
round_finish(struct poller *p)
{
	struct poll_call *c = p->call;

	if (c->invalid > 0)
		connector_log(p->ci, LOG_LEVEL_WARNING, "poll: %zu invalid "
		    "event%s dropped in this round; the first: %s", c->invalid,
		    c->invalid == 1 ? "" : "s", c->invalid_why);
	call_reset(c);
	if (p->stopping)
		poller_stop_continue(p);
	else
		poller_round_arm(p);
}

static void commit_next(struct poller *p);

static void
commit_reply(int rc, size_t written, size_t duplicates, void *arg)
{
	struct poller *p = arg;
	struct poll_call *c = p->call;

	if (p->freeing)
		return;
	if (rc == STREAM_FENCED) {
		round_lost(p);
		return;
	}
	if (rc != 0) {
		round_retry(p, 0, "the commit to Redis failed");
		return;
	}
	metric_add(p->m_written, (double)written);
	metric_add(p->m_dup, (double)duplicates);
	event_count_received(connector_name(p->ci), c->evs + c->sent,
	    c->chunk);
	c->sent += c->chunk;
	c->chunk = 0;
	if (c->sent < c->n)
		commit_next(p);
	else
		round_ok(p);
}

/* Sends the next chunk of events; the cursor goes with the last. */
static void
commit_next(struct poller *p)
{
	struct poll_call *c = p->call;
	size_t left = c->n - c->sent;
	bool last = left <= POLLER_CHUNK;

	c->chunk = last ? left : POLLER_CHUNK;
	if (stream_append_fenced(p->r, &p->t, c->evs + c->sent, c->chunk,
	    p->lease_key, p->consumer, p->cursor_key,
	    last ? c->next_cursor : NULL, commit_reply, p) == -1)
		round_retry(p, 0, "Redis is not available for the commit");
}

/* poll() has returned and poll_complete() was called: act on it. */
static void
round_completed(struct poller *p)
{
	struct poll_call *c = p->call;

	if (c->rc != CONNECTOR_OK) {
		round_retry(p, c->retry_after_ms, "the connector asked for a "
		    "retry");
		return;
	}
	if (c->n == 0 && c->next_cursor == NULL) {
		round_ok(p);
		return;
	}
	if (!p->held) {
		/* Known lost already: the fenced script would refuse. */
		metric_inc(p->m_lost);
		p->next_due_ms = clock_mono_ms();
		round_finish(p);
		return;
	}
	commit_next(p);
}

static void
cursor_reply(struct redisReply *reply, void *arg)
{
	struct poller *p = arg;
	struct poll_call *c = p->call;
	const struct connector *desc = connector_descriptor(p->ci);
	int rc;

	if (p->freeing)
		return;
	if (reply == NULL || (reply->type != REDIS_REPLY_STRING &&
	    reply->type != REDIS_REPLY_NIL)) {
		round_retry(p, 0, reply == NULL ? "the cursor could not be "
		    "read from Redis" : "the cursor key is not a string");
		return;
	}
	if (p->stopping || !poller_lease_valid(p, clock_mono_ms())) {
		/* No call to the vendor that could not be committed. */
		call_reset(c);
		if (p->stopping)
			poller_stop_continue(p);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    (c->cursor = strdup(reply->str)) == NULL) {
		round_retry(p, 0, "out of memory");
		return;
	}
	c->polled = true;
	c->in_poll = true;
	rc = desc->poll(p->ci, c);
	c->in_poll = false;
	if (rc != 0 && rc != CONNECTOR_PENDING)
		connector_log(p->ci, LOG_LEVEL_ERR, "poll() returned %d, not 0 "
		    "or CONNECTOR_PENDING (a bug in the connector)", rc);
	if (!c->completed) {
		if (rc == CONNECTOR_PENDING)
			return;
		connector_log(p->ci, LOG_LEVEL_ERR, "poll() returned without "
		    "calling poll_complete() (a bug in the connector); the "
		    "round counts as a retry");
		c->completed = true;
		c->rc = CONNECTOR_RETRY;
	}
	round_completed(p);
}

/* Starts a round when it is due, the lease held, and a token available. */
void
poller_on_round_timer(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;
	struct poll_call *c = p->call;
	int64_t now = clock_mono_ms(), wait;

	(void)fd;
	(void)what;
	if (p->stopping || c->active || !poller_lease_valid(p, now) ||
	    !redis_is_up(p->r))
		return;         /* armed again when that changes */
	if (now < p->next_due_ms) {
		poller_round_arm(p);
		return;
	}
	if ((wait = connector_descriptor(p->ci)->rate_per_call ?
	    rate_bucket_paused(connector_rate(p->ci), now) :
	    rate_bucket_take(connector_rate(p->ci), now)) > 0) {
		clock_timer_in(p->ev_round, wait);
		return;
	}
	if (redis_command(p->r, cursor_reply, p, "GET %s", p->cursor_key) ==
	    -1)
		return;         /* down: armed again when it is up */
	c->active = true;
	p->last_start_ms = now;
}

/* ---- The connector's side (connector.h) ---------------------------------- */

/* The call may take this from the connector now; else logs why not. */
static bool
call_open(struct poll_call *c, const char *what)
{
	if (c->p == NULL) {
		log_errx("poll: %s after the poller was freed (ignored)", what);
		return false;
	}
	if (!c->active || !c->polled || c->completed) {
		connector_log(c->p->ci, LOG_LEVEL_ERR, "poll: %s %s (a bug in "
		    "the connector; ignored)", what, c->completed && c->active ?
		    "after poll_complete()" : "outside a poll round");
		return false;
	}
	return true;
}

const char *
poll_cursor(const struct poll_call *call)
{
	return call != NULL ? call->cursor : NULL;
}

int
poll_emit(struct poll_call *call, struct baton_event *ev)
{
	struct poller *p;
	char err[200];

	if (call == NULL || ev == NULL || !call_open(call, "poll_emit()")) {
		baton_event_free(ev);
		return -1;
	}
	p = call->p;
	if (baton_event_set_source(ev, p->name) == -1) {
		baton_event_free(ev);
		return -1;
	}
	if (baton_event_validate(ev, err, sizeof(err)) == -1) {
		if (call->invalid++ == 0)
			snprintf(call->invalid_why, sizeof(call->invalid_why),
			    "event %.64s: %s", ev->id != NULL ? ev->id : "?",
			    err);
		metric_inc(p->m_invalid);
		baton_event_free(ev);
		return 0;
	}
	if (call->n == call->cap) {
		size_t cap = call->cap ? call->cap * 2 : 16;
		struct baton_event **evs;

		if ((evs = realloc(call->evs, cap * sizeof(*evs))) == NULL) {
			baton_event_free(ev);
			return -1;
		}
		call->evs = evs;
		call->cap = cap;
	}
	call->evs[call->n++] = ev;
	return 0;
}

void
poll_again(struct poll_call *call)
{
	if (call != NULL && call_open(call, "poll_again()"))
		call->again = true;
}

void
poll_complete(struct poll_call *call, enum connector_result rc,
    const char *next_cursor, int64_t retry_after_ms)
{
	struct poller *p;

	if (call == NULL)
		return;
	if (call->p == NULL) {
		/* The poller is gone; the round's events go with the call. */
		poller_call_free(call);
		return;
	}
	if (!call_open(call, "poll_complete()"))
		return;
	p = call->p;
	if (rc != CONNECTOR_OK && rc != CONNECTOR_RETRY) {
		connector_log(p->ci, LOG_LEVEL_ERR, "poll: poll_complete() "
		    "with result %d, neither OK nor RETRY (a bug in the "
		    "connector); retrying", (int)rc);
		rc = CONNECTOR_RETRY;
	}
	call->completed = true;
	call->rc = rc;
	call->retry_after_ms = rc == CONNECTOR_RETRY ? retry_after_ms : 0;
	if (rc == CONNECTOR_OK && next_cursor != NULL &&
	    (call->next_cursor = strdup(next_cursor)) == NULL) {
		call->rc = CONNECTOR_RETRY;
		call->retry_after_ms = 0;
	}
	if (!call->in_poll)
		round_completed(p);
}
