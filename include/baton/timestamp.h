/*
 * timestamp.h - event times as sources write them: epoch seconds, epoch
 * milliseconds (numbers or digit strings) and RFC 3339 text, all turned
 * into milliseconds since the epoch.
 */
#ifndef BATON_TIMESTAMP_H
#define BATON_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Parses RFC 3339 ("2026-11-23T14:28:04Z", "...04.123+01:00", lower-case
 * t/z and a space separator accepted).  Returns 0 or -1.
 */
int timestamp_parse_rfc3339(const char *s, int64_t *ms);

/*
 * Interprets a JSON value as a time: an integer or real below 1e11 is
 * epoch seconds, otherwise epoch milliseconds; a string of digits (with an
 * optional fraction) the same; any other string RFC 3339.  Times before
 * 1970 or after 9999 are refused.  Returns 0, or -1 with a message in err.
 */
int timestamp_from_json(const json_t *v, int64_t *ms, char *err,
    size_t errlen);

/* Current wall-clock time in milliseconds since the epoch. */
int64_t timestamp_now_ms(void);

/* Formats ms as RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void timestamp_format(int64_t ms, char *out, size_t outlen);

#endif
