/*
 * sf_proto.c - the Salesforce connector's request building and response
 * parsing: OAuth2 token form and response, REST error bodies,
 * Sforce-Limit-Info, Lead records for sObject Collections and their
 * per-record results, SOQL for the keyset poll window and the lookups,
 * query pages, the status table, the poll cursor and the record of Leads
 * the poll has seen.  No I/O here (see sf_proto.h); salesforce.c and its
 * siblings drive the network.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <baton/error.h>
#include <baton/timestamp.h>

#include "sf_proto.h"

/* ---- Small helpers ----------------------------------------------------- */

int
sf_buf_add(struct sf_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
sf_buf_printf(struct sf_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256], *big = NULL;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return sf_buf_add(b, small, (size_t)n);
	if ((big = malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = sf_buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

/* A JSON document from a body that need not be NUL-terminated. */
static json_t *
load(const char *body, size_t len, char *err, size_t errlen,
    const char *what)
{
	json_error_t je;
	json_t *j;

	if (body == NULL || len == 0) {
		error_set(err, errlen, "%s: empty body", what);
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		error_set(err, errlen, "%s is not JSON: %s (line %d)", what,
		    je.text, je.line);
	return j;
}

/* Copies s into out for one line of text: control characters become
 * spaces, runs of spaces collapse, and the ends are trimmed. */
static void
one_line(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	int space = 1;

	if (outlen == 0)
		return;
	for (; s != NULL && *s != '\0' && o + 1 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		out[o++] = (char)c;
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

bool
sf_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) || n >= SF_ID_MAX)
			return false;
	return n == 15 || n == 18;
}

/* ---- OAuth2 ------------------------------------------------------------ */

char *
sf_url_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 3 + 1);

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* Appends "&name=<value encoded>" (no '&' first). */
static int
form_add(struct sf_buf *b, const char *name, const char *value)
{
	char *e = sf_url_encode(value);
	int rc;

	if (e == NULL)
		return -1;
	rc = sf_buf_printf(b, "%s%s=%s", b->len > 0 ? "&" : "", name, e);
	free(e);
	return rc;
}

char *
sf_token_form(const char *client_id, const char *client_secret,
    const char *refresh_token)
{
	struct sf_buf b = { 0 };
	int rc;

	rc = form_add(&b, "grant_type", refresh_token != NULL ?
	    "refresh_token" : "client_credentials");
	if (rc == 0)
		rc = form_add(&b, "client_id", client_id);
	if (rc == 0 && client_secret != NULL)
		rc = form_add(&b, "client_secret", client_secret);
	if (rc == 0 && refresh_token != NULL)
		rc = form_add(&b, "refresh_token", refresh_token);
	if (rc == -1) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

void
sf_token_clear(struct sf_token *t)
{
	if (t == NULL)
		return;
	free(t->access_token);
	free(t->instance_url);
	free(t->user_id);
	memset(t, 0, sizeof(*t));
}

int
sf_token_parse(const char *body, size_t len, struct sf_token *t, char *err,
    size_t errlen)
{
	json_t *j;
	const char *tok, *inst, *id, *slash, *host;
	size_t il;

	memset(t, 0, sizeof(*t));
	if ((j = load(body, len, err, errlen, "token response")) == NULL)
		return -1;
	if (!json_is_object(j)) {
		error_set(err, errlen, "token response is not a JSON object");
		goto fail;
	}
	tok = json_string_value(json_object_get(j, "access_token"));
	inst = json_string_value(json_object_get(j, "instance_url"));
	id = json_string_value(json_object_get(j, "id"));
	if (tok == NULL || tok[0] == '\0') {
		error_set(err, errlen, "token response has no access_token");
		goto fail;
	}
	host = inst == NULL ? NULL : strncmp(inst, "https://", 8) == 0 ?
	    inst + 8 : strncmp(inst, "http://", 7) == 0 ? inst + 7 : NULL;
	if (host == NULL || host[0] == '\0' || host[0] == '/' ||
	    strpbrk(inst, " \r\n?#") != NULL) {
		error_set(err, errlen, "token response has no http(s) "
		    "instance_url");
		goto fail;
	}
	if (id == NULL || (slash = strrchr(id, '/')) == NULL ||
	    !sf_id_valid(slash + 1)) {
		error_set(err, errlen, "token response's id is not a URL "
		    "ending in a user id");
		goto fail;
	}
	il = strlen(inst);
	while (il > 0 && inst[il - 1] == '/')
		il--;
	t->access_token = strdup(tok);
	t->instance_url = strndup(inst, il);
	t->user_id = strdup(slash + 1);
	if (t->access_token == NULL || t->instance_url == NULL ||
	    t->user_id == NULL) {
		error_set(err, errlen, "out of memory");
		sf_token_clear(t);
		goto fail;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return -1;
}

/* ---- Errors and limits ------------------------------------------------- */

/* "message (f1, f2)" from an error object's message and fields. */
static void
error_text(const json_t *e, const char *mkey, char *msg, size_t msglen)
{
	const json_t *fields = json_object_get(e, "fields"), *f;
	char raw[1024];
	size_t i, o;

	one_line(msg, msglen, json_string_value(json_object_get(e, mkey)));
	if (json_array_size(fields) == 0)
		return;
	o = strlen(msg);
	snprintf(raw, sizeof(raw), "%s(", o > 0 ? " " : "");
	json_array_foreach(fields, i, f) {
		size_t r = strlen(raw);

		if (json_is_string(f))
			snprintf(raw + r, sizeof(raw) - r, "%s%s",
			    i > 0 ? ", " : "", json_string_value(f));
	}
	strncat(raw, ")", sizeof(raw) - strlen(raw) - 1);
	if (o < msglen)
		snprintf(msg + o, msglen - o, "%s", raw);
}

int
sf_error_parse(const char *body, size_t len, char *code, size_t codelen,
    char *msg, size_t msglen)
{
	json_t *j = NULL, *e;
	const char *c;
	char shown[201];
	size_t n;

	if (codelen > 0)
		code[0] = '\0';
	if (msglen > 0)
		msg[0] = '\0';
	if (body != NULL && len > 0)
		j = json_loadb(body, len, 0, NULL);
	if (json_is_array(j) && json_is_object(e = json_array_get(j, 0)) &&
	    (c = json_string_value(json_object_get(e, "errorCode"))) != NULL) {
		snprintf(code, codelen, "%s", c);
		error_text(e, "message", msg, msglen);
		json_decref(j);
		return 0;
	}
	if (json_is_object(j) &&
	    (c = json_string_value(json_object_get(j, "error"))) != NULL) {
		snprintf(code, codelen, "%s", c);
		one_line(msg, msglen, json_string_value(json_object_get(j,
		    "error_description")));
		json_decref(j);
		return 0;
	}
	json_decref(j);
	/* Not a Salesforce error: show the start of the body. */
	n = len < sizeof(shown) - 1 ? len : sizeof(shown) - 1;
	for (size_t i = 0; i < n; i++)
		shown[i] = body[i] == '\0' ? ' ' : body[i];
	shown[n] = '\0';
	one_line(msg, msglen, shown);
	if (msg[0] == '\0')
		snprintf(msg, msglen, "(empty body)");
	return -1;
}

int
sf_limit_info_parse(const char *value, long long *used, long long *max)
{
	const char *p = value;
	char *end;
	long long u, m;

	if (value == NULL)
		return -1;
	while ((p = strstr(p, "api-usage=")) != NULL) {
		if (p == value || p[-1] == ',' || p[-1] == ' ' ||
		    p[-1] == '\t')
			break;
		p += 10;
	}
	if (p == NULL)
		return -1;
	p += 10;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	u = strtoll(p, &end, 10);
	if (errno != 0 || *end != '/' || !isdigit((unsigned char)end[1]))
		return -1;
	m = strtoll(end + 1, &end, 10);
	if (errno != 0 || m <= 0 || (*end != '\0' && *end != ',' &&
	    *end != ' ' && *end != ';'))
		return -1;
	*used = u;
	*max = m;
	return 0;
}

int
sf_budget_parse(const char *s, int *pct, char *err, size_t errlen)
{
	char *end;
	long v;

	if (s == NULL || !isdigit((unsigned char)s[0])) {
		error_set(err, errlen, "expected a percentage like 80%%");
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end == '%')
		end++;
	if (errno != 0 || *end != '\0' || v < 1 || v > 100) {
		error_set(err, errlen, "expected a percentage from 1%% to "
		    "100%%, not '%s'", s);
		return -1;
	}
	*pct = (int)v;
	return 0;
}

/* ---- Pushing leads ----------------------------------------------------- */

/* s cut to at most max characters (UTF-8 code points), copied. */
static char *
cut_chars(const char *s, size_t max)
{
	size_t i = 0, chars = 0;

	while (s[i] != '\0') {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (chars == max)
				break;
			chars++;
		}
		i++;
	}
	return strndup(s, i);
}

/* A trimmed, non-empty text of a scalar, or NULL (malloc'd). */
static char *
scalar_text(const json_t *v)
{
	char buf[64];
	const char *s;
	size_t n;

	if (json_is_string(v)) {
		s = json_string_value(v);
		while (isspace((unsigned char)*s))
			s++;
		n = strlen(s);
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		return n > 0 ? strndup(s, n) : NULL;
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		return strdup(buf);
	}
	return NULL;
}

/* Sets obj[field] to text cut to max characters; 0 or -1. */
static int
set_text(json_t *obj, const char *field, const char *text, size_t max)
{
	char *c = cut_chars(text, max);
	int rc;

	if (c == NULL)
		return -1;
	rc = json_object_set_new(obj, field, json_string(c));
	free(c);
	return rc;
}

/* A whole number of employees from a number or a digit string; -1. */
static long long
employees(const json_t *v)
{
	double d;
	char *end;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		return i >= 0 && i <= INT32_MAX ? (long long)i : -1;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		return d >= 0 && d <= INT32_MAX && d == (double)(long long)d ?
		    (long long)d : -1;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (!isdigit((unsigned char)s[0]))
			return -1;
		errno = 0;
		d = strtod(s, &end);
		if (errno != 0 || *end != '\0' || d > INT32_MAX ||
		    d != (double)(long long)d)
			return -1;
		return (long long)d;
	}
	return -1;
}

/* Lead text fields from canonical attributes, with Salesforce's lengths. */
static const struct {
	const char *attr, *field;
	size_t max;
} lead_text[] = {
	{ "first_name", "FirstName", 40 },
	{ "last_name", "LastName", 80 },
	{ "title", "Title", 128 },
	{ "company", "Company", 255 },
	{ "industry", "Industry", 255 },
	{ "country", "Country", 80 },
	{ "phone", "Phone", 40 },
};

#define SF_EMAIL_MAX 80         /* Lead.Email */
#define SF_TEXTAREA_MAX 32000   /* Lead.Description */

/* Appends a number the way people read it: 72, 12.5. */
static int
add_number(struct sf_buf *b, const json_t *v)
{
	if (!json_is_number(v))
		return sf_buf_printf(b, "?");
	return sf_buf_printf(b, "%.10g", json_number_value(v));
}

char *
sf_description(const json_t *data)
{
	struct sf_buf b = { 0 };
	const json_t *reasons = json_object_get(data, "reasons"), *r;
	const json_t *ep = json_object_get(data, "episode");
	size_t i;
	int rc;

	rc = sf_buf_printf(&b, "baton score ");
	rc |= add_number(&b, json_object_get(data, "score"));
	rc |= sf_buf_printf(&b, " (fit ");
	rc |= add_number(&b, json_object_get(data, "fit"));
	rc |= sf_buf_printf(&b, ", engagement ");
	rc |= add_number(&b, json_object_get(data, "engagement"));
	rc |= sf_buf_printf(&b, ")");
	if (json_is_integer(ep))
		rc |= sf_buf_printf(&b, ", MQL #%" JSON_INTEGER_FORMAT,
		    json_integer_value(ep));
	rc |= sf_buf_printf(&b, ".");
	if (json_array_size(reasons) > 0)
		rc |= sf_buf_printf(&b, "\nQualified because:");
	json_array_foreach(reasons, i, r)
		if (json_is_string(r))
			rc |= sf_buf_printf(&b, "\n- %s", json_string_value(r));
	if (rc != 0 || b.p == NULL) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

json_t *
sf_lead_fields(const json_t *data, const char *key,
    const struct sf_lead_opts *o, bool create, char *err, size_t errlen)
{
	const json_t *attrs = json_object_get(data, "attrs");
	json_t *f = json_object(), *score;
	char *text, *desc;
	long long n;
	int rc = 0;

	if (f == NULL)
		goto oom;
	if (key == NULL || key[0] == '\0') {
		error_set(err, errlen, "the handoff has no lead email");
		json_decref(f);
		return NULL;
	}
	if (strlen(key) > SF_EMAIL_MAX) {
		error_set(err, errlen, "email '%.100s' is longer than the "
		    "%d characters of Lead.Email", key, SF_EMAIL_MAX);
		json_decref(f);
		return NULL;
	}
	rc |= json_object_set_new(f, "Email", json_string(key));
	if (o->match != NULL && strcasecmp(o->match, "Email") != 0)
		rc |= json_object_set_new(f, o->match, json_string(key));
	for (size_t i = 0; i < sizeof(lead_text) / sizeof(lead_text[0]); i++) {
		text = scalar_text(json_object_get(attrs, lead_text[i].attr));
		if (text != NULL)
			rc |= set_text(f, lead_text[i].field, text,
			    lead_text[i].max);
		free(text);
	}
	if ((n = employees(json_object_get(attrs, "company_size"))) >= 0)
		rc |= json_object_set_new(f, "NumberOfEmployees",
		    json_integer(n));
	if (create) {
		if (json_object_get(f, "LastName") == NULL)
			rc |= set_text(f, "LastName",
			    o->placeholder_last_name, 80);
		if (json_object_get(f, "Company") == NULL)
			rc |= set_text(f, "Company", o->placeholder_company,
			    255);
		if (o->lead_source != NULL)
			rc |= set_text(f, "LeadSource", o->lead_source, 255);
		if (o->owner != NULL)
			rc |= json_object_set_new(f, "OwnerId",
			    json_string(o->owner));
	}
	if (o->description_field != NULL) {
		if ((desc = sf_description(data)) == NULL)
			goto oom;
		rc |= set_text(f, o->description_field, desc,
		    SF_TEXTAREA_MAX);
		free(desc);
	}
	score = json_object_get(data, "score");
	if (o->score_field != NULL && json_is_number(score))
		rc |= json_object_set_new(f, o->score_field,
		    json_real(json_number_value(score)));
	if (rc != 0)
		goto oom;
	return f;
oom:
	json_decref(f);
	error_set(err, errlen, "out of memory");
	return NULL;
}

char *
sf_collection_body(json_t *const *fields, const char *const *ids, size_t n,
    char *err, size_t errlen)
{
	json_t *body = NULL, *recs, *r;
	char *s;
	int rc = 0;

	if (n == 0 || n > SF_COLLECTION_MAX) {
		error_set(err, errlen, "a collections call carries 1 to %d "
		    "records, not %zu", SF_COLLECTION_MAX, n);
		return NULL;
	}
	body = json_object();
	recs = json_array();
	if (body == NULL || recs == NULL) {
		json_decref(recs);
		goto oom;
	}
	rc |= json_object_set_new(body, "allOrNone", json_false());
	rc |= json_object_set_new(body, "records", recs);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((r = json_object()) == NULL)
			goto oom;
		rc |= json_object_set_new(r, "attributes",
		    json_pack("{s:s}", "type", "Lead"));
		if (ids != NULL)
			rc |= json_object_set_new(r, "Id", json_string(ids[i]));
		rc |= json_object_update(r, fields[i]);
		rc |= json_array_append_new(recs, r);
	}
	if (rc != 0)
		goto oom;
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL)
		error_set(err, errlen, "out of memory");
	return s;
oom:
	json_decref(body);
	error_set(err, errlen, "out of memory");
	return NULL;
}

bool
sf_status_code_transient(const char *code)
{
	static const char *const transient[] = {
		"UNABLE_TO_LOCK_ROW",
		"REQUEST_RUNNING_TOO_LONG",
		"SERVER_UNAVAILABLE",
		"QUERY_TIMEOUT",
		"ALL_OR_NONE_OPERATION_ROLLED_BACK",
		NULL,
	};

	for (size_t i = 0; code != NULL && transient[i] != NULL; i++)
		if (strcmp(code, transient[i]) == 0)
			return true;
	return false;
}

/* Fills one failed record's rc and message from its errors array. */
static void
item_errors(const json_t *errors, struct sf_item_result *r)
{
	const json_t *e;
	char one[SF_MSG_MAX];
	size_t i, o = 0;
	bool all_transient = true;

	r->rc = SF_ITEM_DROP;
	r->message[0] = '\0';
	json_array_foreach(errors, i, e) {
		const char *code = json_string_value(json_object_get(e,
		    "statusCode"));

		if (code == NULL)
			code = json_string_value(json_object_get(e,
			    "errorCode"));
		if (code == NULL)
			code = "UNKNOWN";
		if (!sf_status_code_transient(code))
			all_transient = false;
		error_text(e, "message", one, sizeof(one));
		if (o < sizeof(r->message))
			o += (size_t)snprintf(r->message + o,
			    sizeof(r->message) - o, "%s%s: %s",
			    i > 0 ? "; " : "", code, one);
	}
	if (json_array_size(errors) == 0)
		snprintf(r->message, sizeof(r->message), "UNKNOWN: record "
		    "failed without an error");
	else if (all_transient)
		r->rc = SF_ITEM_RETRY;
}

int
sf_collection_parse(const char *body, size_t len, size_t n,
    struct sf_item_result *out, char *err, size_t errlen)
{
	json_t *j, *e;
	size_t i;

	if ((j = load(body, len, err, errlen, "collections answer")) == NULL)
		return -1;
	if (!json_is_array(j)) {
		error_set(err, errlen, "collections answer is not an array");
		goto fail;
	}
	if (json_array_size(j) != n) {
		error_set(err, errlen, "collections answer has %zu results "
		    "for %zu records", json_array_size(j), n);
		goto fail;
	}
	json_array_foreach(j, i, e) {
		struct sf_item_result *r = &out[i];
		const json_t *ok = json_object_get(e, "success");
		const char *id = json_string_value(json_object_get(e, "id"));

		memset(r, 0, sizeof(*r));
		if (!json_is_object(e) || !json_is_boolean(ok)) {
			error_set(err, errlen, "collections result %zu has no "
			    "boolean success", i);
			goto fail;
		}
		if (id != NULL && sf_id_valid(id))
			snprintf(r->id, sizeof(r->id), "%s", id);
		r->created = json_is_true(json_object_get(e, "created"));
		if (json_is_true(ok)) {
			if (r->id[0] == '\0') {
				error_set(err, errlen, "collections result %zu "
				    "succeeded without a record id", i);
				goto fail;
			}
			r->rc = SF_ITEM_OK;
		} else {
			item_errors(json_object_get(e, "errors"), r);
		}
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return -1;
}

/* ---- SOQL and query pages ---------------------------------------------- */

void
sf_soql_datetime(int64_t ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)secs * 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (frac == 0)
		snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	else
		snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, frac);
}

