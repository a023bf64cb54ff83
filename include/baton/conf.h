/*
 * conf.h - configuration key tables, shared by the core and connectors.
 *
 * Every section of batond.conf ([daemon], [redis], [connector NAME]) is
 * described by a {0}-terminated table of struct conf_key: the key's name,
 * its type, its default, and where in a context struct its value goes.
 * One core call (conf_apply in daemon/conf.h) checks a section against a
 * table: unknown keys, missing required keys, repeated non-list keys and
 * unparsable values are reported as "FILE:LINE: message", and parsed values
 * are stored in the context.  Connectors never parse their own keys.
 *
 * Field types by conf_type (the struct member at `offset` must be this):
 *   CONF_STRING, CONF_SECRET  char *             (NULL when unset, no default)
 *   CONF_BOOL                 bool               yes|no|true|false|on|off|1|0
 *   CONF_INT                  long long          decimal, within [min, max]
 *   CONF_DURATION             int64_t            milliseconds: 500ms 30s 5m 24h 7d
 *   CONF_SIZE                 uint64_t           bytes: 512, 64KiB, 1MiB, 1GiB
 *   CONF_LIST                 struct conf_list   a key that may repeat
 *   CONF_MAP                  struct conf_map    every "NAME.<sub> = value"
 *
 * Values of every type may be written env:VAR, file:/path or
 * credential:NAME; the core resolves them before parsing.  A CONF_SECRET
 * written inline in a file readable by group or others is refused.
 * The core owns every string, list and map it stores; conf_release()
 * frees them.  A connector's destroy callback frees only what it added.
 */
#ifndef BATON_CONF_H
#define BATON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_type {
	CONF_STRING = 1,
	CONF_SECRET,
	CONF_BOOL,
	CONF_INT,
	CONF_DURATION,
	CONF_SIZE,
	CONF_LIST,
	CONF_MAP,
};

#define CONF_REQUIRED 0x1u      /* absent key is an error */

struct conf_key {
	const char *name;       /* "secret"; for CONF_MAP the prefix: "map" */
	enum conf_type type;
	const char *def;        /* default in config syntax, or NULL */
	size_t offset;          /* offsetof(ctx struct, field) */
	unsigned flags;         /* CONF_REQUIRED */
	long long min, max;     /* CONF_INT bounds; both 0 means unbounded */
	const char *desc;       /* one line, for documentation */
};

/* Where a value was written, for messages that point at it. */
struct conf_where {
	const char *file;       /* borrowed from the loaded document */
	int line;
};

struct conf_list {
	size_t n;
	char **v;               /* owned strings, in file order */
	struct conf_where *where;
};

struct conf_map_entry {
	char *key;              /* after the prefix: "email", "custom.plan" */
	char *value;
	struct conf_where where;
};

struct conf_map {
	size_t n;
	struct conf_map_entry *v;       /* owned, in file order */
};

/*
 * Parses a duration ("500ms", "30s", "5m", "24h", "7d"; a bare number is
 * seconds) into milliseconds.  Returns 0, or -1 for a malformed or
 * overflowing value.
 */
int conf_parse_duration(const char *s, int64_t *ms);

/* Parses a size ("512", "64KiB", "1MiB", "1GiB"; also KB/MB/GB as the same
 * binary units) into bytes.  Returns 0 or -1. */
int conf_parse_size(const char *s, uint64_t *bytes);

/* Parses yes|no|true|false|on|off|1|0.  Returns 0 or -1. */
int conf_parse_bool(const char *s, bool *out);

/* Looks up one entry of a map by its key; NULL when absent. */
const struct conf_map_entry *conf_map_get(const struct conf_map *m,
    const char *key);

#endif
