/*
 * ctl_tail.c - `batonctl tail`: prints entries of baton's streams, merged
 * across streams in entry-ID order, and optionally follows them.
 *
 *   batonctl tail [STREAM...] [-f] [--lead EMAIL] [--type GLOB]
 *       [--since DUR|ID] [-n N] [--json]
 *
 * STREAM is a short name (events decisions handoffs feedback dlq; default
 * all five) read at PREFIX:name.  Without --since the last N matching
 * entries (default 20) are printed: each stream is read backwards with
 * XREVRANGE, page by page, until it has N matches, and the newest N of
 * the union are printed oldest first.  With --since (a duration: entries
 * from that long ago; or an entry ID: entries after it) every matching
 * entry since then is printed: each stream is read forwards with XRANGE
 * in pages and the pages are merged as they come, so memory stays
 * bounded by one page per stream.  -f then follows with XREAD BLOCK from
 * the last ID seen in each stream until SIGINT or SIGTERM (exit 0); a
 * lost connection is reported and the follow resumes when redis.c has
 * reconnected.  --lead (normalized like the intake does) and --type (an
 * fnmatch glob) filter on the entries' fields.
 *
 * Output, one line per entry:
 *   <time of the entry ID, RFC 3339 ms> <stream> <type> <lead> <source>
 *   id=<id> <data as compact JSON>
 * (a missing field prints as "-"), or with --json one object per line:
 * {"stream": ..., "entry_id": ..., every field as a string, "data" parsed
 * as JSON}.
 *
 * It runs redis.c on its own libevent loop, like the daemon (a
 * ctl_session, ctl_util.c): nothing here needs a second Redis client.  A
 * Redis that does not answer within the connect timeout is an error
 * (exit 1).
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/conf.h>
#include <baton/event.h>
#include <baton/log.h>
#include <baton/timestamp.h>

#include "ctl.h"
#include "redis.h"
#include "stream.h"

#define TAIL_PAGE               1000    /* entries per XRANGE/XREAD */
#define TAIL_BLOCK_MS           5000    /* XREAD BLOCK */
#define TAIL_DEFAULT_N          20
#define TAIL_MAX_N              1000000
#define TAIL_NSTREAMS           5
#define TAIL_ID_MAX             48      /* "(" + 20 digits + "-" + 20 */

static const char *const tail_stream_names[TAIL_NSTREAMS] = {
	"events", "decisions", "handoffs", "feedback", "dlq",
};

/* One entry read and kept until printed. */
struct entry {
	uint64_t ms, seq;               /* the entry ID */
	int stream;                     /* index in tail->s */
	char *id;                       /* "ms-seq" */
	json_t *fields;                 /* object: field -> string */
};

struct entry_vec {
	struct entry **v;
	size_t n, cap;
	size_t head;                    /* next to pop (--since merge) */
};

struct tstream {
	struct tail *t;
	const char *name;               /* "events" */
	char *key;                      /* "baton:events" */
	struct entry_vec q;             /* matches read, not printed yet */
	char cursor[TAIL_ID_MAX];       /* bound of the next page */
	char last[TAIL_ID_MAX];         /* last ID seen, for XREAD */
	bool exhausted;                 /* no more pages */
	bool fetching;                  /* a page is in flight */
};

enum tail_phase {
	T_CONNECTING,
	T_INITIAL,                      /* the last N, or --since */
	T_FOLLOW,
	T_DONE,
};

struct tail {
	struct ctl_session sess;        /* loop, Redis, signals */
	struct tstream s[TAIL_NSTREAMS];
	int ns;
	bool follow, json, since;
	bool has_lead;
	char lead[EVENT_LEAD_MAX + 1];
	const char *type_glob;
	long n;                         /* -n */
	char since_start[TAIL_ID_MAX];  /* XRANGE start: "ms-0" or "(id" */
	char since_last[TAIL_ID_MAX];   /* XREAD start when nothing read */
	enum tail_phase phase;
	bool waiting_up;                /* follow: resume when up */
	int pending;                    /* last-N pages in flight */
};

