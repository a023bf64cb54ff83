/*
 * test_hubspot.c - the HubSpot connector's pure side (hs_proto.c) and its
 * configuration.
 *
 * Signatures are checked against HubSpot's own vectors in
 * ../shared/vendor-samples/hubspot (all four), the webhook parser against
 * the vendor's sample body and hand-made bad bodies; builders against
 * exact text; parsers against bodies in the documented shapes.  Then the
 * window splitting of the poll cursor, lifecycle ordering, the echo
 * record, and the key table with init().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector_load.h"
#include "vendor_sample.h"
#include "connectors.h"
#include "diag.h"
#include "ini.h"

#include "../../connectors/hubspot/hs_proto.h"

/* ---- Helpers ----------------------------------------------------------- */

/* A vendor sample of this connector's vendor. */
static char *
sample(const char *name, size_t *len)
{
	return vendor_sample("hubspot", name, len);
}

static json_t *
vectors(void)
{
	size_t len;
	char *s = sample("signature-test-vectors.json", &len);
	json_t *j = json_loadb(s, len, 0, NULL);

	free(s);
	assert_non_null(j);
	return j;
}

static const char *
vs(const json_t *v, const char *sect, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(v,
	    sect), key));

	assert_non_null(s);
	return s;
}

static void
expect_json(json_t *j, const char *want)
{
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, want);
	free(s);
	json_decref(j);
}

/* ---- Signatures -------------------------------------------------------- */

static void
test_signature_vectors(void **state)
{
	json_t *v = vectors();
	const char *secret = json_string_value(json_object_get(v,
	    "clientSecret"));
	const char *body;
	char hex[65], err[256], *b64;
	struct hs_sig_input in = { 0 };

	(void)state;
	body = vs(v, "v1", "body");
	assert_int_equal(hs_signature_v12(1, secret, "POST", "", body,
	    strlen(body), hex), 0);
	assert_string_equal(hex, vs(v, "v1", "signature"));
	body = vs(v, "v2_get", "body");
	assert_int_equal(hs_signature_v12(2, secret, vs(v, "v2_get",
	    "method"), vs(v, "v2_get", "uri"), body, strlen(body), hex), 0);
	assert_string_equal(hex, vs(v, "v2_get", "signature"));
	body = vs(v, "v2_post", "body");
	assert_int_equal(hs_signature_v12(2, secret, vs(v, "v2_post",
	    "method"), vs(v, "v2_post", "uri"), body, strlen(body), hex), 0);
	assert_string_equal(hex, vs(v, "v2_post", "signature"));
	body = vs(v, "v3", "body");
	b64 = hs_signature_v3(secret, vs(v, "v3", "method"), vs(v, "v3",
	    "uri"), body, strlen(body), vs(v, "v3", "timestamp"));
	assert_string_equal(b64, vs(v, "v3", "signature"));
	free(b64);
	assert_int_equal(hs_signature_v12(4, secret, "POST", "", "", 0, hex),
	    -1);

	/* The checks: each vector passes, in time. */
	in.version = 3;
	in.secret = secret;
	in.method = "POST";
	in.uri = vs(v, "v3", "uri");
	in.body = (const unsigned char *)body;
	in.len = strlen(body);
	in.signature = vs(v, "v3", "signature");
	in.timestamp = vs(v, "v3", "timestamp");
	in.now_ms = 1693657560000LL + 299000;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), 0);
	in.version = 1;
	body = vs(v, "v1", "body");
	in.body = (const unsigned char *)body;
	in.len = strlen(body);
	in.signature = vs(v, "v1", "signature");
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), 0);
	in.version = 2;
	body = vs(v, "v2_post", "body");
	in.body = (const unsigned char *)body;
	in.len = strlen(body);
	in.uri = vs(v, "v2_post", "uri");
	in.signature = "9569219F8BA981FFA6F6F16AA0F48637D35D728C7E4D93D0D52EFA"
	    "A512AF7900";      /* upper case hex is the same signature */
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), 0);
	in.signature = vs(v, "v1", "signature");
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "X-HubSpot-Signature mismatch");
	json_decref(v);
}

static void
test_signature_window(void **state)
{
	json_t *v = vectors();
	const char *body = vs(v, "v3", "body");
	struct hs_sig_input in = { 0 };
	char err[256];

	(void)state;
	in.version = 3;
	in.secret = json_string_value(json_object_get(v, "clientSecret"));
	in.method = "POST";
	in.uri = vs(v, "v3", "uri");
	in.body = (const unsigned char *)body;
	in.len = strlen(body);
	in.signature = vs(v, "v3", "signature");
	in.timestamp = vs(v, "v3", "timestamp");

	in.now_ms = 1693657560000LL + 300000;   /* exactly 5 minutes: ok */
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), 0);
	in.now_ms = 1693657560000LL + 300001;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "request timestamp 1693657560000 is 300 s old "
	    "(more than 300)");
	in.now_ms = 1693657560000LL - 60000;    /* skew allowed */
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), 0);
	in.now_ms = 1693657560000LL - 120000;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "request timestamp 1693657560000 is 120 s in "
	    "the future");

	in.now_ms = 1693657560000LL;
	in.timestamp = NULL;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "missing X-HubSpot-Request-Timestamp");
	in.timestamp = "16936575600x0";
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "X-HubSpot-Request-Timestamp '16936575600x0' "
	    "is not a time in milliseconds");
	in.timestamp = vs(v, "v3", "timestamp");
	in.signature = NULL;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "missing X-HubSpot-Signature-v3");
	/* One byte of the body, the URI or the signature changed. */
	in.signature = vs(v, "v3", "signature");
	in.len--;
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "X-HubSpot-Signature-v3 mismatch");
	in.len++;
	in.uri = "https://www.example.com/webhook_uri2";
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	in.uri = vs(v, "v3", "uri");
	in.signature = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Z=";
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	in.signature = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y";
	assert_int_equal(hs_signature_check(&in, err, sizeof(err)), -1);
	json_decref(v);
}

