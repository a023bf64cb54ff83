/*
 * slack_message.c - the Slack connector's pure side: one readable mrkdwn
 * message per handoff or SLA breach, wrapped in the incoming-webhook
 * body; the checks of the section's URLs; the verdict on Slack's answer.
 *
 * A handoff.mql reads (lines without data are left out):
 *
 *   *New MQL:* Ada Lovelace (ada@example.com)
 *   *Title:* VP Engineering
 *   *Company:* Acme (250 employees)
 *   *Score:* 72.5 (fit 35, engagement 37.5)
 *   *Why:*
 *   • +20 if title ~ "vp" (rules.conf:2)
 *   *Owner:* jo@acme.test
 *   *CRM record:* <https://crm.example/Lead/00Q1/view|salesforce 00Q1>
 *
 * and an sla.breached:
 *
 *   *SLA breached:* accept for ada@example.com
 *   *Limit:* 24h after mql (deadline 2025-11-23T12:00:00.000Z)
 *   *Owner:* jo@acme.test            (or "nobody assigned")
 *   *On breach:* notify, recycle
 *
 * A repeated MQL (episode > 1) says "*New MQL (#2):*".  The record line
 * links through record_url with {id} replaced by the percent-encoded id;
 * without a template the id is shown as text.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <baton/error.h>
#include <baton/http_client.h>
#include <baton/timestamp.h>

#include "slack_message.h"

/* ---- A growing string ---------------------------------------------------- */

struct sbuf {
	char *p;                        /* NUL-terminated when not oom */
	size_t len, cap;
	bool oom;                       /* an append failed: p is freed */
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			free(b->p);
			memset(b, 0, sizeof(*b));
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/*
 * Appends text from the event: surrounding white space trimmed, control
 * characters as spaces, & < > escaped, at most SLACK_VALUE_MAX bytes of
 * it (cut at a character boundary, then "…").
 */
static void
sb_value(struct sbuf *b, const char *s)
{
	size_t n, i;
	bool cut = false;

	while (*s == ' ' || (*s > 0 && *s < 0x20))
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || (s[n - 1] > 0 &&
	    s[n - 1] < 0x20)))
		n--;
	if (n > SLACK_VALUE_MAX) {
		n = SLACK_VALUE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '&')
			sb_str(b, "&amp;");
		else if (c == '<')
			sb_str(b, "&lt;");
		else if (c == '>')
			sb_str(b, "&gt;");
		else if (c < 0x20 || c == 0x7f)
			sb_add(b, " ", 1);
		else
			sb_add(b, &s[i], 1);
	}
	if (cut)
		sb_str(b, "\xe2\x80\xa6");
}

/* ---- Reading the data -------------------------------------------------- */

/* A number for people: "75", "-10", "37.5", "0.33". */
static void
fmt_number(double v, char *out, size_t len)
{
	size_t n;

	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(out, len, "%lld", (long long)v);
		return;
	}
	snprintf(out, len, "%.2f", v);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
}

/*
 * A duration's two largest units: "850ms", "4m 5s", "24h", "36h",
 * "3d 4h".  Days only from two days on: an SLA of 24h reads as written.
 */
static void
fmt_duration(int64_t ms, char *out, size_t len)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} u[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 },
	};
	size_t nu = sizeof(u) / sizeof(u[0]);

	if (ms < 1000) {
		snprintf(out, len, "%lldms", (long long)ms);
		return;
	}
	for (size_t i = 0; i < nu; i++) {
		int64_t rest;

		if (ms < u[i].ms || (i == 0 && ms < 2 * u[0].ms))
			continue;
		rest = ms % u[i].ms;
		if (i + 1 < nu && rest / u[i + 1].ms > 0)
			snprintf(out, len, "%lld%s %lld%s",
			    (long long)(ms / u[i].ms), u[i].unit,
			    (long long)(rest / u[i + 1].ms), u[i + 1].unit);
		else
			snprintf(out, len, "%lld%s",
			    (long long)(ms / u[i].ms), u[i].unit);
		return;
	}
}

