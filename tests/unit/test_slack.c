/*
 * test_slack.c - the Slack connector (connectors/slack/).
 *
 * First its pure side (slack_message.c) called directly: the exact
 * webhook body of a sample handoff and a sample breach, escaping,
 * missing and mistyped fields, caps, the record link; the URL checks;
 * the verdict on Slack's answers.  Then the connector as batond runs it:
 * configuration mistakes through connector_instance_new(), and deliver()
 * and stop() against an evhttp server in this process, playing Slack's
 * answers (200 ok, 429 with Retry-After, 400 invalid_payload, no answer).
 *
 * deliver() gets a batch built here the way daemon/delivery_batch.c
 * builds one (delivery_int.h), so the core's own delivery_* functions
 * record the results; no Redis is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <jansson.h>

#include <baton/connector.h>
#include <baton/event.h>
#include <baton/http_client.h>

#include "connector_load.h"
#include "connectors.h"
#include "delivery_int.h"
#include "diag.h"
#include "ini.h"

#include "../../connectors/slack/slack_message.h"

#include "loop_wait.h"

#define BULLET "\xe2\x80\xa2"
#define ELLIPSIS "\xe2\x80\xa6"

/* ---- A batch as the delivery core makes it ------------------------------ */

/*
 * The connector is handed a real struct delivery_batch (delivery_int.h)
 * whose items are built here, and the real delivery_* functions record
 * its results; delivery_complete() activates ev_batch_done, which here
 * only counts.  No Redis is involved.
 */
#define FAKE_MAX 8

struct batch {
	struct delivery d;              /* only ev_batch_done is used */
	struct delivery_batch b;
	struct ditem it[FAKE_MAX];
	struct ditem *items[FAKE_MAX];
	struct dresult res[FAKE_MAX];
	char id[FAKE_MAX][32];
	int completed;                  /* ev_batch_done ran */
};

static void
batch_done(evutil_socket_t fd, short what, void *arg)
{
	struct batch *t = arg;

	(void)fd;
	(void)what;
	t->completed++;
}

static void
batch_init(struct batch *t, struct event_base *base)
{
	memset(t, 0, sizeof(*t));
	assert_non_null(t->d.ev_batch_done = event_new(base, -1, 0,
	    batch_done, t));
	t->b.d = &t->d;
	t->b.items = t->items;
	t->b.res = t->res;
}

static void
batch_add(struct batch *t, const char *type, const char *lead,
    const char *data)
{
	json_t *d = json_loads(data, 0, NULL);
	size_t n = t->b.n;

	assert_non_null(d);
	assert_true(n < FAKE_MAX);
	snprintf(t->id[n], sizeof(t->id[n]), "1763900000000-%zu", n);
	t->it[n].entry_id = t->id[n];
	assert_non_null(t->it[n].ev = baton_event_new(type, lead, "e", 0, d));
	t->items[n] = &t->it[n];
	t->b.n++;
}

/* Empties the batch for another deliver() call. */
static void
batch_clear(struct batch *t)
{
	for (size_t i = 0; i < t->b.n; i++) {
		baton_event_free(t->it[i].ev);
		free(t->res[i].msg);
		free(t->res[i].record_id);
	}
	memset(t->it, 0, sizeof(t->it));
	memset(t->res, 0, sizeof(t->res));
	t->b.n = 0;
	t->b.completed = false;
	t->completed = 0;
}

static void
batch_free(struct batch *t)
{
	batch_clear(t);
	if (t->d.ev_batch_done != NULL)
		event_free(t->d.ev_batch_done);
	t->d.ev_batch_done = NULL;
}

/* Item i's result message ("" when none). */
static const char *
res_msg(const struct batch *t, size_t i)
{
	return t->res[i].msg != NULL ? t->res[i].msg : "";
}

/* ---- Samples --------------------------------------------------------------- */

/* A handoff.mql as daemon/lead_apply.c writes it. */
static const char sample_handoff[] =
    "{\"episode\": 1, \"score\": 72.5, \"fit\": 35, \"engagement\": 37.5,"
    " \"stage\": \"mql\", \"attrs\": {\"email\": \"ada@example.com\","
    " \"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
    " \"title\": \"VP Engineering\", \"company\": \"Analytical Engines\","
    " \"company_size\": 250}, \"ids\": {\"hubspot\": \"501\","
    " \"salesforce\": \"00Q5e00000AbCdE\"}, \"owner\": \"jo@acme.test\","
    " \"reasons\": [\"+20 if title ~ \\\"vp|director\\\" (rules.conf:2)\","
    " \"+40 on form_submit where form == \\\"demo-request\\\" "
    "(rules.conf:5)\"], \"event\": \"1763900100000-0\"}";

