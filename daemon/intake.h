/*
 * intake.h - POST /hooks/<connector>: from a raw HTTP request to events
 * acknowledged by Redis, and the answer to the client.
 *
 * A struct webhook_call is one request as a connector sees it (method, URI,
 * headers, body) plus the events it emitted or the reason it refused.  The
 * HTTP handler builds one from the evhttp request; tests and fuzz targets
 * build one directly with webhook_call_new() and run the connector with
 * webhook_call_parse(), without a network or Redis.
 */
#ifndef BATON_INTAKE_H
#define BATON_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include <baton/connector.h>

struct evhttp_request;
struct runtime;

/*
 * Builds a call for instance ci (body copied).  uri is the path and query
 * as a client would send them.  Returns NULL only when out of memory.
 */
struct webhook_call *webhook_call_new(struct connector_instance *ci,
    const char *method, const char *uri, const void *body, size_t len,
    int64_t received_ms);

/* Adds a request header (copied).  Returns 0 or -1. */
int webhook_call_add_header(struct webhook_call *call, const char *name,
    const char *value);

/*
 * Runs the connector's webhook callback to completion (a connector that
 * answers CONNECTOR_PENDING is not supported here).  Returns the status
 * the intake would answer before writing: 200 when the events are ready
 * to be written (possibly none), else the refusal's 4xx.
 */
int webhook_call_parse(struct webhook_call *call);

/* The events emitted, in order (owned by the call), and the refusal. */
size_t webhook_call_nevents(const struct webhook_call *call);
const struct baton_event *webhook_call_event(const struct webhook_call *call,
    size_t i);
const char *webhook_call_error(const struct webhook_call *call);

void webhook_call_free(struct webhook_call *call);

/* The evhttp handler for /hooks/ (registered by http.c); arg is the
 * struct runtime. */
void intake_handle(struct evhttp_request *req, struct runtime *rt,
    const char *connector_name);

#endif
