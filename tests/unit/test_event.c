/*
 * test_event.c - the canonical event: ownership, lead keys (normalization
 * and every refusal), known types, validation messages per type, and the
 * sorted compact data JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/event.h>

static void
test_new_free(void **state)
{
	struct baton_event *ev;

	(void)state;
	ev = baton_event_new(EVENT_LEAD_UPSERTED, "ada@example.com", "1", 42,
	    json_pack("{s:s}", "first_name", "Ada"));
	assert_non_null(ev);
	assert_string_equal(ev->type, "lead.upserted");
	assert_string_equal(ev->lead, "ada@example.com");
	assert_string_equal(ev->id, "1");
	assert_null(ev->source);
	assert_int_equal(ev->at_ms, 42);
	assert_string_equal(json_string_value(json_object_get(ev->data,
	    "first_name")), "Ada");
	assert_int_equal(baton_event_set_source(ev, "website"), 0);
	assert_string_equal(ev->source, "website");
	assert_int_equal(baton_event_set_source(ev, "other"), 0);
	assert_string_equal(ev->source, "other");
	baton_event_free(ev);

	/* NULL data becomes an empty object */
	ev = baton_event_new(EVENT_LEAD_UPSERTED, "a@b.c", "x", 0, NULL);
	assert_non_null(ev);
	assert_true(json_is_object(ev->data));
	assert_int_equal(json_object_size(ev->data), 0);
	baton_event_free(ev);
	baton_event_free(NULL);
}

static void
expect_key(const char *in, const char *want)
{
	char out[EVENT_LEAD_MAX + 1], err[128] = "";

	if (baton_event_lead_key(in, out, sizeof(out), err, sizeof(err)) != 0)
		fail_msg("\"%s\": %s", in, err);
	assert_string_equal(out, want);
}