static const char sample_handoff_body[] =
    "{\"text\":\"*New MQL:* Ada Lovelace (ada@example.com)\\n"
    "*Title:* VP Engineering\\n"
    "*Company:* Analytical Engines (250 employees)\\n"
    "*Score:* 72.5 (fit 35, engagement 37.5)\\n"
    "*Why:*\\n"
    BULLET " +20 if title ~ \\\"vp|director\\\" (rules.conf:2)\\n"
    BULLET " +40 on form_submit where form == \\\"demo-request\\\" "
    "(rules.conf:5)\\n"
    "*Owner:* jo@acme.test\\n"
    "*CRM record:* <https://acme.lightning.force.com/lightning/r/Lead/"
    "00Q5e00000AbCdE/view|salesforce 00Q5e00000AbCdE>\","
    "\"unfurl_links\":false}";

/* An sla.breached as daemon/lead_apply.c writes it. */
static const char sample_breach[] =
    "{\"sla\": \"accept\", \"episode\": 1, \"after\": \"mql\","
    " \"within_ms\": 86400000, \"deadline\": 1763986500000,"
    " \"on_breach\": [\"notify\", \"recycle\"], \"owner\": \"jo@acme.test\","
    " \"event\": \"sla:accept:1\"}";

static const char sample_breach_body[] =
    "{\"text\":\"*SLA breached:* accept for ada@example.com\\n"
    "*Limit:* 24h after mql (deadline 2025-11-24T12:15:00.000Z)\\n"
    "*Owner:* jo@acme.test\\n"
    "*On breach:* notify, recycle\",\"unfurl_links\":false}";

static const struct slack_message_opts sf_opts = {
	.record_url = "https://acme.lightning.force.com/lightning/r/Lead/"
	    "{id}/view",
	.record_source = "salesforce",
};

/* ---- Message building ------------------------------------------------------ */

/* Builds the body of (type, lead, data text) and returns its text field
 * (static buffer); checks the body's other keys. */
static const char *
text_of(const struct slack_message_opts *o, const char *type,
    const char *lead, const char *data)
{
	static char text[65536];
	json_t *d = json_loads(data, 0, NULL), *body;
	char *out = NULL, err[256];

	assert_non_null(d);
	assert_int_equal(slack_message_build(o, type, lead, d, &out, err,
	    sizeof(err)), SLACK_MESSAGE_OK);
	json_decref(d);
	assert_non_null(body = json_loads(out, 0, NULL));
	assert_int_equal(json_object_size(body), 2);
	assert_true(json_is_false(json_object_get(body, "unfurl_links")));
	snprintf(text, sizeof(text), "%s", json_string_value(json_object_get(
	    body, "text")));
	json_decref(body);
	free(out);
	return text;
}

static void
test_handoff_body(void **state)
{
	json_t *d = json_loads(sample_handoff, 0, NULL);
	char *out, err[256];

	(void)state;
	assert_int_equal(slack_message_build(&sf_opts, "handoff.mql",
	    "ada@example.com", d, &out, err, sizeof(err)), SLACK_MESSAGE_OK);
	assert_string_equal(out, sample_handoff_body);
	free(out);
	json_decref(d);
}

static void
test_breach_body(void **state)
{
	json_t *d = json_loads(sample_breach, 0, NULL);
	char *out, err[256];

	(void)state;
	/* The record options do not matter to a breach. */
	assert_int_equal(slack_message_build(&sf_opts, "sla.breached",
	    "ada@example.com", d, &out, err, sizeof(err)), SLACK_MESSAGE_OK);
	assert_string_equal(out, sample_breach_body);
	free(out);
	assert_int_equal(slack_message_build(NULL, "sla.breached",
	    "ada@example.com", d, &out, err, sizeof(err)), SLACK_MESSAGE_OK);
	assert_string_equal(out, sample_breach_body);
	free(out);
	json_decref(d);
}

static void
test_escaping(void **state)
{
	(void)state;
	/* & < > escaped everywhere a value goes; no mention, no link. */
	assert_string_equal(text_of(NULL, "handoff.mql", "x@example.com",
	    "{\"attrs\": {\"first_name\": \"<!channel>\", \"last_name\": "
	    "\"& co\", \"email\": \"x@example.com\", \"title\": "
	    "\"<https://evil.example|click>\", \"company\": \"A&B <Corp>\"},"
	    " \"reasons\": [\"x > 5 & y < 3\"], \"owner\": \"<@U123>\"}"),
	    "*New MQL:* &lt;!channel&gt; &amp; co (x@example.com)\n"
	    "*Title:* &lt;https://evil.example|click&gt;\n"
	    "*Company:* A&amp;B &lt;Corp&gt;\n"
	    "*Why:*\n" BULLET " x &gt; 5 &amp; y &lt; 3\n"
	    "*Owner:* &lt;@U123&gt;");
	/* Control characters become spaces; ends are trimmed. */
	assert_string_equal(text_of(NULL, "handoff.mql", NULL,
	    "{\"attrs\": {\"email\": \" a@example.com\\n\", \"title\": "
	    "\"VP\\nEngineering\\t\", \"company\": \"Acme\\u0007Corp\"}}"),
	    "*New MQL:* a@example.com\n*Title:* VP Engineering\n"
	    "*Company:* Acme Corp");
	/* A breach's fields too, and the lead key. */
	assert_string_equal(text_of(NULL, "sla.breached", "a&b@example.com",
	    "{\"sla\": \"<accept>\", \"owner\": \"R&D\", "
	    "\"on_breach\": [\"<notify>\"]}"),
	    "*SLA breached:* &lt;accept&gt; for a&amp;b@example.com\n"
	    "*Owner:* R&amp;D\n*On breach:* &lt;notify&gt;");
	/* Non-ASCII passes as it is. */
	assert_string_equal(text_of(NULL, "handoff.mql", NULL,
	    "{\"attrs\": {\"first_name\": \"Zo\u00eb\", \"email\": "
	    "\"zoe@example.com\", \"company\": \"M\u00fcller & S\u00f6hne\"}}"),
	    "*New MQL:* Zo\u00eb (zoe@example.com)\n"
	    "*Company:* M\u00fcller &amp; S\u00f6hne");
}

