/*
 * test_salesforce.c - the Salesforce connector's pure side (sf_proto.c)
 * and its configuration.
 *
 * Parsers are fed Salesforce's own recorded answers from
 * ../shared/vendor-samples/salesforce where one fits, and hand-made
 * bodies in the documented shapes (collections results use statusCode)
 * otherwise; builders are checked against exact text.  Then the key
 * table and init(): every mistake is refused with a message naming it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vendor_sample.h"
#include "connector_load.h"
#include "connectors.h"
#include "diag.h"
#include "ini.h"

#include "../../connectors/salesforce/sf_proto.h"

/* ---- Helpers ----------------------------------------------------------- */

/* A vendor sample of this connector's vendor. */
static char *
sample(const char *name, size_t *len)
{
	return vendor_sample("salesforce", name, len);
}

/* Checks that j dumps (sorted, compact) to want; frees j. */
static void
expect_json(json_t *j, const char *want)
{
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	json_decref(j);
}

static json_t *
parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

/* ---- OAuth2 ------------------------------------------------------------ */

static void
test_token_form(void **state)
{
	char *f;

	(void)state;
	f = sf_token_form("id 1", "s&cr=t", "5Aep+/x");
	assert_string_equal(f, "grant_type=refresh_token&client_id=id%201&"
	    "client_secret=s%26cr%3Dt&refresh_token=5Aep%2B%2Fx");
	free(f);
	f = sf_token_form("id", "sec", NULL);
	assert_string_equal(f, "grant_type=client_credentials&client_id=id&"
	    "client_secret=sec");
	free(f);
	f = sf_token_form("id", NULL, "rt");
	assert_string_equal(f, "grant_type=refresh_token&client_id=id&"
	    "refresh_token=rt");
	free(f);
}

static void
test_token_parse_sample(void **state)
{
	struct sf_token t;
	size_t len;
	char *body = sample("oauth2-token-response.json", &len), err[256];

	(void)state;
	assert_int_equal(sf_token_parse(body, len, &t, err, sizeof(err)), 0);
	assert_string_equal(t.instance_url, "https://eu11.salesforce.com");
	assert_string_equal(t.user_id, "0050Y000000pyREQAY");
	assert_string_equal(t.access_token, "00D0Y000000ZNZA!AQoAQAtUIExiwGnzH"
	    "a1ES.dfQJYX_xumavP1nXL5sudjgrBPF8aM5WVsAYM9nhz96cIUGHCy6q6b0sDmr"
	    "SdDK_Qlw4Pm.uzm");
	sf_token_clear(&t);
	sf_token_clear(&t);
	sf_token_clear(NULL);
	free(body);
}