/*
 * A scalar as text: a non-empty string (not only spaces) as is, a number
 * formatted, true/false; NULL for anything else.  buf holds the
 * formatted forms.
 */
static const char *
scalar(const json_t *v, char *buf, size_t len)
{
	const char *s;

	if (json_is_string(v)) {
		s = json_string_value(v);
		return s[strspn(s, " \t\r\n")] != '\0' ? s : NULL;
	}
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		fmt_number(json_real_value(v), buf, len);
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return NULL;
}

static const char *
field(const json_t *o, const char *name, char *buf, size_t len)
{
	return scalar(json_object_get(o, name), buf, len);
}

/* Appends "*Label:* value\n" when the value is there. */
static void
line(struct sbuf *b, const char *label, const char *value)
{
	if (value == NULL)
		return;
	sb_str(b, "*");
	sb_str(b, label);
	sb_str(b, ":* ");
	sb_value(b, value);
	sb_str(b, "\n");
}

/* "Ada Lovelace (ada@example.com)", "ada@example.com", or a name alone. */
static void
who(struct sbuf *b, const json_t *attrs, const char *lead)
{
	char fb[64], lb[64], eb[64];
	const char *first = field(attrs, "first_name", fb, sizeof(fb));
	const char *last = field(attrs, "last_name", lb, sizeof(lb));
	const char *email = field(attrs, "email", eb, sizeof(eb));

	if (email == NULL && lead != NULL && *lead != '\0')
		email = lead;
	if (first != NULL)
		sb_value(b, first);
	if (first != NULL && last != NULL)
		sb_str(b, " ");
	if (last != NULL)
		sb_value(b, last);
	if (email != NULL && (first != NULL || last != NULL)) {
		sb_str(b, " (");
		sb_value(b, email);
		sb_str(b, ")");
	} else if (email != NULL)
		sb_value(b, email);
	else if (first == NULL && last == NULL)
		sb_str(b, "an unknown lead");
}

/* Appends s percent-encoded (RFC 3986 unreserved characters kept). */
static void
sb_pct(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			sb_add(b, s, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 0xf];
		sb_add(b, e, 3);
	}
}

/* An id: a string with something besides spaces, leading ones skipped. */
static const char *
id_value(const json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return NULL;
	s += strspn(s, " \t\r\n");
	return *s != '\0' ? s : NULL;
}

/* The ids entry to link: record_source's, else the first by name. */
static const char *
record_id(const struct slack_message_opts *o, const json_t *ids,
    const char **source)
{
	const char *k, *best = NULL;
	json_t *v;

	if (!json_is_object(ids))
		return NULL;
	if (o != NULL && o->record_source != NULL) {
		*source = o->record_source;
		return id_value(json_object_get(ids, o->record_source));
	}
	json_object_foreach((json_t *)ids, k, v)
		if (id_value(v) != NULL && (best == NULL || strcmp(k, best) < 0))
			best = k;
	if (best == NULL)
		return NULL;
	*source = best;
	return id_value(json_object_get(ids, best));
}

/* "*CRM record:* <url|source id>" or "*CRM record:* source id". */
static void
record_line(struct sbuf *b, const struct slack_message_opts *o,
    const json_t *ids)
{
	const char *source = NULL, *id = record_id(o, ids, &source), *t;

	if (id == NULL)
		return;
	sb_str(b, "*CRM record:* ");
	if (o != NULL && o->record_url != NULL) {
		sb_str(b, "<");
		for (t = o->record_url; *t != '\0'; t++) {
			if (strncmp(t, "{id}", 4) == 0) {
				sb_pct(b, id);
				t += 3;
			} else if (*t == '&')
				sb_str(b, "&amp;");
			else
				sb_add(b, t, 1);
		}
		sb_str(b, "|");
	}
	sb_value(b, source);
	sb_str(b, " ");
	sb_value(b, id);
	if (o != NULL && o->record_url != NULL)
		sb_str(b, ">");
	sb_str(b, "\n");
}

