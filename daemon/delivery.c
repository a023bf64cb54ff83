/*
 * delivery.c - pushes PREFIX:handoffs or PREFIX:feedback to one connector
 * (see delivery.h).  This file: the delivery's life, its connections and
 * consumer groups, reading, claiming and when the next batch goes out;
 * delivery_batch.c has the batch itself and the commit of its results.
 *
 * Groups.  The connector NAME is the group, on the main stream and on
 * PREFIX:replay:<NAME> (dlq.h).  The main group is created at `$` with
 * MKSTREAM: a connector added to a running deployment starts with the
 * handoffs that follow, not with the whole history (an operator who wants
 * the backlog sets the group's id with XGROUP SETID).  On the very first
 * start the stream does not exist yet, so nothing is skipped; batond
 * reports itself unhealthy until the groups exist.
 *
 * Reading.  `<NAME>-read` carries only XREADGROUP ... BLOCK 2000 STREAMS
 * main replay > >; the first reads after a start are of this consumer's
 * own pending entries (id 0), left by a previous run of the same process
 * name or by a reload.  Reading pauses while hold_max entries are held.
 *
 * Lives.  An entry taken over (this consumer's own pending ones after a
 * restart, or claimed from another) was held by a process that ended
 * without acknowledging it; PREFIX:lives:NAME counts those lives per entry
 * (HINCRBY before the entry may go out; the commit deletes the field of
 * such an entry, and costs nothing for the others),
 * and they count as attempts, so an entry whose delivery crashes batond
 * reaches the DLQ after retry_max lives.
 *
 * Claiming.  Every 10 s, XAUTOCLAIM takes the entries another consumer
 * read and did not acknowledge for 60 s (BATON_TEST_DELIVERY_IDLE_MS in
 * tests), so a dead process's work is finished by the others.  Entries
 * this process holds for a long backoff are claimed again by itself
 * (XCLAIM ... JUSTID resets their idle time) so that no other process
 * takes them while they wait.
 *
 * Scheduling.  Items are ready when their backoff is over and no earlier
 * item of the same lead is still waiting (a lead's entries go in stream
 * order, retries included).  A batch goes out when none is in flight, batch_size items are ready or the first
 * ready one has waited batch_linger, and the rate budget has a token.
 * One batch per connector is in flight at a time.
 */
#include "delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <baton/log.h>

#include "connectors.h"
#include "delivery_int.h"
#include "dlq.h"
#include "metrics.h"
#include "redis.h"

/* ---- Small helpers -------------------------------------------------------- */

/* "a:b", malloc'd; NULL when out of memory. */
static char *
key_join(const char *a, const char *b)
{
	char *s = NULL;

	if (asprintf(&s, "%s:%s", a, b) == -1)
		return NULL;
	return s;
}

static bool
is_string(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS);
}

static int
command(struct delivery *d, struct redis *r, redis_reply_cb cb, int argc,
    const char **argv)
{
	size_t len[16];

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redis_command_argv(r, 0, cb, d, argc, argv, len) == -1)
		return -1;
	if (r == d->rc)
		d->ncmd++;
	return 0;
}

/* ---- Items ---------------------------------------------------------------- */

void
delivery_item_free(struct ditem *it)
{
	if (it == NULL)
		return;
	free(it->entry_id);
	baton_event_free(it->ev);
	free(it->why);
	free(it->v);
	free(it->type);
	free(it->lead);
	free(it->source);
	free(it->id);
	free(it->at);
	free(it->data);
	free(it->orig_entry);
	free(it->last_error);
	free(it);
}

void
delivery_item_done(struct delivery *d, struct ditem *it)
{
	TAILQ_REMOVE(&d->items, it, link);
	d->held--;
	delivery_item_free(it);
}

static struct ditem *
find_item(struct delivery *d, enum dstream from, const char *id)
{
	struct ditem *it;

	TAILQ_FOREACH(it, &d->items, link)
		if (it->from == from && strcmp(it->entry_id, id) == 0)
			return it;
	return NULL;
}

