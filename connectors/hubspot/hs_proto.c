/*
 * hs_proto.c - the HubSpot connector's pure side: signatures, webhook
 * bodies, CRM v3 request bodies and answers, the poll cursor, lifecycle
 * ordering, property mapping and the echo record (see hs_proto.h).
 *
 * Shapes follow HubSpot's published models (PublicObjectSearchRequest,
 * BatchReadInputSimplePublicObjectId, BatchInputSimplePublicObjectBatch
 * InputUpsert, BatchResponseSimplePublicObject(WithErrors), StandardError)
 * and the signature algorithms of its SDKs, checked against the vendor's
 * vectors in tests/unit/test_hubspot.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <baton/digest.h>
#include <baton/timestamp.h>

#include "hs_proto.h"

/* ---- Small helpers ----------------------------------------------------- */

static void
errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copies a JSON string value into buf, or "" when v is not a string. */
static void
copy_str(const json_t *v, char *buf, size_t len)
{
	const char *s = json_string_value(v);

	snprintf(buf, len, "%s", s != NULL ? s : "");
}

/* Whether s is 1..HS_ID_MAX decimal digits. */
static bool
digits_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		return false;
	for (; s[n] != '\0'; n++)
		if (!isdigit((unsigned char)s[n]) || n >= HS_ID_MAX)
			return false;
	return true;
}

/* An id given as a string of digits or a non-negative integer. */
static int
id_from_json(const json_t *v, char *out, size_t outlen)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (json_is_string(v) && digits_ok(json_string_value(v))) {
		snprintf(out, outlen, "%s", json_string_value(v));
		return 0;
	}
	return -1;
}

