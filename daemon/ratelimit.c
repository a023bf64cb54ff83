/*
 * ratelimit.c - the rolling window, vendor pauses and retry backoff of
 * ratelimit.h.  Kept free of clocks and I/O so that it is tested exactly.
 */
#include "ratelimit.h"

#include <stdlib.h>

void
rate_bucket_init(struct rate_bucket *b, long long limit, int64_t window_ms,
    int64_t now_ms)
{
	(void)now_ms;
	b->limit = limit > 0 ? limit : 0;
	b->window_ms = window_ms > 0 ? window_ms : 1000;
	b->at = NULL;
	b->cap = b->head = b->n = 0;
	b->paused_until = 0;
}

void
rate_bucket_clear(struct rate_bucket *b)
{
	free(b->at);
	b->at = NULL;
	b->cap = b->head = b->n = 0;
}

/* Room for one more take, keeping the order.  0 or -1. */
static int
grow(struct rate_bucket *b)
{
	size_t cap = b->cap ? b->cap * 2 : 16;
	int64_t *v;

	if ((long long)cap > b->limit)
		cap = (size_t)b->limit;
	if ((v = malloc(cap * sizeof(*v))) == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++)
		v[i] = b->at[(b->head + i) % b->cap];
	free(b->at);
	b->at = v;
	b->cap = cap;
	b->head = 0;
	return 0;
}

int64_t
rate_bucket_take(struct rate_bucket *b, int64_t now_ms)
{
	if (b->paused_until > now_ms)
		return b->paused_until - now_ms;
	if (b->limit == 0)
		return 0;
	/* Takes at or before now - window are out of every window that
	 * holds now. */
	while (b->n > 0 && b->at[b->head] <= now_ms - b->window_ms) {
		b->head = (b->head + 1) % b->cap;
		b->n--;
	}
	if ((long long)b->n >= b->limit) {
		int64_t wait = b->at[b->head] + b->window_ms - now_ms;

		return wait > 0 ? wait : 1;
	}
	if (b->n == b->cap && grow(b) == -1)
		return 1000;
	b->at[(b->head + b->n) % b->cap] = now_ms;
	b->n++;
	return 0;
}

int64_t
rate_bucket_paused(const struct rate_bucket *b, int64_t now_ms)
{
	return b->paused_until > now_ms ? b->paused_until - now_ms : 0;
}

void
rate_bucket_pause(struct rate_bucket *b, int64_t now_ms, int64_t ms)
{
	if (ms <= 0)
		return;
	if (now_ms + ms > b->paused_until)
		b->paused_until = now_ms + ms;
}

int64_t
retry_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt,
    uint32_t rnd)
{
	int64_t ceil_ms = base_ms > 0 ? base_ms : 1, d;

	if (cap_ms < ceil_ms)
		cap_ms = ceil_ms;
	for (unsigned i = 1; i < attempt && ceil_ms < cap_ms; i++)
		ceil_ms = ceil_ms > cap_ms / 2 ? cap_ms : ceil_ms * 2;
	if (ceil_ms > cap_ms)
		ceil_ms = cap_ms;
	d = (int64_t)((uint64_t)rnd * (uint64_t)(ceil_ms + 1) >> 32);
	return d > 0 ? d : 1;
}