static const redisReply *
entry_field(const redisReply *fv, const char *name)
{
	for (size_t i = 0; i + 1 < fv->elements; i += 2)
		if (is_string(fv->element[i]) &&
		    strcmp(fv->element[i]->str, name) == 0 &&
		    is_string(fv->element[i + 1]))
			return fv->element[i + 1];
	return NULL;
}

static char *
field_dup(const redisReply *fv, const char *name)
{
	const redisReply *f = entry_field(fv, name);

	return f != NULL ? strndup(f->str, f->len) : NULL;
}

/*
 * Builds the event of an entry, or explains in it->why why it cannot be
 * delivered (it then goes to the DLQ with its fields as they were).
 */
static void
parse_entry(struct ditem *it, const redisReply *fv)
{
	const char *type, *lead, *source, *id, *at;
	json_error_t jerr;
	json_t *data = NULL;
	char *end = NULL;
	long long at_ms = 0;
	char why[300] = "";

	it->v = field_dup(fv, "v");
	type = it->type = field_dup(fv, "type");
	lead = it->lead = field_dup(fv, "lead");
	source = it->source = field_dup(fv, "source");
	id = it->id = field_dup(fv, "id");
	at = it->at = field_dup(fv, "at");
	it->data = field_dup(fv, "data");
	it->orig_entry = field_dup(fv, "entry");
	if (type == NULL || lead == NULL || id == NULL)
		snprintf(why, sizeof(why), "malformed entry: no field %s",
		    type == NULL ? "type" : lead == NULL ? "lead" : "id");
	else if (at != NULL && ((at_ms = strtoll(at, &end, 10)), *end != '\0'))
		snprintf(why, sizeof(why), "malformed entry: field at '%.40s' "
		    "is not a number", at);
	else if (it->data == NULL)
		snprintf(why, sizeof(why), "malformed entry: no field data");
	else if ((data = json_loads(it->data, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL || !json_is_object(data))
		snprintf(why, sizeof(why), "malformed entry: field data is not "
		    "a JSON object%s%s", data == NULL ? ": " : "",
		    data == NULL ? jerr.text : "");
	else if ((it->ev = baton_event_new(type, lead, id, at_ms, data)) ==
	    NULL || (source != NULL && baton_event_set_source(it->ev, source)
	    == -1))
		snprintf(why, sizeof(why), "out of memory");
	if (why[0] != '\0') {
		json_decref(data);
		baton_event_free(it->ev);
		it->ev = NULL;
		it->why = strdup(why);
	}
}

/* Holds an entry [id, fields] of stream `from` unless already held. */
static void lives_count(struct delivery *d, struct ditem *it);

static void
take_entry(struct delivery *d, enum dstream from, const redisReply *e,
    int64_t now, bool taken_over)
{
	struct ditem *it;

	if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    !is_string(e->element[0]))
		return;
	if ((it = find_item(d, from, e->element[0]->str)) != NULL) {
		it->touched_ms = now;
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->entry_id = strdup(e->element[0]->str)) == NULL) {
		delivery_item_free(it);
		log_warnx("delivery %s: out of memory; entry %s stays pending",
		    d->name, e->element[0]->str);
		return;
	}
	it->from = from;
	it->touched_ms = now;
	if (e->element[1] == NULL || e->element[1]->type != REDIS_REPLY_ARRAY)
		it->why = strdup("the entry was deleted from the stream "
		    "before it was delivered");
	else
		parse_entry(it, e->element[1]);
	TAILQ_INSERT_TAIL(&d->items, it, link);
	d->held++;
	if (taken_over)
		lives_count(d, it);
}

/* One HINCRBY of an entry's lives, until its reply. */
struct lives_req {
	struct delivery *d;
	enum dstream from;
	char entry_id[64];
};

