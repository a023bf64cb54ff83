/*
 * http_client.h - outbound HTTP(S) for connectors: libcurl's multi
 * interface driven by batond's one libevent loop.
 *
 * A client holds one CURLM, so connections are kept alive and reused
 * across requests to the same host (up to max_host_connections at once;
 * further requests wait for a free one).  Nothing here blocks the loop:
 * name resolution, connecting, TLS and transfers all progress from
 * libevent callbacks.  TLS peers are always verified (against ca_file, or
 * the system's CA store); redirects are never followed (a 3xx is returned
 * as is); only http:// and https:// URLs are accepted; a proxy is taken
 * from the environment (http_proxy, https_proxy, no_proxy) the way libcurl
 * does by default.
 *
 * Every accepted request ends with exactly one call of its done callback,
 * always from the loop, never from inside http_client_request(): with the
 * response, a transport error, a refused oversized body, or a cancelled
 * result (http_call_cancel(), http_client_free()).
 *
 * libcurl's global state is initialised by the first http_client_new()
 * (curl_global_init(CURL_GLOBAL_DEFAULT), once per process), which also
 * registers curl_global_cleanup() with atexit() so leak checkers stay
 * quiet; batond needs no call of its own.
 *
 * Metrics: baton_http_client_requests_total{host,status} (status is the
 * HTTP status code, or one of "timeout", "connect", "tls", "error",
 * "too_large", "cancelled") and baton_http_client_seconds{host}, with host
 * the request URL's host name.
 */
#ifndef BATON_HTTP_CLIENT_H
#define BATON_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/connector.h>

struct event_base;
struct http_client;
struct http_call;

/* Defaults for zero-valued options. */
#define HTTP_CLIENT_CONNECT_TIMEOUT_MS  10000
#define HTTP_CLIENT_TIMEOUT_MS          30000
#define HTTP_CLIENT_MAX_BODY            (8u * 1024 * 1024)
#define HTTP_CLIENT_MAX_HOST_CONNS      4

/* Options of http_client_new(); a zero field takes the default. */
struct http_client_opts {
	int64_t connect_timeout_ms;     /* TCP + TLS handshake; 0: 10 s */
	int64_t timeout_ms;             /* whole request, default for every
	                                 * request; 0: 30 s */
	const char *ca_file;            /* PEM bundle to trust instead of the
	                                 * system store (a test's self-signed
	                                 * cert); NULL: system default */
	size_t max_body;                /* larger response bodies are refused
	                                 * (HTTP_TOO_LARGE); 0: 8 MiB */
	const char *user_agent;         /* NULL: "batond/<version>" */
	long max_host_connections;      /* open at once per host; 0: 4 */
};

/* How a request ended. */
enum http_outcome {
	HTTP_DONE = 0,          /* a whole response arrived: see status */
	HTTP_TRANSPORT,         /* no complete response: see curl_code, error */
	HTTP_TOO_LARGE,         /* the response body exceeded max_body */
	HTTP_CANCELLED,         /* http_call_cancel() or http_client_free() */
};

/*
 * What the done callback receives.  The struct and everything it points to
 * (error, body, headers through http_result_header()) are valid only
 * during the callback; copy what must outlive it.
 */
struct http_result {
	enum http_outcome outcome;
	int curl_code;                  /* CURLcode; 0 unless HTTP_TRANSPORT
	                                 * or HTTP_TOO_LARGE */
	const char *error;              /* NULL for HTTP_DONE, else a message
	                                 * such as "connect timed out: ..." or
	                                 * "TLS verification failed: ..." */
	int status;                     /* HTTP status; 0 when no response
	                                 * status line arrived */
	const unsigned char *body;      /* response body, NUL-terminated for
	                                 * convenience (may hold NULs: use
	                                 * body_len); "" when none */
	size_t body_len;
	double seconds;                 /* from http_client_request() to
	                                 * completion */
	const struct http_call *call;   /* private: for http_result_header() */
};