static void
test_signed_uri(void **state)
{
	char *s, *a, *b;

	(void)state;
	s = hs_signed_uri(NULL, "127.0.0.1:8787", "/hooks/hubspot?x=1");
	assert_string_equal(s, "http://127.0.0.1:8787/hooks/hubspot?x=1");
	free(s);
	s = hs_signed_uri("https://baton.example.com/hooks/hubspot", "ignored",
	    "/hooks/hubspot?portal=1");
	assert_string_equal(s, "https://baton.example.com/hooks/hubspot?"
	    "portal=1");
	free(s);
	s = hs_signed_uri("https://b.example.com/hooks/hubspot/", NULL,
	    "/hooks/hubspot");
	assert_string_equal(s, "https://b.example.com/hooks/hubspot");
	free(s);
	assert_null(hs_signed_uri(NULL, NULL, "/hooks/hubspot"));
	/* HubSpot decodes %3A %2F and friends before signing, not %20. */
	a = hs_signature_v3("k", "POST", "https://x.test/a%3Ab%2Fc%20d", "", 0,
	    "1");
	b = hs_signature_v3("k", "POST", "https://x.test/a:b/c%20d", "", 0,
	    "1");
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* ---- Webhook bodies ---------------------------------------------------- */

static void
test_events_sample(void **state)
{
	struct hs_events e;
	size_t len;
	char *body = sample("webhook-contact-creation-body.json", &len);
	char err[256];

	(void)state;
	assert_int_equal(hs_events_parse(body, len, &e, err, sizeof(err)), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.v[0].event_id, 1);
	assert_string_equal(e.v[0].object, "contact");
	assert_string_equal(e.v[0].action, "creation");
	assert_int_equal(e.v[0].object_id, 123);
	assert_int_equal(e.v[0].occurred_at, 1564113600000LL);
	assert_string_equal(e.v[0].change_source, "CRM");
	assert_int_equal(e.v[0].app_id, 54321);
	assert_null(e.v[0].value);
	hs_events_clear(&e);
	hs_events_clear(&e);
	free(body);
}

static void
test_events_kinds(void **state)
{
	static const char body[] = "[{\"eventId\":7,\"occurredAt\":"
	    "1700000000000,\"subscriptionType\":\"contact.propertyChange\","
	    "\"objectId\":\"901\",\"propertyName\":\"lifecyclestage\","
	    "\"propertyValue\":\"salesqualifiedlead\",\"changeSource\":"
	    "\"INTEGRATION\",\"sourceId\":\"123456\",\"appId\":123456},"
	    "{\"eventId\":8,\"occurredAt\":1700000000001,\"subscriptionType\":"
	    "\"contact.merge\",\"objectId\":5,\"primaryObjectId\":5,"
	    "\"mergedObjectIds\":[6,7],\"newObjectId\":5},"
	    "{\"eventId\":9,\"occurredAt\":1700000000002,\"subscriptionType\":"
	    "\"contact.privacyDeletion\",\"objectId\":6,\"sourceId\":42}]";
	struct hs_events e;
	char err[256];

	(void)state;
	assert_int_equal(hs_events_parse(body, sizeof(body) - 1, &e, err,
	    sizeof(err)), 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.v[0].object_id, 901);
	assert_string_equal(e.v[0].property, "lifecyclestage");
	assert_string_equal(e.v[0].value, "salesqualifiedlead");
	assert_string_equal(e.v[0].source_id, "123456");
	assert_string_equal(e.v[1].action, "merge");
	assert_int_equal(e.v[1].primary_id, 5);
	assert_int_equal(e.v[1].nmerged, 2);
	assert_int_equal(e.v[1].merged[1], 7);
	assert_string_equal(e.v[2].action, "privacyDeletion");
	assert_string_equal(e.v[2].source_id, "42");
	hs_events_clear(&e);
}

static void
expect_events_error(const char *body, const char *want)
{
	struct hs_events e;
	char err[256];

	assert_int_equal(hs_events_parse(body, strlen(body), &e, err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(e.v);
	assert_int_equal(e.n, 0);
}

static void
test_events_malformed(void **state)
{
	const char *ok = "{\"eventId\":1,\"occurredAt\":1,\"subscriptionType\":"
	    "\"contact.creation\",\"objectId\":1}";
	char *big, *p;
	size_t n;

	(void)state;
	expect_events_error("", "body is not JSON: '[' or '{' expected near "
	    "end of file (line 1)");
	expect_events_error("{}", "body: expected a non-empty array of events");
	expect_events_error("[]", "body: expected a non-empty array of events");
	expect_events_error("[1]", "event 1: expected an object");
	expect_events_error("[{\"occurredAt\":1,\"subscriptionType\":\"contact."
	    "creation\",\"objectId\":1}]", "event 1: missing eventId");
	expect_events_error("[{\"eventId\":1,\"occurredAt\":1,"
	    "\"subscriptionType\":\"contact\",\"objectId\":1}]", "event 1: "
	    "subscriptionType: expected \"object.action\" such as "
	    "\"contact.creation\"");
	expect_events_error("[{\"eventId\":1,\"occurredAt\":1,"
	    "\"subscriptionType\":\"contact.creation\",\"objectId\":0}]",
	    "event 1: objectId: expected a positive integer");
	expect_events_error("[{\"eventId\":1,\"occurredAt\":\"soon\","
	    "\"subscriptionType\":\"contact.creation\",\"objectId\":3}]",
	    "event 1: occurredAt: expected a time in milliseconds");
	expect_events_error("[{\"eventId\":1,\"occurredAt\":1,"
	    "\"subscriptionType\":\"contact.merge\",\"objectId\":3}]",
	    "event 1: mergedObjectIds: expected 1 to 100 ids");

	/* 101 events: over the limit; 100: fine. */
	n = strlen(ok);
	big = malloc(101 * (n + 1) + 3);
	assert_non_null(big);
	p = big;
	*p++ = '[';
	for (int i = 0; i < 101; i++) {
		memcpy(p, ok, n);
		p += n;
		*p++ = ',';
	}
	p[-1] = ']';
	*p = '\0';
	expect_events_error(big, "101 events in one request: at most 100");
	{
		struct hs_events e;
		char err[256];

		/* cut the last event off */
		p = big + strlen(big) - n - 2;
		p[0] = ']';
		p[1] = '\0';
		assert_int_equal(hs_events_parse(big, strlen(big), &e, err,
		    sizeof(err)), 0);
		assert_int_equal(e.n, 100);
		hs_events_clear(&e);
		assert_int_equal(hs_events_parse(big, HS_BODY_MAX + 1, &e,
		    err, sizeof(err)), -1);
		assert_string_equal(err, "body of 1048577 bytes: at most "
		    "1048576");
	}
	free(big);
}

/* ---- Errors ------------------------------------------------------------ */

static void
test_error_parse(void **state)
{
	static const char ten[] = "{\"status\":\"error\",\"message\":\"You have "
	    "reached your ten_secondly_rolling limit.\",\"errorType\":"
	    "\"RATE_LIMIT\",\"correlationId\":\"x\",\"policyName\":"
	    "\"TEN_SECONDLY_ROLLING\",\"requestId\":\"y\"}";
	static const char sec[] = "{\"status\":\"error\",\"message\":\"You have "
	    "reached your secondly limit.\",\"errorType\":\"RATE_LIMIT\","
	    "\"policyName\":\"SECONDLY\"}";
	static const char val[] = "{\"status\":\"error\",\"message\":"
	    "\"Property values were not valid\\n\",\"category\":"
	    "\"VALIDATION_ERROR\"}";
	struct hs_error e;

	(void)state;
	assert_int_equal(hs_error_parse(ten, sizeof(ten) - 1, &e), 0);
	assert_string_equal(e.policy, "TEN_SECONDLY_ROLLING");
	assert_int_equal(hs_429_wait_ms(&e), 10000);
	assert_int_equal(hs_error_parse(sec, sizeof(sec) - 1, &e), 0);
	assert_int_equal(hs_429_wait_ms(&e), 1000);
	assert_int_equal(hs_error_parse(val, sizeof(val) - 1, &e), 0);
	assert_string_equal(e.category, "VALIDATION_ERROR");
	assert_string_equal(e.message, "Property values were not valid ");
	assert_int_equal(hs_429_wait_ms(&e), 0);
	assert_int_equal(hs_error_parse("<html>", 6, &e), -1);
	assert_string_equal(e.message, "body is not a JSON object");
	assert_int_equal(hs_error_parse("", 0, &e), -1);
	assert_string_equal(e.message, "empty body");
	assert_int_equal(hs_error_parse("{\"x\":1}", 7, &e), -1);
	assert_string_equal(e.message, "error body without a message");
}

/* ---- Requests ---------------------------------------------------------- */

static void
test_request_bodies(void **state)
{
	static const char *const ids[] = { "1", "22" };
	static const char *const props[] = { "email", "firstname" };
	struct hs_window w = { 0 };
	json_t *p[2];
	char *s;

	(void)state;
	s = hs_batch_read_body(ids, 2, NULL, props, 2);
	assert_string_equal(s, "{\"inputs\":[{\"id\":\"1\"},{\"id\":\"22\"}],"
	    "\"properties\":[\"email\",\"firstname\"],"
	    "\"propertiesWithHistory\":[]}");
	free(s);
	s = hs_batch_read_body(ids, 1, "email", props, 1);
	assert_string_equal(s, "{\"inputs\":[{\"id\":\"1\"}],\"properties\":"
	    "[\"email\"],\"propertiesWithHistory\":[],\"idProperty\":"
	    "\"email\"}");
	free(s);
	assert_null(hs_batch_read_body(ids, 0, NULL, props, 1));
	assert_null(hs_batch_read_body(ids, 101, NULL, props, 1));

	p[0] = json_pack("{s:s}", "lifecyclestage", "salesqualifiedlead");
	p[1] = json_pack("{s:s}", "baton_stage", "sql");
	s = hs_batch_write_body(ids, p, 2, false);
	assert_string_equal(s, "{\"inputs\":[{\"idProperty\":\"email\",\"id\":"
	    "\"1\",\"properties\":{\"lifecyclestage\":\"salesqualifiedlead\"}},"
	    "{\"idProperty\":\"email\",\"id\":\"22\",\"properties\":"
	    "{\"baton_stage\":\"sql\"}}]}");
	free(s);
	s = hs_batch_write_body(ids, p, 1, true);
	assert_string_equal(s, "{\"inputs\":[{\"id\":\"1\",\"properties\":"
	    "{\"lifecyclestage\":\"salesqualifiedlead\"}}]}");
	free(s);
	json_decref(p[0]);
	json_decref(p[1]);

	w.lo = 1000;
	w.hi = 2000;
	w.total = -1;
	s = hs_search_body(&w, props, 1, 200);
	assert_string_equal(s, "{\"filterGroups\":[{\"filters\":[{"
	    "\"propertyName\":\"lastmodifieddate\",\"operator\":\"GTE\","
	    "\"value\":\"1000\"},{\"propertyName\":\"lastmodifieddate\","
	    "\"operator\":\"LTE\",\"value\":\"2000\"}]}],\"sorts\":[{"
	    "\"propertyName\":\"lastmodifieddate\",\"direction\":"
	    "\"ASCENDING\"}],\"properties\":[\"email\"],\"limit\":200}");
	free(s);
	snprintf(w.after, sizeof(w.after), "200");
	s = hs_search_body(&w, props, 1, 200);
	assert_non_null(strstr(s, ",\"limit\":200,\"after\":\"200\"}"));
	free(s);
	w.by_id = true;
	snprintf(w.last_id, sizeof(w.last_id), "77");
	s = hs_search_body(&w, props, 1, 100);
	assert_string_equal(s, "{\"filterGroups\":[{\"filters\":[{"
	    "\"propertyName\":\"lastmodifieddate\",\"operator\":\"EQ\","
	    "\"value\":\"1000\"},{\"propertyName\":\"hs_object_id\","
	    "\"operator\":\"GT\",\"value\":\"77\"}]}],\"sorts\":[{"
	    "\"propertyName\":\"hs_object_id\",\"direction\":\"ASCENDING\"}],"
	    "\"properties\":[\"email\"],\"limit\":100}");
	free(s);
	assert_null(hs_search_body(&w, props, 1, 201));
	s = hs_property_body(2);
	assert_string_equal(s, "{\"name\":\"baton_score\",\"label\":\"baton "
	    "score\",\"type\":\"number\",\"fieldType\":\"number\","
	    "\"groupName\":\"contactinformation\",\"description\":\"written "
	    "by baton\"}");
	free(s);
	assert_null(hs_property_body(5));
}

/* ---- Answers ----------------------------------------------------------- */

static void
test_batch_parse(void **state)
{
	static const char ok[] = "{\"status\":\"COMPLETE\",\"results\":[{\"id\":"
	    "\"51\",\"properties\":{\"email\":\"a@x.test\",\"lastmodifieddate\":"
	    "\"2024-05-01T12:00:00.123Z\",\"firstname\":null},\"createdAt\":"
	    "\"2024-05-01T11:00:00Z\",\"updatedAt\":\"2024-05-01T12:00:00.123Z\","
	    "\"archived\":false}],\"numErrors\":1,\"errors\":[{\"status\":"
	    "\"error\",\"category\":\"OBJECT_NOT_FOUND\",\"message\":\"Could "
	    "not get some CONTACT objects\",\"context\":{\"ids\":[\"52\","
	    "\"B@X.test\"]}}]}";
	struct hs_result r;
	char err[256];

	(void)state;
	assert_int_equal(hs_result_parse(ok, sizeof(ok) - 1, false, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].id, "51");
	assert_int_equal(r.v[0].modified, 1714564800123LL);
	assert_false(r.v[0].archived);
	assert_string_equal(json_string_value(json_object_get(r.v[0].props,
	    "email")), "a@x.test");
	assert_int_equal(r.nerrors, 1);
	assert_string_equal(r.errors[0].category, "OBJECT_NOT_FOUND");
	assert_true(hs_item_error_has(&r.errors[0], "52"));
	assert_true(hs_item_error_has(&r.errors[0], "b@x.test"));
	assert_false(hs_item_error_has(&r.errors[0], "51"));
	assert_int_equal(r.total, -1);
	hs_result_clear(&r);
	hs_result_clear(&r);

	assert_int_equal(hs_result_parse("[]", 2, false, &r, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer: expected an object");
	assert_int_equal(hs_result_parse("{}", 2, false, &r, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer: missing results array");
	assert_int_equal(hs_result_parse("{\"results\":[{\"id\":\"x1\"}]}", 25,
	    false, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "result 1: id: expected digits");
	assert_int_equal(hs_result_parse("{\"results\":[{\"id\":1,"
	    "\"properties\":[]}]}", 38, false, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "result 1: properties: expected an object");
	assert_null(r.root);
}

static void
test_search_parse(void **state)
{
	static const char page[] = "{\"total\":250,\"results\":[{\"id\":\"1\","
	    "\"properties\":{\"lastmodifieddate\":\"1714564800000\"}},{\"id\":2,"
	    "\"properties\":{}}],\"paging\":{\"next\":{\"after\":\"200\","
	    "\"link\":\"?after=200\"}}}";
	static const char last[] = "{\"total\":2,\"results\":[]}";
	struct hs_result r;
	char err[256];

	(void)state;
	assert_int_equal(hs_result_parse(page, sizeof(page) - 1, true, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.total, 250);
	assert_string_equal(r.after, "200");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[0].modified, 1714564800000LL);
	assert_string_equal(r.v[1].id, "2");
	assert_int_equal(r.v[1].modified, 0);
	hs_result_clear(&r);
	assert_int_equal(hs_result_parse(last, sizeof(last) - 1, true, &r, err,
	    sizeof(err)), 0);
	assert_string_equal(r.after, "");
	hs_result_clear(&r);
	assert_int_equal(hs_result_parse("{\"total\":-1,\"results\":[]}", 25,
	    true, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "answer: total: expected a non-negative "
	    "integer");
}

static void
test_deal_parse(void **state)
{
	static const char deal[] = "{\"id\":\"9\",\"properties\":{\"dealstage\":"
	    "\"closedwon\",\"amount\":\"1500.5\",\"hs_lastmodifieddate\":"
	    "\"2024-05-01T12:00:00.000Z\"},\"associations\":{\"contacts\":{"
	    "\"results\":[{\"id\":\"51\",\"type\":\"deal_to_contact\"}]}}}";
	struct hs_deal d;
	char err[256];

	(void)state;
	assert_int_equal(hs_deal_parse(deal, sizeof(deal) - 1, &d, err,
	    sizeof(err)), 0);
	assert_string_equal(d.stage, "closedwon");
	assert_true(d.has_amount);
	assert_true(d.amount == 1500.5);
	assert_string_equal(d.contact, "51");
	assert_int_equal(d.modified, 1714564800000LL);
	assert_string_equal(hs_deal_outcome(d.stage), "won");
	assert_string_equal(hs_deal_outcome("closedlost"), "lost");
	assert_string_equal(hs_deal_outcome("contractsent"), "open");
	assert_int_equal(hs_deal_parse("{\"id\":\"9\"}", 10, &d, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "deal 9: missing properties");
}

/* ---- The poll cursor --------------------------------------------------- */

static void
test_cursor(void **state)
{
	struct hs_cursor c = { 0 }, d;
	char *s, err[256];

	(void)state;
	c.wm = 5000;
	c.round_hi = 9000;
	c.nwin = 1;
	c.win[0].lo = 1000;
	c.win[0].hi = 9000;
	c.win[0].total = -1;
	s = hs_cursor_encode(&c);
	assert_string_equal(s, "{\"v\":1,\"wm\":5000,\"hi\":9000,\"win\":[{"
	    "\"lo\":1000,\"hi\":9000,\"after\":\"\",\"by_id\":false,"
	    "\"last_id\":\"\",\"total\":-1,\"seen\":0}]}");
	assert_int_equal(hs_cursor_decode(s, strlen(s), &d, err, sizeof(err)),
	    0);
	assert_int_equal(d.nwin, 1);
	assert_int_equal(d.win[0].total, -1);
	free(s);

	/* Halving: [1000, 9000] -> [1000, 5000] [5001, 9000]. */
	c.win[0].total = 25000;
	snprintf(c.win[0].after, sizeof(c.win[0].after), "0");
	assert_int_equal(hs_cursor_split(&c), 0);
	assert_int_equal(c.nwin, 2);
	assert_int_equal(c.win[0].lo, 1000);
	assert_int_equal(c.win[0].hi, 5000);
	assert_int_equal(c.win[1].lo, 5001);
	assert_int_equal(c.win[1].hi, 9000);
	assert_int_equal(c.win[0].total, -1);
	assert_string_equal(c.win[0].after, "");
	/* Down to one millisecond: then the id keyset, no more halving. */
	while (c.win[0].lo < c.win[0].hi)
		assert_int_equal(hs_cursor_split(&c), 0);
	assert_int_equal(c.nwin, 14);
	assert_int_equal(c.win[0].hi, 1000);
	assert_int_equal(c.win[1].lo, 1001);
	assert_false(c.win[0].by_id);
	assert_int_equal(hs_cursor_split(&c), 0);
	assert_true(c.win[0].by_id);
	assert_int_equal(c.nwin, 14);
	assert_int_equal(hs_cursor_split(&c), -1);
	/* The windows stay contiguous and ordered; popping moves wm. */
	for (size_t i = 1; i < c.nwin; i++)
		assert_int_equal(c.win[i].lo, c.win[i - 1].hi + 1);
	assert_int_equal(c.win[c.nwin - 1].hi, 9000);
	hs_cursor_pop(&c);
	assert_int_equal(c.wm, 5000);
	assert_int_equal(c.nwin, 13);
	assert_int_equal(c.win[0].lo, 1001);
	s = hs_cursor_encode(&c);
	assert_int_equal(hs_cursor_decode(s, strlen(s), &d, err, sizeof(err)),
	    0);
	assert_int_equal(d.nwin, 13);
	assert_int_equal(d.win[12].hi, 9000);
	free(s);

	/* Full: no split beyond HS_WINDOWS_MAX. */
	memset(&c, 0, sizeof(c));
	c.nwin = HS_WINDOWS_MAX;
	for (size_t i = 0; i < c.nwin; i++) {
		c.win[i].lo = (int64_t)i * 10;
		c.win[i].hi = (int64_t)i * 10 + 9;
	}
	assert_int_equal(hs_cursor_split(&c), -1);

	/* A probe page of one millisecond: that millisecond alone. */
	memset(&c, 0, sizeof(c));
	c.nwin = 2;
	c.win[0].lo = 1000;
	c.win[0].hi = 9000;
	c.win[0].total = 25000;
	c.win[1].lo = 9001;
	c.win[1].hi = 9500;
	assert_int_equal(hs_cursor_split_probe(&c, 4000, 4000, true), 0);
	assert_int_equal(c.nwin, 3);
	assert_int_equal(c.win[0].lo, 4000);
	assert_int_equal(c.win[0].hi, 4000);
	assert_int_equal(c.win[0].total, -1);
	assert_int_equal(c.win[1].lo, 4001);
	assert_int_equal(c.win[1].hi, 9000);
	assert_int_equal(c.win[2].lo, 9001);
	/* ... then the id keyset. */
	c.win[0].total = 25000;
	assert_int_equal(hs_cursor_split_probe(&c, 4000, 4000, true), 0);
	assert_true(c.win[0].by_id);
	assert_int_equal(c.nwin, 3);
	assert_int_equal(hs_cursor_split_probe(&c, 4000, 4000, true), -1);
	/* A spread page: start at its first time, then halve. */
	hs_cursor_pop(&c);
	assert_int_equal(hs_cursor_split_probe(&c, 5001, 5050, true), 0);
	assert_int_equal(c.nwin, 3);
	assert_int_equal(c.win[0].lo, 5001);
	assert_int_equal(c.win[0].hi, 7000);
	assert_int_equal(c.win[1].lo, 7001);
	assert_int_equal(c.win[1].hi, 9000);
	/* A page not full, or times unknown or outside: halve as it is. */
	assert_int_equal(hs_cursor_split_probe(&c, 5001, 5001, false), 0);
	assert_int_equal(c.win[0].lo, 5001);
	assert_int_equal(c.win[0].hi, 6000);
	assert_int_equal(hs_cursor_split_probe(&c, 0, 0, true), 0);
	assert_int_equal(c.win[0].hi, 5500);
	assert_int_equal(hs_cursor_split_probe(&c, 99999, 99999, true), 0);
	assert_int_equal(c.win[0].lo, 5001);
	assert_int_equal(c.win[0].hi, 5250);
	for (size_t i = 1; i < c.nwin; i++)
		assert_int_equal(c.win[i].lo, c.win[i - 1].hi + 1);
	/* Full: nothing changes. */
	c.nwin = HS_WINDOWS_MAX;
	for (size_t i = 1; i < c.nwin; i++) {
		c.win[i].lo = 10000 + (int64_t)i * 10;
		c.win[i].hi = 10000 + (int64_t)i * 10 + 9;
	}
	assert_int_equal(hs_cursor_split_probe(&c, 5100, 5100, true), -1);
	assert_int_equal(hs_cursor_split_probe(&c, 5100, 5200, true), -1);
	assert_int_equal(c.win[0].lo, 5001);
	assert_int_equal(c.win[0].hi, 5250);
}

static void
test_cursor_malformed(void **state)
{
	static const struct {
		const char *in, *err;
	} t[] = {
		{ "", "cursor: expected a JSON object with v 1" },
		{ "{\"v\":2}", "cursor: expected a JSON object with v 1" },
		{ "{\"v\":1,\"wm\":-1,\"hi\":0,\"win\":[]}",
		    "cursor: wm and hi must be times in ms" },
		{ "{\"v\":1,\"wm\":1,\"hi\":0}",
		    "cursor: win: expected an array of at most 64 windows" },
		{ "{\"v\":1,\"wm\":1,\"hi\":0,\"win\":[{\"lo\":5,\"hi\":4,"
		    "\"after\":\"\",\"by_id\":false,\"last_id\":\"\","
		    "\"total\":-1,\"seen\":0}]}",
		    "cursor: window 1 is out of order" },
		{ "{\"v\":1,\"wm\":1,\"hi\":0,\"win\":[{\"lo\":1,\"hi\":4,"
		    "\"after\":\"\",\"by_id\":false,\"last_id\":\"x\","
		    "\"total\":-1,\"seen\":0}]}",
		    "cursor: window 1 is malformed" },
	};
	struct hs_cursor c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(hs_cursor_decode(t[i].in, strlen(t[i].in), &c,
		    err, sizeof(err)), -1);
		assert_string_equal(err, t[i].err);
		assert_int_equal(c.nwin, 0);
	}
}

/* ---- Lifecycle, statuses, mapping -------------------------------------- */

static void
test_lifecycle(void **state)
{
	(void)state;
	assert_int_equal(hs_lifecycle_rank("subscriber"), 1);
	assert_int_equal(hs_lifecycle_rank("evangelist"), 7);
	assert_int_equal(hs_lifecycle_rank(""), 0);
	assert_int_equal(hs_lifecycle_rank("other"), -1);
	assert_string_equal(hs_lifecycle_forward("lead",
	    "salesqualifiedlead"), "salesqualifiedlead");
	assert_string_equal(hs_lifecycle_forward("", "marketingqualifiedlead"),
	    "marketingqualifiedlead");
	assert_string_equal(hs_lifecycle_forward(NULL, "customer"), "customer");
	assert_null(hs_lifecycle_forward("customer", "opportunity"));
	assert_null(hs_lifecycle_forward("opportunity", "opportunity"));
	assert_null(hs_lifecycle_forward("other", "customer"));
	assert_null(hs_lifecycle_forward("lead", NULL));
	assert_string_equal(hs_feedback_map("feedback.sql")->lifecycle,
	    "salesqualifiedlead");
	assert_null(hs_feedback_map("feedback.rejected")->lifecycle);
	assert_string_equal(hs_feedback_map("feedback.rejected")->lead_status,
	    "UNQUALIFIED");
	assert_null(hs_feedback_map("feedback.recycled")->lifecycle);
	assert_null(hs_feedback_map("handoff.mql"));
	/* baton_stage: forward ranks; the moves back rank 0. */
	assert_int_equal(hs_baton_stage_rank("mql"), 1);
	assert_int_equal(hs_baton_stage_rank("sal"), 2);
	assert_int_equal(hs_baton_stage_rank("sql"), 3);
	assert_int_equal(hs_baton_stage_rank("opportunity"), 4);
	assert_int_equal(hs_baton_stage_rank("customer"), 5);
	assert_int_equal(hs_baton_stage_rank("recycled"), 0);
	assert_int_equal(hs_baton_stage_rank("rejected"), 0);
	assert_int_equal(hs_baton_stage_rank("lost"), 0);
	assert_int_equal(hs_baton_stage_rank(""), 0);
	assert_int_equal(hs_baton_stage_rank(NULL), 0);
	assert_int_equal(hs_baton_stage_rank(hs_feedback_map(
	    "feedback.won")->stage), 5);
	assert_int_equal(hs_baton_stage_rank(hs_feedback_map(
	    "feedback.recycled")->stage), 0);
}

static void
test_status_map(void **state)
{
	struct conf_map_entry e = { "Bad_Timing", "working", { NULL, 0 } };
	struct conf_map m = { 1, &e };

	(void)state;
	assert_string_equal(hs_status_map(NULL, "NEW"), "open");
	assert_string_equal(hs_status_map(NULL, "in_progress"), "working");
	assert_string_equal(hs_status_map(NULL, "OPEN_DEAL"), "qualified");
	assert_string_equal(hs_status_map(NULL, "BAD_TIMING"), "unqualified");
	assert_string_equal(hs_status_map(&m, "BAD_TIMING"), "working");
	assert_null(hs_status_map(NULL, "CUSTOM_X"));
	assert_null(hs_status_map(NULL, ""));
}

static void
test_mapping(void **state)
{
	struct conf_map_entry ent[] = {
		{ "title", "job_function", { NULL, 0 } },
		{ "custom.plan", "plan_tier", { NULL, 0 } },
	};
	struct conf_map entries = { 2, ent };
	struct conf_map_entry bad1 = { "nickname", "nick", { NULL, 0 } };
	struct conf_map_entry bad2 = { "title", "Job Title", { NULL, 0 } };
	struct conf_map b = { 1, &bad1 };
	struct hs_map m;
	json_t *props, *attrs;
	char err[256];

	(void)state;
	assert_int_equal(hs_map_build(&m, &entries, err, sizeof(err)), 0);
	props = json_pack("{s:s,s:s,s:s,s:s,s:s,s:n,s:s}", "email",
	    "A@x.test", "firstname", "Ann", "job_function", "VP Sales",
	    "numemployees", "250", "plan_tier", "gold", "phone", "country",
	    "");
	expect_json(hs_contact_data(&m, props, "51"), "{\"company_size\":250,"
	    "\"custom\":{\"plan\":\"gold\"},\"email\":\"A@x.test\","
	    "\"first_name\":\"Ann\",\"id\":\"51\",\"title\":\"VP Sales\"}");
	json_decref(props);
	attrs = json_pack("{s:s,s:s,s:i,s:{s:s}}", "email", "a@x.test",
	    "last_name", "Lee", "company_size", 40, "custom", "plan", "pro");
	expect_json(hs_contact_props(&m, attrs), "{\"lastname\":\"Lee\","
	    "\"numemployees\":\"25-50\",\"plan_tier\":\"pro\"}");
	json_decref(attrs);
	/* numemployees' ranges arrive as their lower bound. */
	props = json_pack("{s:s,s:s}", "email", "b@x.test", "numemployees",
	    "100-500");
	expect_json(hs_contact_data(&m, props, "52"), "{\"company_size\":100,"
	    "\"email\":\"b@x.test\",\"id\":\"52\"}");
	json_decref(props);
	props = json_pack("{s:s,s:s}", "email", "c@x.test", "numemployees",
	    "1000+");
	expect_json(hs_contact_data(&m, props, "53"), "{\"company_size\":1000,"
	    "\"email\":\"c@x.test\",\"id\":\"53\"}");
	json_decref(props);
	props = json_pack("{s:s,s:s}", "email", "d@x.test", "numemployees",
	    "a few");
	expect_json(hs_contact_data(&m, props, "54"), "{\"company_size\":"
	    "\"a few\",\"email\":\"d@x.test\",\"id\":\"54\"}");
	json_decref(props);
	/* ... and go back as the option holding the size. */
	attrs = json_pack("{s:i}", "company_size", 500);
	expect_json(hs_contact_props(&m, attrs), "{\"numemployees\":"
	    "\"500-1000\"}");
	json_decref(attrs);
	attrs = json_pack("{s:s}", "company_size", "100-500");
	expect_json(hs_contact_props(&m, attrs), "{\"numemployees\":"
	    "\"100-500\"}");
	json_decref(attrs);
	attrs = json_pack("{s:f}", "company_size", 12000.0);
	expect_json(hs_contact_props(&m, attrs), "{\"numemployees\":"
	    "\"1000+\"}");
	json_decref(attrs);
	attrs = json_pack("{s:i}", "company_size", 0);
	expect_json(hs_contact_props(&m, attrs), "{}");
	json_decref(attrs);
	hs_map_clear(&m);
	hs_map_clear(&m);

	assert_int_equal(hs_map_build(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "map.nickname: 'nickname' is not a canonical "
	    "field (email first_name last_name title company company_size "
	    "industry country phone) or custom.<name>");
	b.v = &bad2;
	assert_int_equal(hs_map_build(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "map.title: 'Job Title' is not a HubSpot "
	    "property name");
}

static void
test_company_size(void **state)
{
	static const struct {
		const char *in;
		long long want;         /* -1: not a size */
	} t[] = {
		{ "250", 250 }, { "0", 0 }, { "1-5", 1 }, { "5-25", 5 },
		{ "100-500", 100 }, { "500-1000", 500 }, { "1000+", 1000 },
		{ "", -1 }, { "lots", -1 }, { "500-100", -1 }, { "-5", -1 },
		{ "100-", -1 }, { "100+5", -1 }, { "10 - 50", -1 },
		{ "99999999999999999999", -1 },
	};
	static const struct {
		long long n;
		const char *want;
	} o[] = {
		{ 1, "1-5" }, { 4, "1-5" }, { 5, "5-25" }, { 24, "5-25" },
		{ 25, "25-50" }, { 50, "50-100" }, { 100, "100-500" },
		{ 499, "100-500" }, { 500, "500-1000" }, { 999, "500-1000" },
		{ 1000, "1000+" }, { 250000, "1000+" },
	};
	long long n;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = -1;
		assert_int_equal(hs_company_size(t[i].in, &n), t[i].want >= 0);
		assert_int_equal(n, t[i].want);
	}
	assert_false(hs_company_size(NULL, &n));
	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
		assert_string_equal(hs_numemployees_option(o[i].n), o[i].want);
		/* The round trip never overstates a size. */
		assert_true(hs_company_size(o[i].want, &n));
		assert_true(n <= o[i].n);
	}
	assert_null(hs_numemployees_option(0));
	assert_null(hs_numemployees_option(-3));
}

/* ---- The echo record --------------------------------------------------- */

/* A v4 batch association read, and the deal create body. */
static void
test_deal_bodies(void **state)
{
	static const char ans[] = "{\"status\":\"COMPLETE\",\"results\":["
	    "{\"from\":{\"id\":\"101\"},\"to\":[{\"toObjectId\":5001,"
	    "\"associationTypes\":[]},{\"toObjectId\":\"5003\"}]}],"
	    "\"errors\":[{\"category\":\"OBJECT_NOT_FOUND\","
	    "\"context\":{\"fromObjectId\":[\"102\"]}}]}";
	const char *contacts[] = { "101", "102" };
	json_t *props[2], *root;
	struct hs_assoc a;
	char err[256], *body;

	(void)state;
	assert_int_equal(hs_assoc_parse(ans, strlen(ans), &a, err,
	    sizeof(err)), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.v[0].from, "101");
	assert_string_equal(a.v[0].to, "5001");
	assert_string_equal(a.v[1].to, "5003");
	hs_assoc_clear(&a);
	assert_int_equal(hs_assoc_parse("{\"results\":[{\"from\":{\"id\":"
	    "\"x\"},\"to\":[]}]}", 41, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "from.id"));
	assert_int_equal(hs_assoc_parse("{\"results\":[{\"from\":{\"id\":"
	    "\"1\"},\"to\":{}}]}", 41, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "to: expected an array"));
	assert_null(a.v);

	body = hs_assoc_read_body(contacts, 2);
	assert_string_equal(body, "{\"inputs\":[{\"id\":\"101\"},"
	    "{\"id\":\"102\"}]}");
	free(body);
	assert_null(hs_assoc_read_body(contacts, 0));

	props[0] = json_pack("{s:s}", "dealname", "A");
	props[1] = json_pack("{s:s}", "dealname", "B");
	body = hs_deal_create_body(contacts, props, 2);
	root = json_loads(body, 0, NULL);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(root, "inputs"), 1),
	    "properties"), "dealname")), "B");
	{
		json_t *as = json_array_get(json_object_get(json_array_get(
		    json_object_get(root, "inputs"), 1), "associations"), 0);
		json_t *t = json_array_get(json_object_get(as, "types"), 0);

		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(as, "to"), "id")), "102");
		assert_int_equal(json_integer_value(json_object_get(t,
		    "associationTypeId")), 3);
		assert_string_equal(json_string_value(json_object_get(t,
		    "associationCategory")), "HUBSPOT_DEFINED");
	}
	json_decref(root);
	free(body);
	json_decref(props[0]);
	json_decref(props[1]);
}

/* Form submissions and email engagement rolled up on a contact: each
 * reported only by a change near its own time. */
static void
test_activities(void **state)
{
	struct hs_activity a[HS_ACTIVITIES_MAX];
	int64_t t = 1717243200000LL;    /* 2024-06-01T12:00:00.000Z */
	json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s}",
	    "recent_conversion_event_name", "demo-request: Pricing",
	    "recent_conversion_date", "2024-06-01T12:00:00.000Z",
	    "hs_email_last_email_name", "June newsletter",
	    "hs_email_last_open_date", "2024-06-01T11:58:00.000Z",
	    "hs_email_last_click_date", "1717200000000");  /* 00:00, ms */
	size_t n;

	(void)state;
	n = hs_contact_activities(p, t, 10 * 60 * 1000, a);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].activity, "form_submit");
	assert_int_equal(a[0].at, t);
	assert_string_equal(json_string_value(json_object_get(a[0].data,
	    "form")), "demo-request");
	assert_string_equal(json_string_value(json_object_get(a[0].data,
	    "conversion")), "demo-request: Pricing");
	assert_string_equal(json_string_value(json_object_get(a[0].data,
	    "activity")), "form_submit");
	assert_string_equal(a[1].activity, "email_open");
	assert_int_equal(a[1].at, t - 120000);
	assert_string_equal(json_string_value(json_object_get(a[1].data,
	    "email_name")), "June newsletter");
	for (size_t i = 0; i < n; i++)
		json_decref(a[i].data);

	/* Without a modification time every dated one counts. */
	n = hs_contact_activities(p, 0, 10 * 60 * 1000, a);
	assert_int_equal(n, 3);
	assert_string_equal(a[2].activity, "email_click");
	assert_int_equal(a[2].at, 1717200000000LL);
	for (size_t i = 0; i < n; i++)
		json_decref(a[i].data);

	/* A change a day later does not repeat them. */
	assert_int_equal(hs_contact_activities(p, t + 86400000LL,
	    10 * 60 * 1000, a), 0);

	/* Bad or missing dates give nothing; a form without ": " is its
	 * own name. */
	json_object_set_new(p, "recent_conversion_date", json_string("soon"));
	json_object_set_new(p, "hs_email_last_open_date", json_string(""));
	json_object_del(p, "hs_email_last_click_date");
	assert_int_equal(hs_contact_activities(p, t, 600000, a), 0);
	json_object_set_new(p, "recent_conversion_date",
	    json_string("2024-06-01T12:00:00Z"));
	json_object_set_new(p, "recent_conversion_event_name",
	    json_string("Contact us"));
	assert_int_equal(hs_contact_activities(p, t, 600000, a), 1);
	assert_string_equal(json_string_value(json_object_get(a[0].data,
	    "form")), "Contact us");
	json_decref(a[0].data);
	json_decref(p);
}

