/*
 * test_delivery.c - the delivery core against a real redis-server and a
 * scripted fake connector: acknowledgements and record ids, the DLQ,
 * retries with backoff and Retry-After, batching, malformed entries, the
 * replay stream, and claiming a dead consumer's entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <baton/connector.h>

#include "connectors.h"
#include "delivery.h"
#include "diag.h"
#include "ini.h"
#include "redis.h"
#include "redis_server.h"

void connectors_set_types_for_test(const struct connector *const *t);

/* ---- The fake connector ----------------------------------------------- */

#define MAX_CALLS 64

/* What the fake does with an event, by its id: "ok", "drop", "retry",
 * "retry_after" (300 ms), "retry_once" (retry, then ok); default ok. */
static const char *behaviour(const char *id);
static const char *script[16][2];

static struct {
	int calls;
	size_t sizes[MAX_CALLS];
	int64_t at_ms[MAX_CALLS];
	char ids[MAX_CALLS][8][32];
	unsigned attempts[MAX_CALLS][8];
	int async;                      /* complete from a timer */
} fk;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
behaviour(const char *id)
{
	for (size_t i = 0; i < 16 && script[i][0] != NULL; i++)
		if (strcmp(script[i][0], id) == 0)
			return script[i][1];
	return "ok";
}

static void
fake_finish(struct delivery_batch *b)
{
	for (size_t i = 0; i < delivery_count(b); i++) {
		const struct baton_event *ev = delivery_event(b, i);
		const char *how = behaviour(ev->id);

		if (strcmp(how, "drop") == 0)
			delivery_set_result(b, i, CONNECTOR_DROP, 0,
			    "REQUIRED_FIELD_MISSING: Required fields are "
			    "missing: [LastName] (%s)", ev->id);
		else if (strcmp(how, "retry") == 0)
			delivery_set_result(b, i, CONNECTOR_RETRY, 0, "boom");
		else if (strcmp(how, "retry_after") == 0 &&
		    delivery_attempts(b, i) == 0)
			delivery_set_result(b, i, CONNECTOR_RETRY, 300,
			    "429 slow down");
		else if (strcmp(how, "retry_once") == 0 &&
		    delivery_attempts(b, i) == 0)
			delivery_set_result(b, i, CONNECTOR_RETRY, 0, "503");
		else {
			char rid[48];

			snprintf(rid, sizeof(rid), "00Q-%s", ev->id);
			delivery_set_result(b, i, CONNECTOR_OK, 0, NULL);
			delivery_set_record_id(b, i, rid);
		}
	}
	delivery_complete(b);
}

static void
on_async(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fake_finish(arg);
}

static struct event_base *base;

static int
fake_deliver(struct connector_instance *ci, struct delivery_batch *b)
{
	int c = fk.calls;

	(void)ci;
	if (c < MAX_CALLS) {
		fk.sizes[c] = delivery_count(b);
		fk.at_ms[c] = now_ms();
		for (size_t i = 0; i < delivery_count(b) && i < 8; i++) {
			snprintf(fk.ids[c][i], sizeof(fk.ids[c][i]), "%s",
			    delivery_event(b, i)->id);
			fk.attempts[c][i] = delivery_attempts(b, i);
		}
	}
	fk.calls++;
	if (fk.async) {
		struct timeval tv = { 0, 5000 };

		event_base_once(base, -1, EV_TIMEOUT, on_async, b, &tv);
		return CONNECTOR_PENDING;
	}
	fake_finish(b);
	return 0;
}

static int
fake_init(struct connector_instance *ci)
{
	(void)ci;
	return 0;
}

static const struct conf_key fake_keys[] = { { 0 } };

static const struct connector fake = {
	.name = "fake",
	.roles = CONNECTOR_ROLE_SALES,
	.keys = fake_keys,
	.ctx_size = 8,
	.init = fake_init,
	.deliver = fake_deliver,
	.batch_max = 200,
};
static const struct connector *const fake_types[] = { &fake, NULL };

/* ---- Fixture ---------------------------------------------------------- */

static struct test_redis srv;
static struct ini_doc *doc;
static struct connector_instance *ci;
static struct delivery *dl;

static const char section[] =
    "[connector crm]\n"
    "type = fake\n"
    "role = sales\n"
    "batch_size = 3\n"
    "batch_linger = 20ms\n"
    "retry_base = 10ms\n"
    "retry_cap = 40ms\n"
    "retry_max = 3\n";

/* The section start() loads; a test may point it elsewhere. */
static const char *section_text = section;

