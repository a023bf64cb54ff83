/*
 * runtime.c - the running batond: its loop, its Redis connection and HTTP
 * listener, and the three signals that steer it.
 *
 * SIGHUP reloads: the new configuration is loaded beside the running one
 * and swapped in only when it has no problem (and its listener, if it
 * moved, could be bound); otherwise every problem is logged and nothing
 * changes.  SIGTERM and SIGINT stop accepting, let the requests that wait
 * on Redis get their answer, and leave the loop, within shutdown_timeout.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <baton/log.h>
#include <baton/timestamp.h>

#include "config.h"
#include "diag.h"
#include "http.h"
#include "metrics.h"
#include "notify.h"
#include "outbound.h"
#include "redis.h"
#include "rules_worker.h"

#define BEAT_INTERVAL_MS 1000
#define BEAT_STALE_MS    5000
#define OLD_LISTENER_GRACE_MS 1000     /* for a replaced listener's last
                                          answers to leave */

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval
ms_to_tv(int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
	    .tv_usec = (ms % 1000) * 1000 };
	return tv;
}

/*
 * The loop, with epoll's change list: libevent then folds the many
 * enable/disable calls evhttp and hiredis make per request into one
 * epoll_ctl per descriptor per iteration (profiling showed epoll_ctl as
 * the largest single cost of a webhook).  The caveat libevent documents,
 * descriptors shared through dup(), does not apply: batond dups none.
 */
static struct event_base *
loop_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* ---- Redis --------------------------------------------------------------- */

/* A string that changes whenever the connection settings change. */
static char *
redis_fingerprint(const struct redis_conf *rc)
{
	char *s = NULL;

	if (asprintf(&s, "%s\n%s\n%s\n%lld\n%lld\n%lld\n%s\n%lld", rc->url,
	    rc->username ? rc->username : "", rc->password ? rc->password : "",
	    (long long)rc->connect_timeout_ms,
	    (long long)rc->command_timeout_ms,
	    (long long)rc->reconnect_max_ms, rc->prefix,
	    rc->stream_maxlen) < 0)
		return NULL;
	return s;
}

static void
redis_state(bool up, void *arg)
{
	(void)arg;
	if (up)
		log_info("redis: connected");
	else
		log_warnx("redis: connection lost; webhooks get 503 until it "
		    "is back");
}

/*
 * What conf's [redis] settings drive: the intake's connection and the
 * rules worker on connections of its own, already given conf's rules.
 * Returns 0, or -1 having logged why (nothing left open).
 */
static int
backend_open(struct runtime *rt, const struct config *conf,
    struct redis **redis, struct rules_worker **worker)
{
	struct redis_opts o;
	char err[256];

	memset(&o, 0, sizeof(o));
	if (redis_opts_from_conf(&conf->redis, &o, err, sizeof(err)) == -1) {
		log_warnx("redis: %s", err);
		return -1;
	}
	*redis = redis_new(rt->base, &o, "intake", redis_state, rt);
	*worker = *redis == NULL ? NULL : rules_worker_new(rt->base, &o,
	    conf->redis.prefix, conf->redis.stream_maxlen, NULL);
	redis_opts_clear(&o);
	if (*worker == NULL) {
		log_warnx("redis: out of memory");
		redis_free(*redis);
		*redis = NULL;
		return -1;
	}
	rules_worker_set_rules(*worker, conf->rules);
	return 0;
}

/* A replaced worker has finished what it had sent. */
static void
worker_retired(void *arg)
{
	rules_worker_free(arg);
}

/* Leaves the loop once nothing waits: requests on Redis, the worker. */
static void
maybe_exit(struct runtime *rt)
{
	if (rt->inflight == 0 && rt->parsing == 0 && rt->old_http != NULL &&
	    rt->ev_old_http != NULL && !evtimer_pending(rt->ev_old_http, NULL)) {
		/* No request of the replaced listener is left; its last
		 * answers may still be leaving: free it a moment later. */
		struct timeval tv = ms_to_tv(OLD_LISTENER_GRACE_MS);

		evtimer_add(rt->ev_old_http, &tv);
	}
	if (rt->stopping && rt->inflight == 0 && rt->parsing == 0 &&
	    !rt->worker_running && !rt->outbound_running)
		event_base_loopexit(rt->base, NULL);
}

