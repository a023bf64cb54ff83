/*
 * notify.c - the sd_notify(3) protocol spoken directly (see notify.h).
 *
 * The protocol is one AF_UNIX datagram per notification, its text the
 * newline-separated assignments; an address starting with '@' is an
 * abstract socket (the '@' becomes a NUL byte and the length counts no
 * terminator).  That is a page of code, so batond does not link
 * libsystemd for it: one dependency fewer in the package and on the
 * build machines, and nothing to keep in step with.
 *
 * The watch (second half) runs on the daemon's loop: a keep-alive timer
 * at half the watchdog interval, which vouches for the loop only when the
 * runtime's one-second heartbeat has run recently, and a status timer.
 */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <baton/log.h>

#include "clock.h"
#include "config.h"
#include "outbound.h"
#include "redis.h"
#include "runtime.h"

/* ---- The protocol --------------------------------------------------------- */

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static char last_status[512];           /* last STATUS= value sent */
static int last_errno;                  /* of the last failed send, or 0 */

int
notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	notify_close();
	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if (path[0] != '/' && path[0] != '@') {
		log_warnx("NOTIFY_SOCKET '%s': not an absolute path nor an "
		    "abstract name ('@...'); systemd will not hear from "
		    "batond", path);
		return -1;
	}
	if (len < 2 || len > sizeof(notify_addr.sun_path) -
	    (path[0] == '/' ? 1 : 0)) {
		log_warnx("NOTIFY_SOCKET '%s': %s; systemd will not hear from "
		    "batond", path, len < 2 ? "too short" : "too long");
		return -1;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	/* A path's length includes its NUL; an abstract name's does not. */
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len + (path[0] == '/' ? 1 : 0));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1) {
		log_warn("NOTIFY_SOCKET: socket");
		return -1;
	}
	last_status[0] = '\0';
	last_errno = 0;
	return 0;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}

bool
notify_enabled(void)
{
	return notify_fd != -1;
}

int
notify_send(const char *state)
{
	ssize_t n;

	if (notify_fd == -1)
		return 0;
	n = sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL |
	    MSG_DONTWAIT, (struct sockaddr *)&notify_addr, notify_addrlen);
	if (n == -1) {
		if (errno != last_errno)
			log_warn("NOTIFY_SOCKET: cannot tell systemd '%.*s'",
			    (int)strcspn(state, "\n"), state);
		last_errno = errno;
		return -1;
	}
	last_errno = 0;
	return 0;
}

/* Sends head plus "\nSTATUS=status" (when status is not NULL), and
 * remembers the status. */
static int
send_with_status(const char *head, const char *status)
{
	char msg[768];

	if (status == NULL)
		return notify_send(head);
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", head,
	    *head != '\0' ? "\n" : "", status);
	snprintf(last_status, sizeof(last_status), "%s", status);
	return notify_send(msg);
}

int
notify_ready(const char *status)
{
	return send_with_status("READY=1", status);
}

int
notify_reloading(void)
{
	char head[96];

	snprintf(head, sizeof(head), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    notify_monotonic_usec());
	return send_with_status(head, "reloading the configuration");
}

int
notify_stopping(void)
{
	return send_with_status("STOPPING=1", "stopping");
}

int
notify_status(const char *status)
{
	if (notify_fd == -1 || strncmp(status, last_status,
	    sizeof(last_status) - 1) == 0)
		return 0;
	return send_with_status("", status);
}

uint64_t
notify_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A decimal number that fills s; 0 or -1. */
static int
parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

uint64_t
notify_watchdog_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t usec, p;

	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) == -1 || usec == 0)
		return 0;
	if (pid != NULL && *pid != '\0' &&
	    (parse_u64(pid, &p) == -1 || p != (uint64_t)getpid()))
		return 0;
	return usec;
}

/* ---- The runtime's state in one line --------------------------------------- */

