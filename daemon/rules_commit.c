/*
 * rules_commit.c - writing what the rules worker decided: script calls,
 * the commit script, one lead's commit and the group commit.
 *
 * Script calls go as EVALSHA with the SHA-1 computed here, and once more
 * as EVAL when Redis answers NOSCRIPT (a restart, a SCRIPT FLUSH), which
 * also loads the script; the arguments are kept until the final reply
 * for that reason.
 *
 * Group commit.  A job that has applied its item builds its lead's
 * "part" (rules_commit_build) and queues it (rules_commit_send); a
 * zero-timeout event sends every part queued in this loop iteration, up
 * to WORKER_GROUP_COMMIT_MAX, as ONE call of the commit script, like
 * stream.c's batcher does for the intake.  The script handles each part
 * on its own and answers per part, so all-or-nothing and the `ver` check
 * stay per lead: a conflict or an error in one part retries that lead
 * only.  The parts' XACKs are gathered into one XACK at the end of the
 * same script: an entry is acknowledged in the call that applies it, or,
 * when its part failed, stays pending (a redelivery finds it applied or
 * not by `seq`).
 *
 * Per part, inside Redis: HGET ver (only for a part that touches the
 * hash), HSET (changed fields with ver + 1 and seq) and, for each ids.<S>
 * field set, SET PREFIX:ref:<S>:<id> to the lead's name (how an event
 * naming its lead "ref:<id>" finds it; removed with an erased lead),
 * HDEL when fields go,
 * LPUSH of the history lines and LTRIM only when the list grew past its
 * cap, one XADD (MAXLEN ~) per derived entry, one ZADD and one ZREM for
 * all the timers added and removed; and per call one XACK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "rules_worker_int.h"
#include "stream.h"

/* ---- Scripts ------------------------------------------------------------ */

/*
 * The group commit.  KEYS: 1 PREFIX:sla, 2 PREFIX:events,
 * 3 PREFIX:decisions, 4 PREFIX:handoffs, 5 PREFIX:feedback, then for part
 * p: 4 + 2p its lead hash, 5 + 2p its history list.  ARGV: 1 the group,
 * 2 MAXLEN (0 = no trim), 3 the history cap, 4 the number of parts, then
 * each part as its argument count followed by: the ver loaded ('' =
 * leave the hash alone: no check, no ver bump), the seq to set ('' =
 * none), the entry id to XACK ('' = none), then counted lists: nset +
 * field value pairs, ndel + fields, nhist + texts (oldest first),
 * nentries + (key index, type, lead, id, at, data) each, nzadd + (score,
 * member) pairs, nzrem + members, then four strings for identity changes
 * ('' when none): the alias key to set to the lead's name, the merged
 * lead's hash to mark merged_into (and add to the set
 * PREFIX:lead:<name>:merged), the lead's name, and the ZSCAN MATCH
 * pattern of the lead's SLA timers when the lead is to be erased (its
 * hash, history, refs and timers deleted after everything above, and the
 * same for every lead merged into it, with their aliases).  Returns two values per part: {1, new
 * ver (0 when the hash was left alone)}, {0, ver found} (a conflict:
 * nothing written) or {-1, error} (the part failed where Redis said).
 */