static char *
dump(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* ---- Signatures -------------------------------------------------------- */

/* The characters HubSpot decodes in the URI before signing (v3). */
static int
uri_decoded_char(const char *p)
{
	static const char keep[] = ":/?@!$'()*,;";
	char hex[3];
	long c;

	if (p[0] != '%' || !isxdigit((unsigned char)p[1]) ||
	    !isxdigit((unsigned char)p[2]))
		return -1;
	hex[0] = p[1];
	hex[1] = p[2];
	hex[2] = '\0';
	c = strtol(hex, NULL, 16);
	return c != 0 && strchr(keep, (int)c) != NULL ? (int)c : -1;
}

char *
hs_signature_v3(const char *secret, const char *method, const char *uri,
    const void *body, size_t len, const char *timestamp)
{
	size_t ml = strlen(method), ul = strlen(uri), tl = strlen(timestamp);
	unsigned char mac[DIGEST_SHA256_LEN];
	char *msg, *p;
	int rc;

	if ((msg = malloc(ml + ul + len + tl + 1)) == NULL)
		return NULL;
	memcpy(msg, method, ml);
	p = msg + ml;
	for (const char *u = uri; *u != '\0'; u++) {
		int c = uri_decoded_char(u);

		if (c != -1) {
			*p++ = (char)c;
			u += 2;
		} else {
			*p++ = *u;
		}
	}
	if (len > 0)
		memcpy(p, body, len);
	p += len;
	memcpy(p, timestamp, tl);
	p += tl;
	rc = digest_hmac_sha256(secret, strlen(secret), msg, (size_t)(p - msg),
	    mac);
	free(msg);
	return rc == 0 ? digest_base64(mac, sizeof(mac)) : NULL;
}

int
hs_signature_v12(int version, const char *secret, const char *method,
    const char *uri, const void *body, size_t len, char hex[65])
{
	size_t sl = strlen(secret), ml, ul;
	unsigned char md[DIGEST_SHA256_LEN];
	char *msg, *p;
	int rc;

	if (version != 1 && version != 2)
		return -1;
	ml = version == 2 ? strlen(method) : 0;
	ul = version == 2 ? strlen(uri) : 0;
	if ((msg = malloc(sl + ml + ul + len + 1)) == NULL)
		return -1;
	p = msg;
	memcpy(p, secret, sl);
	p += sl;
	if (version == 2) {
		memcpy(p, method, ml);
		p += ml;
		memcpy(p, uri, ul);
		p += ul;
	}
	if (len > 0)
		memcpy(p, body, len);
	p += len;
	rc = digest_sha256(msg, (size_t)(p - msg), md);
	explicit_bzero(msg, (size_t)(p - msg));
	free(msg);
	if (rc == 0)
		digest_hex(md, sizeof(md), hex);
	return rc;
}

int
hs_signature_check(const struct hs_sig_input *in, char *err, size_t errlen)
{
	const char *hdr = in->version == 3 ? "X-HubSpot-Signature-v3" :
	    "X-HubSpot-Signature";
	char want[65], got[65], *mac = NULL;
	size_t n;
	int64_t ts = 0;
	int ok;

	if (in->signature == NULL || in->signature[0] == '\0') {
		errf(err, errlen, "missing %s", hdr);
		return -1;
	}
	if (in->version == 3) {
		const char *t = in->timestamp;

		if (t == NULL || t[0] == '\0') {
			errf(err, errlen, "missing X-HubSpot-Request-Timestamp");
			return -1;
		}
		for (n = 0; t[n] != '\0'; n++) {
			if (!isdigit((unsigned char)t[n]) || n >= 15) {
				errf(err, errlen, "X-HubSpot-Request-Timestamp "
				    "'%.20s' is not a time in milliseconds", t);
				return -1;
			}
			ts = ts * 10 + (t[n] - '0');
		}
		if (in->now_ms - ts > HS_SIG_WINDOW_MS) {
			errf(err, errlen, "request timestamp %lld is %lld s old "
			    "(more than %d)", (long long)ts,
			    (long long)((in->now_ms - ts) / 1000),
			    HS_SIG_WINDOW_MS / 1000);
			return -1;
		}
		if (ts - in->now_ms > HS_SIG_SKEW_MS) {
			errf(err, errlen, "request timestamp %lld is %lld s in "
			    "the future", (long long)ts,
			    (long long)((ts - in->now_ms) / 1000));
			return -1;
		}
		mac = hs_signature_v3(in->secret, in->method, in->uri, in->body,
		    in->len, t);
		if (mac == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		n = strlen(mac);
		ok = strlen(in->signature) == n &&
		    digest_equal(mac, in->signature, n);
		free(mac);
	} else {
		if (hs_signature_v12(in->version, in->secret, in->method,
		    in->uri, in->body, in->len, want) == -1) {
			errf(err, errlen, "cannot compute the signature");
			return -1;
		}
		n = strlen(in->signature);
		ok = n == 64;
		for (size_t i = 0; ok && i < n; i++)
			got[i] = (char)tolower((unsigned char)in->signature[i]);
		got[64] = '\0';
		ok = ok && digest_equal(want, got, 64);
	}
	if (!ok) {
		errf(err, errlen, "%s mismatch", hdr);
		return -1;
	}
	return 0;
}

char *
hs_signed_uri(const char *public_url, const char *host,
    const char *received_uri)
{
	const char *q = received_uri != NULL ? strchr(received_uri, '?') :
	    NULL;
	char *s = NULL;
	size_t n;

	if (public_url != NULL && public_url[0] != '\0') {
		n = strlen(public_url);
		while (n > 0 && public_url[n - 1] == '/' &&
		    strchr(public_url, '?') == NULL && n > 8 &&
		    strchr(public_url + 8, '/') != public_url + n - 1)
			n--;
		if (asprintf(&s, "%.*s%s", (int)n, public_url,
		    q != NULL && strchr(public_url, '?') == NULL ? q : "") == -1)
			return NULL;
		return s;
	}
	if (host == NULL || host[0] == '\0' || received_uri == NULL)
		return NULL;
	if (asprintf(&s, "http://%s%s", host, received_uri) == -1)
		return NULL;
	return s;
}

/* ---- Webhook bodies ---------------------------------------------------- */

static int
int_field(const json_t *o, const char *name, bool required, long long min,
    long long *out, size_t i, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, name);

	if (v == NULL || json_is_null(v)) {
		if (!required) {
			*out = 0;
			return 0;
		}
		errf(err, errlen, "event %zu: missing %s", i + 1, name);
		return -1;
	}
	if (json_is_string(v) && digits_ok(json_string_value(v))) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0' && n >= min) {
			*out = n;
			return 0;
		}
		errf(err, errlen, "event %zu: %s: expected %s", i + 1, name,
		    min > 0 ? "a positive integer" : "a non-negative integer");
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min) {
		errf(err, errlen, "event %zu: %s: expected %s", i + 1, name,
		    min > 0 ? "a positive integer" : "a non-negative integer");
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
event_parse(const json_t *o, size_t i, struct hs_event *ev, char *err,
    size_t errlen)
{
	const char *type, *dot;
	const json_t *v;
	long long ll;

	if (!json_is_object(o)) {
		errf(err, errlen, "event %zu: expected an object", i + 1);
		return -1;
	}
	if (int_field(o, "eventId", true, 0, &ev->event_id, i, err,
	    errlen) == -1)
		return -1;
	type = json_string_value(json_object_get(o, "subscriptionType"));
	if (type == NULL || (dot = strchr(type, '.')) == NULL ||
	    dot == type || dot[1] == '\0' ||
	    (size_t)(dot - type) >= sizeof(ev->object) ||
	    strlen(dot + 1) >= sizeof(ev->action)) {
		errf(err, errlen, "event %zu: subscriptionType: expected "
		    "\"object.action\" such as \"contact.creation\"", i + 1);
		return -1;
	}
	memcpy(ev->object, type, (size_t)(dot - type));
	ev->object[dot - type] = '\0';
	snprintf(ev->action, sizeof(ev->action), "%s", dot + 1);
	if (int_field(o, "objectId", true, 1, &ev->object_id, i, err,
	    errlen) == -1)
		return -1;
	v = json_object_get(o, "occurredAt");
	if (v == NULL || timestamp_from_json(v, &ev->occurred_at, NULL,
	    0) == -1) {
		errf(err, errlen, "event %zu: occurredAt: expected a time in "
		    "milliseconds", i + 1);
		return -1;
	}
	if ((v = json_object_get(o, "propertyName")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > HS_NAME_MAX) {
			errf(err, errlen, "event %zu: propertyName: expected "
			    "a property name", i + 1);
			return -1;
		}
		copy_str(v, ev->property, sizeof(ev->property));
	}
	if ((v = json_object_get(o, "propertyValue")) != NULL &&
	    !json_is_null(v)) {
		if (json_is_string(v))
			ev->value = strndup(json_string_value(v),
			    json_string_length(v));
		else if (json_is_integer(v))
			(void)!asprintf(&ev->value, "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			ev->value = strdup(json_is_true(v) ? "true" : "false");
		else
			ev->value = json_dumps(v, JSON_COMPACT |
			    JSON_ENCODE_ANY);
		if (ev->value == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	copy_str(json_object_get(o, "changeSource"), ev->change_source,
	    sizeof(ev->change_source));
	v = json_object_get(o, "sourceId");
	if (json_is_integer(v))
		snprintf(ev->source_id, sizeof(ev->source_id), "%lld",
		    (long long)json_integer_value(v));
	else
		copy_str(v, ev->source_id, sizeof(ev->source_id));
	if (int_field(o, "appId", false, 0, &ev->app_id, i, err,
	    errlen) == -1)
		return -1;
	if (int_field(o, "attemptNumber", false, 0, &ll, i, err,
	    errlen) == -1)
		return -1;
	ev->attempt = ll > 1000 ? 1000 : (int)ll;
	if (strcmp(ev->action, "merge") == 0) {
		const json_t *m = json_object_get(o, "mergedObjectIds");
		const json_t *x;
		size_t k;

		if (int_field(o, "primaryObjectId", false, 1, &ev->primary_id,
		    i, err, errlen) == -1)
			return -1;
		if (ev->primary_id == 0)
			ev->primary_id = ev->object_id;
		if (!json_is_array(m) || json_array_size(m) == 0 ||
		    json_array_size(m) > HS_BATCH_MAX) {
			errf(err, errlen, "event %zu: mergedObjectIds: expected "
			    "1 to %d ids", i + 1, HS_BATCH_MAX);
			return -1;
		}
		ev->merged = calloc(json_array_size(m), sizeof(*ev->merged));
		if (ev->merged == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		json_array_foreach(m, k, x) {
			if (!json_is_integer(x) || json_integer_value(x) < 1) {
				errf(err, errlen, "event %zu: mergedObjectIds "
				    "%zu: expected a positive integer", i + 1,
				    k + 1);
				return -1;
			}
			ev->merged[ev->nmerged++] = json_integer_value(x);
		}
	}
	return 0;
}

int
hs_events_parse(const char *body, size_t len, struct hs_events *out,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	const json_t *o;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len > HS_BODY_MAX) {
		errf(err, errlen, "body of %zu bytes: at most %d", len,
		    HS_BODY_MAX);
		return -1;
	}
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "body is not JSON: %s (line %d)", je.text,
		    je.line);
		return -1;
	}
	if (!json_is_array(root) || json_array_size(root) == 0) {
		errf(err, errlen, "body: expected a non-empty array of events");
		json_decref(root);
		return -1;
	}
	if (json_array_size(root) > HS_EVENTS_MAX) {
		errf(err, errlen, "%zu events in one request: at most %d",
		    json_array_size(root), HS_EVENTS_MAX);
		json_decref(root);
		return -1;
	}
	if ((out->v = calloc(json_array_size(root), sizeof(*out->v))) ==
	    NULL) {
		errf(err, errlen, "out of memory");
		json_decref(root);
		return -1;
	}
	json_array_foreach(root, i, o) {
		out->n = i + 1;
		if (event_parse(o, i, &out->v[i], err, errlen) == -1) {
			json_decref(root);
			hs_events_clear(out);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

void
hs_events_clear(struct hs_events *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].value);
		free(e->v[i].merged);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* ---- Errors ------------------------------------------------------------ */

int
hs_error_parse(const char *body, size_t len, struct hs_error *e)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *m, *c;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(root)) {
		snprintf(e->message, sizeof(e->message), "%s", len == 0 ?
		    "empty body" : "body is not a JSON object");
		json_decref(root);
		return -1;
	}
	m = json_object_get(root, "message");
	c = json_object_get(root, "category");
	if (!json_is_string(m) && !json_is_string(c)) {
		snprintf(e->message, sizeof(e->message), "error body without "
		    "a message");
		json_decref(root);
		return -1;
	}
	copy_str(c, e->category, sizeof(e->category));
	copy_str(m, e->message, sizeof(e->message));
	copy_str(json_object_get(root, "policyName"), e->policy,
	    sizeof(e->policy));
	/* Control characters in a vendor message would garble log lines. */
	for (char *p = e->message; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(root);
	return 0;
}

int64_t
hs_429_wait_ms(const struct hs_error *e)
{
	if (strcmp(e->policy, "TEN_SECONDLY_ROLLING") == 0)
		return 10000;
	if (strcmp(e->policy, "SECONDLY") == 0 ||
	    strstr(e->message, "secondly limit") != NULL)
		return 1000;
	return 0;
}

/* ---- Requests ---------------------------------------------------------- */

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) == -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

char *
hs_batch_read_body(const char *const *ids, size_t n, const char *id_property,
    const char *const *props, size_t nprops)
{
	json_t *root, *inputs;

	if (n == 0 || n > HS_BATCH_MAX)
		return NULL;
	root = json_object();
	inputs = json_array();
	for (size_t i = 0; inputs != NULL && i < n; i++)
		json_array_append_new(inputs, json_pack("{s:s}", "id", ids[i]));
	if (root == NULL || inputs == NULL || json_array_size(inputs) != n) {
		json_decref(inputs);
		json_decref(root);
		return NULL;
	}
	json_object_set_new(root, "inputs", inputs);
	json_object_set_new(root, "properties", str_array(props, nprops));
	json_object_set_new(root, "propertiesWithHistory", json_array());
	if (id_property != NULL)
		json_object_set_new(root, "idProperty",
		    json_string(id_property));
	return dump(root);
}

char *
hs_batch_write_body(const char *const *keys, json_t *const *props, size_t n,
    bool by_id)
{
	json_t *root, *inputs;

	if (n == 0 || n > HS_BATCH_MAX)
		return NULL;
	inputs = json_array();
	for (size_t i = 0; inputs != NULL && i < n; i++) {
		json_t *in = by_id ?
		    json_pack("{s:s,s:O}", "id", keys[i], "properties",
		    props[i]) :
		    json_pack("{s:s,s:s,s:O}", "idProperty", "email", "id",
		    keys[i], "properties", props[i]);

		if (in == NULL || json_array_append_new(inputs, in) == -1) {
			json_decref(inputs);
			return NULL;
		}
	}
	if (inputs == NULL)
		return NULL;
	root = json_pack("{s:o}", "inputs", inputs);
	return dump(root);
}

const char *const hs_baton_properties[] = {
	"baton_stage", "baton_reason", "baton_score", "baton_owner",
	"baton_updated", NULL,
};

char *
hs_property_body(size_t i)
{
	static const struct {
		const char *name, *label, *type, *field;
	} p[] = {
		{ "baton_stage", "baton stage", "string", "text" },
		{ "baton_reason", "baton reason", "string", "text" },
		{ "baton_score", "baton score", "number", "number" },
		{ "baton_owner", "baton owner", "string", "text" },
		{ "baton_updated", "baton updated", "datetime", "date" },
	};

	if (i >= sizeof(p) / sizeof(p[0]))
		return NULL;
	return dump(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", p[i].name,
	    "label", p[i].label, "type", p[i].type, "fieldType", p[i].field,
	    "groupName", "contactinformation", "description",
	    "written by baton"));
}

char *
hs_search_body(const struct hs_window *w, const char *const *props,
    size_t nprops, int limit)
{
	char lo[24], hi[24];
	json_t *filters, *root;

	if (limit < 1 || limit > HS_PAGE_MAX)
		return NULL;
	snprintf(lo, sizeof(lo), "%lld", (long long)w->lo);
	snprintf(hi, sizeof(hi), "%lld", (long long)w->hi);
	if (w->by_id) {
		filters = json_pack("[{s:s,s:s,s:s}]", "propertyName",
		    "lastmodifieddate", "operator", "EQ", "value", lo);
		if (filters != NULL && w->last_id[0] != '\0')
			json_array_append_new(filters, json_pack("{s:s,s:s,"
			    "s:s}", "propertyName", "hs_object_id",
			    "operator", "GT", "value", w->last_id));
	} else {
		filters = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]",
		    "propertyName", "lastmodifieddate", "operator", "GTE",
		    "value", lo, "propertyName", "lastmodifieddate",
		    "operator", "LTE", "value", hi);
	}
	if (filters == NULL)
		return NULL;
	root = json_pack("{s:[{s:o}],s:[{s:s,s:s}],s:o,s:i}", "filterGroups",
	    "filters", filters, "sorts", "propertyName", w->by_id ?
	    "hs_object_id" : "lastmodifieddate", "direction", "ASCENDING",
	    "properties", str_array(props, nprops), "limit", limit);
	if (root != NULL && !w->by_id && w->after[0] != '\0')
		json_object_set_new(root, "after", json_string(w->after));
	return dump(root);
}