static void tail_merge(struct tail *t);
static void tail_xread(struct tail *t);

/* ---- entries ---------------------------------------------------------- */

static void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	free(e->id);
	json_decref(e->fields);
	free(e);
}

static int
vec_push(struct entry_vec *v, struct entry *e)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct entry **nv = realloc(v->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = e;
	return 0;
}

static void
vec_clear(struct entry_vec *v)
{
	for (size_t i = v->head; i < v->n; i++)
		entry_free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static int
entry_cmp(const void *a_, const void *b_)
{
	const struct entry *a = *(struct entry *const *)a_;
	const struct entry *b = *(struct entry *const *)b_;

	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return a->stream - b->stream;
}

static const char *
field(const struct entry *e, const char *name)
{
	return ctl_field(e->fields, name);
}

static const char *
field_or_dash(const struct entry *e, const char *name)
{
	const char *v = field(e, name);

	return v != NULL ? v : "-";
}

/*
 * Turns one XRANGE/XREAD entry ([id, [f, v, ...]]) into an entry.  Sets
 * *bad for a malformed one.  Returns NULL when it does not match the
 * filters (or on failure).
 */
static struct entry *
entry_from_reply(struct tail *t, int stream, const redisReply *r, bool *bad)
{
	const redisReply *f;
	struct entry *e;
	const char *v;

	*bad = false;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		*bad = true;
		return NULL;
	}
	f = r->element[1];
	if (f->type != REDIS_REPLY_ARRAY)
		return NULL;            /* a deleted entry: nothing to show */
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->id = strdup(r->element[0]->str)) == NULL ||
	    (e->fields = ctl_entry_fields(f)) == NULL ||
	    ctl_parse_id(e->id, &e->ms, &e->seq) == -1) {
		*bad = true;
		entry_free(e);
		return NULL;
	}
	e->stream = stream;
	if (t->has_lead && ((v = field(e, "lead")) == NULL ||
	    strcmp(v, t->lead) != 0))
		goto skip;
	if (t->type_glob != NULL && fnmatch(t->type_glob,
	    (v = field(e, "type")) != NULL ? v : "", 0) != 0)
		goto skip;
	return e;
skip:
	entry_free(e);
	return NULL;
}

/* ---- output ----------------------------------------------------------- */

static void
tail_finish(struct tail *t, int rc)
{
	if (t->phase == T_DONE)
		return;
	t->phase = T_DONE;
	ctl_session_finish(&t->sess, rc);
}

static void
tail_fail(struct tail *t, const char *fmt, ...) BATON_PRINTF(2, 3);

static void
tail_fail(struct tail *t, const char *fmt, ...)
{
	va_list ap;

	if (t->phase == T_DONE)
		return;
	t->phase = T_DONE;
	va_start(ap, fmt);
	ctl_session_vfail(&t->sess, fmt, ap);
	va_end(ap);
}

