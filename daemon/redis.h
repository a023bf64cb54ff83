/*
 * redis.h - one asynchronous Redis connection on the libevent loop that
 * keeps itself connected.
 *
 * Built on hiredis' async API and its libevent adapter.  The connection
 * authenticates (AUTH [user] password) and selects its database before it
 * counts as up; it reconnects from a timer with capped exponential backoff
 * and jitter; a connect that takes longer than connect_timeout and a
 * command unanswered after its timeout drop the connection (hiredis 0.14,
 * Debian 12's, has no timeouts of its own).  Every callback of a command
 * that was accepted runs exactly once: with the reply, or with NULL when
 * the connection failed, timed out or was freed.  A reply is valid only
 * during its callback.
 */
#ifndef BATON_REDIS_H
#define BATON_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct redisReply;
struct redis_conf;
struct redis;

struct redis_opts {
	char *host;                     /* TCP host, or NULL with unix_path */
	int port;
	char *unix_path;                /* unix socket path, or NULL */
	int db;
	char *username;                 /* NULL: AUTH with password only */
	char *password;                 /* NULL: no AUTH */
	int64_t connect_timeout_ms;
	int64_t command_timeout_ms;     /* default per-command timeout */
	int64_t reconnect_max_ms;       /* backoff cap */
};

/*
 * Fills o from a [redis] config: parses url (redis://[user[:password]@]
 * host[:port][/db] or unix:///path[?db=N]), username and password keys
 * override the URL's.  Returns 0, or -1 with a message in err.  Free with
 * redis_opts_clear().
 */
int redis_opts_from_conf(const struct redis_conf *rc, struct redis_opts *o,
    char *err, size_t errlen);
int redis_opts_parse_url(const char *url, struct redis_opts *o, char *err,
    size_t errlen);
void redis_opts_clear(struct redis_opts *o);

typedef void (*redis_reply_cb)(struct redisReply *reply, void *arg);
typedef void (*redis_state_cb)(bool up, void *arg);

/*
 * Creates the connection and starts connecting.  `name` ("intake",
 * "tail") labels log lines and metrics.  state_cb (may be NULL) runs each
 * time the connection comes up or goes down.  The options are copied.
 * Returns NULL only when out of memory.
 */
struct redis *redis_new(struct event_base *base, const struct redis_opts *o,
    const char *name, redis_state_cb state_cb, void *arg);

/* True once connected, authenticated and on the right database. */
bool redis_is_up(const struct redis *r);

/*
 * Sends one command.  timeout_ms 0 means the default; a blocking command
 * (XREAD BLOCK n) passes its block time plus a margin.  Returns 0 when
 * sent (cb will run exactly once), or -1 when the connection is not up
 * (cb is not called).
 */
int redis_command_argv(struct redis *r, int64_t timeout_ms, redis_reply_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen);

/* printf-like form of redis_command_argv (hiredis' format). */
int redis_command(struct redis *r, redis_reply_cb cb, void *arg,
    const char *fmt, ...);

/* Commands sent and not yet answered. */
size_t redis_pending(const struct redis *r);

/* Disconnects; every pending callback runs with NULL before it returns.
 * NULL is a no-op.  Not from inside one of this connection's callbacks. */
void redis_free(struct redis *r);

#endif
