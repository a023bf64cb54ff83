/*
 * test_poller.c - daemon/poller.c against a real redis-server, with a
 * fake connector type whose poll() plays a script of rounds: events
 * land in PREFIX:events once with their seq and the cursor with them, the
 * next round reads that cursor, duplicates are not rewritten, invalid
 * events are dropped, many events are committed in chunks, RETRY backs
 * off and honours retry_after, a commit Redis fails is a retry, a pending
 * completion, poll_again, the
 * rate budget, API misuse, two pollers on one Redis (one polls; the other
 * takes over when the holder dies), a lost lease fences the commit, and
 * stopping with and without a round in flight.
 *
 * Each test starts its own redis-server on a unix socket in a fresh
 * directory; nothing is mocked.  Every test uses its own connector name,
 * so that the process-wide metrics can be read per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/connector.h>
#include <baton/event.h>

#include "connectors.h"
#include "diag.h"
#include "ini.h"
#include "metrics.h"
#include "poller.h"
#include "redis.h"
#include "stream.h"

#include "loop_wait.h"
#include "redis_server.h"

/* connectors.c, test only. */
void connectors_set_types_for_test(const struct connector *const *types);

#define AT_MS INT64_C(1795444000000)

/* ---- The fake connector ------------------------------------------------- */

/* One scripted round. */
struct round_spec {
	const char *ids[5];             /* events to emit; "!x": bad lead */
	size_t many;                    /* and this many more, "m<i>" */
	const char *next;               /* the next cursor */
	enum connector_result rc;
	int64_t retry_after;
	bool again;                     /* poll_again() */
	bool pending;                   /* complete when the test says */
	bool no_complete;               /* return 0 without completing */
	bool twice;                     /* complete twice */
};

struct fake {
	const struct round_spec *specs; /* then idle rounds (OK, nothing) */
	size_t nspecs;
	int rounds;                     /* poll() calls */
	char *cursors[64];              /* poll_cursor() seen; "-": NULL */
	int64_t started[64];            /* when each poll() ran */
	struct poll_call *pending;
	const struct round_spec *pending_spec;
	int stops;
	struct test_redis *srv;         /* for del_key */
	const char *del_key;            /* deleted when poll() runs ... */
	int del_round;                  /* ... for this round (1: first) */
};

