/*
 * test_stream.c - daemon/stream.c against a real redis-server: a batch is
 * written with its exact flat fields, a redelivery is counted as
 * duplicates and not written twice, MAXLEN ~ trims, the dedupe mark has
 * its TTL, the EVAL fallback after SCRIPT FLUSH, an append while Redis
 * is down, and the group commit of appends made in one loop iteration.
 *
 * Each test starts its own redis-server on a unix socket in a fresh
 * directory (found on PATH or in $REDIS_SERVER); nothing is mocked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/event.h>
#include <baton/log.h>

#include "metrics.h"
#include "redis.h"
#include "stream.h"

#include "loop_wait.h"
#include "redis_server.h"

/* ---- a real redis-server ------------------------------------------- */

struct fixture {
	struct test_redis srv;
	struct event_base *base;
	struct redis *r;
	int ups, downs;
};


/* A command whose reply is an integer. */
static long long
sync_int(struct fixture *f, const char *fmt, const char *arg)
{
	redisReply *reply = test_redis_cmd(&f->srv, fmt, arg);
	long long v;

	assert_non_null(reply);
	if (reply->type != REDIS_REPLY_INTEGER)
		fail_msg("%s: %s", fmt, reply->str ? reply->str : "not int");
	v = reply->integer;
	freeReplyObject(reply);
	return v;
}