/* ---- The two messages -------------------------------------------------- */

static void
handoff_text(struct sbuf *b, const struct slack_message_opts *o,
    const char *lead, const json_t *d)
{
	const json_t *attrs = json_object_get(d, "attrs");
	const json_t *reasons = json_object_get(d, "reasons"), *v;
	const json_t *ep = json_object_get(d, "episode");
	char buf[64], num[64], fit[64], eng[64];
	const char *s;
	size_t i, shown = 0, total = 0;

	if (!json_is_object(attrs))
		attrs = NULL;
	if (json_is_integer(ep) && json_integer_value(ep) > 1) {
		snprintf(buf, sizeof(buf), "*New MQL (#%lld):* ",
		    (long long)json_integer_value(ep));
		sb_str(b, buf);
	} else
		sb_str(b, "*New MQL:* ");
	who(b, attrs, lead);
	sb_str(b, "\n");
	line(b, "Title", field(attrs, "title", buf, sizeof(buf)));
	if ((s = field(attrs, "company", buf, sizeof(buf))) != NULL) {
		sb_str(b, "*Company:* ");
		sb_value(b, s);
		if ((s = field(attrs, "company_size", num, sizeof(num))) !=
		    NULL) {
			sb_str(b, " (");
			sb_value(b, s);
			sb_str(b, " employees)");
		}
		sb_str(b, "\n");
	}
	if (json_is_number(json_object_get(d, "score"))) {
		fmt_number(json_number_value(json_object_get(d, "score")), num,
		    sizeof(num));
		sb_str(b, "*Score:* ");
		sb_str(b, num);
		if (json_is_number(json_object_get(d, "fit")) &&
		    json_is_number(json_object_get(d, "engagement"))) {
			fmt_number(json_number_value(json_object_get(d,
			    "fit")), fit, sizeof(fit));
			fmt_number(json_number_value(json_object_get(d,
			    "engagement")), eng, sizeof(eng));
			sb_str(b, " (fit ");
			sb_str(b, fit);
			sb_str(b, ", engagement ");
			sb_str(b, eng);
			sb_str(b, ")");
		}
		sb_str(b, "\n");
	}
	json_array_foreach(reasons, i, v)
		if (json_is_string(v) && scalar(v, buf, sizeof(buf)) != NULL)
			total++;
	if (total > 0) {
		sb_str(b, "*Why:*\n");
		json_array_foreach(reasons, i, v) {
			if (!json_is_string(v) ||
			    scalar(v, buf, sizeof(buf)) == NULL)
				continue;
			if (shown == SLACK_REASONS_MAX)
				break;
			sb_str(b, "\xe2\x80\xa2 ");
			sb_value(b, json_string_value(v));
			sb_str(b, "\n");
			shown++;
		}
		if (shown < total) {
			snprintf(buf, sizeof(buf), "\xe2\x80\xa2 \xe2\x80\xa6 "
			    "and %zu more\n", total - shown);
			sb_str(b, buf);
		}
	}
	line(b, "Owner", field(d, "owner", buf, sizeof(buf)));
	record_line(b, o, json_object_get(d, "ids"));
}

