/*
 * delivery_batch.c - one batch of a delivery: handing it to the
 * connector (the delivery_* functions of connector.h), sorting its
 * results, and committing them.
 *
 * The commit is one script: for each finished item, XACK, and only when
 * that XACK acknowledged something (the entry was still pending) the
 * item's effect: a dropped item's DLQ entry, an accepted item's record id
 * on the lead (ids.<NAME>, with the lead's `ver` bumped so the rules
 * worker reloads its copy, and PREFIX:ref:<NAME>:<id> naming the lead).  An acknowledgement and its effect therefore
 * happen together or not at all, and a commit sent twice (its reply was
 * lost) does nothing the second time.  Items to retry are not in the
 * commit: they stay pending and wait for their backoff in memory.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include <baton/log.h>

#include "connectors.h"
#include "delivery_int.h"
#include "metrics.h"
#include "ratelimit.h"
#include "redis.h"

/* KEYS: main stream, replay stream, DLQ.  ARGV: group, connector, stream
 * name, now (ms), key prefix with ':', then PER_ITEM per item: ok|dlq,
 * 1 (main) or 2 (replay), entry id, lead, record id, error, attempts, v,
 * type, source, id, at, data, the entry id the DLQ names (a replayed
 * entry's id in the main stream), 1 when the item has a count of lives
 * to delete (else 0, and the acknowledgement costs no HDEL). */
static const char commit_script[] =
    "local n = 0\n"
    "for i = 6, #ARGV, 15 do\n"
    "  local key = ARGV[i + 1] == '2' and KEYS[2] or KEYS[1]\n"
    "  if redis.call('XACK', key, ARGV[1], ARGV[i + 2]) == 1 then\n"
    "    n = n + 1\n"
    "    if ARGV[i + 14] == '1' then\n"
    "      redis.call('HDEL', ARGV[5] .. 'lives:' .. ARGV[2],\n"
    "        ARGV[i + 1] .. ':' .. ARGV[i + 2])\n"
    "    end\n"
    "    if ARGV[i] == 'dlq' then\n"
    "      redis.call('XADD', KEYS[3], '*', 'v', ARGV[i + 7],\n"
    "        'type', ARGV[i + 8], 'lead', ARGV[i + 3],\n"
    "        'source', ARGV[i + 9], 'id', ARGV[i + 10],\n"
    "        'at', ARGV[i + 11], 'data', ARGV[i + 12],\n"
    "        'connector', ARGV[2], 'stream', ARGV[3],\n"
    "        'entry', ARGV[i + 13], 'error', ARGV[i + 5],\n"
    "        'attempts', ARGV[i + 6], 'failed_at', ARGV[4])\n"
    "    elseif ARGV[i + 4] ~= '' then\n"
    "      local kh = ARGV[5] .. 'lead:' .. ARGV[i + 3]\n"
    "      local f = 'ids.' .. ARGV[2]\n"
    "      if redis.call('EXISTS', kh) == 1 and\n"
    "          redis.call('HGET', kh, f) ~= ARGV[i + 4] then\n"
    "        redis.call('HSET', kh, f, ARGV[i + 4])\n"
    "        redis.call('HINCRBY', kh, 'ver', 1)\n"
    "        redis.call('SET', ARGV[5] .. 'ref:' .. ARGV[2] .. ':' ..\n"
    "          ARGV[i + 4], ARGV[i + 3])\n"
    "      end\n"
    "    end\n"
    "    if ARGV[i + 1] == '2' then\n"
    "      redis.call('XDEL', KEYS[2], ARGV[i + 2])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

#define PER_ITEM 15

/* What the commit does with an item. */
enum fate { FATE_RETRY = 0, FATE_ACK, FATE_DLQ };

/* ---- The connector's side (connector.h) ------------------------------------ */

/* The items a connector sees are the well-formed ones, in order. */
static struct ditem *
visible(const struct delivery_batch *b, size_t i, size_t *slot)
{
	size_t k = 0;

	for (size_t j = 0; j < b->n; j++) {
		if (b->items[j]->ev == NULL)
			continue;
		if (k++ == i) {
			if (slot != NULL)
				*slot = j;
			return b->items[j];
		}
	}
	return NULL;
}

size_t
delivery_count(const struct delivery_batch *b)
{
	size_t k = 0;

	for (size_t j = 0; j < b->n; j++)
		if (b->items[j]->ev != NULL)
			k++;
	return k;
}

const struct baton_event *
delivery_event(const struct delivery_batch *b, size_t i)
{
	struct ditem *it = visible(b, i, NULL);

	return it != NULL ? it->ev : NULL;
}

