/*
 * stream.c - appending canonical events to a Redis stream exactly once
 * (see stream.h).
 *
 * One batch is one call of the Lua script below, sent as EVALSHA with the
 * script's SHA-1 computed here; when Redis answers NOSCRIPT (a restart, a
 * SCRIPT FLUSH) the same arguments are sent once more as EVAL, which also
 * loads the script for the next EVALSHA.  The arguments are kept until the
 * final reply for that reason.
 *
 * Calling convention of the script:
 *   KEYS[1]       the stream (PREFIX:events)
 *   KEYS[2..n+1]  one dedupe mark per event (PREFIX:seen:<source>:<id>)
 *   ARGV[1]       MAXLEN for the approximate trim; 0 means no trim
 *   ARGV[2]       the marks' TTL in milliseconds
 *   ARGV[3]       the schema version written in field v
 *   ARGV[4..]     six per event: type lead source id at data
 * It returns {written, duplicates}.  The marks are declared as keys so
 * that the script touches only keys it was given.  XADD runs before SET,
 * so an XADD that fails leaves no mark behind and a redelivery writes
 * the event; a script aborted half-way keeps the events (and marks) it
 * wrote, which a redelivery then counts as duplicates.
 */
#include "stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <baton/log.h>

#include "redis.h"

#define STREAM_DEFAULT_DEDUPE_TTL_MS    (7LL * 24 * 3600 * 1000)

static const char stream_script[] =
    "local maxlen = tonumber(ARGV[1])\n"
    "local written, dups = 0, 0\n"
    "for i = 2, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 1 then\n"
    "    dups = dups + 1\n"
    "  else\n"
    "    local a = 4 + (i - 2) * 6\n"
    "    local f = {'v', ARGV[3], 'type', ARGV[a], 'lead', ARGV[a + 1],\n"
    "      'source', ARGV[a + 2], 'id', ARGV[a + 3], 'at', ARGV[a + 4],\n"
    "      'data', ARGV[a + 5]}\n"
    "    local id\n"
    "    if maxlen > 0 then\n"
    "      id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',\n"
    "        unpack(f))\n"
    "    else\n"
    "      id = redis.call('XADD', KEYS[1], '*', unpack(f))\n"
    "    end\n"
    "    redis.call('SET', KEYS[i], id, 'PX', ARGV[2])\n"
    "    written = written + 1\n"
    "  end\n"
    "end\n"
    "return {written, dups}\n";

/* One append in flight: the arguments survive until the final reply. */
struct append_req {
	struct redis *r;
	stream_append_cb cb;
	void *arg;
	int argc;
	const char **argv;      /* [0], [1] static; the rest owned */
	size_t *argvlen;
	bool eval_sent;         /* the NOSCRIPT fallback was used */
};