int
sf_datetime_parse(const char *s, int64_t *ms)
{
	char buf[64];
	size_t n;

	if (s == NULL || (n = strlen(s)) >= sizeof(buf) - 2)
		return -1;
	memcpy(buf, s, n + 1);
	/* Salesforce writes the offset as +0000: RFC 3339 wants +00:00. */
	if (n > 5 && (buf[n - 5] == '+' || buf[n - 5] == '-') &&
	    isdigit((unsigned char)buf[n - 4]) &&
	    isdigit((unsigned char)buf[n - 3]) &&
	    isdigit((unsigned char)buf[n - 2]) &&
	    isdigit((unsigned char)buf[n - 1])) {
		buf[n + 1] = '\0';
		buf[n] = buf[n - 1];
		buf[n - 1] = buf[n - 2];
		buf[n - 2] = ':';
	}
	return timestamp_parse_rfc3339(buf, ms);
}

int
sf_soql_quote(struct sf_buf *b, const char *s)
{
	if (sf_buf_add(b, "'", 1) == -1)
		return -1;
	for (; *s != '\0'; s++) {
		const char *esc = NULL;
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '\'': esc = "\\'"; break;
		case '\\': esc = "\\\\"; break;
		case '"': esc = "\\\""; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			if (c < 0x20 || c == 0x7f)
				return -1;
		}
		if (esc != NULL ? sf_buf_add(b, esc, 2) :
		    sf_buf_add(b, s, 1))
			return -1;
	}
	return sf_buf_add(b, "'", 1);
}

