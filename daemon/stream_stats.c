/*
 * stream_stats.c - samples consumer-group lag and pending counts and the
 * DLQ depth into gauges (see stream_stats.h).  One XINFO GROUPS per
 * stream and one XLEN per sample, on a connection of its own, so that a
 * slow Redis delays nothing else.
 */
#include "stream_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "metrics.h"
#include "redis.h"

static const char *const watched[] = { "events", "handoffs", "feedback" };
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))

struct stream_stats {
	struct redis *r;
	struct event *ev_tick;
	char *keys[NWATCHED];
	char *k_dlq;
	int64_t rules_lag;
};

struct sample {
	struct stream_stats *s;
	size_t which;                   /* index in watched */
};

static struct metric *m_lag, *m_pending;
static struct metric_series *m_dlq;

static const redisReply *
map_get(const redisReply *m, const char *name)
{
	for (size_t i = 0; i + 1 < m->elements; i += 2)
		if ((m->element[i]->type == REDIS_REPLY_STRING ||
		    m->element[i]->type == REDIS_REPLY_STATUS) &&
		    strcmp(m->element[i]->str, name) == 0)
			return m->element[i + 1];
	return NULL;
}

static void
groups_reply(struct redisReply *reply, void *arg)
{
	struct sample *sm = arg;
	struct stream_stats *s = sm->s;
	const char *stream = watched[sm->which];

	if (reply != NULL && s != NULL && reply->type == REDIS_REPLY_ARRAY)
		for (size_t g = 0; g < reply->elements; g++) {
			const redisReply *m = reply->element[g], *name, *lag,
			    *pend;

			if (m->type != REDIS_REPLY_ARRAY)
				continue;
			name = map_get(m, "name");
			lag = map_get(m, "lag");
			pend = map_get(m, "pending");
			if (name == NULL || name->type != REDIS_REPLY_STRING)
				continue;
			/* lag is nil when Redis cannot tell (after XDEL). */
			if (lag != NULL && lag->type == REDIS_REPLY_INTEGER) {
				metric_set(metric_series(m_lag, stream,
				    name->str), (double)lag->integer);
				if (sm->which == 0 &&
				    strcmp(name->str, "rules") == 0)
					s->rules_lag = lag->integer;
			}
			if (pend != NULL && pend->type == REDIS_REPLY_INTEGER)
				metric_set(metric_series(m_pending, stream,
				    name->str), (double)pend->integer);
		}
	free(sm);
}

static void
dlq_reply(struct redisReply *reply, void *arg)
{
	(void)arg;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
		metric_set(m_dlq, (double)reply->integer);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream_stats *s = arg;
	struct timeval tv = { STREAM_STATS_INTERVAL_MS / 1000, 0 };

	(void)fd;
	(void)what;
	if (redis_is_up(s->r)) {
		for (size_t i = 0; i < NWATCHED; i++) {
			struct sample *sm = calloc(1, sizeof(*sm));
			const char *argv[] = { "XINFO", "GROUPS", s->keys[i] };
			size_t len[] = { 5, 6, strlen(s->keys[i]) };

			if (sm == NULL)
				break;
			sm->s = s;
			sm->which = i;
			if (redis_command_argv(s->r, 0, groups_reply, sm, 3,
			    argv, len) == -1)
				free(sm);
		}
		{
			const char *argv[] = { "XLEN", s->k_dlq };
			size_t len[] = { 4, strlen(s->k_dlq) };

			redis_command_argv(s->r, 0, dlq_reply, s, 2, argv, len);
		}
	}
	event_add(s->ev_tick, &tv);
}

struct stream_stats *
stream_stats_new(struct event_base *base, const struct redis_opts *o,
    const char *prefix)
{
	struct stream_stats *s;
	struct timeval first = { 0, 200000 };

	if (m_lag == NULL) {
		m_lag = metric_gauge("baton_stream_group_lag",
		    "Entries of a stream a consumer group has not read yet.",
		    "stream,group");
		m_pending = metric_gauge("baton_stream_group_pending",
		    "Entries a consumer group read and has not acknowledged.",
		    "stream,group");
		m_dlq = metric_series(metric_gauge("baton_dlq_entries",
		    "Entries waiting in the dead-letter stream.", NULL));
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->rules_lag = -1;
	for (size_t i = 0; i < NWATCHED; i++)
		if (asprintf(&s->keys[i], "%s:%s", prefix, watched[i]) == -1)
			s->keys[i] = NULL;
	if (asprintf(&s->k_dlq, "%s:dlq", prefix) == -1)
		s->k_dlq = NULL;
	for (size_t i = 0; i < NWATCHED; i++)
		if (s->keys[i] == NULL)
			goto fail;
	if (s->k_dlq == NULL ||
	    (s->ev_tick = evtimer_new(base, on_tick, s)) == NULL ||
	    (s->r = redis_new(base, o, "stats", NULL, NULL)) == NULL)
		goto fail;
	event_add(s->ev_tick, &first);
	return s;
fail:
	stream_stats_free(s);
	return NULL;
}

int64_t
stream_stats_rules_lag(const struct stream_stats *s)
{
	return s != NULL ? s->rules_lag : -1;
}

void
stream_stats_free(struct stream_stats *s)
{
	if (s == NULL)
		return;
	if (s->ev_tick != NULL)
		event_free(s->ev_tick);
	s->ev_tick = NULL;
	/* Pending replies run now with NULL; they must not touch s. */
	redis_free(s->r);
	for (size_t i = 0; i < NWATCHED; i++)
		free(s->keys[i]);
	free(s->k_dlq);
	free(s);
}
