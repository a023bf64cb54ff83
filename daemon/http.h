/*
 * http.h - batond's HTTP listener (libevent's evhttp): routing of
 * /hooks/<connector>, /healthz and /metrics, limits and JSON errors, and
 * the guard against hostile clients (connection, header and body limits
 * and deadlines; see http.c).
 */
#ifndef BATON_HTTP_H
#define BATON_HTTP_H

#include <stdint.h>

struct evhttp_request;
struct runtime;
struct http_server;

/*
 * Binds `listen` ("host:port", "[v6]:port" or "unix:/path") and starts
 * serving with the given limits.  The guard's limits (max_connections,
 * header_timeout, body_timeout, max_header_size, max_headers, max_body)
 * are read from rt->conf as each connection and request starts, so they
 * follow reloads.  Returns the server, or NULL having logged why.
 */
struct http_server *http_server_new(struct runtime *rt, const char *listen,
    uint64_t max_body, int64_t timeout_ms);

/* The address the server was built for. */
const char *http_server_listen(const struct http_server *s);

/* Updates the limits of a running server (after a reload): max_body and
 * the inactivity timeout (request_timeout) for new connections. */
void http_server_set_limits(struct http_server *s, uint64_t max_body,
    int64_t timeout_ms);

/* Stops accepting new connections; open ones are still served. */
void http_server_stop_accepting(struct http_server *s);

/* Closes everything.  NULL is a no-op. */
void http_server_free(struct http_server *s);

/*
 * Sends a JSON reply {"error": message} with the status (and, for 503,
 * Retry-After: retry_after seconds when > 0).
 */
void http_reply_error(struct evhttp_request *req, int status,
    int retry_after, const char *message);

/* Sends a reply with a JSON body (may be NULL for none). */
void http_reply_json(struct evhttp_request *req, int status,
    const char *json);

#endif
