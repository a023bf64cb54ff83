/*
 * config.c - batond.conf as a whole: the [daemon] and [redis] key tables,
 * the checks a table cannot express (listen address, log level, key
 * prefix, a password inside the Redis URL), the section kinds a config may
 * hold, and one connector instance per [connector NAME].
 *
 * config_load() collects every problem of every file before giving up, so
 * that `batond --check` prints them all; it hands out a config only when
 * there was none.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf.h"
#include "connectors.h"
#include "redis.h"
#include "rules.h"

/* ---- Key tables ------------------------------------------------------- */

#define DKEY(name, type, def, field, min, max, desc) \
	{ name, type, def, offsetof(struct daemon_conf, field), 0, min, max, \
	    desc }
#define RKEY(name, type, def, field, min, max, desc) \
	{ name, type, def, offsetof(struct redis_conf, field), 0, min, max, \
	    desc }

const struct conf_key daemon_conf_keys[] = {
	DKEY("listen", CONF_STRING, "127.0.0.1:8787", listen, 0, 0,
	    "webhooks, /healthz, /metrics: host:port, [v6]:port or "
	    "unix:/path"),
	DKEY("log_level", CONF_STRING, "info", log_level_name, 0, 0,
	    "debug, info, notice, warning or err"),
	DKEY("max_body", CONF_SIZE, "1MiB", max_body, 0, 0,
	    "largest webhook body accepted (413 above)"),
	DKEY("rules", CONF_STRING, NULL, rules, 0, 0,
	    "the shared MQL/SQL definitions (rules.conf)"),
	DKEY("include", CONF_LIST, NULL, include, 0, 0,
	    "more files (glob, relative to this file's directory)"),
	DKEY("dedupe_ttl", CONF_DURATION, "7d", dedupe_ttl_ms, 0, 0,
	    "how long an event id is remembered against redelivery"),
	DKEY("max_events", CONF_INT, "1000", max_events, 1, 100000,
	    "events in one webhook request"),
	DKEY("max_inflight", CONF_INT, "10000", max_inflight, 1, 10000000,
	    "requests waiting on Redis before 503"),
	DKEY("shutdown_timeout", CONF_DURATION, "5s", shutdown_timeout_ms,
	    0, 0, "how long SIGTERM waits for work in flight"),
	DKEY("request_timeout", CONF_DURATION, "30s", request_timeout_ms,
	    0, 0, "a connection that neither sends nor reads for this long "
	    "is closed"),
	DKEY("max_connections", CONF_INT, "1024", max_connections, 1,
	    1000000, "open client connections; a new one closes the one "
	    "waiting longest for a complete request, or gets 503"),
	DKEY("header_timeout", CONF_DURATION, "10s", header_timeout_ms, 0, 0,
	    "the request line and headers must arrive within this (408); "
	    "also how long a kept-alive connection may wait idle"),
	DKEY("body_timeout", CONF_DURATION, "30s", body_timeout_ms, 0, 0,
	    "the whole body must arrive within this once the headers have "
	    "(408)"),
	DKEY("max_header_size", CONF_SIZE, "16KiB", max_header_size, 0, 0,
	    "request line and headers, in bytes (414/431 above)"),
	DKEY("max_headers", CONF_INT, "100", max_headers, 1, 10000,
	    "header fields in one request (431 above)"),
	{ 0 },
};

const struct conf_key redis_conf_keys[] = {
	RKEY("url", CONF_STRING, "redis://127.0.0.1:6379/0", url, 0, 0,
	    "redis://[user[:pw]@]host[:port][/db] or unix:///path[?db=N]"),
	RKEY("username", CONF_STRING, NULL, username, 0, 0,
	    "ACL user (overrides the URL's)"),
	RKEY("password", CONF_SECRET, NULL, password, 0, 0,
	    "ACL password (overrides the URL's)"),
	RKEY("prefix", CONF_STRING, "baton", prefix, 0, 0,
	    "every key and stream starts with PREFIX:"),
	RKEY("stream_maxlen", CONF_INT, "1000000", stream_maxlen, 1000,
	    LLONG_MAX, "approximate stream trim (XADD MAXLEN ~)"),
	RKEY("connect_timeout", CONF_DURATION, "2s", connect_timeout_ms, 0, 0,
	    "connecting to Redis"),
	RKEY("command_timeout", CONF_DURATION, "5s", command_timeout_ms, 0, 0,
	    "one command's answer"),
	RKEY("reconnect_max", CONF_DURATION, "5s", reconnect_max_ms, 0, 0,
	    "the reconnect backoff's cap"),
	{ 0 },
};

/* ---- Checks ----------------------------------------------------------- */

/* The line of key in sec, or the section's line. */
static int
line_of(const struct ini_section *sec, const char *key)
{
	const struct ini_entry *e = conf_entry(sec, key);

	return e != NULL ? e->line : sec->line;
}