static long long
int_reply(const char *fmt, const char *a, const char *b)
{
	redisReply *r = test_redis_cmd(&srv, fmt, a, b);
	long long v;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* Number of entries pending in group crm of key. */
static long long
pending(const char *key)
{
	redisReply *r = test_redis_cmd(&srv, "XPENDING %s crm", key);
	long long v;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	v = r->element[0]->integer;
	freeReplyObject(r);
	return v;
}

static void
add_entry(const char *key, const char *id, const char *data)
{
	redisReply *r = test_redis_cmd(&srv, "XADD %s * v 1 type handoff.mql "
	    "lead ada@example.com source rules id %s at 1700000000000 "
	    "data %s", key, id, data);

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	freeReplyObject(r);
}

/* Runs the loop until cond() or ms pass. */
static int
loop_until(int (*cond)(void), int ms)
{
	int64_t end = now_ms() + ms;

	while (!cond() && now_ms() < end) {
		struct timeval tv = { 0, 5000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return cond();
}

static int
is_healthy(void)
{
	const char *why;

	return delivery_healthy(dl, &why);
}

static long long want_calls;

static int
calls_done(void)
{
	return fk.calls >= want_calls && pending("baton:handoffs") == 0 &&
	    pending("baton:replay:crm") == 0;
}

static void
start(void)
{
	struct redis_opts o;
	struct diag d = { 0 };
	char url[200], err[200];

	doc = ini_parse_buffer("t.conf", section_text, strlen(section_text),
	    &d);
	assert_non_null(doc);
	doc->sections->file_mode = S_IFREG | 0600;
	ci = connector_instance_new(doc->sections, base, &d);
	if (ci == NULL)
		diag_print(&d, stderr);
	assert_non_null(ci);
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "unix://%s", srv.sock);
	assert_int_equal(redis_opts_parse_url(url, &o, err, sizeof(err)), 0);
	o.connect_timeout_ms = 2000;
	o.command_timeout_ms = 5000;
	o.reconnect_max_ms = 200;
	dl = delivery_new(base, &o, ci, "baton", 0, "test-1");
	redis_opts_clear(&o);
	assert_non_null(dl);
	assert_true(loop_until(is_healthy, 5000));
}

static int
setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	memset(script, 0, sizeof(script));
	want_calls = 0;
	freeReplyObject(test_redis_cmd(&srv, "FLUSHALL"));
	section_text = section;
	base = event_base_new();
	connectors_set_types_for_test(fake_types);
	return 0;
}

static void
stopped(void *arg)
{
	*(int *)arg = 1;
}

static int stop_flag;

static int
is_stopped(void)
{
	return stop_flag;
}

static int
teardown(void **state)
{
	(void)state;
	if (dl != NULL) {
		stop_flag = 0;
		connector_instance_stop(ci);
		delivery_stop(dl, stopped, &stop_flag);
		assert_true(loop_until(is_stopped, 5000));
		delivery_free(dl);
	}
	dl = NULL;
	connector_instance_free(ci);
	ci = NULL;
	ini_free(doc);
	doc = NULL;
	event_base_free(base);
	connectors_set_types_for_test(NULL);
	unsetenv("BATON_TEST_DELIVERY_IDLE_MS");
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/baton-delivery-%ld",
	    (long)getpid());
	mkdir(srv.dir, 0700);
	snprintf(srv.sock, sizeof(srv.sock), "%s/redis.sock", srv.dir);
	test_redis_start(&srv);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[200];

	(void)state;
	test_redis_stop(&srv, SIGTERM);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", srv.dir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

/* A field of the single entry of a stream. */
static char *
only_entry_field(const char *key, const char *field)
{
	redisReply *r = test_redis_cmd(&srv, "XRANGE %s - +", key);
	char *v = NULL;

	assert_non_null(r);
	assert_int_equal(r->elements, 1);
	for (size_t i = 0; i + 1 < r->element[0]->element[1]->elements;
	    i += 2)
		if (strcmp(r->element[0]->element[1]->element[i]->str,
		    field) == 0)
			v = strdup(r->element[0]->element[1]->element[i + 1]->
			    str);
	freeReplyObject(r);
	assert_non_null(v);
	return v;
}

static void
assert_field(const char *key, const char *field, const char *want)
{
	char *v = only_entry_field(key, field);

	assert_string_equal(v, want);
	free(v);
}

/* ---- Tests ------------------------------------------------------------ */

static void
test_ok_acks_and_records_id(void **state)
{
	redisReply *r;

	(void)state;
	freeReplyObject(test_redis_cmd(&srv, "HSET baton:lead:ada@example.com "
	    "ver 3 stage mql"));
	start();
	add_entry("baton:handoffs", "h1", "{\"score\":70}");
	want_calls = 1;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 1);
	assert_int_equal(fk.sizes[0], 1);
	assert_string_equal(fk.ids[0][0], "h1");
	assert_int_equal(fk.attempts[0][0], 0);
	r = test_redis_cmd(&srv, "HMGET baton:lead:ada@example.com ids.crm "
	    "ver");
	assert_string_equal(r->element[0]->str, "00Q-h1");
	assert_string_equal(r->element[1]->str, "4");
	freeReplyObject(r);
	assert_int_equal(int_reply("XLEN %s%s", "baton:dlq", ""), 0);
}