static void
expect_token_error(const char *body, const char *want)
{
	struct sf_token t;
	char err[256];

	assert_int_equal(sf_token_parse(body, strlen(body), &t, err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(t.access_token);
	assert_null(t.instance_url);
}

static void
test_token_parse_errors(void **state)
{
	size_t len;
	char *body;

	(void)state;
	body = sample("oauth2-token-error-401-invalid-session.json", &len);
	expect_token_error(body, "token response is not a JSON object");
	free(body);
	expect_token_error("", "token response: empty body");
	expect_token_error("{\"access_token\": ", "token response is not "
	    "JSON: unexpected token near end of file (line 1)");
	expect_token_error("{\"instance_url\":\"https://x\",\"id\":\"https://"
	    "l/id/00D/005000000000001\"}", "token response has no "
	    "access_token");
	expect_token_error("{\"access_token\":\"t\",\"instance_url\":\"ftp://x"
	    "\",\"id\":\"https://l/id/00D/005000000000001\"}", "token "
	    "response has no http(s) instance_url");
	expect_token_error("{\"access_token\":\"t\",\"instance_url\":\"http:"
	    "///\",\"id\":\"https://l/id/00D/005000000000001\"}", "token "
	    "response has no http(s) instance_url");
	expect_token_error("{\"access_token\":\"t\",\"instance_url\":\"https:"
	    "//x\",\"id\":\"https://l/id/00D/\"}", "token response's id is not "
	    "a URL ending in a user id");
	expect_token_error("{\"access_token\":\"t\",\"instance_url\":\"https:"
	    "//x\"}", "token response's id is not a URL ending in a user id");
}

/* ---- Errors and limits ------------------------------------------------- */

static void
expect_error(const char *file, const char *code, const char *msg)
{
	char c[64], m[512];
	size_t len;
	char *body = sample(file, &len);

	assert_int_equal(sf_error_parse(body, len, c, sizeof(c), m,
	    sizeof(m)), 0);
	assert_string_equal(c, code);
	assert_string_equal(m, msg);
	free(body);
}

static void
test_error_parse(void **state)
{
	char c[64], m[128];
	const char *oauth = "{\"error\":\"invalid_grant\",\"error_description"
	    "\":\"expired access/refresh token\"}";

	(void)state;
	expect_error("error-401-invalid-session-id.json", "INVALID_SESSION_ID",
	    "Session expired or invalid");
	expect_error("error-400-invalid-restricted-picklist.json",
	    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Rating: bad value for "
	    "restricted picklist field: Terrible (Rating__c)");
	expect_error("error-400-required-field-missing.json",
	    "REQUIRED_FIELD_MISSING", "Required fields are missing:[Body] "
	    "(Body)");
	expect_error("error-400-soql-invalid-field.json", "INVALID_FIELD",
	    "SELECT Bacon__c FROM Account LIMIT 2 ^ ERROR at Row:1:Column:8 No "
	    "such column 'Bacon__c' on entity 'Account'. If you are attempting "
	    "to use a custom field, be sure to append the '__c' after the "
	    "custom field name. Please reference your WSDL or the describe "
	    "call for the appropriate names.");
	assert_int_equal(sf_error_parse(oauth, strlen(oauth), c, sizeof(c), m,
	    sizeof(m)), 0);
	assert_string_equal(c, "invalid_grant");
	assert_string_equal(m, "expired access/refresh token");
	assert_int_equal(sf_error_parse("<html>\n<b>Bad\tGateway</b>", 25, c,
	    sizeof(c), m, sizeof(m)), -1);
	assert_string_equal(c, "");
	assert_string_equal(m, "<html> <b>Bad Gateway</b>");
	assert_int_equal(sf_error_parse("", 0, c, sizeof(c), m, sizeof(m)),
	    -1);
	assert_string_equal(m, "(empty body)");
	assert_int_equal(sf_error_parse("[{\"message\":\"x\"}]", 17, c,
	    sizeof(c), m, sizeof(m)), -1);
	assert_string_equal(m, "[{\"message\":\"x\"}]");
}

static void
test_limit_info(void **state)
{
	long long u = -1, m = -1;
	char err[128];
	int pct;

	(void)state;
	assert_int_equal(sf_limit_info_parse("api-usage=51/100000", &u, &m), 0);
	assert_int_equal(u, 51);
	assert_int_equal(m, 100000);
	assert_int_equal(sf_limit_info_parse("per-app-api-usage=2/250("
	    "appName=x), api-usage=80/100", &u, &m), 0);
	assert_int_equal(u, 80);
	assert_int_equal(m, 100);
	assert_int_equal(sf_limit_info_parse("api-usage=7/9,per-app-api-usage="
	    "1/2(appName=y)", &u, &m), 0);
	assert_int_equal(u, 7);
	assert_int_equal(m, 9);
	u = m = -1;
	assert_int_equal(sf_limit_info_parse(NULL, &u, &m), -1);
	assert_int_equal(sf_limit_info_parse("", &u, &m), -1);
	assert_int_equal(sf_limit_info_parse("per-app-api-usage=2/250", &u,
	    &m), -1);
	assert_int_equal(sf_limit_info_parse("api-usage=51", &u, &m), -1);
	assert_int_equal(sf_limit_info_parse("api-usage=51/0", &u, &m), -1);
	assert_int_equal(sf_limit_info_parse("api-usage=x/10", &u, &m), -1);
	assert_int_equal(sf_limit_info_parse("api-usage=5/10x", &u, &m), -1);
	assert_int_equal(u, -1);

	assert_int_equal(sf_budget_parse("80%", &pct, err, sizeof(err)), 0);
	assert_int_equal(pct, 80);
	assert_int_equal(sf_budget_parse("100", &pct, err, sizeof(err)), 0);
	assert_int_equal(pct, 100);
	assert_int_equal(sf_budget_parse("0%", &pct, err, sizeof(err)), -1);
	assert_string_equal(err, "expected a percentage from 1% to 100%, "
	    "not '0%'");
	assert_int_equal(sf_budget_parse("eighty", &pct, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "expected a percentage like 80%");
	assert_int_equal(sf_budget_parse("80%%", &pct, err, sizeof(err)), -1);
}

/* ---- Lead records ------------------------------------------------------ */

static const struct sf_lead_opts opts = {
	.lead_source = "baton",
	.description_field = "Description",
	.score_field = "Baton_Score__c",
	.owner = NULL,
	.placeholder_last_name = "[not provided]",
	.placeholder_company = "[not provided]",
	.match = "Email",
};

static const char snapshot[] =
    "{\"episode\":2,\"score\":72.5,\"fit\":35,\"engagement\":37.5,"
    "\"stage\":\"mql\",\"attrs\":{\"email\":\"ada@example.com\","
    "\"first_name\":\" Ada \",\"last_name\":\"Lovelace\",\"title\":\"VP "
    "Engineering\",\"company\":\"Analytical Engines\",\"company_size\":250,"
    "\"industry\":\"Computing\",\"country\":\"UK\",\"phone\":"
    "\"+44 20 0000\",\"custom.plan\":\"pro\"},\"ids\":{},\"reasons\":["
    "\"+20 if title ~ \\\"vp\\\" (rules.conf:2)\",\"+5 on email_click "
    "(rules.conf:5) x3\"],\"event\":\"ev-9\"}";

static void
test_description(void **state)
{
	json_t *d = parse(snapshot);
	char *s = sf_description(d);

	(void)state;
	assert_string_equal(s, "baton score 72.5 (fit 35, engagement 37.5), "
	    "MQL #2.\nQualified because:\n- +20 if title ~ \"vp\" "
	    "(rules.conf:2)\n- +5 on email_click (rules.conf:5) x3");
	free(s);
	json_decref(d);
	d = parse("{}");
	s = sf_description(d);
	assert_string_equal(s, "baton score ? (fit ?, engagement ?).");
	free(s);
	json_decref(d);
}

static void
test_lead_fields_create(void **state)
{
	json_t *d = parse(snapshot);
	char err[128];

	(void)state;
	expect_json(sf_lead_fields(d, "ada@example.com", &opts, true, err,
	    sizeof(err)), "{\"Baton_Score__c\":72.5,\"Company\":\"Analytical "
	    "Engines\",\"Country\":\"UK\",\"Description\":\"baton score 72.5 "
	    "(fit 35, engagement 37.5), MQL #2.\\nQualified because:\\n- +20 "
	    "if title ~ \\\"vp\\\" (rules.conf:2)\\n- +5 on email_click "
	    "(rules.conf:5) x3\",\"Email\":\"ada@example.com\",\"FirstName\":"
	    "\"Ada\",\"Industry\":\"Computing\",\"LastName\":\"Lovelace\","
	    "\"LeadSource\":\"baton\",\"NumberOfEmployees\":250,\"Phone\":"
	    "\"+44 20 0000\",\"Title\":\"VP Engineering\"}");
	json_decref(d);
}

static void
test_lead_fields_placeholders(void **state)
{
	struct sf_lead_opts o = opts;
	json_t *d = parse("{\"score\":61,\"attrs\":{\"company_size\":\"1200\","
	    "\"first_name\":\"   \"}}");
	char err[128];

	(void)state;
	o.score_field = NULL;
	o.description_field = NULL;
	o.owner = "005000000000001AAA";
	o.match = "Baton_Key__c";
	/* create: placeholders, LeadSource, OwnerId, the external id */
	expect_json(sf_lead_fields(d, "bob@example.com", &o, true, err,
	    sizeof(err)), "{\"Baton_Key__c\":\"bob@example.com\",\"Company\":"
	    "\"[not provided]\",\"Email\":\"bob@example.com\",\"LastName\":"
	    "\"[not provided]\",\"LeadSource\":\"baton\",\"NumberOfEmployees\":"
	    "1200,\"OwnerId\":\"005000000000001AAA\"}");
	/* update: only what the lead has */
	expect_json(sf_lead_fields(d, "bob@example.com", &o, false, err,
	    sizeof(err)), "{\"Baton_Key__c\":\"bob@example.com\",\"Email\":"
	    "\"bob@example.com\",\"NumberOfEmployees\":1200}");
	json_decref(d);
}

static void
test_lead_fields_limits(void **state)
{
	char err[256], longmail[100], longname[200], want[512];
	json_t *d, *f;

	(void)state;
	/* names cut to Salesforce's lengths, in characters not bytes */
	memset(longname, 0, sizeof(longname));
	for (int i = 0; i < 45; i++)
		strcat(longname, "\xc3\xa9");   /* é */
	snprintf(want, sizeof(want), "{\"attrs\":{\"first_name\":\"%s\","
	    "\"company_size\":12.5}}", longname);
	d = parse(want);
	f = sf_lead_fields(d, "c@example.com", &opts, false, err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(strlen(json_string_value(json_object_get(f,
	    "FirstName"))), 80);
	assert_null(json_object_get(f, "NumberOfEmployees"));
	assert_null(json_object_get(f, "Baton_Score__c"));
	json_decref(f);
	json_decref(d);

	d = parse("{}");
	memset(longmail, 'a', 81);
	strcpy(longmail + 81, "@x.io");
	assert_null(sf_lead_fields(d, longmail, &opts, true, err,
	    sizeof(err)));
	assert_string_equal(err, "email 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.io' is longer than "
	    "the 80 characters of Lead.Email");
	assert_null(sf_lead_fields(d, "", &opts, true, err, sizeof(err)));
	assert_string_equal(err, "the handoff has no lead email");
	json_decref(d);
}

static void
test_collection_body(void **state)
{
	json_t *f[SF_COLLECTION_MAX + 1];
	const char *ids[2] = { "00Q000000000001AAA", "00Q000000000002AAA" };
	char err[128], *s;

	(void)state;
	for (size_t i = 0; i <= SF_COLLECTION_MAX; i++)
		f[i] = json_pack("{s:s}", "Email", "a@b.co");
	s = sf_collection_body(f, NULL, 1, err, sizeof(err));
	assert_string_equal(s, "{\"allOrNone\":false,\"records\":[{"
	    "\"attributes\":{\"type\":\"Lead\"},\"Email\":\"a@b.co\"}]}");
	free(s);
	s = sf_collection_body(f, ids, 2, err, sizeof(err));
	assert_string_equal(s, "{\"allOrNone\":false,\"records\":[{"
	    "\"attributes\":{\"type\":\"Lead\"},\"Id\":\"00Q000000000001AAA\","
	    "\"Email\":\"a@b.co\"},{\"attributes\":{\"type\":\"Lead\"},\"Id\":"
	    "\"00Q000000000002AAA\",\"Email\":\"a@b.co\"}]}");
	free(s);
	s = sf_collection_body(f, NULL, SF_COLLECTION_MAX, err, sizeof(err));
	assert_non_null(s);
	free(s);
	assert_null(sf_collection_body(f, NULL, SF_COLLECTION_MAX + 1, err,
	    sizeof(err)));
	assert_string_equal(err, "a collections call carries 1 to 200 records, "
	    "not 201");
	assert_null(sf_collection_body(f, NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "a collections call carries 1 to 200 records, "
	    "not 0");
	for (size_t i = 0; i <= SF_COLLECTION_MAX; i++)
		json_decref(f[i]);
}

static void
test_collection_parse(void **state)
{
	struct sf_item_result r[4];
	char err[256];
	const char *mixed = "[{\"id\":\"00Q5g00000AbCdEAAV\",\"success\":true,"
	    "\"errors\":[],\"created\":true},{\"success\":false,\"errors\":[{"
	    "\"statusCode\":\"REQUIRED_FIELD_MISSING\",\"message\":\"Required "
	    "fields are missing: [LastName, Company]\",\"fields\":["
	    "\"LastName\","
	    "\"Company\"]}]},{\"id\":\"00Q5g00000AbCdFAAV\",\"success\":false,"
	    "\"errors\":[{\"statusCode\":\"UNABLE_TO_LOCK_ROW\",\"message\":"
	    "\"unable to obtain exclusive access to this record\",\"fields\":"
	    "[]}]},{\"id\":\"00Q5g00000AbCdGAAV\",\"success\":true,\"errors\":"
	    "[],\"created\":false}]";

	(void)state;
	assert_int_equal(sf_collection_parse(mixed, strlen(mixed), 4, r, err,
	    sizeof(err)), 0);
	assert_int_equal(r[0].rc, SF_ITEM_OK);
	assert_string_equal(r[0].id, "00Q5g00000AbCdEAAV");
	assert_true(r[0].created);
	assert_int_equal(r[1].rc, SF_ITEM_DROP);
	assert_string_equal(r[1].id, "");
	assert_string_equal(r[1].message, "REQUIRED_FIELD_MISSING: Required "
	    "fields are missing: [LastName, Company] (LastName, Company)");
	assert_int_equal(r[2].rc, SF_ITEM_RETRY);
	assert_string_equal(r[2].message, "UNABLE_TO_LOCK_ROW: unable to "
	    "obtain exclusive access to this record");
	assert_int_equal(r[3].rc, SF_ITEM_OK);
	assert_false(r[3].created);

	/* two errors, one permanent: dropped with both */
	{
		const char *two = "[{\"success\":false,\"errors\":[{"
		    "\"statusCode\":\"UNABLE_TO_LOCK_ROW\",\"message\":"
		    "\"locked\"},{\"statusCode\":\"INVALID_EMAIL_ADDRESS\","
		    "\"message\":\"Email: invalid email address: x\","
		    "\"fields\":[\"Email\"]}]}]";

		assert_int_equal(sf_collection_parse(two, strlen(two), 1, r,
		    err, sizeof(err)), 0);
		assert_int_equal(r[0].rc, SF_ITEM_DROP);
		assert_string_equal(r[0].message, "UNABLE_TO_LOCK_ROW: locked; "
		    "INVALID_EMAIL_ADDRESS: Email: invalid email address: x "
		    "(Email)");
	}
	assert_int_equal(sf_collection_parse(mixed, strlen(mixed), 3, r, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "collections answer has 4 results for 3 "
	    "records");
	assert_int_equal(sf_collection_parse("{}", 2, 1, r, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "collections answer is not an array");
	assert_int_equal(sf_collection_parse("[{\"id\":\"x\"}]", 12, 1, r, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "collections result 0 has no boolean success");
	assert_int_equal(sf_collection_parse("[{\"success\":true}]", 18, 1, r,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "collections result 0 succeeded without a "
	    "record id");
	assert_int_equal(sf_collection_parse("[{\"success\":false}]", 19, 1, r,
	    err, sizeof(err)), 0);
	assert_int_equal(r[0].rc, SF_ITEM_DROP);
	assert_string_equal(r[0].message, "UNKNOWN: record failed without an "
	    "error");
	/* a whole-request error array is not a collections answer */
	{
		size_t len;
		char *body = sample("error-400-malformed-id-on-update.json",
		    &len);

		assert_int_equal(sf_collection_parse(body, len, 1, r, err,
		    sizeof(err)), -1);
		assert_string_equal(err, "collections result 0 has no boolean "
		    "success");
		free(body);
	}
	assert_true(sf_status_code_transient("UNABLE_TO_LOCK_ROW"));
	assert_false(sf_status_code_transient("DUPLICATE_VALUE"));
	assert_false(sf_status_code_transient(NULL));
}

/* ---- SOQL -------------------------------------------------------------- */

static void
test_soql_window(void **state)
{
	char *q;

	(void)state;
	q = sf_soql_window("Id, SystemModstamp", "Lead",
	    INT64_C(1714564800000), "", INT64_C(1714568400000));
	assert_string_equal(q, "SELECT Id, SystemModstamp FROM Lead WHERE "
	    "SystemModstamp >= 2024-05-01T12:00:00Z AND SystemModstamp <= "
	    "2024-05-01T13:00:00Z ORDER BY SystemModstamp ASC, Id ASC");
	free(q);
	q = sf_soql_window("Id", "Opportunity", INT64_C(1714564800123),
	    "0065g00000AbCdEAAV", INT64_C(1714568400000));
	assert_string_equal(q, "SELECT Id FROM Opportunity WHERE "
	    "(SystemModstamp > 2024-05-01T12:00:00.123Z OR (SystemModstamp = "
	    "2024-05-01T12:00:00.123Z AND Id > '0065g00000AbCdEAAV')) AND "
	    "SystemModstamp <= 2024-05-01T13:00:00Z ORDER BY SystemModstamp "
	    "ASC, Id ASC");
	free(q);
}

static void
test_soql_in(void **state)
{
	const char *v[] = { "a@x.io", "o'hara\\@x.io", "c@x.io" };
	const char *bad[] = { "a\x01@x.io" };
	size_t used;
	char *q;

	(void)state;
	q = sf_soql_in("Id, Email", "Lead", "Email", v, 3,
	    " AND IsConverted = false", 1000, &used);
	assert_int_equal(used, 3);
	assert_string_equal(q, "SELECT Id, Email FROM Lead WHERE Email IN "
	    "('a@x.io', 'o\\'hara\\\\@x.io', 'c@x.io') AND IsConverted = "
	    "false");
	free(q);
	/* room for two values only: the rest is for the next query */
	q = sf_soql_in("Id", "Lead", "Email", v, 3, NULL, 70, &used);
	assert_int_equal(used, 2);
	assert_string_equal(q, "SELECT Id FROM Lead WHERE Email IN ('a@x.io', "
	    "'o\\'hara\\\\@x.io')");
	free(q);
	/* one value always goes, however long */
	q = sf_soql_in("Id", "Lead", "Email", v + 2, 1, NULL, 5, &used);
	assert_int_equal(used, 1);
	free(q);
	assert_null(sf_soql_in("Id", "Lead", "Email", bad, 1, NULL, 100,
	    &used));
	assert_int_equal(used, 0);
	q = sf_url_encode("a b&c=d/é");
	assert_string_equal(q, "a%20b%26c%3Dd%2F%C3%A9");
	free(q);
}

static void
test_datetime(void **state)
{
	int64_t ms = 0;
	char out[32];

	(void)state;
	assert_int_equal(sf_datetime_parse("2024-05-01T12:00:00.000+0000",
	    &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800000));
	assert_int_equal(sf_datetime_parse("2024-05-01T14:00:00.250+0200",
	    &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800250));
	assert_int_equal(sf_datetime_parse("2024-05-01T12:00:00Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800000));
	assert_int_equal(sf_datetime_parse("2024-05-01", &ms), -1);
	assert_int_equal(sf_datetime_parse(NULL, &ms), -1);
	assert_int_equal(sf_datetime_parse("", &ms), -1);
	sf_soql_datetime(INT64_C(1714564800000), out, sizeof(out));
	assert_string_equal(out, "2024-05-01T12:00:00Z");
	sf_soql_datetime(INT64_C(1714564800007), out, sizeof(out));
	assert_string_equal(out, "2024-05-01T12:00:00.007Z");
}

/* ---- Query pages ------------------------------------------------------- */

static void
test_page_parse_samples(void **state)
{
	struct sf_page pg;
	char err[256], *body;
	size_t len;

	(void)state;
	body = sample("soql-query-response-page1-truncated.json", &len);
	assert_int_equal(sf_page_parse(body, len, &pg, err, sizeof(err)), 0);
	assert_false(pg.done);
	assert_int_equal(pg.total, 4021);
	assert_string_equal(pg.next_url, "/services/data/v37.0/query/"
	    "01g0Y00000WSKTzQAP-2000");
	assert_int_equal(json_array_size(pg.records), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    pg.records, 1), "Id")), "00Q0Y00000205D3UAI");
	sf_page_clear(&pg);
	free(body);

	body = sample("soql-query-response-page2-truncated.json", &len);
	assert_int_equal(sf_page_parse(body, len, &pg, err, sizeof(err)), 0);
	assert_string_equal(pg.next_url, "/services/data/v37.0/query/"
	    "01g0Y00000WSKTzQAP-4000");
	sf_page_clear(&pg);
	free(body);

	body = sample("soql-query-response-last-page-truncated.json", &len);
	assert_int_equal(sf_page_parse(body, len, &pg, err, sizeof(err)), 0);
	assert_true(pg.done);
	assert_null(pg.next_url);
	assert_int_equal(json_array_size(pg.records), 2);
	sf_page_clear(&pg);
	sf_page_clear(&pg);
	free(body);
}

static void
expect_page_error(const char *body, const char *want)
{
	struct sf_page pg;
	char err[256];

	assert_int_equal(sf_page_parse(body, strlen(body), &pg, err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(pg.records);
	assert_null(pg.next_url);
}

static void
test_page_parse_errors(void **state)
{
	size_t len;
	char *body = sample("error-400-soql-invalid-field.json", &len);

	(void)state;
	expect_page_error(body, "query answer is not a JSON object");
	free(body);
	expect_page_error("{\"done\":true}", "query answer has no records "
	    "array");
	expect_page_error("{\"records\":[],\"done\":\"yes\"}", "query answer "
	    "has no boolean done");
	expect_page_error("{\"records\":[],\"done\":true,\"totalSize\":\"2\"}",
	    "query answer's totalSize is not a whole number");
	expect_page_error("{\"records\":[],\"done\":false}", "query answer is "
	    "not done but has no nextRecordsUrl");
	expect_page_error("{\"records\":[],\"done\":false,\"nextRecordsUrl\":"
	    "\"https://evil.example/services/data/v60.0/query/x-2000\"}",
	    "query answer's nextRecordsUrl is not a /services/data/ path");
	expect_page_error("{\"records\":[],\"done\":false,\"nextRecordsUrl\":"
	    "\"/services/data/../../x\"}", "query answer's nextRecordsUrl is "
	    "not a /services/data/ path");
	expect_page_error("nope", "query answer is not JSON: '[' or '{' "
	    "expected near 'nope' (line 1)");
}

/* ---- Statuses ---------------------------------------------------------- */

static void
test_status_map(void **state)
{
	struct conf_map_entry e[] = {
		{ .key = "Sales_Qualified", .value = "qualified" },
		{ .key = "working_-_contacted", .value = "open" },
	};
	struct conf_map m = { 2, e };

	(void)state;
	assert_string_equal(sf_status_map(NULL, "Open - Not Contacted", false),
	    "open");
	assert_string_equal(sf_status_map(NULL, "Working - Contacted", false),
	    "working");
	assert_string_equal(sf_status_map(NULL, "Qualified", false),
	    "qualified");
	assert_string_equal(sf_status_map(NULL, "Unqualified", false),
	    "unqualified");
	assert_string_equal(sf_status_map(NULL, "Closed - Converted", false),
	    "converted");
	assert_string_equal(sf_status_map(NULL, "Closed - Not Converted",
	    false), "unqualified");
	assert_string_equal(sf_status_map(NULL, "Working", true), "converted");
	assert_string_equal(sf_status_map(NULL, NULL, true), "converted");
	assert_null(sf_status_map(NULL, "Sales Qualified", false));
	assert_null(sf_status_map(NULL, NULL, false));
	assert_string_equal(sf_status_map(&m, "Sales Qualified", false),
	    "qualified");
	/* the conf wins over the defaults */
	assert_string_equal(sf_status_map(&m, "Working - Contacted", false),
	    "open");
	assert_string_equal(sf_status_map(&m, "Qualified", false),
	    "qualified");
	assert_null(sf_status_map(&m, "Sales", false));
	assert_true(sf_status_canonical("working"));
	assert_false(sf_status_canonical("Working"));
	assert_string_equal(sf_deal_outcome(true, true), "won");
	assert_string_equal(sf_deal_outcome(false, true), "lost");
	assert_string_equal(sf_deal_outcome(false, false), "open");
}

/* ---- The cursor -------------------------------------------------------- */

static void
test_cursor_round_trip(void **state)
{
	struct sf_cursor c = { 0 }, back;
	char err[128], *s;

	(void)state;
	c.lead.ts = INT64_C(1714564800000);
	strcpy(c.lead.id, "00Q5g00000AbCdEAAV");
	c.lead.more = true;
	c.opp.ts = INT64_C(1714564799000);
	s = sf_cursor_encode(&c);
	assert_string_equal(s, "{\"v\":1,\"Lead\":{\"ts\":1714564800000,\"id\":"
	    "\"00Q5g00000AbCdEAAV\",\"more\":true},\"Opportunity\":{\"ts\":"
	    "1714564799000,\"id\":\"\",\"more\":false}}");
	assert_int_equal(sf_cursor_decode(s, &back, err, sizeof(err)), 0);
	assert_memory_equal(&back, &c, sizeof(c));
	free(s);
}

static void
expect_cursor_error(const char *s, const char *want)
{
	struct sf_cursor c;
	char err[128];

	memset(&c, 0x55, sizeof(c));
	assert_int_equal(sf_cursor_decode(s, &c, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_int_equal(c.lead.ts, 0);
	assert_int_equal(c.opp.ts, 0);
}

static void
test_cursor_malformed(void **state)
{
	(void)state;
	expect_cursor_error(NULL, "no cursor");
	expect_cursor_error("", "cursor: empty body");
	expect_cursor_error("1714564800000", "cursor is not JSON: '[' or '{' "
	    "expected near '1714564800000' (line 1)");
	expect_cursor_error("[1]", "cursor is not a JSON object");
	expect_cursor_error("{\"v\":2}", "cursor version is not 1");
	expect_cursor_error("{\"v\":\"1\"}", "cursor version is not 1");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":1,\"id\":\"\"}}",
	    "cursor has no Opportunity object");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":-1,\"id\":\"\"},"
	    "\"Opportunity\":{\"ts\":1,\"id\":\"\"}}", "cursor Lead.ts is not "
	    "a time in ms");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":1.5,\"id\":\"\"},"
	    "\"Opportunity\":{\"ts\":1,\"id\":\"\"}}", "cursor Lead.ts is not "
	    "a time in ms");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":1,\"id\":\"\"},"
	    "\"Opportunity\":{\"ts\":1,\"id\":\"x' OR Id != '\"}}", "cursor "
	    "Opportunity.id is not a record id");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":1,\"id\":\"\",\"more\":1"
	    "},\"Opportunity\":{\"ts\":1,\"id\":\"\"}}", "cursor Lead.more is "
	    "not a boolean");
	expect_cursor_error("{\"v\":1,\"Lead\":{\"ts\":1,\"id\":\"\"},\"Lead\":"
	    "{\"ts\":2,\"id\":\"\"}}", "cursor is not JSON: duplicate object "
	    "key near '\"Lead\"' (line 1)");
}

/* ---- What the poll has seen of each Lead ------------------------------- */

#define LEAD_A "00Q5g00000AbCdEAAA"
#define LEAD_B "00Q5g00000AbCdEAAB"
#define LEAD_C "00Q5g00000AbCdEAAC"
#define REP "0055g00000RepUsAAA"

static void
test_seen_fingerprint(void **state)
{
	uint32_t fp = sf_seen_fingerprint("Working", false, REP, NULL);

	(void)state;
	assert_int_equal(fp, sf_seen_fingerprint("Working", false, REP, ""));
	assert_int_not_equal(fp, sf_seen_fingerprint("Qualified", false, REP,
	    NULL));
	assert_int_not_equal(fp, sf_seen_fingerprint("Working", true, REP,
	    NULL));
	assert_int_not_equal(fp, sf_seen_fingerprint("Working", false,
	    "0055g00000RepUsAAB", NULL));
	assert_int_not_equal(fp, sf_seen_fingerprint("Working", false, REP,
	    "no budget"));
	/* Fields do not run into each other. */
	assert_int_not_equal(sf_seen_fingerprint("ab", false, "c", NULL),
	    sf_seen_fingerprint("a", false, "bc", NULL));
}

static void
test_seen_round_trip(void **state)
{
	struct sf_cursor c = { 0 }, back;
	struct sf_seen s, t;
	char err[128], *enc, *enc2;
	uint32_t fp = 0;

	(void)state;
	c.lead.ts = c.opp.ts = INT64_C(1714564800000);
	assert_int_equal(sf_seen_init(&s, 1000), 0);
	assert_false(sf_seen_get(&s, LEAD_A, &fp));
	assert_int_equal(sf_seen_put(&s, LEAD_B, 7, 3000), 0);
	assert_int_equal(sf_seen_put(&s, LEAD_A, 5, 2000), 0);
	/* A later read of A; then an older ms keeps the newer one. */
	assert_int_equal(sf_seen_put(&s, LEAD_A, 6, 4000), 0);
	assert_int_equal(sf_seen_put(&s, LEAD_A, 9, 1500), 0);
	assert_true(sf_seen_get(&s, LEAD_A, &fp));
	assert_int_equal(fp, 9);
	enc = sf_cursor_encode_seen(&c, &s, 10);
	assert_string_equal(enc, "{\"v\":1,\"Lead\":{\"ts\":1714564800000,\"id\":"
	    "\"\",\"more\":false},\"Opportunity\":{\"ts\":1714564800000,\"id\":"
	    "\"\",\"more\":false},\"seen\":{\"since\":1000,\"Lead\":[[\""
	    LEAD_B "\",7,3000],[\"" LEAD_A "\",9,4000]]}}");
	/* The marks read as before, the record as it was. */
	assert_int_equal(sf_cursor_decode(enc, &back, err, sizeof(err)), 0);
	assert_memory_equal(&back, &c, sizeof(c));
	assert_int_equal(sf_seen_decode(enc, &t, err, sizeof(err)), 0);
	assert_int_equal(t.since, 1000);
	assert_true(sf_seen_get(&t, LEAD_B, &fp));
	assert_int_equal(fp, 7);
	enc2 = sf_cursor_encode_seen(&c, &t, 10);
	assert_string_equal(enc2, enc);
	free(enc);
	free(enc2);
	sf_seen_clear(&t);
	sf_seen_clear(&s);
	assert_null(s.leads);
}

static void
test_seen_drops_the_oldest(void **state)
{
	struct sf_cursor c = { 0 };
	struct sf_seen s;
	uint32_t fp;
	char *enc;

	(void)state;
	assert_int_equal(sf_seen_init(&s, 1000), 0);
	assert_int_equal(sf_seen_put(&s, LEAD_C, 3, 5000), 0);
	assert_int_equal(sf_seen_put(&s, LEAD_A, 1, 2000), 0);
	assert_int_equal(sf_seen_put(&s, LEAD_B, 2, 2000), 0);
	/* Two of three kept: A goes (same ms as B, the smaller Id), and
	 * since moves past every ms dropped. */
	enc = sf_cursor_encode_seen(&c, &s, 2);
	assert_non_null(strstr(enc, "\"seen\":{\"since\":2001,\"Lead\":[[\""
	    LEAD_B "\",2,2000],[\"" LEAD_C "\",3,5000]]}"));
	assert_int_equal(s.since, 2001);
	assert_false(sf_seen_get(&s, LEAD_A, &fp));
	assert_true(sf_seen_get(&s, LEAD_B, &fp));
	free(enc);
	/* Dropping what is older than since leaves since alone. */
	s.since = 9000;
	enc = sf_cursor_encode_seen(&c, &s, 1);
	assert_int_equal(s.since, 9000);
	assert_false(sf_seen_get(&s, LEAD_B, &fp));
	assert_true(sf_seen_get(&s, LEAD_C, &fp));
	free(enc);
	sf_seen_clear(&s);
}

static void
expect_seen_error(const char *seen, const char *want)
{
	struct sf_seen s;
	char err[128], *text = NULL;

	if (seen != NULL)
		assert_true(asprintf(&text, "{\"v\":1,\"Lead\":{\"ts\":1,\"id\":"
		    "\"\"},\"Opportunity\":{\"ts\":1,\"id\":\"\"}%s}", seen) > 0);
	assert_int_equal(sf_seen_decode(text, &s, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(s.leads);
	assert_int_equal(s.since, 0);
	free(text);
}

static void
test_seen_malformed(void **state)
{
	struct sf_seen s;
	char err[128];

	(void)state;
	assert_int_equal(sf_seen_decode(NULL, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "no cursor");
	/* A cursor from before the record: none yet. */
	expect_seen_error("", "cursor has no seen object");
	expect_seen_error(",\"seen\":[]", "cursor seen is not {\"since\": ms, "
	    "\"Lead\": [...]}");
	expect_seen_error(",\"seen\":{\"since\":-1,\"Lead\":[]}", "cursor seen "
	    "is not {\"since\": ms, \"Lead\": [...]}");
	expect_seen_error(",\"seen\":{\"since\":1}", "cursor seen is not "
	    "{\"since\": ms, \"Lead\": [...]}");
	expect_seen_error(",\"seen\":{\"since\":1,\"Lead\":[[\"" LEAD_A
	    "\",1,2],[\"x' OR Id != '\",1,2]]}", "cursor seen.Lead[1] is not "
	    "[Id, fingerprint, ms]");
	expect_seen_error(",\"seen\":{\"since\":1,\"Lead\":[[\"" LEAD_A
	    "\",4294967296,2]]}", "cursor seen.Lead[0] is not [Id, "
	    "fingerprint, ms]");
	expect_seen_error(",\"seen\":{\"since\":1,\"Lead\":[[\"" LEAD_A
	    "\",1,2.5]]}", "cursor seen.Lead[0] is not [Id, fingerprint, ms]");
	expect_seen_error(",\"seen\":{\"since\":1,\"Lead\":[[\"" LEAD_A
	    "\",1]]}", "cursor seen.Lead[0] is not [Id, fingerprint, ms]");
	expect_seen_error(",\"seen\":{\"since\":1,\"Lead\":[[\"" LEAD_A
	    "\",1,2],[\"" LEAD_A "\",1,3]]}", "cursor seen.Lead holds " LEAD_A
	    " twice");
}

static void
test_own_version_report(void **state)
{
	struct sf_own_version v = {
		.fp = 2, .created_ms = 5000, .modified_ms = 9000,
		.created_by_us = true, .status = "qualified",
	};
	struct sf_own_version w;

	(void)state;
	/* A Lead read before: reported when what it says changed. */
	w = v;
	w.seen = true;
	w.seen_fp = 1;
	assert_true(sf_own_version_report(&w, 1000));
	assert_true(sf_own_version_report(&w, 99999));
	w.seen_fp = 2;
	assert_false(sf_own_version_report(&w, 1000));
	w.seen_fp = 1;
	w.status = NULL;        /* an unmapped Status says nothing */
	assert_false(sf_own_version_report(&w, 1000));
	/* Never read, created before the record began: cannot tell. */
	assert_false(sf_own_version_report(&v, 5001));
	w = v;
	w.created_ms = -1;
	assert_false(sf_own_version_report(&w, 1000));
	/* Never read since it was created: not what our create leaves. */
	assert_true(sf_own_version_report(&v, 5000));
	w = v;
	w.status = "open";
	assert_false(sf_own_version_report(&w, 1000));
	w.has_reason = true;
	assert_true(sf_own_version_report(&w, 1000));
	/* Our create itself, whatever it holds. */
	w = v;
	w.modified_ms = w.created_ms;
	assert_false(sf_own_version_report(&w, 1000));
	/* A rep's Lead that only we were seen to change. */
	w = v;
	w.created_by_us = false;
	w.status = "open";
	assert_true(sf_own_version_report(&w, 1000));
}

/* ---- Configuration ----------------------------------------------------- */


static void
test_conf_ok(void **state)
{
	struct loaded l;
	const struct connector *c;

	(void)state;
	setenv("SF_TEST_SECRET", "s3cret", 1);
	load(&l, "[connector crm]\ntype = salesforce\nrole = sales\n"
	    "base_url = http://127.0.0.1:9/\nclient_id = env:SF_TEST_SECRET\n"
	    "client_secret = env:SF_TEST_SECRET\n"
	    "status.Sales_Qualified = qualified\nmatch = Baton_Key__c\n"
	    "api_budget = 50%\n");
	if (diag_count(&l.d) > 0)
		diag_print(&l.d, stderr);
	assert_non_null(l.ci);
	c = connector_descriptor(l.ci);
	assert_int_equal(c->batch_max, 200);
	assert_int_equal(c->poll_interval_ms, 60000);
	assert_int_equal(c->rate_limit, 0);
	assert_int_equal(connector_settings(l.ci)->batch_size, 200);
	unload(&l);
}

static void
test_conf_errors(void **state)
{
	static const char *const want[] = {
		"test.conf:4: [salesforce:crm] base_url: expected an http(s) "
		    "URL such as https://login.salesforce.com, not "
		    "'login.salesforce.com'",
		"test.conf:1: [salesforce:crm] client_secret: the client "
		    "credentials flow (no refresh_token) needs client_secret",
		"test.conf:6: [salesforce:crm] api_version: expected a version "
		    "like 60.0 (46.0 or later), not '45.0'",
		"test.conf:7: [salesforce:crm] match: expected Email or a Lead "
		    "field name such as Baton_Key__c, not 'Baton Key'",
		"test.conf:8: [salesforce:crm] owner: expected a User or Queue "
		    "id (15 or 18 letters and digits), not 'rep'",
		"test.conf:9: [salesforce:crm] api_budget: expected a "
		    "percentage from 1% to 100%, not '120%'",
		"test.conf:10: [salesforce:crm] status.Sales_Qualified: "
		    "'sql' is not a lead status: expected open, working, "
		    "qualified, unqualified or converted",
	};
	struct loaded l;

	(void)state;
	load(&l, "[connector crm]\ntype = salesforce\nrole = sales\n"
	    "base_url = login.salesforce.com\nclient_id = abc\n"
	    "api_version = 45.0\nmatch = \"Baton Key\"\nowner = rep\n"
	    "api_budget = 120%\nstatus.Sales_Qualified = sql\n");
	assert_null(l.ci);
	if (diag_count(&l.d) != sizeof(want) / sizeof(want[0]))
		diag_print(&l.d, stderr);
	assert_int_equal(diag_count(&l.d), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(l.d.msgs[i], want[i]);
	unload(&l);

	/* client_id is required; the role is sales only */
	load(&l, "[connector crm]\ntype = salesforce\nrole = marketing\n"
	    "refresh_token = rt\n");
	assert_null(l.ci);
	assert_true(diag_count(&l.d) >= 1);
	unload(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_form),
		cmocka_unit_test(test_token_parse_sample),
		cmocka_unit_test(test_token_parse_errors),
		cmocka_unit_test(test_error_parse),
		cmocka_unit_test(test_limit_info),
		cmocka_unit_test(test_description),
		cmocka_unit_test(test_lead_fields_create),
		cmocka_unit_test(test_lead_fields_placeholders),
		cmocka_unit_test(test_lead_fields_limits),
		cmocka_unit_test(test_collection_body),
		cmocka_unit_test(test_collection_parse),
		cmocka_unit_test(test_soql_window),
		cmocka_unit_test(test_soql_in),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_page_parse_samples),
		cmocka_unit_test(test_page_parse_errors),
		cmocka_unit_test(test_status_map),
		cmocka_unit_test(test_cursor_round_trip),
		cmocka_unit_test(test_cursor_malformed),
		cmocka_unit_test(test_seen_fingerprint),
		cmocka_unit_test(test_seen_round_trip),
		cmocka_unit_test(test_seen_drops_the_oldest),
		cmocka_unit_test(test_seen_malformed),
		cmocka_unit_test(test_own_version_report),
		cmocka_unit_test(test_conf_ok),
		cmocka_unit_test(test_conf_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
