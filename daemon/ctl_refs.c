/*
 * ctl_refs.c - `batonctl refs`: writes PREFIX:ref:<connector>:<id> for
 * every lead's ids.<connector>, once, after an upgrade from a version that
 * did not keep them.
 *
 * batond keeps a ref wherever it sets ids.* (the rules and delivery
 * commits), and a connector that knows a lead only by its record id (a
 * HubSpot privacy deletion, after HubSpot erased the email) names it
 * "ref:<id>".  Leads whose ids were set before refs existed have none
 * until their id is written again; this verb fills them in.  It walks
 * PREFIX:lead:* with SCAN, 500 keys a script call so Redis is never
 * blocked for long, skips merged-away leads (their address follows the
 * survivor) and never overwrites a ref that names another lead (counted
 * as a conflict: two leads claim one record).  Running it again writes
 * nothing new.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ctl.h"
#include "redis.h"

/* ARGV: cursor, "PREFIX:".  Returns {next cursor, leads, written,
 * conflicts}. */
static const char refs_script[] =
    "local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2] .. 'lead:*',\n"
    "  'COUNT', 500)\n"
    "local leads, written, conflicts = 0, 0, 0\n"
    "for _, k in ipairs(r[2]) do\n"
    "  if redis.call('TYPE', k).ok == 'hash' and\n"
    "      redis.call('HEXISTS', k, 'merged_into') == 0 then\n"
    "    local name = string.sub(k, #ARGV[2] + 6)\n"
    "    local h = redis.call('HGETALL', k)\n"
    "    leads = leads + 1\n"
    "    for i = 1, #h - 1, 2 do\n"
    "      if string.sub(h[i], 1, 4) == 'ids.' and h[i + 1] ~= '' then\n"
    "        local rk = ARGV[2] .. 'ref:' .. string.sub(h[i], 5) .. ':' ..\n"
    "          h[i + 1]\n"
    "        local cur = redis.call('GET', rk)\n"
    "        if not cur then\n"
    "          redis.call('SET', rk, name)\n"
    "          written = written + 1\n"
    "        elseif cur ~= name then\n"
    "          conflicts = conflicts + 1\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {r[1], leads, written, conflicts}\n";

struct refs {
	struct ctl_session sess;
	char *kprefix;                  /* "PREFIX:" */
	char cursor[32];
	long long leads, written, conflicts;
	bool started;
};

static void refs_next(struct refs *q);

static void
refs_reply(struct redisReply *reply, void *arg)
{
	struct refs *q = arg;

	if (q->sess.done)
		return;
	if (reply == NULL) {
		ctl_session_fail(&q->sess, "no answer from Redis at %s",
		    q->sess.where);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		ctl_session_fail(&q->sess, "Redis: %s", reply->str);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[0]->len >= sizeof(q->cursor)) {
		ctl_session_fail(&q->sess, "unexpected answer from Redis");
		return;
	}
	memcpy(q->cursor, reply->element[0]->str, reply->element[0]->len);
	q->cursor[reply->element[0]->len] = '\0';
	q->leads += reply->element[1]->integer;
	q->written += reply->element[2]->integer;
	q->conflicts += reply->element[3]->integer;
	if (strcmp(q->cursor, "0") != 0) {
		refs_next(q);
		return;
	}
	printf("%lld lead%s read, %lld ref%s written", q->leads,
	    q->leads == 1 ? "" : "s", q->written, q->written == 1 ? "" : "s");
	if (q->conflicts > 0)
		printf(", %lld id%s already naming another lead (left as "
		    "they are)", q->conflicts, q->conflicts == 1 ? "" : "s");
	printf("\n");
	ctl_session_finish(&q->sess, ctl_flush() == 0 ? 0 : 1);
}

static void
refs_next(struct refs *q)
{
	const char *argv[5] = { "EVAL", refs_script, "0", q->cursor,
	    q->kprefix };

	if (redis_command_argv(q->sess.r, 0, refs_reply, q, 5, argv, NULL) ==
	    -1)
		ctl_session_fail(&q->sess, "lost the connection to Redis at "
		    "%s", q->sess.where);
}

static void
refs_state(bool up, void *arg)
{
	struct refs *q = arg;

	if (!up || q->started)
		return;
	q->started = true;
	snprintf(q->cursor, sizeof(q->cursor), "0");
	refs_next(q);
}

static void
refs_usage(FILE *fp)
{
	fprintf(fp, "usage: batonctl refs [-c FILE]\n"
	    "  writes PREFIX:ref:<connector>:<id> for every lead's "
	    "ids.<connector>\n"
	    "  (once, after upgrading from a version without them)\n");
}

int
ctl_refs(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct refs q;
	int ch, rc = 1;

	memset(&q, 0, sizeof(q));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			refs_usage(stdout);
			return 0;
		default:
			refs_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "batonctl refs: unexpected argument '%s'\n",
		    argv[optind]);
		refs_usage(stderr);
		return 2;
	}
	if (ctl_session_open(&q.sess, config_path, "refs", refs_state, &q) ==
	    -1)
		goto out;
	if (asprintf(&q.kprefix, "%s:", q.sess.prefix) < 0) {
		q.kprefix = NULL;
		fprintf(stderr, "batonctl: out of memory\n");
		goto out;
	}
	rc = ctl_session_run(&q.sess);
out:
	ctl_session_close(&q.sess);
	free(q.kprefix);
	return rc;
}
