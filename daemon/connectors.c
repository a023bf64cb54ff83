/*
 * connectors.c - connector instances: one per [connector NAME] section.
 *
 * The core finds the descriptor named by `type =` in connector_types[]
 * (connector_types.c), applies its shared keys (`type`, `role`) together
 * with the descriptor's own key table in one conf_apply() call, checks the
 * role against the roles the type plays, and runs the descriptor's init().
 * The shared keys are stored in a small struct placed right after the
 * connector's ctx in the same allocation, so that one context pointer
 * serves both tables.
 */
#include "connectors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <baton/http_client.h>

#include "clock.h"
#include "conf.h"

/* The core's own keys of every [connector NAME] section. */
struct connector_shared {
	char *type;
	char *role;
	char *ca_file;
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	long long batch_size;
	int64_t batch_linger_ms;
	long long rate_limit;
	int64_t rate_window_ms;
	long long retry_max;
	int64_t retry_base_ms;
	int64_t retry_cap_ms;
	int64_t poll_interval_ms;
};

#define NSHARED 13

struct connector_instance {
	const struct connector *desc;   /* the type */
	char *name;                     /* the section's NAME */
	unsigned role;                  /* one CONNECTOR_ROLE_* */
	const struct ini_section *sec;  /* borrowed from the config's doc */
	void *ctx;                      /* ctx_size bytes, then shared keys */
	size_t shared_off;              /* offset of the shared struct */
	struct conf_key shared_keys[NSHARED + 1]; /* offsets relative to
	                                           ctx */
	struct connector_settings set;  /* the shared keys, resolved */
	struct http_client *http;       /* made by connector_http() */
	struct rate_bucket rate;        /* shared by delivery and poller */
	struct event_base *base;        /* NULL under --check */
	struct diag *diag;              /* set only while init() runs */
	bool in_init;                   /* connector_conf_error allowed */
	bool inited;                    /* init() was called */
	bool stopped;                   /* stop() was called */
};

#define SH(f) offsetof(struct connector_shared, f)
static const struct conf_key shared_template[] = {
	{ "type", CONF_STRING, NULL, offsetof(struct connector_shared, type),
	    CONF_REQUIRED, 0, 0, "connector type: webhook, hubspot, ..." },
	{ "role", CONF_STRING, NULL, offsetof(struct connector_shared, role),
	    0, 0, 0, "marketing, sales or notify" },
	{ "ca_file", CONF_STRING, NULL, SH(ca_file), 0, 0, 0,
	    "PEM bundle trusted for HTTPS instead of the system's" },
	{ "connect_timeout", CONF_DURATION, "10s", SH(connect_timeout_ms), 0,
	    0, 0, "TCP and TLS handshake limit of a vendor call" },
	{ "timeout", CONF_DURATION, "30s", SH(timeout_ms), 0, 0, 0,
	    "whole-request limit of a vendor call" },
	{ "batch_size", CONF_INT, NULL, SH(batch_size), 0, 1, 100000,
	    "items per push (default and maximum: the vendor's batch limit)" },
	{ "batch_linger", CONF_DURATION, "20ms", SH(batch_linger_ms), 0, 0, 0,
	    "how long a push waits for its batch to fill" },
	{ "rate_limit", CONF_INT, NULL, SH(rate_limit), 0, 0, 1000000000,
	    "vendor calls per rate_window (0: unlimited)" },
	{ "rate_window", CONF_DURATION, NULL, SH(rate_window_ms), 0, 0, 0,
	    "the window of rate_limit" },
	{ "retry_max", CONF_INT, "8", SH(retry_max), 0, 1, 1000,
	    "attempts before an item goes to the dead-letter stream" },
	{ "retry_base", CONF_DURATION, "1s", SH(retry_base_ms), 0, 0, 0,
	    "first retry backoff, doubled per attempt with full jitter" },
	{ "retry_cap", CONF_DURATION, "5m", SH(retry_cap_ms), 0, 0, 0,
	    "longest retry backoff" },
	{ "poll_interval", CONF_DURATION, NULL, SH(poll_interval_ms), 0, 0, 0,
	    "time between poll rounds; 0 turns polling off" },
	{ 0 },
};
#undef SH