/* The script's SHA-1 in hex, computed on first use. */
static const char *
script_sha(void)
{
	static char hex[2 * 20 + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (hex[0] != '\0')
		return hex;
	if (EVP_Digest(stream_script, sizeof(stream_script) - 1, md, &mdlen,
	    EVP_sha1(), NULL) != 1 || mdlen != 20)
		return NULL;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

static void
append_req_free(struct append_req *q)
{
	if (q == NULL)
		return;
	if (q->argv != NULL)
		for (int i = 2; i < q->argc; i++)
			free((char *)q->argv[i]);
	free(q->argv);
	free(q->argvlen);
	free(q);
}

static void
append_reply(struct redisReply *reply, void *arg)
{
	struct append_req *q = arg;
	const char *key = q->argv[3];

	if (reply == NULL) {
		/* redis.c logged the timeout or the lost connection. */
		log_debug("stream: append to %s: no reply", key);
		q->cb(-1, 0, 0, q->arg);
		append_req_free(q);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && !q->eval_sent &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0) {
		q->eval_sent = true;
		q->argv[0] = "EVAL";
		q->argv[1] = stream_script;
		q->argvlen[0] = 4;
		q->argvlen[1] = sizeof(stream_script) - 1;
		log_debug("stream: script not cached on Redis; sending EVAL");
		if (redis_command_argv(q->r, 0, append_reply, q, q->argc,
		    q->argv, q->argvlen) == 0)
			return;
		log_warnx("stream: append to %s failed: Redis went away "
		    "before the script could be loaded", key);
		q->cb(-1, 0, 0, q->arg);
		append_req_free(q);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		log_warnx("stream: append to %s failed: %s", key, reply->str);
		q->cb(-1, 0, 0, q->arg);
	} else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER ||
	    reply->element[0]->integer < 0 ||
	    reply->element[1]->integer < 0) {
		log_warnx("stream: append to %s: unexpected reply from the "
		    "script (type %d)", key, reply->type);
		q->cb(-1, 0, 0, q->arg);
	} else
		q->cb(0, (size_t)reply->element[0]->integer,
		    (size_t)reply->element[1]->integer, q->arg);
	append_req_free(q);
}

/* Stores an owned argument; s is taken (NULL is a failure). */
static int
put_arg(struct append_req *q, char *s)
{
	if (s == NULL)
		return -1;
	q->argv[q->argc] = s;
	q->argvlen[q->argc] = strlen(s);
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

/*
 * Serializes evs[0..n) into one EVALSHA and sends it.  Returns 0 when
 * sent (cb runs exactly once), or -1 (cb not called) when an event lacks
 * a required field, when out of memory, or when Redis is not up.
 */
int
stream_append(struct redis *r, const struct stream_target *t,
    struct baton_event *const *evs, size_t n, stream_append_cb cb,
    void *arg)
{
	struct append_req *q;
	const char *sha;
	size_t i, cap;
	int64_t ttl;

	if (n == 0 || evs == NULL || cb == NULL || !redis_is_up(r))
		return -1;
	for (i = 0; i < n; i++) {
		const struct baton_event *ev = evs[i];

		if (ev == NULL || ev->type == NULL || ev->lead == NULL ||
		    ev->source == NULL || ev->id == NULL) {
			log_warnx("stream: event %zu of %zu lacks type, lead, "
			    "source or id; batch refused", i + 1, n);
			return -1;
		}
	}
	if ((sha = script_sha()) == NULL) {
		log_warnx("stream: cannot compute the script's SHA-1");
		return -1;
	}
	/* EVALSHA sha numkeys, 1 + n keys, 3 + 6n arguments. */
	if (n > (size_t)(INT32_MAX - 8) / 7)
		return -1;
	cap = 3 + 1 + n + 3 + 6 * n;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->argv = calloc(cap, sizeof(*q->argv));
	q->argvlen = calloc(cap, sizeof(*q->argvlen));
	if (q->argv == NULL || q->argvlen == NULL)
		goto fail;
	q->argv[0] = "EVALSHA";
	q->argvlen[0] = 7;
	q->argv[1] = sha;
	q->argvlen[1] = strlen(sha);
	q->argc = 2;
	if (put_arg(q, fmt_ll((long long)(n + 1))) == -1 ||
	    put_arg(q, stream_key(t->prefix, t->stream)) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		if (put_arg(q, stream_dedupe_key(t->prefix, evs[i]->source,
		    evs[i]->id)) == -1)
			goto fail;
	ttl = t->dedupe_ttl_ms > 0 ? t->dedupe_ttl_ms :
	    STREAM_DEFAULT_DEDUPE_TTL_MS;
	if (put_arg(q, fmt_ll(t->maxlen > 0 ? t->maxlen : 0)) == -1 ||
	    put_arg(q, fmt_ll((long long)ttl)) == -1 ||
	    put_arg(q, strdup(EVENT_SCHEMA_VERSION)) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		const struct baton_event *ev = evs[i];
		char *data;

		if (put_arg(q, strdup(ev->type)) == -1 ||
		    put_arg(q, strdup(ev->lead)) == -1 ||
		    put_arg(q, strdup(ev->source)) == -1 ||
		    put_arg(q, strdup(ev->id)) == -1 ||
		    put_arg(q, fmt_ll((long long)ev->at_ms)) == -1)
			goto fail;
		if ((data = baton_event_data_json(ev)) == NULL) {
			log_warnx("stream: cannot serialize the data of event "
			    "%s:%s", ev->source, ev->id);
			goto fail;
		}
		if (put_arg(q, data) == -1)
			goto fail;
	}
	if (redis_command_argv(r, 0, append_reply, q, q->argc, q->argv,
	    q->argvlen) == -1)
		goto fail;
	return 0;
fail:
	append_req_free(q);
	return -1;
}

/* "PREFIX:stream", malloc'd; NULL when out of memory. */
char *
stream_key(const char *prefix, const char *stream)
{
	char *s;

	if (asprintf(&s, "%s:%s", prefix, stream) < 0)
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
