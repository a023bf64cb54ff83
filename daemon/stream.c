/*
 * stream.c - appending canonical events to a Redis stream exactly once
 * (see stream.h), one append at a time or grouped per loop iteration.
 *
 * One script call carries one or more appends ("parts"), sent as EVALSHA
 * with the script's SHA-1 computed here; when Redis answers NOSCRIPT (a
 * restart, a SCRIPT FLUSH) the same arguments are sent once more as EVAL,
 * which also loads the script for the next EVALSHA.  The arguments are
 * kept until the final reply for that reason, and borrow the events'
 * strings, which their owners keep until the callback.
 *
 * Calling convention of the script:
 *   KEYS[1]       the stream (PREFIX:events)
 *   KEYS[2..n+1]  one dedupe mark per event (PREFIX:seen:<source>:<id>)
 *   KEYS[n+2..]   one lead hash per event (PREFIX:lead:<lead>)
 *   ARGV[1]       MAXLEN for the approximate trim; 0 means no trim
 *   ARGV[2]       the marks' TTL in milliseconds
 *   ARGV[3]       the schema version written in field v
 *   ARGV[4..]     six per event: type lead source id at data
 * It returns one integer per event: 1 written, 0 already there.  The
 * marks are declared as keys so that the script touches only keys it was
 * given.  Per event: SET NX claims the mark (a redelivery stops there),
 * HINCRBY takes the lead's next sequence number (`seq_in` in its hash),
 * and XADD writes the entry with it as `seq`.  The rules worker applies a
 * lead's events strictly in `seq` order and knows a redelivery by it.  A
 * HINCRBY or XADD that fails (a corrupt hash, out of memory) gives the
 * number back and removes the mark before the script returns the error,
 * so no mark stands for an event that is not written and no number is
 * skipped.
 * Events written before such an error stay, with their marks, and a
 * redelivery counts them as duplicates.  The same event twice in one call
 * is written once.
 *
 * The fenced variant (a poller's commit) is the same loop between a check
 * and a write: first the fence key must hold the caller's value (its
 * lease), else the script returns -1 having touched nothing; after the
 * events it sets the cursor key, so events and cursor land together.
 */
#include "stream.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <baton/log.h>

#include "redis.h"

#define STREAM_DEFAULT_DEDUPE_TTL_MS    (7LL * 24 * 3600 * 1000)
#define STREAM_BATCH_DEFAULT_EVENTS     512

/* The loop over the events, shared by both scripts: n, maxlen and out are
 * set before it.  A lead merged into another (PREFIX:alias:<key> names
 * the survivor, set by the rules worker on lead.merged) is followed, up
 * to 5 hops: the event is written, and numbered, as the survivor's.  The
 * alias key and a followed lead hash are computed here rather than passed
 * in KEYS (batond does not run on Redis Cluster).  A lead given as
 * "ref:<id>" is first looked up as PREFIX:ref:<source>:<id>; when no lead
 * has that id the event is not written (2 in the answer) and its dedupe
 * mark is removed, so a redelivery looks again. */
