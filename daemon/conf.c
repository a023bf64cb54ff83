/*
 * conf.c - applies key tables (include/baton/conf.h) to INI sections.
 *
 * conf_apply() is the one place where configuration values are checked
 * and stored: defaults first, then every entry of the section, each one
 * resolved (env:, file:, credential:) and parsed by its key's type.  Every
 * problem becomes a "FILE:LINE: message" in the caller's struct diag, so
 * connectors never parse or report their own keys.  Also here: the value
 * parsers for durations, sizes and booleans.
 */
#include "conf.h"
#include "file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_FILE_VALUE     (64 * 1024)     /* file:, credential: */

/* ---- Value parsers ---------------------------------------------------- */

/* Parses a run of decimal digits at *sp into *v (no sign).  Returns 0 and
 * advances *sp, or -1 for no digits or overflow. */
static int
parse_digits(const char **sp, uint64_t *v)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*sp = s;
	*v = n;
	return 0;
}

/*
 * Parses "500ms", "30s", "5m", "24h", "7d" or a bare number of seconds
 * into milliseconds.  Returns 0, or -1 for an empty, signed, malformed or
 * overflowing value.
 */
int
conf_parse_duration(const char *s, int64_t *ms)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t n;

	if (s == NULL || parse_digits(&s, &n) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (n > (uint64_t)INT64_MAX / units[i].ms)
			return -1;
		*ms = (int64_t)(n * units[i].ms);
		return 0;
	}
	return -1;
}

/*
 * Parses "512", "512B", "64KiB", "1MiB", "1GiB", "1TiB" (KB, MB, GB, TB and
 * K, M, G, T mean the same binary units; case does not matter) into bytes.
 * Returns 0, or -1 for a malformed or overflowing value.
 */
int
conf_parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kb", 1ULL << 10 }, { "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 },
		{ "t", 1ULL << 40 }, { "tb", 1ULL << 40 }, { "tib", 1ULL << 40 },
	};
	uint64_t n;

	if (s == NULL || parse_digits(&s, &n) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(s, units[i].unit) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mult)
			return -1;
		*bytes = n * units[i].mult;
		return 0;
	}
	return -1;
}

/* Parses yes|no|true|false|on|off|1|0 (any case).  Returns 0 or -1. */
int
conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Parses a decimal integer (optional sign) into *v.  Returns 0 or -1. */
static int
parse_int(const char *s, long long *v)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

/* ---- Value resolution ------------------------------------------------- */

/*
 * Reads a small regular file for file: and credential:.  Returns a
 * malloc'd string without one trailing newline, or NULL with err set.
 */
static char *
read_value_file(const char *what, const char *path, char *err,
    size_t errlen)
{
	char *buf, why[256];
	size_t len;

	buf = file_read(path, CONF_MAX_FILE_VALUE, &len, NULL, why,
	    sizeof(why));
	if (buf == NULL) {
		snprintf(err, errlen, "%s '%s': %s", what, path, why);
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s '%s' contains a NUL byte", what,
		    path);
		free(buf);
		return NULL;
	}
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return buf;
}

/*
 * Resolves env:VAR, file:/path and credential:NAME; anything else is
 * copied and flagged inline.  Returns a malloc'd string, or NULL with a
 * message in err.
 */
char *
conf_resolve_value(const char *raw, int *inline_value, char *err,
    size_t errlen)
{
	const char *v, *dir;
	char *path, *out;

	*inline_value = 0;
	if (strncmp(raw, "env:", 4) == 0) {
		v = raw + 4;
		if (*v == '\0') {
			snprintf(err, errlen, "env: needs a variable name");
			return NULL;
		}
		if ((out = getenv(v)) == NULL) {
			snprintf(err, errlen,
			    "environment variable '%s' is not set", v);
			return NULL;
		}
		if ((out = strdup(out)) == NULL)
			snprintf(err, errlen, "out of memory");
		return out;
	}
	if (strncmp(raw, "file:", 5) == 0) {
		v = raw + 5;
		if (*v != '/') {
			snprintf(err, errlen, "file: needs an absolute path, "
			    "got '%s'", v);
			return NULL;
		}
		return read_value_file("file:", v, err, errlen);
	}
	if (strncmp(raw, "credential:", 11) == 0) {
		v = raw + 11;
		if (*v == '\0' || strchr(v, '/') != NULL ||
		    strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
			snprintf(err, errlen, "credential: needs a name "
			    "without '/', got '%s'", v);
			return NULL;
		}
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || *dir == '\0') {
			snprintf(err, errlen, "credential:%s needs "
			    "$CREDENTIALS_DIRECTORY (set by systemd for "
			    "LoadCredential=), which is not set", v);
			return NULL;
		}
		if (asprintf(&path, "%s/%s", dir, v) < 0) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		out = read_value_file("credential:", path, err, errlen);
		free(path);
		return out;
	}
	*inline_value = 1;
	if ((out = strdup(raw)) == NULL)
		snprintf(err, errlen, "out of memory");
	return out;
}