static void
expect_bad_key(const char *in, const char *why)
{
	char out[EVENT_LEAD_MAX + 1], err[128] = "";

	assert_int_equal(baton_event_lead_key(in, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_string_equal(err, why);
}

static void
test_lead_key(void **state)
{
	char long_local[300], out[8], err[64];

	(void)state;
	expect_key("  Ada@Example.COM ", "ada@example.com");
	expect_key("\tBOB.SMITH+tag@Sub.Example.org\r\n",
	    "bob.smith+tag@sub.example.org");
	expect_key("x@y.z", "x@y.z");
	/* UTF-8 is kept as is, only ASCII is lower-cased */
	expect_key("J\xc3\x96rg@Example.de", "j\xc3\x96rg@example.de");

	expect_bad_key("", "empty");
	expect_bad_key("   \t ", "empty");
	expect_bad_key(NULL, "empty");
	expect_bad_key("ada.example.com", "no '@'");
	expect_bad_key("a@b@example.com", "more than one '@'");
	expect_bad_key("@example.com", "nothing before '@'");
	expect_bad_key("ada@", "no domain after '@'");
	expect_bad_key("ada@localhost", "domain has no '.'");
	expect_bad_key("ada@.com", "domain has no '.'");
	expect_bad_key("ada@example.", "domain has no '.'");
	expect_bad_key("ada lovelace@example.com",
	    "contains white space or a control character");
	expect_bad_key("ada\x01@example.com",
	    "contains white space or a control character");
	expect_bad_key("ada\x7f@example.com",
	    "contains white space or a control character");

	/* 254 bytes is the longest key; 255 is refused */
	memset(long_local, 'a', sizeof(long_local));
	memcpy(long_local + 254 - 12, "@example.com", 13);
	assert_int_equal(strlen(long_local), 254);
	{
		char key[EVENT_LEAD_MAX + 1];

		assert_int_equal(baton_event_lead_key(long_local, key, sizeof(key),
		    err, sizeof(err)), 0);
		assert_int_equal(strlen(key), 254);
	}
	memset(long_local, 'a', sizeof(long_local));
	memcpy(long_local + 255 - 12, "@example.com", 13);
	expect_bad_key(long_local, "longer than 254 bytes");

	assert_int_equal(baton_event_lead_key("ada@example.com", out, sizeof(out),
	    err, sizeof(err)), -1);
	assert_string_equal(err, "output buffer too small");
}

static void
test_type_known(void **state)
{
	(void)state;
	assert_int_equal(baton_event_type_known("lead.upserted"), 1);
	assert_int_equal(baton_event_type_known("lead.activity"), 1);
	assert_int_equal(baton_event_type_known("lead.status"), 1);
	assert_int_equal(baton_event_type_known("deal.stage"), 1);
	assert_int_equal(baton_event_type_known("lead.scored"), 0);
	assert_int_equal(baton_event_type_known("Lead.Upserted"), 0);
	assert_int_equal(baton_event_type_known(""), 0);
	assert_int_equal(baton_event_type_known(NULL), 0);
}

/* Validates an event built from the arguments; returns the message or
 * "" when valid (a static buffer). */
static const char *
validate(const char *type, const char *lead, const char *id, int64_t at,
    const char *data_json)
{
	static char err[256];
	struct baton_event *ev;
	json_t *data = NULL;

	if (data_json != NULL) {
		data = json_loads(data_json, JSON_DECODE_ANY, NULL);
		assert_non_null(data);
	}
	ev = baton_event_new(type, lead, id, at, data);
	assert_non_null(ev);
	if (data_json == NULL) {
		json_decref(ev->data);
		ev->data = NULL;
	}
	err[0] = '\0';
	if (baton_event_validate(ev, err, sizeof(err)) == 0)
		assert_string_equal(err, "");
	else
		assert_string_not_equal(err, "");
	baton_event_free(ev);
	return err;
}

static void
test_validate_common(void **state)
{
	(void)state;
	assert_string_equal(validate("lead.upserted", "a@b.co", "1", 0, "{}"),
	    "");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1",
	    INT64_C(253402300799999), "{\"custom\":{\"x\":1}}"), "");
	assert_string_equal(validate("lead.scored", "a@b.co", "1", 0, "{}"),
	    "type: unknown event type \"lead.scored\"");
	assert_string_equal(validate(NULL, "a@b.co", "1", 0, "{}"),
	    "type: unknown event type \"\"");
	assert_string_equal(validate("lead.upserted", "nope", "1", 0, "{}"),
	    "lead: not an email address: no '@'");
	assert_string_equal(validate("lead.upserted", NULL, "1", 0, "{}"),
	    "lead: not an email address: missing");
	assert_string_equal(validate("lead.upserted", "Ada@b.co", "1", 0,
	    "{}"), "lead: not normalized (expected \"ada@b.co\")");
	assert_string_equal(validate("lead.upserted", "a@b.co", "", 0, "{}"),
	    "id: missing");
	assert_string_equal(validate("lead.upserted", "a@b.co", NULL, 0, "{}"),
	    "id: missing");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1", -1, "{}"),
	    "at: -1 is not between 1970 and 9999");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1",
	    INT64_C(253402300800000), "{}"),
	    "at: 253402300800000 is not between 1970 and 9999");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1", 0, "[]"),
	    "data: expected an object, got an array");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1", 0, NULL),
	    "data: expected an object, got nothing");
	assert_string_equal(validate("lead.upserted", "a@b.co", "1", 0,
	    "{\"custom\":\"x\"}"),
	    "data.custom: expected an object, got a string");
}

static void
test_validate_id_length(void **state)
{
	char id[EVENT_ID_MAX + 2];

	(void)state;
	memset(id, 'i', EVENT_ID_MAX);
	id[EVENT_ID_MAX] = '\0';
	assert_string_equal(validate("lead.upserted", "a@b.co", id, 0, "{}"),
	    "");
	id[EVENT_ID_MAX] = 'i';
	id[EVENT_ID_MAX + 1] = '\0';
	assert_string_equal(validate("lead.upserted", "a@b.co", id, 0, "{}"),
	    "id: longer than 256 bytes");
}

static void
test_validate_activity(void **state)
{
	(void)state;
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":\"form_submit\",\"form\":\"demo\"}"), "");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":\"trial.started-2\"}"), "");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0, "{}"),
	    "data.activity: missing (lead.activity needs it)");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":3}"),
	    "data.activity: expected a string, got a number");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":\"Form Submit\"}"),
	    "data.activity: \"Form Submit\" is not a name of 1 to 64 "
	    "characters a-z 0-9 _ . -");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":\"\"}"),
	    "data.activity: \"\" is not a name of 1 to 64 "
	    "characters a-z 0-9 _ . -");
	assert_string_equal(validate("lead.activity", "a@b.co", "1", 0,
	    "{\"activity\":\"_x\"}"),
	    "data.activity: \"_x\" is not a name of 1 to 64 "
	    "characters a-z 0-9 _ . -");
}