/* The grace after a replaced listener's last request. */
static void
on_old_http(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;

	(void)fd;
	(void)what;
	if (rt->inflight > 0 || rt->parsing > 0)
		return;         /* new requests came; the next done re-arms */
	http_server_free(rt->old_http);
	rt->old_http = NULL;
}

static void
outbound_stopped(void *arg)
{
	struct runtime *rt = arg;

	rt->outbound_running = false;
	maybe_exit(rt);
}

/* A replaced outbound has finished its batches and rounds. */
static void
outbound_retired(void *arg)
{
	outbound_free(arg);
}

static void
worker_stopped(void *arg)
{
	struct runtime *rt = arg;

	rt->worker_running = false;
	maybe_exit(rt);
}

static double
gauge_inflight(void *arg)
{
	return (double)((struct runtime *)arg)->inflight;
}

static double
gauge_up(void *arg)
{
	return ((struct runtime *)arg)->redis != NULL &&
	    redis_is_up(((struct runtime *)arg)->redis) ? 1 : 0;
}

/* ---- Signals and the heartbeat -------------------------------------------- */

static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;

	(void)fd;
	(void)what;
	rt->last_beat_ms = monotonic_ms();
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_notice("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	runtime_shutdown(arg);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	int rc;

	(void)sig;
	(void)what;
	log_notice("SIGHUP: reloading");
	if (rt->stopping)
		return;         /* runtime_reload() would refuse */
	/* systemd holds the unit in "reloading" until READY=1 comes. */
	notify_reloading();
	rc = runtime_reload(rt);
	notify_ready(rc == 0 ? "configuration reloaded" :
	    "reload refused, the running configuration stays (see the log)");
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;

	(void)fd;
	(void)what;
	log_warnx("shutdown: %zu request(s) still waiting on Redis after "
	    "shutdown_timeout; answering 503", rt->inflight);
	/* Every pending append now completes with a failure (503). */
	stream_batcher_flush(rt->batcher);
	redis_free(rt->redis);
	rt->redis = NULL;
	event_base_loopexit(rt->base, NULL);
}

/* ---- Life cycle ----------------------------------------------------------- */

int
runtime_init(struct runtime *rt, const char *conf_path)
{
	struct timeval beat = ms_to_tv(BEAT_INTERVAL_MS);
	struct config *conf;
	struct diag d = { 0 };

	memset(rt, 0, sizeof(*rt));
	signal(SIGPIPE, SIG_IGN);
	if ((rt->conf_path = strdup(conf_path)) == NULL ||
	    (rt->base = loop_new()) == NULL) {
		log_warnx("out of memory");
		goto fail;
	}
	if ((conf = config_load(conf_path, rt->base, &d)) == NULL) {
		diag_print(&d, stderr);
		diag_clear(&d);
		goto fail;
	}
	rt->conf = conf;
	log_set_level(conf->daemon.log_level);
	if ((rt->batcher = stream_batcher_new(rt->base, 0)) == NULL)
		goto fail;
	rt->redis_fingerprint = redis_fingerprint(&conf->redis);
	if (backend_open(rt, conf, &rt->redis, &rt->worker) == -1)
		goto fail;
	rt->worker_running = true;
	if ((rt->consumer = outbound_default_consumer()) == NULL ||
	    (rt->outbound = outbound_start(rt->base, conf, rt->consumer)) ==
	    NULL)
		goto fail;
	rt->outbound_running = true;
	if (conf->rules == NULL)
		log_notice("no rules = in [daemon]: events are stored, and wait "
		    "in the rules group until a reload brings rules");
	rt->http = http_server_new(rt, conf->daemon.listen,
	    conf->daemon.max_body, conf->daemon.request_timeout_ms);
	if (rt->http == NULL)
		goto fail;
	rt->ev_term = evsignal_new(rt->base, SIGTERM, on_term, rt);
	rt->ev_int = evsignal_new(rt->base, SIGINT, on_term, rt);
	rt->ev_hup = evsignal_new(rt->base, SIGHUP, on_hup, rt);
	rt->ev_beat = event_new(rt->base, -1, EV_PERSIST, on_beat, rt);
	rt->ev_old_http = evtimer_new(rt->base, on_old_http, rt);
	if (rt->ev_term == NULL || rt->ev_int == NULL || rt->ev_hup == NULL ||
	    rt->ev_beat == NULL || rt->ev_old_http == NULL)
		goto fail;
	event_add(rt->ev_term, NULL);
	event_add(rt->ev_int, NULL);
	event_add(rt->ev_hup, NULL);
	event_add(rt->ev_beat, &beat);
	rt->last_beat_ms = monotonic_ms();
	metric_gauge_fn("baton_intake_inflight_requests",
	    "Webhook requests waiting for Redis to acknowledge their events.",
	    gauge_inflight, rt);
	metric_gauge_fn("baton_redis_connected",
	    "1 when the intake's Redis connection is up.", gauge_up, rt);
	return 0;
fail:
	runtime_free(rt);
	return -1;
}