struct fake_ctx {
	struct fake *f;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct baton_event *
mkevent(const char *id, const char *lead)
{
	struct baton_event *ev;

	ev = baton_event_new(EVENT_LEAD_ACTIVITY, lead, id, AT_MS,
	    json_pack("{s:s}", "activity", "form_submit"));
	assert_non_null(ev);
	return ev;
}

/* Emits the spec's events and completes as it says. */
static void
fake_finish(struct poll_call *call, const struct round_spec *s)
{
	char id[32];

	for (size_t i = 0; i < 5 && s->ids[i] != NULL; i++) {
		if (s->ids[i][0] == '!')
			assert_int_equal(poll_emit(call, mkevent(s->ids[i] + 1,
			    "Not An Email")), 0);
		else
			assert_int_equal(poll_emit(call, mkevent(s->ids[i],
			    "ada@example.com")), 0);
	}
	for (size_t i = 0; i < s->many; i++) {
		snprintf(id, sizeof(id), "m%zu", i);
		assert_int_equal(poll_emit(call, mkevent(id,
		    i % 2 ? "bob@example.com" : "cy@example.com")), 0);
	}
	if (s->again)
		poll_again(call);
	if (s->no_complete)
		return;
	poll_complete(call, s->rc, s->next, s->retry_after);
	if (s->twice)
		poll_complete(call, CONNECTOR_OK, "twice", 0);
}

static const struct round_spec idle_round = { .rc = CONNECTOR_OK };

static int
fake_poll(struct connector_instance *ci, struct poll_call *call)
{
	struct fake *f = ((struct fake_ctx *)connector_ctx(ci))->f;
	const struct round_spec *s;
	const char *cur = poll_cursor(call);
	int i = f->rounds++;

	assert_true(i < 64);
	if (f->del_key != NULL && f->del_round == i + 1)
		freeReplyObject(test_redis_cmd(f->srv, "DEL %s", f->del_key));
	f->cursors[i] = strdup(cur != NULL ? cur : "-");
	f->started[i] = mono_ms();
	s = (size_t)i < f->nspecs ? &f->specs[i] : &idle_round;
	if (s->pending) {
		f->pending = call;
		f->pending_spec = s;
		return CONNECTOR_PENDING;
	}
	fake_finish(call, s);
	return 0;
}

/* The pending round completes now, as its spec says. */
static void
fake_complete_pending(struct fake *f)
{
	struct poll_call *call = f->pending;

	assert_non_null(call);
	f->pending = NULL;
	fake_finish(call, &(struct round_spec){ .ids = { "p1", "p2" },
	    .next = f->pending_spec->next, .rc = f->pending_spec->rc });
}

static void
fake_stop(struct connector_instance *ci)
{
	struct fake *f = ((struct fake_ctx *)connector_ctx(ci))->f;

	f->stops++;
	if (f->pending != NULL) {
		struct poll_call *call = f->pending;

		f->pending = NULL;
		poll_complete(call, CONNECTOR_RETRY, NULL, 0);
	}
}

static int
fake_init(struct connector_instance *ci)
{
	(void)ci;
	return 0;
}

static const struct connector fake_poller = {
	.name = "fakepoll",
	.roles = CONNECTOR_ROLE_MARKETING,
	.ctx_size = sizeof(struct fake_ctx),
	.init = fake_init,
	.poll = fake_poll,
	.stop = fake_stop,
};

static const struct connector *const fake_types[] = { &fake_poller, NULL };

static void
fake_clear(struct fake *f)
{
	for (int i = 0; i < f->rounds && i < 64; i++)
		free(f->cursors[i]);
}

/* ---- Fixture: a redis-server, a loop, instances ------------------------- */

struct inst {
	struct ini_doc *doc;
	struct diag d;
	struct connector_instance *ci;
	struct fake f;
	struct poller *p;
	int done;
};

struct fixture {
	struct test_redis srv;
	struct event_base *base;
	struct redis_opts o;
};

static const struct stream_target target = {
	.prefix = "bt", .stream = "events", .maxlen = 0,
	.dedupe_ttl_ms = 60000,
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[256], err[256];

	assert_non_null(f);
	connectors_set_types_for_test(fake_types);
	setenv("BATON_TEST_LEASE_MS", "3000", 1);
	snprintf(f->srv.dir, sizeof(f->srv.dir), "/tmp/baton-poller-XXXXXX");
	assert_non_null(mkdtemp(f->srv.dir));
	snprintf(f->srv.sock, sizeof(f->srv.sock), "%s/redis.sock", f->srv.dir);
	test_redis_start(&f->srv);
	f->base = event_base_new();
	assert_non_null(f->base);
	snprintf(url, sizeof(url), "unix://%s", f->srv.sock);
	assert_int_equal(redis_opts_parse_url(url, &f->o, err, sizeof(err)),
	    0);
	f->o.connect_timeout_ms = 1000;
	f->o.command_timeout_ms = 2000;
	f->o.reconnect_max_ms = 200;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	redis_opts_clear(&f->o);
	test_redis_stop(&f->srv, SIGTERM);
	event_base_free(f->base);
	unlink(f->srv.sock);
	rmdir(f->srv.dir);
	free(f);
	connectors_set_types_for_test(NULL);
	unsetenv("BATON_TEST_LEASE_MS");
	return 0;
}

/* Builds [connector NAME] of type fakepoll with extra keys; the poller is
 * made by start(). */
static void
inst_load(struct fixture *fx, struct inst *in, const char *name,
    const char *extra, const struct round_spec *specs, size_t nspecs)
{
	char text[1024];
	struct ini_section *sec;

	memset(in, 0, sizeof(*in));
	if (extra == NULL)
		extra = "";
	/* poll_interval 100 ms unless extra sets it */
	snprintf(text, sizeof(text), "[connector %s]\ntype = fakepoll\n"
	    "retry_base = 20ms\nretry_cap = 40ms\n%s%s", name,
	    strstr(extra, "poll_interval") ? "" : "poll_interval = 100ms\n",
	    extra);
	in->doc = ini_parse_buffer("test.conf", text, strlen(text), &in->d);
	assert_non_null(in->doc);
	sec = ini_find(in->doc, "connector", name);
	assert_non_null(sec);
	in->ci = connector_instance_new(sec, fx->base, &in->d);
	if (in->ci == NULL)
		fail_msg("%s", in->d.n > 0 ? in->d.msgs[0] : "no instance");
	((struct fake_ctx *)connector_ctx(in->ci))->f = &in->f;
	in->f.srv = &fx->srv;
	in->f.specs = specs;
	in->f.nspecs = nspecs;
}

static void
inst_start(struct fixture *fx, struct inst *in, const char *consumer)
{
	in->p = poller_new(fx->base, &fx->o, in->ci, &target, consumer);
	assert_non_null(in->p);
}

static void
inst_free(struct inst *in)
{
	poller_free(in->p);
	connector_instance_free(in->ci);
	ini_free(in->doc);
	diag_clear(&in->d);
	fake_clear(&in->f);
}

static void
on_done(void *arg)
{
	((struct inst *)arg)->done++;
}

/* Stops the poller and waits for done. */
static void
inst_stop(struct fixture *fx, struct inst *in)
{
	poller_stop(in->p, on_done, in);
	assert_int_equal(in->done, 0);  /* never from inside poller_stop */
	assert_true(run_until(fx->base, &in->done, 1, 3000));
}

/* Runs the loop for ms. */
static void
run_for(struct fixture *fx, int ms)
{
	int never = 0;

	run_until(fx->base, &never, 1, ms);
}

/* ---- Redis and metric helpers ------------------------------------------- */

/* A string key's value ("(nil)" when missing), in a static buffer. */
static const char *
get_str(struct fixture *fx, const char *key)
{
	static char buf[256];
	redisReply *r = test_redis_cmd(&fx->srv, "GET %s", key);

	assert_non_null(r);
	if (r->type == REDIS_REPLY_NIL)
		snprintf(buf, sizeof(buf), "(nil)");
	else if (r->type == REDIS_REPLY_STRING)
		snprintf(buf, sizeof(buf), "%s", r->str);
	else
		fail_msg("GET %s: reply type %d", key, r->type);
	freeReplyObject(r);
	return buf;
}

static void
redis_do(struct fixture *fx, const char *fmt, const char *a, const char *b)
{
	redisReply *r = test_redis_cmd(&fx->srv, fmt, a, b);

	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", fmt, r->str);
	freeReplyObject(r);
}

static long long
xlen(struct fixture *fx)
{
	redisReply *r = test_redis_cmd(&fx->srv, "XLEN bt:events");
	long long n;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	n = r->integer;
	freeReplyObject(r);
	return n;
}

/* Entry i of bt:events as "field=value ..." without `at`/`v`, static. */
static const char *
entry(struct fixture *fx, size_t i)
{
	static char buf[1024];
	redisReply *r = test_redis_cmd(&fx->srv, "XRANGE bt:events - +");
	redisReply *fv;
	size_t n = 0;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_true(i < r->elements);
	fv = r->element[i]->element[1];
	buf[0] = '\0';
	for (size_t k = 0; k + 1 < fv->elements; k += 2) {
		if (strcmp(fv->element[k]->str, "at") == 0 ||
		    strcmp(fv->element[k]->str, "v") == 0)
			continue;
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s=%s",
		    n > 0 ? " " : "", fv->element[k]->str,
		    fv->element[k + 1]->str);
	}
	freeReplyObject(r);
	return buf;
}