/* data, re-encoded compactly when it is JSON; NULL when absent. */
static char *
data_text(const char *raw, json_t **parsed)
{
	json_t *j;

	*parsed = NULL;
	if (raw == NULL)
		return NULL;
	if ((j = json_loads(raw, JSON_DECODE_ANY, NULL)) == NULL)
		return NULL;
	*parsed = j;
	return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
print_entry(struct tail *t, const struct entry *e)
{
	const char *name = t->s[e->stream].name;
	json_t *parsed;
	char *data;

	if (t->json) {
		json_t *o = json_object(), *v;
		const char *k;
		char *line;

		json_object_set_new(o, "stream", json_string(name));
		json_object_set_new(o, "entry_id", json_string(e->id));
		json_object_foreach(e->fields, k, v) {
			if (strcmp(k, "data") == 0 && (parsed = json_loads(
			    json_string_value(v), JSON_DECODE_ANY, NULL)) !=
			    NULL)
				json_object_set_new(o, k, parsed);
			else
				json_object_set(o, k, v);
		}
		if ((line = json_dumps(o, JSON_COMPACT)) != NULL) {
			fputs(line, stdout);
			fputc('\n', stdout);
			free(line);
		}
		json_decref(o);
		return;
	}
	{
		const char *raw = field(e, "data");
		char when[40];

		timestamp_format((int64_t)e->ms, when, sizeof(when));
		data = data_text(raw, &parsed);
		printf("%s %s %s %s %s id=%s %s\n", when, name,
		    field_or_dash(e, "type"), field_or_dash(e, "lead"),
		    field_or_dash(e, "source"), field_or_dash(e, "id"),
		    data != NULL ? data : raw != NULL ? raw : "-");
		free(data);
		json_decref(parsed);
	}
}

/* Flushes stdout; a reader that went away ends the tail quietly. */
static void
tail_flush(struct tail *t)
{
	if (ctl_flush() == 0)
		return;
	if (errno == EPIPE)
		tail_finish(t, 0);
	else
		tail_fail(t, "writing to stdout: %s", strerror(errno));
}

/* ---- follow: XREAD BLOCK ----------------------------------------------- */

static void
xread_reply(struct redisReply *reply, void *arg)
{
	struct tail *t = arg;
	struct entry_vec got = { 0 };
	bool bad;

	if (t->phase != T_FOLLOW)
		return;
	if (reply == NULL) {
		/* redis.c logged why; it reconnects on its own. */
		fprintf(stderr, "batonctl tail: lost the connection to Redis "
		    "at %s; waiting for it to come back\n", t->sess.where);
		t->waiting_up = true;
		if (redis_is_up(t->sess.r))
			tail_xread(t);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		tail_fail(t, "XREAD: %s", reply->str);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < reply->elements; i++) {
			const redisReply *sr = reply->element[i];
			int si;

			if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
			    sr->element[0]->type != REDIS_REPLY_STRING ||
			    sr->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			for (si = 0; si < t->ns; si++)
				if (strcmp(t->s[si].key, sr->element[0]->str)
				    == 0)
					break;
			if (si == t->ns)
				continue;
			for (size_t j = 0; j < sr->element[1]->elements; j++) {
				const redisReply *er = sr->element[1]->element[j];
				struct entry *e = entry_from_reply(t, si, er,
				    &bad);

				if (!bad && er->element[0]->len < TAIL_ID_MAX)
					snprintf(t->s[si].last,
					    sizeof(t->s[si].last), "%s",
					    er->element[0]->str);
				if (e != NULL && vec_push(&got, e) == -1)
					entry_free(e);
			}
		}
		qsort(got.v, got.n, sizeof(*got.v), entry_cmp);
		for (size_t i = 0; i < got.n; i++)
			print_entry(t, got.v[i]);
		vec_clear(&got);
		tail_flush(t);
	}
	/* NIL: the block expired with nothing new. */
	if (t->phase == T_FOLLOW)
		tail_xread(t);
}

static void
tail_xread(struct tail *t)
{
	const char *argv[6 + 2 * TAIL_NSTREAMS];
	char count[16], block[16];
	int argc = 0;

	t->waiting_up = false;
	snprintf(count, sizeof(count), "%d", TAIL_PAGE);
	snprintf(block, sizeof(block), "%d", TAIL_BLOCK_MS);
	argv[argc++] = "XREAD";
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	argv[argc++] = "BLOCK";
	argv[argc++] = block;
	argv[argc++] = "STREAMS";
	for (int i = 0; i < t->ns; i++)
		argv[argc++] = t->s[i].key;
	for (int i = 0; i < t->ns; i++)
		argv[argc++] = t->s[i].last;
	if (redis_command_argv(t->sess.r, TAIL_BLOCK_MS + t->sess.command_timeout_ms,
	    xread_reply, t, argc, argv, NULL) == -1)
		t->waiting_up = true;   /* down: resume from state_cb */
}

static void
tail_initial_done(struct tail *t)
{
	tail_flush(t);
	if (t->phase == T_DONE)
		return;
	if (!t->follow) {
		tail_finish(t, 0);
		return;
	}
	t->phase = T_FOLLOW;
	tail_xread(t);
}

