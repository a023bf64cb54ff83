/*
 * connectors.h - the core's side of include/baton/connector.h: the static
 * list of connector descriptors and the lifecycle of instances.
 */
#ifndef BATON_CONNECTORS_H
#define BATON_CONNECTORS_H

#include <baton/connector.h>

#include "diag.h"
#include "ini.h"

struct event_base;

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

/* Calls stop() (once) so in-flight work winds down. */
void connector_instance_stop(struct connector_instance *ci);

/* Calls destroy(), releases the key table fields, frees.  NULL is a no-op. */
void connector_instance_free(struct connector_instance *ci);

#endif
