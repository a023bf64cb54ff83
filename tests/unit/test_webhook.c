/*
 * test_webhook.c - the generic webhook connector.
 *
 * First its payload side (webhook_proto.c) called directly: the signature
 * check, building a mapping and every configuration mistake it refuses,
 * and mapping bodies to events.  Then end to end, the way batond runs it:
 * a conf text through ini_parse_buffer() and connector_instance_new(),
 * requests through webhook_call_new()/webhook_call_parse(), checking the
 * status, the exact message and the events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/digest.h>
#include <baton/event.h>

#include "connector_load.h"
#include "connectors.h"
#include "diag.h"
#include "ini.h"
#include "intake.h"

#include "../../connectors/webhook/webhook_proto.h"

#define RECEIVED_MS INT64_C(1795444000000)

/* ---- Helpers ----------------------------------------------------------- */

/* "sha256=" and the HMAC of body under secret (a static buffer). */
static const char *
sign(const char *secret, const char *body)
{
	static char header[7 + 2 * DIGEST_SHA256_LEN + 1];
	unsigned char mac[DIGEST_SHA256_LEN];

	assert_int_equal(digest_hmac_sha256(secret, strlen(secret), body,
	    strlen(body), mac), 0);
	memcpy(header, "sha256=", 7);
	digest_hex(mac, sizeof(mac), header + 7);
	return header;
}

/* Collects emitted events; refuses past `limit` when it is non-zero. */
struct sink {
	struct baton_event *ev[2048];
	size_t n, limit;
};

static int
sink_emit(void *arg, struct baton_event *ev)
{
	struct sink *s = arg;

	if ((s->limit != 0 && s->n >= s->limit) || s->n == 2048) {
		baton_event_free(ev);
		return -1;
	}
	s->ev[s->n++] = ev;
	return 0;
}

static void
sink_clear(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		baton_event_free(s->ev[i]);
	s->n = 0;
}

/* Builds a mapping from "key=value" lines: event, items, map.*. */
static struct webhook_map *
mapping(const char *const *kv)
{
	struct webhook_map *m = webhook_map_new();
	const char *key;
	char err[512];

	assert_non_null(m);
	for (; *kv != NULL; kv++) {
		const char *eq = strchr(*kv, '=');
		char k[64];
		int rc;

		assert_non_null(eq);
		snprintf(k, sizeof(k), "%.*s", (int)(eq - *kv), *kv);
		if (strcmp(k, "event") == 0)
			rc = webhook_map_set_event(m, eq + 1, err, sizeof(err));
		else if (strcmp(k, "items") == 0)
			rc = webhook_map_set_items(m, eq + 1, err, sizeof(err));
		else
			rc = webhook_map_add(m, k + 4, eq + 1, err,
			    sizeof(err));
		if (rc != 0)
			fail_msg("%s: %s", *kv, err);
	}
	if (webhook_map_check(m, &key, err, sizeof(err)) != 0)
		fail_msg("check: %s", err);
	return m;
}

/* Maps body; returns the result, err holding the message. */
static int
map_body(const struct webhook_map *m, const char *body, struct sink *s,
    char *err, size_t errlen)
{
	err[0] = '\0';
	return webhook_map_body(m, (const unsigned char *)body, strlen(body),
	    RECEIVED_MS, sink_emit, s, err, errlen);
}

/* Expects body to be refused as malformed with exactly want. */
static void
expect_bad(const struct webhook_map *m, const char *body, const char *want)
{
	struct sink s = { .n = 0 };
	char err[512];

	assert_int_equal(map_body(m, body, &s, err, sizeof(err)),
	    WEBHOOK_MAP_BAD);
	assert_string_equal(err, want);
	sink_clear(&s);
}

static char *
data_of(const struct baton_event *ev)
{
	char *s = baton_event_data_json(ev);

	assert_non_null(s);
	return s;
}

static void
expect_data(const struct baton_event *ev, const char *want)
{
	char *s = data_of(ev);

	assert_string_equal(s, want);
	free(s);
}

/* ---- Signatures -------------------------------------------------------- */

static void
expect_sig(const char *header, const char *want)
{
	const char *body = "{\"a\":1}";
	struct digest_hmac *key = digest_hmac_new("s3cret", 6);
	char err[256] = "";
	int rc;

	assert_non_null(key);
	rc = webhook_signature_check(key, (const unsigned char *)body,
	    strlen(body), header, err, sizeof(err));
	digest_hmac_free(key);
	if (want == NULL) {
		assert_int_equal(rc, 0);
	} else {
		assert_int_equal(rc, -1);
		assert_string_equal(err, want);
	}
}