static const struct {
	const char *name;
	unsigned bit;
} role_names[] = {
	{ "marketing", CONNECTOR_ROLE_MARKETING },
	{ "sales", CONNECTOR_ROLE_SALES },
	{ "notify", CONNECTOR_ROLE_NOTIFY },
};

/* The descriptor list in use: connector_types[], or a test's. */
static const struct connector *const *types = connector_types;

/*
 * TEST ONLY: makes connector_find() search `t` (NULL-terminated) instead
 * of connector_types[]; NULL restores the real list.  Unit tests use it to
 * run the core against small fake descriptors.  Not declared in a header
 * on purpose; a test declares it itself.
 */
void connectors_set_types_for_test(const struct connector *const *t);

void
connectors_set_types_for_test(const struct connector *const *t)
{
	types = t != NULL ? t : connector_types;
}

/* The descriptor whose name is type, or NULL. */
const struct connector *
connector_find(const char *type)
{
	for (size_t i = 0; types[i] != NULL; i++)
		if (strcmp(types[i]->name, type) == 0)
			return types[i];
	return NULL;
}

/* Writes "marketing, sales" (the roles in mask) into buf. */
static const char *
roles_text(unsigned mask, const char *sep, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < 3; i++)
		if (mask & role_names[i].bit) {
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			    n > 0 ? sep : "", role_names[i].name);
		}
	return buf;
}

/* Writes the names of the known types into buf, comma separated. */
static const char *
types_text(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; types[i] != NULL && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i > 0 ? ", " : "",
		    types[i]->name);
	return buf;
}