static int
parse_port(const char *s)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

/*
 * Checks a listen address: "host:port", "[v6]:port" or "unix:/abs/path".
 * Returns 0, or -1 with a message in err.
 */
static int
check_listen(const char *s, char *err, size_t errlen)
{
	const char *colon, *host_end, *p;
	struct in6_addr a6;
	char v6[INET6_ADDRSTRLEN + 1];

	if (strncmp(s, "unix:", 5) == 0) {
		p = s + 5;
		if (*p != '/') {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "a unix socket needs an absolute path, as in "
			    "unix:/run/baton/batond.sock", s);
			return -1;
		}
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "the socket path is longer than %zu bytes", s,
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			return -1;
		}
		return 0;
	}
	if (s[0] == '[') {
		host_end = strchr(s, ']');
		if (host_end == NULL || host_end[1] != ':' ||
		    (size_t)(host_end - s - 1) >= sizeof(v6)) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "expected [v6]:port", s);
			return -1;
		}
		memcpy(v6, s + 1, host_end - s - 1);
		v6[host_end - s - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "'%s' is not an IPv6 address", s, v6);
			return -1;
		}
		colon = host_end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "expected host:port, [v6]:port or unix:/path", s);
			return -1;
		}
		if (memchr(s, ':', colon - s) != NULL) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "write an IPv6 address in brackets, as in "
			    "[::1]:8787", s);
			return -1;
		}
		for (p = s; p < colon; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' ||
			    *p == '-')) {
				snprintf(err, errlen, "invalid listen address "
				    "'%s': bad character in host '%.*s'", s,
				    (int)(colon - s), s);
				return -1;
			}
	}
	if (parse_port(colon + 1) == -1) {
		snprintf(err, errlen, "invalid listen address '%s': port "
		    "must be 1 to 65535, got '%s'", s, colon + 1);
		return -1;
	}
	return 0;
}

static int
check_prefix(const char *s)
{
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		    *s == '-'))
			return -1;
	return 0;
}

/* True when a raw value is written inline (not env:, file:, credential:). */
static int
is_inline(const char *raw)
{
	return strncmp(raw, "env:", 4) != 0 && strncmp(raw, "file:", 5) != 0 &&
	    strncmp(raw, "credential:", 11) != 0;
}

/* True when a redis:// URL carries a password: redis://[user]:pw@host. */
static int
url_has_password(const char *url)
{
	const char *auth, *end, *at, *colon;

	if (strncmp(url, "redis://", 8) != 0)
		return 0;
	auth = url + 8;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', end - auth);
	if (at == NULL)
		return 0;
	/* The last '@' ends the user info (a password may hold '@'). */
	while ((colon = memchr(at + 1, '@', end - at - 1)) != NULL)
		at = colon;
	colon = memchr(auth, ':', at - auth);
	return colon != NULL && colon + 1 < at;
}

/* Checks and completes [daemon] after its table was applied. */
static void
check_daemon(struct config *c, const struct ini_section *sec,
    struct diag *d)
{
	struct daemon_conf *dc = &c->daemon;
	const struct ini_entry *e;
	char err[512], *path;

	if (dc->listen != NULL &&
	    check_listen(dc->listen, err, sizeof(err)) == -1)
		diag_add(d, sec->file, line_of(sec, "listen"), "%s", err);
	if (dc->log_level_name != NULL) {
		dc->log_level = log_level_parse(dc->log_level_name);
		if (dc->log_level == -1)
			diag_add(d, sec->file, line_of(sec, "log_level"),
			    "invalid log_level '%s' (expected debug, info, "
			    "notice, warning or err)", dc->log_level_name);
	}
	if (dc->max_body == 0 || dc->max_body > (1ULL << 30))
		diag_add(d, sec->file, line_of(sec, "max_body"),
		    "'max_body' must be between 1 and 1GiB");
	if (dc->dedupe_ttl_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "dedupe_ttl"),
		    "'dedupe_ttl' must be more than 0");
	if (dc->request_timeout_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "request_timeout"),
		    "'request_timeout' must be more than 0");
	if (dc->header_timeout_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "header_timeout"),
		    "'header_timeout' must be more than 0");
	if (dc->body_timeout_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "body_timeout"),
		    "'body_timeout' must be more than 0");
	if (dc->max_header_size < 1024 || dc->max_header_size > (1ULL << 20))
		diag_add(d, sec->file, line_of(sec, "max_header_size"),
		    "'max_header_size' must be between 1KiB and 1MiB");
	/* A relative rules path is relative to the file that names it. */
	e = conf_entry(sec, "rules");
	if (dc->rules != NULL && dc->rules[0] == '\0')
		diag_add(d, sec->file, line_of(sec, "rules"),
		    "'rules' needs a file name");
	else if (dc->rules != NULL && dc->rules[0] != '/' && e != NULL &&
	    strrchr(e->file, '/') != NULL) {
		if (asprintf(&path, "%.*s/%s",
		    (int)(strrchr(e->file, '/') - e->file), e->file,
		    dc->rules) < 0) {
			diag_add(d, sec->file, e->line, "out of memory");
			return;
		}
		free(dc->rules);
		dc->rules = path;
	}
	/* Messages and explanations name the file the short way. */
	if (dc->rules != NULL && dc->rules[0] != '\0' &&
	    (path = realpath(dc->rules, NULL)) != NULL) {
		free(dc->rules);
		dc->rules = path;
	}
}

