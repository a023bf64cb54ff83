/*
 * ctl_stats.c - `batonctl stats [--since DUR] [--json]`: the funnel
 * marketing and sales share, counted from what the rules worker wrote
 * since DUR ago (default 30d).
 *
 * It reads PREFIX:decisions, PREFIX:handoffs and PREFIX:feedback one after
 * the other with XRANGE from the entry ID of now - DUR, COUNT 1000 a
 * page, and keeps only counters: memory is one page, a histogram of
 * rejection reasons and of breached SLAs, and the list of MQL-to-
 * acceptance durations (one number per acceptance) for the median.
 * Entry data are as daemon/lead.h describes them.
 *
 *   new leads       lead.stage with from null (decisions)
 *   MQLs            handoff.mql (handoffs), or lead.stage to mql when
 *                   decisions has more of those (both count one per
 *                   episode; the larger survives a trimmed stream)
 *   accepted        feedback.accepted; its at - data.mql_at is one
 *                   MQL-to-acceptance duration
 *   rejected        feedback.rejected, with the top 5 data.reason
 *   SQLs, opportunities, won, lost, recycled
 *                   feedback.sql .opportunity .won .lost .recycled
 *   SLA breaches    sla.breached (decisions; the copy a notify puts in
 *                   handoffs is not counted again), by data.sla
 * Conversion rates are between consecutive steps: MQL / new leads,
 * accepted / MQL, SQL / accepted, opportunity / SQL, won / opportunity.
 *
 * The pure computations (median, rate, top reasons) are exported through
 * ctl.h for tests/unit/test_ctl_stats.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/log.h>
#include <baton/timestamp.h>

#include "ctl.h"
#include "redis.h"
#include "stream.h"

#define STATS_PAGE              1000    /* entries per XRANGE */
#define STATS_DEFAULT_SINCE     "30d"
#define STATS_TOP_REASONS       5
#define STATS_ID_MAX            48      /* "(" + 20 digits + "-" + 20 */
#define STATS_NSTREAMS          3

static const char *const stats_stream_names[STATS_NSTREAMS] = {
	"decisions", "handoffs", "feedback",
};

enum {
	S_NEW, S_MQL_STAGE, S_HANDOFF, S_ACCEPTED, S_REJECTED, S_SQL,
	S_OPPORTUNITY, S_WON, S_LOST, S_RECYCLED, S_BREACHES, S_NCOUNTS
};

struct stats {
	struct ctl_session sess;
	bool json;
	bool started;
	const char *since_arg;          /* "30d" */
	int64_t since_ms;               /* start of the window */
	char *keys[STATS_NSTREAMS];     /* PREFIX:decisions ... (owned) */
	int cur;                        /* stream being read */
	char cursor[STATS_ID_MAX];      /* XRANGE start of the next page */
	long long n[S_NCOUNTS];         /* counters */
	json_t *reasons;                /* rejection reason -> count */
	json_t *slas;                   /* breached SLA name -> count */
	int64_t *waits;                 /* MQL -> acceptance, ms (owned) */
	size_t nwaits, capwaits;
};

/* ---- pure computations ------------------------------------------------ */

static int
cmp_i64(const void *a_, const void *b_)
{
	int64_t a = *(const int64_t *)a_, b = *(const int64_t *)b_;

	return a < b ? -1 : a > b;
}

int64_t
ctl_stats_median(int64_t *v, size_t n)
{
	int64_t a, b;

	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_i64);
	if (n % 2 == 1)
		return v[n / 2];
	a = v[n / 2 - 1];
	b = v[n / 2];
	return a + (b - a) / 2;
}

double
ctl_stats_rate(long long num, long long den, char *out, size_t outlen)
{
	double pct;

	if (den <= 0) {
		snprintf(out, outlen, "-");
		return -1;
	}
	pct = 100.0 * (double)num / (double)den;
	snprintf(out, outlen, "%.1f%%", pct);
	return pct;
}

struct top_item {
	const char *name;
	json_int_t count;
};

static int
cmp_top(const void *a_, const void *b_)
{
	const struct top_item *a = a_, *b = b_;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return strcmp(a->name, b->name);
}