static void
test_missing_fields(void **state)
{
	(void)state;
	/* Nothing but the lead key. */
	assert_string_equal(text_of(NULL, "handoff.mql", "bob@example.com",
	    "{}"), "*New MQL:* bob@example.com");
	assert_string_equal(text_of(NULL, "handoff.mql", NULL, "{}"),
	    "*New MQL:* an unknown lead");
	assert_string_equal(text_of(NULL, "sla.breached", NULL, "{}"),
	    "*SLA breached:* for an unknown lead\n*Owner:* nobody assigned");
	assert_string_equal(text_of(NULL, "sla.breached", "bob@example.com",
	    "{\"sla\": \"accept\", \"within_ms\": 90000}"),
	    "*SLA breached:* accept for bob@example.com\n*Limit:* 1m 30s\n"
	    "*Owner:* nobody assigned");
	/* A name without an email; an email from the data over the key. */
	assert_string_equal(text_of(NULL, "handoff.mql", NULL,
	    "{\"attrs\": {\"last_name\": \"Hopper\"}}"),
	    "*New MQL:* Hopper");
	assert_string_equal(text_of(NULL, "handoff.mql", "key@example.com",
	    "{\"attrs\": {\"first_name\": \"Grace\", \"email\": "
	    "\"Grace@Example.com\"}}"),
	    "*New MQL:* Grace (Grace@Example.com)");
	/* Mistyped fields are left out: attrs not an object, reasons not
	 * an array or not strings, score without fit, ids not strings. */
	assert_string_equal(text_of(&sf_opts, "handoff.mql", "c@example.com",
	    "{\"attrs\": [1], \"reasons\": \"because\", \"score\": 60, "
	    "\"fit\": 20, \"owner\": {\"id\": 1}, \"ids\": "
	    "{\"salesforce\": 42}}"),
	    "*New MQL:* c@example.com\n*Score:* 60");
	assert_string_equal(text_of(NULL, "handoff.mql", "c@example.com",
	    "{\"reasons\": [1, null, \"\", \"  \", \"real\"], "
	    "\"attrs\": {\"title\": \"\", \"company\": null, "
	    "\"company_size\": 10}}"),
	    "*New MQL:* c@example.com\n*Why:*\n" BULLET " real");
	/* A breach with odd numbers. */
	assert_string_equal(text_of(NULL, "sla.breached", "c@example.com",
	    "{\"sla\": \"accept\", \"within_ms\": \"24h\", \"deadline\": 1,"
	    " \"on_breach\": \"notify\"}"),
	    "*SLA breached:* accept for c@example.com\n"
	    "*Owner:* nobody assigned");
	assert_string_equal(text_of(NULL, "sla.breached", "c@example.com",
	    "{\"within_ms\": 93600000, \"deadline\": 99999999999999999}"),
	    "*SLA breached:* for c@example.com\n*Limit:* 26h\n"
	    "*Owner:* nobody assigned");
	assert_string_equal(text_of(NULL, "sla.breached", "c@example.com",
	    "{\"within_ms\": 273600000, \"after\": \"sal\"}"),
	    "*SLA breached:* for c@example.com\n*Limit:* 3d 4h after sal\n"
	    "*Owner:* nobody assigned");
	assert_string_equal(text_of(NULL, "sla.breached", "c@example.com",
	    "{\"within_ms\": 850}"),
	    "*SLA breached:* for c@example.com\n*Limit:* 850ms\n"
	    "*Owner:* nobody assigned");
}

static void
test_episode_and_numbers(void **state)
{
	(void)state;
	assert_string_equal(text_of(NULL, "handoff.mql", "d@example.com",
	    "{\"episode\": 2, \"score\": 60.126, \"fit\": -10, "
	    "\"engagement\": 70.126}"),
	    "*New MQL (#2):* d@example.com\n"
	    "*Score:* 60.13 (fit -10, engagement 70.13)");
	assert_string_equal(text_of(NULL, "handoff.mql", "d@example.com",
	    "{\"episode\": 1, \"score\": 1e20, \"attrs\": "
	    "{\"company\": \"X\", \"company_size\": \"200-500\"}}"),
	    "*New MQL:* d@example.com\n*Company:* X (200-500 employees)\n"
	    "*Score:* 100000000000000000000");
}

