/*
 * poller.c - the poller's life (poller.h) and its lease; the rounds are in
 * poller_round.c.
 *
 * The lease.  PREFIX:lease:poll:<NAME> holds the consumer name of the
 * process that polls, with a TTL.  Every TTL/3 a poller that holds it
 * renews it with a script that resets the TTL only while the key still
 * holds its name (compare-and-PEXPIRE), and one that does not tries SET
 * NX PX.  So a holder renews well before expiry, and when it dies another
 * takes over within a TTL and a third.  A poller counts the lease as its
 * own only until TTL after the last successful renewal was sent, so one
 * that cannot reach Redis stops starting rounds before anyone else can
 * take over; one whose renewal finds the key gone or another name in it
 * has lost it, and tries SET NX again like the others.  Whatever a stale
 * holder believes, its commit is fenced: stream_append_fenced() writes
 * nothing unless the key still holds its name.  (Taking is SET NX even
 * when the key holds our own name: a second poller of this process under
 * that name, during a reload, waits for the first to release it.)
 */
#include "poller.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include <baton/connector.h>
#include <baton/log.h>

#include "connectors.h"
#include "metrics.h"
#include "poller_int.h"
#include "redis.h"

/* KEYS[1] the lease, ARGV[1] our name, ARGV[2] the TTL: 1 when renewed,
 * else the holder's name (nil when there is none). */
static const char lease_renew_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return v\n";

/* KEYS[1] the lease, ARGV[1] our name: deletes it when ours. */
static const char lease_release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

/* A warning about a failed round, at most one per POLLER_WARN_EVERY_MS
 * (counting the ones left out), since a failing vendor repeats them. */
void
poller_warn(struct poller *p, const char *fmt, ...)
{
	int64_t now = clock_mono_ms();
	char msg[512];
	va_list ap;

	if (p->warn_ms != 0 && now - p->warn_ms < POLLER_WARN_EVERY_MS) {
		p->warn_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->warn_suppressed > 0)
		connector_log(p->ci, LOG_LEVEL_WARNING, "poll: %s (%u similar "
		    "warnings left out)", msg, p->warn_suppressed);
	else
		connector_log(p->ci, LOG_LEVEL_WARNING, "poll: %s", msg);
	p->warn_ms = now;
	p->warn_suppressed = 0;
}

/* ---- The lease ---------------------------------------------------------- */

/* We may start rounds: the lease is ours and cannot have lapsed yet. */
bool
poller_lease_valid(const struct poller *p, int64_t now)
{
	return p->held && now < p->held_until;
}

/* Not ours any more; the gauge follows (only when it was ours, since a
 * poller of the next configuration may share the series). */
static bool
lease_drop(struct poller *p)
{
	if (!p->held)
		return false;
	p->held = false;
	metric_set(p->m_held, 0);
	return true;
}

void
poller_lease_lost(struct poller *p, const char *why)
{
	if (lease_drop(p))
		connector_log(p->ci, LOG_LEVEL_NOTICE, "poll: lease %s lost "
		    "(%s); this process stops polling", p->lease_key, why);
}

static void
lease_reply(struct redisReply *reply, void *arg)
{
	struct poller *p = arg;

	p->lease_busy = false;
	if (p->freeing)
		return;
	if (reply == NULL) {
		/* redis.c logged it; the lease lapses on its own clock. */
	} else if ((reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 1) || reply->type == REDIS_REPLY_STATUS) {
		/* Renewed, or SET NX answered OK. */
		p->held_until = p->lease_sent_ms + p->lease_ms;
		if (!p->held) {
			p->held = true;
			metric_set(p->m_held, 1);
			connector_log(p->ci, LOG_LEVEL_NOTICE, "poll: lease %s "
			    "taken by %s", p->lease_key, p->consumer);
			poller_round_arm(p);
		}
	} else if (reply->type == REDIS_REPLY_STRING) {
		if (p->held) {
			char why[200];

			snprintf(why, sizeof(why), "now held by %.100s",
			    reply->str);
			poller_lease_lost(p, why);
		}
	} else if (reply->type == REDIS_REPLY_NIL) {
		/* SET NX: someone holds it; a renewal: it expired. */
		poller_lease_lost(p, "it expired before it was renewed");
	} else {
		poller_warn(p, "lease %s: unexpected reply from Redis: %s",
		    p->lease_key, reply->type == REDIS_REPLY_ERROR ?
		    reply->str : "not an integer or a string");
	}
	if (p->stopping)
		poller_stop_continue(p);
}

