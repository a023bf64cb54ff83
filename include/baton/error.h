/*
 * error.h - filling the error message that goes with a returned error
 * code (errors are values: a function returns 0 or -1 and says why in a
 * caller's buffer).  Shared by the core and connectors.
 */
#ifndef BATON_ERROR_H
#define BATON_ERROR_H

#include <stddef.h>

#include <baton/log.h>

/* Formats into err (always NUL-terminated when errlen > 0); a NULL err
 * or a zero errlen is allowed and ignored. */
void error_set(char *err, size_t errlen, const char *fmt, ...)
    BATON_PRINTF(3, 4);

#endif