static double
rounds_metric(const char *conn, const char *result)
{
	return metric_value(metric_series(metric_counter(
	    "baton_poll_rounds_total", "", "connector,result"), conn, result));
}

static double
events_metric(const char *conn, const char *result)
{
	return metric_value(metric_series(metric_counter(
	    "baton_poll_events_total", "", "connector,result"), conn, result));
}

static double
held_metric(const char *conn)
{
	return metric_value(metric_series(metric_gauge(
	    "baton_poll_lease_held", "", "connector"), conn));
}

/* Waits until the metric reaches want. */
static void
wait_metric(struct fixture *fx, double (*get)(const char *, const char *),
    const char *conn, const char *result, double want)
{
	int64_t end = mono_ms() + 3000;

	while (get(conn, result) < want && mono_ms() < end)
		event_base_loop(fx->base, EVLOOP_ONCE);
	assert_true(get(conn, result) >= want);
}

/* ---- Tests --------------------------------------------------------------- */

/* Two rounds: events with their seq and source, the cursor committed and
 * read back by the next round, the lease held under our name. */
static void
test_rounds_commit_events_and_cursor(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .ids = { "e1", "e2" }, .next = "c1" },
		{ .ids = { "e3" }, .next = "c2" },
	};
	struct inst in;

	inst_load(fx, &in, "crm1", NULL, specs, 2);
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm1", "ok", 2);
	assert_string_equal(in.f.cursors[0], "-");
	assert_string_equal(in.f.cursors[1], "c1");
	/* interval: 100 ms from start to start (a round starts with its
	 * GET of the cursor; poll() runs a Redis round trip later) */
	assert_true(in.f.started[1] - in.f.started[0] >= 60);
	assert_true(in.f.started[1] - in.f.started[0] < 1000);
	assert_int_equal(xlen(fx), 3);
	assert_string_equal(entry(fx, 0), "type=lead.activity "
	    "lead=ada@example.com source=crm1 id=e1 "
	    "data={\"activity\":\"form_submit\"} seq=1");
	assert_string_equal(entry(fx, 1), "type=lead.activity "
	    "lead=ada@example.com source=crm1 id=e2 "
	    "data={\"activity\":\"form_submit\"} seq=2");
	assert_string_equal(entry(fx, 2), "type=lead.activity "
	    "lead=ada@example.com source=crm1 id=e3 "
	    "data={\"activity\":\"form_submit\"} seq=3");
	assert_string_equal(get_str(fx, "bt:cursor:crm1"), "c2");
	assert_string_equal(get_str(fx, "bt:lease:poll:crm1"), "node-a");
	assert_true(get_str(fx, "bt:seen:crm1:e3")[0] == '1');
	assert_true(events_metric("crm1", "written") == 3);
	assert_true(held_metric("crm1") == 1);
	/* A third, idle round (OK, no cursor) keeps the cursor. */
	wait_metric(fx, rounds_metric, "crm1", "ok", 3);
	assert_string_equal(in.f.cursors[2], "c2");
	assert_string_equal(get_str(fx, "bt:cursor:crm1"), "c2");
	assert_true(poller_healthy(in.p, NULL));
	inst_stop(fx, &in);
	assert_string_equal(get_str(fx, "bt:lease:poll:crm1"), "(nil)");
	assert_true(held_metric("crm1") == 0);
	inst_free(&in);
}

