/*
 * redis.c - one asynchronous Redis connection on the libevent loop that
 * keeps itself connected (see redis.h).
 *
 * hiredis 0.14 (Debian 12's) has no timeouts, so this file adds them:
 *
 *  - A connection attempt starts with redisAsyncConnect[Unix] and
 *    immediately queues its handshake: AUTH [user] password (when a
 *    password is configured), SELECT db (when db != 0) and PING.  The
 *    connection is up when the PING is answered with PONG; any error
 *    reply on the way (WRONGPASS, NOAUTH, a bad db) fails the attempt.
 *    A timer drops the attempt when it is not up after connect_timeout.
 *  - Every command sent is kept in a FIFO (struct redis_cmd) in the order
 *    hiredis keeps its own callback queue: Redis answers in order, so the
 *    head is the oldest command still waiting.  One timer is armed at the
 *    head's deadline; when it fires with the head overdue, the connection
 *    is dropped.  Only the head is checked: a command queued behind a slow
 *    one is not charged for the wait.
 *  - A periodic PING (every second, when nothing is in flight and nothing
 *    was heard for a second) notices a dead peer without traffic.
 *  - After any loss the connection is retried from a timer with full
 *    jitter: a random delay in [0, min(cap, 100 ms * 2^attempt)].
 *
 * Ownership and callbacks: the privdata of every hiredis command is its
 * struct redis_cmd, removed from the FIFO and freed in cmd_cb, the only
 * hiredis reply callback; hiredis runs it exactly once per command (with
 * NULL when the context is freed), so a command's callback runs exactly
 * once and the FIFO always equals hiredis' queue.  The context is never
 * freed from inside a hiredis callback: a failure noticed there (a
 * handshake error) only marks the connection doomed and activates a
 * zero-timeout event that frees it from the loop.  When this file frees
 * the context itself it first detaches it (ac->data = NULL), so the
 * disconnect callback hiredis may run knows to ignore it; when hiredis
 * tears a context down on its own (peer closed, I/O error) the disconnect
 * or connect callback is where the pointer is dropped.
 */
#include "redis.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <baton/log.h>

#include "config.h"
#include "metrics.h"

#define REDIS_DEFAULT_PORT              6379
#define REDIS_DEFAULT_CONNECT_TIMEOUT   2000    /* ms */
#define REDIS_DEFAULT_COMMAND_TIMEOUT   5000    /* ms */
#define REDIS_DEFAULT_RECONNECT_MAX     10000   /* ms */
#define REDIS_BACKOFF_BASE              100     /* ms, first retry ceiling */
#define REDIS_PING_INTERVAL             1000    /* ms of silence before PING */
#define REDIS_DEFAULT_URL               "redis://127.0.0.1:6379/0"

/* ---- state ---------------------------------------------------------- */

enum cmd_kind {
	CMD_USER,               /* redis_command*: runs cb */
	CMD_AUTH,               /* handshake */
	CMD_SELECT,             /* handshake */
	CMD_HELLO_PING,         /* handshake, its reply makes the connection up */
	CMD_KEEPALIVE,          /* idle PING */
};

struct redis_cmd {
	struct redis *r;
	enum cmd_kind kind;
	redis_reply_cb cb;              /* CMD_USER only */
	void *arg;
	uint64_t gen;                   /* connection it was sent on */
	int64_t sent_ms;                /* monotonic */
	int64_t deadline_ms;            /* monotonic */
	char verb[16];                  /* CMD_USER: its first word, for logs */
	TAILQ_ENTRY(redis_cmd) entry;
};

enum redis_state {
	R_DOWN,                 /* no context; reconnect timer armed */
	R_CONNECTING,           /* context, handshake in flight */
	R_UP,                   /* handshake done */
};

struct redis {
	struct event_base *base;
	struct redis_opts o;            /* own copy */
	char *name;                     /* "intake", labels logs and metrics */
	char *where;                    /* "host:port" or the socket path */
	redis_state_cb state_cb;
	void *state_arg;

	redisAsyncContext *ac;          /* NULL while R_DOWN */
	enum redis_state state;
	uint64_t gen;                   /* bumped on each connection attempt */
	bool doomed;                    /* ac is going away; send nothing */
	int in_cb;                      /* depth of hiredis callbacks */

	TAILQ_HEAD(, redis_cmd) cmds;   /* sent, unanswered, in reply order */
	size_t nuser;                   /* CMD_USER entries in cmds */

	unsigned attempts;              /* failed attempts since last up */
	bool fail_logged;               /* this outage was logged at warning */
	bool ever_up;
	int64_t last_io_ms;             /* last reply, monotonic */