int
runtime_run(struct runtime *rt)
{
	event_base_dispatch(rt->base);
	return rt->exit_code;
}

void
runtime_free(struct runtime *rt)
{
	struct event **evs[] = { &rt->ev_term, &rt->ev_int, &rt->ev_hup,
	    &rt->ev_drain, &rt->ev_beat, &rt->ev_old_http };

	outbound_free(rt->outbound);
	rt->outbound = NULL;
	/* Pending appends answer 503 before the listener goes away. */
	rules_worker_free(rt->worker);
	rt->worker = NULL;
	stream_batcher_free(rt->batcher);
	rt->batcher = NULL;
	redis_free(rt->redis);
	rt->redis = NULL;
	http_server_free(rt->old_http);
	rt->old_http = NULL;
	http_server_free(rt->http);
	rt->http = NULL;
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i] != NULL)
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (rt->conf != NULL)
		config_unref(rt->conf);
	rt->conf = NULL;
	if (rt->base != NULL)
		event_base_free(rt->base);
	rt->base = NULL;
	free(rt->conf_path);
	free(rt->consumer);
	rt->consumer = NULL;
	free(rt->redis_fingerprint);
	rt->conf_path = rt->redis_fingerprint = NULL;
}

int
runtime_reload(struct runtime *rt)
{
	struct diag d = { 0 };
	struct config *next;
	struct http_server *http = NULL;
	struct redis *redis = NULL;
	struct rules_worker *worker = NULL;
	struct outbound *ob;
	char *fp;

	if (rt->stopping)
		return -1;
	next = config_load(rt->conf_path, rt->base, &d);
	if (next == NULL) {
		diag_log(&d);
		log_warnx("reload refused: %zu problem(s) in %s; the running "
		    "configuration stays", diag_count(&d), rt->conf_path);
		diag_clear(&d);
		return -1;
	}
	diag_clear(&d);
	if (strcmp(next->daemon.listen, http_server_listen(rt->http)) != 0 &&
	    rt->old_http != NULL) {
		log_warnx("reload refused: the listener replaced by the last "
		    "reload still has requests in flight; try again shortly");
		config_unref(next);
		return -1;
	}
	if (strcmp(next->daemon.listen, http_server_listen(rt->http)) != 0) {
		http = http_server_new(rt, next->daemon.listen,
		    next->daemon.max_body, next->daemon.request_timeout_ms);
		if (http == NULL) {
			log_warnx("reload refused: cannot listen on %s; the "
			    "running configuration stays", next->daemon.listen);
			config_unref(next);
			return -1;
		}
	}
	fp = redis_fingerprint(&next->redis);
	if (fp == NULL || rt->redis_fingerprint == NULL ||
	    strcmp(fp, rt->redis_fingerprint) != 0) {
		if (backend_open(rt, next, &redis, &worker) == -1) {
			log_warnx("reload refused: bad [redis] settings; the "
			    "running configuration stays");
			http_server_free(http);
			config_unref(next);
			free(fp);
			return -1;
		}
	}
	if ((ob = outbound_start(rt->base, next, rt->consumer)) == NULL) {
		log_warnx("reload refused: cannot start the deliveries and "
		    "pollers; the running configuration stays");
		if (worker != NULL)
			rules_worker_free(worker);
		redis_free(redis);
		http_server_free(http);
		config_unref(next);
		free(fp);
		return -1;
	}
	/* The old connectors stop; their config goes once they are done. */
	outbound_stop(rt->outbound, outbound_retired, rt->outbound);
	rt->outbound = ob;
	if (http != NULL) {
		/* Requests of the old listener still waiting (on Redis, on a
		 * connector) are answered through it; it goes when they are
		 * done. */
		http_server_stop_accepting(rt->http);
		rt->old_http = rt->http;
		rt->http = http;
		maybe_exit(rt);
	} else
		http_server_set_limits(rt->http, next->daemon.max_body,
		    next->daemon.request_timeout_ms);
	if (redis != NULL) {
		/* Appends still waiting on the old connection answer 503. */
		stream_batcher_flush(rt->batcher);
		redis_free(rt->redis);
		rt->redis = redis;
		/* The old worker computes nothing more (its rules go with the
		 * old config) and is freed once its commits are answered. */
		rules_worker_set_rules(rt->worker, NULL);
		rules_worker_stop(rt->worker, worker_retired, rt->worker);
		rt->worker = worker;
	} else
		rules_worker_set_rules(rt->worker, next->rules);
	free(rt->redis_fingerprint);
	rt->redis_fingerprint = fp;
	config_unref(rt->conf);
	rt->conf = next;
	log_set_level(next->daemon.log_level);
	log_notice("reloaded %s: %zu connector(s)", rt->conf_path,
	    next->nconnectors);
	return 0;
}

