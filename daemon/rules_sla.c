/*
 * rules_sla.c - SLA timers that ran out become breach items.
 *
 * Every WORKER_SLA_INTERVAL_MS a claim script (rules_commit.c's
 * sla_script) takes up to WORKER_SLA_BATCH due members of PREFIX:sla
 * (score <= now) and pushes each one's score to now + WORKER_SLA_LEASE_MS
 * (a lease: if this process dies the timer comes due again), so processes
 * claim disjoint members.  Each member "<sla>|<key>|<episode>" becomes a
 * breach item on its lead's queue, before its events; the job applies it
 * (rules_job.c) and its commit removes the member.  A member that is not
 * of that form is removed and logged.
 */
#include <stdlib.h>
#include <string.h>

#include "rules_worker_int.h"

static void sla_tick(struct rules_worker *w);

/* Turns a due member into a breach item (or removes a malformed one). */
static void
take_member(struct rules_worker *w, const char *m, size_t len)
{
	const char *bar1 = memchr(m, '|', len), *bar2 = NULL;
	struct item *it;
	char *key = NULL;
	long long episode;
	char *ep = NULL;

	for (const char *p = m + len; p > m; p--)
		if (p[-1] == '|') {
			bar2 = p - 1;
			break;
		}
	if (bar1 == NULL || bar2 == bar1 || bar1 == m || bar2 - bar1 < 2 ||
	    (ep = strndup(bar2 + 1, (size_t)(m + len - bar2 - 1))) == NULL ||
	    !rules_parse_ll(ep, &episode) ||
	    (key = strndup(bar1 + 1, (size_t)(bar2 - bar1 - 1))) == NULL ||
	    (it = calloc(1, sizeof(*it))) == NULL) {
		const char *argv[] = { "ZREM", w->k_sla, m };

		if (ep != NULL)
			log_warnx("rules: SLA timer '%s' in %s is not "
			    "<sla>|<lead>|<episode>; removed", m, w->k_sla);
		rules_worker_command(w, rules_worker_cmd_done, w, 3, argv);
		free(ep);
		free(key);
		return;
	}
	free(ep);
	it->kind = ITEM_BREACH;
	it->episode = episode;
	it->read_ms = clock_mono_ms();
	if ((it->member = strndup(m, len)) == NULL ||
	    (it->sla_name = strndup(m, (size_t)(bar1 - m))) == NULL) {
		rules_item_free(it);
		free(key);
		return;
	}
	rules_worker_enqueue(w, key, it);
	free(key);
}

static void
sla_reply(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	w->sla_busy = false;
	if (w->freeing)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		if (reply != NULL)
			log_warnx("rules: claiming SLA timers in %s failed: %s",
			    w->k_sla, reply->type == REDIS_REPLY_ERROR ?
			    reply->str : "unexpected reply");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++)
		if (rules_is_string(reply->element[i]))
			take_member(w, reply->element[i]->str,
			    reply->element[i]->len);
	/* A full batch: more may be due now. */
	if (reply->elements >= WORKER_SLA_BATCH && !w->stopping)
		sla_tick(w);
}

static void
sla_tick(struct rules_worker *w)
{
	struct call *c;

	if (w->sla_busy || w->stopping || w->freeing || w->rules == NULL ||
	    !redis_is_up(w->rc) || w->held >= WORKER_HOLD_MAX)
		return;
	if ((c = rules_call_new(w, SCRIPT_SLA, 1)) == NULL)
		return;
	rules_cargs_str(&c->a, w->k_sla);
	rules_cargs_ll(&c->a, (long long)clock_wall_ms());
	rules_cargs_ll(&c->a, WORKER_SLA_LEASE_MS);
	rules_cargs_ll(&c->a, WORKER_SLA_BATCH);
	if (rules_call_send(c, sla_reply, w) == 0)
		w->sla_busy = true;
}

void
rules_sla_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rules_worker *w = arg;

	(void)fd;
	(void)what;
	sla_tick(w);
	if (!w->stopping)
		clock_timer_in(w->ev_sla, WORKER_SLA_INTERVAL_MS);
}