const char *
delivery_entry_id(const struct delivery_batch *b, size_t i)
{
	struct ditem *it = visible(b, i, NULL);

	return it != NULL ? it->entry_id : NULL;
}

unsigned
delivery_attempts(const struct delivery_batch *b, size_t i)
{
	struct ditem *it = visible(b, i, NULL);

	return it != NULL ? it->attempts : 0;
}

void
delivery_set_result(struct delivery_batch *b, size_t i,
    enum connector_result rc, int64_t retry_after_ms, const char *fmt, ...)
{
	struct dresult *r;
	size_t slot;
	va_list ap;

	if (b->completed || visible(b, i, &slot) == NULL) {
		log_warnx("delivery: result for item %zu of a batch of %zu "
		    "%s (a connector bug)", i, delivery_count(b),
		    b->completed ? "already completed" : "out of range");
		return;
	}
	r = &b->res[slot];
	r->set = true;
	r->rc = rc;
	r->retry_after_ms = retry_after_ms;
	free(r->msg);
	r->msg = NULL;
	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&r->msg, fmt, ap) == -1)
			r->msg = NULL;
		va_end(ap);
	}
}

void
delivery_set_record_id(struct delivery_batch *b, size_t i, const char *id)
{
	size_t slot;

	if (b->completed || id == NULL || visible(b, i, &slot) == NULL)
		return;
	free(b->res[slot].record_id);
	b->res[slot].record_id = strdup(id);
}

void
delivery_set_group_result(struct delivery_batch *b, const size_t *group_of,
    size_t group, enum connector_result rc, int64_t retry_after_ms,
    const char *id, const char *msg)
{
	size_t n = delivery_count(b);

	for (size_t i = 0; i < n; i++) {
		if (group_of[i] != group)
			continue;
		delivery_set_result(b, i, rc, retry_after_ms, "%s",
		    msg != NULL ? msg : "");
		if (rc == CONNECTOR_OK && id != NULL && id[0] != '\0')
			delivery_set_record_id(b, i, id);
	}
}

void
delivery_complete(struct delivery_batch *b)
{
	if (b->completed) {
		log_warnx("delivery: a batch was completed twice (a connector "
		    "bug); the second call is ignored");
		return;
	}
	b->completed = true;
	if (b->d == NULL) {
		/* The delivery went away while the connector held it. */
		delivery_batch_free(b);
		return;
	}
	event_active(b->d->ev_batch_done, EV_TIMEOUT, 0);
}

/* ---- Start ---------------------------------------------------------------- */

void
delivery_batch_free(struct delivery_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->res[i].msg);
		free(b->res[i].record_id);
		if (b->d == NULL)
			delivery_item_free(b->items[i]);
	}
	free(b->res);
	free(b->items);
	free(b);
}

void
delivery_batch_start(struct delivery *d, struct ditem **items, size_t n)
{
	const struct connector *desc = connector_descriptor(d->ci);
	struct delivery_batch *b;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->items = calloc(n, sizeof(*b->items))) == NULL ||
	    (b->res = calloc(n, sizeof(*b->res))) == NULL) {
		if (b != NULL)
			free(b->items);
		free(b);
		clock_timer_in(d->ev_kick, 1000);
		return;
	}
	b->d = d;
	b->n = n;
	b->started_ms = clock_mono_ms();
	memcpy(b->items, items, n * sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i]->in_batch = true;
	d->batch = b;
	metric_inc(d->m_batches);
	if (delivery_count(b) == 0) {
		b->completed = true;
		event_active(d->ev_batch_done, EV_TIMEOUT, 0);
		return;
	}
	b->in_call = true;
	rc = desc->deliver(d->ci, b);
	b->in_call = false;
	if (rc != CONNECTOR_PENDING && !b->completed) {
		log_warnx("delivery %s: deliver() returned %d without "
		    "completing its batch (a connector bug); retrying it",
		    d->name, rc);
		b->completed = true;
		event_active(d->ev_batch_done, EV_TIMEOUT, 0);
	}
}

/* ---- Results -------------------------------------------------------------- */

