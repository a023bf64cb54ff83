/*
 * rules_claim.c - taking over a dead consumer's entries, and deciding
 * when a gap in a lead's sequence may be skipped.
 *
 * Every claim interval (WORKER_CLAIM_INTERVAL_MS) a pass of XAUTOCLAIM
 * PREFIX:events rules <consumer> <idle> <cursor> COUNT 100 takes over the
 * entries idle for the claim idle time (a dead consumer's, or a live
 * one's deferred entry: harmless, the ver check settles who commits) and
 * queues them like new ones; an entry already held here is not queued
 * twice.  A deleted entry (nil fields) is acknowledged and dropped.
 *
 * Gaps.  A deferred entry is applied anyway, with a `rules.gap` decision,
 * once it has waited the gap time *and* a full pass that started after
 * that wait has completed without bringing the missing event: an event
 * held by a dead consumer is claimed by such a pass, so only an event
 * that is really gone (trimmed, deleted) is skipped, and a trimmed stream
 * cannot block a lead forever.
 */
#include <stdlib.h>
#include <string.h>

#include "rules_worker_int.h"

static void
claim_reply(struct redisReply *reply, void *arg)
{
	struct rules_worker *w = arg;

	w->ncmd--;
	if (w->freeing) {
		w->claiming = false;
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 2 || !rules_is_string(reply->element[0])) {
		if (reply != NULL)
			log_warnx("rules: XAUTOCLAIM on %s failed: %s",
			    w->k_events, reply->type == REDIS_REPLY_ERROR ?
			    reply->str : "unexpected reply");
		w->claiming = false;
		rules_worker_check_stopped(w);
		return;
	}
	if (reply->element[1]->type == REDIS_REPLY_ARRAY &&
	    reply->element[1]->elements > 0)
		log_info("rules: took over %zu entries idle for %lld ms or "
		    "more", reply->element[1]->elements,
		    (long long)w->claim_idle_ms);
	rules_worker_take_entries(w, reply->element[1]);
	free(w->claim_cursor);
	w->claim_cursor = strdup(reply->element[0]->str);
	w->claiming = false;
	if (w->claim_cursor == NULL || strcmp(w->claim_cursor, "0-0") == 0) {
		if (w->claim_cursor != NULL)
			w->claim_done_start = w->claim_started;
		rules_worker_check_stopped(w);
		return;
	}
	/* More to look at: go on now, or next time when we hold enough. */
	if (!w->stopping && w->rules != NULL && w->held < WORKER_HOLD_MAX / 2)
		rules_claim_pass_start(w);
	rules_worker_check_stopped(w);
}

void
rules_claim_pass_start(struct rules_worker *w)
{
	const char *argv[8];

	if (w->claiming || w->stopping || w->freeing || w->rules == NULL ||
	    !redis_is_up(w->rc) || !w->rc_group)
		return;
	if (w->claim_cursor == NULL || strcmp(w->claim_cursor, "0-0") == 0) {
		free(w->claim_cursor);
		if ((w->claim_cursor = strdup("0-0")) == NULL)
			return;
		w->claim_started = clock_mono_ms();
	}
	argv[0] = "XAUTOCLAIM";
	argv[1] = w->k_events;
	argv[2] = WORKER_GROUP;
	argv[3] = w->consumer;
	argv[4] = w->claim_idle;
	argv[5] = w->claim_cursor;
	argv[6] = "COUNT";
	argv[7] = WORKER_CLAIM_COUNT;
	if (rules_worker_command(w, claim_reply, w, 8, argv) == 0)
		w->claiming = true;
}

void
rules_claim_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rules_worker *w = arg;

	(void)fd;
	(void)what;
	rules_claim_pass_start(w);
	if (!w->stopping)
		clock_timer_in(w->ev_claim, w->claim_interval_ms);
}

bool
rules_claim_gap_may_skip(struct rules_worker *w, const struct item *it,
    int64_t now)
{
	if (now - it->deferred_since < w->gap_ms)
		return false;
	if (w->claim_done_start >= it->deferred_since + w->gap_ms)
		return true;
	/* Ask for a pass that starts after the wait (a pass under way
	 * started before it: the next one will do). */
	rules_claim_pass_start(w);
	return false;
}
