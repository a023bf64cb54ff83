/*
 * log.h - batond's one logging vocabulary, shared by the core and connectors.
 *
 * Lines go to stderr, each prefixed with its sd-daemon priority ("<3>",
 * "<6>", ...) so that journald keeps the level when batond runs under
 * systemd.  log_warn() appends strerror(errno); log_warnx() does not.
 * fatal()/fatalx() are for start-up failures and broken invariants only.
 */
#ifndef BATON_LOG_H
#define BATON_LOG_H

#include <stdarg.h>

#define LOG_LEVEL_ERR     3
#define LOG_LEVEL_WARNING 4
#define LOG_LEVEL_NOTICE  5
#define LOG_LEVEL_INFO    6
#define LOG_LEVEL_DEBUG   7

#define BATON_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The program name on plain lines (default "batond"); not copied. */
void log_set_ident(const char *ident);

/* Lines above this priority number are dropped (default LOG_LEVEL_INFO). */
void log_set_level(int level);
int log_get_level(void);

/*
 * Parses "debug|info|notice|warning|err" into a LOG_LEVEL_* value.
 * Returns the level, or -1 for an unknown name.
 */
int log_level_parse(const char *name);

/* When set (the default unless stderr is the journal), lines carry no
 * "<N>" prefix but a level word, for a person reading a terminal. */
void log_set_plain(int plain);

void log_msg(int level, const char *fmt, ...) BATON_PRINTF(2, 3);
void log_vmsg(int level, const char *fmt, va_list ap) BATON_PRINTF(2, 0);

void log_err(const char *fmt, ...) BATON_PRINTF(1, 2);   /* + strerror */
void log_errx(const char *fmt, ...) BATON_PRINTF(1, 2);
void log_warn(const char *fmt, ...) BATON_PRINTF(1, 2);  /* + strerror */
void log_warnx(const char *fmt, ...) BATON_PRINTF(1, 2);
void log_notice(const char *fmt, ...) BATON_PRINTF(1, 2);
void log_info(const char *fmt, ...) BATON_PRINTF(1, 2);
void log_debug(const char *fmt, ...) BATON_PRINTF(1, 2);

/* Logs at LOG_LEVEL_ERR and exits 1.  Before the loop starts only. */
void fatal(const char *fmt, ...) BATON_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) BATON_PRINTF(1, 2) __attribute__((noreturn));

#endif