	struct event *reconnect_ev;     /* backoff timer */
	struct event *connect_to_ev;    /* connect timeout */
	struct event *cmd_to_ev;        /* head-of-FIFO deadline */
	struct event *ping_ev;          /* periodic, idle PING */
	struct event *drop_ev;          /* deferred drop of a doomed ac */

	struct metric_series *m_reconnects;
	struct metric_series *m_err_connect;
	struct metric_series *m_err_timeout;
	struct metric_series *m_err_reply;
	struct metric_series *m_err_disconnect;
	struct metric_series *m_seconds;
	struct metric_series *m_up;
};

static void redis_connect(struct redis *r);
static void redis_drop(struct redis *r);

/* ---- helpers -------------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ms_to_tv(int64_t ms, struct timeval *tv)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static void
timer_arm(struct event *ev, int64_t ms)
{
	struct timeval tv;

	ms_to_tv(ms, &tv);
	event_add(ev, &tv);
}

static const char *
cmd_name(const struct redis_cmd *cmd)
{
	switch (cmd->kind) {
	case CMD_AUTH:
		return "AUTH";
	case CMD_SELECT:
		return "SELECT";
	case CMD_HELLO_PING:
	case CMD_KEEPALIVE:
		return "PING";
	default:
		return cmd->verb[0] != '\0' ? cmd->verb : "command";
	}
}

/* Logs one failure of the current outage: the first at warning, the
 * repeats at debug, so a Redis that stays down does not flood the log. */
static void redis_log_failure(struct redis *r, const char *fmt, ...)
    BATON_PRINTF(2, 3);

static void
redis_log_failure(struct redis *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!r->fail_logged) {
		log_warnx("redis[%s]: %s; retrying", r->name, msg);
		r->fail_logged = true;
	} else
		log_debug("redis[%s]: %s (attempt %u)", r->name, msg,
		    r->attempts + 1);
}

/* Re-arms the command timer at the head's deadline, or disarms it. */
static void
cmd_timer_rearm(struct redis *r)
{
	struct redis_cmd *head = TAILQ_FIRST(&r->cmds);

	if (r->cmd_to_ev == NULL)
		return;
	if (head == NULL) {
		event_del(r->cmd_to_ev);
		return;
	}
	timer_arm(r->cmd_to_ev, head->deadline_ms - now_ms());
}

static void
redis_set_up_gauge(struct redis *r, bool up)
{
	metric_set(r->m_up, up ? 1 : 0);
}

/* Arms the reconnect timer with full jitter. */
static void
schedule_reconnect(struct redis *r)
{
	int64_t ceil = REDIS_BACKOFF_BASE, delay;
	unsigned i;

	for (i = 0; i < r->attempts && ceil < r->o.reconnect_max_ms; i++)
		ceil *= 2;
	if (ceil > r->o.reconnect_max_ms)
		ceil = r->o.reconnect_max_ms;
	delay = (int64_t)arc4random_uniform((uint32_t)ceil + 1);
	if (r->attempts < UINT_MAX)
		r->attempts++;
	timer_arm(r->reconnect_ev, delay);
}

/*
 * The connection is gone (ac already released or being released by
 * hiredis): updates the state, tells the owner when it was up, and
 * schedules the next attempt.
 */
static void
redis_went_down(struct redis *r, bool was_up)
{
	r->ac = NULL;
	r->state = R_DOWN;
	r->doomed = false;
	event_del(r->connect_to_ev);
	event_del(r->drop_ev);
	if (was_up) {
		redis_set_up_gauge(r, false);
		if (r->state_cb != NULL)
			r->state_cb(false, r->state_arg);
	}
	/* The owner may have reconnected nothing: we are still down. */
	if (r->state == R_DOWN && r->ac == NULL)
		schedule_reconnect(r);
}

/*
 * Marks the current connection as failed.  Outside hiredis callbacks it
 * is dropped at once; inside one, the drop is deferred to the loop.
 */
static void
redis_fail(struct redis *r)
{
	if (r->ac == NULL)
		return;
	r->doomed = true;
	if (r->in_cb > 0)
		event_active(r->drop_ev, EV_TIMEOUT, 0);
	else
		redis_drop(r);
}

/* ---- hiredis callbacks ---------------------------------------------- */