/* ---- Answers ----------------------------------------------------------- */

static int64_t
object_modified(const json_t *o, const json_t *props)
{
	static const char *const names[] = { "lastmodifieddate",
	    "hs_lastmodifieddate" };
	int64_t ms;

	for (size_t i = 0; i < 2; i++) {
		const json_t *v = json_object_get(props, names[i]);

		if (v != NULL && !json_is_null(v) &&
		    timestamp_from_json(v, &ms, NULL, 0) == 0)
			return ms;
	}
	if (timestamp_from_json(json_object_get(o, "updatedAt"), &ms, NULL,
	    0) == 0)
		return ms;
	return 0;
}

int
hs_result_parse(const char *body, size_t len, bool search,
    struct hs_result *r, char *err, size_t errlen)
{
	json_error_t je;
	const json_t *res, *errs, *o;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->total = -1;
	if ((r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "answer is not JSON: %s", je.text);
		return -1;
	}
	if (!json_is_object(r->root)) {
		errf(err, errlen, "answer: expected an object");
		goto bad;
	}
	res = json_object_get(r->root, "results");
	if (!json_is_array(res)) {
		errf(err, errlen, "answer: missing results array");
		goto bad;
	}
	if (search) {
		const json_t *t = json_object_get(r->root, "total");
		const json_t *a = json_object_get(json_object_get(
		    json_object_get(r->root, "paging"), "next"), "after");

		if (t != NULL && (!json_is_integer(t) ||
		    json_integer_value(t) < 0)) {
			errf(err, errlen, "answer: total: expected a "
			    "non-negative integer");
			goto bad;
		}
		r->total = t != NULL ? json_integer_value(t) :
		    (long long)json_array_size(res);
		if (json_is_integer(a))
			snprintf(r->after, sizeof(r->after), "%lld",
			    (long long)json_integer_value(a));
		else if (json_is_string(a) && json_string_length(a) > 0 &&
		    json_string_length(a) < sizeof(r->after))
			copy_str(a, r->after, sizeof(r->after));
		else if (a != NULL && !json_is_null(a)) {
			errf(err, errlen, "answer: paging.next.after: "
			    "expected a short string");
			goto bad;
		}
	}
	if (json_array_size(res) > 0 &&
	    (r->v = calloc(json_array_size(res), sizeof(*r->v))) == NULL) {
		errf(err, errlen, "out of memory");
		goto bad;
	}
	json_array_foreach(res, i, o) {
		struct hs_object *x = &r->v[r->n];
		const json_t *p = json_object_get(o, "properties");

		if (!json_is_object(o) || id_from_json(json_object_get(o,
		    "id"), x->id, sizeof(x->id)) == -1) {
			errf(err, errlen, "result %zu: id: expected digits",
			    i + 1);
			goto bad;
		}
		if (p != NULL && !json_is_object(p)) {
			errf(err, errlen, "result %zu: properties: expected an "
			    "object", i + 1);
			goto bad;
		}
		x->props = (json_t *)p;
		x->modified = object_modified(o, p);
		x->archived = json_is_true(json_object_get(o, "archived"));
		r->n++;
	}
	errs = json_object_get(r->root, "errors");
	if (errs != NULL && !json_is_null(errs)) {
		if (!json_is_array(errs)) {
			errf(err, errlen, "answer: errors: expected an array");
			goto bad;
		}
		if (json_array_size(errs) > 0 && (r->errors = calloc(
		    json_array_size(errs), sizeof(*r->errors))) == NULL) {
			errf(err, errlen, "out of memory");
			goto bad;
		}
		json_array_foreach(errs, i, o) {
			struct hs_item_error *e = &r->errors[r->nerrors++];
			const json_t *c = json_object_get(o, "context");

			copy_str(json_object_get(o, "category"), e->category,
			    sizeof(e->category));
			copy_str(json_object_get(o, "message"), e->message,
			    sizeof(e->message));
			for (char *q = e->message; *q != '\0'; q++)
				if ((unsigned char)*q < 0x20)
					*q = ' ';
			e->context = json_is_object(c) ? (json_t *)c : NULL;
		}
	}
	return 0;
bad:
	hs_result_clear(r);
	return -1;
}