/*
 * An entry this process took over (its own pending ones after a restart,
 * or one claimed from another consumer) was held before by a process that
 * ended without acknowledging it.  Its count of such lives (kept in
 * PREFIX:lives:NAME until the entry is acknowledged) counts as attempts,
 * so an entry that makes batond crash goes to the DLQ after retry_max
 * lives instead of looping for ever.
 */
static void
lives_reply(struct redisReply *reply, void *arg)
{
	struct lives_req *q = arg;
	struct delivery *d = q->d;
	const struct connector_settings *st = connector_settings(d->ci);
	struct ditem *it = find_item(d, q->from, q->entry_id);

	d->ncmd--;
	if (it != NULL) {
		long long n = reply != NULL && reply->type ==
		    REDIS_REPLY_INTEGER ? reply->integer : 0;

		if (n > 0 && (unsigned long long)n > it->attempts)
			it->attempts = (unsigned)(n > 1000000 ? 1000000 : n);
		if (it->ev != NULL && it->attempts >= st->retry_max) {
			log_warnx("delivery %s: entry %s was held by %u "
			    "processes that ended without acknowledging it: "
			    "to the DLQ", d->name, it->entry_id, it->attempts);
			free(it->why);
			if (asprintf(&it->why, "held by %u processes that ended "
			    "without acknowledging it (did delivering it "
			    "crash batond?)", it->attempts) == -1)
				it->why = NULL;
			baton_event_free(it->ev);
			it->ev = NULL;
		}
		it->due_ms = 0;
	}
	free(q);
	delivery_kick(d);
	delivery_check_stopped(d);
}

/* Counts one more life of it (see lives_reply); the item waits for the
 * answer.  Without Redis it goes on uncounted. */
static void
lives_count(struct delivery *d, struct ditem *it)
{
	struct lives_req *q = calloc(1, sizeof(*q));
	char field[80];
	const char *argv[4];
	size_t len[4];

	if (q == NULL || strlen(it->entry_id) >= sizeof(q->entry_id)) {
		free(q);
		return;
	}
	q->d = d;
	q->from = it->from;
	snprintf(q->entry_id, sizeof(q->entry_id), "%s", it->entry_id);
	snprintf(field, sizeof(field), "%d:%s", it->from == DSTREAM_MAIN ? 1 :
	    2, it->entry_id);
	argv[0] = "HINCRBY";
	argv[1] = d->k_lives;
	argv[2] = field;
	argv[3] = "1";
	for (int i = 0; i < 4; i++)
		len[i] = strlen(argv[i]);
	if (redis_command_argv(d->rc, 0, lives_reply, q, 4, argv, len) == -1) {
		free(q);
		return;
	}
	d->ncmd++;
	it->lives = true;
	it->due_ms = INT64_MAX;         /* until the count is in */
}

/* Takes the entries of an XREADGROUP reply; for each stream, the last id
 * seen (NULL when the stream gave none) goes to last[]. */
static void
take_streams(struct delivery *d, const redisReply *reply,
    const char *last[NDSTREAMS])
{
	int64_t now = clock_mono_ms();

	last[0] = last[1] = NULL;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t s = 0; s < reply->elements; s++) {
		const redisReply *st = reply->element[s], *arr;
		enum dstream from;

		if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
		    !is_string(st->element[0]))
			continue;
		from = strcmp(st->element[0]->str, d->k_stream[0]) == 0 ?
		    DSTREAM_MAIN : DSTREAM_REPLAY;
		arr = st->element[1];
		if (arr->type != REDIS_REPLY_ARRAY)
			continue;
		for (size_t i = 0; i < arr->elements; i++) {
			take_entry(d, from, arr->element[i], now,
			    d->pending_phase);
			if (arr->element[i]->type == REDIS_REPLY_ARRAY &&
			    arr->element[i]->elements >= 1 &&
			    is_string(arr->element[i]->element[0]))
				last[from] = arr->element[i]->element[0]->str;
		}
	}
}