void
runtime_shutdown(struct runtime *rt)
{
	struct timeval tv;

	if (rt->stopping)
		return;
	rt->stopping = true;
	notify_stopping();
	http_server_stop_accepting(rt->http);
	if (rt->worker_running)
		rules_worker_stop(rt->worker, worker_stopped, rt);
	if (rt->outbound_running)
		outbound_stop(rt->outbound, outbound_stopped, rt);
	if (rt->inflight == 0 && rt->parsing == 0 && !rt->worker_running &&
	    !rt->outbound_running) {
		event_base_loopexit(rt->base, NULL);
		return;
	}
	log_info("shutdown: waiting for %zu request(s) and the rules worker",
	    rt->inflight);
	tv = ms_to_tv(rt->conf->daemon.shutdown_timeout_ms);
	rt->ev_drain = evtimer_new(rt->base, on_drain_timeout, rt);
	if (rt->ev_drain == NULL || evtimer_add(rt->ev_drain, &tv) == -1)
		event_base_loopexit(rt->base, NULL);
}

void
runtime_parse_started(struct runtime *rt)
{
	rt->parsing++;
}

void
runtime_parse_done(struct runtime *rt)
{
	if (rt->parsing > 0)
		rt->parsing--;
	maybe_exit(rt);
}

void
runtime_request_done(struct runtime *rt)
{
	if (rt->inflight > 0)
		rt->inflight--;
	maybe_exit(rt);
}

bool
runtime_healthy(const struct runtime *rt, const char **why)
{
	if (rt->stopping) {
		*why = "shutting down";
		return false;
	}
	if (rt->redis == NULL || !redis_is_up(rt->redis)) {
		*why = "redis unreachable";
		return false;
	}
	if (rt->worker != NULL && !rules_worker_healthy(rt->worker, why))
		return false;
	if (rt->outbound != NULL && !outbound_healthy(rt->outbound, why))
		return false;
	if (monotonic_ms() - rt->last_beat_ms > BEAT_STALE_MS) {
		*why = "event loop stalled";
		return false;
	}
	*why = NULL;
	return true;
}

void
runtime_events_target(const struct runtime *rt, struct stream_target *t)
{
	t->prefix = rt->conf->redis.prefix;
	t->stream = "events";
	t->maxlen = rt->conf->redis.stream_maxlen;
	t->dedupe_ttl_ms = rt->conf->daemon.dedupe_ttl_ms;
}