static const char commit_script[] =
    "local group, maxlen, cap = ARGV[1], tonumber(ARGV[2]), "
    "tonumber(ARGV[3])\n"
    "local i = 5\n"
    "local function take() i = i + 1; return ARGV[i - 1] end\n"
    "local acks = {}\n"
    "local base = string.sub(KEYS[1], 1, #KEYS[1] - 3)\n"
    "local function part(kh, kl)\n"
    "  local want, seq, ack = take(), take(), take()\n"
    "  local touch = want ~= ''\n"
    "  local ver = 0\n"
    "  if touch then\n"
    "    ver = tonumber(redis.call('HGET', kh, 'ver') or '0')\n"
    "    if tonumber(want) ~= ver then return {0, ver} end\n"
    "  end\n"
    "  local n = tonumber(take())\n"
    "  local t = {}\n"
    "  for k = 1, n do t[#t + 1] = take(); t[#t + 1] = take() end\n"
    "  if touch then\n"
    "    t[#t + 1] = 'ver'; t[#t + 1] = ver + 1\n"
    "    if seq ~= '' then t[#t + 1] = 'seq'; t[#t + 1] = seq end\n"
    "  end\n"
    "  if #t > 0 then redis.call('HSET', kh, unpack(t)) end\n"
    "  for k = 1, #t - 1, 2 do\n"
    "    local f = t[k]\n"
    "    if type(f) == 'string' and string.sub(f, 1, 4) == 'ids.' then\n"
    "      redis.call('SET', base .. 'ref:' .. string.sub(f, 5) .. ':' ..\n"
    "        t[k + 1], string.sub(kh, #base + 6))\n"
    "    end\n"
    "  end\n"
    "  n = tonumber(take())\n"
    "  if n > 0 then\n"
    "    t = {}\n"
    "    for k = 1, n do t[k] = take() end\n"
    "    redis.call('HDEL', kh, unpack(t))\n"
    "  end\n"
    "  n = tonumber(take())\n"
    "  if n > 0 then\n"
    "    t = {}\n"
    "    for k = 1, n do t[k] = take() end\n"
    "    if redis.call('LPUSH', kl, unpack(t)) > cap then\n"
    "      redis.call('LTRIM', kl, 0, cap - 1)\n"
    "    end\n"
    "  end\n"
    "  n = tonumber(take())\n"
    "  for k = 1, n do\n"
    "    local key = KEYS[tonumber(take())]\n"
    "    local ty, l, id, at, data = take(), take(), take(), take(), "
    "take()\n"
    "    if maxlen > 0 then\n"
    "      redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'v', '1',\n"
    "        'type', ty, 'lead', l, 'source', 'rules', 'id', id, 'at', at,\n"
    "        'data', data)\n"
    "    else\n"
    "      redis.call('XADD', key, '*', 'v', '1', 'type', ty, 'lead', l,\n"
    "        'source', 'rules', 'id', id, 'at', at, 'data', data)\n"
    "    end\n"
    "  end\n"
    "  n = tonumber(take())\n"
    "  if n > 0 then\n"
    "    t = {}\n"
    "    for k = 1, 2 * n do t[k] = take() end\n"
    "    redis.call('ZADD', KEYS[1], unpack(t))\n"
    "  end\n"
    "  n = tonumber(take())\n"
    "  if n > 0 then\n"
    "    t = {}\n"
    "    for k = 1, n do t[k] = take() end\n"
    "    redis.call('ZREM', KEYS[1], unpack(t))\n"
    "  end\n"
    "  local ak, fh, name, pat = take(), take(), take(), take()\n"
    "  if ak ~= '' then\n"
    "    redis.call('SET', ak, name)\n"
    "    redis.call('SADD', kh .. ':merged', string.sub(fh, #base + 6))\n"
    "    if redis.call('EXISTS', fh) == 1 then\n"
    "      redis.call('HSET', fh, 'merged_into', name)\n"
    "      redis.call('HINCRBY', fh, 'ver', 1)\n"
    "    end\n"
    "  end\n"
    "  if pat ~= '' then\n"
    "    local queue, seen = {string.sub(kh, #base + 6)}, {}\n"
    "    while #queue > 0 do\n"
    "      local m = table.remove(queue)\n"
    "      local mh = base .. 'lead:' .. m\n"
    "      seen[m] = true\n"
    "      local h = redis.call('HGETALL', mh)\n"
    "      for k = 1, #h - 1, 2 do\n"
    "        if string.sub(h[k], 1, 4) == 'ids.' then\n"
    "          local rk = base .. 'ref:' .. string.sub(h[k], 5) .. ':' ..\n"
    "            h[k + 1]\n"
    "          if redis.call('GET', rk) == m then\n"
    "            redis.call('DEL', rk)\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      for _, o in ipairs(redis.call('SMEMBERS', mh .. ':merged')) do\n"
    "        if not seen[o] and redis.call('HGET', base .. 'lead:' .. o,\n"
    "            'merged_into') == m then\n"
    "          queue[#queue + 1] = o\n"
    "        end\n"
    "        if redis.call('GET', base .. 'alias:' .. o) == m then\n"
    "          redis.call('DEL', base .. 'alias:' .. o)\n"
    "        end\n"
    "      end\n"
    "      redis.call('DEL', mh, mh .. ':history', mh .. ':merged')\n"
    "      local mp = pat\n"
    "      if mh ~= kh then\n"
    "        mp = '*|' .. string.gsub(m, '[%*%?%[%]\\\\]', '\\\\%0') ..\n"
    "          '|*'\n"
    "      end\n"
    "      local cur = '0'\n"
    "      repeat\n"
    "        local r = redis.call('ZSCAN', KEYS[1], cur, 'MATCH', mp,\n"
    "          'COUNT', 1000)\n"
    "        cur = r[1]\n"
    "        for k = 1, #r[2], 2 do redis.call('ZREM', KEYS[1], r[2][k]) end\n"
    "      until cur == '0'\n"
    "    end\n"
    "    redis.call('DEL', kl)\n"
    "  end\n"
    "  if ack ~= '' then acks[#acks + 1] = ack end\n"
    "  if touch then return {1, ver + 1} end\n"
    "  return {1, 0}\n"
    "end\n"
    "local out = {}\n"
    "for p = 1, tonumber(ARGV[4]) do\n"
    "  local n = tonumber(ARGV[i]); i = i + 1\n"
    "  local after = i + n\n"
    "  local ok, r = pcall(part, KEYS[4 + 2 * p], KEYS[5 + 2 * p])\n"
    "  if not ok then\n"
    "    r = {-1, type(r) == 'table' and (r.err or '?') or tostring(r)}\n"
    "  end\n"
    "  i = after\n"
    "  out[#out + 1] = r[1]; out[#out + 1] = r[2]\n"
    "end\n"
    "if #acks > 0 then redis.call('XACK', KEYS[2], group, unpack(acks)) end\n"
    "return out\n";