static void
test_drop_goes_to_dlq(void **state)
{
	char *entry;

	(void)state;
	script[0][0] = "h2";
	script[0][1] = "drop";
	fk.async = 1;
	start();
	add_entry("baton:handoffs", "h2", "{\"score\":61}");
	want_calls = 1;
	assert_true(loop_until(calls_done, 5000));
	assert_field("baton:dlq", "connector", "crm");
	assert_field("baton:dlq", "stream", "handoffs");
	assert_field("baton:dlq", "type", "handoff.mql");
	assert_field("baton:dlq", "lead", "ada@example.com");
	assert_field("baton:dlq", "source", "rules");
	assert_field("baton:dlq", "id", "h2");
	assert_field("baton:dlq", "at", "1700000000000");
	assert_field("baton:dlq", "data", "{\"score\":61}");
	assert_field("baton:dlq", "attempts", "1");
	assert_field("baton:dlq", "error", "REQUIRED_FIELD_MISSING: Required "
	    "fields are missing: [LastName] (h2)");
	entry = only_entry_field("baton:handoffs", "id");
	free(entry);
	/* Nothing was recorded on a lead that does not exist. */
	assert_int_equal(int_reply("EXISTS %s%s",
	    "baton:lead:ada@example.com", ""), 0);
}

static void
test_retry_then_ok(void **state)
{
	(void)state;
	script[0][0] = "h3";
	script[0][1] = "retry_once";
	start();
	add_entry("baton:handoffs", "h3", "{}");
	want_calls = 2;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 2);
	assert_int_equal(fk.attempts[0][0], 0);
	assert_int_equal(fk.attempts[1][0], 1);
	assert_int_equal(int_reply("XLEN %s%s", "baton:dlq", ""), 0);
}

static void
test_retries_exhausted(void **state)
{
	(void)state;
	script[0][0] = "h4";
	script[0][1] = "retry";
	start();
	add_entry("baton:handoffs", "h4", "{}");
	want_calls = 3;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 3);
	assert_field("baton:dlq", "error", "gave up after 3 attempts; last "
	    "error: boom");
	assert_field("baton:dlq", "attempts", "3");
}

static void
test_retry_after_pauses(void **state)
{
	(void)state;
	script[0][0] = "h5";
	script[0][1] = "retry_after";
	start();
	add_entry("baton:handoffs", "h5", "{}");
	want_calls = 2;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 2);
	/* retry_base is 10 ms; the vendor asked for 300. */
	assert_true(fk.at_ms[1] - fk.at_ms[0] >= 295);
}

static int
first_call_done(void)
{
	return fk.calls >= 1;
}

/* A lead's later entry waits for its earlier one in backoff: entries of
 * one lead reach the vendor in stream order, retries included. */
static void
test_lead_order_kept_across_retries(void **state)
{
	int o1_ok = -1, o2_first = -1;

	(void)state;
	script[0][0] = "o1";
	script[0][1] = "retry_once";
	/* A backoff of up to 400 ms (full jitter), mostly well past the
	 * linger, so o2 would go alone if nothing held it back. */
	section_text = "[connector crm]\ntype = fake\nrole = sales\n"
	    "batch_size = 3\nbatch_linger = 5ms\nretry_base = 400ms\n"
	    "retry_cap = 400ms\nretry_max = 3\n";
	start();
	add_entry("baton:handoffs", "o1", "{}");
	assert_true(loop_until(first_call_done, 5000));
	add_entry("baton:handoffs", "o2", "{}");
	want_calls = 2;
	assert_true(loop_until(calls_done, 5000));
	for (int c = 0; c < fk.calls && c < MAX_CALLS; c++)
		for (size_t i = 0; i < fk.sizes[c] && i < 8; i++) {
			if (strcmp(fk.ids[c][i], "o1") == 0 &&
			    fk.attempts[c][i] == 1)
				o1_ok = c;
			if (strcmp(fk.ids[c][i], "o2") == 0 && o2_first < 0)
				o2_first = c;
		}
	assert_true(o1_ok >= 1);
	assert_true(o2_first >= o1_ok);
}