char *
sf_soql_window(const char *fields, const char *sobject, int64_t lo_ms,
    const char *lo_id, int64_t hi_ms)
{
	struct sf_buf b = { 0 };
	char lo[32], hi[32];
	int rc;

	sf_soql_datetime(lo_ms, lo, sizeof(lo));
	sf_soql_datetime(hi_ms, hi, sizeof(hi));
	rc = sf_buf_printf(&b, "SELECT %s FROM %s WHERE ", fields, sobject);
	if (lo_id != NULL && lo_id[0] != '\0') {
		rc |= sf_buf_printf(&b, "(SystemModstamp > %s OR "
		    "(SystemModstamp = %s AND Id > ", lo, lo);
		rc |= sf_soql_quote(&b, lo_id);
		rc |= sf_buf_printf(&b, "))");
	} else {
		rc |= sf_buf_printf(&b, "SystemModstamp >= %s", lo);
	}
	rc |= sf_buf_printf(&b, " AND SystemModstamp <= %s ORDER BY "
	    "SystemModstamp ASC, Id ASC", hi);
	if (rc != 0) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

char *
sf_soql_in(const char *select, const char *sobject, const char *field,
    const char *const *values, size_t n, const char *tail, size_t max_len,
    size_t *used)
{
	struct sf_buf b = { 0 }, v = { 0 };
	size_t i, tail_len = tail != NULL ? strlen(tail) : 0;
	int rc;

	*used = 0;
	if (n == 0)
		return NULL;
	rc = sf_buf_printf(&b, "SELECT %s FROM %s WHERE %s IN (", select,
	    sobject, field);
	for (i = 0; i < n && rc == 0; i++) {
		v.len = 0;
		if (sf_soql_quote(&v, values[i]) == -1) {
			rc = -1;
			break;
		}
		if (i > 0 && b.len + 2 + v.len + 1 + tail_len > max_len)
			break;
		rc |= sf_buf_printf(&b, "%s%s", i > 0 ? ", " : "", v.p);
	}
	free(v.p);
	if (rc == 0)
		rc = sf_buf_printf(&b, ")%s", tail != NULL ? tail : "");
	if (rc != 0) {
		free(b.p);
		return NULL;
	}
	*used = i;
	return b.p;
}

int
sf_page_parse(const char *body, size_t len, struct sf_page *pg, char *err,
    size_t errlen)
{
	json_t *j, *recs, *done, *total;
	const char *next;

	memset(pg, 0, sizeof(*pg));
	if ((j = load(body, len, err, errlen, "query answer")) == NULL)
		return -1;
	if (!json_is_object(j)) {
		error_set(err, errlen, "query answer is not a JSON object");
		goto fail;
	}
	recs = json_object_get(j, "records");
	done = json_object_get(j, "done");
	total = json_object_get(j, "totalSize");
	next = json_string_value(json_object_get(j, "nextRecordsUrl"));
	if (!json_is_array(recs)) {
		error_set(err, errlen, "query answer has no records array");
		goto fail;
	}
	if (!json_is_boolean(done)) {
		error_set(err, errlen, "query answer has no boolean done");
		goto fail;
	}
	if (total != NULL && !json_is_integer(total)) {
		error_set(err, errlen, "query answer's totalSize is not a "
		    "whole number");
		goto fail;
	}
	if (json_is_false(done)) {
		if (next == NULL) {
			error_set(err, errlen, "query answer is not done but "
			    "has no nextRecordsUrl");
			goto fail;
		}
		if (strncmp(next, "/services/data/", 15) != 0 ||
		    strpbrk(next, " \r\n#\\") != NULL ||
		    strstr(next, "..") != NULL) {
			error_set(err, errlen, "query answer's nextRecordsUrl "
			    "is not a /services/data/ path");
			goto fail;
		}
		if ((pg->next_url = strdup(next)) == NULL) {
			error_set(err, errlen, "out of memory");
			goto fail;
		}
	}
	pg->done = json_is_true(done);
	pg->total = total != NULL ? (long long)json_integer_value(total) :
	    (long long)json_array_size(recs);
	pg->records = json_incref(recs);
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return -1;
}

void
sf_page_clear(struct sf_page *pg)
{
	if (pg == NULL)
		return;
	json_decref(pg->records);
	free(pg->next_url);
	memset(pg, 0, sizeof(*pg));
}

/* ---- Statuses and stages ----------------------------------------------- */

/* Salesforce's default Lead Status values (classic and Lightning). */
static const struct {
	const char *sf, *canonical;
} status_default[] = {
	{ "Open - Not Contacted", "open" },
	{ "Working - Contacted", "working" },
	{ "Closed - Converted", "converted" },
	{ "Closed - Not Converted", "unqualified" },
	{ "New", "open" },
	{ "Working", "working" },
	{ "Nurturing", "working" },
	{ "Qualified", "qualified" },
	{ "Unqualified", "unqualified" },
};

bool
sf_status_canonical(const char *s)
{
	static const char *const names[] = { "open", "working", "qualified",
	    "unqualified", "converted", NULL };

	for (size_t i = 0; s != NULL && names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* A map key ('_' for a space) against a Salesforce value, ignoring case. */
static bool
key_matches(const char *key, const char *value)
{
	for (; *key != '\0' && *value != '\0'; key++, value++) {
		int k = *key == '_' ? ' ' : tolower((unsigned char)*key);
		int v = *value == '_' ? ' ' : tolower((unsigned char)*value);

		if (k != v)
			return false;
	}
	return *key == '\0' && *value == '\0';
}

const char *
sf_status_map(const struct conf_map *map, const char *status,
    bool is_converted)
{
	if (is_converted)
		return "converted";
	if (status == NULL)
		return NULL;
	for (size_t i = 0; map != NULL && i < map->n; i++)
		if (key_matches(map->v[i].key, status))
			return map->v[i].value;
	for (size_t i = 0; i < sizeof(status_default) /
	    sizeof(status_default[0]); i++)
		if (strcasecmp(status_default[i].sf, status) == 0)
			return status_default[i].canonical;
	return NULL;
}

const char *
sf_deal_outcome(bool is_won, bool is_closed)
{
	if (is_won)
		return "won";
	return is_closed ? "lost" : "open";
}

/* ---- The poll cursor --------------------------------------------------- */

static json_t *
mark_json(const struct sf_mark *m)
{
	return json_pack("{s:I,s:s,s:b}", "ts", (json_int_t)m->ts, "id",
	    m->id, "more", m->more);
}

static json_t *
cursor_json(const struct sf_cursor *c)
{
	return json_pack("{s:i,s:o,s:o}", "v", 1, "Lead",
	    mark_json(&c->lead), "Opportunity", mark_json(&c->opp));
}

char *
sf_cursor_encode(const struct sf_cursor *c)
{
	json_t *j = cursor_json(c);
	char *s;

	if (j == NULL)
		return NULL;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* Whether v is a time in ms from 1970 to 9999. */
static bool
ms_valid(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT64_C(253402300799999);
}

static int
mark_decode(const json_t *j, const char *name, struct sf_mark *m, char *err,
    size_t errlen)
{
	const json_t *o = json_object_get(j, name), *ts, *id, *more;

	if (!json_is_object(o)) {
		error_set(err, errlen, "cursor has no %s object", name);
		return -1;
	}
	ts = json_object_get(o, "ts");
	id = json_object_get(o, "id");
	more = json_object_get(o, "more");
	if (!ms_valid(ts)) {
		error_set(err, errlen, "cursor %s.ts is not a time in ms",
		    name);
		return -1;
	}
	if (!json_is_string(id) || (json_string_length(id) > 0 &&
	    !sf_id_valid(json_string_value(id)))) {
		error_set(err, errlen, "cursor %s.id is not a record id",
		    name);
		return -1;
	}
	if (more != NULL && !json_is_boolean(more)) {
		error_set(err, errlen, "cursor %s.more is not a boolean",
		    name);
		return -1;
	}
	m->ts = (int64_t)json_integer_value(ts);
	snprintf(m->id, sizeof(m->id), "%s", json_string_value(id));
	m->more = json_is_true(more);
	return 0;
}

int
sf_cursor_decode(const char *s, struct sf_cursor *c, char *err,
    size_t errlen)
{
	json_t *j;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (s == NULL) {
		error_set(err, errlen, "no cursor");
		return -1;
	}
	if ((j = load(s, strlen(s), err, errlen, "cursor")) == NULL)
		return -1;
	if (!json_is_object(j))
		error_set(err, errlen, "cursor is not a JSON object");
	else if (json_integer_value(json_object_get(j, "v")) != 1 ||
	    !json_is_integer(json_object_get(j, "v")))
		error_set(err, errlen, "cursor version is not 1");
	else if (mark_decode(j, "Lead", &c->lead, err, errlen) == 0 &&
	    mark_decode(j, "Opportunity", &c->opp, err, errlen) == 0)
		rc = 0;
	json_decref(j);
	if (rc == -1)
		memset(c, 0, sizeof(*c));
	return rc;
}

/* ---- What the poll has seen of each Lead ------------------------------- */

int
sf_seen_init(struct sf_seen *s, int64_t since)
{
	s->since = since;
	s->leads = json_object();
	return s->leads != NULL ? 0 : -1;
}

void
sf_seen_clear(struct sf_seen *s)
{
	json_decref(s->leads);
	memset(s, 0, sizeof(*s));
}

/* FNV-1a over s and a NUL that ends it. */
static uint32_t
fnv1a(uint32_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT32_C(16777619);
	}
	return h * UINT32_C(16777619);
}

uint32_t
sf_seen_fingerprint(const char *status, bool is_converted, const char *owner,
    const char *reason)
{
	uint32_t h = UINT32_C(2166136261);

	h = fnv1a(h, status);
	h = fnv1a(h, is_converted ? "1" : "0");
	h = fnv1a(h, owner);
	return fnv1a(h, reason);
}

bool
sf_seen_get(const struct sf_seen *s, const char *id, uint32_t *fp)
{
	const json_t *v = id != NULL ? json_object_get(s->leads, id) : NULL;

	if (v == NULL)
		return false;
	*fp = (uint32_t)json_integer_value(json_array_get(v, 0));
	return true;
}

int
sf_seen_put(struct sf_seen *s, const char *id, uint32_t fp, int64_t ms)
{
	const json_t *old = json_object_get(s->leads, id);
	int64_t was;

	if (old != NULL && (was = (int64_t)json_integer_value(
	    json_array_get(old, 1))) > ms)
		ms = was;
	return json_object_set_new(s->leads, id, json_pack("[I,I]",
	    (json_int_t)fp, (json_int_t)ms));
}

int
sf_seen_decode(const char *cursor, struct sf_seen *s, char *err,
    size_t errlen)
{
	json_t *j, *seen, *since, *leads, *e;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (cursor == NULL) {
		error_set(err, errlen, "no cursor");
		return -1;
	}
	if ((j = load(cursor, strlen(cursor), err, errlen, "cursor")) == NULL)
		return -1;
	seen = json_object_get(j, "seen");
	since = json_object_get(seen, "since");
	leads = json_object_get(seen, "Lead");
	if (seen == NULL) {
		error_set(err, errlen, "cursor has no seen object");
		goto fail;
	}
	if (!json_is_object(seen) || !ms_valid(since) ||
	    !json_is_array(leads)) {
		error_set(err, errlen, "cursor seen is not {\"since\": ms, "
		    "\"Lead\": [...]}");
		goto fail;
	}
	if (sf_seen_init(s, (int64_t)json_integer_value(since)) == -1)
		goto oom;
	json_array_foreach(leads, i, e) {
		const json_t *fp = json_array_get(e, 1);
		const char *id = json_string_value(json_array_get(e, 0));

		if (json_array_size(e) != 3 || !sf_id_valid(id) ||
		    !json_is_integer(fp) || json_integer_value(fp) < 0 ||
		    json_integer_value(fp) > (json_int_t)UINT32_MAX ||
		    !ms_valid(json_array_get(e, 2))) {
			error_set(err, errlen, "cursor seen.Lead[%zu] is not "
			    "[Id, fingerprint, ms]", i);
			goto fail;
		}
		if (json_object_get(s->leads, id) != NULL) {
			error_set(err, errlen, "cursor seen.Lead holds %s "
			    "twice", id);
			goto fail;
		}
		if (json_object_set_new(s->leads, id, json_pack("[O,O]", fp,
		    json_array_get(e, 2))) == -1)
			goto oom;
	}
	json_decref(j);
	return 0;
oom:
	error_set(err, errlen, "out of memory");
fail:
	json_decref(j);
	sf_seen_clear(s);
	return -1;
}

struct seen_row {
	const char *id;                 /* a key of sf_seen.leads */
	json_int_t fp;
	int64_t ms;
};

/* Oldest first; ties by Id, so the order is the same every time. */
static int
seen_row_cmp(const void *a, const void *b)
{
	const struct seen_row *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

char *
sf_cursor_encode_seen(const struct sf_cursor *c, struct sf_seen *s,
    size_t max)
{
	size_t n = json_object_size(s->leads), i = 0, drop;
	struct seen_row *rows = calloc(n + 1, sizeof(*rows));
	json_t *j = NULL, *arr = NULL, *v;
	const char *id;
	char *out = NULL;
	int64_t since = s->since;
	int rc = 0;

	if (rows == NULL)
		return NULL;
	json_object_foreach(s->leads, id, v) {
		rows[i].id = id;
		rows[i].fp = json_integer_value(json_array_get(v, 0));
		rows[i].ms = (int64_t)json_integer_value(json_array_get(v, 1));
		i++;
	}
	qsort(rows, n, sizeof(*rows), seen_row_cmp);
	drop = n > max ? n - max : 0;
	if (drop > 0 && rows[drop - 1].ms >= since)
		since = rows[drop - 1].ms + 1;
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = drop; i < n; i++)
		rc |= json_array_append_new(arr, json_pack("[s,I,I]",
		    rows[i].id, rows[i].fp, (json_int_t)rows[i].ms));
	if (rc != 0 || (j = cursor_json(c)) == NULL ||
	    json_object_set_new(j, "seen", json_pack("{s:I,s:O}", "since",
	    (json_int_t)since, "Lead", arr)) == -1)
		goto out;
	if ((out = json_dumps(j, JSON_COMPACT)) == NULL)
		goto out;
	/* Only now that nothing can fail: forget the dropped Leads. */
	s->since = since;
	for (i = 0; i < drop; i++) {
		char key[SF_ID_MAX + 1];

		snprintf(key, sizeof(key), "%s", rows[i].id);
		json_object_del(s->leads, key);
	}
out:
	json_decref(arr);
	json_decref(j);
	free(rows);
	return out;
}

bool
sf_own_version_report(const struct sf_own_version *v, int64_t since)
{
	if (v->status == NULL)
		return false;           /* nothing a lead.status could say */
	if (v->seen)
		return v->fp != v->seen_fp;
	if (v->created_ms < 0 || v->created_ms < since)
		return false;           /* read before since, perhaps */
	if (!v->created_by_us)
		return true;            /* a rep's Lead, never read */
	if (v->modified_ms >= 0 && v->modified_ms == v->created_ms)
		return false;           /* our create itself */
	return strcmp(v->status, "open") != 0 || v->has_reason;
}