/* Decides what happens to item j; for a retry, sets its next due time. */
static enum fate
sort_result(struct delivery *d, struct delivery_batch *b, size_t j,
    int64_t now, char **why)
{
	const struct connector_settings *st = connector_settings(d->ci);
	struct ditem *it = b->items[j];
	struct dresult *r = &b->res[j];
	enum connector_result rc = r->set ? r->rc : CONNECTOR_RETRY;
	const char *msg = r->msg != NULL ? r->msg : r->set ? "" :
	    "no result from the connector";
	int64_t wait;

	*why = NULL;
	if (it->ev == NULL) {
		metric_inc(d->m_dropped);
		*why = strdup(it->why);
		log_warnx("delivery %s: entry %s to the DLQ: %s", d->name,
		    it->entry_id, it->why);
		return FATE_DLQ;
	}
	it->attempts++;
	if (rc == CONNECTOR_OK) {
		metric_inc(d->m_ok);
		if (it->ev->at_ms > 0)
			metric_observe(d->m_latency, (double)(clock_wall_ms()
			    - it->ev->at_ms) / 1000.0);
		return FATE_ACK;
	}
	if (rc == CONNECTOR_DROP) {
		metric_inc(d->m_dropped);
		*why = strdup(msg[0] != '\0' ? msg : "refused by the vendor");
		log_warnx("delivery %s: %s %s for %s refused; to the DLQ: %s",
		    d->name, it->ev->type, it->entry_id, it->ev->lead, *why);
		return FATE_DLQ;
	}
	free(it->last_error);
	it->last_error = strdup(msg);
	if (it->attempts >= st->retry_max) {
		metric_inc(d->m_dropped);
		if (asprintf(why, "gave up after %u attempts; last error: %s",
		    it->attempts, msg) == -1)
			*why = NULL;
		log_warnx("delivery %s: %s %s for %s failed %u times; to the "
		    "DLQ: %s", d->name, it->ev->type, it->entry_id,
		    it->ev->lead, it->attempts, msg);
		return FATE_DLQ;
	}
	metric_inc(d->m_retry);
	wait = retry_backoff_ms(st->retry_base_ms, st->retry_cap_ms,
	    it->attempts, (uint32_t)random() ^ ((uint32_t)random() << 16));
	if (r->retry_after_ms > wait)
		wait = r->retry_after_ms;
	if (r->retry_after_ms > 0)
		rate_bucket_pause(connector_rate(d->ci), now, r->retry_after_ms);
	it->due_ms = now + wait;
	log_info("delivery %s: %s %s for %s: attempt %u failed (%s); next in "
	    "%" PRId64 " ms", d->name, it->ev->type, it->entry_id,
	    it->ev->lead, it->attempts, msg, wait);
	return FATE_RETRY;
}

/* The batch is over: items not committed are free to go again. */
static void
batch_finish(struct delivery *d)
{
	struct delivery_batch *b = d->batch;

	for (size_t i = 0; i < b->n; i++)
		b->items[i]->in_batch = false;
	d->batch = NULL;
	delivery_batch_free(b);
	delivery_kick(d);
	delivery_read_more(d);
	delivery_check_stopped(d);
}

/* Adds item j's PER_ITEM arguments. */
static void
add_item_args(struct delivery *d, struct delivery_batch *b, size_t j,
    enum fate f, const char *why, const char **argv, size_t *len, int *argc,
    char *attempts)
{
	struct ditem *it = b->items[j];
	const struct baton_event *ev = it->ev;
	const char *lead = ev != NULL ? ev->lead : it->lead != NULL ?
	    it->lead : "";
	int a = *argc;

	(void)d;
	snprintf(attempts, 24, "%u", it->attempts);
	argv[a++] = f == FATE_DLQ ? "dlq" : "ok";
	argv[a++] = it->from == DSTREAM_REPLAY ? "2" : "1";
	argv[a++] = it->entry_id;
	argv[a++] = lead;
	argv[a++] = f == FATE_ACK && b->res[j].record_id != NULL ?
	    b->res[j].record_id : "";
	argv[a++] = why != NULL ? why : "";
	argv[a++] = attempts;
	argv[a++] = it->v != NULL ? it->v : "";
	argv[a++] = it->type != NULL ? it->type : "";
	argv[a++] = it->source != NULL ? it->source : "";
	argv[a++] = it->id != NULL ? it->id : "";
	argv[a++] = it->at != NULL ? it->at : "";
	argv[a++] = it->data != NULL ? it->data : "";
	argv[a++] = it->orig_entry != NULL ? it->orig_entry : it->entry_id;
	argv[a++] = it->lives ? "1" : "0";
	for (int k = *argc; k < a; k++)
		len[k] = strlen(argv[k]);
	*argc = a;
}

static void commit_send(struct delivery *d);