/* ---- the last N: XREVRANGE ------------------------------------------------ */

static int
page_size(const struct tail *t)
{
	if (t->has_lead || t->type_glob != NULL || t->n > TAIL_PAGE)
		return TAIL_PAGE;
	return (int)t->n;
}

static void fetch_page(struct tstream *s);

/* Every stream has its N: prints the newest N of the union. */
static void
lastn_print(struct tail *t)
{
	struct entry_vec all = { 0 };
	size_t from;

	for (int i = 0; i < t->ns; i++) {
		struct entry_vec *q = &t->s[i].q;

		for (size_t j = 0; j < q->n; j++)
			if (vec_push(&all, q->v[j]) == -1)
				entry_free(q->v[j]);
		q->n = 0;
	}
	if (all.n > 0)
		qsort(all.v, all.n, sizeof(*all.v), entry_cmp);
	from = all.n > (size_t)t->n ? all.n - (size_t)t->n : 0;
	for (size_t i = from; i < all.n; i++)
		print_entry(t, all.v[i]);
	vec_clear(&all);
	tail_initial_done(t);
}

static void
page_reply(struct redisReply *reply, void *arg)
{
	struct tstream *s = arg;
	struct tail *t = s->t;
	const redisReply *last = NULL;
	bool bad, first_page;
	int si = (int)(s - t->s);

	s->fetching = false;
	if (t->phase != T_INITIAL)
		return;
	if (reply == NULL) {
		tail_fail(t, "lost the connection to Redis at %s", t->sess.where);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		tail_fail(t, "reading %s: %s", s->key, reply->str);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		tail_fail(t, "reading %s: unexpected reply", s->key);
		return;
	}
	first_page = s->cursor[0] != '(' && !t->since;
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *er = reply->element[i];
		struct entry *e;

		if (!t->since && s->q.n >= (size_t)t->n)
			break;
		e = entry_from_reply(t, si, er, &bad);
		if (bad) {
			tail_fail(t, "reading %s: malformed entry", s->key);
			return;
		}
		last = er;
		if (e != NULL && vec_push(&s->q, e) == -1) {
			entry_free(e);
			tail_fail(t, "out of memory");
			return;
		}
	}
	if (first_page && reply->elements > 0 &&
	    reply->element[0]->element[0]->len < TAIL_ID_MAX)
		/* XREVRANGE: the first entry is the stream's newest. */
		snprintf(s->last, sizeof(s->last), "%s",
		    reply->element[0]->element[0]->str);
	if (t->since && last != NULL)
		snprintf(s->last, sizeof(s->last), "%s",
		    last->element[0]->str);
	if (reply->elements < (size_t)page_size(t) || last == NULL ||
	    (!t->since && s->q.n >= (size_t)t->n))
		s->exhausted = true;
	else
		snprintf(s->cursor, sizeof(s->cursor), "(%s",
		    last->element[0]->str);

	if (t->since) {
		tail_merge(t);
		return;
	}
	if (!s->exhausted) {
		fetch_page(s);
		return;
	}
	if (--t->pending == 0)
		lastn_print(t);
}

/* Asks for the next page of one stream: XRANGE (--since) or XREVRANGE. */
static void
fetch_page(struct tstream *s)
{
	struct tail *t = s->t;
	const char *argv[6];
	char count[16];

	snprintf(count, sizeof(count), "%d", page_size(t));
	if (t->since) {
		argv[0] = "XRANGE";
		argv[1] = s->key;
		argv[2] = s->cursor;
		argv[3] = "+";
	} else {
		argv[0] = "XREVRANGE";
		argv[1] = s->key;
		argv[2] = s->cursor;
		argv[3] = "-";
	}
	argv[4] = "COUNT";
	argv[5] = count;
	s->fetching = true;
	if (redis_command_argv(t->sess.r, 0, page_reply, s, 6, argv, NULL) == -1) {
		s->fetching = false;
		tail_fail(t, "lost the connection to Redis at %s", t->sess.where);
	}
}