void
hs_result_clear(struct hs_result *r)
{
	if (r == NULL)
		return;
	free(r->v);
	free(r->errors);
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
	r->total = -1;
}

int
hs_deal_parse(const char *body, size_t len, struct hs_deal *d, char *err,
    size_t errlen)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *p, *a, *x;
	const char *s;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(root) || id_from_json(json_object_get(root, "id"),
	    d->id, sizeof(d->id)) == -1) {
		errf(err, errlen, "deal: expected an object with an id");
		json_decref(root);
		return -1;
	}
	p = json_object_get(root, "properties");
	if (!json_is_object(p)) {
		errf(err, errlen, "deal %s: missing properties", d->id);
		json_decref(root);
		return -1;
	}
	if ((s = json_string_value(json_object_get(p, "dealstage"))) != NULL &&
	    strlen(s) <= HS_NAME_MAX)
		snprintf(d->stage, sizeof(d->stage), "%s", s);
	if ((s = json_string_value(json_object_get(p,
	    "deal_currency_code"))) != NULL && strlen(s) < sizeof(d->currency))
		snprintf(d->currency, sizeof(d->currency), "%s", s);
	if ((s = json_string_value(json_object_get(p, "amount"))) != NULL &&
	    s[0] != '\0') {
		char *end;

		d->amount = strtod(s, &end);
		d->has_amount = *end == '\0' && d->amount == d->amount &&
		    d->amount < 1e15 && d->amount > -1e15;
	}
	d->modified = object_modified(root, p);
	a = json_object_get(json_object_get(json_object_get(root,
	    "associations"), "contacts"), "results");
	json_array_foreach(a, i, x)
		if (id_from_json(json_object_get(x, "id"), d->contact,
		    sizeof(d->contact)) == 0 || id_from_json(json_object_get(x,
		    "toObjectId"), d->contact, sizeof(d->contact)) == 0)
			break;
	json_decref(root);
	return 0;
}