/* ---- Reading -------------------------------------------------------------- */


static void
read_reply(struct redisReply *reply, void *arg)
{
	struct delivery *d = arg;
	const char *last[NDSTREAMS];

	d->reading = false;
	if (reply == NULL) {
		if (!d->stopping)
			clock_timer_in(d->ev_read, DELIVERY_RETRY_READ_MS);
		delivery_check_stopped(d);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOGROUP", 7) == 0)
			d->group_ok = false;
		log_warnx("delivery %s: XREADGROUP failed: %s", d->name,
		    reply->str);
		if (!d->stopping)
			clock_timer_in(d->ev_read, 1000);
		delivery_check_stopped(d);
		return;
	}
	take_streams(d, reply, last);
	if (d->pending_phase) {
		bool any = false;

		for (int s = 0; s < NDSTREAMS; s++)
			if (last[s] != NULL) {
				free(d->pending_from[s]);
				d->pending_from[s] = strdup(last[s]);
				any = true;
			}
		if (!any) {
			d->pending_phase = false;
			log_debug("delivery %s: own pending entries read",
			    d->name);
		}
	}
	delivery_kick(d);
	delivery_read_more(d);
	delivery_check_stopped(d);
}

static bool
can_read(const struct delivery *d)
{
	return !d->stopping && d->group_ok && redis_is_up(d->rd) &&
	    d->held < d->hold_max;
}

void
delivery_read_more(struct delivery *d)
{
	const char *argv[13];
	size_t len[13];
	char count[24];
	int argc = 0;
	int64_t timeout = 0;

	if (d->reading || !can_read(d))
		return;
	snprintf(count, sizeof(count), "%zu", d->hold_max - d->held);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = d->name;
	argv[argc++] = d->consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (!d->pending_phase) {
		argv[argc++] = "BLOCK";
		argv[argc++] = "2000";
		timeout = DELIVERY_BLOCK_MS + DELIVERY_BLOCK_MARGIN_MS;
	}
	argv[argc++] = "STREAMS";
	argv[argc++] = d->k_stream[0];
	argv[argc++] = d->k_stream[1];
	for (int s = 0; s < NDSTREAMS; s++)
		argv[argc++] = !d->pending_phase ? ">" : d->pending_from[s] ?
		    d->pending_from[s] : "0";
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redis_command_argv(d->rd, timeout, read_reply, d, argc, argv,
	    len) == 0)
		d->reading = true;
}

static void
on_read_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	delivery_read_more(arg);
}

/* ---- Groups --------------------------------------------------------------- */

static void
group_reply(struct redisReply *reply, void *arg)
{
	struct delivery *d = arg;
	bool ok = reply != NULL && (reply->type == REDIS_REPLY_STATUS ||
	    (reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) == 0));

	d->ncmd--;
	if (reply != NULL && !ok)
		log_warnx("delivery %s: XGROUP CREATE failed: %s", d->name,
		    reply->str);
	if (!ok)
		d->group_asked = false;
	else if (d->group_asked) {
		/* The second of the two replies (main, replay). */
		if (++d->group_asked > 2) {
			d->group_ok = true;
			delivery_read_more(d);
		}
	}
	delivery_check_stopped(d);
}

static void
groups_create(struct delivery *d)
{
	const char *main_argv[] = { "XGROUP", "CREATE", d->k_stream[0],
	    d->name, "$", "MKSTREAM" };
	const char *replay_argv[] = { "XGROUP", "CREATE", d->k_stream[1],
	    d->name, "0", "MKSTREAM" };

	if (d->group_asked || d->stopping)
		return;
	d->group_asked = 1;
	if (command(d, d->rc, group_reply, 6, main_argv) == -1 ||
	    command(d, d->rc, group_reply, 6, replay_argv) == -1)
		d->group_asked = 0;
}

static void
rc_state(bool up, void *arg)
{
	struct delivery *d = arg;

	if (up && !d->group_ok)
		groups_create(d);
	if (up)
		delivery_kick(d);
}