static void
test_signature(void **state)
{
	char hdr[128];

	(void)state;
	/* python3: hmac.new(b"s3cret", b'{"a":1}', "sha256").hexdigest() */
	snprintf(hdr, sizeof(hdr), "%s", sign("s3cret", "{\"a\":1}"));
	expect_sig(hdr, NULL);
	/* upper-case digits and scheme are accepted */
	for (char *p = hdr + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p -= 'a' - 'A';
	expect_sig(hdr, NULL);
	memcpy(hdr, "SHA256=", 7);
	expect_sig(hdr, NULL);

	expect_sig(NULL, "no X-Baton-Signature header");
	expect_sig(sign("other", "{\"a\":1}"), "X-Baton-Signature does not "
	    "match the body (another secret, or the body was changed)");
	expect_sig(sign("s3cret", "{\"a\":2}"), "X-Baton-Signature does not "
	    "match the body (another secret, or the body was changed)");
	snprintf(hdr, sizeof(hdr), "sha1=%s", sign("s3cret", "{\"a\":1}") + 7);
	expect_sig(hdr, "X-Baton-Signature: scheme \"sha1\" is not supported "
	    "(expected sha256=<hex>)");
	expect_sig(sign("s3cret", "{\"a\":1}") + 7,
	    "X-Baton-Signature: expected sha256=<hex>");
	expect_sig("", "X-Baton-Signature: expected sha256=<hex>");
	expect_sig("sha256=abcd", "X-Baton-Signature: expected 64 hex digits "
	    "after sha256=, got 4 characters");
	snprintf(hdr, sizeof(hdr), "%s0", sign("s3cret", "{\"a\":1}"));
	expect_sig(hdr, "X-Baton-Signature: expected 64 hex digits after "
	    "sha256=, got 65 characters");
	snprintf(hdr, sizeof(hdr), "%s", sign("s3cret", "{\"a\":1}"));
	hdr[20] = 'g';
	expect_sig(hdr, "X-Baton-Signature: not hexadecimal");
}

/* ---- Building a mapping ------------------------------------------------ */

static void
expect_add_error(const char *field, const char *path, const char *want)
{
	struct webhook_map *m = webhook_map_new();
	char err[512] = "";

	assert_int_equal(webhook_map_add(m, field, path, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	webhook_map_free(m);
}

static void
expect_check_error(const char *const *kv, const char *want_key,
    const char *want)
{
	struct webhook_map *m = webhook_map_new();
	const char *key = "unset";
	char err[512] = "";

	for (; *kv != NULL; kv++) {
		const char *eq = strchr(*kv, '=');

		char field[64];

		snprintf(field, sizeof(field), "%.*s", (int)(eq - *kv - 4),
		    *kv + 4);
		if (strncmp(*kv, "event=", 6) == 0)
			assert_int_equal(webhook_map_set_event(m, eq + 1, err,
			    sizeof(err)), 0);
		else
			assert_int_equal(webhook_map_add(m, field, eq + 1,
			    err, sizeof(err)), 0);
	}
	assert_int_equal(webhook_map_check(m, &key, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	if (want_key == NULL)
		assert_null(key);
	else
		assert_string_equal(key, want_key);
	webhook_map_free(m);
}

static void
test_mapping_config(void **state)
{
	struct webhook_map *m;
	char err[512];

	(void)state;
	expect_add_error("colour", "c", "unknown field \"colour\" (known: type "
	    "email id at first_name last_name title company company_size "
	    "industry country phone activity form url status reason owner "
	    "stage amount currency outcome from, or custom.<name>)");
	expect_add_error("custom", "c", "a custom attribute is "
	    "map.custom.<name>, the name made of letters, digits, '_' and '-'");
	expect_add_error("custom.", "c", "a custom attribute is "
	    "map.custom.<name>, the name made of letters, digits, '_' and '-'");
	expect_add_error("custom.a.b", "c", "a custom attribute is "
	    "map.custom.<name>, the name made of letters, digits, '_' and '-'");
	expect_add_error("email", "contact..email",
	    "bad path \"contact..email\": column 9: empty segment");
	expect_add_error("title", "job[x]",
	    "bad path \"job[x]\": column 5: an index is a non-negative "
	    "integer in [ ]");
	expect_add_error("at", "", "bad path \"\": empty path");

	m = webhook_map_new();
	assert_int_equal(webhook_map_add(m, "email", "e", err, sizeof(err)), 0);
	assert_int_equal(webhook_map_add(m, "email", "f", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "map.email is set twice");
	assert_int_equal(webhook_map_add(m, "custom.plan", "p", err,
	    sizeof(err)), 0);
	assert_int_equal(webhook_map_add(m, "custom.plan", "q", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "map.custom.plan is set twice");
	assert_int_equal(webhook_map_set_event(m, "lead.scored", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "unknown event type \"lead.scored\" (one of "
	    "lead.upserted lead.activity lead.status deal.stage "
	    "lead.merged lead.forget)");
	assert_int_equal(webhook_map_set_items(m, "events[", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "bad path \"events[\": column 7: unclosed "
	    "'['");
	webhook_map_free(m);
	webhook_map_free(NULL);

	expect_check_error((const char *const[]){ "map.email=e", NULL }, NULL,
	    "no event type: set event = <type> (lead.upserted lead.activity "
	    "lead.status deal.stage lead.merged lead.forget) or map.type = "
	    "<path>");
	expect_check_error((const char *const[]){ "event=lead.upserted",
	    "map.type=t", "map.email=e", NULL }, "map.type",
	    "set either event or map.type, not both");
	expect_check_error((const char *const[]){ "event=lead.upserted",
	    "map.first_name=n", NULL }, NULL, "missing required key "
	    "'map.email' (the path of the lead's email address in an event)");
	expect_check_error((const char *const[]){ "event=lead.activity",
	    "map.email=e", NULL }, "event",
	    "lead.activity events need map.activity");
	expect_check_error((const char *const[]){ "event=lead.status",
	    "map.email=e", NULL }, "event", "lead.status events need map.status");
	expect_check_error((const char *const[]){ "event=deal.stage",
	    "map.email=e", "map.amount=a", NULL }, "event",
	    "deal.stage events need map.stage");
}

/* ---- Mapping bodies ---------------------------------------------------- */

static void
test_single_event(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=contact.email",
	    "map.first_name=contact.name.first", "map.company=org",
	    "map.company_size=size", "map.custom.plan=plan",
	    "map.custom.tags=tags", "map.id=id", NULL });
	struct sink s = { .n = 0 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "{\"id\": \"u-1\", \"contact\": "
	    "{\"email\": \"  Ada@Example.COM \", \"name\": {\"first\": "
	    "\"Ada\"}}, \"org\": \"Analytical\", \"size\": 250, "
	    "\"plan\": \"pro\", \"tags\": [\"a\", {\"b\": true}]}", &s, err,
	    sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0]->type, "lead.upserted");
	assert_string_equal(s.ev[0]->lead, "ada@example.com");
	assert_string_equal(s.ev[0]->id, "u-1");
	assert_int_equal(s.ev[0]->at_ms, RECEIVED_MS);
	assert_null(s.ev[0]->source);
	expect_data(s.ev[0], "{\"company\":\"Analytical\",\"company_size\":"
	    "250,\"custom\":{\"plan\":\"pro\",\"tags\":[\"a\",{\"b\":true}]},"
	    "\"email\":\"ada@example.com\",\"first_name\":\"Ada\"}");
	sink_clear(&s);

	/* absent attributes are left out; null is kept as null */
	assert_int_equal(map_body(m, "{\"id\": 7, \"contact\": {\"email\": "
	    "\"b@c.de\"}, \"org\": null}", &s, err, sizeof(err)),
	    WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0]->id, "7");
	expect_data(s.ev[0], "{\"company\":null,\"email\":\"b@c.de\"}");
	sink_clear(&s);

	expect_bad(m, "{\"id\": 1, \"contact\": {\"email\": \"b@c.de\"}, "
	    "\"org\": {\"name\": \"x\"}}", "event 0: map.company (org): "
	    "expected a string, number or boolean, got an object");
	expect_bad(m, "[{\"id\": 1}]", "expected a JSON object, got an array");
	webhook_map_free(m);
}

static void
test_lead_key(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=contact.email", NULL });
	struct sink s = { .n = 0 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "{\"contact\": {\"email\": "
	    "\"  Ada@Example.COM \"}}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_string_equal(s.ev[0]->lead, "ada@example.com");
	expect_data(s.ev[0], "{\"email\":\"ada@example.com\"}");
	sink_clear(&s);

	expect_bad(m, "{\"contact\": {}}",
	    "event 0: map.email (contact.email): missing");
	expect_bad(m, "{\"contact\": {\"email\": null}}",
	    "event 0: map.email (contact.email): missing");
	expect_bad(m, "{\"contact\": \"ada@example.com\"}",
	    "event 0: map.email (contact.email): missing");
	expect_bad(m, "{\"contact\": {\"email\": 42}}",
	    "event 0: map.email (contact.email): expected a string, got an "
	    "integer");
	expect_bad(m, "{\"contact\": {\"email\": \"ada.example.com\"}}",
	    "event 0: map.email (contact.email): not an email address: "
	    "no '@'");
	expect_bad(m, "{\"contact\": {\"email\": \"   \"}}",
	    "event 0: map.email (contact.email): not an email address: empty");
	expect_bad(m, "{\"contact\": {\"email\": \"a b@example.com\"}}",
	    "event 0: map.email (contact.email): not an email address: "
	    "contains white space or a control character");
	expect_bad(m, "{\"contact\": {\"email\": \"ada@localhost\"}}",
	    "event 0: map.email (contact.email): not an email address: "
	    "domain has no '.'");
	webhook_map_free(m);
}

static void
test_items(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "items=data.events", "event=lead.activity",
	    "map.email=who[0].email", "map.activity=kind",
	    "map.url=page.2", "map.id=id", NULL });
	struct sink s = { .n = 0 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "{\"data\": {\"events\": ["
	    "{\"id\": \"a\", \"kind\": \"page_view\", \"who\": [{\"email\": "
	    "\"x@y.io\"}], \"page\": [\"/\", \"/docs\", \"/pricing\"]},"
	    "{\"id\": \"b\", \"kind\": \"email_open\", \"who\": [{\"email\": "
	    "\"z@y.io\"}, {\"email\": \"ignored@y.io\"}]}]}}", &s, err,
	    sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ev[0]->id, "a");
	assert_string_equal(s.ev[0]->lead, "x@y.io");
	expect_data(s.ev[0], "{\"activity\":\"page_view\",\"email\":"
	    "\"x@y.io\",\"url\":\"/pricing\"}");
	assert_string_equal(s.ev[1]->id, "b");
	assert_string_equal(s.ev[1]->lead, "z@y.io");
	expect_data(s.ev[1], "{\"activity\":\"email_open\",\"email\":"
	    "\"z@y.io\"}");
	sink_clear(&s);

	/* an empty batch is fine and yields nothing */
	assert_int_equal(map_body(m, "{\"data\": {\"events\": []}}", &s, err,
	    sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 0);

	/* the first bad event stops the mapping and is named */
	assert_int_equal(map_body(m, "{\"data\": {\"events\": ["
	    "{\"id\": \"a\", \"kind\": \"page_view\", \"who\": [{\"email\": "
	    "\"x@y.io\"}]},"
	    "{\"id\": \"b\", \"kind\": \"page_view\", \"who\": [{\"email\": "
	    "\"x@y.io\"}]},"
	    "{\"id\": \"c\", \"kind\": \"Page View\", \"who\": [{\"email\": "
	    "\"x@y.io\"}]}]}}", &s, err, sizeof(err)), WEBHOOK_MAP_BAD);
	assert_string_equal(err, "event 2: map.activity (kind): \"Page View\" "
	    "is not a name of 1 to 64 characters a-z 0-9 _ . -");
	sink_clear(&s);

	expect_bad(m, "{\"data\": {\"events\": [{\"id\": \"a\", \"who\": "
	    "[{\"email\": \"x@y.io\"}]}]}}", "event 0: map.activity (kind): "
	    "missing (lead.activity needs it)");
	expect_bad(m, "{\"data\": {}}", "items (data.events): missing");
	expect_bad(m, "{\"data\": {\"events\": {\"id\": 1}}}",
	    "items (data.events): expected an array, got an object");
	expect_bad(m, "{\"data\": {\"events\": [\"x\"]}}",
	    "event 0: expected an object, got a string");
	expect_bad(m, "[]", "items (data.events): missing");
	webhook_map_free(m);
}

static void
test_items_root(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "items=.", "event=lead.upserted", "map.email=e", NULL });
	struct sink s = { .n = 0 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "[{\"e\": \"a@b.co\"}, {\"e\": "
	    "\"c@d.co\"}]", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ev[1]->lead, "c@d.co");
	sink_clear(&s);
	expect_bad(m, "{\"e\": \"a@b.co\"}",
	    "items (.): expected an array, got an object");
	webhook_map_free(m);
}

static void
test_map_type(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "items=events", "map.type=type", "map.email=email",
	    "map.status=state", "map.stage=deal.stage",
	    "map.amount=deal.amount", "map.outcome=deal.outcome",
	    "map.id=id", NULL });
	struct sink s = { .n = 0 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "{\"events\": ["
	    "{\"id\": 1, \"type\": \"lead.status\", \"email\": \"a@b.co\", "
	    "\"state\": \"working\"},"
	    "{\"id\": 2, \"type\": \"deal.stage\", \"email\": \"a@b.co\", "
	    "\"deal\": {\"stage\": \"closed\", \"amount\": 1200.5, "
	    "\"outcome\": \"won\"}},"
	    "{\"id\": 3, \"type\": \"lead.upserted\", \"email\": \"a@b.co\"}"
	    "]}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ev[0]->type, "lead.status");
	expect_data(s.ev[0], "{\"email\":\"a@b.co\",\"status\":\"working\"}");
	assert_string_equal(s.ev[1]->type, "deal.stage");
	expect_data(s.ev[1], "{\"amount\":1200.5,\"email\":\"a@b.co\","
	    "\"outcome\":\"won\",\"stage\":\"closed\"}");
	assert_string_equal(s.ev[2]->type, "lead.upserted");
	sink_clear(&s);

	expect_bad(m, "{\"events\": [{\"id\": 1, \"email\": \"a@b.co\"}]}",
	    "event 0: map.type (type): missing");
	expect_bad(m, "{\"events\": [{\"id\": 1, \"type\": 3, \"email\": "
	    "\"a@b.co\"}]}",
	    "event 0: map.type (type): expected a string, got an integer");
	expect_bad(m, "{\"events\": [{\"id\": 1, \"type\": \"lead.scored\", "
	    "\"email\": \"a@b.co\"}]}", "event 0: map.type (type): unknown "
	    "event type \"lead.scored\" (one of lead.upserted lead.activity "
	    "lead.status deal.stage lead.merged lead.forget)");
	expect_bad(m, "{\"events\": [{\"id\": 1, \"type\": \"lead.status\", "
	    "\"email\": \"a@b.co\", \"state\": \"Hot\"}]}",
	    "event 0: map.status (state): \"Hot\" is not one of open working "
	    "qualified unqualified converted");
	expect_bad(m, "{\"events\": [{\"id\": 1, \"type\": \"deal.stage\", "
	    "\"email\": \"a@b.co\", \"deal\": {\"stage\": \"x\", \"amount\": "
	    "\"12\"}}]}", "event 0: map.amount (deal.amount): expected a "
	    "number, got a string");
	webhook_map_free(m);
}

static void
test_ids(void **state)
{
	struct webhook_map *hashed = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=e", NULL });
	struct webhook_map *m = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=e", "map.id=meta.id", NULL });
	unsigned char d[DIGEST_SHA256_LEN];
	char want[2 * DIGEST_SHA256_LEN + 1], err[512], longid[300];
	const char *canon = "{\"e\":\"a@b.co\",\"n\":{\"x\":1,\"y\":[2,3]}}";
	struct sink s = { .n = 0 };

	(void)state;
	/* without map.id: the SHA-256 of the event's sorted compact JSON,
	 * whatever the key order and white space it arrived with */
	assert_int_equal(digest_sha256(canon, strlen(canon), d), 0);
	digest_hex(d, sizeof(d), want);
	assert_int_equal(map_body(hashed, "{\"n\": {\"y\": [2, 3], \"x\": 1}, "
	    "\"e\": \"a@b.co\"}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(map_body(hashed, "{\"e\":\"a@b.co\",\"n\":{\"x\":1,"
	    "\"y\":[2,3]}}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(map_body(hashed, "{\"e\":\"a@b.co\",\"n\":{\"x\":2,"
	    "\"y\":[2,3]}}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ev[0]->id, want);
	assert_string_equal(s.ev[1]->id, want);
	assert_string_not_equal(s.ev[2]->id, want);
	sink_clear(&s);

	assert_int_equal(map_body(m, "{\"e\": \"a@b.co\", \"meta\": {\"id\": "
	    "-12}}", &s, err, sizeof(err)), WEBHOOK_MAP_OK);
	assert_string_equal(s.ev[0]->id, "-12");
	sink_clear(&s);
	expect_bad(m, "{\"e\": \"a@b.co\"}", "event 0: map.id (meta.id): "
	    "missing");
	expect_bad(m, "{\"e\": \"a@b.co\", \"meta\": {\"id\": 1.5}}",
	    "event 0: map.id (meta.id): expected a string or an integer, got "
	    "a number with a fraction");
	expect_bad(m, "{\"e\": \"a@b.co\", \"meta\": {\"id\": \"\"}}",
	    "event 0: map.id (meta.id): empty");
	memset(longid, 'x', 257);
	longid[257] = '\0';
	{
		char body[400];

		snprintf(body, sizeof(body), "{\"e\": \"a@b.co\", \"meta\": "
		    "{\"id\": \"%s\"}}", longid);
		expect_bad(m, body, "event 0: map.id (meta.id): longer than "
		    "256 bytes");
	}
	webhook_map_free(hashed);
	webhook_map_free(m);
}

static void
expect_at(const struct webhook_map *m, const char *ts_json, int64_t want)
{
	struct sink s = { .n = 0 };
	char body[256], err[512];

	snprintf(body, sizeof(body), "{\"e\": \"a@b.co\", \"ts\": %s}",
	    ts_json);
	if (map_body(m, body, &s, err, sizeof(err)) != WEBHOOK_MAP_OK)
		fail_msg("%s: %s", ts_json, err);
	assert_int_equal(s.n, 1);
	if (s.ev[0]->at_ms != want)
		fail_msg("%s: %lld, want %lld", ts_json,
		    (long long)s.ev[0]->at_ms, (long long)want);
	sink_clear(&s);
}

static void
test_timestamps(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=e", "map.at=ts", NULL });

	(void)state;
	expect_at(m, "1795444084", INT64_C(1795444084000));
	expect_at(m, "1795444084123", INT64_C(1795444084123));
	expect_at(m, "1795444084.5", INT64_C(1795444084500));
	expect_at(m, "\"1795444084\"", INT64_C(1795444084000));
	expect_at(m, "\"1795444084123\"", INT64_C(1795444084123));
	expect_at(m, "\"2026-11-23T14:28:04Z\"", INT64_C(1795444084000));
	expect_at(m, "\"2026-11-23T14:28:04.123+01:00\"",
	    INT64_C(1795440484123));
	expect_at(m, "\"2024-02-29T23:59:59.5-05:30\"",
	    INT64_C(1709270999500));
	/* absent or null: the time of receipt */
	expect_at(m, "null", RECEIVED_MS);
	{
		struct sink s = { .n = 0 };
		char err[512];

		assert_int_equal(map_body(m, "{\"e\": \"a@b.co\"}", &s, err,
		    sizeof(err)), WEBHOOK_MAP_OK);
		assert_int_equal(s.ev[0]->at_ms, RECEIVED_MS);
		sink_clear(&s);
	}
	expect_bad(m, "{\"e\": \"a@b.co\", \"ts\": \"2025-02-29T00:00:00Z\"}",
	    "event 0: map.at (ts): \"2025-02-29T00:00:00Z\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_bad(m, "{\"e\": \"a@b.co\", \"ts\": \"2026-11-23T14:28:04\"}",
	    "event 0: map.at (ts): \"2026-11-23T14:28:04\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_bad(m, "{\"e\": \"a@b.co\", \"ts\": \"last tuesday\"}",
	    "event 0: map.at (ts): \"last tuesday\" is not a time "
	    "(epoch seconds, epoch milliseconds or RFC 3339)");
	expect_bad(m, "{\"e\": \"a@b.co\", \"ts\": -5}",
	    "event 0: map.at (ts): -5 is before 1970");
	expect_bad(m, "{\"e\": \"a@b.co\", \"ts\": true}",
	    "event 0: map.at (ts): expected a number or a string, got a "
	    "boolean");
	webhook_map_free(m);
}

static void
test_json_errors(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "event=lead.upserted", "map.email=e", NULL });
	char deep[5000];

	(void)state;
	expect_bad(m, "", "invalid JSON at line 1, column 0: '[' or '{' "
	    "expected near end of file");
	expect_bad(m, "{\"e\": ", "invalid JSON at line 1, column 6: "
	    "unexpected token near end of file");
	expect_bad(m, "{\"e\": \"a@b.co\",\n \"e\": \"c@d.co\"}",
	    "invalid JSON at line 2, column 4: duplicate object key near "
	    "'\"e\"'");
	expect_bad(m, "\"a@b.co\"", "invalid JSON at line 1, column 8: '[' or "
	    "'{' expected near '\"a@b.co\"'");
	expect_bad(m, "{\"e\": \"a\\u0000@b.co\"}", "invalid JSON at line 1, "
	    "column 20: \\u0000 is not allowed without JSON_ALLOW_NUL near "
	    "'\"a\\u0000@b.co\"'");
	/* nesting beyond jansson's limit is refused, not recursed into */
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	{
		struct sink s = { .n = 0 };
		char err[512];

		assert_int_equal(map_body(m, deep, &s, err, sizeof(err)),
		    WEBHOOK_MAP_BAD);
		assert_non_null(strstr(err, "maximum parsing depth"));
	}
	webhook_map_free(m);
}

static void
test_emit_refused(void **state)
{
	struct webhook_map *m = mapping((const char *const[]){
	    "items=.", "event=lead.upserted", "map.email=e", NULL });
	struct sink s = { .n = 0, .limit = 2 };
	char err[512];

	(void)state;
	assert_int_equal(map_body(m, "[{\"e\": \"a@b.co\"}, {\"e\": \"a@b.co\"},"
	    " {\"e\": \"a@b.co\"}]", &s, err, sizeof(err)), WEBHOOK_MAP_EMIT);
	assert_int_equal(s.n, 2);
	sink_clear(&s);
	webhook_map_free(m);
}

/* ---- End to end: configuration ----------------------------------------- */


static void
test_conf_errors(void **state)
{
	(void)state;
	unsetenv("BATON_TEST_HOOK_SECRET");
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\nevent = lead.upserted\nmap.email = e\n",
	    (const char *const[]){ "test.conf:1: [webhook:web] secret: no "
	    "secret: set secret = env:VAR (or insecure = yes for local "
	    "testing only)", NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\nsecret = \"\"\nevent = lead.upserted\n"
	    "map.email = e\n", (const char *const[]){ "test.conf:4: "
	    "[webhook:web] secret: empty secret", NULL });
	/* several mistakes at once, each at its own line */
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = sales\nsecret = s\nevent = lead.scored\n"
	    "items = a..b\nmap.email = contact.[0]\nmap.colour = c\n"
	    "map.custom.x = ok\n", (const char *const[]){
	    "test.conf:5: [webhook:web] event: unknown event type "
	    "\"lead.scored\" (one of lead.upserted lead.activity lead.status "
	    "deal.stage lead.merged lead.forget)",
	    "test.conf:6: [webhook:web] items: bad path \"a..b\": column 3: "
	    "empty segment",
	    "test.conf:7: [webhook:web] map.email: bad path \"contact.[0]\": "
	    "column 9: empty segment",
	    "test.conf:8: [webhook:web] map.colour: unknown field \"colour\" "
	    "(known: type email id at first_name last_name title company "
	    "company_size industry country phone activity form url status "
	    "reason owner stage amount currency outcome from, or custom.<name>)",
	    NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\nsecret = s\nevent = lead.upserted\n"
	    "map.type = t\nmap.email = e\n", (const char *const[]){
	    "test.conf:6: [webhook:web] map.type: set either event or "
	    "map.type, not both", NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\nsecret = s\nmap.email = e\n",
	    (const char *const[]){ "test.conf:1: [webhook:web] no event "
	    "type: set event = <type> (lead.upserted lead.activity "
	    "lead.status deal.stage lead.merged lead.forget) or map.type = "
	    "<path>", NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\nsecret = s\nevent = lead.upserted\n"
	    "map.first_name = n\n", (const char *const[]){ "test.conf:1: "
	    "[webhook:web] missing required key 'map.email' (the path of the "
	    "lead's email address in an event)", NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = marketing\ninsecure = yes\nevent = lead.activity\n"
	    "map.email = e\n", (const char *const[]){ "test.conf:5: "
	    "[webhook:web] event: lead.activity events need map.activity",
	    NULL });
	expect_conf_errors("[connector web]\ntype = webhook\n"
	    "role = notify\ninsecure = yes\nevent = lead.upserted\n"
	    "map.email = e\n", (const char *const[]){ "test.conf:3: role "
	    "'notify' is not one connector type 'webhook' plays (marketing, "
	    "sales)", NULL });
}

/* ---- End to end: requests ---------------------------------------------- */

/* Runs one request; sig NULL sends no signature header. */
static int
post(struct connector_instance *ci, const char *body, const char *sig,
    struct webhook_call **out)
{
	struct webhook_call *call;

	call = webhook_call_new(ci, "POST", "/hooks/website", body,
	    strlen(body), RECEIVED_MS);
	assert_non_null(call);
	if (sig != NULL)
		assert_int_equal(webhook_call_add_header(call,
		    "x-baton-signature", sig), 0);
	*out = call;
	return webhook_call_parse(call);
}

static char *
read_file(const char *name)
{
	char path[512], *buf;
	long n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/webhook/%s", BATON_TEST_DATA, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
test_spec_example(void **state)
{
	char *conf = read_file("website.conf"), *body = read_file("batch.json");
	struct webhook_call *call;
	struct loaded l;
	char hdr[128];

	(void)state;
	setenv("BATON_TEST_HOOK_SECRET", "topsecret", 1);
	load(&l, conf);
	assert_non_null(l.ci);
	assert_int_equal(diag_count(&l.d), 0);

	assert_int_equal(post(l.ci, body, sign("topsecret", body), &call), 200);
	assert_null(webhook_call_error(call));
	assert_int_equal(webhook_call_nevents(call), 3);
	{
		const struct baton_event *e0 = webhook_call_event(call, 0);
		const struct baton_event *e1 = webhook_call_event(call, 1);
		const struct baton_event *e2 = webhook_call_event(call, 2);

		assert_string_equal(e0->type, "lead.activity");
		assert_string_equal(e0->lead, "ada@example.com");
		assert_string_equal(e0->id, "ev-1");
		assert_int_equal(e0->at_ms, INT64_C(1795440484123));
		expect_data(e0, "{\"activity\":\"form_submit\",\"email\":"
		    "\"ada@example.com\",\"form\":\"demo-request\"}");
		assert_string_equal(e1->id, "2");
		assert_string_equal(e1->lead, "grace@example.org");
		assert_int_equal(e1->at_ms, INT64_C(1795444084000));
		expect_data(e1, "{\"activity\":\"page_view\",\"email\":"
		    "\"grace@example.org\"}");
		assert_string_equal(e2->id, "ev-3");
		assert_int_equal(e2->at_ms, INT64_C(1795444084123));
	}
	webhook_call_free(call);

	/* the same body: missing, wrong, truncated, sha1 signatures */
	assert_int_equal(post(l.ci, body, NULL, &call), 401);
	assert_string_equal(webhook_call_error(call),
	    "no X-Baton-Signature header");
	assert_int_equal(webhook_call_nevents(call), 0);
	webhook_call_free(call);

	assert_int_equal(post(l.ci, body, sign("wrong", body), &call), 401);
	assert_string_equal(webhook_call_error(call), "X-Baton-Signature does "
	    "not match the body (another secret, or the body was changed)");
	webhook_call_free(call);

	snprintf(hdr, sizeof(hdr), "%.70s", sign("topsecret", body));
	assert_int_equal(post(l.ci, body, hdr, &call), 401);
	assert_string_equal(webhook_call_error(call), "X-Baton-Signature: "
	    "expected 64 hex digits after sha256=, got 63 characters");
	webhook_call_free(call);

	snprintf(hdr, sizeof(hdr), "sha1=%s", sign("topsecret", body) + 7);
	assert_int_equal(post(l.ci, body, hdr, &call), 401);
	assert_string_equal(webhook_call_error(call), "X-Baton-Signature: "
	    "scheme \"sha1\" is not supported (expected sha256=<hex>)");
	webhook_call_free(call);

	/* a signature is checked before the body is looked at */
	assert_int_equal(post(l.ci, "not json", sign("x", "y"), &call), 401);
	webhook_call_free(call);
	assert_int_equal(post(l.ci, "not json", sign("topsecret", "not json"),
	    &call), 400);
	assert_string_equal(webhook_call_error(call), "invalid JSON at line 1, "
	    "column 3: '[' or '{' expected near 'not'");
	webhook_call_free(call);

	unload(&l);
	unsetenv("BATON_TEST_HOOK_SECRET");
	free(conf);
	free(body);
}

static const char batch_conf[] =
    "[connector website]\n"
    "type = webhook\n"
    "role = marketing\n"
    "secret = s3cret\n"
    "items = events\n"
    "event = lead.activity\n"
    "map.email = contact.email\n"
    "map.activity = kind\n";

static void
test_batch_all_or_nothing(void **state)
{
	const char *body = "{\"events\": ["
	    "{\"kind\": \"page_view\", \"contact\": {\"email\": \"a@b.co\"}},"
	    "{\"kind\": \"page_view\", \"contact\": {\"email\": \"c@d.co\"}},"
	    "{\"kind\": \"page_view\", \"contact\": {\"email\": \"e@f.co\"}},"
	    "{\"kind\": \"page_view\", \"contact\": {}}"
	    "]}";
	struct webhook_call *call;
	struct loaded l;

	(void)state;
	load(&l, batch_conf);
	assert_non_null(l.ci);
	assert_int_equal(post(l.ci, body, sign("s3cret", body), &call), 400);
	assert_string_equal(webhook_call_error(call),
	    "event 3: map.email (contact.email): missing");
	assert_int_equal(webhook_call_nevents(call), 0);
	webhook_call_free(call);
	unload(&l);
}

static void
test_too_many_events(void **state)
{
	struct webhook_call *call;
	struct loaded l;
	size_t cap = 1001 * 64 + 64, n = 0;
	char *body = malloc(cap);

	(void)state;
	assert_non_null(body);
	n += (size_t)snprintf(body + n, cap - n, "{\"events\": [");
	for (int i = 0; i < 1001; i++)
		n += (size_t)snprintf(body + n, cap - n, "%s{\"kind\": \"x\", "
		    "\"contact\": {\"email\": \"a%d@b.co\"}}", i ? "," : "", i);
	snprintf(body + n, cap - n, "]}");

	load(&l, batch_conf);
	assert_non_null(l.ci);
	assert_int_equal(post(l.ci, body, sign("s3cret", body), &call), 400);
	assert_string_equal(webhook_call_error(call),
	    "too many events in one request (at most 1000)");
	assert_int_equal(webhook_call_nevents(call), 0);
	webhook_call_free(call);
	unload(&l);
	free(body);
}

static void
test_insecure(void **state)
{
	const char *body = "{\"e\": \"Ada@Example.com\"}";
	struct webhook_call *call;
	struct loaded l;

	(void)state;
	/* insecure without a secret: nothing to check */
	load(&l, "[connector dev]\ntype = webhook\nrole = sales\n"
	    "insecure = yes\nevent = lead.upserted\nmap.email = e\n");
	assert_non_null(l.ci);
	assert_int_equal(connector_role(l.ci), CONNECTOR_ROLE_SALES);
	assert_int_equal(post(l.ci, body, NULL, &call), 200);
	assert_int_equal(webhook_call_nevents(call), 1);
	assert_string_equal(webhook_call_event(call, 0)->lead,
	    "ada@example.com");
	webhook_call_free(call);
	unload(&l);

	/* a secret that is set is always checked */
	load(&l, "[connector dev]\ntype = webhook\nrole = sales\n"
	    "insecure = yes\nsecret = k\nevent = lead.upserted\n"
	    "map.email = e\n");
	assert_non_null(l.ci);
	assert_int_equal(post(l.ci, body, NULL, &call), 401);
	webhook_call_free(call);
	assert_int_equal(post(l.ci, body, sign("k", body), &call), 200);
	webhook_call_free(call);
	unload(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_mapping_config),
		cmocka_unit_test(test_single_event),
		cmocka_unit_test(test_lead_key),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_items_root),
		cmocka_unit_test(test_map_type),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_emit_refused),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_batch_all_or_nothing),
		cmocka_unit_test(test_too_many_events),
		cmocka_unit_test(test_insecure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