/* ---- Tables ----------------------------------------------------------- */

/* The field of key k in ctx. */
#define FIELD(ctx, k) ((char *)(ctx) + (k)->offset)

/* Frees a string, wiping it first when it may hold a secret. */
static void
free_value(char *s, int secret)
{
	if (s == NULL)
		return;
	if (secret)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void
list_release(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->where);
	memset(l, 0, sizeof(*l));
}

static void
map_release(struct conf_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/*
 * Frees what conf_apply stored for the keys of table in ctx (strings,
 * lists, maps) and zeroes those fields.  Safe on a half-applied ctx and
 * with a NULL table.
 */
void
conf_release(const struct conf_key *table, void *ctx)
{
	const struct conf_key *k;

	if (table == NULL || ctx == NULL)
		return;
	for (k = table; k->name != NULL; k++) {
		switch (k->type) {
		case CONF_STRING:
		case CONF_SECRET:
			free_value(*(char **)FIELD(ctx, k),
			    k->type == CONF_SECRET);
			*(char **)FIELD(ctx, k) = NULL;
			break;
		case CONF_LIST:
			list_release((struct conf_list *)FIELD(ctx, k));
			break;
		case CONF_MAP:
			map_release((struct conf_map *)FIELD(ctx, k));
			break;
		default:
			break;
		}
	}
}

/* The last entry for key in sec, or NULL. */
const struct ini_entry *
conf_entry(const struct ini_section *sec, const char *key)
{
	const struct ini_entry *e, *found = NULL;

	if (sec == NULL)
		return NULL;
	for (e = sec->entries; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			found = e;
	return found;
}

/* The map entry for key, or NULL. */
const struct conf_map_entry *
conf_map_get(const struct conf_map *m, const char *key)
{
	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].key, key) == 0)
			return &m->v[i];
	return NULL;
}

/* Edit distance (insert, delete, substitute, swap neighbours), capped:
 * anything above 3 is returned as 4. */
static int
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int d[33][33];

	if (la > 32 || lb > 32 || la > lb + 3 || lb > la + 3)
		return 4;       /* too far apart to be a typo */
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] > 3 ? 4 : d[la][lb];
}

/* The known key closest to an unknown one, or NULL when none is close
 * enough to be a plausible typo (short keys need a closer match). */
static const char *
suggest(const struct conf_key *const *tables, const char *key)
{
	size_t len = strlen(key);
	int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3, bestd = limit + 1;
	const char *best = NULL;

	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct conf_key *k = tables[t]; k->name; k++) {
			int dist = edit_distance(key, k->name);

			if (dist < bestd) {
				best = k->name;
				bestd = dist;
			}
		}
	return best;
}

/* "[kind]" or "[kind name]" for messages. */
static void
section_label(const struct ini_section *sec, char *buf, size_t len)
{
	if (sec->name != NULL)
		snprintf(buf, len, "[%s %s]", sec->kind, sec->name);
	else
		snprintf(buf, len, "[%s]", sec->kind);
}

/* The name of a type and, after it, what a valid value looks like. */
static void
type_help(enum conf_type t, const char **name, const char **hint)
{
	*hint = "";
	switch (t) {
	case CONF_BOOL:
		*name = "boolean";
		*hint = " (expected yes or no)";
		break;
	case CONF_INT:
		*name = "integer";
		break;
	case CONF_DURATION:
		*name = "duration";
		*hint = " (expected e.g. 500ms, 30s, 5m, 24h, 7d)";
		break;
	case CONF_SIZE:
		*name = "size";
		*hint = " (expected e.g. 512, 64KiB, 1MiB, 1GiB)";
		break;
	default:
		*name = "value";
		break;
	}
}

/*
 * Parses value v for key k into ctx.  For lists and maps sub is the map
 * key (NULL for lists) and where the entry's location.  Returns 0, or -1
 * with a message in err (the caller adds FILE:LINE).
 */