static void
rd_state(bool up, void *arg)
{
	struct delivery *d = arg;

	if (up)
		delivery_read_more(d);
}

/* ---- Claiming ------------------------------------------------------------- */

static void claim_next(struct delivery *d);

static void
claim_reply(struct redisReply *reply, void *arg)
{
	struct delivery *d = arg;
	int64_t now = clock_mono_ms();
	bool more = false;

	d->ncmd--;
	d->claiming = false;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements >= 2 && is_string(reply->element[0]) &&
	    reply->element[1]->type == REDIS_REPLY_ARRAY) {
		const redisReply *arr = reply->element[1];
		size_t before = d->held;

		for (size_t i = 0; i < arr->elements; i++)
			take_entry(d, (enum dstream)d->claim_stream,
			    arr->element[i], now, true);
		if (d->held > before)
			log_notice("delivery %s: claimed %zu entr%s another "
			    "consumer left unacknowledged", d->name,
			    d->held - before, d->held - before == 1 ? "y" :
			    "ies");
		free(d->claim_cursor);
		d->claim_cursor = strdup(reply->element[0]->str);
		more = d->claim_cursor != NULL &&
		    strcmp(d->claim_cursor, "0-0") != 0;
	} else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warnx("delivery %s: XAUTOCLAIM failed: %s", d->name,
		    reply->str);
	if (!more) {
		free(d->claim_cursor);
		d->claim_cursor = NULL;
		d->claim_stream++;
	}
	delivery_kick(d);
	if (d->claim_stream < NDSTREAMS && !d->stopping)
		claim_next(d);
	delivery_check_stopped(d);
}

static void
claim_next(struct delivery *d)
{
	char idle[24], count[24];
	const char *argv[9];

	if (d->claiming || d->stopping || !d->group_ok ||
	    d->held >= d->hold_max)
		return;
	snprintf(idle, sizeof(idle), "%lld", (long long)d->claim_idle_ms);
	snprintf(count, sizeof(count), "%zu", d->hold_max - d->held < 100 ?
	    d->hold_max - d->held : 100);
	argv[0] = "XAUTOCLAIM";
	argv[1] = d->k_stream[d->claim_stream];
	argv[2] = d->name;
	argv[3] = d->consumer;
	argv[4] = idle;
	argv[5] = d->claim_cursor ? d->claim_cursor : "0-0";
	argv[6] = "COUNT";
	argv[7] = count;
	if (command(d, d->rc, claim_reply, 8, argv) == 0)
		d->claiming = true;
}

static void
touch_reply(struct redisReply *reply, void *arg)
{
	struct delivery *d = arg;

	(void)reply;
	d->ncmd--;
	delivery_check_stopped(d);
}

/* Resets the idle time of held items that waited half the claim time,
 * so that another process does not claim what this one still holds. */
static void
touch_held(struct delivery *d, int64_t now)
{
	for (int s = 0; s < NDSTREAMS; s++) {
		const char *argv[64];
		size_t len[64];
		int argc = 0;
		struct ditem *it;

		TAILQ_FOREACH(it, &d->items, link) {
			if (it->from != (enum dstream)s ||
			    now - it->touched_ms < d->claim_idle_ms / 2)
				continue;
			if (argc == 0) {
				argv[argc++] = "XCLAIM";
				argv[argc++] = d->k_stream[s];
				argv[argc++] = d->name;
				argv[argc++] = d->consumer;
				argv[argc++] = "0";
			}
			argv[argc++] = it->entry_id;
			it->touched_ms = now;
			if (argc == 63)
				break;
		}
		if (argc == 0)
			continue;
		argv[argc++] = "JUSTID";
		for (int i = 0; i < argc; i++)
			len[i] = strlen(argv[i]);
		if (redis_command_argv(d->rc, 0, touch_reply, d, argc, argv,
		    len) == 0)
			d->ncmd++;
	}
}