/* The same id twice is written once; an invalid event is dropped and the
 * round still commits. */
static void
test_duplicates_and_invalid(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .ids = { "e1", "e2" }, .next = "c1" },
		{ .ids = { "e2", "!bad", "e3" }, .next = "c2" },
	};
	struct inst in;

	inst_load(fx, &in, "crm2", NULL, specs, 2);
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm2", "ok", 2);
	assert_int_equal(xlen(fx), 3);
	assert_string_equal(entry(fx, 2), "type=lead.activity "
	    "lead=ada@example.com source=crm2 id=e3 "
	    "data={\"activity\":\"form_submit\"} seq=3");
	assert_true(events_metric("crm2", "written") == 3);
	assert_true(events_metric("crm2", "duplicate") == 1);
	assert_true(events_metric("crm2", "invalid") == 1);
	assert_string_equal(get_str(fx, "bt:cursor:crm2"), "c2");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* 600 events in one round go out in chunks; the cursor with the last. */
static void
test_many_events(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .many = 600, .next = "big" },
	};
	struct inst in;
	redisReply *r;

	inst_load(fx, &in, "crm3", NULL, specs, 1);
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm3", "ok", 1);
	assert_int_equal(xlen(fx), 600);
	assert_string_equal(get_str(fx, "bt:cursor:crm3"), "big");
	assert_true(events_metric("crm3", "written") == 600);
	r = test_redis_cmd(&fx->srv, "HGET bt:lead:bob@example.com seq_in");
	assert_non_null(r);
	assert_string_equal(r->str, "300");
	freeReplyObject(r);
	inst_stop(fx, &in);
	inst_free(&in);
}