/*
 * The SLA claim.  KEYS[1] PREFIX:sla; ARGV: now (ms), lease (ms), limit.
 * Returns the members that were due, each now leased until now + lease.
 */
static const char sla_script[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "  'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZADD', KEYS[1], 'XX', until_ms, m)\n"
    "end\n"
    "return due\n";

static const char *const script_text[NSCRIPTS] = { commit_script,
    sla_script };
static char script_hex[NSCRIPTS][41];

const char *
rules_script_sha(enum script_id id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (script_hex[id][0] != '\0')
		return script_hex[id];
	if (EVP_Digest(script_text[id], strlen(script_text[id]), md, &mdlen,
	    EVP_sha1(), NULL) != 1 || mdlen != 20)
		return NULL;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(script_hex[id] + 2 * i, 3, "%02x", md[i]);
	return script_hex[id];
}

/* ---- Argument vectors --------------------------------------------------- */

void
rules_cargs_clear(struct cargs *a)
{
	if (a->argv != NULL && a->owned != NULL)
		for (int i = 0; i < a->argc; i++)
			if (a->owned[i])
				free((char *)a->argv[i]);
	free(a->argv);
	free(a->len);
	free(a->owned);
	memset(a, 0, sizeof(*a));
}

/* Room for n more arguments.  0 or -1 (a->oom set). */
static int
cargs_reserve(struct cargs *a, int n)
{
	int cap;
	const char **v;
	size_t *l;
	bool *o;

	if (a->argc + n <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 64;
	while (cap < a->argc + n)
		cap *= 2;
	if ((v = realloc(a->argv, cap * sizeof(*v))) == NULL)
		goto fail;
	a->argv = v;
	if ((l = realloc(a->len, cap * sizeof(*l))) == NULL)
		goto fail;
	a->len = l;
	if ((o = realloc(a->owned, cap * sizeof(*o))) == NULL)
		goto fail;
	a->owned = o;
	a->cap = cap;
	return 0;
fail:
	a->oom = true;
	return -1;
}

void
rules_cargs_add(struct cargs *a, const char *s, size_t len, bool owned)
{
	if (a->oom)
		goto drop;
	if (s == NULL) {
		a->oom = true;
		return;
	}
	if (cargs_reserve(a, 1) == -1)
		goto drop;
	a->argv[a->argc] = s;
	a->len[a->argc] = len;
	a->owned[a->argc] = owned;
	a->argc++;
	return;
drop:
	if (owned)
		free((char *)s);
}

void
rules_cargs_str(struct cargs *a, const char *s)
{
	rules_cargs_add(a, s, s ? strlen(s) : 0, false);
}

/* An owned string (may be NULL: out of memory). */
static void
cargs_own(struct cargs *a, char *s)
{
	rules_cargs_add(a, s, s ? strlen(s) : 0, true);
}

void
rules_cargs_ll(struct cargs *a, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp), *s;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	size_t n;

	/* Small counts are most arguments: no allocation for 0 to 9. */
	static const char digits[10][2] = { "0", "1", "2", "3", "4", "5",
	    "6", "7", "8", "9" };

	if (v >= 0 && v < 10) {
		rules_cargs_add(a, digits[v], 1, false);
		return;
	}
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	n = (size_t)(tmp + sizeof(tmp) - p);
	if ((s = malloc(n + 1)) != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	rules_cargs_add(a, s, n, true);
}

/* ---- Script calls ------------------------------------------------------- */

static void
call_free(struct call *c)
{
	if (c == NULL)
		return;
	rules_cargs_clear(&c->a);
	free(c);
}

struct call *
rules_call_new(struct rules_worker *w, enum script_id script, int numkeys)
{
	struct call *c;
	const char *sha = rules_script_sha(script);

	if (sha == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->w = w;
	c->script = script;
	rules_cargs_str(&c->a, "EVALSHA");
	rules_cargs_str(&c->a, sha);
	rules_cargs_ll(&c->a, numkeys);
	return c;
}

static void call_reply(struct redisReply *reply, void *arg);

int
rules_call_send(struct call *c, void (*cb)(struct redisReply *, void *),
    void *arg)
{
	struct rules_worker *w = c->w;

	c->cb = cb;
	c->arg = arg;
	if (c->a.oom || redis_command_argv(w->rc, 0, call_reply, c, c->a.argc,
	    c->a.argv, c->a.len) == -1) {
		call_free(c);
		return -1;
	}
	w->ncmd++;
	return 0;
}

static void
call_reply(struct redisReply *reply, void *arg)
{
	struct call *c = arg;
	struct rules_worker *w = c->w;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    !c->eval_sent && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    !w->freeing) {
		c->eval_sent = true;
		c->a.argv[0] = "EVAL";
		c->a.len[0] = 4;
		c->a.argv[1] = script_text[c->script];
		c->a.len[1] = strlen(script_text[c->script]);
		log_debug("rules: script not cached on Redis; sending EVAL");
		if (redis_command_argv(w->rc, 0, call_reply, c, c->a.argc,
		    c->a.argv, c->a.len) == 0)
			return;
		reply = NULL;
	}
	w->ncmd--;
	c->cb(reply, c->arg);
	call_free(c);
	rules_worker_check_stopped(w);
}

/* ---- One lead's part ---------------------------------------------------- */

/* A history line for an entry the worker writes itself. */
static char *
history_line(const char *stream, const char *type, const char *id,
    int64_t at, json_t *data)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:O}", "stream", stream,
	    "type", type, "id", id, "at", (json_int_t)at, "data", data);
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* The key index of a derived stream in the commit script, or 0. */
static int
stream_index(const char *stream)
{
	if (stream == NULL)
		return 0;
	if (strcmp(stream, "decisions") == 0)
		return 3;
	if (strcmp(stream, "handoffs") == 0)
		return 4;
	if (strcmp(stream, "feedback") == 0)
		return 5;
	return 0;
}