static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	if (redis_is_up(d->rc)) {
		if (!d->group_ok)
			groups_create(d);
		touch_held(d, clock_mono_ms());
		if (!d->claiming) {
			d->claim_stream = 0;
			claim_next(d);
		}
	}
	clock_timer_in(d->ev_claim, d->claim_idle_ms < 30000 ?
	    d->claim_idle_ms / 3 : DELIVERY_CLAIM_INTERVAL_MS);
}

/* ---- Scheduling ----------------------------------------------------------- */

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	delivery_kick(arg);
}

/* The lead of an item, or NULL for a malformed one (it orders nothing). */
static const char *
item_lead(const struct ditem *it)
{
	return it->ev != NULL ? it->ev->lead : NULL;
}

/*
 * The items that may go now, in stream order, into out (room for held
 * items): those whose backoff is over and that no earlier held item of
 * the same lead waits behind, so a lead's entries reach the vendor in the
 * order the rules wrote them (a retried feedback.rejected must not land
 * after the feedback.recycled that followed it).  Sets *next_due to the
 * earliest backoff end among the others (-1: none).
 */
static size_t
eligible(struct delivery *d, int64_t now, struct ditem **out,
    const char **blocked, int64_t *next_due)
{
	size_t n = 0, nb = 0;
	struct ditem *it;

	*next_due = -1;
	TAILQ_FOREACH(it, &d->items, link) {
		const char *lead = item_lead(it);
		bool held_back = false;

		for (size_t k = 0; lead != NULL && k < nb; k++)
			if (strcmp(blocked[k], lead) == 0) {
				held_back = true;
				break;
			}
		if (!held_back && it->due_ms <= now) {
			out[n++] = it;
			continue;
		}
		if (it->due_ms > now && it->due_ms != INT64_MAX &&
		    (*next_due < 0 || it->due_ms < *next_due))
			*next_due = it->due_ms;
		if (lead != NULL && !held_back)
			blocked[nb++] = lead;
	}
	return n;
}

void
delivery_kick(struct delivery *d)
{
	const struct connector_settings *st = connector_settings(d->ci);
	int64_t now = clock_mono_ms(), next_due, wait;
	struct ditem **ready_items;
	const char **blocked;
	size_t ready;

	if (d->batch != NULL || d->stopping || !redis_is_up(d->rc))
		return;
	ready_items = calloc(d->held + 1, sizeof(*ready_items));
	blocked = calloc(d->held + 1, sizeof(*blocked));
	if (ready_items == NULL || blocked == NULL) {
		free(ready_items);
		free(blocked);
		clock_timer_in(d->ev_kick, 1000);
		return;
	}
	ready = eligible(d, now, ready_items, blocked, &next_due);
	free(blocked);
	if (ready == 0) {
		d->linger_since = 0;
		if (next_due >= 0)
			clock_timer_in(d->ev_kick, next_due - now);
		free(ready_items);
		delivery_read_more(d);
		return;
	}
	if (d->linger_since == 0)
		d->linger_since = now;
	if (ready < st->batch_size && now - d->linger_since <
	    st->batch_linger_ms) {
		clock_timer_in(d->ev_kick, d->linger_since +
		    st->batch_linger_ms - now);
		free(ready_items);
		return;
	}
	if ((wait = connector_descriptor(d->ci)->rate_per_call ?
	    rate_bucket_paused(connector_rate(d->ci), now) :
	    rate_bucket_take(connector_rate(d->ci), now)) > 0) {
		clock_timer_in(d->ev_kick, wait);
		free(ready_items);
		return;
	}
	d->linger_since = 0;
	delivery_batch_start(d, ready_items, ready < st->batch_size ? ready :
	    st->batch_size);
	free(ready_items);
}

/* ---- Life ----------------------------------------------------------------- */

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	void (*done)(void *) = d->done;

	(void)fd;
	(void)what;
	d->done = NULL;
	if (done != NULL)
		done(d->done_arg);
}