void
notify_describe(const struct runtime *rt, char *buf, size_t len)
{
	size_t n = rt->conf != NULL ? rt->conf->nconnectors : 0;
	const char *why = NULL;
	char lag[32];
	int64_t l;

	if (rt->stopping) {
		snprintf(buf, len, "stopping");
		return;
	}
	l = outbound_rules_lag(rt->outbound);
	if (l >= 0)
		snprintf(lag, sizeof(lag), "%" PRId64, l);
	else
		snprintf(lag, sizeof(lag), "unknown");
	if (rt->outbound == NULL || outbound_healthy(rt->outbound, &why))
		why = NULL;
	snprintf(buf, len, "%zu connector%s %s%s%s, redis %s, rules lag %s",
	    n, n == 1 ? "" : "s", why == NULL ? "up" : "not all up (",
	    why == NULL ? "" : why, why == NULL ? "" : ")",
	    rt->redis != NULL && redis_is_up(rt->redis) ? "up" : "down", lag);
}

/* ---- The watch -------------------------------------------------------------- */

struct notify_watch {
	struct runtime *rt;             /* not owned */
	struct event *ev_dog;           /* WATCHDOG=1, or NULL */
	struct event *ev_status;        /* STATUS= refresh, or NULL */
};

/*
 * The keep-alive.  This timer runs on the loop, so a loop that is stuck
 * sends nothing; the heartbeat check also withholds it when the loop
 * still runs this timer but no longer the runtime's beat.
 */
static void
on_dog(evutil_socket_t fd, short what, void *arg)
{
	struct notify_watch *w = arg;
	int64_t age = clock_mono_ms() - w->rt->last_beat_ms;

	(void)fd;
	(void)what;
	if (age <= NOTIFY_BEAT_FRESH_MS)
		notify_send("WATCHDOG=1");
	else
		log_warnx("event loop heartbeat is %lld ms old; not telling "
		    "systemd's watchdog that batond is alive",
		    (long long)age);
}

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	struct notify_watch *w = arg;
	char line[256];

	(void)fd;
	(void)what;
	notify_describe(w->rt, line, sizeof(line));
	notify_status(line);
}

struct notify_watch *
notify_watch_new(struct runtime *rt)
{
	struct notify_watch *w;
	uint64_t dog = notify_watchdog_usec();
	struct timeval tv;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warnx("out of memory");
		return NULL;
	}
	w->rt = rt;
	if (!notify_enabled())
		return w;
	if (dog > 0) {
		/* Half the interval, as sd_watchdog_enabled(3) advises
		 * (at least a millisecond, so the timer cannot spin). */
		dog = dog / 2 < 1000 ? 1000 : dog / 2;
		tv.tv_sec = (time_t)(dog / 1000000);
		tv.tv_usec = (suseconds_t)(dog % 1000000);
		w->ev_dog = event_new(rt->base, -1, EV_PERSIST, on_dog, w);
		if (w->ev_dog == NULL || event_add(w->ev_dog, &tv) == -1)
			goto oom;
		log_info("systemd watchdog: keep-alive every %" PRIu64 " ms",
		    dog / 1000);
	}
	tv.tv_sec = NOTIFY_STATUS_INTERVAL_MS / 1000;
	tv.tv_usec = NOTIFY_STATUS_INTERVAL_MS % 1000 * 1000;
	w->ev_status = event_new(rt->base, -1, EV_PERSIST, on_status, w);
	if (w->ev_status == NULL || event_add(w->ev_status, &tv) == -1)
		goto oom;
	return w;
oom:
	log_warnx("out of memory");
	notify_watch_free(w);
	return NULL;
}

void
notify_watch_free(struct notify_watch *w)
{
	if (w == NULL)
		return;
	if (w->ev_dog != NULL)
		event_free(w->ev_dog);
	if (w->ev_status != NULL)
		event_free(w->ev_status);
	free(w);
}