typedef void (*http_done_cb)(const struct http_result *res, void *arg);

/* One request to make; the struct itself is read only during
 * http_client_request(). */
struct http_request {
	const char *method;             /* "GET", "POST", "PATCH", ...; NULL:
	                                 * GET, or POST when body is set */
	const char *url;                /* http:// or https:// */
	const char *const *headers;     /* NULL-terminated "Name: value"
	                                 * lines, copied; NULL: none */
	const void *body;               /* request body or NULL */
	size_t body_len;
	bool body_borrowed;             /* false: body is copied; true: it
	                                 * must stay valid and unchanged until
	                                 * the done callback has run */
	int64_t timeout_ms;             /* total timeout; 0: the client's */
	http_done_cb done;              /* required */
	void *arg;                      /* passed to done */
};

/*
 * Creates a client on base; opts may be NULL (all defaults) and is copied.
 * Returns NULL only when out of memory or when libcurl cannot be
 * initialised (logged).
 */
struct http_client *http_client_new(struct event_base *base,
    const struct http_client_opts *opts);

/*
 * Completes every pending request with HTTP_CANCELLED (each callback runs
 * once, before this returns; requests they try to start are refused), then
 * frees the client.  May be called from inside a done callback; the
 * memory is then released when that callback returns.  NULL is a no-op.
 */
void http_client_free(struct http_client *c);

/*
 * Starts a request.  Returns its handle, valid until its done callback
 * starts (for http_call_cancel()), or NULL with a message in err when the
 * request is refused: a URL that does not parse or is not http(s), a bad
 * method or header line, a client being freed, or no memory.  The done
 * callback runs exactly once when a handle is returned, and never when
 * NULL is returned.
 */
struct http_call *http_client_request(struct http_client *c,
    const struct http_request *req, char *err, size_t errlen);

/*
 * Cancels a request whose done callback has not started: the transfer is
 * stopped at once (its connection closed if mid-transfer) and the callback
 * runs later from the loop with HTTP_CANCELLED.  Cancelling twice, or a
 * call already finished but not yet reported, is a no-op.
 */
void http_call_cancel(struct http_call *call);

/* Number of requests whose done callback has not run yet. */
size_t http_client_pending(const struct http_client *c);

/*
 * A response header's value (case-insensitive name, surrounding spaces
 * removed; the first one when repeated), or NULL when absent or when no
 * response arrived.  Headers of interim responses (100 Continue) are not
 * kept.  Valid only during the done callback.
 */
const char *http_result_header(const struct http_result *res,
    const char *name);

/*
 * Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
 * (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete RFC 850
 * and asctime forms), with optional surrounding spaces.  Stores in *out the
 * delay in milliseconds from now_ms (0 for a date not in the future;
 * capped at one year).  Returns 0, or -1 for NULL or anything else
 * (*out is then unchanged).
 */
int http_retry_after_ms(const char *value, int64_t now_ms, int64_t *out);

/*
 * Sorts a result the way deliveries and polls are retried (STYLE
 * convention 4): CONNECTOR_OK for 2xx; CONNECTOR_RETRY for transport
 * errors (connect, timeout, reset, TLS, DNS), cancelled requests, 408, 429
 * and 5xx; CONNECTOR_DROP for other statuses (other 4xx, 1xx, and 3xx since
 * redirects are not followed) and for oversized responses, which a retry
 * would only fetch again.
 */
enum connector_result http_classify(const struct http_result *res);

/*
 * What a vendor connector reads first of a result: returns
 * http_classify()'s sort, sets *retry_after_ms to the Retry-After delay
 * from now_ms (0 when none), and, when no response arrived (transport
 * error, cancel, oversized answer), writes "what: <why>" into msg, else
 * "".
 */
enum connector_result http_result_sort(const struct http_result *res,
    const char *what, int64_t now_ms, int64_t *retry_after_ms, char *msg,
    size_t msglen);

#endif
