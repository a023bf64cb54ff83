/*
 * connectors.h - the core's side of include/baton/connector.h: the static
 * list of connector descriptors and the lifecycle of instances.
 */
#ifndef BATON_CONNECTORS_H
#define BATON_CONNECTORS_H

#include <baton/connector.h>

#include "diag.h"
#include "ini.h"

#include "ratelimit.h"

struct event_base;

/* The core's keys of a section (see connector.h), defaults applied. */
struct connector_settings {
	const char *ca_file;            /* NULL: system store */
	int64_t connect_timeout_ms, timeout_ms;
	size_t batch_size;              /* 1..batch_max */
	int64_t batch_linger_ms;
	long long rate_limit;           /* 0: unlimited */
	int64_t rate_window_ms;
	unsigned retry_max;             /* attempts before the DLQ */
	int64_t retry_base_ms, retry_cap_ms;
	int64_t poll_interval_ms;       /* 0: no polling */
};

/* The descriptors, NULL-terminated. */
extern const struct connector *const connector_types[];

/* The descriptor whose name is `type`, or NULL. */
const struct connector *connector_find(const char *type);

/*
 * Builds the instance for one [connector NAME] section: finds the type,
 * applies the shared keys and the type's table, checks the role, calls
 * init().  Problems go to d.  Returns the instance, or NULL (everything
 * freed) when any problem was found.
 */
struct connector_instance *connector_instance_new(
    const struct ini_section *sec, struct event_base *base, struct diag *d);

/* The instance's resolved core keys. */
const struct connector_settings *connector_settings(
    const struct connector_instance *ci);

/* The instance's rate budget, shared by its delivery and its poller (the
 * bucket starts full at time 0 of the monotonic clock). */
struct rate_bucket *connector_rate(struct connector_instance *ci);

/* Calls stop() (once) so in-flight work winds down. */
void connector_instance_stop(struct connector_instance *ci);

/* Calls destroy(), releases the key table fields, frees.  NULL is a no-op. */
void connector_instance_free(struct connector_instance *ci);

#endif