/* The ZSCAN MATCH pattern of a lead's SLA members "<sla>|<key>|<n>",
 * with the glob characters an address may hold escaped. */
static char *
sla_pattern(const char *key)
{
	size_t n = strlen(key);
	char *p = malloc(2 * n + 5), *o = p;

	if (p == NULL)
		return NULL;
	*o++ = '*';
	*o++ = '|';
	for (const char *s = key; *s != '\0'; s++) {
		if (*s == '*' || *s == '?' || *s == '[' || *s == ']' ||
		    *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '|';
	*o++ = '*';
	*o = '\0';
	return p;
}

int
rules_commit_build(struct leadq *q, const struct lead_effects *fx,
    const struct extra_entry *extra, size_t nextra, bool history,
    long long want_ver, long long seq, const char *ack, const char *zrem,
    int64_t now)
{
	struct cargs *c = &q->part;
	size_t nhist, nent, i;

	rules_cargs_clear(c);
	q->part_touch = want_ver >= 0;
	if (want_ver >= 0)
		rules_cargs_ll(c, want_ver);
	else
		rules_cargs_str(c, "");
	if (seq > 0)
		rules_cargs_ll(c, seq);
	else
		rules_cargs_str(c, "");
	rules_cargs_str(c, ack ? ack : "");
	/* HSET pairs */
	rules_cargs_ll(c, fx ? (long long)fx->nset : 0);
	for (i = 0; fx && i < fx->nset; i++) {
		rules_cargs_str(c, fx->set_fields[i]);
		rules_cargs_str(c, fx->set_values[i]);
	}
	rules_cargs_ll(c, fx ? (long long)fx->ndel : 0);
	for (i = 0; fx && i < fx->ndel; i++)
		rules_cargs_str(c, fx->del_fields[i]);
	/* history */
	nhist = (fx ? fx->nhistory : 0) + (history ? nextra : 0);
	rules_cargs_ll(c, (long long)nhist);
	for (i = 0; fx && i < fx->nhistory; i++)
		rules_cargs_str(c, fx->history[i]);
	for (i = 0; history && i < nextra; i++)
		cargs_own(c, history_line("decisions", extra[i].type,
		    extra[i].id, now, extra[i].data));
	/* entries */
	nent = (fx ? fx->nentries : 0) + nextra;
	rules_cargs_ll(c, (long long)nent);
	for (i = 0; fx && i < fx->nentries; i++) {
		const struct lead_entry *e = &fx->entries[i];
		int k = stream_index(e->stream);

		if (k == 0) {
			log_warnx("rules: lead %s: an entry of type %s is for "
			    "stream '%s', which the worker does not write",
			    q->key, e->type, e->stream ? e->stream : "(null)");
			rules_cargs_clear(c);
			return -1;
		}
		rules_cargs_ll(c, k);
		rules_cargs_str(c, e->type);
		rules_cargs_str(c, e->lead != NULL ? e->lead : q->key);
		rules_cargs_str(c, e->id);
		rules_cargs_ll(c, (long long)e->at_ms);
		if (e->data_text != NULL)
			rules_cargs_str(c, e->data_text);
		else
			cargs_own(c, json_dumps(e->data, JSON_COMPACT |
			    JSON_SORT_KEYS));
	}
	for (i = 0; i < nextra; i++) {
		rules_cargs_ll(c, 3);
		rules_cargs_str(c, extra[i].type);
		rules_cargs_str(c, q->key);
		cargs_own(c, strdup(extra[i].id));
		rules_cargs_ll(c, (long long)now);
		cargs_own(c, json_dumps(extra[i].data, JSON_COMPACT |
		    JSON_SORT_KEYS));
	}
	/* SLA timers */
	rules_cargs_ll(c, fx ? (long long)fx->nsla_add : 0);
	for (i = 0; fx && i < fx->nsla_add; i++) {
		rules_cargs_ll(c, (long long)fx->sla_add_at[i]);
		rules_cargs_str(c, fx->sla_add[i]);
	}
	rules_cargs_ll(c, (fx ? (long long)fx->nsla_del : 0) + (zrem ? 1 : 0));
	for (i = 0; fx && i < fx->nsla_del; i++)
		rules_cargs_str(c, fx->sla_del[i]);
	if (zrem != NULL)
		rules_cargs_str(c, zrem);
	/* identity changes */
	if (fx != NULL && fx->alias_from != NULL) {
		cargs_own(c, rules_asprintf("%s:alias:%s", q->w->prefix,
		    fx->alias_from));
		cargs_own(c, stream_lead_key(q->w->prefix, fx->alias_from));
		rules_cargs_str(c, q->key);
	} else {
		rules_cargs_str(c, "");
		rules_cargs_str(c, "");
		rules_cargs_str(c, "");
	}
	if (fx != NULL && fx->erase)
		cargs_own(c, sla_pattern(q->key));
	else
		rules_cargs_str(c, "");
	if (c->oom) {
		rules_cargs_clear(c);
		return -1;
	}
	return 0;
}

/* ---- Results ------------------------------------------------------------ */

/* Replaces or adds one field of the kept hash; value is taken (freed on
 * failure).  0 or -1. */
static int
cache_set(struct leadq *q, const char *field, char *value)
{
	if (value == NULL)
		return -1;
	for (size_t i = 0; i < q->nc; i++)
		if (strcmp(q->cf[i], field) == 0) {
			free(q->cv[i]);
			q->cv[i] = value;
			return 0;
		}
	if (q->nc == q->ccap) {
		size_t cap = q->ccap ? q->ccap * 2 : 16;
		char **f = realloc(q->cf, cap * sizeof(*f)), **vv;

		if (f == NULL)
			goto fail;
		q->cf = f;
		if ((vv = realloc(q->cv, cap * sizeof(*vv))) == NULL)
			goto fail;
		q->cv = vv;
		q->ccap = cap;
	}
	if ((q->cf[q->nc] = strdup(field)) == NULL)
		goto fail;
	q->cv[q->nc++] = value;
	return 0;
fail:
	free(value);
	return -1;
}

static void
cache_del(struct leadq *q, const char *field)
{
	for (size_t i = 0; i < q->nc; i++)
		if (strcmp(q->cf[i], field) == 0) {
			free(q->cf[i]);
			free(q->cv[i]);
			q->cf[i] = q->cf[q->nc - 1];
			q->cv[i] = q->cv[q->nc - 1];
			q->nc--;
			return;
		}
}

/* The kept hash follows a commit that touched it (new ver); the new
 * values move over from q->fx, which is cleared next (after the part that
 * borrowed them). */
static void
cache_follow(struct leadq *q, long long ver)
{
	bool ok = true;

	if (!q->cached)
		return;
	if (q->fx.erase) {
		/* The hash is gone: the next job loads the empty one. */
		rules_cache_clear(q);
		return;
	}
	for (size_t i = 0; ok && i < q->fx.nset; i++) {
		ok = cache_set(q, q->fx.set_fields[i],
		    q->fx.set_values[i]) == 0;
		q->fx.set_values[i] = NULL;
	}
	for (size_t i = 0; ok && i < q->fx.ndel; i++)
		cache_del(q, q->fx.del_fields[i]);
	if (ok)
		ok = cache_set(q, "ver", rules_asprintf("%lld", ver)) == 0;
	if (ok && q->commit_seq > 0)
		ok = cache_set(q, "seq", rules_asprintf("%lld",
		    q->commit_seq)) == 0;
	if (!ok)
		rules_cache_clear(q);
}

enum part_result { PART_APPLIED, PART_CONFLICT, PART_FAILED };

/*
 * The outcome of q's part: applied (ver the new one), a conflict (ver
 * found), or failed (err says why; NULL: the connection failed, the
 * outcome is unknown and the reload will tell by seq and ver).
 */
static void
commit_done(struct leadq *q, enum part_result res, long long ver,
    const char *err)
{
	struct rules_worker *w = q->w;
	struct item *it = q->cur;

	w->ncmd--;
	q->phase = JOB_IDLE;
	rules_cargs_clear(&q->part);
	if (w->freeing) {
		lead_effects_clear(&q->fx);
		return;
	}
	if (res == PART_FAILED) {
		if (err != NULL)
			log_warnx("rules: commit of lead %s failed: %s", q->key,
			    err);
		lead_effects_clear(&q->fx);
		rules_cache_clear(q);
		rules_job_backoff(q);
		return;
	}
	if (res == PART_CONFLICT) {
		int conflicts;

		metric_inc(rules_m_conflicts);
		log_debug("rules: lead %s changed under us (ver %lld); "
		    "reloading", q->key, ver);
		lead_effects_clear(&q->fx);
		rules_cache_clear(q);
		if (w->stopping || ++q->conflicts > WORKER_CONFLICT_RETRIES) {
			rules_job_backoff(q);
			return;
		}
		/* Reload and retry at once (a kick resets conflicts). */
		conflicts = q->conflicts;
		rules_job_kick(q);
		q->conflicts = conflicts;
		return;
	}
	if (q->part_touch)
		cache_follow(q, ver);
	lead_effects_clear(&q->fx);
	if (it->kind == ITEM_EVENT && it->ev != NULL)
		metric_inc(rules_m_applied);
	else if (it->kind != ITEM_BREACH)
		metric_inc(rules_m_invalid);
	if (it->kind == ITEM_BREACH && q->commit_breach)
		metric_inc(metric_series(rules_m_breaches, it->sla_name));
	else if (it->kind != ITEM_BREACH)
		metric_observe(rules_m_apply_seconds, (double)(clock_mono_ms() -
		    it->read_ms) / 1000.0);
	rules_item_done(q, it);
	q->cur = NULL;
	q->backoff_ms = 0;
	if (!w->stopping)
		rules_job_kick(q);
	rules_leadq_maybe_drop(q);
}

/* ---- Group commit ------------------------------------------------------- */

/* One group call in flight: the leads of its parts, in order. */
struct group {
	struct rules_worker *w;
	struct leadq **q;               /* owned array */
	size_t n;
};

static void
group_free(struct group *g)
{
	if (g == NULL)
		return;
	free(g->q);
	free(g);
}

static void
group_reply(struct redisReply *reply, void *arg)
{
	struct group *g = arg;
	struct rules_worker *w = g->w;
	const char *err = NULL;
	bool whole = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements == 2 * g->n;

	if (reply != NULL && !whole)
		err = reply->type == REDIS_REPLY_ERROR ? reply->str :
		    "unexpected reply";
	for (size_t i = 0; i < g->n; i++) {
		const redisReply *st = whole ? reply->element[2 * i] : NULL,
		    *v = whole ? reply->element[2 * i + 1] : NULL;

		if (st == NULL || st->type != REDIS_REPLY_INTEGER ||
		    st->integer < 0 || st->integer > 1 ||
		    v->type != REDIS_REPLY_INTEGER)
			commit_done(g->q[i], PART_FAILED, 0, st != NULL &&
			    rules_is_string(v) ? v->str : whole ?
			    "unexpected reply" : err);
		else
			commit_done(g->q[i], st->integer == 1 ? PART_APPLIED :
			    PART_CONFLICT, v->integer, NULL);
	}
	group_free(g);
	/* Room again for reading. */
	if (!w->freeing && !w->reading)
		rules_worker_read_more(w);
}

/* Every part of g fails without a reply (nothing was sent). */
static void
group_fail(struct group *g)
{
	for (size_t i = 0; i < g->n; i++)
		commit_done(g->q[i], PART_FAILED, 0, NULL);
	group_free(g);
}

void
rules_commit_flush(struct rules_worker *w)
{
	struct commit_batch *b = &w->batch;
	struct group *g;
	struct call *c;

	if (b->n == 0)
		return;
	event_del(b->ev_flush);
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		/* Nowhere to keep the parts' leads: fail them now. */
		struct group tmp = { w, b->q, b->n };

		b->q = NULL;
		b->n = b->cap = 0;
		for (size_t i = 0; i < tmp.n; i++)
			commit_done(tmp.q[i], PART_FAILED, 0, NULL);
		free(tmp.q);
		return;
	}
	g->w = w;
	g->q = b->q;
	g->n = b->n;
	b->q = NULL;
	b->n = b->cap = 0;
	if ((c = rules_call_new(w, SCRIPT_COMMIT, (int)(5 + 2 * g->n))) ==
	    NULL) {
		group_fail(g);
		return;
	}
	rules_cargs_str(&c->a, w->k_sla);
	rules_cargs_str(&c->a, w->k_events);
	rules_cargs_str(&c->a, w->k_decisions);
	rules_cargs_str(&c->a, w->k_handoffs);
	rules_cargs_str(&c->a, w->k_feedback);
	for (size_t i = 0; i < g->n; i++) {
		rules_cargs_str(&c->a, g->q[i]->k_hash);
		rules_cargs_str(&c->a, g->q[i]->k_history);
	}
	rules_cargs_str(&c->a, WORKER_GROUP);
	rules_cargs_str(&c->a, w->maxlen_text);
	rules_cargs_ll(&c->a, LEAD_HISTORY_MAX);
	rules_cargs_ll(&c->a, (long long)g->n);
	for (size_t i = 0; i < g->n; i++) {
		const struct cargs *p = &g->q[i]->part;

		rules_cargs_ll(&c->a, p->argc);
		if (cargs_reserve(&c->a, p->argc) == -1)
			break;
		for (int k = 0; k < p->argc; k++)
			rules_cargs_add(&c->a, p->argv[k], p->len[k], false);
	}
	if (rules_call_send(c, group_reply, g) == -1)
		group_fail(g);
}

void
rules_commit_on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rules_commit_flush(arg);
}