#define STREAM_SCRIPT_EVENTS \
    "for i = 1, n do\n" \
    "  local mark, lead = KEYS[1 + i], KEYS[1 + n + i]\n" \
    "  if not redis.call('SET', mark, '1', 'NX', 'PX', ARGV[2]) then\n" \
    "    out[i] = 0\n" \
    "  else\n" \
    "    local a = 4 + (i - 1) * 6\n" \
    "    local name = ARGV[a + 1]\n" \
    "    local base = string.sub(lead, 1, #lead - #name - 5)\n" \
    "    if string.sub(name, 1, 4) == 'ref:' then\n" \
    "      name = redis.call('GET', base .. 'ref:' .. ARGV[a + 2] .. ':' ..\n" \
    "        string.sub(name, 5))\n" \
    "      if name then lead = base .. 'lead:' .. name end\n" \
    "    end\n" \
    "    if not name then\n" \
    "      redis.call('DEL', mark)\n" \
    "      out[i] = 2\n" \
    "    else\n" \
    "    for hop = 1, 5 do\n" \
    "      local to = redis.call('GET', base .. 'alias:' .. name)\n" \
    "      if not to then break end\n" \
    "      name = to; lead = base .. 'lead:' .. to\n" \
    "    end\n" \
    "    local seq = redis.pcall('HINCRBY', lead, 'seq_in', 1)\n" \
    "    if type(seq) == 'table' and seq.err then\n" \
    "      redis.call('DEL', mark)\n" \
    "      return redis.error_reply(seq.err)\n" \
    "    end\n" \
    "    local r\n" \
    "    if maxlen > 0 then\n" \
    "      r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',\n" \
    "        'v', ARGV[3], 'type', ARGV[a], 'lead', name,\n" \
    "        'source', ARGV[a + 2], 'id', ARGV[a + 3], 'at', ARGV[a + 4],\n" \
    "        'data', ARGV[a + 5], 'seq', seq)\n" \
    "    else\n" \
    "      r = redis.pcall('XADD', KEYS[1], '*',\n" \
    "        'v', ARGV[3], 'type', ARGV[a], 'lead', name,\n" \
    "        'source', ARGV[a + 2], 'id', ARGV[a + 3], 'at', ARGV[a + 4],\n" \
    "        'data', ARGV[a + 5], 'seq', seq)\n" \
    "    end\n" \
    "    if type(r) == 'table' and r.err then\n" \
    "      redis.call('HINCRBY', lead, 'seq_in', -1)\n" \
    "      redis.call('DEL', mark)\n" \
    "      return redis.error_reply(r.err)\n" \
    "    end\n" \
    "    out[i] = 1\n" \
    "    end\n" \
    "  end\n" \
    "end\n"

static const char stream_script[] =
    "local maxlen = tonumber(ARGV[1])\n"
    "local n = (#KEYS - 1) / 2\n"
    "local out = {}\n"
    STREAM_SCRIPT_EVENTS
    "return out\n";

/*
 * The fenced append: two more keys after the lead hashes (the fence, the
 * cursor) and three more arguments after the events (the fence's
 * expected value, "1" when the cursor is to be set, the cursor).  It
 * returns -1, having done nothing, when the fence does not hold that value.
 */
static const char stream_fenced_script[] =
    "local maxlen = tonumber(ARGV[1])\n"
    "local n = (#KEYS - 3) / 2\n"
    "local out = {}\n"
    "if redis.call('GET', KEYS[#KEYS - 1]) ~= ARGV[#ARGV - 2] then\n"
    "  return -1\n"
    "end\n"
    STREAM_SCRIPT_EVENTS
    "if ARGV[#ARGV - 1] == '1' then\n"
    "  redis.call('SET', KEYS[#KEYS], ARGV[#ARGV])\n"
    "end\n"
    "return out\n";

/* One caller's append inside a script call. */
struct append_part {
	struct baton_event *const *evs;
	size_t n;
	stream_append_cb cb;
	void *arg;
};

/* One script call in flight: the arguments survive until the final reply. */
struct append_req {
	struct redis *r;
	struct append_part *parts;      /* owned array */
	size_t nparts;
	size_t nevents;
	int argc;
	const char **argv;
	size_t *argvlen;
	bool *owned;                    /* argv[i] is ours to free */
	bool eval_sent;                 /* the NOSCRIPT fallback was used */
	bool fenced;                    /* stream_fenced_script */
};

/* What a fenced append adds to the script call (all borrowed). */
struct append_fence {
	const char *key, *value;        /* the fence and the value it needs */
	const char *cursor_key;
	const char *cursor;             /* NULL: leave the cursor alone */
};