static void
test_batches_and_linger(void **state)
{
	char id[8];

	(void)state;
	start();
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		add_entry("baton:handoffs", id, "{}");
	}
	want_calls = 3;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 3);
	assert_int_equal(fk.sizes[0] + fk.sizes[1] + fk.sizes[2], 7);
	for (int c = 0; c < 3; c++)
		assert_true(fk.sizes[c] >= 1 && fk.sizes[c] <= 3);
	/* In stream order. */
	assert_string_equal(fk.ids[0][0], "b0");
}

static void
test_malformed_entry_to_dlq(void **state)
{
	(void)state;
	start();
	add_entry("baton:handoffs", "m1", "not json");
	want_calls = 0;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 0);
	assert_field("baton:dlq", "error", "malformed entry: field data is not "
	    "a JSON object: '[' or '{' expected near 'not'");
	assert_field("baton:dlq", "data", "not json");
}

static void
test_replay_stream(void **state)
{
	(void)state;
	start();
	add_entry("baton:replay:crm", "r1", "{}");
	want_calls = 1;
	assert_true(loop_until(calls_done, 5000));
	assert_string_equal(fk.ids[0][0], "r1");
	/* Delivered replays are removed from the replay stream. */
	assert_int_equal(int_reply("XLEN %s%s", "baton:replay:crm", ""), 0);
}

static void
test_claims_dead_consumer(void **state)
{
	redisReply *r;

	(void)state;
	setenv("BATON_TEST_DELIVERY_IDLE_MS", "300", 1);
	freeReplyObject(test_redis_cmd(&srv, "XGROUP CREATE baton:handoffs "
	    "crm $ MKSTREAM"));
	add_entry("baton:handoffs", "c1", "{}");
	r = test_redis_cmd(&srv, "XREADGROUP GROUP crm dead COUNT 10 STREAMS "
	    "baton:handoffs >");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	assert_int_equal(pending("baton:handoffs"), 1);
	start();
	want_calls = 1;
	assert_true(loop_until(calls_done, 5000));
	assert_string_equal(fk.ids[0][0], "c1");
}

/* An entry this consumer left pending (a process that died holding it)
 * counts a life each time it is taken over; at retry_max lives it goes
 * to the DLQ without another try, so an entry that crashes batond cannot
 * loop for ever. */
static void
test_lives_reach_the_dlq(void **state)
{
	redisReply *r;

	(void)state;
	freeReplyObject(test_redis_cmd(&srv, "XGROUP CREATE baton:handoffs "
	    "crm $ MKSTREAM"));
	add_entry("baton:handoffs", "k1", "{}");
	r = test_redis_cmd(&srv, "XREADGROUP GROUP crm test-1 COUNT 10 "
	    "STREAMS baton:handoffs >");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	/* Two earlier processes took it over and died with it too. */
	r = test_redis_cmd(&srv, "XRANGE baton:handoffs - +");
	freeReplyObject(test_redis_cmd(&srv, "HSET baton:lives:crm 1:%s 2",
	    r->element[0]->element[0]->str));
	freeReplyObject(r);
	start();
	want_calls = 0;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.calls, 0);
	assert_field("baton:dlq", "error", "held by 3 processes that ended "
	    "without acknowledging it (did delivering it crash batond?)");
	assert_field("baton:dlq", "id", "k1");
	assert_field("baton:dlq", "attempts", "3");
	assert_int_equal(int_reply("EXISTS %s%s", "baton:lives:crm", ""), 0);
}

/* Below retry_max the entry is delivered, with its earlier lives as
 * attempts, and its count goes with the acknowledgement. */
static void
test_lives_count_as_attempts(void **state)
{
	redisReply *r;

	(void)state;
	freeReplyObject(test_redis_cmd(&srv, "XGROUP CREATE baton:handoffs "
	    "crm $ MKSTREAM"));
	add_entry("baton:handoffs", "k2", "{}");
	freeReplyObject(test_redis_cmd(&srv, "XREADGROUP GROUP crm test-1 "
	    "COUNT 10 STREAMS baton:handoffs >"));
	start();
	want_calls = 1;
	assert_true(loop_until(calls_done, 5000));
	assert_string_equal(fk.ids[0][0], "k2");
	assert_int_equal(fk.attempts[0][0], 1);
	assert_int_equal(int_reply("EXISTS %s%s", "baton:lives:crm", ""), 0);
	/* A fresh entry counts no life at all. */
	add_entry("baton:handoffs", "k3", "{}");
	want_calls = 2;
	assert_true(loop_until(calls_done, 5000));
	assert_int_equal(fk.attempts[1][0], 0);
	r = test_redis_cmd(&srv, "HLEN baton:lives:crm");
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_acks_and_records_id,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_goes_to_dlq, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_then_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retries_exhausted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_pauses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batches_and_linger, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_lead_order_kept_across_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_entry_to_dlq,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_stream, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claims_dead_consumer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lives_reach_the_dlq,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lives_count_as_attempts,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