json_t *
ctl_stats_top(const json_t *hist, size_t max)
{
	struct top_item *items;
	size_t n = 0;
	const char *k;
	json_t *v, *out;

	if ((out = json_array()) == NULL)
		return NULL;
	if (json_object_size(hist) == 0)
		return out;
	if ((items = calloc(json_object_size(hist), sizeof(*items))) == NULL) {
		json_decref(out);
		return NULL;
	}
	json_object_foreach((json_t *)hist, k, v) {
		items[n].name = k;
		items[n++].count = json_integer_value(v);
	}
	qsort(items, n, sizeof(*items), cmp_top);
	for (size_t i = 0; i < n && i < max; i++) {
		json_t *o = json_pack("{s:s, s:I}", "reason", items[i].name,
		    "count", items[i].count);

		if (o == NULL || json_array_append_new(out, o) == -1) {
			json_decref(out);
			out = NULL;
			break;
		}
	}
	free(items);
	return out;
}

/* ---- counting --------------------------------------------------------- */

/* The value of field name in a flat [f, v, ...] array, or NULL. */
static const redisReply *
flat_get(const redisReply *flat, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i];

		if (k->type == REDIS_REPLY_STRING && k->len == len &&
		    memcmp(k->str, name, len) == 0 &&
		    flat->element[i + 1]->type == REDIS_REPLY_STRING)
			return flat->element[i + 1];
	}
	return NULL;
}

static bool
flat_is(const redisReply *v, const char *s)
{
	return v != NULL && v->len == strlen(s) && memcmp(v->str, s, v->len)
	    == 0;
}

/* A time in ms: a JSON integer, real or string of digits.  0 or -1. */
static int
ms_value(const json_t *v, int64_t *ms)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		*ms = (int64_t)json_real_value(v);
		return 0;
	}
	if ((s = json_string_value(v)) == NULL)
		return -1;
	errno = 0;
	*ms = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' || end == s ? -1 : 0;
}

