/*
 * clock.h - the two clocks batond reads and arming a libevent timer in
 * milliseconds, shared so that every module measures time the same way:
 * monotonic for intervals and deadlines, wall clock for what is written
 * down (stream entries, DLQ times).
 */
#ifndef BATON_CLOCK_H
#define BATON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

/* Milliseconds of CLOCK_MONOTONIC. */
static inline int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch. */
static inline int64_t
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arms ev (a timer) to run in ms milliseconds (a negative ms: at once). */
static inline void
clock_timer_in(struct event *ev, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

#endif