/* A handshake reply: AUTH, SELECT, then the PING that makes us up. */
static void
handshake_reply(struct redis *r, struct redis_cmd *cmd, redisReply *reply)
{
	if (cmd->gen != r->gen || r->state != R_CONNECTING || r->doomed)
		return;
	if (reply == NULL)
		return;                 /* the context is going; handled there */
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_log_failure(r, "%s on %s failed: %s", cmd_name(cmd),
		    r->where, reply->str);
		metric_inc(r->m_err_connect);
		redis_fail(r);
		return;
	}
	if (cmd->kind != CMD_HELLO_PING)
		return;
	r->state = R_UP;
	r->attempts = 0;
	r->fail_logged = false;
	event_del(r->connect_to_ev);
	if (r->ever_up)
		log_notice("redis[%s]: reconnected to %s", r->name, r->where);
	else
		log_info("redis[%s]: connected to %s", r->name, r->where);
	r->ever_up = true;
	redis_set_up_gauge(r, true);
	if (r->state_cb != NULL)
		r->state_cb(true, r->state_arg);
}

/* The one reply callback: runs once per command, with NULL on teardown. */
static void
cmd_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
	struct redis_cmd *cmd = privdata;
	struct redis *r = cmd->r;
	redisReply *reply = reply_;
	int64_t now = now_ms();

	(void)ac;
	TAILQ_REMOVE(&r->cmds, cmd, entry);
	if (cmd->kind == CMD_USER)
		r->nuser--;
	r->in_cb++;
	if (reply == NULL) {
		/* hiredis is tearing the context down: send nothing more. */
		if (cmd->gen == r->gen && r->ac != NULL)
			r->doomed = true;
	} else
		r->last_io_ms = now;

	switch (cmd->kind) {
	case CMD_USER:
		if (reply != NULL) {
			metric_observe(r->m_seconds,
			    (double)(now - cmd->sent_ms) / 1000.0);
			if (reply->type == REDIS_REPLY_ERROR)
				metric_inc(r->m_err_reply);
		}
		cmd->cb(reply, cmd->arg);
		break;
	case CMD_KEEPALIVE:
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			log_debug("redis[%s]: PING: %s", r->name, reply->str);
		break;
	default:
		handshake_reply(r, cmd, reply);
		break;
	}
	r->in_cb--;
	free(cmd);
	cmd_timer_rearm(r);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->data;

	if (r == NULL || r->ac != ac)
		return;                 /* detached by redis_drop */
	if (status == REDIS_OK) {
		log_debug("redis[%s]: TCP/unix connection to %s open",
		    r->name, r->where);
		return;
	}
	/* hiredis frees ac after we return and runs the handshake
	 * callbacks with NULL; they see r->ac == NULL and do nothing. */
	redis_log_failure(r, "cannot connect to %s: %s", r->where,
	    ac->c.errstr);
	metric_inc(r->m_err_connect);
	redis_went_down(r, false);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->data;
	bool was_up;

	if (r == NULL || r->ac != ac)
		return;                 /* detached by redis_drop */
	was_up = r->state == R_UP;
	if (was_up) {
		log_warnx("redis[%s]: connection to %s lost: %s", r->name,
		    r->where, status == REDIS_OK ? "closed" : ac->c.errstr);
		metric_inc(r->m_err_disconnect);
		r->fail_logged = true;
	} else {
		redis_log_failure(r, "connection to %s closed during the "
		    "handshake: %s", r->where,
		    status == REDIS_OK ? "closed" : ac->c.errstr);
		metric_inc(r->m_err_connect);
	}
	redis_went_down(r, was_up);
}

/* ---- connection management ----------------------------------------- */

/*
 * Frees the current context from the loop (never from a hiredis
 * callback).  Every queued command's callback runs with NULL first.
 */
static void
redis_drop(struct redis *r)
{
	redisAsyncContext *ac = r->ac;
	bool was_up;

	if (ac == NULL)
		return;
	was_up = r->state == R_UP;
	ac->data = NULL;                /* on_disconnect: not ours any more */
	r->doomed = true;               /* user callbacks may not send */
	r->state = R_DOWN;
	r->in_cb++;
	redisAsyncFree(ac);
	r->in_cb--;
	redis_went_down(r, was_up);
}

/* Sends one internal command on the current context. */
static int
send_internal(struct redis *r, enum cmd_kind kind, int64_t deadline,
    int argc, const char **argv)
{
	struct redis_cmd *cmd;

	if ((cmd = calloc(1, sizeof(*cmd))) == NULL)
		return -1;
	cmd->r = r;
	cmd->kind = kind;
	cmd->gen = r->gen;
	cmd->sent_ms = now_ms();
	cmd->deadline_ms = deadline;
	if (redisAsyncCommandArgv(r->ac, cmd_cb, cmd, argc, argv, NULL) !=
	    REDIS_OK) {
		free(cmd);
		return -1;
	}
	TAILQ_INSERT_TAIL(&r->cmds, cmd, entry);
	if (TAILQ_FIRST(&r->cmds) == cmd)
		cmd_timer_rearm(r);
	return 0;
}