char *
hs_assoc_read_body(const char *const *ids, size_t n)
{
	json_t *root, *inputs = json_array();

	if (n == 0 || n > HS_BATCH_MAX || inputs == NULL) {
		json_decref(inputs);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(inputs, json_pack("{s:s}", "id", ids[i]));
	if (json_array_size(inputs) != n ||
	    (root = json_pack("{s:o}", "inputs", inputs)) == NULL) {
		json_decref(inputs);
		return NULL;
	}
	return dump(root);
}

int
hs_assoc_parse(const char *body, size_t len, struct hs_assoc *a, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root;
	const json_t *res, *o, *to, *t;
	size_t i, k, n = 0;

	memset(a, 0, sizeof(*a));
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		errf(err, errlen, "answer is not JSON: %s", je.text);
		return -1;
	}
	res = json_object_get(root, "results");
	if (!json_is_object(root) || !json_is_array(res)) {
		errf(err, errlen, "answer: missing results array");
		goto bad;
	}
	json_array_foreach(res, i, o) {
		to = json_object_get(o, "to");
		if (!json_is_object(o) || !json_is_array(to)) {
			errf(err, errlen, "result %zu: to: expected an array",
			    i + 1);
			goto bad;
		}
		if (json_array_size(to) > HS_ASSOC_MAX - n) {
			errf(err, errlen, "answer: more than %d associations",
			    HS_ASSOC_MAX);
			goto bad;
		}
		n += json_array_size(to);
	}
	if (n > 0 && (a->v = calloc(n, sizeof(*a->v))) == NULL) {
		errf(err, errlen, "out of memory");
		goto bad;
	}
	json_array_foreach(res, i, o) {
		char from[HS_ID_MAX + 1];

		if (id_from_json(json_object_get(json_object_get(o, "from"),
		    "id"), from, sizeof(from)) == -1) {
			errf(err, errlen, "result %zu: from.id: expected "
			    "digits", i + 1);
			goto bad;
		}
		json_array_foreach(json_object_get(o, "to"), k, t) {
			struct hs_assoc_pair *x = &a->v[a->n];

			if (id_from_json(json_object_get(t, "toObjectId"),
			    x->to, sizeof(x->to)) == -1) {
				errf(err, errlen, "result %zu: to %zu: "
				    "toObjectId: expected digits", i + 1,
				    k + 1);
				goto bad;
			}
			memcpy(x->from, from, sizeof(x->from));
			a->n++;
		}
	}
	json_decref(root);
	return 0;
bad:
	json_decref(root);
	hs_assoc_clear(a);
	return -1;
}

void
hs_assoc_clear(struct hs_assoc *a)
{
	if (a == NULL)
		return;
	free(a->v);
	memset(a, 0, sizeof(*a));
}

char *
hs_deal_create_body(const char *const *contacts, json_t *const *props,
    size_t n)
{
	json_t *inputs = json_array(), *root;

	if (n == 0 || n > HS_BATCH_MAX || inputs == NULL) {
		json_decref(inputs);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(inputs, json_pack(
		    "{s:O,s:[{s:{s:s},s:[{s:s,s:i}]}]}",
		    "properties", props[i], "associations", "to", "id",
		    contacts[i], "types", "associationCategory",
		    "HUBSPOT_DEFINED", "associationTypeId",
		    HS_ASSOC_DEAL_TO_CONTACT));
	if (json_array_size(inputs) != n ||
	    (root = json_pack("{s:o}", "inputs", inputs)) == NULL) {
		json_decref(inputs);
		return NULL;
	}
	return dump(root);
}

const char *
hs_deal_outcome(const char *stage)
{
	if (stage != NULL && strcmp(stage, "closedwon") == 0)
		return "won";
	if (stage != NULL && strcmp(stage, "closedlost") == 0)
		return "lost";
	return "open";
}

bool
hs_item_error_has(const struct hs_item_error *e, const char *key)
{
	const char *k;
	const json_t *arr, *v;
	size_t i;

	if (e->context == NULL || key == NULL)
		return false;
	json_object_foreach((json_t *)e->context, k, arr) {
		if (!json_is_array(arr))
			continue;
		json_array_foreach(arr, i, v)
			if (json_is_string(v) &&
			    strcasecmp(json_string_value(v), key) == 0)
				return true;
	}
	return false;
}

/* ---- The poll cursor --------------------------------------------------- */

char *
hs_cursor_encode(const struct hs_cursor *c)
{
	json_t *win = json_array();

	for (size_t i = 0; win != NULL && i < c->nwin; i++) {
		const struct hs_window *w = &c->win[i];

		if (json_array_append_new(win, json_pack("{s:I,s:I,s:s,s:b,"
		    "s:s,s:I,s:I}", "lo", (json_int_t)w->lo, "hi",
		    (json_int_t)w->hi, "after", w->after, "by_id", w->by_id,
		    "last_id", w->last_id, "total", (json_int_t)w->total,
		    "seen", (json_int_t)w->seen)) == -1) {
			json_decref(win);
			return NULL;
		}
	}
	if (win == NULL)
		return NULL;
	return dump(json_pack("{s:i,s:I,s:I,s:o}", "v", 1, "wm",
	    (json_int_t)c->wm, "hi", (json_int_t)c->round_hi, "win", win));
}

static bool
ms_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < 253402300800000LL;
}