/* ---- --since: merge pages as they come ------------------------------- */

/*
 * Prints entries in ID order while every stream that may still have some
 * has at least one waiting; fetches the next page of a stream that ran
 * dry.  Finishes when every stream is exhausted and printed.
 */
static void
tail_merge(struct tail *t)
{
	for (;;) {
		struct tstream *min = NULL;

		if (t->phase != T_INITIAL)
			return;
		for (int i = 0; i < t->ns; i++) {
			struct tstream *s = &t->s[i];

			if (s->q.head < s->q.n) {
				if (min == NULL || entry_cmp(
				    &s->q.v[s->q.head],
				    &min->q.v[min->q.head]) < 0)
					min = s;
				continue;
			}
			if (s->exhausted)
				continue;
			if (!s->fetching)
				fetch_page(s);
			return;         /* wait for its page */
		}
		if (min == NULL)
			break;
		print_entry(t, min->q.v[min->q.head]);
		entry_free(min->q.v[min->q.head]);
		min->q.v[min->q.head++] = NULL;
		if (min->q.head == min->q.n)
			min->q.head = min->q.n = 0;
	}
	/* XREAD continues after what was read, or after the --since bound. */
	for (int i = 0; i < t->ns; i++)
		if (t->s[i].last[0] == '\0')
			snprintf(t->s[i].last, sizeof(t->s[i].last), "%s",
			    t->since_last);
	tail_initial_done(t);
}

/* ---- start, signals, timeouts ----------------------------------------- */

static void
tail_start(struct tail *t)
{
	t->phase = T_INITIAL;
	if (t->since) {
		for (int i = 0; i < t->ns; i++)
			snprintf(t->s[i].cursor, sizeof(t->s[i].cursor), "%s",
			    t->since_start);
		tail_merge(t);
		return;
	}
	t->pending = t->ns;
	for (int i = 0; i < t->ns; i++) {
		snprintf(t->s[i].cursor, sizeof(t->s[i].cursor), "+");
		snprintf(t->s[i].last, sizeof(t->s[i].last), "0-0");
	}
	for (int i = 0; i < t->ns && t->phase == T_INITIAL; i++)
		fetch_page(&t->s[i]);
}

static void
tail_state(bool up, void *arg)
{
	struct tail *t = arg;

	if (!up)
		return;
	if (t->phase == T_CONNECTING)
		tail_start(t);
	else if (t->phase == T_FOLLOW && t->waiting_up) {
		fprintf(stderr, "batonctl tail: connected to Redis again\n");
		tail_xread(t);
	}
}

/* ---- arguments -------------------------------------------------------- */

static void
tail_usage(FILE *fp)
{
	fprintf(fp, "usage: batonctl tail [STREAM...] [-f] [--lead EMAIL] "
	    "[--type GLOB]\n"
	    "           [--since DUR|ID] [-n N] [--json] [-c FILE]\n"
	    "  STREAM: events decisions handoffs feedback dlq (default: "
	    "all)\n"
	    "  -f, --follow      keep printing new entries until "
	    "interrupted\n"
	    "  --lead EMAIL      only this lead's entries\n"
	    "  --type GLOB       only entries whose type matches "
	    "(lead.*)\n"
	    "  --since DUR|ID    entries from DUR ago (30s 5m 1h 7d) or "
	    "after entry ID\n"
	    "  -n N              without --since: the last N entries "
	    "(default %d)\n"
	    "  --json            one JSON object per entry\n",
	    TAIL_DEFAULT_N);
}