static void
breach_text(struct sbuf *b, const char *lead, const json_t *d)
{
	const json_t *within = json_object_get(d, "within_ms");
	const json_t *deadline = json_object_get(d, "deadline");
	const json_t *on = json_object_get(d, "on_breach"), *v;
	char buf[64], dur[64], when[40];
	const char *s;
	size_t i, n = 0;

	sb_str(b, "*SLA breached:* ");
	if ((s = field(d, "sla", buf, sizeof(buf))) != NULL) {
		sb_value(b, s);
		sb_str(b, " for ");
	} else
		sb_str(b, "for ");
	if (lead != NULL && *lead != '\0')
		sb_value(b, lead);
	else
		sb_str(b, "an unknown lead");
	sb_str(b, "\n");
	if (json_is_integer(within) && json_integer_value(within) >= 0) {
		fmt_duration(json_integer_value(within), dur, sizeof(dur));
		sb_str(b, "*Limit:* ");
		sb_str(b, dur);
		if ((s = field(d, "after", buf, sizeof(buf))) != NULL) {
			sb_str(b, " after ");
			sb_value(b, s);
		}
		if (json_is_integer(deadline) &&
		    json_integer_value(deadline) >= 0 &&
		    json_integer_value(deadline) < INT64_C(253402300800000)) {
			timestamp_format(json_integer_value(deadline), when,
			    sizeof(when));
			sb_str(b, " (deadline ");
			sb_str(b, when);
			sb_str(b, ")");
		}
		sb_str(b, "\n");
	}
	if ((s = field(d, "owner", buf, sizeof(buf))) != NULL)
		line(b, "Owner", s);
	else
		sb_str(b, "*Owner:* nobody assigned\n");
	json_array_foreach(on, i, v) {
		if (!json_is_string(v) || scalar(v, buf, sizeof(buf)) == NULL)
			continue;
		sb_str(b, n++ == 0 ? "*On breach:* " : ", ");
		sb_value(b, json_string_value(v));
	}
	if (n > 0)
		sb_str(b, "\n");
}

/* ---- The body ------------------------------------------------------------ */

enum slack_message_rc
slack_message_build(const struct slack_message_opts *o, const char *type,
    const char *lead, const json_t *data, char **body, char *err,
    size_t errlen)
{
	struct sbuf b = { 0 };
	json_t *msg;

	*body = NULL;
	if (type == NULL || (strcmp(type, SLACK_TYPE_HANDOFF) != 0 &&
	    strcmp(type, SLACK_TYPE_BREACH) != 0)) {
		error_set(err, errlen, "no Slack message for type '%s'",
		    type != NULL ? type : "(none)");
		return SLACK_MESSAGE_SKIP;
	}
	if (!json_is_object(data)) {
		error_set(err, errlen, "%s: data is not a JSON object", type);
		return SLACK_MESSAGE_BAD;
	}
	if (strcmp(type, SLACK_TYPE_HANDOFF) == 0)
		handoff_text(&b, o, lead, data);
	else
		breach_text(&b, lead, data);
	if (b.oom)
		goto nomem;
	/* Every line ends with '\n': the last one is not needed. */
	if (b.len > 0 && b.p[b.len - 1] == '\n')
		b.p[--b.len] = '\0';
	/* Made of whole characters of valid UTF-8 strings and ASCII, so
	 * json_stringn fails only when out of memory. */
	msg = json_object();
	if (msg == NULL || json_object_set_new(msg, "text",
	    json_stringn(b.p, b.len)) == -1 || json_object_set_new(msg,
	    "unfurl_links", json_false()) == -1 ||
	    (*body = json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL) {
		json_decref(msg);
		goto nomem;
	}
	json_decref(msg);
	free(b.p);
	return SLACK_MESSAGE_OK;
nomem:
	free(b.p);
	error_set(err, errlen, "out of memory");
	return SLACK_MESSAGE_NOMEM;
}

/* ---- URLs ---------------------------------------------------------------- */

/* Length of "http://" or "https://" at the start of url, else 0. */
static size_t
scheme_len(const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0)
		return 7;
	if (strncasecmp(url, "https://", 8) == 0)
		return 8;
	return 0;
}

int
slack_url_check(const char *url, char *err, size_t errlen)
{
	size_t n = scheme_len(url);

	if (n == 0) {
		error_set(err, errlen, "not an http:// or https:// URL");
		return -1;
	}
	if (url[n] == '\0' || strchr("/?#@:", url[n]) != NULL) {
		error_set(err, errlen, "the URL has no host");
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)url; *p != '\0';
	    p++)
		if (*p <= ' ' || *p == 0x7f) {
			error_set(err, errlen, "the URL holds white space or "
			    "a control character");
			return -1;
		}
	return 0;
}