struct stream_batcher {
	struct event *ev_flush;
	size_t max_events;
	struct redis *r;                /* of the queued parts */
	struct stream_target t;         /* of the queued parts */
	char *prefix, *stream;          /* t's strings, owned */
	struct append_part *parts;
	size_t nparts, cap, nevents;
};

/* A script's SHA-1 in hex, computed into hex (41 bytes) on first use. */
static const char *
script_sha(const char *script, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (hex[0] != '\0')
		return hex;
	if (EVP_Digest(script, len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return NULL;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* ---- One script call ----------------------------------------------------- */

static void
append_req_free(struct append_req *q)
{
	if (q == NULL)
		return;
	if (q->argv != NULL && q->owned != NULL)
		for (int i = 0; i < q->argc; i++)
			if (q->owned[i])
				free((char *)q->argv[i]);
	free(q->argv);
	free(q->argvlen);
	free(q->owned);
	free(q->parts);
	free(q);
}

/* Runs every part's callback with a failure. */
static void
parts_fail(struct append_part *parts, size_t nparts)
{
	for (size_t i = 0; i < nparts; i++)
		parts[i].cb(-1, 0, 0, parts[i].arg);
}

static void
append_reply(struct redisReply *reply, void *arg)
{
	struct append_req *q = arg;
	const char *key = q->argv[3];
	size_t i, k, off;

	if (reply == NULL) {
		/* redis.c logged the timeout or the lost connection. */
		log_debug("stream: append to %s: no reply", key);
		goto fail;
	}
	if (reply->type == REDIS_REPLY_ERROR && !q->eval_sent &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0) {
		q->eval_sent = true;
		q->argv[0] = "EVAL";
		q->argv[1] = q->fenced ? stream_fenced_script : stream_script;
		q->argvlen[0] = 4;
		q->argvlen[1] = q->fenced ? sizeof(stream_fenced_script) - 1 :
		    sizeof(stream_script) - 1;
		log_debug("stream: script not cached on Redis; sending EVAL");
		if (redis_command_argv(q->r, 0, append_reply, q, q->argc,
		    q->argv, q->argvlen) == 0)
			return;
		log_warnx("stream: append to %s failed: Redis went away "
		    "before the script could be loaded", key);
		goto fail;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		log_warnx("stream: append to %s failed: %s", key, reply->str);
		goto fail;
	}
	if (q->fenced && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == -1) {
		/* The fence did not hold: nothing was written. */
		for (k = 0; k < q->nparts; k++)
			q->parts[k].cb(STREAM_FENCED, 0, 0, q->parts[k].arg);
		append_req_free(q);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != q->nevents) {
		log_warnx("stream: append to %s: unexpected reply from the "
		    "script (type %d, %zu elements for %zu events)", key,
		    reply->type, reply->type == REDIS_REPLY_ARRAY ?
		    reply->elements : 0, q->nevents);
		goto fail;
	}
	for (i = 0; i < q->nevents; i++)
		if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
			log_warnx("stream: append to %s: element %zu of the "
			    "script's reply is not an integer", key, i);
			goto fail;
		}
	for (k = 0, off = 0; k < q->nparts; k++) {
		size_t written = 0;

		for (i = 0; i < q->parts[k].n; i++) {
			const struct baton_event *ev = q->parts[k].evs[i];

			written += reply->element[off + i]->integer == 1;
			if (reply->element[off + i]->integer == 2)
				log_info("stream: %s event %s:%s names its lead "
				    "as %s, which no lead has: not written",
				    ev->type, ev->source, ev->id, ev->lead);
		}
		off += q->parts[k].n;
		q->parts[k].cb(0, written, q->parts[k].n - written,
		    q->parts[k].arg);
	}
	append_req_free(q);
	return;
fail:
	parts_fail(q->parts, q->nparts);
	append_req_free(q);
}

/* Appends an argument; owned ones are freed with the request.  A NULL
 * string is an allocation failure. */
static int
put_arg(struct append_req *q, const char *s, bool owned)
{
	if (s == NULL)
		return -1;
	q->argv[q->argc] = s;
	q->argvlen[q->argc] = strlen(s);
	q->owned[q->argc] = owned;
	q->argc++;
	return 0;
}

static char *
fmt_ll(long long v)
{
	char *s;

	if (asprintf(&s, "%lld", v) < 0)
		return NULL;
	return s;
}

/* Every event has what the stream entry needs.  0 or -1 (logged). */
static int
events_complete(struct baton_event *const *evs, size_t n)
{
	if (n == 0 || evs == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct baton_event *ev = evs[i];

		if (ev == NULL || ev->type == NULL || ev->lead == NULL ||
		    ev->source == NULL || ev->id == NULL) {
			log_warnx("stream: event %zu of %zu lacks type, lead, "
			    "source or id; append refused", i + 1, n);
			return -1;
		}
	}
	return 0;
}

/*
 * Builds one EVALSHA for parts[0..nparts) and sends it; with a fence (f
 * not NULL, then n may be 0) of the fenced script.  Returns 0 when sent
 * (the request took the parts array; every part's cb runs exactly once,
 * later), or -1 when out of memory or when Redis is not up: no cb was
 * called and the array is still the caller's.
 */
static int
append_send(struct redis *r, const struct stream_target *t,
    struct append_part *parts, size_t nparts, const struct append_fence *f)
{
	static char sha_plain[2 * 20 + 1], sha_fenced[2 * 20 + 1];
	struct append_req *q;
	const char *sha;
	size_t i, k, n = 0, cap;
	int64_t ttl;

	for (k = 0; k < nparts; k++)
		n += parts[k].n;
	if (f != NULL)
		sha = script_sha(stream_fenced_script,
		    sizeof(stream_fenced_script) - 1, sha_fenced);
	else
		sha = script_sha(stream_script, sizeof(stream_script) - 1,
		    sha_plain);
	if (sha == NULL) {
		log_warnx("stream: cannot compute the script's SHA-1");
		return -1;
	}
	/* EVALSHA sha numkeys, 1 + 2n (+ 2) keys, 3 + 6n (+ 3) arguments. */
	if ((n == 0 && f == NULL) || n > (size_t)(INT32_MAX - 16) / 8 ||
	    (q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->r = r;
	q->parts = parts;
	q->nparts = nparts;
	q->nevents = n;
	q->fenced = f != NULL;
	cap = 3 + 1 + 2 * n + 2 + 3 + 6 * n + 3;
	q->argv = calloc(cap, sizeof(*q->argv));
	q->argvlen = calloc(cap, sizeof(*q->argvlen));
	q->owned = calloc(cap, sizeof(*q->owned));
	if (q->argv == NULL || q->argvlen == NULL || q->owned == NULL)
		goto fail;
	ttl = t->dedupe_ttl_ms > 0 ? t->dedupe_ttl_ms :
	    STREAM_DEFAULT_DEDUPE_TTL_MS;
	if (put_arg(q, "EVALSHA", false) == -1 ||
	    put_arg(q, sha, false) == -1 ||
	    put_arg(q, fmt_ll((long long)(2 * n + 1 + (f != NULL ? 2 : 0))),
	    true) == -1 ||
	    put_arg(q, stream_key(t->prefix, t->stream), true) == -1)
		goto fail;
	for (k = 0; k < nparts; k++)
		for (i = 0; i < parts[k].n; i++)
			if (put_arg(q, stream_dedupe_key(t->prefix,
			    parts[k].evs[i]->source, parts[k].evs[i]->id),
			    true) == -1)
				goto fail;
	for (k = 0; k < nparts; k++)
		for (i = 0; i < parts[k].n; i++)
			if (put_arg(q, stream_lead_key(t->prefix,
			    parts[k].evs[i]->lead), true) == -1)
				goto fail;
	if (f != NULL && (put_arg(q, f->key, false) == -1 ||
	    put_arg(q, f->cursor_key, false) == -1))
		goto fail;
	if (put_arg(q, fmt_ll(t->maxlen > 0 ? t->maxlen : 0), true) == -1 ||
	    put_arg(q, fmt_ll((long long)ttl), true) == -1 ||
	    put_arg(q, EVENT_SCHEMA_VERSION, false) == -1)
		goto fail;
	for (k = 0; k < nparts; k++) {
		for (i = 0; i < parts[k].n; i++) {
			const struct baton_event *ev = parts[k].evs[i];
			char *data;

			if (put_arg(q, ev->type, false) == -1 ||
			    put_arg(q, ev->lead, false) == -1 ||
			    put_arg(q, ev->source, false) == -1 ||
			    put_arg(q, ev->id, false) == -1 ||
			    put_arg(q, fmt_ll((long long)ev->at_ms), true) == -1)
				goto fail;
			if ((data = baton_event_data_json(ev)) == NULL) {
				log_warnx("stream: cannot serialize the data of "
				    "event %s:%s", ev->source, ev->id);
				goto fail;
			}
			if (put_arg(q, data, true) == -1)
				goto fail;
		}
	}
	if (f != NULL && (put_arg(q, f->value, false) == -1 ||
	    put_arg(q, f->cursor != NULL ? "1" : "0", false) == -1 ||
	    put_arg(q, f->cursor != NULL ? f->cursor : "", false) == -1))
		goto fail;
	if (redis_command_argv(r, 0, append_reply, q, q->argc, q->argv,
	    q->argvlen) == -1)
		goto fail;
	return 0;
fail:
	q->parts = NULL;        /* still the caller's */
	append_req_free(q);
	return -1;
}

int
stream_append(struct redis *r, const struct stream_target *t,
    struct baton_event *const *evs, size_t n, stream_append_cb cb,
    void *arg)
{
	struct append_part *part;

	if (cb == NULL || !redis_is_up(r) || events_complete(evs, n) == -1)
		return -1;
	if ((part = malloc(sizeof(*part))) == NULL)
		return -1;
	*part = (struct append_part){ .evs = evs, .n = n, .cb = cb,
	    .arg = arg };
	if (append_send(r, t, part, 1, NULL) == -1) {
		free(part);
		return -1;
	}
	return 0;
}

int
stream_append_fenced(struct redis *r, const struct stream_target *t,
    struct baton_event *const *evs, size_t n, const char *fence_key,
    const char *fence_value, const char *cursor_key, const char *cursor,
    stream_append_cb cb, void *arg)
{
	struct append_fence f = { .key = fence_key, .value = fence_value,
	    .cursor_key = cursor_key, .cursor = cursor };
	struct append_part *part;

	if (cb == NULL || fence_key == NULL || fence_value == NULL ||
	    cursor_key == NULL || !redis_is_up(r) ||
	    (n > 0 && events_complete(evs, n) == -1))
		return -1;
	if ((part = malloc(sizeof(*part))) == NULL)
		return -1;
	*part = (struct append_part){ .evs = evs, .n = n, .cb = cb,
	    .arg = arg };
	if (append_send(r, t, part, 1, &f) == -1) {
		free(part);
		return -1;
	}
	return 0;
}

/* ---- Group commit ---------------------------------------------------------- */

void
stream_batcher_flush(struct stream_batcher *b)
{
	struct append_part *parts = b->parts;
	size_t nparts = b->nparts;

	if (nparts == 0)
		return;
	b->parts = NULL;
	b->nparts = b->cap = b->nevents = 0;
	event_del(b->ev_flush);
	if (!redis_is_up(b->r) ||
	    append_send(b->r, &b->t, parts, nparts, NULL) == -1) {
		/* These appends were promised a callback: they fail now. */
		parts_fail(parts, nparts);
		free(parts);
	}
}

static void
batcher_on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stream_batcher_flush(arg);
}

struct stream_batcher *
stream_batcher_new(struct event_base *base, size_t max_events)
{
	struct stream_batcher *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max_events = max_events ? max_events : STREAM_BATCH_DEFAULT_EVENTS;
	if ((b->ev_flush = event_new(base, -1, 0, batcher_on_flush, b)) ==
	    NULL) {
		free(b);
		return NULL;
	}
	return b;
}

/* The queue was built for this connection and target. */
static bool
batcher_matches(const struct stream_batcher *b, const struct redis *r,
    const struct stream_target *t)
{
	return b->r == r && strcmp(b->prefix, t->prefix) == 0 &&
	    strcmp(b->stream, t->stream) == 0 && b->t.maxlen == t->maxlen &&
	    b->t.dedupe_ttl_ms == t->dedupe_ttl_ms;
}

/* Makes the queue's target a copy of t.  0 or -1. */
static int
batcher_set_target(struct stream_batcher *b, struct redis *r,
    const struct stream_target *t)
{
	char *prefix = strdup(t->prefix), *stream = strdup(t->stream);

	if (prefix == NULL || stream == NULL) {
		free(prefix);
		free(stream);
		return -1;
	}
	free(b->prefix);
	free(b->stream);
	b->r = r;
	b->prefix = prefix;
	b->stream = stream;
	b->t = *t;
	b->t.prefix = prefix;
	b->t.stream = stream;
	return 0;
}

int
stream_batcher_append(struct stream_batcher *b, struct redis *r,
    const struct stream_target *t, struct baton_event *const *evs, size_t n,
    stream_append_cb cb, void *arg)
{
	if (cb == NULL || !redis_is_up(r) || events_complete(evs, n) == -1)
		return -1;
	/* Earlier appends go first when this one cannot join them. */
	if (b->nparts > 0 && (!batcher_matches(b, r, t) ||
	    b->nevents + n > b->max_events))
		stream_batcher_flush(b);
	if (b->nparts == 0 && (b->prefix == NULL ||
	    !batcher_matches(b, r, t)) && batcher_set_target(b, r, t) == -1)
		return -1;
	if (b->nparts == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct append_part *p = realloc(b->parts, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		b->parts = p;
		b->cap = cap;
	}
	b->parts[b->nparts++] = (struct append_part){ .evs = evs, .n = n,
	    .cb = cb, .arg = arg };
	b->nevents += n;
	/* Runs once the loop has handled the sockets ready now. */
	if (b->nparts == 1)
		event_active(b->ev_flush, EV_TIMEOUT, 0);
	return 0;
}

void
stream_batcher_free(struct stream_batcher *b)
{
	if (b == NULL)
		return;
	parts_fail(b->parts, b->nparts);
	free(b->parts);
	free(b->prefix);
	free(b->stream);
	if (b->ev_flush != NULL)
		event_free(b->ev_flush);
	free(b);
}

/* ---- Keys ------------------------------------------------------------------ */

/* "PREFIX:stream", malloc'd; NULL when out of memory. */
char *
stream_key(const char *prefix, const char *stream)
{
	char *s;

	if (asprintf(&s, "%s:%s", prefix, stream) < 0)
		return NULL;
	return s;
}

/* "PREFIX:lead:LEAD", malloc'd; NULL when out of memory. */
char *
stream_lead_key(const char *prefix, const char *lead)
{
	char *s;

	if (asprintf(&s, "%s:lead:%s", prefix, lead) < 0)
		return NULL;
	return s;
}

/* "PREFIX:seen:SOURCE:ID", malloc'd; NULL when out of memory. */
char *
stream_dedupe_key(const char *prefix, const char *source, const char *id)
{
	char *s;

	if (asprintf(&s, "%s:seen:%s:%s", prefix, source, id) < 0)
		return NULL;
	return s;
}