/* Starts one connection attempt and queues its handshake. */
static void
redis_connect(struct redis *r)
{
	redisAsyncContext *ac;
	int64_t deadline = now_ms() + r->o.connect_timeout_ms;
	char dbbuf[16];
	const char *argv[3];
	int argc;

	r->gen++;
	r->doomed = false;
	if (r->o.unix_path != NULL)
		ac = redisAsyncConnectUnix(r->o.unix_path);
	else
		ac = redisAsyncConnect(r->o.host, r->o.port);
	if (ac == NULL) {
		redis_log_failure(r, "cannot connect to %s: out of memory",
		    r->where);
		metric_inc(r->m_err_connect);
		schedule_reconnect(r);
		return;
	}
	if (ac->err) {
		redis_log_failure(r, "cannot connect to %s: %s", r->where,
		    ac->errstr);
		metric_inc(r->m_err_connect);
		redisAsyncFree(ac);
		schedule_reconnect(r);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redis_log_failure(r, "cannot attach to the event loop");
		redisAsyncFree(ac);
		schedule_reconnect(r);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->ac = ac;
	r->state = R_CONNECTING;
	timer_arm(r->connect_to_ev, r->o.connect_timeout_ms);

	if (r->o.password != NULL) {
		argc = 0;
		argv[argc++] = "AUTH";
		if (r->o.username != NULL)
			argv[argc++] = r->o.username;
		argv[argc++] = r->o.password;
		if (send_internal(r, CMD_AUTH, deadline, argc, argv) == -1)
			goto fail;
	}
	if (r->o.db != 0) {
		snprintf(dbbuf, sizeof(dbbuf), "%d", r->o.db);
		argv[0] = "SELECT";
		argv[1] = dbbuf;
		if (send_internal(r, CMD_SELECT, deadline, 2, argv) == -1)
			goto fail;
	}
	argv[0] = "PING";
	if (send_internal(r, CMD_HELLO_PING, deadline, 1, argv) == -1)
		goto fail;
	return;
fail:
	redis_log_failure(r, "cannot queue the handshake to %s", r->where);
	redis_drop(r);
}

static void
reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	(void)fd;
	(void)what;
	if (r->ac != NULL)
		return;
	metric_inc(r->m_reconnects);
	redis_connect(r);
}

static void
connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	(void)fd;
	(void)what;
	if (r->ac == NULL || r->state == R_UP)
		return;
	redis_log_failure(r, "connecting to %s timed out after %lld ms",
	    r->where, (long long)r->o.connect_timeout_ms);
	metric_inc(r->m_err_connect);
	redis_drop(r);
}

static void
cmd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;
	struct redis_cmd *head = TAILQ_FIRST(&r->cmds);
	int64_t now = now_ms();

	(void)fd;
	(void)what;
	if (head == NULL)
		return;
	if (head->deadline_ms > now) {
		cmd_timer_rearm(r);
		return;
	}
	if (r->state != R_UP)
		return;         /* the connect timeout owns the handshake */
	log_warnx("redis[%s]: %s to %s unanswered after %lld ms; dropping "
	    "the connection", r->name, cmd_name(head), r->where,
	    (long long)(now - head->sent_ms));
	metric_inc(r->m_err_timeout);
	r->fail_logged = true;  /* said once; retries go to debug */
	redis_drop(r);
}

static void
ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;
	const char *argv[1] = { "PING" };
	int64_t now = now_ms();

	(void)fd;
	(void)what;
	if (!redis_is_up(r) || !TAILQ_EMPTY(&r->cmds) ||
	    now - r->last_io_ms < REDIS_PING_INTERVAL)
		return;
	if (send_internal(r, CMD_KEEPALIVE, now + r->o.command_timeout_ms, 1,
	    argv) == -1)
		log_debug("redis[%s]: cannot queue PING", r->name);
}

static void
drop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	(void)fd;
	(void)what;
	if (r->ac != NULL && r->doomed)
		redis_drop(r);
}

/* ---- options -------------------------------------------------------- */