/* Checks [redis] after its table was applied. */
static void
check_redis(struct config *c, const struct ini_section *sec, struct diag *d)
{
	struct redis_conf *rc = &c->redis;
	const struct ini_entry *e;

	if (rc->url != NULL) {
		struct redis_opts o;
		char err[256];

		/* The connection's own parser: what it refuses, --check does. */
		memset(&o, 0, sizeof(o));
		if (redis_opts_parse_url(rc->url, &o, err, sizeof(err)) == -1)
			diag_add(d, sec->file, line_of(sec, "url"), "%s", err);
		redis_opts_clear(&o);
	}
	e = conf_entry(sec, "url");
	if (e != NULL && is_inline(e->value) && url_has_password(e->value) &&
	    (sec->file_mode & 077) != 0)
		diag_add(d, e->file, e->line, "inline secret for 'url' (a "
		    "password in the URL) in a file readable by group or "
		    "others (mode %04o); use env:, file: or credential:, or "
		    "chmod 600 %s", (unsigned)(sec->file_mode & 07777),
		    e->file);
	if (rc->prefix != NULL && check_prefix(rc->prefix) == -1)
		diag_add(d, sec->file, line_of(sec, "prefix"), "invalid "
		    "prefix '%s' (expected letters, digits, '_', '.', '-')",
		    rc->prefix);
	if (rc->connect_timeout_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "connect_timeout"),
		    "'connect_timeout' must be more than 0");
	if (rc->command_timeout_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "command_timeout"),
		    "'command_timeout' must be more than 0");
	if (rc->reconnect_max_ms <= 0)
		diag_add(d, sec->file, line_of(sec, "reconnect_max"),
		    "'reconnect_max' must be more than 0");
}

static int
valid_connector_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
		    s[n] == '-'))
			return 0;
	return n >= 1 && n <= 64;
}

/* ---- Loading ---------------------------------------------------------- */

/* True when a [daemon] section sets nothing but `include =`: any file may
 * have one to include more, while the settings live in one [daemon]. */
static int
only_includes(const struct ini_section *sec)
{
	for (const struct ini_entry *e = sec->entries; e != NULL; e = e->next)
		if (strcmp(e->key, "include") != 0)
			return 0;
	return 1;
}

/* Frees c whatever its state: stops every connector, then frees them. */
static void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nconnectors; i++)
		connector_instance_stop(c->connectors[i]);
	for (size_t i = 0; i < c->nconnectors; i++)
		connector_instance_free(c->connectors[i]);
	free(c->connectors);
	conf_release(daemon_conf_keys, &c->daemon);
	conf_release(redis_conf_keys, &c->redis);
	rules_free(c->rules);
	ini_free(c->doc);
	free(c->path);
	free(c);
}

/* Applies one table to sec, or its defaults alone when sec is NULL. */
static void
apply_table(const struct conf_key *table, const struct ini_section *sec,
    const char *kind, const char *path, void *ctx, struct diag *d)
{
	const struct conf_key *tables[2] = { table, NULL };
	struct ini_section empty;

	if (sec == NULL) {
		memset(&empty, 0, sizeof(empty));
		empty.kind = (char *)kind;
		empty.file = path;
		sec = &empty;
	}
	conf_apply(sec, tables, ctx, NULL, d);
}

static void
add_connector(struct config *c, const struct ini_section *sec,
    struct event_base *base, struct diag *d)
{
	struct connector_instance *ci, **v;

	if ((ci = connector_instance_new(sec, base, d)) == NULL)
		return;
	v = realloc(c->connectors, (c->nconnectors + 1) * sizeof(*v));
	if (v == NULL) {
		diag_add(d, sec->file, sec->line, "out of memory");
		connector_instance_free(ci);
		return;
	}
	c->connectors = v;
	c->connectors[c->nconnectors++] = ci;
}

/*
 * Loads path (see config.h).  Returns a config holding one reference, or
 * NULL when d received any problem.
 */