/* Renews the lease or tries to take it (see the top of the file). */
static void
lease_tick(struct poller *p)
{
	int64_t now = clock_mono_ms();
	char ttl[32];
	int rc;

	if (p->held && now >= p->held_until)
		poller_lease_lost(p, "not renewed in time");
	if (p->last_commit_ms != 0)
		metric_set(p->m_age,
		    (double)(now - p->last_commit_ms) / 1000.0);
	/* Stopping: renew only for the round still in flight. */
	if (p->lease_busy || p->releasing || !redis_is_up(p->r) ||
	    (p->stopping && (!p->held || !p->call->active)))
		return;
	snprintf(ttl, sizeof(ttl), "%" PRId64, p->lease_ms);
	if (p->held)
		rc = redis_command(p->r, lease_reply, p, "EVAL %s 1 %s %s %s",
		    lease_renew_script, p->lease_key, p->consumer, ttl);
	else
		rc = redis_command(p->r, lease_reply, p, "SET %s %s NX PX %s",
		    p->lease_key, p->consumer, ttl);
	if (rc == 0) {
		p->lease_busy = true;
		p->lease_sent_ms = now;
	}
}

static void
on_lease_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lease_tick(arg);
}

static void
release_reply(struct redisReply *reply, void *arg)
{
	struct poller *p = arg;

	p->releasing = false;
	if (p->freeing)
		return;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
		if (reply->integer == 1)
			connector_log(p->ci, LOG_LEVEL_NOTICE, "poll: lease %s "
			    "released", p->lease_key);
	} else if (reply != NULL) {
		connector_log(p->ci, LOG_LEVEL_WARNING, "poll: releasing lease "
		    "%s: %s", p->lease_key, reply->type == REDIS_REPLY_ERROR ?
		    reply->str : "unexpected reply");
	}
	lease_drop(p);
	poller_stop_continue(p);
}

static void
on_redis_state(bool up, void *arg)
{
	struct poller *p = arg;

	if (!up || p->freeing)
		return;
	lease_tick(p);
	poller_round_arm(p);
}

/* ---- Stopping ------------------------------------------------------------ */

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;

	(void)fd;
	(void)what;
	if (p->done != NULL)
		p->done(p->done_arg);
}

/* Once no round and no lease script is in flight: releases the lease,
 * then queues done. */
void
poller_stop_continue(struct poller *p)
{
	if (!p->stopping || p->done_queued || p->call->active ||
	    p->lease_busy || p->releasing)
		return;
	if (p->held && redis_is_up(p->r) && redis_command(p->r, release_reply,
	    p, "EVAL %s 1 %s %s", lease_release_script, p->lease_key,
	    p->consumer) == 0) {
		p->releasing = true;
		return;
	}
	lease_drop(p);
	evtimer_del(p->ev_lease);
	evtimer_del(p->ev_round);
	p->done_queued = true;
	event_active(p->ev_done, EV_TIMEOUT, 0);
}

void
poller_stop(struct poller *p, void (*done)(void *), void *arg)
{
	if (p == NULL || p->stopping)
		return;
	p->stopping = true;
	p->done = done;
	p->done_arg = arg;
	evtimer_del(p->ev_round);
	poller_stop_continue(p);
}

/* ---- Lifecycle ----------------------------------------------------------- */

/* The lease TTL: BATON_TEST_LEASE_MS (tests only) or the default. */
static int64_t
lease_ttl(void)
{
	const char *s = getenv("BATON_TEST_LEASE_MS");
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return POLLER_LEASE_MS;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 3) {
		log_warnx("poll: BATON_TEST_LEASE_MS=%s is not a number of "
		    "milliseconds of at least 3; using %d", s,
		    POLLER_LEASE_MS);
		return POLLER_LEASE_MS;
	}
	return v;
}

static char *
key_of(const char *prefix, const char *what, const char *name)
{
	char *s;

	if (asprintf(&s, "%s:%s%s", prefix, what, name) < 0)
		return NULL;
	return s;
}