static void
commit_reply(struct redisReply *reply, void *arg)
{
	struct delivery *d = arg;
	struct delivery_batch *b = d->batch;

	d->ncmd--;
	if (d->freeing || b == NULL)
		return;
	b->committing = false;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		b->commit_failures++;
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			log_warnx("delivery %s: commit failed: %s", d->name,
			    reply->str);
		if (!d->stopping) {
			clock_timer_in(d->ev_commit_retry,
			    DELIVERY_COMMIT_RETRY_MS * (b->commit_failures < 10
			    ? b->commit_failures : 10));
			return;
		}
		/* Stopping: the entries stay pending and go again later. */
		log_warnx("delivery %s: results of %zu item(s) not committed "
		    "before stopping; they will be pushed again", d->name,
		    b->n);
		for (size_t i = 0; i < b->n; i++)
			b->res[i].set = false;
		batch_finish(d);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct ditem *it = b->items[i];

		if (it->due_ms == INT64_MAX) {       /* committed */
			b->items[i] = NULL;
			it->in_batch = false;
			delivery_item_done(d, it);
		}
	}
	{
		size_t k = 0;

		for (size_t i = 0; i < b->n; i++)
			if (b->items[i] != NULL) {
				b->items[k] = b->items[i];
				b->res[k] = b->res[i];
				k++;
			} else {
				free(b->res[i].msg);
				free(b->res[i].record_id);
			}
		b->n = k;
	}
	batch_finish(d);
}

/* Sends the commit of the batch's finished items (marked due INT64_MAX). */
static void
commit_send(struct delivery *d)
{
	struct delivery_batch *b = d->batch;
	size_t nfin = 0, max;
	const char **argv;
	size_t *len;
	char (*num)[24], now[24];
	int argc = 0;

	for (size_t i = 0; i < b->n; i++)
		if (b->items[i]->due_ms == INT64_MAX)
			nfin++;
	if (nfin == 0) {
		batch_finish(d);
		return;
	}
	max = 11 + nfin * PER_ITEM;       /* EVAL script 3 KEYS... ARGV... */
	argv = calloc(max, sizeof(*argv));
	len = calloc(max, sizeof(*len));
	num = calloc(nfin, sizeof(*num));
	if (argv == NULL || len == NULL || num == NULL)
		goto retry;
	snprintf(now, sizeof(now), "%" PRId64, clock_wall_ms());
	argv[argc++] = "EVAL";
	argv[argc++] = commit_script;
	argv[argc++] = "3";
	argv[argc++] = d->k_stream[0];
	argv[argc++] = d->k_stream[1];
	argv[argc++] = d->k_dlq;
	argv[argc++] = d->name;
	argv[argc++] = d->name;
	argv[argc++] = d->stream_name;
	argv[argc++] = now;
	argv[argc++] = d->k_prefix;
	for (int k = 0; k < argc; k++)
		len[k] = strlen(argv[k]);
	for (size_t i = 0, f = 0; i < b->n; i++) {
		struct ditem *it = b->items[i];
		bool dlq = it->ev == NULL || !b->res[i].set ||
		    b->res[i].rc != CONNECTOR_OK;

		if (it->due_ms != INT64_MAX)
			continue;
		/* The reason travels in the result's msg (set by sort). */
		add_item_args(d, b, i, dlq ? FATE_DLQ : FATE_ACK, b->res[i].msg,
		    argv, len, &argc, num[f]);
		f++;
	}
	if (redis_command_argv(d->rc, 0, commit_reply, d, argc, argv, len) ==
	    0) {
		d->ncmd++;
		b->committing = true;
	} else
		goto retry;
	free(argv);
	free(len);
	free(num);
	return;
retry:
	free(argv);
	free(len);
	free(num);
	b->commit_failures++;
	if (d->stopping) {
		batch_finish(d);
		return;
	}
	clock_timer_in(d->ev_commit_retry, DELIVERY_COMMIT_RETRY_MS);
}

void
delivery_batch_on_commit_retry(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;

	(void)fd;
	(void)what;
	if (d->batch != NULL && !d->batch->committing)
		commit_send(d);
}

void
delivery_batch_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	struct delivery_batch *b = d->batch;
	int64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	if (b == NULL)
		return;
	metric_observe(d->m_seconds, (double)(now - b->started_ms) / 1000.0);
	for (size_t j = 0; j < b->n; j++) {
		char *why = NULL;
		enum fate f = sort_result(d, b, j, now, &why);

		if (f == FATE_RETRY)
			continue;
		/* Finished: the commit carries it; msg becomes the reason
		 * for a DLQ entry, and rc/set say which it is. */
		b->items[j]->due_ms = INT64_MAX;
		if (f == FATE_DLQ) {
			free(b->res[j].msg);
			b->res[j].msg = why != NULL ? why :
			    strdup("dropped (no message)");
			b->res[j].set = true;
			b->res[j].rc = CONNECTOR_DROP;
		} else
			free(why);
	}
	commit_send(d);
}