void
rules_commit_send(struct leadq *q, int built, long long seq)
{
	struct rules_worker *w = q->w;
	struct commit_batch *b = &w->batch;

	if (built == -1)
		goto fail;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct leadq **v = realloc(b->q, cap * sizeof(*v));

		if (v == NULL)
			goto fail;
		b->q = v;
		b->cap = cap;
	}
	q->commit_seq = seq;
	q->phase = JOB_COMMIT;
	b->q[b->n++] = q;
	w->ncmd++;
	/* Runs once the loop has handled what is ready now. */
	if (b->n == 1)
		event_active(b->ev_flush, EV_TIMEOUT, 0);
	if (b->n >= WORKER_GROUP_COMMIT_MAX)
		rules_commit_flush(w);
	return;
fail:
	rules_cargs_clear(&q->part);
	lead_effects_clear(&q->fx);
	rules_cache_clear(q);
	rules_job_backoff(q);
}

void
rules_commit_batch_drop(struct rules_worker *w)
{
	struct commit_batch *b = &w->batch;

	for (size_t i = 0; i < b->n; i++) {
		rules_cargs_clear(&b->q[i]->part);
		lead_effects_clear(&b->q[i]->fx);
		b->q[i]->phase = JOB_IDLE;
	}
	w->ncmd -= b->n;
	free(b->q);
	b->q = NULL;
	b->n = b->cap = 0;
}
