/*
 * notify.h - telling systemd how batond is doing (the sd_notify(3)
 * protocol), without libsystemd.
 *
 * Under a Type=notify unit systemd passes NOTIFY_SOCKET (a unix datagram
 * socket: a path, or an abstract name written with a leading '@') and,
 * with WatchdogSec=, WATCHDOG_USEC (and WATCHDOG_PID).  batond sends
 * newline-separated VAR=value assignments there: READY=1 once the
 * listener is bound and the configuration loaded, RELOADING=1 with
 * MONOTONIC_USEC= then READY=1 around a SIGHUP, STOPPING=1 on shutdown,
 * STATUS= lines for `systemctl status`, and WATCHDOG=1 keep-alives.
 *
 * The socket is process-wide, like the variables it comes from, so the
 * sending functions take no handle.  Without NOTIFY_SOCKET every call is a
 * no-op that succeeds: batond behaves the same outside systemd.  The
 * environment is read, never unset.  Nothing here blocks: a datagram the
 * socket cannot take at once is lost, as sd_notify's would be.
 *
 * struct notify_watch is the part that runs on the loop: the watchdog
 * keep-alive and the periodic STATUS= line.
 */
#ifndef BATON_NOTIFY_H
#define BATON_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct runtime;
struct notify_watch;

/*
 * Reads NOTIFY_SOCKET and opens the socket batond sends from.  Returns 0
 * (also when the variable is unset or empty: nothing will be sent), or
 * -1 having logged why (an address batond cannot use, such as a relative
 * path or vsock:; systemd will then not hear READY=1).
 */
int notify_open(void);

/* Closes the socket; later sends are no-ops.  Safe to call twice. */
void notify_close(void);

/* True when notify_open() found a socket to send to. */
bool notify_enabled(void);

/*
 * Sends one datagram holding state, e.g. "READY=1\nSTATUS=up".  Returns 0
 * when sent or when there is no socket, -1 when the send failed (logged,
 * once per distinct errno in a row).
 */
int notify_send(const char *state);

/* READY=1 with STATUS=status (NULL: none). */
int notify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now> (systemd >= 253
 * needs it to match the reload with its SIGHUP) and a STATUS= line. */
int notify_reloading(void);

/* STOPPING=1 with a STATUS= line. */
int notify_stopping(void);

/* STATUS=status, sent only when it differs from the last STATUS= this
 * module sent (any of the functions above). */
int notify_status(const char *status);

/*
 * The watchdog interval systemd expects keep-alives within, in
 * microseconds: WATCHDOG_USEC when it is set, positive, and meant for
 * this process (WATCHDOG_PID unset or equal to getpid()); else 0.
 */
uint64_t notify_watchdog_usec(void);

/* CLOCK_MONOTONIC in microseconds, the clock of MONOTONIC_USEC=. */
uint64_t notify_monotonic_usec(void);

/*
 * Writes rt's one-line state into buf: connectors up, Redis, the rules
 * group's lag on PREFIX:events, e.g. "2 connectors up, redis up, rules
 * lag 0".  Always NUL-terminates (len > 0).
 */
void notify_describe(const struct runtime *rt, char *buf, size_t len);

/*
 * Starts the loop's part on rt->base: WATCHDOG=1 every half watchdog
 * interval, sent only while rt's loop heartbeat is fresh (so a loop that
 * stops beating is restarted by systemd), and notify_status() with
 * notify_describe() every NOTIFY_STATUS_INTERVAL_MS.  With no socket it
 * arms nothing.  Returns the watch (free it before rt's loop), or NULL
 * when out of memory (logged).
 */
#define NOTIFY_STATUS_INTERVAL_MS 2000
#define NOTIFY_BEAT_FRESH_MS      3000
struct notify_watch *notify_watch_new(struct runtime *rt);

/* Stops the timers and frees the watch.  NULL is a no-op. */
void notify_watch_free(struct notify_watch *w);

#endif