void
delivery_check_stopped(struct delivery *d)
{
	if (!d->stopping || d->done == NULL || d->ncmd > 0 ||
	    d->batch != NULL)
		return;
	event_active(d->ev_done, EV_TIMEOUT, 0);
}

/* Claim idle time: 60 s, or BATON_TEST_DELIVERY_IDLE_MS (100 ms to
 * 10 min) for tests that kill batond and must not wait that long. */
static int64_t
claim_idle(void)
{
	const char *env = getenv("BATON_TEST_DELIVERY_IDLE_MS");
	char *end = NULL;
	long long v;

	if (env == NULL)
		return DELIVERY_CLAIM_IDLE_MS;
	v = strtoll(env, &end, 10);
	if (*env == '\0' || *end != '\0' || v < 100 || v > 600000) {
		log_warnx("delivery: BATON_TEST_DELIVERY_IDLE_MS '%s' ignored: "
		    "not 100 to 600000", env);
		return DELIVERY_CLAIM_IDLE_MS;
	}
	return v;
}

static void
metrics_for(struct delivery *d)
{
	static struct metric *items, *batches, *seconds, *latency;
	static const double lat_bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25,
	    0.5, 1, 2.5, 5, 10, 30, 60, 300 };

	if (items == NULL) {
		items = metric_counter("baton_delivery_items_total",
		    "Stream entries pushed to a connector, by result (ok, "
		    "retried, dropped to the DLQ).", "connector,result");
		batches = metric_counter("baton_delivery_batches_total",
		    "Batches handed to a connector.", "connector");
		seconds = metric_histogram("baton_delivery_batch_seconds",
		    "Time a connector took to push one batch.", "connector",
		    NULL, 0);
		latency = metric_histogram("baton_handoff_latency_seconds",
		    "From the entry's event time to the vendor's "
		    "acknowledgement.", "connector", lat_bounds,
		    sizeof(lat_bounds) / sizeof(lat_bounds[0]));
	}
	d->m_ok = metric_series(items, d->name, "ok");
	d->m_retry = metric_series(items, d->name, "retried");
	d->m_dropped = metric_series(items, d->name, "dropped");
	d->m_batches = metric_series(batches, d->name);
	d->m_seconds = metric_series(seconds, d->name);
	d->m_latency = metric_series(latency, d->name);
}