/* RETRY discards the round's events and backs off: by retry_base (not
 * the interval), and no sooner than retry_after when one is given. */
static void
test_retry_backoff(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .ids = { "x1" }, .next = "bad", .rc = CONNECTOR_RETRY },
		{ .ids = { "x2" }, .rc = CONNECTOR_RETRY, .retry_after = 400 },
		{ .ids = { "e1" }, .next = "c1" },
	};
	struct inst in;

	inst_load(fx, &in, "crm4", "poll_interval = 5s\n", specs, 3);
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm4", "ok", 1);
	assert_int_equal(in.f.rounds, 3);
	/* a backoff of at most retry_base (20 ms), not the 5 s interval */
	assert_true(in.f.started[1] - in.f.started[0] < 1000);
	/* retry_after 400 ms */
	assert_true(in.f.started[2] - in.f.started[1] >= 395);
	assert_true(in.f.started[2] - in.f.started[1] < 1500);
	assert_true(rounds_metric("crm4", "retry") == 2);
	assert_int_equal(xlen(fx), 1);
	assert_string_equal(entry(fx, 0), "type=lead.activity "
	    "lead=ada@example.com source=crm4 id=e1 "
	    "data={\"activity\":\"form_submit\"} seq=1");
	assert_string_equal(in.f.cursors[2], "-");
	assert_string_equal(get_str(fx, "bt:cursor:crm4"), "c1");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* A commit that Redis fails (here: the lead's hash is not a hash) is a
 * retry: the cursor stays, and the next round writes the events. */
static void
test_commit_failure_is_retry(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .ids = { "e1" }, .next = "c1" },
		{ .ids = { "e1" }, .next = "c1" },
	};
	struct inst in;

	redis_do(fx, "SET %s %s", "bt:lead:ada@example.com", "not-a-hash");
	inst_load(fx, &in, "crm13", "poll_interval = 5s\n", specs, 2);
	/* the second round finds the hash fixed */
	in.f.del_key = "bt:lead:ada@example.com";
	in.f.del_round = 2;
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm13", "ok", 1);
	assert_true(rounds_metric("crm13", "retry") == 1);
	assert_int_equal(in.f.rounds, 2);
	assert_string_equal(in.f.cursors[1], "-");
	assert_int_equal(xlen(fx), 1);
	assert_string_equal(get_str(fx, "bt:cursor:crm13"), "c1");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* poll() returns CONNECTOR_PENDING and completes later. */
static void
test_pending_completion(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .pending = true, .next = "later" },
	};
	struct inst in;

	inst_load(fx, &in, "crm5", NULL, specs, 1);
	inst_start(fx, &in, "node-a");
	assert_true(run_until(fx->base, &in.f.rounds, 1, 3000));
	run_for(fx, 250);
	/* no second round while the first is pending */
	assert_int_equal(in.f.rounds, 1);
	assert_int_equal(xlen(fx), 0);
	fake_complete_pending(&in.f);
	wait_metric(fx, rounds_metric, "crm5", "ok", 1);
	assert_int_equal(xlen(fx), 2);
	assert_string_equal(get_str(fx, "bt:cursor:crm5"), "later");
	assert_true(run_until(fx->base, &in.f.rounds, 2, 3000));
	assert_string_equal(in.f.cursors[1], "later");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* poll_again: the next round right after the commit, not after the
 * interval; the rate budget still spaces rounds. */