static void
test_caps(void **state)
{
	char data[8192], want[8192], *p;
	const char *got;
	int n;

	(void)state;
	/* A long value: 300 bytes, cut before a split character, then …. */
	memset(want, 0, sizeof(want));
	n = snprintf(data, sizeof(data), "{\"attrs\": {\"title\": \"");
	memset(data + n, 'a', 299);
	snprintf(data + n + 299, sizeof(data) - (size_t)n - 299,
	    "\u00e9\u00e9zzz\"}}");
	got = text_of(NULL, "handoff.mql", "e@example.com", data);
	p = want + sprintf(want, "*New MQL:* e@example.com\n*Title:* ");
	memset(p, 'a', 299);
	strcpy(p + 299, ELLIPSIS);
	assert_string_equal(got, want);
	/* Twenty-five reasons: twenty shown. */
	p = data + sprintf(data, "{\"reasons\": [");
	for (int i = 0; i < 25; i++)
		p += sprintf(p, "%s\"r%d\"", i ? ", " : "", i);
	sprintf(p, "]}");
	p = want + sprintf(want, "*New MQL:* e@example.com\n*Why:*\n");
	for (int i = 0; i < 20; i++)
		p += sprintf(p, BULLET " r%d\n", i);
	sprintf(p, BULLET " " ELLIPSIS " and 5 more");
	assert_string_equal(text_of(NULL, "handoff.mql", "e@example.com",
	    data), want);
}

static void
test_record_link(void **state)
{
	struct slack_message_opts o = {
		.record_url = "https://crm.example/r?id={id}&x=1&again={id}",
	};

	(void)state;
	/* Default source: the first id by name; the id percent-encoded,
	 * & in the URL escaped. */
	assert_string_equal(text_of(&o, "handoff.mql", "f@example.com",
	    "{\"ids\": {\"zcrm\": \"9\", \"hubspot\": \"a b/c&d\"}}"),
	    "*New MQL:* f@example.com\n*CRM record:* "
	    "<https://crm.example/r?id=a%20b%2Fc%26d&amp;x=1&amp;again="
	    "a%20b%2Fc%26d|hubspot a b/c&amp;d>");
	/* The named source, absent: no line. */
	o.record_source = "salesforce";
	assert_string_equal(text_of(&o, "handoff.mql", "f@example.com",
	    "{\"ids\": {\"hubspot\": \"501\"}}"), "*New MQL:* f@example.com");
	assert_string_equal(text_of(&o, "handoff.mql", "f@example.com",
	    "{\"ids\": {\"hubspot\": \"501\", \"salesforce\": \"00Q1\"}}"),
	    "*New MQL:* f@example.com\n*CRM record:* "
	    "<https://crm.example/r?id=00Q1&amp;x=1&amp;again=00Q1|"
	    "salesforce 00Q1>");
	/* No template: the id as text. */
	assert_string_equal(text_of(NULL, "handoff.mql", "f@example.com",
	    "{\"ids\": {\"salesforce\": \"00Q1\", \"hubspot\": \"\"}}"),
	    "*New MQL:* f@example.com\n*CRM record:* salesforce 00Q1");
}

static void
test_skip_and_bad(void **state)
{
	json_t *arr = json_array(), *obj = json_object();
	char *out = (char *)1, err[256];

	(void)state;
	assert_int_equal(slack_message_build(NULL, "lead.scored", "a@b.c",
	    obj, &out, err, sizeof(err)), SLACK_MESSAGE_SKIP);
	assert_null(out);
	assert_string_equal(err, "no Slack message for type 'lead.scored'");
	assert_int_equal(slack_message_build(NULL, NULL, "a@b.c", obj, &out,
	    err, sizeof(err)), SLACK_MESSAGE_SKIP);
	assert_string_equal(err, "no Slack message for type '(none)'");
	assert_int_equal(slack_message_build(NULL, "handoff.mql", "a@b.c",
	    arr, &out, err, sizeof(err)), SLACK_MESSAGE_BAD);
	assert_null(out);
	assert_string_equal(err, "handoff.mql: data is not a JSON object");
	assert_int_equal(slack_message_build(NULL, "sla.breached", "a@b.c",
	    NULL, &out, err, sizeof(err)), SLACK_MESSAGE_BAD);
	assert_string_equal(err, "sla.breached: data is not a JSON object");
	json_decref(arr);
	json_decref(obj);
}

/* ---- URLs -------------------------------------------------------------------- */