static void
test_validate_status(void **state)
{
	static const char *const ok[] = { "open", "working", "qualified",
	    "unqualified", "converted" };
	char data[64];

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		snprintf(data, sizeof(data), "{\"status\":\"%s\"}", ok[i]);
		assert_string_equal(validate("lead.status", "a@b.co", "1", 0,
		    data), "");
	}
	assert_string_equal(validate("lead.status", "a@b.co", "1", 0,
	    "{\"status\":\"Qualified\"}"),
	    "data.status: \"Qualified\" is not one of open working "
	    "qualified unqualified converted");
	assert_string_equal(validate("lead.status", "a@b.co", "1", 0,
	    "{\"reason\":\"x\"}"),
	    "data.status: missing (lead.status needs it)");
	assert_string_equal(validate("lead.status", "a@b.co", "1", 0,
	    "{\"status\":null}"),
	    "data.status: expected a string, got null");
}

static void
test_validate_deal(void **state)
{
	(void)state;
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"proposal\"}"), "");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"closed\",\"outcome\":\"won\",\"amount\":1200.5,"
	    "\"currency\":\"EUR\"}"), "");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"x\",\"amount\":3}"), "");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0, "{}"),
	    "data.stage: missing (deal.stage needs it)");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"\"}"), "data.stage: empty");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"x\",\"outcome\":\"maybe\"}"),
	    "data.outcome: \"maybe\" is not one of open won lost");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"x\",\"outcome\":true}"),
	    "data.outcome: expected a string, got a boolean");
	assert_string_equal(validate("deal.stage", "a@b.co", "1", 0,
	    "{\"stage\":\"x\",\"amount\":\"1200\"}"),
	    "data.amount: expected a number, got a string");
}

static void
test_data_json(void **state)
{
	struct baton_event *ev;
	char *s;

	(void)state;
	ev = baton_event_new(EVENT_LEAD_UPSERTED, "a@b.co", "1", 0, json_pack(
	    "{s:s, s:i, s:{s:b, s:s}}", "zeta", "z", "alpha", 1, "custom",
	    "y", 1, "b", "x"));
	assert_non_null(ev);
	s = baton_event_data_json(ev);
	assert_non_null(s);
	assert_string_equal(s,
	    "{\"alpha\":1,\"custom\":{\"b\":\"x\",\"y\":true},\"zeta\":\"z\"}");
	free(s);
	baton_event_free(ev);
	assert_null(baton_event_data_json(NULL));
}

/* A lead named by the source's record id, and what validate makes of it. */
static void
test_lead_ref(void **state)
{
	struct baton_event *ev;
	char err[128];

	(void)state;
	assert_string_equal(baton_event_lead_ref("ref:12345"), "12345");
	assert_string_equal(baton_event_lead_ref("ref:00Q5e.x_y-z"),
	    "00Q5e.x_y-z");
	assert_null(baton_event_lead_ref("ref:"));
	assert_null(baton_event_lead_ref("ref:a b"));
	assert_null(baton_event_lead_ref("ref:a@b.example"));
	assert_null(baton_event_lead_ref("a@b.example"));
	assert_null(baton_event_lead_ref(NULL));
	assert_null(baton_event_lead_ref("ref:0123456789012345678901234567890"
	    "12345678901234567890123456789012345"));       /* 65 bytes */

	ev = baton_event_new(EVENT_LEAD_FORGET, "ref:12345", "forget:1",
	    1700000000000LL, json_pack("{s:s}", "reason", "privacy"));
	assert_non_null(ev);
	assert_int_equal(baton_event_validate(ev, err, sizeof(err)), 0);
	baton_event_free(ev);
	ev = baton_event_new(EVENT_LEAD_FORGET, "ref:a b", "forget:1",
	    1700000000000LL, json_pack("{s:s}", "reason", "privacy"));
	assert_int_equal(baton_event_validate(ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lead"));
	baton_event_free(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_lead_key),
		cmocka_unit_test(test_lead_ref),
		cmocka_unit_test(test_type_known),
		cmocka_unit_test(test_validate_common),
		cmocka_unit_test(test_validate_id_length),
		cmocka_unit_test(test_validate_activity),
		cmocka_unit_test(test_validate_status),
		cmocka_unit_test(test_validate_deal),
		cmocka_unit_test(test_data_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
