/*
 * ctl_lead.c - `batonctl lead EMAIL [--json]`: one lead as the rules
 * worker left it, explained for a sales-ops person.
 *
 * It reads the lead's hash PREFIX:lead:<key> (HGETALL) and its history
 * list PREFIX:lead:<key>:history (LRANGE, newest first, capped by the
 * worker at LEAD_HISTORY_MAX lines), both laid out as daemon/lead.h says,
 * and builds one JSON object from them:
 *   {"lead", "stage", "stage_at", "stage_reason", "score", "fit",
 *    "engagement", "engagement_at", "episode", "created_at",
 *    "handoff_at", "accepted_at", "ids": {source: id}, "attrs": {...},
 *    "sales": {...}, "deal": {...}, "contributions": [...],
 *    "history": [...newest first], "handoffs": [...], "feedback": [...]}
 * (absent times and stage are null; score is the hash's `score` when it
 * has one, else fit + engagement).  --json prints that object on one
 * line; otherwise a short report is printed from it: a header with the
 * stage and since when, the score as fit + engagement, attributes, ids,
 * the contributions as a table (points, kind, file:line, event, rule) and
 * the history newest first, one line per entry with its time (RFC 3339)
 * and why.
 *
 * An email that is not one (baton_event_lead_key refuses it) is a usage
 * error (exit 2); a lead with no hash is "batonctl: no lead KEY in
 * PREFIX" (exit 1); a hash field that should be a number or JSON and is
 * not is an error naming the field (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/event.h>
#include <baton/log.h>
#include <baton/timestamp.h>

#include "ctl.h"
#include "redis.h"

/* Canonical attributes (SPEC): the hash fields that are the lead's own. */
static const char *const lead_attr_names[] = {
	"email", "first_name", "last_name", "title", "company",
	"company_size", "industry", "country", "phone", NULL,
};

struct lead_query {
	struct ctl_session sess;
	char key[EVENT_LEAD_MAX + 1];   /* the lead key */
	bool json;
	bool sent;
	char *hash_key;                 /* PREFIX:lead:<key> */
	char *history_key;              /* PREFIX:lead:<key>:history */
	json_t *fields;                 /* the hash: field -> string */
	json_t *history;                /* parsed lines, newest first */
	int pending;                    /* replies still to come */
};

/* ---- the model -------------------------------------------------------- */

/* Sets o[name] from the hash field as an integer, null when absent. */
static int
model_int(json_t *o, const json_t *fields, const char *name,
    const char *as, char *err, size_t errlen)
{
	const char *v = ctl_field(fields, name);
	long long n;
	char *end;

	if (v == NULL)
		return json_object_set_new(o, as, json_null());
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0') {
		snprintf(err, errlen, "field '%s' is not an integer ('%s')",
		    name, v);
		return -1;
	}
	return json_object_set_new(o, as, json_integer(n));
}

/* The hash field as a number (0 when absent) into *out. */
static int
field_number(const json_t *fields, const char *name, double *out,
    bool *present, char *err, size_t errlen)
{
	const char *v = ctl_field(fields, name);
	char *end;

	*out = 0;
	*present = v != NULL;
	if (v == NULL)
		return 0;
	errno = 0;
	*out = strtod(v, &end);
	if (errno != 0 || *end != '\0' || end == v) {
		snprintf(err, errlen, "field '%s' is not a number ('%s')",
		    name, v);
		return -1;
	}
	return 0;
}

/* A JSON number for people's eyes: an integer when it is one. */
static json_t *
json_num(double v)
{
	if (v == (double)(long long)v)
		return json_integer((long long)v);
	return json_real(v);
}

static bool
is_attr(const char *name)
{
	if (strncmp(name, "custom.", 7) == 0)
		return true;
	for (size_t i = 0; lead_attr_names[i] != NULL; i++)
		if (strcmp(name, lead_attr_names[i]) == 0)
			return true;
	return false;
}

/*
 * The lead's JSON object from its hash and history (see the top of this
 * file).  Returns a new object, or NULL with a message in err.
 */