static void
test_echo(void **state)
{
	struct hs_echo e;
	json_t *props;

	(void)state;
	assert_int_equal(hs_echo_init(&e, 3, 60000), 0);
	assert_int_equal(hs_echo_add(&e, "51", "lifecyclestage",
	    "salesqualifiedlead", 1000), 0);
	assert_int_equal(hs_echo_add(&e, "51", "baton_stage", "sql", 1000), 0);
	assert_true(hs_echo_match(&e, "51", "lifecyclestage",
	    "salesqualifiedlead", 2000));
	assert_false(hs_echo_match(&e, "51", "lifecyclestage", "customer",
	    2000));
	assert_false(hs_echo_match(&e, "52", "baton_stage", "sql", 2000));
	/* Expired after the ttl. */
	assert_true(hs_echo_match(&e, "51", "baton_stage", "sql", 61000));
	assert_false(hs_echo_match(&e, "51", "baton_stage", "sql", 61001));
	/* Bounded: the oldest goes first. */
	assert_int_equal(hs_echo_add(&e, "52", "baton_stage", "", 1500), 0);
	assert_int_equal(hs_echo_add(&e, "53", "baton_stage", "x", 1600), 0);
	assert_false(hs_echo_match(&e, "51", "lifecyclestage",
	    "salesqualifiedlead", 2000));
	assert_true(hs_echo_match(&e, "52", "baton_stage", NULL, 2000));
	assert_string_equal(hs_echo_value(&e, "53", "baton_stage", 2000), "x");
	assert_null(hs_echo_value(&e, "51", "lifecyclestage", 2000));

	/* Polls: near in time and every written value still there. */
	hs_echo_clear(&e);
	assert_int_equal(hs_echo_init(&e, 16, 600000), 0);
	hs_echo_add(&e, "51", "lifecyclestage", "lead", 1000);
	hs_echo_add(&e, "51", "lifecyclestage", "salesqualifiedlead", 2000);
	hs_echo_add(&e, "51", "baton_stage", "sql", 2000);
	props = json_pack("{s:s,s:s,s:s}", "lifecyclestage",
	    "salesqualifiedlead", "baton_stage", "sql", "firstname", "Ann");
	assert_true(hs_echo_poll_match(&e, "51", props, 2500, 30000, 3000));
	assert_false(hs_echo_poll_match(&e, "51", props, 40000, 30000, 41000));
	assert_false(hs_echo_poll_match(&e, "52", props, 2500, 30000, 3000));
	json_object_set_new(props, "baton_stage", json_string("rejected"));
	assert_false(hs_echo_poll_match(&e, "51", props, 2500, 30000, 3000));
	json_decref(props);
	hs_echo_clear(&e);

	/* A datetime written as ISO 8601 comes back as epoch ms (a webhook's
	 * propertyValue) or as ISO with other digits: the same instant. */
	assert_int_equal(hs_echo_init(&e, 4, 600000), 0);
	hs_echo_add(&e, "51", "baton_updated", "2024-06-01T12:00:00.000Z",
	    1000);
	assert_true(hs_echo_match(&e, "51", "baton_updated", "1717243200000",
	    2000));
	assert_true(hs_echo_match(&e, "51", "baton_updated",
	    "2024-06-01T12:00:00Z", 2000));
	assert_false(hs_echo_match(&e, "51", "baton_updated", "1717243200001",
	    2000));
	/* Numbers are not times: "10" is not "10.0" or a date. */
	hs_echo_add(&e, "51", "baton_score", "10", 1000);
	assert_false(hs_echo_match(&e, "51", "baton_score", "10.0", 2000));
	hs_echo_clear(&e);
	hs_echo_clear(&e);
}