int
hs_cursor_decode(const char *s, size_t len, struct hs_cursor *c, char *err,
    size_t errlen)
{
	json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *win, *o;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(root) || !json_is_integer(json_object_get(root,
	    "v")) || json_integer_value(json_object_get(root, "v")) != 1) {
		errf(err, errlen, "cursor: expected a JSON object with v 1");
		goto bad;
	}
	if (!ms_ok(json_object_get(root, "wm")) ||
	    !ms_ok(json_object_get(root, "hi"))) {
		errf(err, errlen, "cursor: wm and hi must be times in ms");
		goto bad;
	}
	c->wm = json_integer_value(json_object_get(root, "wm"));
	c->round_hi = json_integer_value(json_object_get(root, "hi"));
	win = json_object_get(root, "win");
	if (!json_is_array(win) || json_array_size(win) > HS_WINDOWS_MAX) {
		errf(err, errlen, "cursor: win: expected an array of at most "
		    "%d windows", HS_WINDOWS_MAX);
		goto bad;
	}
	json_array_foreach(win, i, o) {
		struct hs_window *w = &c->win[i];
		const json_t *a = json_object_get(o, "after");
		const json_t *id = json_object_get(o, "last_id");
		const json_t *t = json_object_get(o, "total");

		if (!ms_ok(json_object_get(o, "lo")) ||
		    !ms_ok(json_object_get(o, "hi")) || !json_is_string(a) ||
		    json_string_length(a) >= sizeof(w->after) ||
		    !json_is_boolean(json_object_get(o, "by_id")) ||
		    !json_is_string(id) || (json_string_length(id) > 0 &&
		    !digits_ok(json_string_value(id))) ||
		    !json_is_integer(t) || json_integer_value(t) < -1 ||
		    !ms_ok(json_object_get(o, "seen"))) {
			errf(err, errlen, "cursor: window %zu is malformed",
			    i + 1);
			goto bad;
		}
		w->lo = json_integer_value(json_object_get(o, "lo"));
		w->hi = json_integer_value(json_object_get(o, "hi"));
		if (w->lo > w->hi || (i > 0 && w->lo <= c->win[i - 1].hi)) {
			errf(err, errlen, "cursor: window %zu is out of order",
			    i + 1);
			goto bad;
		}
		copy_str(a, w->after, sizeof(w->after));
		w->by_id = json_is_true(json_object_get(o, "by_id"));
		copy_str(id, w->last_id, sizeof(w->last_id));
		w->total = json_integer_value(t);
		w->seen = json_integer_value(json_object_get(o, "seen"));
		c->nwin = i + 1;
	}
	json_decref(root);
	return 0;
bad:
	json_decref(root);
	memset(c, 0, sizeof(*c));
	return -1;
}

int
hs_cursor_split(struct hs_cursor *c)
{
	struct hs_window *w = &c->win[0];
	int64_t mid;

	if (c->nwin == 0 || w->by_id)
		return -1;
	if (w->lo == w->hi) {
		w->by_id = true;
		w->after[0] = '\0';
		w->last_id[0] = '\0';
		w->total = -1;
		return 0;
	}
	if (c->nwin >= HS_WINDOWS_MAX)
		return -1;
	memmove(&c->win[1], &c->win[0], c->nwin * sizeof(c->win[0]));
	c->nwin++;
	mid = w->lo + (w->hi - w->lo) / 2;
	c->win[0].hi = mid;
	c->win[1].lo = mid + 1;
	for (int i = 0; i < 2; i++) {
		c->win[i].after[0] = '\0';
		c->win[i].total = -1;
		c->win[i].by_id = false;
		c->win[i].last_id[0] = '\0';
		c->win[i].seen = 0;
	}
	return 0;
}

int
hs_cursor_split_probe(struct hs_cursor *c, int64_t first, int64_t last,
    bool full)
{
	struct hs_window *w = &c->win[0];
	int64_t lo;

	if (c->nwin == 0 || w->by_id)
		return -1;
	lo = first > w->lo && first <= w->hi ? first : w->lo;
	if (full && first > 0 && last == first && lo == first && lo < w->hi) {
		if (c->nwin >= HS_WINDOWS_MAX)
			return -1;
		memmove(&c->win[1], &c->win[0], c->nwin * sizeof(c->win[0]));
		c->nwin++;
		c->win[0].lo = c->win[0].hi = lo;
		c->win[1].lo = lo + 1;
		for (int i = 0; i < 2; i++) {
			c->win[i].after[0] = '\0';
			c->win[i].total = -1;
			c->win[i].by_id = false;
			c->win[i].last_id[0] = '\0';
			c->win[i].seen = 0;
		}
		return 0;
	}
	if (lo != w->lo && c->nwin >= HS_WINDOWS_MAX && lo < w->hi)
		return -1;      /* the halving below would fail */
	w->lo = lo;
	return hs_cursor_split(c);
}

void
hs_cursor_pop(struct hs_cursor *c)
{
	if (c->nwin == 0)
		return;
	if (c->win[0].hi > c->wm)
		c->wm = c->win[0].hi;
	c->nwin--;
	memmove(&c->win[0], &c->win[1], c->nwin * sizeof(c->win[0]));
}

/* ---- Lifecycle and statuses -------------------------------------------- */

static const char *const lifecycle[] = {
	"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
	"opportunity", "customer", "evangelist", NULL,
};

int
hs_lifecycle_rank(const char *stage)
{
	if (stage == NULL || stage[0] == '\0')
		return 0;
	for (int i = 0; lifecycle[i] != NULL; i++)
		if (strcmp(stage, lifecycle[i]) == 0)
			return i + 1;
	return -1;
}

const char *
hs_lifecycle_forward(const char *current, const char *want)
{
	int cur = hs_lifecycle_rank(current), w = hs_lifecycle_rank(want);

	if (w <= 0 || cur < 0 || w <= cur)
		return NULL;
	return lifecycle[w - 1];
}

int
hs_baton_stage_rank(const char *stage)
{
	static const char *const order[] = { "mql", "sal", "sql",
	    "opportunity", "customer" };

	for (size_t i = 0; stage != NULL && i < sizeof(order) /
	    sizeof(order[0]); i++)
		if (strcmp(stage, order[i]) == 0)
			return (int)i + 1;
	return 0;
}

const struct hs_feedback_map *
hs_feedback_map(const char *type)
{
	static const struct {
		const char *type;
		struct hs_feedback_map m;
	} t[] = {
		{ "feedback.accepted", { "marketingqualifiedlead",
		    "IN_PROGRESS", "sal" } },
		{ "feedback.sql", { "salesqualifiedlead", NULL, "sql" } },
		{ "feedback.opportunity", { "opportunity", "OPEN_DEAL",
		    "opportunity" } },
		{ "feedback.won", { "customer", NULL, "customer" } },
		{ "feedback.lost", { NULL, NULL, "lost" } },
		{ "feedback.rejected", { NULL, "UNQUALIFIED", "rejected" } },
		{ "feedback.recycled", { NULL, NULL, "recycled" } },
	};

	if (type == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(type, t[i].type) == 0)
			return &t[i].m;
	return NULL;
}

const char *
hs_status_map(const struct conf_map *map, const char *value)
{
	static const char *const def[][2] = {
		{ "NEW", "open" }, { "OPEN", "open" },
		{ "IN_PROGRESS", "working" },
		{ "ATTEMPTED_TO_CONTACT", "working" },
		{ "CONNECTED", "working" }, { "OPEN_DEAL", "qualified" },
		{ "UNQUALIFIED", "unqualified" },
		{ "BAD_TIMING", "unqualified" },
	};

	if (value == NULL || value[0] == '\0')
		return NULL;
	for (size_t i = 0; map != NULL && i < map->n; i++)
		if (strcasecmp(map->v[i].key, value) == 0)
			return map->v[i].value;
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		if (strcasecmp(def[i][0], value) == 0)
			return def[i][1];
	return NULL;
}