static json_t *
lead_model(const struct lead_query *q, char *err, size_t errlen)
{
	json_t *m, *ids, *attrs, *sales, *deal, *contribs, *handoffs, *fb;
	json_t *v, *line;
	double fit, eng, score;
	bool has_fit, has_eng, has_score;
	const char *k, *s;
	size_t i;

	m = json_object();
	ids = json_object();
	attrs = json_object();
	sales = json_object();
	deal = json_object();
	handoffs = json_array();
	fb = json_array();
	if (m == NULL || ids == NULL || attrs == NULL || sales == NULL ||
	    deal == NULL || handoffs == NULL || fb == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_object_set_new(m, "ids", ids);
	json_object_set_new(m, "attrs", attrs);
	json_object_set_new(m, "sales", sales);
	json_object_set_new(m, "deal", deal);
	json_object_set_new(m, "handoffs", handoffs);
	json_object_set_new(m, "feedback", fb);
	json_object_foreach(q->fields, k, v) {
		if (strncmp(k, "ids.", 4) == 0 && k[4] != '\0')
			json_object_set(ids, k + 4, v);
		else if (strncmp(k, "sales.", 6) == 0 && k[6] != '\0')
			json_object_set(sales, k + 6, v);
		else if (strncmp(k, "deal.", 5) == 0 && k[5] != '\0')
			json_object_set(deal, k + 5, v);
		else if (is_attr(k))
			json_object_set(attrs, k, v);
	}
	json_object_set_new(m, "lead", json_string(q->key));
	s = ctl_field(q->fields, "stage");
	json_object_set_new(m, "stage", s != NULL ? json_string(s) :
	    json_null());
	s = ctl_field(q->fields, "stage_reason");
	json_object_set_new(m, "stage_reason", s != NULL ? json_string(s) :
	    json_null());
	if (model_int(m, q->fields, "stage_at", "stage_at", err, errlen) ||
	    model_int(m, q->fields, "engagement_at", "engagement_at", err,
	    errlen) ||
	    model_int(m, q->fields, "mql_episode", "episode", err, errlen) ||
	    model_int(m, q->fields, "created_at", "created_at", err,
	    errlen) ||
	    model_int(m, q->fields, "handoff_at", "handoff_at", err,
	    errlen) ||
	    model_int(m, q->fields, "accepted_at", "accepted_at", err,
	    errlen))
		goto fail;
	if (field_number(q->fields, "fit", &fit, &has_fit, err, errlen) ||
	    field_number(q->fields, "engagement", &eng, &has_eng, err,
	    errlen) ||
	    field_number(q->fields, "score", &score, &has_score, err, errlen))
		goto fail;
	if (!has_score)
		score = fit + eng;
	json_object_set_new(m, "fit", json_num(fit));
	json_object_set_new(m, "engagement", json_num(eng));
	json_object_set_new(m, "score", json_num(score));

	if ((s = ctl_field(q->fields, "contribs")) != NULL) {
		contribs = json_loads(s, JSON_DECODE_ANY, NULL);
		if (!json_is_array(contribs)) {
			json_decref(contribs);
			snprintf(err, errlen, "field 'contribs' is not a JSON "
			    "array");
			goto fail;
		}
	} else if ((contribs = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_object_set_new(m, "contributions", contribs);

	json_object_set(m, "history", q->history);
	json_array_foreach(q->history, i, line) {
		s = json_string_value(json_object_get(line, "stream"));
		if (s != NULL && strcmp(s, "handoffs") == 0)
			json_array_append(handoffs, line);
		else if (s != NULL && strcmp(s, "feedback") == 0)
			json_array_append(fb, line);
	}
	return m;
fail:
	if (m == NULL) {
		json_decref(ids);
		json_decref(attrs);
		json_decref(sales);
		json_decref(deal);
		json_decref(handoffs);
		json_decref(fb);
	}
	json_decref(m);
	return NULL;
}

/* ---- the report -------------------------------------------------------- */

/* A time field (integer ms, or a string of digits) as RFC 3339, or "-". */
static void
when_text(const json_t *v, char *out, size_t outlen)
{
	long long ms = -1;
	const char *s;
	char *end;

	if (json_is_integer(v))
		ms = json_integer_value(v);
	else if (json_is_real(v))
		ms = (long long)json_real_value(v);
	else if ((s = json_string_value(v)) != NULL) {
		errno = 0;
		ms = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0' || end == s)
			ms = -1;
	}
	if (ms < 0) {
		snprintf(out, outlen, "-");
		return;
	}
	timestamp_format((int64_t)ms, out, outlen);
}

/* A JSON scalar as text into out ("-" for null/absent). */
static const char *
scalar_text(const json_t *v, char *out, size_t outlen)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_number(v)) {
		ctl_format_number(json_number_value(v), out, outlen);
		return out;
	}
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	if (v == NULL || json_is_null(v))
		return "-";
	snprintf(out, outlen, "(JSON)");
	return out;
}

/* "key=value ..." of an object, sorted by key; values with a space
 * quoted.  Prints nothing for an empty object. */
static void
print_pairs(const char *label, const json_t *o)
{
	const char **keys;
	size_t n = 0, i;
	const char *k;
	json_t *v;

	if (json_object_size(o) == 0)
		return;
	if ((keys = calloc(json_object_size(o), sizeof(*keys))) == NULL)
		return;
	json_object_foreach((json_t *)o, k, v)
		keys[n++] = k;
	for (i = 1; i < n; i++)         /* few keys: insertion sort */
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0;
		    j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	printf("%s:", label);
	for (i = 0; i < n; i++) {
		char buf[64];
		const char *s = scalar_text(json_object_get(o, keys[i]), buf,
		    sizeof(buf));

		printf(strchr(s, ' ') != NULL ? " %s=\"%s\"" : " %s=%s",
		    keys[i], s);
	}
	putchar('\n');
	free(keys);
}

static const char *
obj_str(const json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL && *s != '\0' ? s : NULL;
}

/* "file:line" of a contribution, or "-". */
static void
where_text(const json_t *c, char *out, size_t outlen)
{
	const char *file = obj_str(c, "file");
	const json_t *line = json_object_get(c, "line");

	if (file != NULL && json_is_integer(line))
		snprintf(out, outlen, "%s:%lld", file,
		    (long long)json_integer_value(line));
	else if (file != NULL)
		snprintf(out, outlen, "%s", file);
	else
		snprintf(out, outlen, "-");
}

/* "+20" / "-10" / "+2.5". */
static void
points_text(const json_t *v, char *out, size_t outlen)
{
	char num[32];

	if (!json_is_number(v)) {
		snprintf(out, outlen, "?");
		return;
	}
	ctl_format_number(json_number_value(v), num, sizeof(num));
	snprintf(out, outlen, "%s%s", json_number_value(v) >= 0 ? "+" : "",
	    num);
}

static void
print_contributions(const json_t *contribs)
{
	int wp = 6, wk = 4, ww = 5, we = 5;
	char pts[40], where[300];
	const json_t *c;
	size_t i;

	if (json_array_size(contribs) == 0) {
		printf("contributions: none\n");
		return;
	}
	json_array_foreach(contribs, i, c) {
		const char *kind = obj_str(c, "kind"), *ev = obj_str(c, "event");
		int n;

		points_text(json_object_get(c, "points"), pts, sizeof(pts));
		where_text(c, where, sizeof(where));
		if ((n = (int)strlen(pts)) > wp)
			wp = n;
		if (kind != NULL && (n = (int)strlen(kind)) > wk)
			wk = n;
		if ((n = (int)strlen(where)) > ww)
			ww = n;
		if (ev != NULL && (n = (int)strlen(ev)) > we)
			we = n;
	}
	printf("contributions:\n");
	printf("  %-*s  %-*s  %-*s  %-*s  %s\n", wp, "points", wk, "kind",
	    ww, "where", we, "event", "rule");
	json_array_foreach(contribs, i, c) {
		const char *kind = obj_str(c, "kind"), *ev = obj_str(c, "event");
		const char *rule = obj_str(c, "rule");

		points_text(json_object_get(c, "points"), pts, sizeof(pts));
		where_text(c, where, sizeof(where));
		printf("  %-*s  %-*s  %-*s  %-*s  %s\n", wp, pts, wk,
		    kind != NULL ? kind : "-", ww, where, we,
		    ev != NULL ? ev : "-", rule != NULL ? rule : "-");
	}
}

/* Appends ", " (unless at the start) and text to buf. */
static void
add_part(char *buf, size_t len, const char *sep, const char *text)
{
	size_t n = strlen(buf);

	if (n >= len - 1)
		return;
	snprintf(buf + n, len - n, "%s%s", n > 0 ? sep : "", text);
}

/* Why a history entry happened, in words, into out. */
static void
history_text(const char *type, const json_t *d, char *out, size_t len)
{
	char num[64], num2[64], part[512];
	const char *s;
	const json_t *v;
	size_t i;

	out[0] = '\0';
	if (strcmp(type, "lead.stage") == 0) {
		const char *from = obj_str(d, "from"), *to = obj_str(d, "to");

		snprintf(out, len, "%s -> %s", from != NULL ? from : "new",
		    to != NULL ? to : "?");
		if ((s = obj_str(d, "why")) != NULL)
			add_part(out, len, ": ", s);
		if ((s = obj_str(d, "reason")) != NULL) {
			snprintf(part, sizeof(part), "(reason: %s)", s);
			add_part(out, len, " ", part);
		}
	} else if (strcmp(type, "lead.scored") == 0) {
		snprintf(out, len, "score %s -> %s",
		    scalar_text(json_object_get(d, "old"), num, sizeof(num)),
		    scalar_text(json_object_get(d, "new"), num2,
		    sizeof(num2)));
		json_array_foreach(json_object_get(d, "contributions"), i, v) {
			char where[300];

			where_text(v, where, sizeof(where));
			snprintf(part, sizeof(part), "%s (%s)",
			    (s = obj_str(v, "rule")) != NULL ? s : "?", where);
			add_part(out, len, i == 0 ? ": " : "; ", part);
		}
	} else if (strcmp(type, "handoff.mql") == 0) {
		snprintf(out, len, "handed to sales: episode %s, score %s",
		    scalar_text(json_object_get(d, "episode"), num,
		    sizeof(num)),
		    scalar_text(json_object_get(d, "score"), num2,
		    sizeof(num2)));
		if ((s = obj_str(d, "owner")) != NULL) {
			snprintf(part, sizeof(part), "owner %s", s);
			add_part(out, len, ", ", part);
		}
		json_array_foreach(json_object_get(d, "reasons"), i, v)
			if ((s = json_string_value(v)) != NULL)
				add_part(out, len, i == 0 ? ": " : "; ", s);
	} else if (strncmp(type, "feedback.", 9) == 0) {
		static const char *const keys[] = {
			"status", "reason", "owner", "stage", NULL,
		};

		for (i = 0; keys[i] != NULL; i++) {
			if ((s = obj_str(d, keys[i])) == NULL)
				continue;
			snprintf(part, sizeof(part), "%s %s", keys[i], s);
			add_part(out, len, ", ", part);
		}
		if (json_is_number(v = json_object_get(d, "amount"))) {
			ctl_format_number(json_number_value(v), num,
			    sizeof(num));
			s = obj_str(d, "currency");
			snprintf(part, sizeof(part), "amount %s%s%s", num,
			    s != NULL ? " " : "", s != NULL ? s : "");
			add_part(out, len, ", ", part);
		}
	} else if (strcmp(type, "sla.breached") == 0) {
		const char *sla = obj_str(d, "sla");
		const char *after = obj_str(d, "after");

		v = json_object_get(d, "within_ms");
		if (json_is_number(v))
			ctl_format_duration((int64_t)json_number_value(v), num2,
			    sizeof(num2));
		else
			snprintf(num2, sizeof(num2), "?");
		snprintf(out, len, "sla %s not met within %s after %s",
		    sla != NULL ? sla : "?", num2,
		    after != NULL ? after : "?");
		json_array_foreach(json_object_get(d, "on_breach"), i, v)
			if ((s = json_string_value(v)) != NULL)
				add_part(out, len, i == 0 ? "; then " : ", ",
				    s);
	}
	if (out[0] == '\0' && d != NULL) {
		char *j = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

		snprintf(out, len, "%s", j != NULL ? j : "");
		free(j);
	}
	if ((s = obj_str(d, "event")) != NULL) {
		snprintf(part, sizeof(part), "[event %s]", s);
		add_part(out, len, " ", part);
	}
}

static void
print_history(const json_t *history)
{
	const json_t *line;
	int wt = 4;
	size_t i;

	if (json_array_size(history) == 0) {
		printf("history: none\n");
		return;
	}
	json_array_foreach(history, i, line) {
		const char *t = obj_str(line, "type");
		int n;

		if (t != NULL && (n = (int)strlen(t)) > wt)
			wt = n;
	}
	printf("history (newest first):\n");
	json_array_foreach(history, i, line) {
		const char *t = obj_str(line, "type");
		char when[40], text[4096];

		when_text(json_object_get(line, "at"), when, sizeof(when));
		history_text(t != NULL ? t : "", json_object_get(line, "data"),
		    text, sizeof(text));
		printf("  %-24s  %-*s  %s\n", when, wt, t != NULL ? t : "-",
		    text);
	}
}

static void
print_report(const json_t *m)
{
	char since[40], fit[32], eng[32], score[32];
	const char *stage = obj_str(m, "stage");
	const char *reason = obj_str(m, "stage_reason");

	when_text(json_object_get(m, "stage_at"), since, sizeof(since));
	printf("%s: %s", json_string_value(json_object_get(m, "lead")),
	    stage != NULL ? stage : "no stage yet");
	if (stage != NULL && strcmp(since, "-") != 0)
		printf(" since %s", since);
	if (reason != NULL)
		printf(" (%s)", reason);
	putchar('\n');
	ctl_format_number(json_number_value(json_object_get(m, "score")),
	    score, sizeof(score));
	ctl_format_number(json_number_value(json_object_get(m, "fit")), fit,
	    sizeof(fit));
	ctl_format_number(json_number_value(json_object_get(m, "engagement")),
	    eng, sizeof(eng));
	printf("score %s = fit %s + engagement %s\n", score, fit, eng);
	print_pairs("attributes", json_object_get(m, "attrs"));
	if (json_object_size(json_object_get(m, "ids")) == 0)
		printf("ids: none\n");
	else
		print_pairs("ids", json_object_get(m, "ids"));
	print_pairs("sales", json_object_get(m, "sales"));
	print_pairs("deal", json_object_get(m, "deal"));
	print_contributions(json_object_get(m, "contributions"));
	print_history(json_object_get(m, "history"));
}

/* ---- Redis ------------------------------------------------------------ */

static void
lead_done(struct lead_query *q)
{
	char err[512];
	json_t *m;

	if (json_object_size(q->fields) == 0) {
		fprintf(stderr, "batonctl: no lead %s in %s\n", q->key,
		    q->sess.prefix);
		ctl_session_finish(&q->sess, 1);
		return;
	}
	if ((m = lead_model(q, err, sizeof(err))) == NULL) {
		ctl_session_fail(&q->sess, "%s: %s", q->hash_key, err);
		return;
	}
	if (q->json) {
		if (ctl_print_json(m) == -1) {
			json_decref(m);
			ctl_session_fail(&q->sess, "out of memory");
			return;
		}
	} else
		print_report(m);
	json_decref(m);
	if (ctl_flush() == -1 && errno != EPIPE) {
		ctl_session_fail(&q->sess, "writing to stdout: %s",
		    strerror(errno));
		return;
	}
	ctl_session_finish(&q->sess, 0);
}

/* A reply that is not what was asked for ends the run.  Returns 0 when
 * the reply is an array. */
static int
check_reply(struct lead_query *q, const redisReply *reply, const char *what)
{
	if (reply == NULL) {
		ctl_session_fail(&q->sess, "lost the connection to Redis at %s",
		    q->sess.where);
		return -1;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		ctl_session_fail(&q->sess, "reading %s: %s", what, reply->str);
		return -1;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		ctl_session_fail(&q->sess, "reading %s: unexpected reply",
		    what);
		return -1;
	}
	return 0;
}

static void
hash_reply(struct redisReply *reply, void *arg)
{
	struct lead_query *q = arg;

	if (q->sess.done || check_reply(q, reply, q->hash_key) == -1)
		return;
	if ((q->fields = ctl_entry_fields(reply)) == NULL) {
		ctl_session_fail(&q->sess, "out of memory");
		return;
	}
	if (--q->pending == 0)
		lead_done(q);
}

static void
history_reply(struct redisReply *reply, void *arg)
{
	struct lead_query *q = arg;

	if (q->sess.done || check_reply(q, reply, q->history_key) == -1)
		return;
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i];
		json_t *line = NULL;

		if (e->type == REDIS_REPLY_STRING)
			line = json_loadb(e->str, e->len, 0, NULL);
		if (!json_is_object(line)) {
			/* Say so, and show the rest. */
			fprintf(stderr, "batonctl lead: %s: entry %zu is not "
			    "a JSON object; skipped\n", q->history_key, i);
			json_decref(line);
			continue;
		}
		if (json_array_append_new(q->history, line) == -1) {
			ctl_session_fail(&q->sess, "out of memory");
			return;
		}
	}
	if (--q->pending == 0)
		lead_done(q);
}