/* ---- Configuration ----------------------------------------------------- */


static void
test_conf_ok(void **state)
{
	struct loaded l;
	const struct connector *c;

	(void)state;
	setenv("HS_TEST_TOKEN", "pat-na1-x", 1);
	load(&l, "[connector hubspot]\ntype = hubspot\nrole = marketing\n"
	    "base_url = http://127.0.0.1:9/\ntoken = env:HS_TEST_TOKEN\n"
	    "app_secret = env:HS_TEST_TOKEN\napp_id = 123456\n"
	    "map.title = job_function\nstatus.BAD_TIMING = working\n"
	    "lead_status.recycled = BAD_TIMING\n");
	if (diag_count(&l.d) > 0)
		diag_print(&l.d, stderr);
	assert_non_null(l.ci);
	c = connector_descriptor(l.ci);
	assert_int_equal(c->batch_max, 100);
	assert_int_equal(c->rate_limit, 190);
	assert_int_equal(c->rate_window_ms, 10000);
	assert_int_equal(c->poll_interval_ms, 300000);
	assert_int_equal(connector_settings(l.ci)->poll_interval_ms, 300000);
	assert_int_equal(connector_settings(l.ci)->rate_limit, 190);
	unload(&l);
}

static void
test_conf_errors(void **state)
{
	static const char *const want[] = {
		"test.conf:4: [hubspot:hs] base_url: expected an http(s) URL "
		    "such as https://api.hubapi.com, not 'api.hubapi.com'",
		"test.conf:6: [hubspot:hs] public_url: expected the http(s) "
		    "URL HubSpot calls, not 'baton.example.com/hooks'",
		"test.conf:7: [hubspot:hs] app_id: expected the app's numeric "
		    "id, not 'my-app'",
		"test.conf:8: [hubspot:hs] signature_version: expected v3, v2 "
		    "or v1, not 'v4'",
		"test.conf:9: [hubspot:hs] map.nick: 'nick' is not a "
		    "canonical field (email first_name last_name title company "
		    "company_size industry country phone) or custom.<name>",
		"test.conf:10: [hubspot:hs] status.NEW: 'new' is not a lead "
		    "status: expected open, working, qualified, unqualified or "
		    "converted",
		"test.conf:11: [hubspot:hs] lead_status.sal: 'sal' is not a "
		    "feedback type: expected accepted, sql, opportunity, won, "
		    "lost, rejected or recycled",
	};
	struct loaded l;

	(void)state;
	load(&l, "[connector hs]\ntype = hubspot\nrole = marketing\n"
	    "base_url = api.hubapi.com\ntoken = pat\n"
	    "public_url = baton.example.com/hooks\napp_id = my-app\n"
	    "signature_version = v4\nmap.nick = nickname\nstatus.NEW = new\n"
	    "lead_status.sal = OPEN\n");
	assert_null(l.ci);
	if (diag_count(&l.d) != sizeof(want) / sizeof(want[0]))
		diag_print(&l.d, stderr);
	assert_int_equal(diag_count(&l.d), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(l.d.msgs[i], want[i]);
	unload(&l);

	/* token is required; notify is not a HubSpot role */
	load(&l, "[connector hs]\ntype = hubspot\nrole = notify\n");
	assert_null(l.ci);
	assert_true(diag_count(&l.d) >= 2);
	unload(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_vectors),
		cmocka_unit_test(test_signature_window),
		cmocka_unit_test(test_signed_uri),
		cmocka_unit_test(test_events_sample),
		cmocka_unit_test(test_events_kinds),
		cmocka_unit_test(test_events_malformed),
		cmocka_unit_test(test_error_parse),
		cmocka_unit_test(test_request_bodies),
		cmocka_unit_test(test_batch_parse),
		cmocka_unit_test(test_search_parse),
		cmocka_unit_test(test_deal_parse),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_cursor_malformed),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_status_map),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_company_size),
		cmocka_unit_test(test_activities),
		cmocka_unit_test(test_deal_bodies),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_conf_ok),
		cmocka_unit_test(test_conf_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