static int
store_value(const struct conf_key *k, void *ctx, const char *sub,
    char *v, struct conf_where where, char *err, size_t errlen)
{
	const char *tname, *hint;
	long long n;
	bool b;

	switch (k->type) {
	case CONF_STRING:
	case CONF_SECRET:
		free_value(*(char **)FIELD(ctx, k), k->type == CONF_SECRET);
		*(char **)FIELD(ctx, k) = v;
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(v, &b) == -1)
			goto bad;
		*(bool *)FIELD(ctx, k) = b;
		break;
	case CONF_INT:
		if (parse_int(v, &n) == -1)
			goto bad;
		if ((k->min != 0 || k->max != 0) &&
		    (n < k->min || n > k->max)) {
			if (k->max == LLONG_MAX)
				snprintf(err, errlen, "'%s' must be at least "
				    "%lld, got %lld", k->name, k->min, n);
			else if (k->min == LLONG_MIN)
				snprintf(err, errlen, "'%s' must be at most "
				    "%lld, got %lld", k->name, k->max, n);
			else
				snprintf(err, errlen, "'%s' must be between "
				    "%lld and %lld, got %lld", k->name, k->min,
				    k->max, n);
			free(v);
			return -1;
		}
		*(long long *)FIELD(ctx, k) = n;
		break;
	case CONF_DURATION:
		if (conf_parse_duration(v, (int64_t *)FIELD(ctx, k)) == -1)
			goto bad;
		break;
	case CONF_SIZE:
		if (conf_parse_size(v, (uint64_t *)FIELD(ctx, k)) == -1)
			goto bad;
		break;
	case CONF_LIST: {
		struct conf_list *l = (struct conf_list *)FIELD(ctx, k);
		char **nv;
		struct conf_where *nw;

		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (nv == NULL)
			goto oom;
		l->v = nv;
		nw = realloc(l->where, (l->n + 1) * sizeof(*nw));
		if (nw == NULL)
			goto oom;
		l->where = nw;
		l->v[l->n] = v;
		l->where[l->n] = where;
		l->n++;
		return 0;
	}
	case CONF_MAP: {
		struct conf_map *m = (struct conf_map *)FIELD(ctx, k);
		struct conf_map_entry *nv;
		char *key;

		if ((key = strdup(sub)) == NULL)
			goto oom;
		nv = realloc(m->v, (m->n + 1) * sizeof(*nv));
		if (nv == NULL) {
			free(key);
			goto oom;
		}
		m->v = nv;
		m->v[m->n].key = key;
		m->v[m->n].value = v;
		m->v[m->n].where = where;
		m->n++;
		return 0;
	}
	default:
		snprintf(err, errlen, "key '%s' has an unknown type %d "
		    "(a bug in its table)", k->name, (int)k->type);
		free(v);
		return -1;
	}
	free(v);
	return 0;
bad:
	type_help(k->type, &tname, &hint);
	snprintf(err, errlen, "invalid %s '%s' for '%s'%s", tname, v, k->name,
	    hint);
	free(v);
	return -1;
oom:
	snprintf(err, errlen, "out of memory");
	free(v);
	return -1;
}

/* Finds the key of the tables that entry key `name` belongs to; for a map
 * sets *sub to the part after "PREFIX.". */
static const struct conf_key *
lookup(const struct conf_key *const *tables, const char *name,
    const char **sub, size_t *index)
{
	size_t idx = 0;

	*sub = NULL;
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct conf_key *k = tables[t]; k->name; k++, idx++) {
			size_t pl = strlen(k->name);

			if (k->type != CONF_MAP) {
				if (strcmp(name, k->name) == 0) {
					*index = idx;
					return k;
				}
			} else if (strncmp(name, k->name, pl) == 0 &&
			    (name[pl] == '.' || name[pl] == '\0')) {
				*sub = name[pl] == '.' ? name + pl + 1 : name + pl;
				*index = idx;
				return k;
			}
		}
	return NULL;
}

static int
in_skip(const char *const *skip, const char *key)
{
	for (; skip != NULL && *skip != NULL; skip++)
		if (strcmp(*skip, key) == 0)
			return 1;
	return 0;
}

/*
 * Applies tables to sec into ctx (see conf.h).  Returns 0 when no problem
 * was found, else -1; what did parse is stored either way.
 */