int
slack_record_url_check(const char *tmpl, char *err, size_t errlen)
{
	const char *p, *bad;
	int ids = 0;

	if (slack_url_check(tmpl, err, errlen) == -1)
		return -1;
	if ((bad = strpbrk(tmpl, "<>|")) != NULL) {
		error_set(err, errlen, "'%c' cannot be part of a Slack link",
		    *bad);
		return -1;
	}
	for (p = tmpl; (p = strchr(p, '{')) != NULL; p++) {
		if (strncmp(p, "{id}", 4) == 0) {
			ids++;
			continue;
		}
		error_set(err, errlen, "unknown placeholder at '%.20s' (only "
		    "{id} is replaced)", p);
		return -1;
	}
	if (ids == 0) {
		error_set(err, errlen, "no {id} where the record's id goes");
		return -1;
	}
	return 0;
}

char *
slack_post_url(const char *webhook_url, const char *base_url, char *err,
    size_t errlen)
{
	const char *path;
	size_t blen, plen;
	char *out;

	if (base_url == NULL) {
		if ((out = strdup(webhook_url)) == NULL)
			error_set(err, errlen, "out of memory");
		return out;
	}
	path = webhook_url + scheme_len(webhook_url);
	path += strcspn(path, "/?#");
	plen = strcspn(path, "#");
	blen = strlen(base_url);
	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	if ((out = malloc(blen + plen + 2)) == NULL) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(out, base_url, blen);
	if (plen == 0 || path[0] != '/')
		out[blen++] = '/';
	memcpy(out + blen, path, plen);
	out[blen + plen] = '\0';
	return out;
}

/* ---- Slack's answer ---------------------------------------------------- */

/* The length of s[0..n-1] without a character cut short at its end. */
static size_t
utf8_whole(const char *s, size_t n)
{
	size_t j = n, need;
	unsigned char c;

	while (j > 0 && ((unsigned char)s[j - 1] & 0xc0) == 0x80)
		j--;
	if (j == 0)
		return n;
	c = (unsigned char)s[j - 1];
	if (c < 0x80)
		return n;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	return n - (j - 1) < need ? j - 1 : n;
}

enum connector_result
slack_result(const struct http_result *res, const char *retry_after,
    int64_t now_ms, int64_t *retry_after_ms, char *msg, size_t msglen)
{
	enum connector_result rc;
	char body[SLACK_ERROR_BODY_MAX + 1];
	size_t i, n = 0;
	int64_t ms;

	*retry_after_ms = 0;
	if (res->outcome == HTTP_DONE && res->status >= 200 &&
	    res->status < 300) {
		error_set(msg, msglen, "HTTP %d", res->status);
		return CONNECTOR_OK;
	}
	rc = http_classify(res);
	if (rc == CONNECTOR_RETRY && retry_after != NULL &&
	    http_retry_after_ms(retry_after, now_ms, &ms) == 0)
		*retry_after_ms = ms;
	switch (res->outcome) {
	case HTTP_DONE:
		/* Slack answers with one short word; keep it readable. */
		for (i = 0; i < res->body_len && n < SLACK_ERROR_BODY_MAX;
		    i++) {
			unsigned char c = res->body[i];

			if (c >= 0x20 && c != 0x7f)
				body[n++] = (char)c;
			else if (c == '\t' || c == '\n' || c == '\r')
				body[n++] = ' ';
		}
		if (i < res->body_len)
			n = utf8_whole(body, n);
		while (n > 0 && body[n - 1] == ' ')
			n--;
		body[n] = '\0';
		if (n > 0)
			error_set(msg, msglen, "HTTP %d: %s", res->status,
			    body + strspn(body, " "));
		else
			error_set(msg, msglen, "HTTP %d", res->status);
		break;
	case HTTP_TOO_LARGE:
		error_set(msg, msglen, "HTTP %d: the answer was too large",
		    res->status);
		break;
	case HTTP_CANCELLED:
		error_set(msg, msglen, "cancelled");
		break;
	default:
		error_set(msg, msglen, "%s", res->error != NULL ?
		    res->error : "no answer");
		break;
	}
	return rc;
}