/* The entry's `at` (ms as decimal text).  0 or -1. */
static int
flat_ms(const redisReply *v, int64_t *ms)
{
	char buf[32], *end;

	if (v == NULL || v->len == 0 || v->len >= sizeof(buf))
		return -1;
	memcpy(buf, v->str, v->len);
	buf[v->len] = '\0';
	errno = 0;
	*ms = strtoll(buf, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static int
hist_add(json_t *hist, const char *name)
{
	json_t *v = json_object_get(hist, name);

	if (v != NULL)
		return json_integer_set(v, json_integer_value(v) + 1);
	return json_object_set_new(hist, name, json_integer(1));
}

static int
wait_add(struct stats *st, int64_t ms)
{
	if (st->nwaits == st->capwaits) {
		size_t cap = st->capwaits ? st->capwaits * 2 : 64;
		int64_t *nv = realloc(st->waits, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		st->waits = nv;
		st->capwaits = cap;
	}
	st->waits[st->nwaits++] = ms;
	return 0;
}

/* Counts one entry (its flat field array).  0, or -1 out of memory. */
static int
count_entry(struct stats *st, const redisReply *flat)
{
	const redisReply *type = flat_get(flat, "type");
	const redisReply *data = flat_get(flat, "data");
	const redisReply *at = flat_get(flat, "at");
	const char *s;
	json_t *d = NULL, *v;
	int64_t mql_at, at_ms;
	int ret = 0;

	if (type == NULL)
		return 0;
	if (data != NULL)
		d = json_loadb(data->str, data->len, 0, NULL);
	switch (st->cur) {
	case 0:                         /* decisions */
		if (flat_is(type, "lead.stage")) {
			v = json_object_get(d, "from");
			if (v == NULL || json_is_null(v))
				st->n[S_NEW]++;
			if ((s = json_string_value(json_object_get(d, "to")))
			    != NULL && strcmp(s, "mql") == 0)
				st->n[S_MQL_STAGE]++;
		} else if (flat_is(type, "sla.breached")) {
			st->n[S_BREACHES]++;
			s = json_string_value(json_object_get(d, "sla"));
			ret = hist_add(st->slas, s != NULL && *s != '\0' ? s :
			    "(unnamed)");
		}
		break;
	case 1:                         /* handoffs */
		if (flat_is(type, "handoff.mql"))
			st->n[S_HANDOFF]++;
		break;
	case 2:                         /* feedback */
		if (flat_is(type, "feedback.accepted")) {
			st->n[S_ACCEPTED]++;
			if (flat_ms(at, &at_ms) == 0 && ms_value(
			    json_object_get(d, "mql_at"), &mql_at) == 0)
				ret = wait_add(st, at_ms > mql_at ?
				    at_ms - mql_at : 0);
		} else if (flat_is(type, "feedback.rejected")) {
			st->n[S_REJECTED]++;
			s = json_string_value(json_object_get(d, "reason"));
			ret = hist_add(st->reasons, s != NULL && *s != '\0' ?
			    s : "(no reason)");
		} else if (flat_is(type, "feedback.sql"))
			st->n[S_SQL]++;
		else if (flat_is(type, "feedback.opportunity"))
			st->n[S_OPPORTUNITY]++;
		else if (flat_is(type, "feedback.won"))
			st->n[S_WON]++;
		else if (flat_is(type, "feedback.lost"))
			st->n[S_LOST]++;
		else if (flat_is(type, "feedback.recycled"))
			st->n[S_RECYCLED]++;
		break;
	}
	json_decref(d);
	return ret;
}

/* ---- output ----------------------------------------------------------- */

static const struct {
	const char *label;              /* readable */
	const char *name;               /* JSON */
	int num, den;                   /* counters; S_HANDOFF: MQLs */
} stats_steps[] = {
	{ "MQL / new leads", "mql_per_new_lead", S_HANDOFF, S_NEW },
	{ "accepted / MQL", "accepted_per_mql", S_ACCEPTED, S_HANDOFF },
	{ "SQL / accepted", "sql_per_accepted", S_SQL, S_ACCEPTED },
	{ "opportunity / SQL", "opportunity_per_sql", S_OPPORTUNITY, S_SQL },
	{ "won / opportunity", "won_per_opportunity", S_WON, S_OPPORTUNITY },
};

#define STATS_NSTEPS (sizeof(stats_steps) / sizeof(stats_steps[0]))

static const struct {
	const char *label;
	const char *name;
	int counter;
} stats_counts[] = {
	{ "new leads", "new_leads", S_NEW },
	{ "MQLs", "mqls", S_HANDOFF },
	{ "accepted", "accepted", S_ACCEPTED },
	{ "rejected", "rejected", S_REJECTED },
	{ "SQLs", "sqls", S_SQL },
	{ "opportunities", "opportunities", S_OPPORTUNITY },
	{ "won", "won", S_WON },
	{ "lost", "lost", S_LOST },
	{ "recycled", "recycled", S_RECYCLED },
};

#define STATS_NCOUNTS_SHOWN (sizeof(stats_counts) / sizeof(stats_counts[0]))

/* The JSON form.  NULL when out of memory. */
static json_t *
stats_json(const struct stats *st, json_t *top, int64_t median)
{
	json_t *o, *conv;
	char buf[16];

	if ((o = json_object()) == NULL || (conv = json_array()) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "since", json_integer(st->since_ms));
	json_object_set_new(o, "since_text", json_string(st->since_arg));
	for (size_t i = 0; i < STATS_NCOUNTS_SHOWN; i++)
		json_object_set_new(o, stats_counts[i].name,
		    json_integer(st->n[stats_counts[i].counter]));
	json_object_set_new(o, "conversion", conv);
	for (size_t i = 0; i < STATS_NSTEPS; i++) {
		long long num = st->n[stats_steps[i].num];
		long long den = st->n[stats_steps[i].den];
		double pct = ctl_stats_rate(num, den, buf, sizeof(buf));

		json_array_append_new(conv, json_pack("{s:s, s:I, s:I, s:o}",
		    "step", stats_steps[i].name, "count", (json_int_t)num,
		    "of", (json_int_t)den, "percent", pct < 0 ? json_null() :
		    json_real(round(pct * 10) / 10)));
	}
	json_object_set(o, "rejected_reasons", top);
	json_object_set_new(o, "mql_to_accept_median_ms", median < 0 ?
	    json_null() : json_integer(median));
	json_object_set_new(o, "mql_to_accept_samples",
	    json_integer((json_int_t)st->nwaits));
	json_object_set_new(o, "sla_breaches",
	    json_integer(st->n[S_BREACHES]));
	json_object_set(o, "sla_breaches_by_sla", st->slas);
	return o;
}

static void
stats_print(const struct stats *st, const json_t *top, int64_t median)
{
	char since[40], buf[32];
	const json_t *item;
	json_t *slas;
	size_t i;

	timestamp_format(st->since_ms, since, sizeof(since));
	printf("funnel since %s (%s)\n", since, st->since_arg);
	for (i = 0; i < STATS_NCOUNTS_SHOWN; i++)
		printf("  %-18s %8lld\n", stats_counts[i].label,
		    st->n[stats_counts[i].counter]);
	printf("conversion:\n");
	for (i = 0; i < STATS_NSTEPS; i++) {
		long long num = st->n[stats_steps[i].num];
		long long den = st->n[stats_steps[i].den];

		ctl_stats_rate(num, den, buf, sizeof(buf));
		printf("  %-18s %8lld / %-8lld %7s\n", stats_steps[i].label,
		    num, den, buf);
	}
	if (median < 0)
		printf("median MQL to acceptance: - (0 accepted)\n");
	else {
		ctl_format_duration(median, buf, sizeof(buf));
		printf("median MQL to acceptance: %s (%zu accepted)\n", buf,
		    st->nwaits);
	}
	printf("SLA breaches: %lld", st->n[S_BREACHES]);
	if ((slas = ctl_stats_top(st->slas, (size_t)-1)) != NULL) {
		json_array_foreach(slas, i, item)
			printf("%s%s %lld", i == 0 ? " (" : ", ",
			    json_string_value(json_object_get(item, "reason")),
			    (long long)json_integer_value(
			    json_object_get(item, "count")));
		if (json_array_size(slas) > 0)
			putchar(')');
		json_decref(slas);
	}
	putchar('\n');
	if (json_array_size(top) == 0) {
		printf("top rejection reasons: none\n");
		return;
	}
	printf("top rejection reasons:\n");
	json_array_foreach(top, i, item)
		printf("  %8lld  %s\n", (long long)json_integer_value(
		    json_object_get(item, "count")), json_string_value(
		    json_object_get(item, "reason")));
}

static void
stats_done(struct stats *st)
{
	json_t *top, *o;
	int64_t median;

	/* Both count one per MQL episode; the larger survives a trim. */
	if (st->n[S_MQL_STAGE] > st->n[S_HANDOFF])
		st->n[S_HANDOFF] = st->n[S_MQL_STAGE];
	median = ctl_stats_median(st->waits, st->nwaits);
	if ((top = ctl_stats_top(st->reasons, STATS_TOP_REASONS)) == NULL) {
		ctl_session_fail(&st->sess, "out of memory");
		return;
	}
	if (st->json) {
		if ((o = stats_json(st, top, median)) == NULL ||
		    ctl_print_json(o) == -1) {
			json_decref(o);
			json_decref(top);
			ctl_session_fail(&st->sess, "out of memory");
			return;
		}
		json_decref(o);
	} else
		stats_print(st, top, median);
	json_decref(top);
	if (ctl_flush() == -1 && errno != EPIPE) {
		ctl_session_fail(&st->sess, "writing to stdout: %s",
		    strerror(errno));
		return;
	}
	ctl_session_finish(&st->sess, 0);
}

/* ---- Redis: XRANGE page by page --------------------------------------- */

static void stats_fetch(struct stats *st);

static void
page_reply(struct redisReply *reply, void *arg)
{
	struct stats *st = arg;
	const char *key = st->keys[st->cur];
	const redisReply *last = NULL;

	if (st->sess.done)
		return;
	if (reply == NULL) {
		ctl_session_fail(&st->sess, "lost the connection to Redis at "
		    "%s", st->sess.where);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		ctl_session_fail(&st->sess, "reading %s: %s", key, reply->str);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		ctl_session_fail(&st->sess, "reading %s: unexpected reply",
		    key);
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[0]->len >= STATS_ID_MAX - 1) {
			ctl_session_fail(&st->sess, "reading %s: malformed "
			    "entry", key);
			return;
		}
		last = e;
		if (e->element[1]->type != REDIS_REPLY_ARRAY)
			continue;       /* deleted */
		if (count_entry(st, e->element[1]) == -1) {
			ctl_session_fail(&st->sess, "out of memory");
			return;
		}
	}
	if (reply->elements < STATS_PAGE || last == NULL) {
		/* This stream is read; the next one from the start. */
		if (++st->cur == STATS_NSTREAMS) {
			stats_done(st);
			return;
		}
		snprintf(st->cursor, sizeof(st->cursor), "%lld-0",
		    (long long)st->since_ms);
	} else
		snprintf(st->cursor, sizeof(st->cursor), "(%s",
		    last->element[0]->str);
	stats_fetch(st);
}

static void
stats_fetch(struct stats *st)
{
	char count[16];
	const char *argv[6];

	snprintf(count, sizeof(count), "%d", STATS_PAGE);
	argv[0] = "XRANGE";
	argv[1] = st->keys[st->cur];
	argv[2] = st->cursor;
	argv[3] = "+";
	argv[4] = "COUNT";
	argv[5] = count;
	if (redis_command_argv(st->sess.r, 0, page_reply, st, 6, argv, NULL)
	    == -1)
		ctl_session_fail(&st->sess, "lost the connection to Redis at "
		    "%s", st->sess.where);
}

static void
stats_state(bool up, void *arg)
{
	struct stats *st = arg;

	if (!up || st->started)
		return;
	st->started = true;
	st->cur = 0;
	snprintf(st->cursor, sizeof(st->cursor), "%lld-0",
	    (long long)st->since_ms);
	stats_fetch(st);
}

/* ---- the verb --------------------------------------------------------- */

static void
stats_usage(FILE *fp)
{
	fprintf(fp, "usage: batonctl stats [--since DUR] [--json] [-c FILE]\n"
	    "  --since DUR       count entries from DUR ago (30s 5m 1h 7d; "
	    "default %s)\n"
	    "  --json            one JSON object\n", STATS_DEFAULT_SINCE);
}

int
ctl_stats(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct stats st;
	int ch, rc = 1;

	memset(&st, 0, sizeof(st));
	st.since_arg = STATS_DEFAULT_SINCE;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			st.since_arg = optarg;
			break;
		case 'j':
			st.json = true;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			stats_usage(stdout);
			return 0;
		default:
			stats_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "batonctl stats: unexpected argument '%s'\n",
		    argv[optind]);
		stats_usage(stderr);
		return 2;
	}
	if (ctl_since_ms(st.since_arg, timestamp_now_ms(), &st.since_ms) ==
	    -1) {
		fprintf(stderr, "batonctl stats: --since: '%s' is not a "
		    "duration (30s, 5m, 1h, 7d)\n", st.since_arg);
		return 2;
	}
	if (ctl_session_open(&st.sess, config_path, "stats", stats_state,
	    &st) == -1)
		goto out;
	if ((st.reasons = json_object()) == NULL ||
	    (st.slas = json_object()) == NULL) {
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	for (int i = 0; i < STATS_NSTREAMS; i++)
		if ((st.keys[i] = stream_key(st.sess.prefix,
		    stats_stream_names[i])) == NULL) {
			fprintf(stderr, "batonctl: out of memory\n");
			goto out;
		}
	rc = ctl_session_run(&st.sess);
out:
	ctl_session_close(&st.sess);
	for (int i = 0; i < STATS_NSTREAMS; i++)
		free(st.keys[i]);
	json_decref(st.reasons);
	json_decref(st.slas);
	free(st.waits);
	return rc;
}
