/*
 * ctl.h - what batonctl's verbs share: the default configuration path,
 * reading the [redis] section alone, a verb's Redis session and small
 * helpers (ctl_util.c), and the verbs' entry points.
 *
 * Each verb takes its own argv (argv[0] is the verb's name), parses its
 * options, and returns the process exit status: 0 success, 1 a runtime
 * failure (configuration, Redis), 2 a usage error.
 */
#ifndef BATON_CTL_H
#define BATON_CTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <baton/log.h>

#include "config.h"

struct event;
struct event_base;
struct redis;
struct redisReply;

#define CTL_DEFAULT_CONFIG "/etc/baton/batond.conf"

/*
 * Reads only the [redis] section of the configuration at path (its
 * defaults when the section is absent), so that a verb that needs Redis
 * does not need every connector's secrets.  Prints every problem as
 * FILE:LINE: message to stderr.  Returns 0 with rc filled (release it
 * with ctl_redis_conf_release), or -1.
 */
int ctl_redis_conf(const char *path, struct redis_conf *rc);
void ctl_redis_conf_release(struct redis_conf *rc);

/* ---- shared by the verbs (ctl_util.c) --------------------------------- */

/*
 * One verb's run: its configuration, its libevent loop, its Redis
 * connection (redis.c), SIGINT/SIGTERM and the connect timeout.  The
 * verb's state_cb runs each time the connection comes up or goes down
 * (never once the session is finished); the verb sends its commands from
 * there and ends the loop with ctl_session_finish() or _fail().
 */
struct ctl_session {
	struct event_base *base;
	struct redis *r;
	const char *verb;               /* "tail", for messages */
	char *prefix;                   /* [redis] prefix (owned) */
	char where[300];                /* the Redis address, for messages */
	int64_t connect_timeout_ms;
	int64_t command_timeout_ms;
	int signal_rc;                  /* exit status on SIGINT/SIGTERM
	                                   (default 130) */
	void (*state_cb)(bool up, void *arg);
	void *arg;
	struct event *sigint, *sigterm, *cto;   /* (owned) */
	bool ever_up;                   /* has been up once */
	bool done;                      /* finished: callbacks are quiet */
	int rc;                         /* exit status */
};

/*
 * Reads the [redis] section of config_path and starts connecting.  On
 * failure prints why (batonctl: ...) and returns -1; either way release
 * the session with ctl_session_close().  state_cb and arg are the verb's.
 */
int ctl_session_open(struct ctl_session *s, const char *config_path,
    const char *verb, void (*state_cb)(bool up, void *arg), void *arg);

/* Runs the loop until the session finishes.  Returns its exit status. */
int ctl_session_run(struct ctl_session *s);

/* Ends the loop with exit status rc (the first call wins). */
void ctl_session_finish(struct ctl_session *s, int rc);

/* Prints "batonctl VERB: <message>" to stderr and finishes with 1 (only
 * the first failure is printed). */
void ctl_session_fail(struct ctl_session *s, const char *fmt, ...)
    BATON_PRINTF(2, 3);
void ctl_session_vfail(struct ctl_session *s, const char *fmt, va_list ap)
    BATON_PRINTF(2, 0);

/* Disconnects (pending callbacks run with NULL while done is set) and
 * frees everything the session owns.  Safe on a half-opened session. */
void ctl_session_close(struct ctl_session *s);

/* Parses a stream entry ID "ms-seq".  Returns 0 or -1. */
int ctl_parse_id(const char *s, uint64_t *ms, uint64_t *seq);

/*
 * The field/value array of a stream entry (XRANGE's [f, v, ...]) as a
 * JSON object of strings (bytes that are not UTF-8 kept as they are);
 * non-string elements are skipped.  Returns a new object or NULL (out of
 * memory).
 */
json_t *ctl_entry_fields(const struct redisReply *flat);

/* A field of such an object: its string, NULL when absent or empty. */
const char *ctl_field(const json_t *fields, const char *name);

/*
 * The time `dur` ("30s", "5m", "7d"; conf_parse_duration) before now_ms,
 * clamped at 0, into *from_ms.  Returns 0, or -1 for a malformed or
 * negative duration.
 */
int ctl_since_ms(const char *dur, int64_t now_ms, int64_t *from_ms);

/*
 * A number for people: integral values without decimals ("75", "-10"),
 * others with up to two ("37.5", "0.33").  Writes into out (>= 32 bytes).
 */
void ctl_format_number(double v, char *out, size_t outlen);

/*
 * A duration for people, its two largest units: "850ms", "12s", "4m 5s",
 * "3h 12m", "2d 4h".  Negative durations print with a leading '-'.
 * Writes into out (>= 32 bytes).
 */
void ctl_format_duration(int64_t ms, char *out, size_t outlen);

/* Writes a JSON value compactly (sorted keys) and a newline to stdout.
 * Returns 0 or -1 (out of memory). */
int ctl_print_json(const json_t *v);

/* Flushes stdout.  Returns 0, or -1 with errno set (EPIPE: the reader went
 * away). */
int ctl_flush(void);

/* ---- the verbs ------------------------------------------------------- */

/* batonctl tail [STREAM...] [-f] [--lead EMAIL] [--type GLOB]
 * [--since DUR|ID] [-n N] [--json] */
int ctl_tail(const char *config_path, int argc, char **argv);

/* batonctl lead EMAIL [--json] */
int ctl_lead(const char *config_path, int argc, char **argv);

/* batonctl stats [--since DUR] [--json] */
int ctl_stats(const char *config_path, int argc, char **argv);

/* batonctl dlq list [--connector NAME] [-n N] [--json] |
 * replay [--connector NAME] [ID...] | drop ID... */
int ctl_dlq(const char *config_path, int argc, char **argv);

/* `batonctl refs`: PREFIX:ref:* for leads whose ids predate them. */
int ctl_refs(const char *config_path, int argc, char **argv);

/* ---- stats' computations (ctl_stats.c), pure for tests ---------------- */

/*
 * The median of v[0..n-1] (sorted in place): the middle value, or the
 * mean of the two middle ones (rounded down) for an even n.  -1 when n is
 * 0.
 */
int64_t ctl_stats_median(int64_t *v, size_t n);

/*
 * num/den as a percentage with one decimal ("16.7%") into out (>= 16
 * bytes); "-" when den is 0.  Returns the percentage, or -1 when den is
 * 0.
 */
double ctl_stats_rate(long long num, long long den, char *out,
    size_t outlen);

/*
 * The top entries of a histogram (an object: name -> integer count): at
 * most max of them, by count (highest first) then name, as a new array
 * of {"reason": name, "count": n}.  NULL when out of memory.
 */
json_t *ctl_stats_top(const json_t *hist, size_t max);

#endif