static int
popcount(unsigned v)
{
	int n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

/* ---- Lifecycle -------------------------------------------------------- */

/* Reports key (when the section sets it) as meaningless for this type. */
static void
refuse_key(struct connector_instance *ci, struct diag *d, const char *key,
    const char *what)
{
	const struct ini_entry *e = conf_entry(ci->sec, key);

	if (e != NULL)
		diag_add(d, e->file, e->line, "[%s:%s] %s: connector type "
		    "'%s' does not %s", ci->desc->name, ci->name, key,
		    ci->desc->name, what);
}

/* The shared keys with the descriptor's defaults filled in, checked. */
static void
resolve_settings(struct connector_instance *ci,
    const struct connector_shared *sh, struct diag *d)
{
	const struct connector *desc = ci->desc;
	struct connector_settings *st = &ci->set;
	size_t bmax = desc->batch_max > 0 ? desc->batch_max : 1;
	const struct ini_entry *e;

	st->ca_file = sh->ca_file;
	st->connect_timeout_ms = sh->connect_timeout_ms;
	st->timeout_ms = sh->timeout_ms;
	st->batch_linger_ms = sh->batch_linger_ms;
	st->retry_max = (unsigned)sh->retry_max;
	st->retry_base_ms = sh->retry_base_ms > 0 ? sh->retry_base_ms : 1;
	st->retry_cap_ms = sh->retry_cap_ms > st->retry_base_ms ?
	    sh->retry_cap_ms : st->retry_base_ms;
	st->batch_size = bmax;
	if ((e = conf_entry(ci->sec, "batch_size")) != NULL) {
		if ((size_t)sh->batch_size > bmax)
			diag_add(d, e->file, e->line, "[%s:%s] batch_size: %lld "
			    "is over the vendor's limit of %zu items a call",
			    desc->name, ci->name, sh->batch_size, bmax);
		st->batch_size = (size_t)sh->batch_size;
	}
	st->rate_limit = conf_entry(ci->sec, "rate_limit") != NULL ?
	    sh->rate_limit : desc->rate_limit;
	st->rate_window_ms = conf_entry(ci->sec, "rate_window") != NULL ?
	    sh->rate_window_ms : desc->rate_window_ms;
	if (st->rate_window_ms <= 0)
		st->rate_window_ms = 1000;
	st->poll_interval_ms = conf_entry(ci->sec, "poll_interval") != NULL ?
	    sh->poll_interval_ms : desc->poll_interval_ms;
	if (desc->poll == NULL) {
		refuse_key(ci, d, "poll_interval", "poll");
		st->poll_interval_ms = 0;
	}
	if (desc->deliver == NULL) {
		refuse_key(ci, d, "batch_size", "push");
		refuse_key(ci, d, "batch_linger", "push");
	}
	rate_bucket_init(&ci->rate, st->rate_limit, st->rate_window_ms, 0);
}

/*
 * Builds the instance for sec (see connectors.h).  Returns it, or NULL
 * with every problem in d and everything freed.
 */
struct connector_instance *
connector_instance_new(const struct ini_section *sec,
    struct event_base *base, struct diag *d)
{
	size_t before = diag_count(d), off;
	const struct conf_key *tables[3];
	struct connector_instance *ci;
	const struct ini_entry *te, *re;
	const struct connector *desc;
	struct connector_shared *sh;
	char buf[256];
	int rc;

	te = conf_entry(sec, "type");
	if (te == NULL) {
		diag_add(d, sec->file, sec->line, "missing required key "
		    "'type' in [connector %s] (one of: %s)",
		    sec->name != NULL ? sec->name : "",
		    types_text(buf, sizeof(buf)));
		return NULL;
	}
	if ((desc = connector_find(te->value)) == NULL) {
		diag_add(d, te->file, te->line, "unknown connector type '%s' "
		    "(known: %s)", te->value, types_text(buf, sizeof(buf)));
		return NULL;
	}
	if (desc->init == NULL) {
		diag_add(d, te->file, te->line, "connector type '%s' has no "
		    "init callback (a bug in its descriptor)", desc->name);
		return NULL;
	}

	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		goto oom;
	ci->desc = desc;
	ci->sec = sec;
	ci->base = base;
	if ((ci->name = strdup(sec->name != NULL ? sec->name : "")) == NULL)
		goto oom;
	off = desc->ctx_size;
	off = (off + _Alignof(max_align_t) - 1) &
	    ~(_Alignof(max_align_t) - 1);
	ci->shared_off = off;
	if ((ci->ctx = calloc(1, off + sizeof(*sh))) == NULL)
		goto oom;
	memcpy(ci->shared_keys, shared_template, sizeof(shared_template));
	for (size_t i = 0; ci->shared_keys[i].name != NULL; i++)
		ci->shared_keys[i].offset += off;
	sh = (struct connector_shared *)((char *)ci->ctx + off);

	tables[0] = ci->shared_keys;
	tables[1] = desc->keys;
	tables[2] = NULL;
	conf_apply(sec, tables, ci->ctx, NULL, d);

	re = conf_entry(sec, "role");
	if (sh->role == NULL) {
		if (popcount(desc->roles) == 1)
			ci->role = desc->roles;
		else if (re == NULL)
			diag_add(d, sec->file, sec->line, "missing required "
			    "key 'role' in [connector %s] (connector type "
			    "'%s' plays %s)", ci->name, desc->name,
			    roles_text(desc->roles, " or ", buf, sizeof(buf)));
	} else {
		for (size_t i = 0; i < 3; i++)
			if (strcmp(sh->role, role_names[i].name) == 0)
				ci->role = role_names[i].bit;
		if (ci->role == 0)
			diag_add(d, re->file, re->line, "invalid role '%s' "
			    "(expected marketing, sales or notify)", sh->role);
		else if ((ci->role & desc->roles) == 0) {
			diag_add(d, re->file, re->line, "role '%s' is not one "
			    "connector type '%s' plays (%s)", sh->role,
			    desc->name, roles_text(desc->roles, ", ", buf,
			    sizeof(buf)));
			ci->role = 0;
		}
	}
	if (diag_count(d) == before)
		resolve_settings(ci, sh, d);
	if (diag_count(d) != before) {
		connector_instance_free(ci);
		return NULL;
	}

	ci->diag = d;
	ci->in_init = true;
	ci->inited = true;
	rc = desc->init(ci);
	ci->in_init = false;
	ci->diag = NULL;
	if (rc != 0 && diag_count(d) == before)
		diag_add(d, sec->file, sec->line, "[%s:%s] initialization "
		    "failed", desc->name, ci->name);
	if (diag_count(d) != before) {
		connector_instance_free(ci);
		return NULL;
	}
	return ci;
oom:
	diag_add(d, sec->file, sec->line, "out of memory");
	connector_instance_free(ci);
	return NULL;
}

/* Calls stop() once. */
void
connector_instance_stop(struct connector_instance *ci)
{
	if (ci == NULL || ci->stopped || !ci->inited)
		return;
	ci->stopped = true;
	if (ci->desc->stop != NULL)
		ci->desc->stop(ci);
}

/* Calls destroy() when init() ran, releases the key tables' values and
 * frees.  Accepts NULL and half-built instances. */
void
connector_instance_free(struct connector_instance *ci)
{
	if (ci == NULL)
		return;
	http_client_free(ci->http);
	ci->http = NULL;
	rate_bucket_clear(&ci->rate);
	if (ci->inited && ci->desc->destroy != NULL)
		ci->desc->destroy(ci);
	if (ci->ctx != NULL) {
		conf_release(ci->desc->keys, ci->ctx);
		conf_release(ci->shared_keys, ci->ctx);
		free(ci->ctx);
	}
	free(ci->name);
	free(ci);
}

/* ---- Accessors -------------------------------------------------------- */

void *
connector_ctx(const struct connector_instance *ci)
{
	return ci->ctx;
}

const char *
connector_name(const struct connector_instance *ci)
{
	return ci->name;
}

const struct connector *
connector_descriptor(const struct connector_instance *ci)
{
	return ci->desc;
}

unsigned
connector_role(const struct connector_instance *ci)
{
	return ci->role;
}

struct event_base *
connector_base(const struct connector_instance *ci)
{
	return ci->base;
}

const struct connector_settings *
connector_settings(const struct connector_instance *ci)
{
	return &ci->set;
}

struct rate_bucket *
connector_rate(struct connector_instance *ci)
{
	return &ci->rate;
}

int64_t
connector_rate_take(struct connector_instance *ci)
{
	return rate_bucket_take(&ci->rate, clock_mono_ms());
}

struct http_client *
connector_http(struct connector_instance *ci)
{
	struct http_client_opts o = { 0 };

	if (ci->http != NULL || ci->base == NULL)
		return ci->http;
	o.connect_timeout_ms = ci->set.connect_timeout_ms;
	o.timeout_ms = ci->set.timeout_ms;
	o.ca_file = ci->set.ca_file;
	ci->http = http_client_new(ci->base, &o);
	return ci->http;
}

/*
 * Reports "FILE:LINE: [type:NAME] key: message" at the line of key (the
 * section header when key is NULL or absent).  Outside init() there is no
 * diag to report to: the message is logged as a warning instead.
 */
void
connector_conf_error(struct connector_instance *ci, const char *key,
    const char *fmt, ...)
{
	const struct ini_entry *e = NULL;
	const char *file = ci->sec->file;
	int line = ci->sec->line;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key != NULL && (e = conf_entry(ci->sec, key)) != NULL) {
		file = e->file;
		line = e->line;
	}
	if (!ci->in_init || ci->diag == NULL) {
		connector_log(ci, LOG_LEVEL_WARNING, "%s%s%s (reported outside "
		    "init)", key != NULL ? key : "", key != NULL ? ": " : "",
		    msg);
		return;
	}
	diag_add(ci->diag, file, line, "[%s:%s] %s%s%s", ci->desc->name,
	    ci->name, key != NULL ? key : "", key != NULL ? ": " : "", msg);
}

/* Logs "[type:NAME] message" at level. */
void
connector_log(const struct connector_instance *ci, int level,
    const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "[%s:%s] %s", ci->desc->name, ci->name, msg);
}