struct config *
config_load(const char *path, struct event_base *base, struct diag *d)
{
	const struct ini_section *sec, *dsec = NULL, *rsec = NULL, *o;
	size_t before = diag_count(d);
	struct config *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		diag_add(d, path, 0, "out of memory");
		free(c);
		return NULL;
	}
	c->refs = 1;
	if ((c->doc = ini_load(path, d)) == NULL) {
		config_free(c);
		return NULL;
	}

	/* Section kinds, duplicates and names first. */
	for (sec = c->doc->sections; sec != NULL; sec = sec->next) {
		const struct ini_section **slot = NULL;

		if (strcmp(sec->kind, "daemon") == 0)
			slot = &dsec;
		else if (strcmp(sec->kind, "redis") == 0)
			slot = &rsec;
		if (slot != NULL) {
			if (sec->name != NULL)
				diag_add(d, sec->file, sec->line, "section "
				    "[%s] takes no name, got [%s %s]",
				    sec->kind, sec->kind, sec->name);
			else if (*slot != NULL && slot == &dsec &&
			    only_includes(sec))
				;       /* a nested include: ini.c followed it */
			else if (*slot != NULL)
				diag_add(d, sec->file, sec->line, "duplicate "
				    "section [%s] (first at %s:%d)%s",
				    sec->kind, (*slot)->file, (*slot)->line,
				    slot == &dsec ? "; a further [daemon] may "
				    "hold only 'include ='" : "");
			else
				*slot = sec;
			continue;
		}
		if (strcmp(sec->kind, "connector") == 0) {
			if (sec->name == NULL) {
				diag_add(d, sec->file, sec->line, "section "
				    "[connector] needs a name: "
				    "[connector NAME]");
				continue;
			}
			if (!valid_connector_name(sec->name)) {
				diag_add(d, sec->file, sec->line, "invalid "
				    "connector name '%s' (1 to 64 letters, "
				    "digits, '_' or '-')", sec->name);
				continue;
			}
			for (o = c->doc->sections; o != sec; o = o->next)
				if (strcmp(o->kind, "connector") == 0 &&
				    o->name != NULL &&
				    strcmp(o->name, sec->name) == 0)
					break;
			if (o != sec) {
				diag_add(d, sec->file, sec->line, "duplicate "
				    "connector '%s' (first defined at %s:%d)",
				    sec->name, o->file, o->line);
				continue;
			}
			continue;
		}
		if (strcmp(sec->kind, "score") == 0 ||
		    strcmp(sec->kind, "stage") == 0 ||
		    strcmp(sec->kind, "sla") == 0)
			diag_add(d, sec->file, sec->line, "unknown section "
			    "[%s%s%s]; rule sections belong in the file named "
			    "by 'rules =' in [daemon]", sec->kind,
			    sec->name ? " " : "", sec->name ? sec->name : "");
		else
			diag_add(d, sec->file, sec->line, "unknown section "
			    "[%s%s%s] (expected [daemon], [redis] or "
			    "[connector NAME])", sec->kind,
			    sec->name ? " " : "", sec->name ? sec->name : "");
	}

	apply_table(daemon_conf_keys, dsec, "daemon", c->path, &c->daemon, d);
	check_daemon(c, dsec != NULL ? dsec : &(struct ini_section){
	    .kind = "daemon", .file = c->path }, d);
	apply_table(redis_conf_keys, rsec, "redis", c->path, &c->redis, d);
	check_redis(c, rsec != NULL ? rsec : &(struct ini_section){
	    .kind = "redis", .file = c->path }, d);

	/* Connectors, in file order; a duplicate name is skipped above. */
	for (sec = c->doc->sections; sec != NULL; sec = sec->next) {
		if (strcmp(sec->kind, "connector") != 0 || sec->name == NULL ||
		    !valid_connector_name(sec->name))
			continue;
		for (o = c->doc->sections; o != sec; o = o->next)
			if (strcmp(o->kind, "connector") == 0 &&
			    o->name != NULL && strcmp(o->name, sec->name) == 0)
				break;
		if (o == sec)
			add_connector(c, sec, base, d);
	}

	/* The shared definitions load with the rest, so --check checks them
	 * and a reload swaps them together with everything else. */
	if (c->daemon.rules != NULL && c->daemon.rules[0] != '\0')
		c->rules = rules_load(c->daemon.rules, d);

	if (diag_count(d) != before) {
		config_free(c);
		return NULL;
	}
	return c;
}

/* Takes a reference; returns c. */
struct config *
config_ref(struct config *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

/* Drops a reference; the last one stops and frees the connectors and the
 * config.  NULL is a no-op. */
void
config_unref(struct config *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	config_free(c);
}

/* The instance named name, or NULL. */
struct connector_instance *
config_connector(const struct config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < c->nconnectors; i++)
		if (strcmp(connector_name(c->connectors[i]), name) == 0)
			return c->connectors[i];
	return NULL;
}