/* --since: an entry ID ("ms-seq": entries after it) or a duration. */
static int
parse_since(struct tail *t, const char *arg)
{
	uint64_t ms, seq;
	int64_t from;

	if (strchr(arg, '-') != NULL) {
		if (ctl_parse_id(arg, &ms, &seq) == -1 ||
		    strlen(arg) >= TAIL_ID_MAX - 1)
			return -1;
		snprintf(t->since_start, sizeof(t->since_start), "(%s", arg);
		snprintf(t->since_last, sizeof(t->since_last), "%s", arg);
		return 0;
	}
	if (ctl_since_ms(arg, timestamp_now_ms(), &from) == -1)
		return -1;
	snprintf(t->since_start, sizeof(t->since_start), "%lld-0",
	    (long long)from);
	/* XREAD is exclusive: just before from-0. */
	if (from > 0)
		snprintf(t->since_last, sizeof(t->since_last), "%lld-%llu",
		    (long long)from - 1, (unsigned long long)UINT64_MAX);
	else
		snprintf(t->since_last, sizeof(t->since_last), "0-0");
	return 0;
}

static int
tail_args(struct tail *t, const char **path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lead", required_argument, NULL, 'l' },
		{ "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool want[TAIL_NSTREAMS] = { false };
	char err[256], *end;
	int ch, nwant = 0;

	t->n = TAIL_DEFAULT_N;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "fn:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			t->follow = true;
			break;
		case 'l':
			if (baton_event_lead_key(optarg, t->lead,
			    sizeof(t->lead), err, sizeof(err)) == -1) {
				fprintf(stderr, "batonctl tail: --lead: %s\n",
				    err);
				return 2;
			}
			t->has_lead = true;
			break;
		case 't':
			t->type_glob = optarg;
			break;
		case 's':
			if (parse_since(t, optarg) == -1) {
				fprintf(stderr, "batonctl tail: --since: '%s' "
				    "is neither a duration (30s, 5m, 1h, 7d) "
				    "nor an entry ID (1700000000000-0)\n",
				    optarg);
				return 2;
			}
			t->since = true;
			break;
		case 'n':
			errno = 0;
			t->n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    t->n < 1 || t->n > TAIL_MAX_N) {
				fprintf(stderr, "batonctl tail: -n: '%s' is "
				    "not a number from 1 to %d\n", optarg,
				    TAIL_MAX_N);
				return 2;
			}
			break;
		case 'j':
			t->json = true;
			break;
		case 'c':
			*path = optarg;
			break;
		case 'h':
			tail_usage(stdout);
			return 0;
		default:
			tail_usage(stderr);
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		int k;

		for (k = 0; k < TAIL_NSTREAMS; k++)
			if (strcmp(argv[i], tail_stream_names[k]) == 0)
				break;
		if (k == TAIL_NSTREAMS) {
			fprintf(stderr, "batonctl tail: unknown stream '%s' "
			    "(expected events, decisions, handoffs, feedback "
			    "or dlq)\n", argv[i]);
			return 2;
		}
		if (!want[k])
			nwant++;
		want[k] = true;
	}
	for (int k = 0; k < TAIL_NSTREAMS; k++)
		if (nwant == 0 || want[k])
			t->s[t->ns++].name = tail_stream_names[k];
	return -1;
}

/* ---- the verb --------------------------------------------------------- */

int
ctl_tail(const char *config_path, int argc, char **argv)
{
	struct tail t;
	int status;

	memset(&t, 0, sizeof(t));
	if ((status = tail_args(&t, &config_path, argc, argv)) != -1)
		return status;
	if (ctl_session_open(&t.sess, config_path, "tail", tail_state, &t) ==
	    -1)
		goto out;
	t.sess.signal_rc = 0;           /* interrupting a tail is its end */
	for (int i = 0; i < t.ns; i++) {
		t.s[i].t = &t;
		if ((t.s[i].key = stream_key(t.sess.prefix, t.s[i].name)) ==
		    NULL) {
			fprintf(stderr, "batonctl: out of memory\n");
			goto out;
		}
	}
	status = ctl_session_run(&t.sess);
out:
	t.phase = T_DONE;               /* callbacks run by redis_free: quiet */
	ctl_session_close(&t.sess);
	for (int i = 0; i < t.ns; i++) {
		vec_clear(&t.s[i].q);
		free(t.s[i].key);
	}
	return status == -1 ? 1 : status;
}
