/*
 * ratelimit.h - how often a connector may call its vendor: a rolling
 * window per connector instance, a pause a vendor asked for
 * (Retry-After), and the capped exponential backoff with full jitter used
 * between retries.
 *
 * The window is rolling because vendors count that way (HubSpot's
 * TEN_SECONDLY_ROLLING): no window_ms-long stretch of time ever holds more
 * than limit takes.  A token bucket of the same rate allows twice that
 * (a full bucket spent, then refilled within the window).  The times of
 * the last limit takes are kept, in a ring that grows only as far as the
 * traffic needs.
 *
 * Pure arithmetic on times the caller passes (monotonic milliseconds), so
 * the delivery and the poller of one connector share one budget and tests
 * need no clock.
 */
#ifndef BATON_RATELIMIT_H
#define BATON_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct rate_bucket {
	long long limit;        /* takes per window; 0: unlimited */
	int64_t window_ms;      /* > 0 */
	int64_t *at;            /* ring of the latest takes' times, owned */
	size_t cap, head, n;    /* head: the oldest of n */
	int64_t paused_until;   /* nothing before this (0: no pause) */
};

/* A budget of limit takes per rolling window_ms (limit 0: no limit;
 * window_ms <= 0 means 1 s), none taken yet.  Holds no memory until the
 * first take. */
void rate_bucket_init(struct rate_bucket *b, long long limit,
    int64_t window_ms, int64_t now_ms);

/* Frees the ring; b may be initialised again. */
void rate_bucket_clear(struct rate_bucket *b);

/*
 * Takes one when fewer than limit takes fall in (now_ms - window_ms,
 * now_ms] and returns 0; else returns the milliseconds until one falls
 * out (>= 1) and takes nothing.  When the ring cannot grow (out of
 * memory) it waits 1 s rather than pass the limit.
 */
int64_t rate_bucket_take(struct rate_bucket *b, int64_t now_ms);

/* The pause in force at now_ms (ms left, 0 when none); takes nothing. */
int64_t rate_bucket_paused(const struct rate_bucket *b, int64_t now_ms);

/* Nothing before now_ms + ms (a vendor's Retry-After or limit signal);
 * a longer pause already in force is kept. */
void rate_bucket_pause(struct rate_bucket *b, int64_t now_ms, int64_t ms);

/*
 * The delay before retry number `attempt` (1 for the first retry): a
 * uniformly random value in [0, min(cap_ms, base_ms * 2^(attempt-1))],
 * at least 1 ms ("full jitter", so clients that failed together do not
 * retry together).  `rnd` is a uniform 32-bit random value.
 */
int64_t retry_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt,
    uint32_t rnd);

#endif