struct delivery *
delivery_new(struct event_base *base, const struct redis_opts *o,
    struct connector_instance *ci, const char *prefix,
    long long stream_maxlen, const char *consumer)
{
	const struct connector_settings *st = connector_settings(ci);
	struct delivery *d;
	char label[300];

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	TAILQ_INIT(&d->items);
	d->base = base;
	d->ci = ci;
	d->maxlen = stream_maxlen > 0 ? stream_maxlen : 0;
	d->pending_phase = true;
	d->claim_idle_ms = claim_idle();
	d->hold_max = st->batch_size * 4 > DELIVERY_HOLD_MIN ?
	    st->batch_size * 4 : DELIVERY_HOLD_MIN;
	d->name = strdup(connector_name(ci));
	d->consumer = strdup(consumer);
	d->prefix = strdup(prefix);
	d->stream_name = strdup(connector_role(ci) == CONNECTOR_ROLE_MARKETING
	    ? "feedback" : "handoffs");
	if (d->name == NULL || d->consumer == NULL || d->prefix == NULL ||
	    d->stream_name == NULL)
		goto fail;
	if (asprintf(&d->k_stream[1], "%s:" DLQ_REPLAY_PREFIX "%s", prefix,
	    d->name) == -1)
		d->k_stream[1] = NULL;
	d->k_stream[0] = key_join(prefix, d->stream_name);
	d->k_dlq = key_join(prefix, DLQ_STREAM);
	d->k_prefix = key_join(prefix, "");
	if (asprintf(&d->k_lives, "%s:lives:%s", prefix, d->name) == -1)
		d->k_lives = NULL;
	if (d->k_stream[0] == NULL || d->k_stream[1] == NULL ||
	    d->k_dlq == NULL || d->k_prefix == NULL || d->k_lives == NULL)
		goto fail;
	if ((d->ev_read = evtimer_new(base, on_read_timer, d)) == NULL ||
	    (d->ev_kick = evtimer_new(base, on_kick, d)) == NULL ||
	    (d->ev_claim = evtimer_new(base, on_claim_timer, d)) == NULL ||
	    (d->ev_batch_done = event_new(base, -1, 0,
	    delivery_batch_on_done, d)) == NULL ||
	    (d->ev_commit_retry = evtimer_new(base,
	    delivery_batch_on_commit_retry, d)) == NULL ||
	    (d->ev_done = evtimer_new(base, on_done, d)) == NULL)
		goto fail;
	metrics_for(d);
	snprintf(label, sizeof(label), "%s-read", d->name);
	if ((d->rd = redis_new(base, o, label, rd_state, d)) == NULL ||
	    (d->rc = redis_new(base, o, d->name, rc_state, d)) == NULL)
		goto fail;
	clock_timer_in(d->ev_claim, d->claim_idle_ms < 30000 ?
	    d->claim_idle_ms / 3 : DELIVERY_CLAIM_INTERVAL_MS);
	log_info("delivery %s: %s to %s in batches of up to %zu", d->name,
	    d->stream_name, connector_descriptor(ci)->name, st->batch_size);
	return d;
fail:
	delivery_free(d);
	return NULL;
}

bool
delivery_healthy(const struct delivery *d, const char **why)
{
	if (!redis_is_up(d->rd) || !redis_is_up(d->rc)) {
		*why = "a delivery's redis connection is down";
		return false;
	}
	if (!d->group_ok) {
		*why = "a delivery's consumer group is not set up yet";
		return false;
	}
	return true;
}

void
delivery_stop(struct delivery *d, void (*done)(void *), void *arg)
{
	d->stopping = true;
	d->done = done;
	d->done_arg = arg;
	event_del(d->ev_kick);
	event_del(d->ev_read);
	event_del(d->ev_claim);
	delivery_check_stopped(d);
}

void
delivery_free(struct delivery *d)
{
	struct ditem *it;

	if (d == NULL)
		return;
	d->stopping = d->freeing = true;
	d->done = NULL;
	/* Callbacks of both connections run now, with NULL. */
	redis_free(d->rd);
	redis_free(d->rc);
	d->rd = d->rc = NULL;
	if (d->batch != NULL && !d->batch->completed) {
		/* The connector still holds it: it is freed when completed,
		 * with its items. */
		for (size_t i = 0; i < d->batch->n; i++)
			TAILQ_REMOVE(&d->items, d->batch->items[i], link);
		d->batch->d = NULL;
	} else
		delivery_batch_free(d->batch);
	d->batch = NULL;
	while ((it = TAILQ_FIRST(&d->items)) != NULL) {
		TAILQ_REMOVE(&d->items, it, link);
		delivery_item_free(it);
	}
	if (d->ev_read)
		event_free(d->ev_read);
	if (d->ev_kick)
		event_free(d->ev_kick);
	if (d->ev_claim)
		event_free(d->ev_claim);
	if (d->ev_batch_done)
		event_free(d->ev_batch_done);
	if (d->ev_commit_retry)
		event_free(d->ev_commit_retry);
	if (d->ev_done)
		event_free(d->ev_done);
	for (int s = 0; s < NDSTREAMS; s++) {
		free(d->k_stream[s]);
		free(d->pending_from[s]);
	}
	free(d->k_dlq);
	free(d->k_lives);
	free(d->k_prefix);
	free(d->claim_cursor);
	free(d->name);
	free(d->consumer);
	free(d->prefix);
	free(d->stream_name);
	free(d);
}
