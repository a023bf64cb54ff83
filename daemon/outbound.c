/*
 * outbound.c - the deliveries and pollers of one configuration (see
 * outbound.h): which connectors get which, and stopping them together.
 */
#include "outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <baton/connector.h>
#include <baton/log.h>

#include "config.h"
#include "connectors.h"
#include "delivery.h"
#include "poller.h"
#include "redis.h"
#include "stream.h"
#include "stream_stats.h"
#include "metrics.h"

struct outbound {
	struct config *conf;            /* one reference */
	struct delivery **deliveries;
	struct poller **pollers;
	size_t ndeliveries, npollers;
	struct stream_stats *stats;     /* group lag, DLQ depth */
	size_t running;                 /* not yet stopped */
	bool stopping;
	void (*done)(void *);
	void *done_arg;
};

char *
outbound_default_consumer(void)
{
	char host[256], *s = NULL;

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (asprintf(&s, "%s-%ld", host, (long)getpid()) == -1)
		return NULL;
	return s;
}

static struct metric *build_info;

struct outbound *
outbound_start(struct event_base *base, struct config *conf,
    const char *consumer)
{
	struct stream_target events = {
		.prefix = conf->redis.prefix,
		.stream = "events",
		.maxlen = conf->redis.stream_maxlen,
		.dedupe_ttl_ms = conf->daemon.dedupe_ttl_ms,
	};
	struct outbound *ob;
	struct redis_opts o;
	char err[256];

	memset(&o, 0, sizeof(o));
	if (redis_opts_from_conf(&conf->redis, &o, err, sizeof(err)) == -1) {
		log_warnx("redis: %s", err);
		return NULL;
	}
	if ((ob = calloc(1, sizeof(*ob))) == NULL ||
	    (ob->deliveries = calloc(conf->nconnectors + 1,
	    sizeof(*ob->deliveries))) == NULL ||
	    (ob->pollers = calloc(conf->nconnectors + 1,
	    sizeof(*ob->pollers))) == NULL)
		goto oom;
	ob->conf = config_ref(conf);
	if (build_info == NULL) {
		build_info = metric_gauge("baton_build_info",
		    "Always 1; the labels say which batond this is.", "version");
		metric_set(metric_series(build_info, BATON_VERSION), 1);
	}
	if ((ob->stats = stream_stats_new(base, &o, conf->redis.prefix)) ==
	    NULL)
		goto oom;
	for (size_t i = 0; i < conf->nconnectors; i++) {
		struct connector_instance *ci = conf->connectors[i];
		const struct connector *desc = connector_descriptor(ci);
		struct delivery *d;
		struct poller *p;

		if (desc->deliver != NULL) {
			d = delivery_new(base, &o, ci, conf->redis.prefix,
			    conf->redis.stream_maxlen, consumer);
			if (d == NULL)
				goto oom;
			ob->deliveries[ob->ndeliveries++] = d;
		}
		if (desc->poll != NULL &&
		    connector_settings(ci)->poll_interval_ms > 0) {
			p = poller_new(base, &o, ci, &events, consumer);
			if (p == NULL)
				goto oom;
			ob->pollers[ob->npollers++] = p;
		}
	}
	redis_opts_clear(&o);
	return ob;
oom:
	log_warnx("out of memory starting deliveries and pollers");
	redis_opts_clear(&o);
	outbound_free(ob);
	return NULL;
}

bool
outbound_healthy(const struct outbound *ob, const char **why)
{
	for (size_t i = 0; i < ob->ndeliveries; i++)
		if (!delivery_healthy(ob->deliveries[i], why))
			return false;
	for (size_t i = 0; i < ob->npollers; i++)
		if (!poller_healthy(ob->pollers[i], why))
			return false;
	return true;
}

static void
one_stopped(void *arg)
{
	struct outbound *ob = arg;

	if (ob->running > 0 && --ob->running == 0 && ob->done != NULL) {
		void (*done)(void *) = ob->done;

		ob->done = NULL;
		done(ob->done_arg);
	}
}

void
outbound_stop(struct outbound *ob, void (*done)(void *), void *arg)
{
	ob->stopping = true;
	ob->done = done;
	ob->done_arg = arg;
	/* One extra count so that nothing finishes while this loop runs. */
	ob->running = ob->ndeliveries + ob->npollers + 1;
	for (size_t i = 0; i < ob->ndeliveries; i++)
		delivery_stop(ob->deliveries[i], one_stopped, ob);
	for (size_t i = 0; i < ob->npollers; i++)
		poller_stop(ob->pollers[i], one_stopped, ob);
	/* Then the connectors end what they have in flight (as retries),
	 * which the stopping deliveries and pollers still take in. */
	for (size_t i = 0; i < ob->conf->nconnectors; i++)
		connector_instance_stop(ob->conf->connectors[i]);
	/* The stop functions call back from the loop, never from here;
	 * with nothing to stop, done runs now. */
	one_stopped(ob);
}

void
outbound_free(struct outbound *ob)
{
	if (ob == NULL)
		return;
	if (ob->conf != NULL)
		for (size_t i = 0; i < ob->conf->nconnectors; i++)
			connector_instance_stop(ob->conf->connectors[i]);
	for (size_t i = 0; i < ob->ndeliveries; i++)
		delivery_free(ob->deliveries[i]);
	for (size_t i = 0; i < ob->npollers; i++)
		poller_free(ob->pollers[i]);
	stream_stats_free(ob->stats);
	free(ob->deliveries);
	free(ob->pollers);
	if (ob->conf != NULL)
		config_unref(ob->conf);
	free(ob);
}

int64_t
outbound_rules_lag(const struct outbound *ob)
{
	return ob != NULL ? stream_stats_rules_lag(ob->stats) : -1;
}