static void
lead_state(bool up, void *arg)
{
	struct lead_query *q = arg;
	const char *hget[] = { "HGETALL", q->hash_key };
	const char *lrange[] = { "LRANGE", q->history_key, "0", "-1" };

	if (!up || q->sent)
		return;
	q->sent = true;
	q->pending = 2;
	if (redis_command_argv(q->sess.r, 0, hash_reply, q, 2, hget, NULL) ==
	    -1 || redis_command_argv(q->sess.r, 0, history_reply, q, 4,
	    lrange, NULL) == -1)
		ctl_session_fail(&q->sess, "lost the connection to Redis at %s",
		    q->sess.where);
}

/* ---- the verb --------------------------------------------------------- */

static void
lead_usage(FILE *fp)
{
	fprintf(fp, "usage: batonctl lead EMAIL [--json] [-c FILE]\n"
	    "  --json            one JSON object (lead stage score fit "
	    "engagement ids\n"
	    "                    contributions history ...)\n");
}

int
ctl_lead(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lead_query q;
	char err[256];
	int ch, rc = 1;

	memset(&q, 0, sizeof(q));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			q.json = true;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			lead_usage(stdout);
			return 0;
		default:
			lead_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		if (argc - optind == 0)
			fprintf(stderr, "batonctl lead: missing EMAIL\n");
		else
			fprintf(stderr, "batonctl lead: unexpected argument "
			    "'%s'\n", argv[optind + 1]);
		lead_usage(stderr);
		return 2;
	}
	if (baton_event_lead_key(argv[optind], q.key, sizeof(q.key), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "batonctl lead: '%s': %s\n", argv[optind], err);
		return 2;
	}
	if (ctl_session_open(&q.sess, config_path, "lead", lead_state, &q) ==
	    -1)
		goto out;
	if (asprintf(&q.hash_key, "%s:lead:%s", q.sess.prefix, q.key) < 0) {
		q.hash_key = NULL;
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	if (asprintf(&q.history_key, "%s:history", q.hash_key) < 0) {
		q.history_key = NULL;
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	if ((q.history = json_array()) == NULL) {
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	rc = ctl_session_run(&q.sess);
out:
	ctl_session_close(&q.sess);
	free(q.hash_key);
	free(q.history_key);
	json_decref(q.fields);
	json_decref(q.history);
	return rc;
}
