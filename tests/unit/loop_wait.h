/*
 * loop_wait.h - for unit tests that drive a libevent loop: run it until a
 * counter reaches a target, never longer than a bound.
 */
#ifndef BATON_TEST_LOOP_WAIT_H
#define BATON_TEST_LOOP_WAIT_H

#include <event2/event.h>

static void
loop_wait_expired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until *counter >= target or ms pass; returns 1 when the
 * target was reached. */
static int
run_until(struct event_base *base, const int *counter, int target, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	int expired = 0;
	struct event *ev = evtimer_new(base, loop_wait_expired, &expired);

	evtimer_add(ev, &tv);
	while (*counter < target && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *counter >= target;
}

#endif