static void
test_again_and_rate(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .next = "a1", .again = true },
		{ .next = "a2", .again = true },
		{ .next = "a3", .again = true },
		{ .next = "a4" },
	};
	struct inst in;

	inst_load(fx, &in, "crm6", "poll_interval = 10s\nrate_limit = 2\n"
	    "rate_window = 1s\n", specs, 4);
	inst_start(fx, &in, "node-a");
	assert_true(run_until(fx->base, &in.f.rounds, 4, 4000));
	/* two at once, then each when the one two back is a window old
	 * (a rolling window: never three in one second) */
	assert_true(in.f.started[1] - in.f.started[0] < 200);
	assert_true(in.f.started[2] - in.f.started[0] >= 990);
	assert_true(in.f.started[3] - in.f.started[1] >= 990);
	assert_string_equal(in.f.cursors[3], "a3");
	wait_metric(fx, rounds_metric, "crm6", "ok", 4);
	run_for(fx, 300);
	assert_int_equal(in.f.rounds, 4);       /* then the 10 s interval */
	assert_string_equal(get_str(fx, "bt:cursor:crm6"), "a4");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* A connector that returns 0 without completing, or completes twice,
 * gets logged errors and no crash. */
static void
test_misuse(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .ids = { "x1" }, .no_complete = true },
		{ .ids = { "e1" }, .next = "c1", .twice = true },
	};
	struct inst in;

	inst_load(fx, &in, "crm7", NULL, specs, 2);
	inst_start(fx, &in, "node-a");
	wait_metric(fx, rounds_metric, "crm7", "ok", 1);
	assert_true(rounds_metric("crm7", "retry") == 1);
	assert_int_equal(xlen(fx), 1);
	assert_string_equal(get_str(fx, "bt:cursor:crm7"), "c1");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* Two pollers of one connector on one Redis: only one polls; when it
 * dies without releasing the lease, the other takes over after the TTL. */
static void
test_two_pollers_takeover(void **state)
{
	struct fixture *fx = *state;
	struct inst a, b, *holder, *other;
	const char *holder_name;
	int before;
	int64_t died;

	setenv("BATON_TEST_LEASE_MS", "300", 1);
	inst_load(fx, &a, "crm8", "poll_interval = 50ms\n", NULL, 0);
	inst_load(fx, &b, "crm8", "poll_interval = 50ms\n", NULL, 0);
	inst_start(fx, &a, "node-a");
	inst_start(fx, &b, "node-b");
	run_for(fx, 600);
	assert_true((a.f.rounds > 0) != (b.f.rounds > 0));
	holder = a.f.rounds > 0 ? &a : &b;
	other = holder == &a ? &b : &a;
	holder_name = holder == &a ? "node-a" : "node-b";
	assert_true(holder->f.rounds >= 5);
	assert_string_equal(get_str(fx, "bt:lease:poll:crm8"), holder_name);

	/* The holder dies: freed without stop, the lease left to lapse. */
	poller_free(holder->p);
	holder->p = NULL;
	died = mono_ms();
	assert_string_equal(get_str(fx, "bt:lease:poll:crm8"), holder_name);
	before = other->f.rounds;
	assert_int_equal(before, 0);
	assert_true(run_until(fx->base, &other->f.rounds, 1, 2000));
	/* within a TTL and a third (and not before the TTL ran out) */
	assert_true(mono_ms() - died < 300 + 100 + 150);
	assert_string_equal(get_str(fx, "bt:lease:poll:crm8"),
	    holder == &a ? "node-b" : "node-a");
	inst_stop(fx, other);
	inst_free(&a);
	inst_free(&b);
	setenv("BATON_TEST_LEASE_MS", "3000", 1);
}

/* The lease taken away during a round: its commit writes nothing, the
 * round counts as lost, and no more rounds start. */