static void
expect_url_error(int (*check)(const char *, char *, size_t),
    const char *url, const char *want)
{
	char err[256] = "";

	assert_int_equal(check(url, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
test_urls(void **state)
{
	char err[256], *u;

	(void)state;
	assert_int_equal(slack_url_check("https://hooks.slack.com/services/"
	    "T1/B1/x", err, sizeof(err)), 0);
	assert_int_equal(slack_url_check("HTTP://127.0.0.1:8080", err,
	    sizeof(err)), 0);
	expect_url_error(slack_url_check, "hooks.slack.com/services/x",
	    "not an http:// or https:// URL");
	expect_url_error(slack_url_check, "ftp://x/y",
	    "not an http:// or https:// URL");
	expect_url_error(slack_url_check, "https:///services",
	    "the URL has no host");
	expect_url_error(slack_url_check, "https://", "the URL has no host");
	expect_url_error(slack_url_check, "https://h/a b",
	    "the URL holds white space or a control character");

	assert_int_equal(slack_record_url_check("https://crm/{id}/view", err,
	    sizeof(err)), 0);
	expect_url_error(slack_record_url_check, "https://crm/view",
	    "no {id} where the record's id goes");
	expect_url_error(slack_record_url_check, "https://crm/{Id}",
	    "unknown placeholder at '{Id}' (only {id} is replaced)");
	expect_url_error(slack_record_url_check, "https://crm/{id}|x",
	    "'|' cannot be part of a Slack link");
	expect_url_error(slack_record_url_check, "https://crm/<{id}>",
	    "'<' cannot be part of a Slack link");
	expect_url_error(slack_record_url_check, "crm/{id}",
	    "not an http:// or https:// URL");

	assert_non_null(u = slack_post_url("https://hooks.slack.com/services/"
	    "T1/B1/s?x=1#frag", NULL, err, sizeof(err)));
	assert_string_equal(u, "https://hooks.slack.com/services/T1/B1/s?x=1"
	    "#frag");
	free(u);
	assert_non_null(u = slack_post_url("https://hooks.slack.com/services/"
	    "T1/B1/s?x=1#frag", "http://127.0.0.1:9/", err, sizeof(err)));
	assert_string_equal(u, "http://127.0.0.1:9/services/T1/B1/s?x=1");
	free(u);
	assert_non_null(u = slack_post_url("https://hooks.slack.com",
	    "http://127.0.0.1:9/prefix//", err, sizeof(err)));
	assert_string_equal(u, "http://127.0.0.1:9/prefix/");
	free(u);
}

/* ---- Slack's answers ------------------------------------------------------- */

static enum connector_result
verdict(enum http_outcome outcome, int status, const char *body,
    const char *retry_after, int64_t *ra, char *msg, size_t len)
{
	struct http_result res;

	memset(&res, 0, sizeof(res));
	res.outcome = outcome;
	res.status = status;
	res.body = (const unsigned char *)(body != NULL ? body : "");
	res.body_len = body != NULL ? strlen(body) : 0;
	if (outcome == HTTP_TRANSPORT)
		res.error = "connect timed out: after 10000 ms";
	*ra = -1;
	return slack_result(&res, retry_after, INT64_C(1763900000000), ra,
	    msg, len);
}

static void
test_result(void **state)
{
	char msg[512], big[600];
	int64_t ra;

	(void)state;
	assert_int_equal(verdict(HTTP_DONE, 200, "ok", NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_OK);
	assert_int_equal(ra, 0);
	assert_string_equal(msg, "HTTP 200");
	assert_int_equal(verdict(HTTP_DONE, 204, NULL, NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_OK);

	assert_int_equal(verdict(HTTP_DONE, 429, "rate_limited", "3", &ra,
	    msg, sizeof(msg)), CONNECTOR_RETRY);
	assert_int_equal(ra, 3000);
	assert_string_equal(msg, "HTTP 429: rate_limited");
	/* An HTTP-date, 90 s after now. */
	assert_int_equal(verdict(HTTP_DONE, 429, "rate_limited",
	    "Sun, 23 Nov 2025 12:15:00 GMT", &ra, msg, sizeof(msg)),
	    CONNECTOR_RETRY);
	assert_int_equal(ra, INT64_C(1763900100000) - INT64_C(1763900000000));
	assert_int_equal(verdict(HTTP_DONE, 429, "", NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_RETRY);
	assert_int_equal(ra, 0);
	assert_string_equal(msg, "HTTP 429");
	assert_int_equal(verdict(HTTP_DONE, 429, "", "soon", &ra, msg,
	    sizeof(msg)), CONNECTOR_RETRY);
	assert_int_equal(ra, 0);

	assert_int_equal(verdict(HTTP_DONE, 503, "", "2", &ra, msg,
	    sizeof(msg)), CONNECTOR_RETRY);
	assert_int_equal(ra, 2000);
	assert_int_equal(verdict(HTTP_DONE, 500, "rollup_error", NULL, &ra,
	    msg, sizeof(msg)), CONNECTOR_RETRY);
	assert_string_equal(msg, "HTTP 500: rollup_error");

	assert_int_equal(verdict(HTTP_DONE, 400, "invalid_payload", "5", &ra,
	    msg, sizeof(msg)), CONNECTOR_DROP);
	assert_int_equal(ra, 0);
	assert_string_equal(msg, "HTTP 400: invalid_payload");
	assert_int_equal(verdict(HTTP_DONE, 404, "no_service", NULL, &ra,
	    msg, sizeof(msg)), CONNECTOR_DROP);
	assert_string_equal(msg, "HTTP 404: no_service");
	assert_int_equal(verdict(HTTP_DONE, 410, "channel_is_archived\n",
	    NULL, &ra, msg, sizeof(msg)), CONNECTOR_DROP);
	assert_string_equal(msg, "HTTP 410: channel_is_archived");
	assert_int_equal(verdict(HTTP_DONE, 403, "invalid_token", NULL, &ra,
	    msg, sizeof(msg)), CONNECTOR_DROP);
	assert_string_equal(msg, "HTTP 403: invalid_token");
	assert_int_equal(verdict(HTTP_DONE, 302, "", NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_DROP);
	assert_string_equal(msg, "HTTP 302");

	/* A long, odd body: control bytes dropped, cut to 200 bytes at a
	 * character boundary. */
	memset(big, 'x', 199);
	strcpy(big + 199, "\xc3\xa9tail\x01");
	assert_int_equal(verdict(HTTP_DONE, 400, big, NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_DROP);
	assert_int_equal(strlen(msg), strlen("HTTP 400: ") + 199);

	assert_int_equal(verdict(HTTP_TRANSPORT, 0, NULL, "1", &ra, msg,
	    sizeof(msg)), CONNECTOR_RETRY);
	assert_string_equal(msg, "connect timed out: after 10000 ms");
	assert_int_equal(verdict(HTTP_CANCELLED, 0, NULL, NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_RETRY);
	assert_string_equal(msg, "cancelled");
	assert_int_equal(verdict(HTTP_TOO_LARGE, 200, NULL, NULL, &ra, msg,
	    sizeof(msg)), CONNECTOR_DROP);
	assert_string_equal(msg, "HTTP 200: the answer was too large");
}

/* ---- Configuration ----------------------------------------------------------- */


static void
test_conf(void **state)
{
	const struct connector *desc = connector_find("slack");
	struct loaded l;

	(void)state;
	assert_non_null(desc);
	assert_int_equal(desc->roles, CONNECTOR_ROLE_NOTIFY);
	assert_int_equal(desc->batch_max, 1);
	assert_int_equal(desc->rate_limit, 1);
	assert_int_equal(desc->rate_window_ms, 1000);
	assert_non_null(desc->deliver);
	assert_non_null(desc->stop);
	assert_null(desc->webhook);
	assert_null(desc->poll);

	/* SPEC's section, role implied. */
	load_on(&l, "[connector sales-channel]\ntype = slack\nrole = notify\n"
	    "webhook_url = https://hooks.slack.com/services/T1/B1/x\n", NULL);
	assert_non_null(l.ci);
	assert_int_equal(connector_role(l.ci), CONNECTOR_ROLE_NOTIFY);
	unload(&l);
	load_on(&l, "[connector s]\ntype = slack\n"
	    "webhook_url = https://hooks.slack.com/services/T1/B1/x\n"
	    "base_url = http://127.0.0.1:1\nrecord_url = https://crm/{id}\n"
	    "record_source = salesforce\n", NULL);
	assert_non_null(l.ci);
	unload(&l);

	expect_conf_errors("[connector s]\ntype = slack\n",
	    (const char *const[]){ "test.conf:1: missing required key "
	    "'webhook_url' in [connector s]", NULL });
	expect_conf_errors("[connector s]\ntype = slack\nrole = sales\n"
	    "webhook_url = https://h/x\n",
	    (const char *const[]){ "test.conf:3: role 'sales' is not one "
	    "connector type 'slack' plays (notify)", NULL });
	/* Every problem, each at its line; the secret never quoted. */
	expect_conf_errors("[connector s]\ntype = slack\n"
	    "webhook_url = hooks.slack.com/services/T1/B1/SECRET\n"
	    "base_url = 127.0.0.1:8080\n"
	    "record_url = https://crm/Lead/view\n",
	    (const char *const[]){
	    "test.conf:3: [slack:s] webhook_url: not an http:// or https:// "
	    "URL (expected https://hooks.slack.com/services/...)",
	    "test.conf:4: [slack:s] base_url: not an http:// or https:// URL",
	    "test.conf:5: [slack:s] record_url: no {id} where the record's "
	    "id goes", NULL });
	expect_conf_errors("[connector s]\ntype = slack\n"
	    "webhook_url = https://h/x\nrecord_source = salesforce\n",
	    (const char *const[]){ "test.conf:4: [slack:s] record_source: "
	    "record_source without record_url: set the link template too",
	    NULL });
	expect_conf_errors("[connector s]\ntype = slack\n"
	    "webhook_url = https://h/x\nchannel = #sales\n",
	    (const char *const[]){ "test.conf:4: unknown key 'channel' in "
	    "[connector s]", NULL });
}

/* ---- deliver() against a local Slack ------------------------------------- */

#define HOOK_PATH "/services/T1/B1/secret"

struct answer {
	int status;                     /* 0: never answer */
	const char *body;
	const char *retry_after;
};

struct fake_slack {
	struct evhttp *http;
	int port;
	struct answer plan[FAKE_MAX];   /* answers, in order */
	size_t nplan, next;
	int requests;
	char body[FAKE_MAX][4096];      /* the bodies received */
	char ctype[FAKE_MAX][128];
	char path[FAKE_MAX][128];
};

static void
fake_hook(struct evhttp_request *req, void *arg)
{
	struct fake_slack *s = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req), *out;
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	struct answer a = { 500, "no plan", NULL };
	size_t n = evbuffer_get_length(in);
	int k = s->requests++;

	assert_true(k < FAKE_MAX);
	assert_true(n < sizeof(s->body[k]));
	evbuffer_remove(in, s->body[k], n);
	s->body[k][n] = '\0';
	snprintf(s->ctype[k], sizeof(s->ctype[k]), "%s", ct ? ct : "");
	snprintf(s->path[k], sizeof(s->path[k]), "%s",
	    evhttp_request_get_uri(req));
	if (s->next < s->nplan)
		a = s->plan[s->next++];
	if (a.status == 0)
		return;                 /* held: the client gives up */
	out = evbuffer_new();
	evbuffer_add(out, a.body, strlen(a.body));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/html");
	if (a.retry_after != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", a.retry_after);
	evhttp_send_reply(req, a.status, "x", out);
	evbuffer_free(out);
}

struct deliver_env {
	struct event_base *base;
	struct fake_slack slack;
	struct loaded l;
	struct batch t;
};

static int
deliver_setup(void **state)
{
	struct deliver_env *e = calloc(1, sizeof(*e));
	struct evhttp_bound_socket *h;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char conf[1024];

	assert_non_null(e);
	assert_non_null(e->base = event_base_new());
	assert_non_null(e->slack.http = evhttp_new(e->base));
	evhttp_set_cb(e->slack.http, HOOK_PATH, fake_hook, &e->slack);
	h = evhttp_bind_socket_with_handle(e->slack.http, "127.0.0.1", 0);
	assert_non_null(h);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h),
	    (struct sockaddr *)&sin, &len), 0);
	e->slack.port = ntohs(sin.sin_port);
	snprintf(conf, sizeof(conf), "[connector sales-channel]\n"
	    "type = slack\nrole = notify\n"
	    "webhook_url = https://hooks.slack.com" HOOK_PATH "\n"
	    "base_url = http://127.0.0.1:%d\n"
	    "record_url = https://acme.lightning.force.com/lightning/r/Lead/"
	    "{id}/view\nrecord_source = salesforce\ntimeout = 5s\n",
	    e->slack.port);
	load_on(&e->l, conf, e->base);
	assert_non_null(e->l.ci);
	batch_init(&e->t, e->base);
	*state = e;
	return 0;
}

static int
deliver_teardown(void **state)
{
	struct deliver_env *e = *state;

	unload(&e->l);
	batch_free(&e->t);
	evhttp_free(e->slack.http);
	/* Let libevent finish closing what was left. */
	event_base_loop(e->base, EVLOOP_NONBLOCK);
	event_base_free(e->base);
	free(e);
	return 0;
}

static int
deliver(struct deliver_env *e)
{
	return connector_descriptor(e->l.ci)->deliver(e->l.ci, &e->t.b);
}

static void
test_deliver_ok(void **state)
{
	struct deliver_env *e = *state;

	e->slack.plan[0] = (struct answer){ 200, "ok", NULL };
	e->slack.nplan = 1;
	batch_add(&e->t, "handoff.mql", "ada@example.com", sample_handoff);
	assert_int_equal(deliver(e), CONNECTOR_PENDING);
	assert_int_equal(e->t.completed, 0);
	assert_true(run_until(e->base, &e->t.completed, 1, 5000));
	assert_int_equal(e->t.completed, 1);
	assert_true(e->t.res[0].set);
	assert_int_equal(e->t.res[0].rc, CONNECTOR_OK);
	assert_int_equal(e->t.res[0].retry_after_ms, 0);
	assert_int_equal(e->slack.requests, 1);
	assert_string_equal(e->slack.path[0], HOOK_PATH);
	assert_string_equal(e->slack.ctype[0],
	    "application/json; charset=utf-8");
	assert_string_equal(e->slack.body[0], sample_handoff_body);
}

static void
test_deliver_answers(void **state)
{
	struct deliver_env *e = *state;
	static const int want_rc[] = { CONNECTOR_RETRY, CONNECTOR_DROP,
	    CONNECTOR_OK };

	/* batch_max is 1, but a larger batch works the same way: one post
	 * each, the batch completed once, after the last answer. */
	e->slack.plan[0] = (struct answer){ 429, "rate_limited", "7" };
	e->slack.plan[1] = (struct answer){ 400, "invalid_payload", NULL };
	e->slack.plan[2] = (struct answer){ 200, "ok", NULL };
	e->slack.nplan = 3;
	batch_add(&e->t, "sla.breached", "ada@example.com", sample_breach);
	batch_add(&e->t, "handoff.mql", "ada@example.com", sample_handoff);
	batch_add(&e->t, "lead.scored", "ada@example.com", "{}");
	batch_add(&e->t, "handoff.mql", "bob@example.com", "[1]");
	batch_add(&e->t, "handoff.mql", "bob@example.com", "{}");
	assert_int_equal(deliver(e), CONNECTOR_PENDING);
	/* The items without a post are settled at once. */
	assert_true(e->t.res[2].set);
	assert_int_equal(e->t.res[2].rc, CONNECTOR_OK);
	assert_string_equal(res_msg(&e->t, 2),
	    "no Slack message for type 'lead.scored'");
	assert_true(e->t.res[3].set);
	assert_int_equal(e->t.res[3].rc, CONNECTOR_DROP);
	assert_string_equal(res_msg(&e->t, 3),
	    "handoff.mql: data is not a JSON object");
	assert_true(run_until(e->base, &e->t.completed, 1, 5000));
	assert_int_equal(e->slack.requests, 3);
	/* Answers came in the order the posts were made, on one
	 * connection or several: match them by body. */
	for (int k = 0; k < 3; k++) {
		size_t item = strstr(e->slack.body[k], "SLA breached") ? 0 :
		    strstr(e->slack.body[k], "Ada Lovelace") ? 1 : 4;

		assert_true(e->t.res[item].set);
		assert_int_equal(e->t.res[item].rc, want_rc[k]);
		if (k == 0) {
			assert_int_equal(e->t.res[item].retry_after_ms, 7000);
			assert_string_equal(res_msg(&e->t, item),
			    "HTTP 429: rate_limited");
		} else if (k == 1)
			assert_string_equal(res_msg(&e->t, item),
			    "HTTP 400: invalid_payload");
	}
	assert_int_equal(e->t.completed, 1);
}

static void
test_deliver_nothing_to_post(void **state)
{
	struct deliver_env *e = *state;

	batch_add(&e->t, "feedback.sql", "ada@example.com", "{}");
	assert_int_equal(deliver(e), 0);
	assert_true(e->t.b.completed);
	assert_int_equal(e->t.res[0].rc, CONNECTOR_OK);
	assert_int_equal(e->slack.requests, 0);
}

static void
test_deliver_stop(void **state)
{
	struct deliver_env *e = *state;

	e->slack.plan[0] = (struct answer){ 0, NULL, NULL };    /* held */
	e->slack.nplan = 1;
	batch_add(&e->t, "sla.breached", "ada@example.com", sample_breach);
	assert_int_equal(deliver(e), CONNECTOR_PENDING);
	assert_true(run_until(e->base, &e->slack.requests, 1, 5000));
	assert_int_equal(e->t.completed, 0);
	connector_instance_stop(e->l.ci);
	assert_true(run_until(e->base, &e->t.completed, 1, 5000));
	assert_int_equal(e->t.res[0].rc, CONNECTOR_RETRY);
	assert_string_equal(res_msg(&e->t, 0), "cancelled");
	/* Once stopped, a new batch is retried without a post. */
	batch_clear(&e->t);
	batch_add(&e->t, "sla.breached", "ada@example.com", sample_breach);
	assert_int_equal(deliver(e), 0);
	assert_true(e->t.b.completed);
	assert_int_equal(e->t.res[0].rc, CONNECTOR_RETRY);
	assert_string_equal(res_msg(&e->t, 0), "stopping");
	assert_int_equal(e->slack.requests, 1);
}

static void
test_deliver_unreachable(void **state)
{
	struct deliver_env *e = *state;

	/* Nobody listens there any more. */
	evhttp_free(e->slack.http);
	assert_non_null(e->slack.http = evhttp_new(e->base));
	batch_add(&e->t, "sla.breached", "ada@example.com", sample_breach);
	assert_int_equal(deliver(e), CONNECTOR_PENDING);
	assert_true(run_until(e->base, &e->t.completed, 1, 5000));
	assert_int_equal(e->t.res[0].rc, CONNECTOR_RETRY);
	assert_true(strlen(res_msg(&e->t, 0)) > 0);
	assert_int_equal(e->t.res[0].retry_after_ms, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handoff_body),
		cmocka_unit_test(test_breach_body),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_episode_and_numbers),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_record_link),
		cmocka_unit_test(test_skip_and_bad),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_conf),
		cmocka_unit_test_setup_teardown(test_deliver_ok,
		    deliver_setup, deliver_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_answers,
		    deliver_setup, deliver_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_nothing_to_post,
		    deliver_setup, deliver_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_stop,
		    deliver_setup, deliver_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_unreachable,
		    deliver_setup, deliver_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