/* ---- Property mapping -------------------------------------------------- */

static const char *const canonical[][2] = {
	{ "email", "email" }, { "first_name", "firstname" },
	{ "last_name", "lastname" }, { "title", "jobtitle" },
	{ "company", "company" }, { "company_size", "numemployees" },
	{ "industry", "industry" }, { "country", "country" },
	{ "phone", "phone" },
};
#define NCANON (sizeof(canonical) / sizeof(canonical[0]))

bool
hs_prop_name_ok(const char *s)
{
	if (s == NULL || !isalpha((unsigned char)s[0]) ||
	    strlen(s) > HS_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int
map_set(struct hs_map *m, const char *field, const char *prop)
{
	char *p;
	void *v;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].field, field) == 0) {
			if ((p = strdup(prop)) == NULL)
				return -1;
			free(m->v[i].prop);
			m->v[i].prop = p;
			return 0;
		}
	if ((v = realloc(m->v, (m->n + 1) * sizeof(*m->v))) == NULL)
		return -1;
	m->v = v;
	m->v[m->n].field = strdup(field);
	m->v[m->n].prop = strdup(prop);
	m->n++;
	return m->v[m->n - 1].field != NULL && m->v[m->n - 1].prop != NULL ?
	    0 : -1;
}

int
hs_map_build(struct hs_map *m, const struct conf_map *entries, char *err,
    size_t errlen)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < NCANON; i++)
		if (map_set(m, canonical[i][0], canonical[i][1]) == -1)
			goto oom;
	for (size_t i = 0; entries != NULL && i < entries->n; i++) {
		const char *f = entries->v[i].key, *p = entries->v[i].value;
		bool known = false;

		for (size_t k = 0; k < NCANON; k++)
			known = known || strcmp(f, canonical[k][0]) == 0;
		if (!known && (strncmp(f, "custom.", 7) != 0 ||
		    !hs_prop_name_ok(f + 7))) {
			errf(err, errlen, "map.%s: '%s' is not a canonical "
			    "field (email first_name last_name title company "
			    "company_size industry country phone) or "
			    "custom.<name>", f, f);
			hs_map_clear(m);
			return -1;
		}
		if (!hs_prop_name_ok(p)) {
			errf(err, errlen, "map.%s: '%s' is not a HubSpot "
			    "property name", f, p);
			hs_map_clear(m);
			return -1;
		}
		if (map_set(m, f, p) == -1)
			goto oom;
	}
	return 0;
oom:
	errf(err, errlen, "out of memory");
	hs_map_clear(m);
	return -1;
}

void
hs_map_clear(struct hs_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].field);
		free(m->v[i].prop);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

bool
hs_company_size(const char *s, long long *out)
{
	const char *p = s;
	long long lo = 0, hi = 0;

	if (s == NULL || !isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (lo > (1LL << 50))
			return false;
		lo = lo * 10 + (*p - '0');
	}
	if (*p == '\0' || (p[0] == '+' && p[1] == '\0')) {
		*out = lo;
		return true;
	}
	if (*p != '-' || !isdigit((unsigned char)p[1]))
		return false;
	for (p++; isdigit((unsigned char)*p); p++) {
		if (hi > (1LL << 50))
			return false;
		hi = hi * 10 + (*p - '0');
	}
	if (*p != '\0' || hi < lo)
		return false;
	*out = lo;
	return true;
}

const char *
hs_numemployees_option(long long n)
{
	static const struct {
		long long lo;
		const char *option;
	} r[] = {
		{ 1000, "1000+" }, { 500, "500-1000" }, { 100, "100-500" },
		{ 50, "50-100" }, { 25, "25-50" }, { 5, "5-25" }, { 1, "1-5" },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (n >= r[i].lo)
			return r[i].option;
	return NULL;
}

json_t *
hs_contact_data(const struct hs_map *m, const json_t *props, const char *id)
{
	json_t *d = json_object(), *custom = NULL;
	long long n;

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		const char *v = json_string_value(json_object_get(props,
		    m->v[i].prop));
		json_t *val;

		if (v == NULL || v[0] == '\0')
			continue;
		val = strcmp(m->v[i].field, "company_size") == 0 &&
		    hs_company_size(v, &n) ? json_integer(n) : json_string(v);
		if (strncmp(m->v[i].field, "custom.", 7) == 0) {
			if (custom == NULL && (custom = json_object()) == NULL)
				break;
			json_object_set_new(custom, m->v[i].field + 7, val);
		} else {
			json_object_set_new(d, m->v[i].field, val);
		}
	}
	if (custom != NULL)
		json_object_set_new(d, "custom", custom);
	json_object_set_new(d, "id", json_string(id));
	return d;
}

/* A datetime property's value in ms (ISO 8601 as CRM v3 answers, or
 * epoch milliseconds as older APIs do, read as timestamp_from_json()
 * reads event times); 0 when it is neither. */
static int64_t
prop_time(const json_t *props, const char *name)
{
	const json_t *v = json_object_get(props, name);
	char err[128];
	int64_t ms;

	return json_is_string(v) && timestamp_from_json(v, &ms, err,
	    sizeof(err)) == 0 ? ms : 0;
}

size_t
hs_contact_activities(const json_t *props, int64_t modified_ms,
    int64_t window_ms, struct hs_activity *out)
{
	static const struct {
		const char *activity, *when, *name, *field;
	} kinds[HS_ACTIVITIES_MAX] = {
		{ "form_submit", "recent_conversion_date",
		    "recent_conversion_event_name", "conversion" },
		{ "email_open", "hs_email_last_open_date",
		    "hs_email_last_email_name", "email_name" },
		{ "email_click", "hs_email_last_click_date",
		    "hs_email_last_email_name", "email_name" },
	};
	size_t n = 0;

	for (size_t k = 0; k < HS_ACTIVITIES_MAX; k++) {
		int64_t at = prop_time(props, kinds[k].when);
		const char *name = json_string_value(json_object_get(props,
		    kinds[k].name));
		json_t *d;

		if (at <= 0 || (modified_ms > 0 && (at > modified_ms +
		    window_ms || at < modified_ms - window_ms)))
			continue;
		if ((d = json_pack("{s:s}", "activity", kinds[k].activity)) ==
		    NULL)
			continue;
		if (name != NULL && name[0] != '\0') {
			const char *colon = strstr(name, ": ");

			json_object_set_new(d, kinds[k].field,
			    json_string(name));
			if (k == 0)
				json_object_set_new(d, "form", colon != NULL ?
				    json_stringn(name, (size_t)(colon - name)) :
				    json_string(name));
		}
		out[n].activity = kinds[k].activity;
		out[n].at = at;
		out[n].data = d;
		n++;
	}
	return n;
}