static void
state_cb(bool up, void *arg)
{
	struct fixture *f = arg;

	if (up)
		f->ups++;
	else
		f->downs++;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct redis_opts o;
	char url[256], err[256];

	assert_non_null(f);
	snprintf(f->srv.dir, sizeof(f->srv.dir), "/tmp/baton-stream-XXXXXX");
	assert_non_null(mkdtemp(f->srv.dir));
	snprintf(f->srv.sock, sizeof(f->srv.sock), "%s/redis.sock", f->srv.dir);
	test_redis_start(&f->srv);
	f->base = event_base_new();
	assert_non_null(f->base);
	snprintf(url, sizeof(url), "unix://%s", f->srv.sock);
	assert_int_equal(redis_opts_parse_url(url, &o, err, sizeof(err)), 0);
	o.connect_timeout_ms = 1000;
	o.command_timeout_ms = 2000;
	o.reconnect_max_ms = 200;
	f->r = redis_new(f->base, &o, "t-stream", state_cb, f);
	redis_opts_clear(&o);
	assert_non_null(f->r);
	assert_true(run_until(f->base, &f->ups, 1, 3000));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	redis_free(f->r);
	test_redis_stop(&f->srv, SIGTERM);
	event_base_free(f->base);
	unlink(f->srv.sock);
	rmdir(f->srv.dir);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

struct outcome {
	int calls;
	int rc;
	size_t written, duplicates;
};

static void
append_cb(int rc, size_t written, size_t duplicates, void *arg)
{
	struct outcome *out = arg;

	out->calls++;
	out->rc = rc;
	out->written = written;
	out->duplicates = duplicates;
}

static struct baton_event *
mkevent(const char *source, const char *id, const char *email,
    int64_t at_ms)
{
	struct baton_event *ev;

	ev = baton_event_new(EVENT_LEAD_ACTIVITY, email, id, at_ms,
	    json_pack("{s:s, s:s}", "form", "demo-request", "activity",
	    "form_submit"));
	assert_non_null(ev);
	assert_int_equal(baton_event_set_source(ev, source), 0);
	return ev;
}

static const struct stream_target target = {
	.prefix = "bt", .stream = "events", .maxlen = 1000,
	.dedupe_ttl_ms = 60000,
};

/* Appends and waits for the callback; returns the outcome. */
static struct outcome
append(struct fixture *f, const struct stream_target *t,
    struct baton_event *const *evs, size_t n)
{
	struct outcome out = { 0, 99, 0, 0 };

	assert_int_equal(stream_append(f->r, t, evs, n, append_cb, &out), 0);
	assert_true(run_until(f->base, &out.calls, 1, 3000));
	assert_int_equal(out.calls, 1);
	return out;
}

static long long
cmdstat_calls(struct fixture *f, const char *cmd)
{
	redisReply *reply = test_redis_cmd(&f->srv, "INFO commandstats");
	char needle[64];
	const char *p;
	long long calls = 0;

	assert_non_null(reply);
	snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
	if ((p = strstr(reply->str, needle)) != NULL)
		calls = strtoll(p + strlen(needle), NULL, 10);
	freeReplyObject(reply);
	return calls;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_keys(void **state)
{
	char *k;

	(void)state;
	k = stream_key("baton", "events");
	assert_string_equal(k, "baton:events");
	free(k);
	k = stream_dedupe_key("baton", "website", "ev:42");
	assert_string_equal(k, "baton:seen:website:ev:42");
	free(k);
}

static void
test_append_fields(void **state)
{
	struct fixture *f = *state;
	struct baton_event *evs[2];
	struct outcome out;
	redisReply *reply, *e;

	evs[0] = mkevent("website", "e1", "ann@example.com", 1700000000123);
	evs[1] = mkevent("website", "e2", "bob@example.com", 1700000000456);
	out = append(f, &target, evs, 2);
	assert_int_equal(out.rc, 0);
	assert_int_equal(out.written, 2);
	assert_int_equal(out.duplicates, 0);

	reply = test_redis_cmd(&f->srv, "XRANGE bt:events - +");
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
	assert_int_equal(reply->elements, 2);
	e = reply->element[0]->element[1];
	{
		static const char *want[] = {
			"v", "1", "type", "lead.activity", "lead",
			"ann@example.com", "source", "website", "id", "e1",
			"at", "1700000000123", "data",
			("{\"activity\":\"form_submit\",\"form\":"
			"\"demo-request\"}"),
			"seq", "1",
		};

		assert_int_equal(e->elements, 16);
		for (size_t i = 0; i < 16; i++)
			assert_string_equal(e->element[i]->str, want[i]);
	}
	e = reply->element[1]->element[1];
	assert_string_equal(e->element[5]->str, "bob@example.com");
	assert_string_equal(e->element[15]->str, "1");  /* bob's first */
	assert_string_equal(e->element[9]->str, "e2");
	assert_string_equal(e->element[11]->str, "1700000000456");

	/* Each event has its mark. */
	{
		redisReply *mark = test_redis_cmd(&f->srv, "EXISTS bt:seen:website:e1 "
		    "bt:seen:website:e2");

		assert_non_null(mark);
		assert_int_equal(mark->type, REDIS_REPLY_INTEGER);
		assert_int_equal(mark->integer, 2);
		freeReplyObject(mark);
	}
	freeReplyObject(reply);
	baton_event_free(evs[0]);
	baton_event_free(evs[1]);
}

static void
test_redelivery(void **state)
{
	struct fixture *f = *state;
	struct baton_event *evs[3];
	struct outcome out;

	evs[0] = mkevent("website", "e1", "ann@example.com", 1);
	evs[1] = mkevent("website", "e2", "ann@example.com", 2);
	out = append(f, &target, evs, 2);
	assert_int_equal(out.written, 2);

	/* The same two again: acknowledged, not written. */
	out = append(f, &target, evs, 2);
	assert_int_equal(out.rc, 0);
	assert_int_equal(out.written, 0);
	assert_int_equal(out.duplicates, 2);
	assert_int_equal(sync_int(f, "XLEN %s", "bt:events"), 2);

	/* One old, one new; the same id from another source is new. */
	evs[2] = mkevent("hubspot", "e1", "ann@example.com", 3);
	out = append(f, &target, (struct baton_event *[]){ evs[1], evs[2] },
	    2);
	assert_int_equal(out.written, 1);
	assert_int_equal(out.duplicates, 1);
	assert_int_equal(sync_int(f, "XLEN %s", "bt:events"), 3);

	/* The same event twice in one batch is written once. */
	baton_event_free(evs[0]);
	evs[0] = mkevent("website", "e9", "ann@example.com", 4);
	out = append(f, &target, (struct baton_event *[]){ evs[0], evs[0] },
	    2);
	assert_int_equal(out.written, 1);
	assert_int_equal(out.duplicates, 1);
	assert_int_equal(sync_int(f, "XLEN %s", "bt:events"), 4);
	for (int i = 0; i < 3; i++)
		baton_event_free(evs[i]);
}

static void
test_maxlen(void **state)
{
	struct fixture *f = *state;
	struct stream_target t = target;
	struct baton_event *evs[50];
	char id[32];
	long long len;

	t.maxlen = 10;
	for (int round = 0; round < 6; round++) {
		struct outcome out;

		for (int i = 0; i < 50; i++) {
			snprintf(id, sizeof(id), "m%d", round * 50 + i);
			evs[i] = mkevent("website", id, "ann@example.com", i);
		}
		out = append(f, &t, evs, 50);
		assert_int_equal(out.written, 50);
		for (int i = 0; i < 50; i++)
			baton_event_free(evs[i]);
	}
	/* 300 written; ~ trims whole nodes (100 entries by default). */
	len = sync_int(f, "XLEN %s", "bt:events");
	if (len < 10 || len > 10 + 100)
		fail_msg("XLEN %lld after 300 appends with MAXLEN ~ 10", len);
	/* Trimming keeps the marks: a redelivery is still a duplicate. */
	evs[0] = mkevent("website", "m0", "ann@example.com", 0);
	assert_int_equal(append(f, &t, evs, 1).duplicates, 1);
	baton_event_free(evs[0]);
}

static void
test_mark_ttl(void **state)
{
	struct fixture *f = *state;
	struct stream_target t = target;
	struct baton_event *ev = mkevent("website", "ttl1", "a@b.co", 5);
	long long pttl;

	t.dedupe_ttl_ms = 90000;
	assert_int_equal(append(f, &t, &ev, 1).written, 1);
	pttl = sync_int(f, "PTTL %s", "bt:seen:website:ttl1");
	if (pttl <= 85000 || pttl > 90000)
		fail_msg("PTTL %lld, expected just under 90000", pttl);
	baton_event_free(ev);
}

static void
test_noscript_fallback(void **state)
{
	struct fixture *f = *state;
	struct baton_event *ev;
	redisReply *reply;

	/* A fresh server does not know the script: EVALSHA, then EVAL. */
	ev = mkevent("website", "s1", "a@b.co", 1);
	assert_int_equal(append(f, &target, &ev, 1).written, 1);
	baton_event_free(ev);
	assert_int_equal(cmdstat_calls(f, "eval"), 1);

	/* Now cached: EVALSHA alone. */
	ev = mkevent("website", "s2", "a@b.co", 2);
	assert_int_equal(append(f, &target, &ev, 1).written, 1);
	baton_event_free(ev);
	assert_int_equal(cmdstat_calls(f, "eval"), 1);
	assert_int_equal(cmdstat_calls(f, "evalsha"), 2);

	reply = test_redis_cmd(&f->srv, "SCRIPT FLUSH");
	assert_non_null(reply);
	freeReplyObject(reply);
	ev = mkevent("website", "s3", "a@b.co", 3);
	assert_int_equal(append(f, &target, &ev, 1).written, 1);
	baton_event_free(ev);
	assert_int_equal(cmdstat_calls(f, "eval"), 2);
	assert_int_equal(sync_int(f, "XLEN %s", "bt:events"), 3);
}

static void
test_script_error(void **state)
{
	struct fixture *f = *state;
	struct baton_event *ev = mkevent("website", "w1", "a@b.co", 1);
	struct outcome out;
	redisReply *reply;

	/* The stream key holds a string: XADD fails, no mark is left. */
	reply = test_redis_cmd(&f->srv, "SET bt:events notastream");
	assert_non_null(reply);
	freeReplyObject(reply);
	out = append(f, &target, &ev, 1);
	assert_int_equal(out.rc, -1);
	assert_int_equal(sync_int(f, "EXISTS %s", "bt:seen:website:w1"), 0);
	assert_true(redis_is_up(f->r));
	baton_event_free(ev);
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	struct baton_event *ev = mkevent("website", "x1", "a@b.co", 1);
	struct outcome out = { 0 };

	/* An event without a source is refused before anything is sent. */
	free(ev->source);
	ev->source = NULL;
	assert_int_equal(stream_append(f->r, &target, &ev, 1, append_cb,
	    &out), -1);
	assert_int_equal(stream_append(f->r, &target, &ev, 0, append_cb,
	    &out), -1);
	assert_int_equal(out.calls, 0);
	baton_event_free(ev);
}

static void
test_redis_down(void **state)
{
	struct fixture *f = *state;
	struct baton_event *ev = mkevent("website", "d1", "a@b.co", 1);
	struct outcome inflight = { 0 }, out = { 0 };
	redisReply *reply;

	/* In flight when the server goes: the callback gets -1. */
	reply = test_redis_cmd(&f->srv, "CLIENT PAUSE 3000 ALL");
	assert_non_null(reply);
	freeReplyObject(reply);
	assert_int_equal(stream_append(f->r, &target, &ev, 1, append_cb,
	    &inflight), 0);
	test_redis_stop(&f->srv, SIGTERM);
	assert_true(run_until(f->base, &inflight.calls, 1, 3000));
	assert_int_equal(inflight.rc, -1);
	assert_true(run_until(f->base, &f->downs, 1, 3000));

	/* Down: refused at once, no callback. */
	assert_int_equal(stream_append(f->r, &target, &ev, 1, append_cb,
	    &out), -1);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(out.calls, 0);
	assert_int_equal(inflight.calls, 1);
	baton_event_free(ev);
}

/* Each lead's events are numbered 1, 2, ... in the order written; a
 * duplicate takes no number; the lead hash remembers the last one. */
static void
test_lead_sequence(void **state)
{
	struct fixture *f = *state;
	struct baton_event *evs[3] = { mkevent("website", "q1", "a@b.co", 1),
	    mkevent("website", "q2", "z@b.co", 2),
	    mkevent("website", "q3", "a@b.co", 3) };
	struct baton_event *dup[1] = { mkevent("website", "q1", "a@b.co", 1) };
	struct outcome out;
	redisReply *reply;

	out = append(f, &target, evs, 3);
	assert_int_equal(out.written, 3);
	out = append(f, &target, dup, 1);
	assert_int_equal(out.duplicates, 1);
	reply = test_redis_cmd(&f->srv, "XRANGE bt:events - +");
	assert_non_null(reply);
	assert_int_equal(reply->elements, 3);
	assert_string_equal(reply->element[0]->element[1]->element[15]->str,
	    "1");
	assert_string_equal(reply->element[1]->element[1]->element[15]->str,
	    "1");
	assert_string_equal(reply->element[2]->element[1]->element[15]->str,
	    "2");
	freeReplyObject(reply);
	reply = test_redis_cmd(&f->srv, "HGET bt:lead:a@b.co seq_in");
	assert_non_null(reply);
	assert_string_equal(reply->str, "2");
	freeReplyObject(reply);
	for (int i = 0; i < 3; i++)
		baton_event_free(evs[i]);
	baton_event_free(dup[0]);
}

/* A lead hash whose seq_in is not a number fails the append whole: no
 * mark is left behind, so the sender's retry is not lost once the hash
 * is mended. */
static void
test_corrupt_sequence(void **state)
{
	struct fixture *f = *state;
	struct baton_event *ev = mkevent("website", "c1", "bad@b.co", 1);
	struct outcome out = { 0, 99, 0, 0 };
	redisReply *reply;

	reply = test_redis_cmd(&f->srv, "HSET bt:lead:bad@b.co seq_in x");
	assert_non_null(reply);
	freeReplyObject(reply);
	assert_int_equal(stream_append(f->r, &target, &ev, 1, append_cb,
	    &out), 0);
	assert_true(run_until(f->base, &out.calls, 1, 3000));
	assert_int_equal(out.rc, -1);
	assert_int_equal(sync_int(f, "EXISTS %s", "bt:seen:website:c1"), 0);
	assert_int_equal(sync_int(f, "XLEN %s", "bt:events"), 0);
	/* Mended, the retry is written with number 1. */
	reply = test_redis_cmd(&f->srv, "HDEL bt:lead:bad@b.co seq_in");
	assert_non_null(reply);
	freeReplyObject(reply);
	out = append(f, &target, &ev, 1);
	assert_int_equal(out.written, 1);
	baton_event_free(ev);
}

/* Appends queued in one loop iteration go out as one script call, each
 * with its own counts; a second batcher append of a known event is a
 * duplicate of the first even inside the same call. */
static void
test_batcher_groups(void **state)
{
	struct fixture *f = *state;
	struct stream_batcher *b = stream_batcher_new(f->base, 0);
	struct baton_event *a[2] = { mkevent("website", "g1", "a@b.co", 1),
	    mkevent("website", "g2", "b@b.co", 2) };
	struct baton_event *c[1] = { mkevent("website", "g3", "c@b.co", 3) };
	struct baton_event *again[1] = { mkevent("website", "g1", "a@b.co",
	    1) };
	struct outcome oa = { 0 }, oc = { 0 }, og = { 0 };
	long long before;
	int calls = 0;

	assert_non_null(b);
	/* Load the script so that the count below is one EVALSHA. */
	(void)append(f, &target, c, 1);
	before = cmdstat_calls(f, "evalsha");
	assert_int_equal(stream_batcher_append(b, f->r, &target, a, 2,
	    append_cb, &oa), 0);
	assert_int_equal(stream_batcher_append(b, f->r, &target, c, 1,
	    append_cb, &oc), 0);
	assert_int_equal(stream_batcher_append(b, f->r, &target, again, 1,
	    append_cb, &og), 0);
	assert_true(run_until(f->base, &og.calls, 1, 3000));
	calls = oa.calls + oc.calls + og.calls;
	assert_int_equal(calls, 3);
	assert_int_equal(cmdstat_calls(f, "evalsha") - before, 1);
	assert_int_equal(oa.rc, 0);
	assert_int_equal(oa.written, 2);
	assert_int_equal(oa.duplicates, 0);
	assert_int_equal(oc.rc, 0);
	assert_int_equal(oc.written, 0);        /* appended above already */
	assert_int_equal(oc.duplicates, 1);
	assert_int_equal(og.rc, 0);
	assert_int_equal(og.written, 0);
	assert_int_equal(og.duplicates, 1);
	stream_batcher_free(b);
	baton_event_free(a[0]);
	baton_event_free(a[1]);
	baton_event_free(c[0]);
	baton_event_free(again[0]);
}

/* A batch past max_events sends what was queued first; freeing the
 * batcher fails what is still queued, each callback once. */
static void
test_batcher_limits(void **state)
{
	struct fixture *f = *state;
	struct stream_batcher *b = stream_batcher_new(f->base, 2);
	struct baton_event *a[2] = { mkevent("website", "l1", "a@b.co", 1),
	    mkevent("website", "l2", "b@b.co", 2) };
	struct baton_event *c[1] = { mkevent("website", "l3", "c@b.co", 3) };
	struct outcome oa = { 0 }, oc = { 0 };

	assert_non_null(b);
	assert_int_equal(stream_batcher_append(b, f->r, &target, a, 2,
	    append_cb, &oa), 0);
	/* Over the limit: a goes out now, c waits in the queue. */
	assert_int_equal(stream_batcher_append(b, f->r, &target, c, 1,
	    append_cb, &oc), 0);
	assert_true(run_until(f->base, &oa.calls, 1, 3000));
	assert_int_equal(oa.rc, 0);
	assert_int_equal(oa.written, 2);
	/* c was flushed by the loop as well; queue one more and free. */
	assert_true(run_until(f->base, &oc.calls, 1, 3000));
	assert_int_equal(oc.rc, 0);
	oc = (struct outcome){ 0 };
	c[0]->id[1] = '4';
	assert_int_equal(stream_batcher_append(b, f->r, &target, c, 1,
	    append_cb, &oc), 0);
	stream_batcher_free(b);
	assert_int_equal(oc.calls, 1);
	assert_int_equal(oc.rc, -1);
	baton_event_free(a[0]);
	baton_event_free(a[1]);
	baton_event_free(c[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test_setup_teardown(test_append_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_redelivery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_maxlen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_ttl, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_noscript_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_script_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lead_sequence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_sequence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batcher_groups, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batcher_limits, setup,
		    teardown),
	};
	int rc;

	log_set_ident("test_stream");
	log_set_plain(1);
	log_set_level(LOG_LEVEL_ERR);
	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_free_all();
	return rc;
}
