/*
 * ratelimit.c - the token bucket, vendor pauses and retry backoff of
 * ratelimit.h.  Kept free of clocks and I/O so that it is tested exactly.
 */
#include "ratelimit.h"

void
rate_bucket_init(struct rate_bucket *b, long long limit, int64_t window_ms,
    int64_t now_ms)
{
	b->limit = limit > 0 ? limit : 0;
	b->window_ms = window_ms > 0 ? window_ms : 1000;
	b->tokens = (double)b->limit;
	b->refilled_ms = now_ms;
	b->paused_until = 0;
}

/* Brings tokens up to now: limit per window, never above limit. */
static void
refill(struct rate_bucket *b, int64_t now_ms)
{
	if (now_ms <= b->refilled_ms)
		return;
	b->tokens += (double)(now_ms - b->refilled_ms) * (double)b->limit /
	    (double)b->window_ms;
	if (b->tokens > (double)b->limit)
		b->tokens = (double)b->limit;
	b->refilled_ms = now_ms;
}

int64_t
rate_bucket_take(struct rate_bucket *b, int64_t now_ms)
{
	double missing;
	int64_t wait;

	if (b->paused_until > now_ms)
		return b->paused_until - now_ms;
	if (b->limit == 0)
		return 0;
	refill(b, now_ms);
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	missing = 1.0 - b->tokens;
	wait = (int64_t)(missing * (double)b->window_ms / (double)b->limit);
	return wait + 1;
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