int
conf_apply(const struct ini_section *sec,
    const struct conf_key *const *tables, void *ctx,
    const char *const *skip, struct diag *d)
{
	size_t before = diag_count(d), nkeys = 0, idx;
	const struct ini_entry *e, **first = NULL;
	const struct conf_key *k;
	const char *sub, *hint;
	char err[512], label[160];
	int inl;
	char *v;

	section_label(sec, label, sizeof(label));
	for (size_t t = 0; tables[t] != NULL; t++)
		for (k = tables[t]; k->name != NULL; k++)
			nkeys++;
	if (nkeys > 0 && (first = calloc(nkeys, sizeof(*first))) == NULL) {
		diag_add(d, sec->file, sec->line, "out of memory");
		return -1;
	}

	/* Defaults. */
	for (size_t t = 0; tables[t] != NULL; t++)
		for (k = tables[t]; k->name != NULL; k++) {
			struct conf_where nowhere = { NULL, 0 };

			if (k->def == NULL)
				continue;
			if ((v = strdup(k->def)) == NULL) {
				diag_add(d, sec->file, sec->line,
				    "out of memory");
				continue;
			}
			if (store_value(k, ctx, "", v, nowhere, err,
			    sizeof(err)) == -1)
				diag_add(d, NULL, 0, "default of %s %s: %s "
				    "(a bug in its key table)", label,
				    k->name, err);
		}

	/* Entries. */
	for (e = sec->entries; e != NULL; e = e->next) {
		struct conf_where where = { e->file, e->line };

		if (in_skip(skip, e->key))
			continue;
		k = lookup(tables, e->key, &sub, &idx);
		if (k == NULL) {
			hint = suggest(tables, e->key);
			if (hint != NULL)
				diag_add(d, e->file, e->line,
				    "unknown key '%s' in %s; did you mean "
				    "'%s'?", e->key, label, hint);
			else
				diag_add(d, e->file, e->line,
				    "unknown key '%s' in %s", e->key, label);
			continue;
		}
		if (k->type == CONF_MAP && *sub == '\0') {
			diag_add(d, e->file, e->line, "key '%s' needs a name "
			    "after '%s.', as in '%s.email'", e->key, k->name,
			    k->name);
			continue;
		}
		if (k->type == CONF_MAP) {
			const struct conf_map_entry *me;

			me = conf_map_get((struct conf_map *)FIELD(ctx, k),
			    sub);
			if (me != NULL && me->where.file != NULL) {
				diag_add(d, e->file, e->line,
				    "duplicate key '%s' (first set on line "
				    "%d)", e->key, me->where.line);
				continue;
			}
		} else if (k->type != CONF_LIST && first[idx] != NULL) {
			diag_add(d, e->file, e->line, "duplicate key '%s' "
			    "(first set on line %d)", e->key,
			    first[idx]->line);
			continue;
		}
		if (k->type == CONF_LIST && first[idx] == NULL)
			list_release((struct conf_list *)FIELD(ctx, k));
		if (k->type == CONF_MAP && first[idx] == NULL)
			map_release((struct conf_map *)FIELD(ctx, k));
		if (first[idx] == NULL)
			first[idx] = e;

		if ((v = conf_resolve_value(e->value, &inl, err,
		    sizeof(err))) == NULL) {
			diag_add(d, e->file, e->line, "%s: %s", e->key, err);
			continue;
		}
		if (k->type == CONF_SECRET && inl &&
		    (sec->file_mode & 077) != 0) {
			diag_add(d, e->file, e->line, "inline secret for '%s' "
			    "in a file readable by group or others (mode "
			    "%04o); use env:, file: or credential:, or chmod "
			    "600 %s", e->key, (unsigned)(sec->file_mode & 07777),
			    e->file);
			free_value(v, 1);
			continue;
		}
		if (store_value(k, ctx, sub, v, where, err,
		    sizeof(err)) == -1)
			diag_add(d, e->file, e->line, "%s", err);
	}

	/* Required keys. */
	idx = 0;
	for (size_t t = 0; tables[t] != NULL; t++)
		for (k = tables[t]; k->name != NULL; k++, idx++)
			if ((k->flags & CONF_REQUIRED) && first[idx] == NULL &&
			    !in_skip(skip, k->name))
				diag_add(d, sec->file, sec->line,
				    "missing required key '%s%s' in %s",
				    k->name, k->type == CONF_MAP ? ".NAME" : "",
				    label);
	free(first);
	return diag_count(d) == before ? 0 : -1;
}