void
redis_opts_clear(struct redis_opts *o)
{
	if (o == NULL)
		return;
	free(o->host);
	free(o->unix_path);
	free(o->username);
	if (o->password != NULL)
		explicit_bzero(o->password, strlen(o->password));
	free(o->password);
	memset(o, 0, sizeof(*o));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into a new string; NULL on a bad escape or
 * a decoded NUL (*bad set) or out of memory (*bad clear). */
static char *
pct_decode(const char *s, size_t len, bool *bad)
{
	char *out, *p;
	size_t i;

	*bad = false;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, p = out; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			*p++ = (char)(hi * 16 + lo);
			i += 2;
		} else
			*p++ = s[i];
	}
	*p = '\0';
	return out;
bad:
	*bad = true;
	free(out);
	return NULL;
}

/* Parses a decimal in [min, max] from s[0..len).  Returns 0 or -1. */
static int
parse_num(const char *s, size_t len, long min, long max, long *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parses "user[:password]" (percent-encoded) into o. */
static int
parse_userinfo(const char *s, size_t len, struct redis_opts *o, char *err,
    size_t errlen)
{
	const char *colon = memchr(s, ':', len);
	size_t ulen = colon != NULL ? (size_t)(colon - s) : len;
	bool bad;

	if (ulen > 0) {
		if ((o->username = pct_decode(s, ulen, &bad)) == NULL) {
			snprintf(err, errlen, bad ? "invalid percent-encoding "
			    "in the redis URL's user name" : "out of memory");
			return -1;
		}
	}
	if (colon != NULL && len - ulen - 1 > 0) {
		if ((o->password = pct_decode(colon + 1, len - ulen - 1,
		    &bad)) == NULL) {
			snprintf(err, errlen, bad ? "invalid percent-encoding "
			    "in the redis URL's password" : "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Parses the part of a redis:// URL after the scheme. */
static int
parse_tcp(const char *s, struct redis_opts *o, char *err, size_t errlen)
{
	const char *end = s + strcspn(s, "/?#"), *at, *h, *hend, *p;
	long v;

	if (strchr(end, '@') != NULL) {
		/* Most likely a password with a raw '/', '?' or '#': say so
		 * without quoting any of it. */
		snprintf(err, errlen, "redis URL: '@' after the host; "
		    "percent-encode '/', '?', '#' and '@' in the user name "
		    "and password");
		return -1;
	}
	if (*end == '?' || *end == '#') {
		snprintf(err, errlen, "redis URL: unexpected '%c' (the form "
		    "is redis://[user[:password]@]host[:port][/db])", *end);
		return -1;
	}
	/* The last '@' of the authority ends the user information. */
	at = NULL;
	for (p = s; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL) {
		if (parse_userinfo(s, at - s, o, err, errlen) == -1)
			return -1;
		h = at + 1;
	} else
		h = s;

	if (*h == '[') {
		if ((hend = memchr(h, ']', end - h)) == NULL) {
			snprintf(err, errlen, "redis URL: missing ']' after "
			    "the IPv6 address");
			return -1;
		}
		if (hend == h + 1) {
			snprintf(err, errlen, "redis URL: empty IPv6 address");
			return -1;
		}
		o->host = strndup(h + 1, hend - h - 1);
		p = hend + 1;
		if (p < end && *p != ':') {
			snprintf(err, errlen, "redis URL: unexpected text "
			    "after the IPv6 address");
			return -1;
		}
	} else {
		hend = memchr(h, ':', end - h);
		if (hend == NULL)
			hend = end;
		if (hend == h) {
			snprintf(err, errlen, "redis URL: missing host");
			return -1;
		}
		o->host = strndup(h, hend - h);
		p = hend;
	}
	if (o->host == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = o->host; *p != '\0'; p++) {
		if (isalnum((unsigned char)*p) || strchr(".-_:%", *p) != NULL)
			continue;
		snprintf(err, errlen, "redis URL: invalid character in the "
		    "host name");
		return -1;
	}
	p = hend + (*h == '[');
	if (p < end) {          /* *p == ':' */
		p++;
		if (parse_num(p, end - p, 1, 65535, &v) == -1) {
			snprintf(err, errlen, "redis URL: invalid port '%.*s' "
			    "(expected 1-65535)", (int)(end - p), p);
			return -1;
		}
		o->port = (int)v;
	}
	if (*end == '/') {
		p = end + 1;
		if (*p != '\0') {
			if (parse_num(p, strlen(p), 0, INT_MAX, &v) == -1) {
				snprintf(err, errlen, "redis URL: invalid "
				    "database '%s' (expected a number)", p);
				return -1;
			}
			o->db = (int)v;
		}
	}
	return 0;
}

/* Parses the part of a unix:// URL after the scheme: /path[?db=N]. */
static int
parse_unix(const char *s, struct redis_opts *o, char *err, size_t errlen)
{
	const char *q;
	long v;

	if (*s != '/') {
		snprintf(err, errlen, "redis URL: the unix socket path must "
		    "be absolute (unix:///path/to/redis.sock)");
		return -1;
	}
	q = strchr(s, '?');
	if ((q != NULL && q == s + 1) || s[1] == '\0') {
		snprintf(err, errlen, "redis URL: missing unix socket path");
		return -1;
	}
	if ((o->unix_path = strndup(s, q != NULL ? (size_t)(q - s) :
	    strlen(s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (q == NULL)
		return 0;
	q++;
	if (strncmp(q, "db=", 3) != 0) {
		snprintf(err, errlen, "redis URL: unknown query '%s' (only "
		    "db=N is understood)", q);
		return -1;
	}
	if (parse_num(q + 3, strlen(q + 3), 0, INT_MAX, &v) == -1) {
		snprintf(err, errlen, "redis URL: invalid database '%s' "
		    "(expected a number)", q + 3);
		return -1;
	}
	o->db = (int)v;
	return 0;
}

/*
 * Parses redis://[user[:password]@]host[:port][/db] (IPv6 host in
 * brackets; user and password percent-decoded; an empty user or password
 * counts as absent) or unix:///path[?db=N] into o, which is cleared first
 * and gets the default timeouts.  Returns 0, or -1 with a message in err
 * (never quoting a password) and o cleared.
 */
int
redis_opts_parse_url(const char *url, struct redis_opts *o, char *err,
    size_t errlen)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->port = REDIS_DEFAULT_PORT;
	o->connect_timeout_ms = REDIS_DEFAULT_CONNECT_TIMEOUT;
	o->command_timeout_ms = REDIS_DEFAULT_COMMAND_TIMEOUT;
	o->reconnect_max_ms = REDIS_DEFAULT_RECONNECT_MAX;
	if (url == NULL || *url == '\0') {
		snprintf(err, errlen, "redis URL is empty");
		return -1;
	}
	if (strncasecmp(url, "redis://", 8) == 0)
		rc = parse_tcp(url + 8, o, err, errlen);
	else if (strncasecmp(url, "unix://", 7) == 0)
		rc = parse_unix(url + 7, o, err, errlen);
	else if (strncasecmp(url, "rediss://", 9) == 0) {
		snprintf(err, errlen, "redis URL: rediss:// (TLS) is not "
		    "supported; use redis:// or unix://");
		rc = -1;
	} else {
		snprintf(err, errlen, "redis URL: unsupported scheme (expected "
		    "redis://host[:port][/db] or unix:///path)");
		rc = -1;
	}
	if (rc == -1)
		redis_opts_clear(o);
	return rc;
}

/*
 * Fills o from a [redis] section: the URL (default redis://127.0.0.1:
 * 6379/0), then username and password overriding the URL's, then the
 * timeouts when set (> 0).  A user name without a password is refused.
 * Returns 0, or -1 with a message in err and o cleared.
 */
int
redis_opts_from_conf(const struct redis_conf *rc, struct redis_opts *o,
    char *err, size_t errlen)
{
	const char *url = rc->url != NULL ? rc->url : REDIS_DEFAULT_URL;

	if (redis_opts_parse_url(url, o, err, errlen) == -1)
		return -1;
	if (rc->username != NULL && *rc->username != '\0') {
		free(o->username);
		if ((o->username = strdup(rc->username)) == NULL)
			goto oom;
	}
	if (rc->password != NULL && *rc->password != '\0') {
		if (o->password != NULL)
			explicit_bzero(o->password, strlen(o->password));
		free(o->password);
		if ((o->password = strdup(rc->password)) == NULL)
			goto oom;
	}
	if (o->username != NULL && o->password == NULL) {
		snprintf(err, errlen, "redis: a user name needs a password "
		    "(in the URL or the password key)");
		redis_opts_clear(o);
		return -1;
	}
	if (rc->connect_timeout_ms > 0)
		o->connect_timeout_ms = rc->connect_timeout_ms;
	if (rc->command_timeout_ms > 0)
		o->command_timeout_ms = rc->command_timeout_ms;
	if (rc->reconnect_max_ms > 0)
		o->reconnect_max_ms = rc->reconnect_max_ms;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	redis_opts_clear(o);
	return -1;
}

/* ---- public API ----------------------------------------------------- */

static char *
xstrdup_or_null(const char *s, bool *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = true;
	return d;
}

static void
redis_metrics_init(struct redis *r)
{
	struct metric *reconnects, *errors, *seconds, *up;

	/* Registering again returns the same family; cheap and idempotent. */
	reconnects = metric_counter("baton_redis_reconnects_total",
	    "Redis connection attempts after the first", "connection");
	errors = metric_counter("baton_redis_errors_total",
	    "Redis failures by kind: connect, timeout, reply, disconnect",
	    "connection,kind");
	seconds = metric_histogram("baton_redis_command_seconds",
	    "Redis command latency, from send to reply", "connection", NULL,
	    0);
	up = metric_gauge("baton_redis_up",
	    "1 when the Redis connection is up", "connection");
	if (reconnects != NULL)
		r->m_reconnects = metric_series(reconnects, r->name);
	if (errors != NULL) {
		r->m_err_connect = metric_series(errors, r->name, "connect");
		r->m_err_timeout = metric_series(errors, r->name, "timeout");
		r->m_err_reply = metric_series(errors, r->name, "reply");
		r->m_err_disconnect = metric_series(errors, r->name,
		    "disconnect");
	}
	if (seconds != NULL)
		r->m_seconds = metric_series(seconds, r->name);
	if (up != NULL)
		r->m_up = metric_series(up, r->name);
	metric_set(r->m_up, 0);
}

/*
 * Creates the connection and starts the first attempt.  The options are
 * copied; timeouts <= 0 take the defaults.  Returns NULL only when out of
 * memory.
 */
struct redis *
redis_new(struct event_base *base, const struct redis_opts *o,
    const char *name, redis_state_cb state_cb, void *arg)
{
	struct redis *r;
	struct timeval tv = { REDIS_PING_INTERVAL / 1000,
	    (REDIS_PING_INTERVAL % 1000) * 1000 };
	bool fail = false;
	int n;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	TAILQ_INIT(&r->cmds);
	r->base = base;
	r->state_cb = state_cb;
	r->state_arg = arg;
	r->o.host = xstrdup_or_null(o->host, &fail);
	r->o.unix_path = xstrdup_or_null(o->unix_path, &fail);
	r->o.username = xstrdup_or_null(o->username, &fail);
	r->o.password = xstrdup_or_null(o->password, &fail);
	r->o.port = o->port > 0 ? o->port : REDIS_DEFAULT_PORT;
	r->o.db = o->db;
	r->o.connect_timeout_ms = o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms : REDIS_DEFAULT_CONNECT_TIMEOUT;
	r->o.command_timeout_ms = o->command_timeout_ms > 0 ?
	    o->command_timeout_ms : REDIS_DEFAULT_COMMAND_TIMEOUT;
	r->o.reconnect_max_ms = o->reconnect_max_ms > 0 ?
	    o->reconnect_max_ms : REDIS_DEFAULT_RECONNECT_MAX;
	r->name = xstrdup_or_null(name != NULL ? name : "redis", &fail);
	if (r->o.unix_path != NULL)
		n = asprintf(&r->where, "%s", r->o.unix_path);
	else if (r->o.host != NULL && strchr(r->o.host, ':') != NULL)
		n = asprintf(&r->where, "[%s]:%d", r->o.host, r->o.port);
	else
		n = asprintf(&r->where, "%s:%d", r->o.host != NULL ?
		    r->o.host : "127.0.0.1", r->o.port);
	if (n < 0) {
		r->where = NULL;
		fail = true;
	}
	if (r->o.host == NULL && r->o.unix_path == NULL && !fail &&
	    (r->o.host = strdup("127.0.0.1")) == NULL)
		fail = true;
	r->reconnect_ev = evtimer_new(base, reconnect_cb, r);
	r->connect_to_ev = evtimer_new(base, connect_timeout_cb, r);
	r->cmd_to_ev = evtimer_new(base, cmd_timeout_cb, r);
	r->ping_ev = event_new(base, -1, EV_PERSIST, ping_cb, r);
	r->drop_ev = evtimer_new(base, drop_cb, r);
	if (fail || r->reconnect_ev == NULL || r->connect_to_ev == NULL ||
	    r->cmd_to_ev == NULL || r->ping_ev == NULL || r->drop_ev == NULL) {
		redis_free(r);
		return NULL;
	}
	redis_metrics_init(r);
	event_add(r->ping_ev, &tv);
	redis_connect(r);
	return r;
}

bool
redis_is_up(const struct redis *r)
{
	return r != NULL && r->ac != NULL && r->state == R_UP && !r->doomed;
}

/* A user command's record, not yet queued; verb[0..vlen) names it in
 * logs. */
static struct redis_cmd *
user_cmd_new(struct redis *r, int64_t timeout_ms, redis_reply_cb cb,
    void *arg, const char *verb, size_t vlen)
{
	struct redis_cmd *cmd;

	if ((cmd = calloc(1, sizeof(*cmd))) == NULL)
		return NULL;
	cmd->r = r;
	cmd->kind = CMD_USER;
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->gen = r->gen;
	cmd->sent_ms = now_ms();
	cmd->deadline_ms = cmd->sent_ms + (timeout_ms > 0 ? timeout_ms :
	    r->o.command_timeout_ms);
	if (vlen >= sizeof(cmd->verb))
		vlen = sizeof(cmd->verb) - 1;
	for (size_t i = 0; i < vlen; i++)
		cmd->verb[i] = isprint((unsigned char)verb[i]) ?
		    (char)toupper((unsigned char)verb[i]) : '?';
	return cmd;
}

static void
user_cmd_queued(struct redis *r, struct redis_cmd *cmd)
{
	TAILQ_INSERT_TAIL(&r->cmds, cmd, entry);
	r->nuser++;
	if (TAILQ_FIRST(&r->cmds) == cmd)
		cmd_timer_rearm(r);
}

/*
 * Sends one command (see redis.h).  Returns 0 when sent (cb runs exactly
 * once, later), or -1 when not up or out of memory (cb not called).
 */
int
redis_command_argv(struct redis *r, int64_t timeout_ms, redis_reply_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct redis_cmd *cmd;

	if (!redis_is_up(r) || cb == NULL || argc < 1)
		return -1;
	if ((cmd = user_cmd_new(r, timeout_ms, cb, arg, argv[0],
	    argvlen != NULL ? argvlen[0] : strlen(argv[0]))) == NULL)
		return -1;
	if (redisAsyncCommandArgv(r->ac, cmd_cb, cmd, argc, argv, argvlen) !=
	    REDIS_OK) {
		free(cmd);
		return -1;
	}
	user_cmd_queued(r, cmd);
	return 0;
}

/* The printf-like form, with hiredis' format (%s, %b, %d ...). */
int
redis_command(struct redis *r, redis_reply_cb cb, void *arg,
    const char *fmt, ...)
{
	struct redis_cmd *cmd;
	char *buf = NULL;
	va_list ap;
	int len, rc;

	if (!redis_is_up(r) || cb == NULL)
		return -1;
	va_start(ap, fmt);
	len = redisvFormatCommand(&buf, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	if ((cmd = user_cmd_new(r, 0, cb, arg, fmt, strcspn(fmt, " %"))) ==
	    NULL) {
		redisFreeCommand(buf);
		return -1;
	}
	rc = redisAsyncFormattedCommand(r->ac, cmd_cb, cmd, buf, len);
	redisFreeCommand(buf);
	if (rc != REDIS_OK) {
		free(cmd);
		return -1;
	}
	user_cmd_queued(r, cmd);
	return 0;
}

size_t
redis_pending(const struct redis *r)
{
	return r != NULL ? r->nuser : 0;
}

/*
 * Disconnects and frees.  Every pending callback runs with NULL before
 * this returns (hiredis runs them while the context is freed).  NULL and
 * a half-built connection are fine.
 */
void
redis_free(struct redis *r)
{
	struct redis_cmd *cmd;
	bool was_up;

	if (r == NULL)
		return;
	was_up = redis_is_up(r);
	r->state_cb = NULL;             /* no state change reports now */
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;

		ac->data = NULL;
		r->ac = NULL;
		r->doomed = true;
		r->state = R_DOWN;
		r->in_cb++;
		redisAsyncFree(ac);
		r->in_cb--;
	}
	/* Cannot happen (the FIFO mirrors hiredis' queue), but a callback
	 * must never be lost. */
	while ((cmd = TAILQ_FIRST(&r->cmds)) != NULL) {
		TAILQ_REMOVE(&r->cmds, cmd, entry);
		if (cmd->kind == CMD_USER)
			cmd->cb(NULL, cmd->arg);
		free(cmd);
	}
	if (was_up)
		redis_set_up_gauge(r, false);
	if (r->reconnect_ev != NULL)
		event_free(r->reconnect_ev);
	if (r->connect_to_ev != NULL)
		event_free(r->connect_to_ev);
	if (r->cmd_to_ev != NULL)
		event_free(r->cmd_to_ev);
	if (r->ping_ev != NULL)
		event_free(r->ping_ev);
	if (r->drop_ev != NULL)
		event_free(r->drop_ev);
	redis_opts_clear(&r->o);
	free(r->name);
	free(r->where);
	free(r);
}