json_t *
hs_contact_props(const struct hs_map *m, const json_t *attrs)
{
	json_t *p = json_object();

	for (size_t i = 0; p != NULL && i < m->n; i++) {
		const char *f = m->v[i].field;
		const json_t *v;
		char num[64];

		if (strcmp(f, "email") == 0)
			continue;
		v = strncmp(f, "custom.", 7) == 0 ? json_object_get(
		    json_object_get(attrs, "custom"), f + 7) :
		    json_object_get(attrs, f);
		if (strcmp(m->v[i].prop, "numemployees") == 0 &&
		    (json_is_number(v) || json_is_string(v))) {
			/* HubSpot's enumeration of ranges: the one whose
			 * lower bound the size reaches. */
			long long n;
			const char *opt = NULL;

			if (json_is_integer(v))
				n = (long long)json_integer_value(v);
			else if (json_is_real(v))
				n = (long long)json_real_value(v);
			else if (!hs_company_size(json_string_value(v), &n))
				n = -1;
			if (n >= 0)
				opt = hs_numemployees_option(n);
			else if (json_string_length(v) > 0)
				opt = json_string_value(v);
			if (opt != NULL)
				json_object_set_new(p, m->v[i].prop,
				    json_string(opt));
		} else if (json_is_string(v) && json_string_length(v) > 0) {
			json_object_set_new(p, m->v[i].prop,
			    json_string(json_string_value(v)));
		} else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
			json_object_set_new(p, m->v[i].prop, json_string(num));
		} else if (json_is_real(v)) {
			snprintf(num, sizeof(num), "%g", json_real_value(v));
			json_object_set_new(p, m->v[i].prop, json_string(num));
		}
	}
	return p;
}

/* ---- The echo record --------------------------------------------------- */

int
hs_echo_init(struct hs_echo *e, size_t cap, int64_t ttl_ms)
{
	memset(e, 0, sizeof(*e));
	if (cap == 0 || (e->v = calloc(cap, sizeof(*e->v))) == NULL)
		return -1;
	e->cap = cap;
	e->ttl_ms = ttl_ms;
	return 0;
}

void
hs_echo_clear(struct hs_echo *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; e->v != NULL && i < e->cap; i++)
		free(e->v[i].value);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

int
hs_echo_add(struct hs_echo *e, const char *id, const char *prop,
    const char *value, int64_t now_ms)
{
	struct hs_echo_entry *x;
	char *v;

	if (e->cap == 0 || (v = strdup(value != NULL ? value : "")) == NULL)
		return -1;
	if (e->n == e->cap) {
		free(e->v[e->head].value);
		e->v[e->head].value = NULL;
		e->head = (e->head + 1) % e->cap;
		e->n--;
	}
	x = &e->v[(e->head + e->n) % e->cap];
	snprintf(x->id, sizeof(x->id), "%s", id);
	snprintf(x->prop, sizeof(x->prop), "%s", prop);
	x->value = v;
	x->at = now_ms;
	e->n++;
	return 0;
}

/* Whether a written value and one HubSpot shows are the same: equal
 * text, or the same instant written as ISO 8601 and read as epoch
 * milliseconds (or the other way round), as datetime properties are. */
static bool
same_value(const char *written, const char *shown)
{
	json_t *both;
	int64_t a, b;

	if (strcmp(written, shown) == 0)
		return true;
	if (strchr(written, 'T') == NULL && strchr(shown, 'T') == NULL)
		return false;
	if ((both = json_pack("{s:s,s:s}", "w", written, "s", shown)) == NULL)
		return false;
	a = prop_time(both, "w");
	b = prop_time(both, "s");
	json_decref(both);
	return a > 0 && a == b;
}

bool
hs_echo_match(const struct hs_echo *e, const char *id, const char *prop,
    const char *value, int64_t now_ms)
{
	if (value == NULL)
		value = "";
	for (size_t k = 0; k < e->n; k++) {
		const struct hs_echo_entry *x = &e->v[(e->head + k) % e->cap];

		if (now_ms - x->at <= e->ttl_ms && strcmp(x->id, id) == 0 &&
		    strcmp(x->prop, prop) == 0 && same_value(x->value, value))
			return true;
	}
	return false;
}

const char *
hs_echo_value(const struct hs_echo *e, const char *id, const char *prop,
    int64_t now_ms)
{
	for (size_t k = e->n; k-- > 0;) {
		const struct hs_echo_entry *x = &e->v[(e->head + k) % e->cap];

		if (now_ms - x->at <= e->ttl_ms && strcmp(x->id, id) == 0 &&
		    strcmp(x->prop, prop) == 0)
			return x->value;
	}
	return NULL;
}

bool
hs_echo_poll_match(const struct hs_echo *e, const char *id,
    const json_t *props, int64_t modified_ms, int64_t slack_ms,
    int64_t now_ms)
{
	const char *seen[32];
	size_t nseen = 0;
	bool near = false;

	/* Newest first: the latest write of each property decides. */
	for (size_t k = e->n; k-- > 0;) {
		const struct hs_echo_entry *x = &e->v[(e->head + k) % e->cap];
		const char *cur;
		bool dup = false;

		if (now_ms - x->at > e->ttl_ms || strcmp(x->id, id) != 0)
			continue;
		if (x->at - modified_ms <= slack_ms &&
		    modified_ms - x->at <= slack_ms)
			near = true;
		for (size_t s = 0; s < nseen; s++)
			dup = dup || strcmp(seen[s], x->prop) == 0;
		if (dup)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = x->prop;
		cur = json_string_value(json_object_get(props, x->prop));
		if (json_object_get(props, x->prop) == NULL)
			continue;       /* not read: cannot disagree */
		if (!same_value(x->value, cur != NULL ? cur : ""))
			return false;
	}
	return near;
}
