/*
 * diag.h - a list of configuration problems, each "FILE:LINE: message" or
 * "FILE:LINE:COL: message".
 *
 * Loading a configuration collects every problem rather than stopping at the
 * first, so that `batond --check` shows them all at once.
 */
#ifndef BATON_DIAG_H
#define BATON_DIAG_H

#include <stddef.h>
#include <stdio.h>

#include <baton/log.h>

struct diag {
	char **msgs;            /* owned, formatted lines without newline */
	size_t n, cap;
	size_t dropped;         /* messages lost to allocation failure */
};

/* Adds a message; file may be NULL (then only the message), line 0 means
 * no line, col 0 means no column.  Allocation failure drops the message
 * but still counts it. */
void diag_add(struct diag *d, const char *file, int line, const char *fmt,
    ...) BATON_PRINTF(4, 5);
void diag_add_col(struct diag *d, const char *file, int line, int col,
    const char *fmt, ...) BATON_PRINTF(5, 6);

/* Number of problems collected. */
size_t diag_count(const struct diag *d);

/* Writes every message, one per line, to fp. */
void diag_print(const struct diag *d, FILE *fp);

/* Logs every message at warning level (used by SIGHUP reload). */
void diag_log(const struct diag *d);

/* Frees the messages; the struct itself may be reused afterwards. */
void diag_clear(struct diag *d);

#endif
