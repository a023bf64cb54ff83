/*
 * ratelimit.h - how often a connector may call its vendor: a token bucket
 * per connector instance, a pause a vendor asked for (Retry-After), and
 * the capped exponential backoff with full jitter used between retries.
 *
 * Pure arithmetic on times the caller passes (monotonic milliseconds), so
 * the delivery and the poller of one connector share one budget and tests
 * need no clock.
 */
#ifndef BATON_RATELIMIT_H
#define BATON_RATELIMIT_H

#include <stdint.h>

struct rate_bucket {
	long long limit;        /* tokens per window; 0: unlimited */
	int64_t window_ms;      /* > 0 when limit > 0 */
	double tokens;          /* available now (<= limit) */
	int64_t refilled_ms;    /* when tokens was last brought up to date */
	int64_t paused_until;   /* no token before this (0: no pause) */
};

/* A full bucket allowing limit requests per window_ms (limit 0: no
 * limit; window_ms <= 0 with a limit means 1 s). */
void rate_bucket_init(struct rate_bucket *b, long long limit,
    int64_t window_ms, int64_t now_ms);

/*
 * Takes one token when one is available at now_ms and returns 0; else
 * returns the milliseconds to wait before one is (>= 1) and takes nothing.
 */
int64_t rate_bucket_take(struct rate_bucket *b, int64_t now_ms);

/* No token before now_ms + ms (a vendor's Retry-After or limit signal);
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