static void
test_lost_lease_fences_commit(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .pending = true, .next = "stolen" },
		{ .pending = true, .next = "deleted" },
	};
	struct inst in;

	inst_load(fx, &in, "crm9", NULL, specs, 2);
	inst_start(fx, &in, "node-a");
	assert_true(run_until(fx->base, &in.f.rounds, 1, 3000));
	redis_do(fx, "SET %s %s", "bt:lease:poll:crm9", "node-z");
	fake_complete_pending(&in.f);
	wait_metric(fx, rounds_metric, "crm9", "lost", 1);
	assert_int_equal(xlen(fx), 0);
	assert_string_equal(get_str(fx, "bt:cursor:crm9"), "(nil)");
	assert_string_equal(get_str(fx, "bt:seen:crm9:p1"), "(nil)");
	assert_true(held_metric("crm9") == 0);
	run_for(fx, 300);
	assert_int_equal(in.f.rounds, 1);

	/* Given back: it is taken again (SET NX at the next TTL/3) and
	 * polled; then the key deleted under a pending round: nothing
	 * written either. */
	redis_do(fx, "DEL %s%s", "bt:lease:poll:crm9", "");
	assert_true(run_until(fx->base, &in.f.rounds, 2, 3000));
	assert_string_equal(in.f.cursors[1], "-");
	redis_do(fx, "DEL %s%s", "bt:lease:poll:crm9", "");
	fake_complete_pending(&in.f);
	wait_metric(fx, rounds_metric, "crm9", "lost", 2);
	assert_int_equal(xlen(fx), 0);
	assert_string_equal(get_str(fx, "bt:cursor:crm9"), "(nil)");
	inst_stop(fx, &in);
	inst_free(&in);
}

/* poller_stop with a round in flight: done waits for the round, which
 * the connector's stop() completes with RETRY; the lease is released. */
static void
test_stop_with_round_in_flight(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .pending = true, .next = "never" },
	};
	struct inst in;

	inst_load(fx, &in, "crm10", NULL, specs, 1);
	inst_start(fx, &in, "node-a");
	assert_true(run_until(fx->base, &in.f.rounds, 1, 3000));
	poller_stop(in.p, on_done, &in);
	run_for(fx, 200);
	assert_int_equal(in.done, 0);
	assert_string_equal(get_str(fx, "bt:lease:poll:crm10"), "node-a");
	connector_instance_stop(in.ci);
	assert_int_equal(in.f.stops, 1);
	assert_true(run_until(fx->base, &in.done, 1, 3000));
	assert_int_equal(in.f.rounds, 1);
	assert_int_equal(xlen(fx), 0);
	assert_string_equal(get_str(fx, "bt:cursor:crm10"), "(nil)");
	assert_string_equal(get_str(fx, "bt:lease:poll:crm10"), "(nil)");
	assert_true(rounds_metric("crm10", "retry") == 1);
	inst_free(&in);
}

/* Freed with a round the connector still owes: the late completion
 * (here from the instance's stop) only frees the call. */
static void
test_free_with_round_pending(void **state)
{
	struct fixture *fx = *state;
	static const struct round_spec specs[] = {
		{ .pending = true, .next = "never" },
	};
	struct inst in;

	inst_load(fx, &in, "crm11", NULL, specs, 1);
	inst_start(fx, &in, "node-a");
	assert_true(run_until(fx->base, &in.f.rounds, 1, 3000));
	poller_free(in.p);
	in.p = NULL;
	connector_instance_stop(in.ci);
	assert_null(in.f.pending);
	assert_int_equal(xlen(fx), 0);
	inst_free(&in);
}

/* A poller that never got the lease stops at once; Redis down: unhealthy
 * with a sentence naming the connector. */
static void
test_stop_idle_and_health(void **state)
{
	struct fixture *fx = *state;
	struct inst in;
	const char *why = NULL;

	redis_do(fx, "SET %s %s", "bt:lease:poll:crm12", "node-z");
	inst_load(fx, &in, "crm12", NULL, NULL, 0);
	inst_start(fx, &in, "node-a");
	run_for(fx, 300);
	assert_int_equal(in.f.rounds, 0);
	assert_true(poller_healthy(in.p, &why));
	assert_null(why);
	inst_stop(fx, &in);
	assert_string_equal(get_str(fx, "bt:lease:poll:crm12"), "node-z");
	test_redis_stop(&fx->srv, SIGKILL);
	run_for(fx, 100);
	assert_false(poller_healthy(in.p, &why));
	assert_string_equal(why, "the poller of connector crm12 has no Redis "
	    "connection");
	inst_free(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_rounds_commit_events_and_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_invalid,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_failure_is_retry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_completion, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_again_and_rate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_pollers_takeover,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_lease_fences_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_round_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_round_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_idle_and_health,
		    setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	metrics_free_all();
	return rc;
}