static void
metrics_init(struct poller *p)
{
	struct metric *rounds, *events;

	rounds = metric_counter("baton_poll_rounds_total", "Poll rounds by "
	    "outcome (lost: the commit found the lease taken)",
	    "connector,result");
	events = metric_counter("baton_poll_events_total", "Events of "
	    "committed poll rounds, and invalid ones dropped",
	    "connector,result");
	p->m_ok = metric_series(rounds, p->name, "ok");
	p->m_retry = metric_series(rounds, p->name, "retry");
	p->m_lost = metric_series(rounds, p->name, "lost");
	p->m_written = metric_series(events, p->name, "written");
	p->m_dup = metric_series(events, p->name, "duplicate");
	p->m_invalid = metric_series(events, p->name, "invalid");
	p->m_held = metric_series(metric_gauge("baton_poll_lease_held",
	    "1 while this process holds the connector's poll lease",
	    "connector"), p->name);
	p->m_age = metric_series(metric_gauge("baton_poll_cursor_age_seconds",
	    "Seconds since this process last committed a poll round",
	    "connector"), p->name);
}

struct poller *
poller_new(struct event_base *base, const struct redis_opts *o,
    struct connector_instance *ci, const struct stream_target *events,
    const char *consumer)
{
	const struct connector *desc = connector_descriptor(ci);
	struct timeval tv;
	struct poller *p;
	char rname[128];

	if (desc->poll == NULL ||
	    connector_settings(ci)->poll_interval_ms <= 0) {
		connector_log(ci, LOG_LEVEL_ERR, "poll: no poll callback or no "
		    "poll_interval; not polling");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	p->ci = ci;
	p->name = connector_name(ci);
	p->lease_ms = lease_ttl();
	p->interval_ms = connector_settings(ci)->poll_interval_ms;
	snprintf(p->why_down, sizeof(p->why_down), "the poller of connector "
	    "%.100s has no Redis connection", p->name);
	if ((p->call = calloc(1, sizeof(*p->call))) == NULL ||
	    (p->consumer = strdup(consumer)) == NULL ||
	    (p->prefix = strdup(events->prefix)) == NULL ||
	    (p->stream = strdup(events->stream)) == NULL ||
	    (p->lease_key = key_of(p->prefix, "lease:poll:", p->name)) ==
	    NULL ||
	    (p->cursor_key = key_of(p->prefix, "cursor:", p->name)) == NULL)
		goto fail;
	p->call->p = p;
	p->t = *events;
	p->t.prefix = p->prefix;
	p->t.stream = p->stream;
	if ((p->ev_lease = event_new(base, -1, EV_PERSIST, on_lease_timer,
	    p)) == NULL ||
	    (p->ev_round = evtimer_new(base, poller_on_round_timer, p)) ==
	    NULL ||
	    (p->ev_done = event_new(base, -1, 0, on_done, p)) == NULL)
		goto fail;
	metrics_init(p);
	snprintf(rname, sizeof(rname), "poll:%.100s", p->name);
	if ((p->r = redis_new(base, o, rname, on_redis_state, p)) == NULL)
		goto fail;
	tv.tv_sec = (time_t)(p->lease_ms / 3 / 1000);
	tv.tv_usec = (suseconds_t)(p->lease_ms / 3 % 1000) * 1000;
	event_add(p->ev_lease, &tv);
	return p;
fail:
	poller_free(p);
	return NULL;
}

bool
poller_healthy(const struct poller *p, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (p == NULL) {
		*why = "the poller is not running";
		return false;
	}
	if (!redis_is_up(p->r)) {
		*why = p->why_down;
		return false;
	}
	*why = NULL;
	return true;
}

void
poller_free(struct poller *p)
{
	if (p == NULL)
		return;
	/* Pending replies run now, with NULL, and find p->freeing. */
	p->freeing = true;
	redis_free(p->r);
	if (p->ev_lease != NULL)
		event_free(p->ev_lease);
	if (p->ev_round != NULL)
		event_free(p->ev_round);
	if (p->ev_done != NULL)
		event_free(p->ev_done);
	lease_drop(p);
	if (p->call != NULL && p->call->active && p->call->polled &&
	    !p->call->completed)
		p->call->p = NULL;      /* the connector still owes it */
	else
		poller_call_free(p->call);
	free(p->consumer);
	free(p->prefix);
	free(p->stream);
	free(p->lease_key);
	free(p->cursor_key);
	free(p);
}
