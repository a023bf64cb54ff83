/*
 * config.h - batond's whole configuration: batond.conf and its includes
 * turned into typed settings and live connector instances.
 *
 * A struct config is immutable once loaded and reference-counted: a reload
 * builds a new one beside the running one and swaps it in only when it
 * loaded without a problem; work in flight keeps a reference to the config
 * it started with.
 */
#ifndef BATON_CONFIG_H
#define BATON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <baton/conf.h>

#include "diag.h"
#include "ini.h"

struct connector_instance;
struct event_base;
struct rules;

struct daemon_conf {
	char *listen;                   /* host:port, [v6]:port or unix:/path */
	char *log_level_name;
	int log_level;                  /* LOG_LEVEL_* */
	uint64_t max_body;              /* bytes */
	char *rules;                    /* path of rules.conf, may be NULL */
	struct conf_list include;       /* consumed by the INI loader */
	int64_t dedupe_ttl_ms;          /* how long an event id is remembered */
	long long max_events;           /* events in one webhook request */
	long long max_inflight;         /* requests waiting on Redis; then 503 */
	int64_t shutdown_timeout_ms;    /* SIGTERM drain limit */
	int64_t request_timeout_ms;     /* inactivity while reading or
	                                   writing one connection */
	long long max_connections;      /* open client connections */
	int64_t header_timeout_ms;      /* request line and headers, in all;
	                                   also the keep-alive idle limit */
	int64_t body_timeout_ms;        /* a request body, in all */
	uint64_t max_header_size;       /* request line and headers, bytes */
	long long max_headers;          /* header fields in one request */
};

struct redis_conf {
	char *url;                      /* redis://[user[:pw]@]host[:port][/db]
	                                   or unix:///path[?db=N] */
	char *username;                 /* overrides the URL's */
	char *password;                 /* CONF_SECRET; overrides the URL's */
	char *prefix;                   /* every key starts PREFIX: */
	long long stream_maxlen;        /* XADD MAXLEN ~ */
	int64_t connect_timeout_ms;
	int64_t command_timeout_ms;
	int64_t reconnect_max_ms;       /* backoff cap */
};

struct config {
	int refs;
	char *path;                     /* the main file */
	struct ini_doc *doc;            /* owns file names used in messages */
	struct daemon_conf daemon;
	struct redis_conf redis;
	struct connector_instance **connectors;
	size_t nconnectors;
	struct rules *rules;            /* [daemon] rules compiled, or NULL */
};

/*
 * Loads path: parses the files, applies the [daemon] and [redis] tables,
 * creates and initializes one connector instance per [connector NAME]
 * (base may be NULL, as under --check).  Unknown section kinds are errors;
 * [score], [stage ...], [sla ...] belong in the rules file.  Every problem
 * is added to d.  Returns a config with one reference when d received no
 * problem, else NULL (everything built so far freed).
 */
struct config *config_load(const char *path, struct event_base *base,
    struct diag *d);

/* Takes and drops a reference; the last drop stops and frees the
 * connectors and the config. */
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* The instance for NAME, or NULL. */
struct connector_instance *config_connector(const struct config *c,
    const char *name);

/* The key tables of [daemon] and [redis], for documentation and tests. */
extern const struct conf_key daemon_conf_keys[];
extern const struct conf_key redis_conf_keys[];

#endif
