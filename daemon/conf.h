/*
 * conf.h (daemon) - applies key tables (include/baton/conf.h) to INI
 * sections, and resolves env:/file:/credential: values.
 */
#ifndef BATON_DAEMON_CONF_H
#define BATON_DAEMON_CONF_H

#include <baton/conf.h>

#include "diag.h"
#include "ini.h"

/*
 * Checks `sec` against one or more tables (searched in order; the first
 * holding a key wins) and stores parsed values into ctx.  Defaults are
 * applied first; every problem is added to d as FILE:LINE: message:
 * unknown key (with the closest known key suggested when one is close),
 * missing required key, a repeated key that is not a list, a value that
 * does not parse, an inline CONF_SECRET in a file readable by group or
 * others.  Keys named in `skip` (NULL-terminated, may be NULL) are left
 * for the caller.  Returns 0 when no problem was found, else -1; values
 * that did parse are stored either way and must be released.
 */
int conf_apply(const struct ini_section *sec,
    const struct conf_key *const *tables, void *ctx,
    const char *const *skip, struct diag *d);

/* Frees every string, list and map that conf_apply stored in ctx for the
 * keys of `table`, and zeroes those fields.  Safe on a half-applied ctx. */
void conf_release(const struct conf_key *table, void *ctx);

/*
 * Resolves one raw value: "env:VAR" (the variable must be set),
 * "file:/path" (the file's contents, one trailing newline removed),
 * "credential:NAME" ($CREDENTIALS_DIRECTORY/NAME; NAME has no '/'),
 * anything else is returned as is.  *inline_value is set to 1 when the
 * value was written inline.  Returns a malloc'd string, or NULL with a
 * message in err.
 */
char *conf_resolve_value(const char *raw, int *inline_value, char *err,
    size_t errlen);

/* Finds the entry for key in sec (the last one when repeated); NULL when
 * absent. */
const struct ini_entry *conf_entry(const struct ini_section *sec,
    const char *key);

#endif
